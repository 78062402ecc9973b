"""Helpers shared by the converters: option parsing, padding, data-format handling."""

from __future__ import annotations

from collections.abc import Callable

from snnc.frontend.keras.context import LayerContext
from snnc.ir import ops


def whole(value, what: str = "value", minimum: int | None = None) -> int:
    """A config value that must be a whole number (>= ``minimum``), as an int.

    Keras writes Python ints; a float, string or bool here means the config was edited or
    damaged, so it is refused rather than rounded (``int(2.7)`` would silently build
    something else).

    Raises:
        ValueError: naming ``what``, the expectation and the value found.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what}: expected a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{what}: expected a whole number >= {minimum}, got {value!r}")
    return value


def number(value, what: str = "value") -> float:
    """A config value that must be a number (int or float, not a bool or string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what}: expected a number, got {value!r}")
    return float(value)


def ints(value, n: int, what: str = "value", minimum: int | None = 1) -> tuple[int, ...]:
    """An int or a list of ints as an ``n``-tuple (Keras stores both forms); every entry
    must be a whole number >= ``minimum`` (sizes, strides and rates are >= 1)."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{what}: expected {n} entries, got {list(value)!r}")
        return tuple(whole(v, what, minimum) for v in value)
    return (whole(value, what, minimum),) * n


def pairs(value, n: int, what: str = "padding") -> tuple[tuple[int, int], ...]:
    """Keras padding / cropping amounts as ``n`` ``(before, after)`` pairs (each >= 0).

    Accepts an int (same everywhere), one pair when ``n == 1``, or ``n`` entries that are
    each an int (symmetric) or a pair.
    """
    if not isinstance(value, (list, tuple)):
        v = whole(value, what, 0)
        return ((v, v),) * n
    value = list(value)
    if n == 1 and len(value) == 2 and all(not isinstance(v, (list, tuple)) for v in value):
        return ((whole(value[0], what, 0), whole(value[1], what, 0)),)
    if len(value) != n:
        raise ValueError(f"{what}: expected {n} entries, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, (list, tuple)):
            if len(v) != 2:
                raise ValueError(f"{what}: expected (before, after) pairs, got {value!r}")
            out.append((whole(v[0], what, 0), whole(v[1], what, 0)))
        else:
            out.append((whole(v, what, 0),) * 2)
    return tuple(out)


def spatial_dims(cx: LayerContext) -> int:
    """Number of spatial dims of a ``...1D`` / ``...2D`` / ``...3D`` layer class."""
    cls = cx.layer.class_name
    for n in (1, 2, 3):
        if f"{n}D" in cls:
            return n
    raise ValueError(f"cannot tell the number of spatial dims of {cls}")


def data_format(cx: LayerContext) -> str:
    """The layer's ``data_format`` (``channels_last`` when the option is absent)."""
    fmt = cx.cfg.get("data_format") or "channels_last"
    if fmt not in ("channels_last", "channels_first"):
        cx.refuse(
            f"data_format {fmt!r} is not supported (expected 'channels_last' or 'channels_first')"
        )
    return fmt


def padding_mode(cx: LayerContext, allowed=("valid", "same")) -> str:
    """The ``padding`` option as a lower-case string, refused unless in ``allowed``."""
    raw = cx.cfg.get("padding", "valid")
    mode = raw.lower() if isinstance(raw, str) else None
    if mode not in allowed:
        expected = " or ".join(repr(a) for a in allowed)
        cx.refuse(f"padding {raw!r} is not supported (expected {expected})")
    return mode


def window_padding(cx: LayerContext, kernel, dilation) -> object:
    """The ``padding`` option of a conv or pooling layer as an IR padding value.

    ``"causal"`` (1-D only) pads ``(k - 1) * d`` zeros in front, nothing after.
    """
    causal = ("causal",) if len(kernel) == 1 else ()
    padding = padding_mode(cx, ("valid", "same", *causal))
    if padding == "causal":
        return (((int(kernel[0]) - 1) * int(dilation[0]), 0),)
    return padding


def channel_pads(cx: LayerContext, spatial: tuple[tuple[int, int], ...], fmt: str):
    """Pairs for every sample axis: zeros for the leading and channel axes."""
    none = ((0, 0),)
    if fmt == "channels_first":
        return none * cx.lead + none + spatial
    return none * cx.lead + spatial + none


def in_channels_last(
    cx: LayerContext, x: str, n_spatial: int, body: Callable[[str], str], fmt: str | None = None
) -> str:
    """Apply ``body`` (which builds channels-last ops) to ``x`` in the layer's data format.

    IR ops are channels-last. For ``channels_first`` the input is transposed to channels-last
    (``<layer>.to_channels_last``) and the result back (``<layer>.to_channels_first``), so
    the graph keeps the user's layout at its edges; a canonicalize pass can cancel pairs.
    When ``body`` removed the spatial dims (global pooling), there is nothing to move back.
    """
    fmt = fmt or data_format(cx)
    if fmt == "channels_last":
        return body(x)
    rank = cx.type_of(x).rank
    c = rank - n_spatial - 1  # the channel axis, after any leading dims
    if c < 0:
        cx.refuse(f"expected an input of rank >= {n_spatial + 1}, got {cx.type_of(x)}")
    perm = (*range(c), *range(c + 1, rank), c)
    x = cx.emit(ops.Transpose(perm=perm), [x], "to_channels_last")
    y = body(x)
    if cx.type_of(y).rank != rank:
        return y
    inverse = tuple(perm.index(i) for i in range(rank))
    return cx.emit(ops.Transpose(perm=inverse), [y], "to_channels_first")


def single_axis(cx: LayerContext, value, what: str = "axis") -> int:
    """A Keras axis option that may be an int or a one-element list, as an IR axis."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            cx.refuse(f"it acts along several axes ({what}={list(value)}); only one is supported")
        value = value[0]
    return cx.axis(whole(value, what))

"""Helpers shared by the converters: option parsing, padding, data-format handling."""

from __future__ import annotations

from collections.abc import Callable

from snnc.frontend.keras.context import LayerContext
from snnc.ir import ops


def ints(value, n: int, what: str = "value") -> tuple[int, ...]:
    """An int or a list of ints as an ``n``-tuple (Keras stores both forms)."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{what} {value} has {len(value)} entries (expected {n})")
        return tuple(int(v) for v in value)
    return (int(value),) * n


def pairs(value, n: int) -> tuple[tuple[int, int], ...]:
    """Keras padding / cropping amounts as ``n`` ``(before, after)`` pairs.

    Accepts an int (same everywhere), one pair when ``n == 1``, or ``n`` entries that are
    each an int (symmetric) or a pair.
    """
    if isinstance(value, int):
        return ((value, value),) * n
    value = list(value)
    if n == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
        return ((int(value[0]), int(value[1])),)
    if len(value) != n:
        raise ValueError(f"padding/cropping {value} does not have {n} entries")
    return tuple((int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1])) for v in value)


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
        cx.refuse(f"data_format '{fmt}' is not supported")
    return fmt


def window_padding(cx: LayerContext, kernel, dilation) -> object:
    """The ``padding`` option of a conv or pooling layer as an IR padding value.

    ``"causal"`` (1-D only) pads ``(k - 1) * d`` zeros in front, nothing after.
    """
    padding = str(cx.cfg.get("padding", "valid")).lower()
    if padding in ("valid", "same"):
        return padding
    if padding == "causal" and len(kernel) == 1:
        return (((int(kernel[0]) - 1) * int(dilation[0]), 0),)
    cx.refuse(f"padding '{padding}' is not supported (use 'valid' or 'same')")


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
    return cx.axis(int(value))

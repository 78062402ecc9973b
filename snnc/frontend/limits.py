"""Resource limits of the model readers: a small file must not cost unbounded memory or time.

A ``.keras`` zip of one megabyte can hold a gigabyte member, a JSON config can nest deeper
than Python's recursion limit, and a one-line config change (``UpSampling2D(size=300)``)
can ask for a model with tens of millions of neurons. The readers therefore check every
such quantity *before* paying for it, against a :class:`Limits` object whose defaults accept
every ordinary model (the defaults are documented on the fields), and refuse with a
:class:`LimitError` that names the file, the quantity, the limit and how to raise it::

    import snnc
    from snnc.frontend import Limits

    g = snnc.frontend.load("big.keras", limits=Limits(max_params=500_000_000))

The CLI exposes each field as an option named after it (``max_params`` ->
``--max-params``) on every command that reads a model; :data:`OPTIONS` lists them with
their help texts.

Running has a cost bound too: :mod:`snnc.runcost`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from snnc.errors import ModelFileError, SnncError

_MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Upper bounds the frontend enforces while reading a model.

    Every field is a positive int; :meth:`unlimited` gives limits that never trigger (for
    trusted files). Exceeding one raises :class:`LimitError` (an ``SnncError``: exit code 2
    from the CLI).

    Attributes:
        max_member_bytes: decompressed size of one member of a ``.keras`` zip (the weights
            file ``model.weights.h5``) or of a ``model.snnc`` zip, and raw size of one weight
            array in an HDF5 file; :mod:`snnc.datafiles` holds each array of a ``.npy`` /
            ``.npz`` data file to it too. Default 512 MiB (about 130 million float32 weights).
        max_config_bytes: size of the model's JSON config (``config.json``,
            ``metadata.json``, the ``model_config`` attribute of a legacy ``.h5``). Parsed
            JSON can take up to 30 times its text size in memory. Default 32 MiB (about
            20,000 layers of a typical Keras 3 config).
        max_depth: nesting depth of the JSON config (objects and arrays). Ordinary models
            need 10-30; deep nesting would exhaust Python's stack. Default 100.
        max_layers: Keras layers in the model, counting those of nested models.
            Default 10,000.
        max_params: weight values in the model (all weight arrays together). Default
            100,000,000.
        max_activations: values all nodes of the converted graph produce for one sample
            (an upper bound of the neuron count after conversion). Shape options that no
            weight constrains (``UpSampling2D`` size, ``ZeroPadding2D``, ``Input`` shape)
            would otherwise make models of any size. Default 10,000,000.
    """

    max_member_bytes: int = 512 * _MiB
    max_config_bytes: int = 32 * _MiB
    max_depth: int = 100
    max_layers: int = 10_000
    max_params: int = 100_000_000
    max_activations: int = 10_000_000

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SnncError(
                    f"Limits.{f.name}: must be a positive integer (got {v!r})",
                    hint=f"e.g. Limits({f.name}={f.default})",
                )

    @classmethod
    def unlimited(cls) -> Limits:
        """Limits that never trigger in practice (2**62 everywhere; the JSON depth is
        capped at what the parser survives without exhausting the stack)."""
        big = 1 << 62
        return cls(**{f.name: big for f in dataclasses.fields(cls)} | {"max_depth": MAX_SAFE_DEPTH})

    def replace(self, **changes) -> Limits:
        """A copy with some limits changed (``None`` values are ignored, so CLI options
        that were not given can be passed straight through)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


#: deepest JSON the readers accept whatever the limits say: ``json`` and the config walkers
#: recurse once per level, and Python's default stack allows about 1000 frames
MAX_SAFE_DEPTH = 400

#: the default limits
DEFAULT_LIMITS = Limits()

#: field -> (CLI option, help text); the CLI adds one option per entry
OPTIONS: dict[str, tuple[str, str]] = {
    "max_member_bytes": (
        "--max-member-bytes",
        "largest decompressed member of a .keras / model.snnc zip, largest weight array, "
        "and largest array of a .npy / .npz data file "
        f"(bytes, default {DEFAULT_LIMITS.max_member_bytes})",
    ),
    "max_config_bytes": (
        "--max-config-bytes",
        f"largest JSON model config (bytes, default {DEFAULT_LIMITS.max_config_bytes})",
    ),
    "max_depth": (
        "--max-depth",
        f"deepest nesting of the JSON model config (default {DEFAULT_LIMITS.max_depth}, "
        f"at most {MAX_SAFE_DEPTH})",
    ),
    "max_layers": (
        "--max-layers",
        f"most Keras layers, nested models included (default {DEFAULT_LIMITS.max_layers})",
    ),
    "max_params": (
        "--max-params",
        f"most weight values in the model (default {DEFAULT_LIMITS.max_params})",
    ),
    "max_activations": (
        "--max-activations",
        "most values all layers produce per sample, an upper bound of the neuron count "
        f"(default {DEFAULT_LIMITS.max_activations})",
    ),
}


class LimitError(ModelFileError):
    """A model exceeds one of the :class:`Limits`. ``limit`` names the field, ``found`` is
    the amount found (-1 when the check stopped counting early)."""

    def __init__(self, where: str, what: str, found: int, limit: str, value: int):
        self.limit = limit
        self.found = found
        option = OPTIONS[limit][0]
        super().__init__(
            f"{where}: {what} exceeds the limit (expected at most {value:,}, got "
            f"{f'more than {value:,}' if found < 0 else f'{found:,}'}; limit {limit})",
            hint=(
                f"if you trust this model, raise the limit: snnc.load(..., "
                f"limits=Limits({limit}=N)) from Python, or {option} N on the command line"
            ),
        )


def check(where: str, what: str, found: int, limits: Limits, name: str) -> None:
    """Raise :class:`LimitError` when ``found`` exceeds ``limits.<name>``."""
    value = getattr(limits, name)
    if found > value:
        raise LimitError(where, what, found, name, value)


def check_graph(graph, where: str, limits: Limits | None = None) -> None:
    """Raise :class:`LimitError` when a graph read from snnc's own formats (``.snnir`` text,
    ``model.snnc``) is larger than ``limits`` allow (None: the defaults): more nodes than
    ``max_layers``, more parameter values than ``max_params``, or more values per sample
    than ``max_activations``. A type is only a shape until something runs, so a ten-line
    ``.snnir`` can declare a ten-billion-value input: this refuses it at load, as the Keras
    reader refuses an ``UpSampling2D(300)``, instead of at compile or run time."""
    limits = DEFAULT_LIMITS if limits is None else limits
    nodes = graph.topo_order()
    check(where, "the number of nodes", len(nodes), limits, "max_layers")
    params = sum(a.size for n in nodes for a in graph.op(n).param_arrays().values())
    check(where, "the parameter values of the graph", params, limits, "max_params")
    values = sum(graph.type(n).size for n in nodes)
    check(where, "the values all nodes produce for one sample", values, limits, "max_activations")


def effective_depth(limits: Limits) -> int:
    """The depth limit actually applied (never beyond :data:`MAX_SAFE_DEPTH`)."""
    return min(limits.max_depth, MAX_SAFE_DEPTH)


#: the bytes that matter for JSON nesting: quotes and brackets
_SPECIAL = np.zeros(256, bool)
_SPECIAL[list(b'"[]{}')] = True


def json_depth(text: bytes, stop: int, chunk: int = 1 << 22) -> int:
    """Nesting depth of JSON ``text`` without parsing it, or more than ``stop`` as soon as
    the depth passes ``stop``.

    Brackets inside strings do not count (a quote after an odd run of backslashes is
    escaped). The scan is vectorised with numpy, ``chunk`` bytes at a time, so a large
    config costs about as much as reading it; it does not validate the text
    (``json.loads`` does that afterwards) but is exact for valid JSON.
    """
    data = np.frombuffer(text, np.uint8)
    deepest = depth = 0
    in_string = 0  # 1 when the chunk starts inside a string
    run = 0  # length of the run of backslashes that ends just before the chunk
    for start in range(0, len(data), chunk):
        c = data[start : start + chunk]
        quote = c == ord('"')
        backslash = c == ord("\\")
        if backslash.any():
            # the length of the backslash run ending at each position decides which
            # quotes are escaped
            pos = np.arange(len(c), dtype=np.int64)
            last_other = np.maximum.accumulate(np.where(backslash, -1, pos))
            runs = np.where(last_other < 0, pos + 1 + run, pos - last_other)
            before = np.concatenate(([run], runs[:-1]))
            quote &= before % 2 == 0
            run = int(runs[-1])
        else:
            if run % 2 and len(c):  # the previous chunk ended in an odd backslash run
                quote[0] = False
            run = 0
        keep = np.flatnonzero(_SPECIAL[c])  # only quotes and brackets from here on
        kind = c[keep]
        is_quote = quote[keep].view(np.int8)
        quotes_before = np.cumsum(is_quote, dtype=np.int64) - is_quote
        outside = (quotes_before + in_string) % 2 == 0
        opening = ((kind == ord("[")) | (kind == ord("{"))) & outside
        closing = ((kind == ord("]")) | (kind == ord("}"))) & outside
        levels = np.cumsum(opening.view(np.int8) - closing.view(np.int8), dtype=np.int64)
        deepest = max(deepest, depth + int(levels.max(initial=0)))
        if deepest > stop:
            return deepest
        if len(levels):
            depth += int(levels[-1])
            in_string = (int(quotes_before[-1]) + int(is_quote[-1]) + in_string) % 2
    return deepest


def object_depth(obj, stop: int) -> int:
    """Nesting depth of a JSON-like Python value (dicts, lists, tuples), walked iteratively
    (no recursion, so any depth is safe), or ``stop + 1`` as soon as it passes ``stop``."""
    deepest = 0
    todo = [(obj, 1)]
    seen: set[int] = set()
    while todo:
        value, depth = todo.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, (list, tuple)):
            children = value
        else:
            continue
        if id(value) in seen:  # a shared or self-referencing container counts once
            continue
        seen.add(id(value))
        deepest = max(deepest, depth)
        if deepest > stop:
            return deepest
        todo.extend((child, depth + 1) for child in children)
    return deepest


def check_json_text(where: str, what: str, text: bytes, limits: Limits) -> None:
    """Size and nesting checks of a JSON document before it is parsed."""
    check(where, f"{what} ({len(text):,} bytes)", len(text), limits, "max_config_bytes")
    stop = effective_depth(limits)
    depth = json_depth(text, stop)
    if depth > stop:
        _depth_error(where, what, limits)


def check_object_depth(where: str, what: str, obj, limits: Limits) -> None:
    """Nesting check of a config that is already a Python value (an in-memory model)."""
    stop = effective_depth(limits)
    if object_depth(obj, stop) > stop:
        _depth_error(where, what, limits)


def _depth_error(where: str, what: str, limits: Limits):
    if limits.max_depth > MAX_SAFE_DEPTH:
        raise ModelFileError(
            f"{where}: {what} nests deeper than snnc can read (expected at most "
            f"{MAX_SAFE_DEPTH} levels of JSON objects and arrays)",
            hint="the config is malformed or was not written by Keras",
        )
    raise LimitError(where, f"the nesting depth of {what}", -1, "max_depth", limits.max_depth)


__all__ = [
    "DEFAULT_LIMITS",
    "MAX_SAFE_DEPTH",
    "OPTIONS",
    "LimitError",
    "Limits",
    "check",
    "check_graph",
    "check_json_text",
    "check_object_depth",
]

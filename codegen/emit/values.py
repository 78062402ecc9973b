"""Values: what an IR node's result is while its nengo network is being emitted.

Each IR node's result is a :class:`Value`: a sum of :class:`Term` s plus constant offsets.
A term is one future ``nengo.Connection`` from an existing nengo object::

    nengo.Connection(src[gather], dst[scatter], transform=scale * T, synapse=tau)

Linear ops do not create nengo objects; they rewrite the terms of their input (and the
constants, by running their interpreter kernel) with the algebra below:

- value-moving ops (flatten, reshape, transpose, crop, pad, upsample, concat) change
  ``gather`` / ``scatter`` (index maps, :func:`gathered`, :func:`concatenated`);
- a weighted sum scales and merges terms (:func:`summed`);
- an affine op (dense, conv, pooling, batch norm, ...) sets ``transform``
  (:func:`transformed`); a term holds at most one transform, so a second one first
  *materializes* the value into a passthrough ``nengo.Node`` (a relay), the only place
  relays appear;
- an edge synapse sets ``synapse`` and filters the constants, as nengo would
  (:func:`filtered`).

The algebra needs two things from the emission: a relay (``builder.relay``) and a constant
Node (``builder.constant``); the node being emitted is passed explicitly, so labels and the
report name it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from snnc.codegen.linear import affine_constant, apply_linear
from snnc.ir.ops import Op

if TYPE_CHECKING:
    from snnc.codegen.emit.builder import NetworkBuilder


@dataclass(frozen=True)
class Transform:
    """A nengo transform (``size_in -> size_out``) as source text.

    ``template`` holds ``{init}`` where the weight expression goes, so a term's scale can be
    folded into the weights (``init=0.5 * w["conv1.weight"]``). ``what`` names it in reports.
    """

    size_in: int
    size_out: int
    template: str
    init: str
    what: str

    def source(self, scale: float = 1.0) -> str:
        """The transform's source with ``scale`` folded into its weights."""
        from snnc.codegen.emit.naming import literal

        init = self.init if scale == 1.0 else f"{literal(scale)} * {self.init}"
        return self.template.format(init=init)


@dataclass(frozen=True, eq=False)
class Term:
    """One pending connection ``src[gather] -> (scale * transform) -> [scatter]`` (see the
    module docstring). ``src`` is a Python variable of the generated module;
    ``gather``/``scatter`` None mean "all, in order"."""

    src: str
    src_size: int
    gather: np.ndarray | None = None
    transform: Transform | None = None
    scale: float = 1.0
    scatter: np.ndarray | None = None
    synapse: float | None = None

    @property
    def size(self) -> int:
        """Number of values this term delivers."""
        if self.transform is not None:
            return self.transform.size_out
        return self.src_size if self.gather is None else len(self.gather)

    def replace(self, **changes) -> Term:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class Value:
    """The result of an IR node: ``sum(terms) + sum(bias)``, flat in C order.

    ``bias`` maps a synapse (None or a lowpass tau) to a constant vector filtered by it.
    """

    shape: tuple[int, ...]
    terms: tuple[Term, ...] = ()
    bias: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Number of values (the flat size of ``shape``)."""
        return int(np.prod(self.shape))

    def is_plain(self) -> bool:
        """A single untouched object (probe it or connect from it directly)."""
        if len(self.terms) != 1 or any(np.any(b) for b in self.bias.values()):
            return False
        t = self.terms[0]
        return t.gather is None and t.transform is None and t.scatter is None and t.scale == 1.0

    def with_shape(self, shape) -> Value:
        """The same values under another shape (flatten, reshape: a no-op on flat data)."""
        return Value(tuple(shape), self.terms, self.bias)


def object_value(var: str, shape) -> Value:
    """The Value of a freshly created nengo object held in variable ``var``."""
    shape = tuple(shape)
    return Value(shape, (Term(var, int(np.prod(shape))),))


def add_bias(bias: dict, key, b: np.ndarray) -> None:
    """Add the constant ``b`` filtered by synapse ``key`` into ``bias`` (in place)."""
    bias[key] = bias[key] + b if key in bias else np.asarray(b, dtype=np.float64)


def _is_range(idx: np.ndarray | None, n: int) -> bool:
    return idx is not None and len(idx) == n and bool(np.all(idx == np.arange(n)))


def _tidy(t: Term, n_out: int) -> Term:
    gather = None if _is_range(t.gather, t.src_size) else t.gather
    scatter = None if _is_range(t.scatter, n_out) else t.scatter
    return t.replace(gather=gather, scatter=scatter)


# =============================================================================== algebra


def filtered(b: NetworkBuilder, node: str, value: Value, synapse: float | None) -> Value:
    """``value`` seen through an edge into ``node`` with ``synapse``."""
    if synapse is None:
        return value
    terms, bias = [], {}
    for t in value.terms:
        if t.synapse is None:
            terms.append(t.replace(synapse=synapse))
        else:  # a second filter in series: relay the once-filtered values
            r = b.relay(node, [t.replace(scatter=None)], t.size, "filtered")
            terms.append(Term(r.src, t.size, scatter=t.scatter, synapse=synapse))
    for key, c in value.bias.items():
        if key is None:
            add_bias(bias, synapse, c)
        elif np.any(c):
            src = b.constant(node, c)
            r = b.relay(node, [Term(src, value.size, synapse=key)], value.size, "filtered")
            terms.append(r.replace(synapse=synapse))
    return Value(value.shape, tuple(terms), bias)


def gathered(b: NetworkBuilder, node: str, value: Value, g: np.ndarray, shape, fill=None) -> Value:
    """``y[j] = value[g[j]]``, and ``fill[j]`` where ``g[j] == -1``, as index maps.

    ``fill`` is None (zeros) or a flat vector of constants for the positions that read no
    input (padding values).
    """
    n_out = len(g)
    terms = []
    for t in value.terms:
        pos = t.scatter if t.scatter is not None else np.arange(t.size)
        inv = np.full(value.size, -1)
        inv[pos] = np.arange(len(pos))
        sel = np.where(g >= 0, inv[np.maximum(g, 0)], -1)
        js = np.flatnonzero(sel >= 0)  # output positions this term feeds
        idx = sel[js]  # which of the term's values each one reads
        if js.size == 0:
            continue
        if t.transform is None:  # compose on the pre side: any gather works
            pre = idx if t.gather is None else t.gather[idx]
            terms.append(t.replace(gather=pre, scatter=js))
        elif len(idx) == t.size and np.array_equal(np.sort(idx), np.arange(t.size)):
            scatter = np.empty(t.size, dtype=np.int64)  # a permutation: move the outputs
            scatter[idx] = js
            terms.append(t.replace(scatter=scatter))
        else:  # drops or repeats transformed values: relay them first
            r = b.relay(node, [t.replace(scatter=None)], t.size)
            terms.append(r.replace(gather=idx, scatter=js))
    terms = [_tidy(t, n_out) for t in terms]
    bias: dict = {}
    for key, c in value.bias.items():
        add_bias(bias, key, np.where(g >= 0, c[np.maximum(g, 0)], 0.0))
    if fill is not None and np.any(fill[g < 0]):
        add_bias(bias, None, np.where(g < 0, fill, 0.0))
    return Value(tuple(shape), tuple(terms), bias)


def concatenated(values: list[Value]) -> Value:
    """The inputs laid end to end as one flat vector (what ``index_map`` numbers)."""
    terms, offset, total = [], 0, sum(v.size for v in values)
    bias: dict = {}
    for v in values:
        for t in v.terms:
            pos = t.scatter if t.scatter is not None else np.arange(t.size)
            terms.append(t.replace(scatter=pos + offset))
        for key, c in v.bias.items():
            full = np.zeros(total)
            full[offset : offset + v.size] = c
            add_bias(bias, key, full)
        offset += v.size
    return Value((total,), tuple(terms), bias)


def transformed(
    b: NetworkBuilder, node: str, value: Value, transform: Transform | None, op: Op, shape
) -> Value:
    """``op(value)`` for a one-input affine ``op`` whose linear part is ``transform``
    (None: the linear part is zero)."""
    terms = list(value.terms)
    single = len(terms) == 1 and terms[0].transform is None and terms[0].scatter is None
    if terms and not single:
        terms = [b.relay(node, terms, value.size)]
    if transform is None:
        terms = []
    terms = [t.replace(transform=transform) for t in terms]
    in_shape = value.shape
    bias: dict = {}
    for key, c in value.bias.items():
        add_bias(bias, key, apply_linear(op, c, in_shape))
    add_bias(bias, None, affine_constant(op, [in_shape]))
    return Value(tuple(shape), tuple(terms), bias)


def summed(values: list[Value], coeffs) -> Value:
    """``sum(c * v)`` of equally shaped values."""
    terms, bias = [], {}
    for v, c in zip(values, coeffs, strict=True):
        if c == 0:
            continue
        terms += [t.replace(scale=t.scale * float(c)) for t in v.terms]
        for key, const in v.bias.items():
            add_bias(bias, key, float(c) * const)
    return Value(values[0].shape, tuple(terms), bias)

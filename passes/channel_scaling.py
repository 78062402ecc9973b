"""Per-channel output scales and where to undo them: the bookkeeping of channel-wise
rate normalization.

A neuron's ``amplitude`` is one number, so a neuron node scaled by a factor ``k_c`` per
channel (``gain *= k_c, bias *= k_c``) and ``amplitude /= k`` outputs its old rate-mode
value times ``r_c = k_c / k``. To keep the graph's outputs, the next op that can absorb a
per-channel factor multiplies its input channels by ``1 / r_c``:

- an op with weights (dense, conv, depthwise, transposed conv) scales its input channels
  (:func:`snnc.passes.folding.fold_into_consumer`);
- a neuron scales its gain (``J = gain * x + bias`` sees the same ``J``), whatever its kind.

Between the two, the scale is carried through ops that only move values (flatten,
reshape, transpose, crop, pad with zeros, upsample, concat: the op is applied to the scale
array itself), through pooling (which keeps channels apart) when the scale is constant per
channel, and through an ``nn.add`` whose inputs carry the same scale. Anything else in the
way (an output, an affine, an add of differently scaled inputs, a pad with a non-zero
value) makes the per-channel scaling of the neurons it comes from inexact: :func:`plan`
reports them and the caller falls back to one factor per layer for those nodes.

Scales are float64 arrays over a node's sample shape; NaN marks positions that always hold
0 (zero padding), where any factor is right.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from snnc.ir import Graph, ops
from snnc.ir import traits as T
from snnc.ir.interpreter import run_kernel
from snnc.passes.folding import fold_into_consumer

_POOLS = (ops.AvgPool, ops.GlobalAvgPool, ops.MaxPool, ops.GlobalMaxPool)

#: node meta key of a per-channel scaled neuron: its ``(C,)`` residual scale (the factor of
#: its rate-mode value over the unscaled graph's), composed over normalize-rates runs
META_KEY = "channel_scale"


def value_scales(g: Graph) -> dict[str, np.ndarray]:
    """Node -> the per-position factor its rate-mode value carries against the graph before
    channel-wise normalization (NaN: a position that always holds 0), from the
    :data:`META_KEY` of its neurons; nodes not listed carry none (their consumers undid it).
    Checks that compare values with an unscaled reference (``snnc verify``) divide by it."""
    residuals = {}
    for n in g.topo_order():
        r = recorded_scale(g.meta(n).get(META_KEY))
        if r is not None and g.op(n).has(T.Neuron) and g.type(n).shape[-1:] == r.shape:
            residuals[n] = r
    return plan(g, residuals).scales if residuals else {}


def recorded_scale(value) -> np.ndarray | None:
    """A recorded ``channel_scale`` as a ``(C,)`` array, or None unless it is a list of
    finite positive numbers (meta is read from files: anything else is ignored)."""
    if not isinstance(value, list | tuple) or not value:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    r = np.asarray(value, np.float64)
    return r if np.all(np.isfinite(r)) and np.all(r > 0) else None


@dataclass
class Plan:
    """What compensating a set of per-channel residuals takes.

    Attributes:
        gains: neuron node -> the scale of its input, to divide its gain by.
        consumers: node with weights -> per-input-channel scale to divide its input by.
        failed: neuron node whose residual cannot be undone -> why (a note).
        scales: node -> the scale its value carries (over its output shape): the scaled
            neurons and the nodes that pass their values on before a consumer undoes it.
    """

    gains: dict[str, np.ndarray] = field(default_factory=dict)
    consumers: dict[str, np.ndarray] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    scales: dict[str, np.ndarray] = field(default_factory=dict)


def plan(g: Graph, residuals: dict[str, np.ndarray]) -> Plan:
    """Where the per-channel output scales ``residuals`` (neuron node -> ``(C,)``) are
    undone; nodes whose scale reaches something that cannot absorb it are in ``failed``."""
    out = Plan()
    # node -> (scale over its output shape, the residual nodes it comes from)
    scale: dict[str, tuple[np.ndarray, frozenset]] = {}
    for n in g.topo_order():
        op = g.op(n)
        ins = [scale.get(s) for s in g.inputs_of(n)]
        carried = [x for x in ins if x is not None]
        sources = frozenset().union(*(src for _, src in carried)) if carried else frozenset()
        if op.has(T.Neuron):
            if carried:
                out.gains[n] = ins[0][0]
            if n in residuals:
                shape = g.type(n).shape
                scale[n] = (np.broadcast_to(residuals[n], shape).astype(np.float64), frozenset({n}))
            continue
        if not carried:
            continue
        full = [
            x[0] if x is not None else np.ones(g.type(s).shape)
            for x, s in zip(ins, g.inputs_of(n), strict=True)
        ]
        why = None
        if op.has(T.HasWeights):
            per_channel = _per_channel(full[0])
            if per_channel is None:
                why = f"%{n} ({op.kind}) would need a different factor per position"
            else:
                out.consumers[n] = per_channel
        elif isinstance(op, _POOLS):
            per_channel = _per_channel(full[0])
            if per_channel is None:
                why = f"%{n} ({op.kind}) mixes positions with different factors"
            else:
                scale[n] = (np.broadcast_to(per_channel, g.type(n).shape).copy(), sources)
        elif isinstance(op, ops.Add):
            merged = _merge_equal(full)
            if merged is None:
                why = f"%{n} ({op.kind}) adds inputs with different factors"
            else:
                scale[n] = (merged, sources)
        elif op.has(T.MovesValues) and not isinstance(op, ops.Output):
            moved = _move(op, full, g.dt, n)
            if moved is None:
                why = f"%{n} ({op.kind}) pads with a non-zero value, which does not scale"
            else:
                scale[n] = (moved, sources)
        else:
            why = f"%{n} ({op.kind}) cannot absorb a per-channel factor"
        if why is not None:
            for src in sources:
                out.failed.setdefault(src, why)
    out.scales = {n: s for n, (s, _) in scale.items()}
    return out


def _per_channel(a: np.ndarray) -> np.ndarray | None:
    """The ``(C,)`` factors of a scale array constant along every axis but the last
    (NaN positions ignored; an all-NaN channel gets 1), else None."""
    flat = a.reshape(-1, a.shape[-1]) if a.ndim else a.reshape(1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-padding channel is fine
        hi, lo = np.nanmax(flat, axis=0), np.nanmin(flat, axis=0)
    hi, lo = np.where(np.isnan(hi), 1.0, hi), np.where(np.isnan(lo), 1.0, lo)
    if not np.allclose(hi, lo, rtol=1e-12, atol=0):
        return None
    return hi


def _merge_equal(arrays: list[np.ndarray]) -> np.ndarray | None:
    """The common scale of ``arrays`` (NaN matches anything), else None."""
    out = arrays[0].copy()
    for a in arrays[1:]:
        both = ~np.isnan(out) & ~np.isnan(a)
        if not np.allclose(out[both], a[both], rtol=1e-12, atol=0):
            return None
        out = np.where(np.isnan(out), a, out)
    return out


def _move(op: ops.Op, arrays: list[np.ndarray], dt: float, node: str) -> np.ndarray | None:
    """The op applied to the scale arrays (it only moves values); zero padding gives NaN."""
    if isinstance(op, ops.Pad):
        if op.value != 0:
            return None
        op = op.replace(value=float("nan"))
    return run_kernel(op, [a[None] for a in arrays], dt, node)[0]


def absorb_into_consumer(op: ops.Op, in_scale: np.ndarray, rank: int) -> ops.Op:
    """``op`` reading an input whose channels were multiplied by ``in_scale``, computing
    what it computed before (its input channels divided by ``in_scale``)."""
    new = fold_into_consumer(op, 1.0 / in_scale, np.zeros(()), rank - 1, rank)
    # a pure scale adds nothing to the bias: an op without one stays without one
    return new.replace(bias=None) if op.bias is None else new


def gain_divisor(in_scale: np.ndarray) -> np.ndarray:
    """The array to divide a neuron's gain by for an input scaled by ``in_scale``: per
    channel when the scale is, else per element (NaN positions always see 0: factor 1)."""
    per_channel = _per_channel(in_scale)
    if per_channel is not None:
        return per_channel
    return np.where(np.isnan(in_scale), 1.0, in_scale)

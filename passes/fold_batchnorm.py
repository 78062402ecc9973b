"""``fold-batchnorm``: fold inference-mode batch normalisation into a neighbouring linear op.

For each ``nn.batch_norm`` (``y = x * scale + offset`` per channel, see
:meth:`snnc.ir.ops.BatchNorm.scale_offset`), in this order of preference:

1. *after* its producer, when the producer is a dense / conv / depthwise / transposed conv
   (or affine) op whose sole user is the batch norm: the producer's output channels are
   scaled and its bias shifted. A layout ``nn.transpose`` in between (channels-first
   models) is looked through: the batch norm moves above it, on the permuted axis;
2. *before* its consumer, when the batch norm's sole user is a dense / conv / depthwise op
   (conv with zero padding only if the offset is 0; see :mod:`snnc.passes.folding`);
3. otherwise it stays as an ``nn.affine`` op (same math, no statistics) and a note says why.

Folding is exact in real arithmetic; the new weights are rounded to float32 once, so a
quantized weight or bias that takes a fold becomes a float one (its ``quant`` entry is
dropped and a note says so: quantize after folding). The pass measures the drift: it evaluates the graph before and after on ``probe_batch`` samples of
the calibration data (or of standard-normal inputs drawn from ``ctx.rng``) and reports the
largest output change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from snnc.ir import Graph, Stage
from snnc.ir import traits as T
from snnc.ir.interpreter import evaluate
from snnc.ir.ops import Affine, BatchNorm, Transpose
from snnc.passes.base import Pass, PassContext, PassResult, option, register_pass
from snnc.passes.folding import (
    NotFoldable,
    channel_affine,
    fold_into_consumer,
    fold_into_producer,
    fuse_into,
    is_fold_producer,
    quant_note,
    single_input,
    sole_user,
)


@register_pass
@dataclass(frozen=True)
class FoldBatchNorm(Pass):
    """Fold BatchNormalization into the neighbouring dense/conv op; keep the rest as affine."""

    name: ClassVar[str] = "fold-batchnorm"
    stage: ClassVar = frozenset({Stage.ANN, Stage.SNN})
    measure_drift: bool = option(
        True, "evaluate before and after to report the numeric drift of the folds"
    )
    probe_batch: int = option(
        8,
        "samples the drift is measured on: the first ones of the calibration data, else random",
        check=lambda v: v > 0,
        expect="an int > 0",
    )

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        bns = graph.nodes_of(BatchNorm)
        if not bns:
            return PassResult(changed=False, stats={"batch_norms": 0})
        before = graph.copy() if self.measure_drift else None
        stats = {
            "batch_norms": len(bns),
            "folded_into_producer": 0,
            "folded_into_consumer": 0,
            "kept_as_affine": 0,
        }
        notes = []
        lost: list[str] = []  # quantized parameters a fold made float
        for bn in bns:
            how, target, why, bn_lost = _fold_one(graph, bn)
            stats[how] += 1
            lost += bn_lost
            if how == "kept_as_affine":
                notes.append(f"%{bn} kept as {Affine.kind}: {why}")
            else:
                ctx.logger.debug("fold-batchnorm: %s folded into %s", bn, target)
        if lost:
            stats["quant_dropped"] = len(lost)
            notes.append(quant_note(lost, "batch norm folded in"))
        if before is not None:
            drift, rel = _drift(before, graph, ctx, self.probe_batch)
            stats["max_abs_drift"], stats["max_rel_drift"] = drift, rel
            notes.append(f"max output drift of the folds: {drift:.3g} absolute, {rel:.3g} relative")
        return PassResult(changed=True, stats=stats, notes=notes)


def _fold_one(g: Graph, bn: str) -> tuple[str, str | None, str, list[str]]:
    """Fold batch norm ``bn``; returns (stats key, node folded into, reason if kept,
    quantized parameters that became float)."""
    _hoist_above_transpose(g, bn)
    rank = g.type(bn).rank
    affine = channel_affine(g.op(bn), rank)
    producer, syn = single_input(g, bn)
    reasons = []
    if is_fold_producer(g.op(producer)) and syn is None and sole_user(g, producer) == bn:
        try:
            merged = fold_into_producer(g.op(producer), *affine, rank)
            return "folded_into_producer", producer, "", fuse_into(g, producer, merged, bn)
        except NotFoldable as e:
            reasons.append(f"not into %{producer} ({e})")
    else:
        reasons.append(f"not into %{producer} ({_why_not(g, producer, bn, syn)})")
    consumer = sole_user(g, bn)
    if consumer is not None and g.op(consumer).has(T.HasWeights):
        try:
            merged = fold_into_consumer(g.op(consumer), *affine, rank)
            return "folded_into_consumer", consumer, "", fuse_into(g, consumer, merged, bn)
        except NotFoldable as e:
            reasons.append(f"not into %{consumer} ({e})")
    elif consumer is not None:
        reasons.append(f"not into %{consumer} ({g.op(consumer).kind} has no weights)")
    else:
        reasons.append(f"its output has {len(g.users(bn))} users")
    scale, offset, _ = affine
    # the statistics collapse to float scale/offset: a quantized gamma/beta/... is gone
    lost = [f"%{bn}.{p}" for p, _ in g.op(bn).quant]
    g.replace_op(bn, Affine(scale=scale, offset=offset, axis=g.op(bn).axis))
    return "kept_as_affine", None, "; ".join(reasons), lost


def _hoist_above_transpose(g: Graph, bn: str) -> None:
    """``bn(transpose(y))`` -> ``transpose(bn'(y))`` when ``y`` is a linear op: a channels-first
    layer between layout transposes then folds too. ``bn'`` normalises axis ``perm[axis]``."""
    t, syn = single_input(g, bn)
    if not isinstance(g.op(t), Transpose) or syn is not None or sole_user(g, t) != bn:
        return
    y, y_syn = single_input(g, t)
    if not is_fold_producer(g.op(y)) or y_syn is not None or sole_user(g, y) != t:
        return
    op = g.op(bn)
    axis = g.op(t).perm[op.axis % g.type(bn).rank]
    g.replace_all_uses(bn, t)  # bn's users read the transpose ...
    # ... bn reads y, normalising the permuted axis (input and axis change together) ...
    g.set_inputs(bn, [y], op=op.replace(axis=axis))
    g.set_inputs(t, [bn])  # ... and the transpose reads bn


def _why_not(g: Graph, producer: str, bn: str, syn) -> str:
    if not is_fold_producer(g.op(producer)):
        return f"{g.op(producer).kind} has no weights"
    if syn is not None:
        return "a synapse sits between them"
    return "it has other users"


def _probe_inputs(g: Graph, ctx: PassContext, batch: int) -> list[np.ndarray]:
    """Up to ``batch`` samples of the calibration data, or a standard-normal batch per input
    drawn from ``ctx.rng``; one array per graph input."""
    if ctx.calibration is None:
        return [ctx.rng.standard_normal((batch, *g.type(n).shape)) for n in g.inputs]
    cal = ctx.calibration
    return [np.asarray(a)[:batch] for a in (cal if isinstance(cal, (list, tuple)) else [cal])]


def _drift(before: Graph, after: Graph, ctx: PassContext, batch: int) -> tuple[float, float]:
    """Largest absolute and relative output difference between two graphs."""
    x = _probe_inputs(before, ctx, batch)
    ya, yb = evaluate(before, x), evaluate(after, x)
    ya = ya if isinstance(ya, list) else [ya]
    yb = yb if isinstance(yb, list) else [yb]
    diff = max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(ya, yb, strict=True))
    scale = max(float(np.max(np.abs(a), initial=0.0)) for a in ya)
    return diff, diff / scale if scale > 0 else 0.0

"""``fuse-bias``: move the bias of a dense / conv / depthwise op into the neurons it feeds.

A neuron computes ``J = gain * x + bias``; with ``x = W x' + b`` from the producer,
``J = gain * W x' + (gain * b + bias)``. So when *every* user of the producer is a neuron
op (one neuron, or the two or three of a lowered clipped / leaky ReLU), each neuron takes
``gain * b + bias`` as its bias (per channel ``[C]``, or full shape when its gain or bias
already was) and the producer loses its bias. Exact in rate mode, and codegen then emits
biases as neuron biases (nengo ``Ensemble.bias``) instead of constant relay nodes.

Producers are the ops with the ``HasWeights`` trait, neurons the ops with the ``Neuron``
trait (every neuron of the catalogue, plugins included). A quantized bias that moves is
not on its grid any more: the neuron's new bias is float and the note says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from snnc.ir import Graph, Stage
from snnc.ir import traits as T
from snnc.passes.base import Pass, PassContext, PassResult, register_pass
from snnc.passes.folding import lost_quant, quant_note, replace_params


def _is_neuron(op) -> bool:
    return op.has(T.Neuron)


@register_pass
@dataclass(frozen=True)
class FuseBias(Pass):
    """Move dense/conv biases into the following neurons' bias (exact in rate mode)."""

    name: ClassVar[str] = "fuse-bias"
    stage: ClassVar = frozenset({Stage.ANN, Stage.SNN})  # a no-op until neurons exist

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        fused, kept, lost = [], [], []
        for n in graph.topo_order():
            op = graph.op(n)
            if not op.has(T.HasWeights) or op.bias is None:
                continue
            users = graph.users(n)
            if not users or not all(_is_neuron(graph.op(d)) for d, _ in users):
                if any(_is_neuron(graph.op(d)) for d, _ in users):
                    kept.append(n)
                continue
            b = np.asarray(op.bias, np.float64)
            for neuron in sorted({d for d, _ in users}):
                nop = graph.op(neuron)
                bias = np.asarray(nop.gain, np.float64) * b + np.asarray(nop.bias, np.float64)
                new = replace_params(nop, bias=bias)
                lost += [f"%{neuron}.{p}" for p in lost_quant(nop, new)]
                graph.replace_op(neuron, new)
            new = replace_params(op, bias=None)
            lost += [f"%{n}.{p}" for p in lost_quant(op, new)]
            graph.replace_op(n, new)
            fused.append(n)
        notes = [f"moved the bias of {len(fused)} node(s) into their neurons"] if fused else []
        if kept:
            notes.append(
                f"kept the bias of {', '.join('%' + n for n in kept)}: they also feed non-neuron ops"
            )
        if lost:
            notes.append(quant_note(lost, "biases moved into the neurons"))
        return PassResult(
            changed=bool(fused), stats={"fused": len(fused), "kept": len(kept)}, notes=notes
        )

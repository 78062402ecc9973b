"""``max-to-avg-pool``: replace max pooling by average pooling of the same geometry.

No neuron computes a maximum, so a neuromorphic chip has no max pooling: Loihi refuses
``nn.max_pool`` / ``nn.global_max_pool`` (they would have to run on the host, between chip
layers). Averaging over the same windows is linear, so it becomes part of the synapses of
the next layer, on the chip. It is *not* the same function: the model's outputs change (the
usual remedy is to retrain with average pooling; nengo-dl's converter offers the same rewrite
as its ``max_to_avg_pool`` flag, off by default). So this pass is never in a default
pipeline: you add it, and it names every node it rewrote in a note and a logged warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from snnc.ir import Graph, ops
from snnc.passes.base import Pass, PassContext, PassResult, register_pass

#: max pooling op class -> its average pooling twin (same fields)
_TWINS = {ops.MaxPool: ops.AvgPool, ops.GlobalMaxPool: ops.GlobalAvgPool}


@register_pass
@dataclass(frozen=True)
class MaxToAvgPool(Pass):
    """Replace max pooling by average pooling (changes the outputs; names every node)."""

    name: ClassVar[str] = "max-to-avg-pool"
    stage: ClassVar = None  # geometry only: before or after lowering

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        rewritten = []
        for n in graph.topo_order():
            op = graph.op(n)
            twin = _TWINS.get(type(op))
            if twin is None:
                continue
            # every field carries over: pool size, strides, padding, placement, quant (none)
            graph.replace_op(n, twin(**{k: v for k, v in op.attrs().items()}))
            graph.set_meta(n, rewritten_by=self.name)
            rewritten.append(n)
        if not rewritten:
            return PassResult(changed=False)
        names = ", ".join(f"%{n}" for n in rewritten)
        note = (
            f"replaced max pooling by average pooling at {names}: the model's outputs change "
            "(retrain with average pooling for an exact conversion)"
        )
        ctx.logger.warning("max-to-avg-pool: %s", note)
        return PassResult(changed=True, stats={"rewritten": len(rewritten)}, notes=[note])

"""A custom snnc pass in its own file: prune small weights.

Use it from the command line::

    snnc opt model.keras -p "canonicalize,prune-weights{threshold=0.01}" --load-pass examples/custom_pass.py

from Python (importing this file registers the pass)::

    import custom_pass  # or snnc.passes.load_pass_file("examples/custom_pass.py")
    g2, report = snnc.passes.run_pipeline(g, "canonicalize,prune-weights{threshold=0.01}")

or ship it in a package and declare it in the ``snnc.passes`` entry-point group, e.g. in
``pyproject.toml``::

    [project.entry-points."snnc.passes"]
    prune-weights = "my_package.custom_pass:PruneWeights"

Run this file to see the pass work on a small random network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from snnc.ir import Graph
from snnc.passes import Pass, PassContext, PassResult, option, register_pass


@register_pass
@dataclass(frozen=True)
class PruneWeights(Pass):
    """Set dense/conv weights whose magnitude is below a threshold to zero."""

    name: ClassVar[str] = "prune-weights"
    stage: ClassVar = None  # pruning makes sense before and after lowering
    threshold: float = option(
        1e-3, "weights with |w| < threshold become 0", check=lambda v: v >= 0, expect="a float >= 0"
    )

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        pruned = total = 0
        for n in graph.topo_order():
            op = graph.op(n)
            if op.param_arrays().get("weight") is None:  # dense, conv, ... all name it weight
                continue
            small = (np.abs(op.weight) < self.threshold) & (op.weight != 0)
            total += op.weight.size
            if small.any():
                # ops are immutable: build a new one and swap it in through the Graph API
                graph.replace_op(n, op.replace(weight=np.where(small, 0.0, op.weight)))
                pruned += int(small.sum())
        share = pruned / total if total else 0.0
        return PassResult(
            changed=pruned > 0,
            stats={"pruned": pruned, "weights": total},
            notes=[f"pruned {pruned} of {total} weights ({share:.1%}) below {self.threshold:g}"],
        )


def _demo() -> None:
    from snnc.ir import ops, print_graph
    from snnc.passes import run_pipeline

    rng = np.random.default_rng(0)
    g = Graph("demo")
    g.add("x", ops.Input(shape=(4,)))
    g.add("dense", ops.Dense(weight=rng.normal(0, 0.1, (4, 3)), bias=np.zeros(3)), ["x"])
    g.add("dense.act", ops.ReLU(), ["dense"])
    g.add("out", ops.Output(), ["dense.act"])
    result, report = run_pipeline(g, "canonicalize,prune-weights{threshold=0.05},lower-activations")
    print(print_graph(result, weights="full"))
    for note in report.notes:
        print("note:", note)


if __name__ == "__main__":
    _demo()

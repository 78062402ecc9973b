"""Code generation: IR graphs -> nengo networks for the nengo, nengo-dl (and loihi) backends.

::

    from snnc.codegen import compile_graph
    c = compile_graph(graph, target="nengo", neuron="if")
    y = c.run(x, steps=100)            # (batch, steps, *output_shape)
    c.save("out/")                     # model.snnc, network.py, weights.npz, manifest, report

Importing this package imports neither nengo nor TensorFlow: targets import their backend
when a simulator is made, and the generated module when a network is built.
"""

from snnc.codegen.compiled import Compiled, compile_graph, with_lowering_options
from snnc.codegen.emit import EMITTERS, emitter, generate
from snnc.codegen.target import (
    Limits,
    Target,
    all_targets,
    get_target,
    register_target,
    target_names,
)

__all__ = [
    "EMITTERS", "Compiled", "Limits", "Target", "all_targets", "compile_graph", "emitter",
    "generate", "get_target", "register_target", "target_names", "with_lowering_options",
]

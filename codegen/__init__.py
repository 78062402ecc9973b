"""Code generation: IR graphs -> backend artifacts (nengo networks for nengo, nengo-dl and
loihi; a :class:`~snnc.codegen.target.Target` may produce files instead, e.g. NIR).

::

    from snnc.codegen import compile_graph
    c = compile_graph(graph, target="nengo", neuron="if")
    y = c.run(x, steps=100)            # (batch, steps, *output_shape)
    c.save("out/")                     # model.snnc, network.py, weights.npz, manifest, report

Importing this package imports neither nengo nor TensorFlow: targets import their backend
when a simulator is made, and the generated module when a network is built.
"""

from snnc.codegen.compiled import Compiled, compile_graph
from snnc.codegen.emit import EMITTERS, NengoNetwork, emitter, generate, register_host_function
from snnc.codegen.nengo_family import NengoTarget
from snnc.codegen.target import (
    Artifact,
    FileArtifact,
    Limits,
    NodeRecord,
    Target,
    all_targets,
    default_pipelines,
    get_target,
    register_target,
    target_names,
)

__all__ = [
    "EMITTERS", "Artifact", "Compiled", "FileArtifact", "Limits", "NengoNetwork", "NengoTarget",
    "NodeRecord", "Target", "all_targets", "compile_graph", "default_pipelines", "emitter",
    "generate", "get_target", "register_host_function", "register_target", "target_names",
]

"""Emitters of neurons: every neuron op of the catalogue (:mod:`snnc.ir.neurons`) becomes a
``nengo.Ensemble`` with its gain and bias set directly.

The neuron type comes from the catalogue: ``op.nengo()`` is its source text and
``type(op).nengo_module`` the module the generated file imports for it; so a neuron plugin
compiles for nengo with no edit here. Two ANN activations have exact nengo rate neurons
(sigmoid, tanh) and are emitted the same way, in hidden layers and on outputs alike:
``lower-activations`` keeps them in a rate network and on outputs (its ``RATE_ACTIVATIONS``
must name the same ops as :data:`ACTIVATION_NEURONS`; a test checks it).
"""

from __future__ import annotations

from snnc.codegen.emit.builder import NetworkBuilder
from snnc.codegen.emit.registry import emitter
from snnc.ir import ops
from snnc.ir import traits as T


def _short(neuron_type: str) -> str:
    """``LoihiLIF`` for ``nengo_loihi.neurons.LoihiLIF(...)``, ``nengo.LIF`` for nengo's own
    (the report's wording)."""
    name = neuron_type.split("(", 1)[0]
    return name if name.startswith("nengo.") else name.rsplit(".", 1)[-1]


@emitter(T.Neuron)
def emit_neuron(b: NetworkBuilder, node: str, op, ins):
    """``nengo.Ensemble(n, 1, neuron_type=op.nengo(), gain=op.gain, bias=op.bias)``."""
    module = type(op).nengo_module
    if module != "nengo":
        b.require(module)
    b.define(type(op).nengo_source)  # a custom nengo neuron type (e.g. GradedIF)
    neuron_type = op.nengo()
    return b.ensemble(node, neuron_type, ins[0], op.gain, op.bias, _short(neuron_type))


#: exact nengo rate neurons of two activations (``tau_ref=1`` makes the rate the function)
ACTIVATION_NEURONS = {
    ops.Sigmoid: "nengo.Sigmoid(tau_ref=1.0)",
    ops.Tanh: "nengo.Tanh(tau_ref=1.0)",
}


@emitter(*ACTIVATION_NEURONS)
def emit_activation_neuron(b: NetworkBuilder, node: str, op, ins):
    """A sigmoid / tanh activation as an ensemble of nengo's exact rate neurons."""
    neuron_type = ACTIVATION_NEURONS[type(op)]
    return b.ensemble(node, neuron_type, ins[0], 1.0, 0.0, _short(neuron_type))

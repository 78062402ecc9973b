"""Spiking simulator: runs a lowered IR graph over time, without nengo.

::

    from snnc.sim import Simulator, simulate
    y = simulate(graph, x, steps=50)            # (batch, steps, *output_shape), float32
    y[:, -1].argmax(-1)                         # the prediction after 50 steps (running mean)
    sim = Simulator(graph, probes=["conv1.act"]); sim.run(x, 50); sim.probe_data
    simulate(graph, x, 50, dtype=np.float64, readout="raw")   # spike-exact against nengo
    Simulator(loihi_graph, mode="loihi").run(x, 50)            # ... against nengo-loihi's emulator
    Simulator(c.graph, mode="loihi", blocks=loihi_blocks(c.manifest))   # layers over several cores

Its semantics are nengo 3.2's reference simulator on the network the codegen emits for the
``nengo`` target, so in float64 the two agree spike for spike:

- neurons: ``J = gain * x + bias``, then the neuron class's own step (the catalogue,
  :mod:`snnc.ir.neurons`: nengo's step functions, nengo-loihi's for the Loihi neurons); rate
  neurons are their rate functions; every state starts at zero;
- synapses: an edge's ``synapse`` is ``nengo.Lowpass(tau)`` (zero-order hold), updated after
  the step, hence one step of delay; edges without one pass values on within the step;
- inputs are held constant; raw output ``k`` of step ``t`` is what a nengo Probe records at
  step ``t + 1`` (its first row is the first step).

``mode="loihi"`` runs a graph placed for the ``loihi`` target with the integer semantics of
nengo-loihi's emulator instead (:mod:`~snnc.sim.loihi`): spike for spike the same as
``nengo_loihi.Simulator(target="sim")`` on the network the codegen emits.

Modules: :mod:`~snnc.sim.plan` compiles a graph into instructions over preallocated buffers;
:mod:`~snnc.sim.simulator` runs them (:class:`Simulator`, :func:`simulate`); kernels are in
:mod:`~snnc.sim.kernels` (NumPy reference twins) and :mod:`~snnc.sim.numba_kernels`
(compiled; imported, with numba, only when the ``numba`` backend runs).
"""

from snnc.sim.kernels import lowpass_coefficients, neuron_step
from snnc.sim.loihi import loihi_blocks
from snnc.sim.simulator import BACKENDS, READOUTS, Simulator, simulate

__all__ = [
    "BACKENDS",
    "READOUTS",
    "Simulator",
    "loihi_blocks",
    "lowpass_coefficients",
    "neuron_step",
    "simulate",
]

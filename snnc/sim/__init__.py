"""Spiking reference simulator: runs a lowered IR graph over time, without nengo.

::

    from snnc.sim import simulate
    y = simulate(graph, x, steps=50)           # (batch, steps, *output_shape)
    y = simulate(graph, x, backend="numpy")    # the NumPy reference kernels, same spikes

Its semantics are nengo 3.2's reference simulator on the network the codegen emits for the
``nengo`` target, so the two agree spike for spike:

- neurons: ``J = gain * x + bias``; ``snn.if`` = ``SpikingRectifiedLinear``, ``snn.lif`` =
  ``LIF``, ``snn.loihi_if`` / ``snn.loihi_lif`` = nengo-loihi's ``step`` of
  ``LoihiSpikingRectifiedLinear`` / ``LoihiLIF`` (as they run on the nengo backend),
  ``snn.rate_relu`` / ``snn.lif_rate`` = their rate functions; every state starts at zero;
- synapses: an edge's ``synapse`` is ``nengo.Lowpass(tau)`` (zero-order hold), updated after
  the step, hence one step of delay; edges without one pass values on within the step;
- inputs are held constant; output ``k`` of step ``t`` is what a nengo Probe records at step
  ``t + 1`` (its first row is the first step).

Kernels: one per spiking neuron kind in :data:`NEURON_KERNELS` (NumPy twins in
:mod:`snnc.sim.kernels`, compiled numba twins in :mod:`snnc.sim.numba_kernels`, which is
imported, with numba, only when the ``numba`` backend runs). Stateless ops reuse the rate-mode
interpreter's kernels.
"""

from snnc.sim.kernels import NEURON_KERNELS, NeuronKernel, lowpass_coefficients
from snnc.sim.simulator import BACKENDS, simulate

__all__ = ["BACKENDS", "NEURON_KERNELS", "NeuronKernel", "lowpass_coefficients", "simulate"]

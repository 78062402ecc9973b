"""A neuron defined in one file: the acceptance test of the neuron catalogue (issue 7).

Load it like a custom pass (``snnc opt --load-pass tests/passes/plugins/neuron_plugin.py``
or ``snnc.passes.load_pass_file``); then ``lower-activations{neuron=test-relu-if}`` lowers
ReLUs to it, ``.snnir`` text prints and parses it, ``snnc.evaluate`` runs it, and
``normalize-rates`` scales it, all from what this class declares and with no other edit.

The neuron is a regular-spiking rectified linear unit: it integrates its rate
``max(J, 0)`` and emits ``floor(v)`` spikes a step, keeping the remainder (nengo's
``RegularSpiking(RectifiedLinear())``). Its rate is exactly ``max(J, 0)``, so it is
ReLU-exact.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from snnc.ir.neurons import NeuronOp, register_neuron


def regular_relu_step(x, gain, bias, out, voltage, dt, amplitude):
    """One step of ``n`` neurons for ``B`` samples, in place (x, out, voltage: (B, n))."""
    rate = np.maximum(gain * x + bias, 0.0)
    v = voltage + dt * rate
    n_spikes = np.floor(v)
    out[...] = (amplitude / dt) * n_spikes
    voltage[...] = v - n_spikes


def regular_relu_step_loop(x, gain, bias, out, voltage, dt, amplitude):
    """The same step as an element loop (what a numba-compiled simulator runs)."""
    scale = amplitude / dt
    for b in range(x.shape[0]):
        for i in range(x.shape[1]):
            rate = max(gain[i] * x[b, i] + bias[i], 0.0)
            v = voltage[b, i] + dt * rate
            n_spikes = np.floor(v)
            out[b, i] = scale * n_spikes
            voltage[b, i] = v - n_spikes


@register_neuron
class TestReLUIF(NeuronOp):
    """Regular-spiking rectified linear (nengo ``RegularSpiking(RectifiedLinear())``)."""

    __test__ = False  # a neuron, not a pytest test class

    kind: ClassVar[str] = "snn.test_if"
    option: ClassVar[str] = "test-relu-if"
    summary: ClassVar[str] = "test plugin: regular-spiking ReLU (nengo RegularSpiking)"
    relu_exact: ClassVar[bool] = True
    state: ClassVar[tuple[str, ...]] = ("voltage",)
    step = staticmethod(regular_relu_step)
    step_loop = staticmethod(regular_relu_step_loop)

    def rate(self, j, dt):
        return np.maximum(j, 0.0)

    def nengo(self):
        return (
            f"nengo.RegularSpiking(nengo.RectifiedLinear(), amplitude={self.amplitude!r}, "
            'initial_state={"voltage": nengo.dists.Choice([0.0])})'
        )

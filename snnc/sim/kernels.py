"""Neuron and synapse kernels of :mod:`snnc.sim`: the NumPy reference twins and their registry.

Every spiking neuron kind has one kernel, a function that advances a layer of ``n`` neurons
for a batch of ``B`` samples by one time step, in place::

    step(x, gain, bias, out, *state, *params)

- ``x``: ``(B, n)`` input of this step (the op's input, before gain and bias);
- ``gain``, ``bias``: ``(n,)`` float64, the op's parameters broadcast to its shape;
- ``out``: ``(B, n)``, receives the output (``amplitude / dt`` per spike, as nengo);
- ``state``: ``(B, n)`` arrays, updated in place; all start at 0 (at rest), as the codegen's
  networks do (``initial_state={"voltage": Choice([0])}``) and nengo-loihi's types do;
- ``params``: the floats :attr:`NeuronKernel.params` derives from the op and ``dt``.

The NumPy functions here transcribe nengo's step functions (``nengo/neurons.py`` 3.2,
``nengo_loihi/neurons.py`` 1.1) operation by operation, so they round exactly as nengo does.
:mod:`snnc.sim.numba_kernels` holds compiled twins of the same name that loop over the
elements and perform the same operations in the same order. Arithmetic is always float64;
``x``, ``out`` and the states may be float32 arrays, which only round what is *stored*
(both twins load, compute in float64, then store; as NumPy < 2 computes ``float32_array - 0.001``
in float32, the NumPy twins widen such operands with :func:`_f64` first).

Rate neurons (``snn.rate_relu``, ``snn.lif_rate``) are not here: they have no state, their
nengo step function *is* their rate function, and the rate-mode interpreter's kernel computes
exactly that, so the simulator runs them through :data:`snnc.ir.interpreter.KERNELS` like any
other stateless op.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from snnc.ir.ops import Op


@dataclass(frozen=True)
class NeuronKernel:
    """How :func:`snnc.sim.simulate` steps one spiking neuron kind.

    Attributes:
        state: names of the per-neuron state arrays the step function takes (in order).
        params: ``params(op, dt) -> tuple of floats`` passed after the states.
        numpy: the NumPy step function; its compiled twin in
            :mod:`snnc.sim.numba_kernels` has the same ``__name__``.
    """

    state: tuple[str, ...]
    params: Callable[[Op, float], tuple[float, ...]]
    numpy: Callable

    def step_function(self, backend: str) -> Callable:
        """The step function of ``backend`` (``"numpy"`` or ``"numba"``)."""
        if backend == "numpy":
            return self.numpy
        from snnc.sim import numba_kernels  # imports numba (slow): only when asked for

        return getattr(numba_kernels, self.numpy.__name__)


#: spiking neuron op kind -> its kernel (covers every kind in ``snnc.ir.ops.SPIKING_KINDS``)
NEURON_KERNELS: dict[str, NeuronKernel] = {}


def neuron_kernel(kind: str, state: tuple[str, ...], params: Callable[[Op, float], tuple]):
    """Register the decorated NumPy step function as the kernel of neuron op ``kind``."""

    def deco(fn: Callable) -> Callable:
        if kind in NEURON_KERNELS:
            raise ValueError(f"neuron kernel for {kind} registered twice")
        NEURON_KERNELS[kind] = NeuronKernel(state, params, fn)
        return fn

    return deco


def loihi_tau_rc(tau_rc: float, dt: float) -> float:
    """nengo-loihi's ``discretize_tau_rc``: the decay Loihi can represent (12 bits)."""
    decay_rc = -np.expm1(-dt / tau_rc)
    decay_rc = np.round(decay_rc * (2**12 - 1)) / (2**12 - 1)
    return float(-dt / np.log1p(-decay_rc))


def loihi_tau_ref(tau_ref: float, dt: float) -> float:
    """nengo-loihi's ``discretize_tau_ref``: a whole number of steps."""
    return float(dt * np.round(tau_ref / dt))


def _f64(a: np.ndarray) -> np.ndarray:
    """``a`` as float64 (no copy when it already is)."""
    return a.astype(np.float64, copy=False)


# =============================================================================== neurons


@neuron_kernel("snn.if", ("voltage",), lambda op, dt: (dt, op.amplitude))
def if_step(x, gain, bias, out, voltage, dt, amplitude):
    """nengo ``SpikingRectifiedLinear``: several spikes per step, subtractive reset."""
    j = gain * x + bias
    v = voltage + np.maximum(j, 0) * dt
    n_spikes = np.floor(v)
    out[...] = (amplitude / dt) * n_spikes
    voltage[...] = v - n_spikes


def _lif_params(op, dt):
    # nengo LIF: the refractory period starts at the spike time interpolated within the step
    return (dt, op.amplitude, op.tau_rc, op.tau_ref, op.min_voltage, True)


def _loihi_lif_params(op, dt):
    # nengo-loihi LoihiLIF: discretised time constants, refractory period from the step's end
    return (
        dt,
        op.amplitude,
        loihi_tau_rc(op.tau_rc, dt),
        loihi_tau_ref(op.tau_ref, dt),
        0.0,
        False,
    )


_LIF_STATE = ("voltage", "refractory_time")


@neuron_kernel("snn.lif", _LIF_STATE, _lif_params)
@neuron_kernel("snn.loihi_lif", _LIF_STATE, _loihi_lif_params)
def lif_step(
    x,
    gain,
    bias,
    out,
    voltage,
    refractory_time,
    dt,
    amplitude,
    tau_rc,
    tau_ref,
    min_voltage,
    interpolate,
):
    """nengo ``LIF`` (``interpolate``: the refractory period starts at the spike time within
    the step) and nengo-loihi ``LoihiLIF`` (discretised constants, counted from the step's
    end): exact RC integration, refractory period, reset to zero."""
    j = gain * x + bias
    rt = _f64(refractory_time) - dt
    # a refractory period ending mid-step leaves a partial step to integrate
    delta_t = np.clip(dt - rt, 0, dt)
    v = voltage - (j - voltage) * np.expm1(-delta_t / tau_rc)
    spiked = v > 1
    out[...] = spiked * (amplitude / dt)
    if interpolate:
        # v crossed 1 within the step (J constant over the step): find when
        t_spike = dt + tau_rc * np.log1p(-(v[spiked] - 1) / (j[spiked] - 1))
    else:
        t_spike = dt
    v[v < min_voltage] = min_voltage
    v[spiked] = 0
    rt[spiked] = tau_ref + t_spike
    voltage[...] = v
    refractory_time[...] = rt


@neuron_kernel("snn.loihi_if", ("voltage",), lambda op, dt: (dt, op.amplitude))
def loihi_if_step(x, gain, bias, out, voltage, dt, amplitude):
    """nengo-loihi ``LoihiSpikingRectifiedLinear``: at most one spike per step (strict
    threshold), reset to zero, negative voltages clipped to zero."""
    j = gain * x + bias
    v = voltage + j * dt
    spiked = v > 1
    out[...] = spiked * (amplitude / dt)
    v[v < 0] = 0
    v[spiked] = 0
    voltage[...] = v


# =============================================================================== synapses


def lowpass_coefficients(tau: float, dt: float) -> tuple[float, float]:
    """``(a, b)`` of nengo's ``Lowpass(tau)`` discretised by zero-order hold:
    ``a = exp(-dt / tau)``, ``b = 1 - a``.

    nengo computes them with a Pade-approximated matrix exponential, whose results can be
    a few ulp off (relative <= 1e-15, tested): outputs then differ at that level, and a
    spike only if a voltage lands that close to its threshold.
    """
    return float(np.exp(-dt / tau)), float(-np.expm1(-dt / tau))


def lowpass_step(state, x, a, b):
    """One step of nengo's ``LinearFilter.OneX``: returns the new state ``a * state + b * x``.

    A new array, not an update in place: values computed from the old state this step (a
    flatten is a view of it) must not change under their readers, e.g. a second filter in
    series that updates after this one. The caller reads the state *before* the update,
    which is the one-step delay of a nengo connection synapse (built with ``mode="update"``).
    """
    return (a * _f64(state) + b * _f64(x)).astype(state.dtype, copy=False)

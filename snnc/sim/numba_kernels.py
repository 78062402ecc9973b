"""Compiled twins of the NumPy kernels in :mod:`snnc.sim.kernels` (same names, same maths).

Each function loops over the elements and performs the NumPy twin's operations in the same
order, in float64, storing into the (float32 or float64) arrays only what the twin stores.
So both backends agree bit for bit, with one exception: ``expm1`` and ``log1p`` (LIF kinds)
come from the C library here and from NumPy's SIMD routines there, which can differ in the
last bit; spikes still agree unless a voltage lands within ~1e-16 of the threshold.

This module imports numba, which takes a second: it is imported only when a simulation asks
for the ``numba`` backend. ``cache=True`` keeps the machine code between processes.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)


@_jit
def if_step(x, gain, bias, out, voltage, dt, amplitude):
    scale = amplitude / dt
    for b in range(x.shape[0]):
        for i in range(x.shape[1]):
            j = gain[i] * x[b, i] + bias[i]
            v = voltage[b, i] + max(j, 0.0) * dt
            n_spikes = np.floor(v)
            out[b, i] = scale * n_spikes
            voltage[b, i] = v - n_spikes


@_jit
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
    scale = amplitude / dt
    # most steps are whole (delta_t == dt): one expm1 for them all, the very same number
    full_step = math.expm1(-dt / tau_rc)
    for b in range(x.shape[0]):
        for i in range(x.shape[1]):
            j = gain[i] * x[b, i] + bias[i]
            rt = refractory_time[b, i] - dt
            delta_t = min(max(dt - rt, 0.0), dt)
            v0 = voltage[b, i]
            v = v0 - (j - v0) * (full_step if delta_t == dt else math.expm1(-delta_t / tau_rc))
            if v > 1:
                out[b, i] = scale
                t_spike = dt + tau_rc * math.log1p(-(v - 1) / (j - 1)) if interpolate else dt
                rt = tau_ref + t_spike
                v = 0.0
            else:
                out[b, i] = 0.0
                if v < min_voltage:
                    v = min_voltage
            voltage[b, i] = v
            refractory_time[b, i] = rt


@_jit
def loihi_if_step(x, gain, bias, out, voltage, dt, amplitude):
    scale = amplitude / dt
    for b in range(x.shape[0]):
        for i in range(x.shape[1]):
            j = gain[i] * x[b, i] + bias[i]
            v = voltage[b, i] + j * dt
            if v > 1:
                out[b, i] = scale
                v = 0.0
            else:
                out[b, i] = 0.0
                if v < 0:
                    v = 0.0
            voltage[b, i] = v


@_jit
def lowpass_step(state, x, a, b):
    # flat (1-D) arrays: a synapse is elementwise whatever the value's shape
    new = np.empty_like(state)
    for i in range(state.shape[0]):
        new[i] = a * state[i] + b * x[i]
    return new

"""Host-side (non-neuromorphic) numpy functions for the nonlinear ops nengo has no neuron for.

They run in a ``nengo.Node`` on the host CPU, one sample at a time: ``f(x, *args)`` takes a
flat sample ``x`` (C order, channels-last) and returns a flat sample. The codegen copies the
source of each function it uses into the generated ``network.py`` (with
:func:`inspect.getsource`), so every function here must be self-contained: it may use only
``np`` (imported by the generated module) and imports inside its own body.

The tests check each one against the rate-mode interpreter kernel of its op.
"""

import numpy as np


def softmax(x, shape, axis):
    """Softmax of ``x`` (flat, of ``shape``) along ``axis``."""
    x = x.reshape(shape)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).ravel()


def max_pool(x, shape, pool_size, strides, pads):
    """Max pooling of ``x`` (flat, of ``shape``); ``pads`` are explicit (before, after)
    pairs per spatial dim and padded cells never win."""
    from numpy.lib.stride_tricks import sliding_window_view

    n = len(pool_size)
    x = x.reshape((-1,) + tuple(shape[len(shape) - n - 1 :]))  # leading dims act as a batch
    x = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=-np.inf)
    windows = sliding_window_view(x, pool_size, axis=tuple(range(1, n + 1)))
    windows = windows[(slice(None),) + tuple(slice(None, None, s) for s in strides)]
    return windows.max(axis=tuple(range(-n, 0))).ravel()


def global_max_pool(x, shape, n_spatial):
    """Max over the ``n_spatial`` dims before the channel axis (``keepdims`` does not change
    the flat layout)."""
    x = x.reshape(shape)
    return x.max(axis=tuple(range(len(shape) - 1 - n_spatial, len(shape) - 1))).ravel()


def elu(x, alpha):
    """ELU."""
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def selu(x):
    """SELU with the standard constants."""
    return 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0)))


def softplus(x):
    """log(1 + exp(x)), without overflow."""
    return np.logaddexp(0.0, x)


def softsign(x):
    """x / (1 + |x|)."""
    return x / (1.0 + np.abs(x))


def swish(x):
    """x * sigmoid(x)."""
    return x * 0.5 * (1.0 + np.tanh(0.5 * x))


def gelu(x, approximate):
    """GELU: the exact erf form, or the tanh approximation."""
    if approximate:
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))
    import math

    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / np.sqrt(2.0)))


def exponential(x):
    """exp(x)."""
    return np.exp(x)


def hard_sigmoid(x, slope, offset):
    """clip(slope * x + offset, 0, 1)."""
    return np.clip(slope * x + offset, 0.0, 1.0)


def quantize(x, step, lo, hi):
    """Round to the fixed-point grid: ``clip(rint(x / step), lo, hi) * step``."""
    return np.clip(np.rint(x / step), lo, hi) * step

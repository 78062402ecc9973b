"""Rate-mode reference interpreter: evaluates any graph batch-first in NumPy.

It is the oracle for frontend and pass tests. One kernel per op kind, registered with
:func:`kernel`; :func:`run_kernel` is the one way to call them. Kernels compute in float64
(so the oracle is more exact than the float32 models it checks) and the results are
returned as float32.

Neuron ops carry their own kernel: the catalogue's rate function
(:meth:`~snnc.ir.neurons.NeuronOp.output`, nengo's ``rates``, nengo-loihi's for Loihi
neurons), so a neuron plugin needs no entry here. Synapses are lowpass filters with unit DC
gain, so in rate mode they are the identity. Quantized parameters hold their exact
dequantized values, so every kernel computes the quantized semantics exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from snnc.ir import ops
from snnc.ir.errors import InputShapeError, IRError
from snnc.ir.graph import Graph
from snnc.ir.ops import resolve_padding
from snnc.ir.traits import Neuron

Kernel = Callable[[ops.Op, list[np.ndarray]], np.ndarray]
KERNELS: dict[str, Kernel] = {}


def kernel(*kinds: str):
    """Register a rate-mode kernel ``f(op, inputs) -> output`` for op ``kinds``."""

    def deco(fn: Kernel) -> Kernel:
        for k in kinds:
            k = getattr(k, "kind", k)  # an op class works as well as its kind
            if k in KERNELS:
                raise ValueError(f"kernel for {k} registered twice")
            KERNELS[k] = fn
        return fn

    return deco


# =============================================================================== driver


def split_inputs(x, names: list[str], where: str = "x") -> tuple[list, list[str]]:
    """``x`` (one array, a list in input order, or a mapping by input name) as a list in
    the order of ``names``, with a description of each for messages (``where[i]`` or
    ``where['name']``). Raises InputShapeError for a mapping missing a name."""
    if isinstance(x, Mapping):
        missing = [n for n in names if n not in x]
        if missing:
            raise InputShapeError(
                f"{where}: no array for input(s) {', '.join(map(repr, missing))} (missing; "
                f"expected keys {', '.join(map(repr, names))})"
            )
        return [x[n] for n in names], [f"{where}['{n}']" for n in names]
    if isinstance(x, (list, tuple)):
        return list(x), [f"{where}[{i}]" for i in range(len(x))]
    return [x], [where]


def as_input_list(g: Graph, x) -> list[np.ndarray]:
    """Normalise ``x`` (array, list in input order, or dict by input name) and check shapes."""
    names = g.inputs
    xs, _ = split_inputs(x, names, "inputs")
    if len(xs) != len(names):
        raise InputShapeError(
            f"graph @{g.name} has {len(names)} input(s) {names}, got {len(xs)} array(s)"
        )
    out = []
    for name, a in zip(names, xs, strict=True):
        a = np.asarray(a, dtype=np.float64)
        want = g.type(name).shape
        if a.shape[1:] != want:
            raise InputShapeError(
                f"input '{name}': array has shape {list(a.shape)} "
                f"(expected [batch, {', '.join(map(str, want))}])",
                hint="inputs are batch-first and channels-last, without a time axis",
            )
        out.append(a)
    return out


def run_kernel(op: ops.Op, xs: list[np.ndarray], dt: float, node: str = "?") -> np.ndarray:
    """The rate-mode value of ``op`` applied to ``xs`` (float64 arrays, batch-first)."""
    if op.has(Neuron):
        return op.output(xs[0], dt)
    fn = KERNELS.get(op.kind)
    if fn is None:
        raise IRError(f"node '{node}': no interpreter kernel for {op.kind}")
    return fn(op, xs)


def evaluate(g: Graph, x, *, return_all: bool = False):
    """Run ``g`` in rate mode on a batch.

    Args:
        g: the graph.
        x: one array ``(batch, *input_shape)``, a list (one per input, in index order) or a
            dict keyed by input node name.
        return_all: return a dict of every node's value instead of the outputs.

    Returns:
        The output array (one output) or list of arrays (several), float32; or with
        ``return_all`` a dict ``name -> array``.
    """
    values: dict[str, np.ndarray] = {}
    for name, a in zip(g.inputs, as_input_list(g, x), strict=True):
        values[name] = a
    for n in g.topo_order():
        if n in values:
            continue
        values[n] = run_kernel(g.op(n), [values[s] for s in g.inputs_of(n)], g.dt, n)
    if return_all:
        return {k: v.astype(np.float32) for k, v in values.items()}
    outs = [values[o].astype(np.float32) for o in g.outputs]
    return outs[0] if len(outs) == 1 else outs


# =============================================================================== helpers


def _f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def _channel_bcast(p: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """Reshape a scalar or per-axis vector to broadcast against ``(batch, *sample)``."""
    p = _f64(p)
    if p.ndim == 0:
        return p
    shape = [1] * ndim
    shape[axis % (ndim - 1) + 1] = -1
    return p.reshape(shape)


def _fold_leading(x: np.ndarray, n_inner: int):
    """Merge batch and any leading dims (TimeDistributed) into one batch axis."""
    lead = x.shape[: x.ndim - n_inner]
    return x.reshape((-1,) + x.shape[x.ndim - n_inner :]), lead


def windows(x: np.ndarray, kernel_size, strides, dilation) -> np.ndarray:
    """``(B, *spatial, C)`` -> ``(B, *out, C, *kernel)`` strided, dilated windows (a view;
    pad ``x`` first for padded convolutions)."""
    n = len(kernel_size)
    k_eff = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation, strict=True)]
    w = sliding_window_view(x, k_eff, axis=tuple(range(1, n + 1)))
    idx = (slice(None),) + tuple(slice(None, None, s) for s in strides) + (slice(None),)
    idx += tuple(slice(None, None, d) for d in dilation)
    return w[idx]


def conv_nd(x, w, strides, dilation, pads, groups=1):
    """Grouped N-d cross-correlation; ``x (B, *lead, *spatial, C)``, ``w (*k, C/g, O)``."""
    n = w.ndim - 2
    xb, lead = _fold_leading(x, n + 1)
    xb = np.pad(xb, [(0, 0), *pads, (0, 0)])
    win = windows(xb, w.shape[:n], strides, dilation)  # (B, *out, C, *k)
    b, out = win.shape[0], win.shape[1 : n + 1]
    cg, cout = w.shape[-2:]
    win = win.reshape((b, *out, groups, cg) + w.shape[:n])
    wg = w.reshape(w.shape[:n] + (cg, groups, cout // groups))
    # tensordot (BLAS) per group: contract (in-channel, *kernel) of the window with the weight
    ax_c = n + 1  # the in-channel axis once the group axis is indexed away
    win_axes = [ax_c, *range(ax_c + 1, ax_c + 1 + n)]
    w_axes = [n, *range(n)]
    parts = [
        np.tensordot(np.take(win, gi, axis=n + 1), wg[..., gi, :], axes=(win_axes, w_axes))
        for gi in range(groups)
    ]
    y = np.concatenate(parts, axis=-1)
    return y.reshape(lead + y.shape[1:])


def _pool(x, op, reduce: str):
    n = len(op.pool_size)
    xb, lead = _fold_leading(x, n + 1)
    strides = tuple(op.strides)
    pads = resolve_padding(op.padding, xb.shape[1:-1], op.pool_size, strides, (1,) * n)
    fill = -np.inf if reduce == "max" else 0.0
    xp = np.pad(xb, [(0, 0), *pads, (0, 0)], constant_values=fill)
    axes = tuple(range(-n, 0))
    win = windows(xp, op.pool_size, strides, (1,) * n)
    if reduce == "max":
        y = win.max(axis=axes)
    else:
        # padded cells do not count (TensorFlow's rule)
        ones = np.pad(np.ones((1,) + xb.shape[1:]), [(0, 0), *pads, (0, 0)])
        count = windows(ones, op.pool_size, strides, (1,) * n).sum(axis=axes)
        y = win.sum(axis=axes) / count
    return y.reshape(lead + y.shape[1:])


# =============================================================================== kernels


@kernel("nn.output", "nn.identity", "ann.linear")
def _identity(op, xs):
    return xs[0]


@kernel("nn.dense")
def _dense(op, xs):
    y = xs[0] @ _f64(op.weight)
    return y if op.bias is None else y + _f64(op.bias)


@kernel("nn.conv1d", "nn.conv2d", "nn.conv3d")
def _conv(op, xs):
    n = op.n_spatial
    spatial = xs[0].shape[-n - 1 : -1]
    pads = resolve_padding(op.padding, spatial, op.weight.shape[:n], op.strides, op.dilation)
    y = conv_nd(xs[0], _f64(op.weight), op.strides, op.dilation, pads, op.groups)
    return y if op.bias is None else y + _f64(op.bias)


@kernel("nn.depthwise_conv2d")
def _depthwise(op, xs):
    kh, kw, cin, mult = op.weight.shape
    spatial = xs[0].shape[-3:-1]
    pads = resolve_padding(op.padding, spatial, (kh, kw), op.strides, op.dilation)
    # a depthwise conv is a grouped conv with one group per input channel
    w = _f64(op.weight).reshape(kh, kw, 1, cin * mult)
    y = conv_nd(xs[0], w, op.strides, op.dilation, pads, groups=cin)
    return y if op.bias is None else y + _f64(op.bias)


@kernel("nn.conv2d_transpose")
def _conv_transpose(op, xs):
    n = op.n_spatial
    x = xs[0]
    k = op.weight.shape[:n]
    # zero-stuff the input by the stride, pad fully, correlate with the flipped kernel
    shape = list(x.shape)
    for i, s in enumerate(op.strides):
        ax = x.ndim - n - 1 + i
        shape[ax] = (x.shape[ax] - 1) * s + 1
    stuffed = np.zeros(shape)
    idx = [slice(None)] * x.ndim
    for i, s in enumerate(op.strides):
        idx[x.ndim - n - 1 + i] = slice(None, None, s)
    stuffed[tuple(idx)] = x
    full = [((kk - 1) * d, (kk - 1) * d) for kk, d in zip(k, op.dilation, strict=True)]
    w = _f64(op.weight)[(slice(None, None, -1),) * n]
    y = conv_nd(stuffed, w, (1,) * n, op.dilation, full)
    # crop (a negative 'after' appends zeros)
    for i, (pb, pa) in enumerate(resolve_padding(op.padding, x.shape[-n - 1 : -1], k, op.strides, op.dilation)):
        ax = y.ndim - n - 1 + i
        if pa < 0:
            widths = [(0, 0)] * y.ndim
            widths[ax] = (0, -pa)
            y = np.pad(y, widths)
            pa = 0
        y = np.take(y, np.arange(pb, y.shape[ax] - pa), axis=ax)
    return y if op.bias is None else y + _f64(op.bias)


@kernel("nn.batch_norm")
def _batch_norm(op, xs):
    scale, offset = op.scale_offset()
    x = xs[0]
    return x * _channel_bcast(scale, x.ndim, op.axis) + _channel_bcast(offset, x.ndim, op.axis)


@kernel("nn.affine")
def _affine(op, xs):
    x = xs[0]
    return x * _channel_bcast(op.scale, x.ndim, op.axis) + _channel_bcast(op.offset, x.ndim, op.axis)


@kernel("nn.add")
def _add(op, xs):
    return sum(c * x for c, x in zip(op.coeffs, xs, strict=True))


@kernel("nn.concat")
def _concat(op, xs):
    r = xs[0].ndim - 1
    return np.concatenate(xs, axis=op.axis % r + 1)


@kernel("nn.avg_pool")
def _avg_pool(op, xs):
    return _pool(xs[0], op, "avg")


@kernel("nn.max_pool")
def _max_pool(op, xs):
    return _pool(xs[0], op, "max")


def _global_axes(op, x):
    return tuple(range(x.ndim - 1 - op.n_spatial, x.ndim - 1))


@kernel("nn.global_avg_pool")
def _global_avg(op, xs):
    return xs[0].mean(axis=_global_axes(op, xs[0]), keepdims=op.keepdims)


@kernel("nn.global_max_pool")
def _global_max(op, xs):
    return xs[0].max(axis=_global_axes(op, xs[0]), keepdims=op.keepdims)


@kernel("nn.flatten")
def _flatten(op, xs):
    return xs[0].reshape(xs[0].shape[0], -1)


@kernel("nn.reshape")
def _reshape(op, xs):
    return xs[0].reshape((xs[0].shape[0],) + tuple(op.shape))


@kernel("nn.transpose")
def _transpose(op, xs):
    return xs[0].transpose((0,) + tuple(p + 1 for p in op.perm))


@kernel("nn.pad")
def _pad(op, xs):
    return np.pad(xs[0], [(0, 0), *op.pads], constant_values=op.value)


@kernel("nn.crop")
def _crop(op, xs):
    x = xs[0]
    idx = (slice(None),) + tuple(slice(a, d - b) for d, (a, b) in zip(x.shape[1:], op.crops, strict=True))
    return x[idx]


@kernel("nn.upsample")
def _upsample(op, xs):
    y = xs[0]
    n = len(op.scale)
    for i, s in enumerate(op.scale):
        y = np.repeat(y, s, axis=y.ndim - n - 1 + i)
    return y


# ------------------------------------------------------------------ activations


@kernel("ann.relu")
def _relu(op, xs):
    # the exact semantics of keras.backend.relu(x, alpha, max_value, threshold)
    x = xs[0]
    y = np.where(x > op.threshold, x, 0.0) if op.threshold != 0 else np.maximum(x, 0.0)
    if op.max_value is not None:
        y = np.clip(y, 0.0, op.max_value)
    if op.negative_slope != 0:
        y = y - op.negative_slope * np.maximum(op.threshold - x, 0.0)
    return y


@kernel("ann.softmax")
def _softmax(op, xs):
    x = xs[0]
    ax = op.axis % (x.ndim - 1) + 1
    e = np.exp(x - x.max(axis=ax, keepdims=True))
    return e / e.sum(axis=ax, keepdims=True)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


@kernel("ann.sigmoid")
def _sigmoid_k(op, xs):
    return _sigmoid(xs[0])


@kernel("ann.tanh")
def _tanh(op, xs):
    return np.tanh(xs[0])


@kernel("ann.hard_sigmoid")
def _hard_sigmoid(op, xs):
    return np.clip(op.slope * xs[0] + op.offset, 0.0, 1.0)


@kernel("ann.elu")
def _elu(op, xs):
    x = xs[0]
    return np.where(x > 0, x, op.alpha * np.expm1(np.minimum(x, 0)))


@kernel("ann.selu")
def _selu(op, xs):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    x = xs[0]
    return scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


@kernel("ann.softplus")
def _softplus(op, xs):
    return np.logaddexp(0.0, xs[0])


@kernel("ann.softsign")
def _softsign(op, xs):
    return xs[0] / (1.0 + np.abs(xs[0]))


@kernel("ann.swish")
def _swish(op, xs):
    return xs[0] * _sigmoid(xs[0])


@kernel("ann.gelu")
def _gelu(op, xs):
    x = xs[0]
    if op.approximate:
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


@kernel("ann.exponential")
def _exp(op, xs):
    return np.exp(xs[0])


# ------------------------------------------------------------------ quantization


@kernel("nn.quantize")
def _quantize(op, xs):
    lo, hi = op.dtype().int_range()
    step = 2.0 ** op.exp
    return np.clip(np.rint(xs[0] / step), lo, hi) * step


def missing_kernels() -> list[str]:
    """Op kinds without a kernel (a test keeps this empty); neurons carry their own."""
    return sorted(
        k for k, cls in ops.OPS.items()
        if k not in KERNELS and not cls.has(Neuron) and cls is not ops.Input
    )

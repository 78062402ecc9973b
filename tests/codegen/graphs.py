"""Hand-built IR graphs covering every emitter, for the codegen tests.

Each case is ``name -> builder() -> (graph, x)``: a small seeded graph and an input batch.
Rate neurons (``snn.rate_relu``) sit between linear ops so that both the folding of
constants into neuron biases and the relays between chained linear ops are exercised.
"""

from __future__ import annotations

import numpy as np

from snnc.ir import Graph, neurons, ops

BATCH = 3


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, name)))  # seeded by the case name


class Builder:
    """Fluent helper: ``b = Builder("name", (8, 8, 2)); b.op("conv", ops.Conv2D(...)); ...``."""

    def __init__(self, name: str, *shapes, dt: float = 0.001):
        self.g = Graph(name, dt=dt)
        self.rng = _rng(name)
        self.inputs = []
        for i, shape in enumerate(shapes):
            self.inputs.append(self.g.add(f"in{i}" if len(shapes) > 1 else "input", ops.Input(shape=shape, index=i)))
        self.last = self.inputs[0]
        self._n = 0

    def w(self, *shape, scale: float = 0.5) -> np.ndarray:
        return self.rng.normal(scale=scale, size=shape)

    def op(self, op, inputs=None, name: str | None = None, synapses=None) -> str:
        self._n += 1
        name = name or f"{op.kind.split('.')[1]}{self._n}"
        inputs = [self.last] if inputs is None else list(inputs)
        self.last = self.g.add(name, op, inputs, synapses=synapses)
        return self.last

    def relu(self, **kw) -> str:
        """A rate ReLU neuron with random per-channel gain and bias."""
        c = self.g.type(self.last).shape[-1]
        gain = kw.pop("gain", self.rng.uniform(0.5, 1.5, size=c))
        bias = kw.pop("bias", self.rng.normal(scale=0.1, size=c))
        return self.op(neurons.RateReLU(gain=gain, bias=bias, **kw))

    def output(self, src: str | None = None, index: int = 0, synapse=None) -> str:
        name = self.g.unique_name(f"output{index}" if index else "output")
        return self.g.add(name, ops.Output(index=index), [src or self.last], synapses=[synapse])

    def done(self):
        if not self.g.outputs:
            self.output()
        r = np.random.default_rng(1)
        xs = [r.uniform(-1, 1, size=(BATCH, *self.g.type(n).shape)) for n in self.g.inputs]
        return self.g, xs[0] if len(xs) == 1 else xs


def conv(b: Builder, k, cout, **kw):
    cin = b.g.type(b.last).shape[-1]
    groups = kw.get("groups", 1)
    n = len(k)
    cls = {1: ops.Conv1D, 2: ops.Conv2D, 3: ops.Conv3D}[n]
    kw.setdefault("strides", (1,) * n)
    kw.setdefault("dilation", (1,) * n)
    return b.op(cls(weight=b.w(*k, cin // groups, cout), bias=b.w(cout), **kw))


def dense(b: Builder, n_out, bias=True):
    n_in = b.g.type(b.last).shape[-1]
    return b.op(ops.Dense(weight=b.w(n_in, n_out), bias=b.w(n_out) if bias else None))


CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


# ------------------------------------------------------------------ dense / conv (native)


@case
def mlp():
    b = Builder("mlp", (6,))
    dense(b, 5)
    b.relu()
    dense(b, 3)
    return b.done()


@case
def conv2d_valid():
    b = Builder("conv2d_valid", (7, 7, 2))
    conv(b, (3, 3), 4)
    b.relu()
    b.op(ops.Flatten())
    dense(b, 3)
    return b.done()


@case
def conv2d_same_strided():
    b = Builder("conv2d_same_strided", (7, 6, 2))
    conv(b, (3, 2), 3, strides=(2, 2), padding="same")
    b.relu()
    conv(b, (2, 2), 2, strides=(2, 1), padding="same")
    return b.done()


@case
def conv1d():
    b = Builder("conv1d", (12, 2))
    conv(b, (3,), 4, strides=(2,), padding="same")
    b.relu()
    conv(b, (2,), 3)
    return b.done()


# ------------------------------------------------------------------ matrix fallback


@case
def conv2d_fallbacks():
    """Dilated, grouped and explicitly padded convolutions (no native nengo transform)."""
    b = Builder("conv2d_fallbacks", (8, 8, 4))
    conv(b, (3, 3), 4, dilation=(2, 2), padding="same")
    b.relu()
    conv(b, (3, 3), 6, groups=2)
    b.relu()
    conv(b, (2, 3), 2, padding=((1, 0), (2, 1)))
    return b.done()


@case
def conv3d():
    b = Builder("conv3d", (4, 5, 4, 2))
    conv(b, (2, 3, 2), 3, strides=(1, 2, 1), padding="same")
    b.relu()
    return b.done()


@case
def depthwise_and_transpose():
    b = Builder("depthwise_and_transpose", (6, 6, 3))
    b.op(ops.DepthwiseConv2D(weight=b.w(3, 3, 3, 2), bias=b.w(6), padding="same"))
    b.relu()
    b.op(ops.ConvTranspose2D(weight=b.w(3, 3, 6, 2), bias=b.w(2), strides=(2, 2), padding=((1, 0), (1, 0))))
    b.relu()
    return b.done()


@case
def conv_transpose_native():
    """Transposed convolutions nengo computes natively: uncropped ("valid") and cropped
    like TensorFlow's "same" (output n * s)."""
    b = Builder("conv_transpose_native", (4, 5, 2))
    b.op(ops.ConvTranspose2D(weight=b.w(3, 2, 2, 3), bias=b.w(3), strides=(2, 1)))
    b.relu()
    b.op(ops.ConvTranspose2D(weight=b.w(3, 4, 3, 2), bias=b.w(2), strides=(2, 2), padding=((0, 1), (1, 1))))
    return b.done()


@case
def time_distributed_dense():
    b = Builder("time_distributed_dense", (4, 5))
    dense(b, 3)
    b.relu()
    return b.done()


@case
def pooling():
    b = Builder("pooling", (7, 7, 2))
    b.op(ops.AvgPool(pool_size=(2, 2), strides=(2, 2), padding="same"))
    b.relu()
    b.op(ops.AvgPool(pool_size=(2, 2), strides=(1, 1)))
    b.op(ops.GlobalAvgPool(n_spatial=2, keepdims=True))
    return b.done()


@case
def batchnorm_affine():
    b = Builder("batchnorm_affine", (4, 4, 3))
    b.op(ops.BatchNorm(gamma=b.w(3), beta=b.w(3), mean=b.w(3), var=np.abs(b.w(3)) + 0.1))
    b.relu()
    b.op(ops.Affine(scale=b.w(4), offset=b.w(4), axis=1))
    b.relu()
    return b.done()


# ------------------------------------------------------------------ index maps


@case
def shape_ops():
    """pad (value 0 and not), crop, upsample, transpose, reshape after neurons."""
    b = Builder("shape_ops", (4, 5, 2))
    b.relu()
    b.op(ops.Pad(pads=((1, 0), (0, 2), (0, 0)), value=0.5))
    b.op(ops.Crop(crops=((0, 1), (1, 0), (0, 0))))
    b.op(ops.Upsample(scale=(2, 1)))
    b.op(ops.Transpose(perm=(1, 0, 2)))
    b.op(ops.Reshape(shape=(12, 8)))
    b.op(ops.Identity())
    return b.done()


@case
def index_maps_after_transforms():
    """Index maps applied to transformed values: a permutation moves a transform's
    outputs; crop and upsample (which drop or repeat them) need a relay."""
    b = Builder("index_maps_after_transforms", (5, 5, 2))
    conv(b, (2, 2), 3)
    b.op(ops.Transpose(perm=(1, 0, 2)))
    b.op(ops.Pad(pads=((1, 1), (0, 1), (0, 0))))
    b.relu()
    conv(b, (2, 2), 2)
    b.op(ops.Crop(crops=((1, 0), (0, 1), (0, 0))))
    b.op(ops.Upsample(scale=(1, 2)))
    b.relu()
    return b.done()


@case
def chained_linear():
    """dense -> dense and conv -> conv without neurons between (relays)."""
    b = Builder("chained_linear", (6, 6, 1))
    conv(b, (3, 3), 2)
    conv(b, (2, 2), 3, strides=(2, 2))
    b.op(ops.Flatten())
    dense(b, 4)
    dense(b, 3)
    return b.done()


# ------------------------------------------------------------------ merges, I/O


@case
def residual_add_concat():
    b = Builder("residual_add_concat", (6, 6, 2))
    conv(b, (3, 3), 2, padding="same")
    a_act = b.relu()
    b.last = b.inputs[0]
    c = b.op(ops.Add(coeffs=(1.0, -0.5)), [a_act, b.inputs[0]])
    d = conv(b, (1, 1), 3)
    b.op(ops.Concat(axis=-1), [c, d])
    b.relu()
    e = b.last
    b.op(ops.Concat(axis=0), [e, e])
    b.op(ops.Flatten())
    dense(b, 3)
    return b.done()


@case
def multi_io():
    b = Builder("multi_io", (5,), (3, 2))
    dense(b, 4)
    h = b.relu()
    b.last = b.inputs[1]
    b.op(ops.Flatten())
    f = b.last
    cat = b.op(ops.Concat(axis=-1), [h, f])
    dense(b, 2)
    b.output(index=0)
    b.output(cat, index=1)
    return b.done()


@case
def shared_users():
    """A transformed value read by three users is computed once (materialized)."""
    b = Builder("shared_users", (4,))
    x = dense(b, 4)
    r1 = b.relu()
    b.last = x
    r2 = b.relu()
    b.op(ops.Add(coeffs=(1.0, 1.0, 2.0)), [r1, r2, x])
    return b.done()


# ------------------------------------------------------------------ neurons and host ops


@case
def neuron_types():
    b = Builder("neuron_types", (6,))
    dense(b, 5)
    b.op(neurons.RateReLU(gain=2.0, bias=0.1, amplitude=0.5))
    dense(b, 4)
    b.op(neurons.LIFRate(gain=np.full(4, 3.0), bias=b.w(4) + 1.5, amplitude=0.02))
    dense(b, 3)
    return b.done()


@case
def activations():
    """Sigmoid and tanh as nengo neurons; the rest as host-side Nodes."""
    b = Builder("activations", (6,))
    x = dense(b, 6)
    outs = []
    for act in (ops.Sigmoid(), ops.Tanh(), ops.Elu(alpha=0.7), ops.Selu(), ops.Softplus(),
                ops.Softsign(), ops.Swish(), ops.Gelu(), ops.Gelu(approximate=True),
                ops.Exponential(), ops.HardSigmoid(), ops.Linear()):
        outs.append(b.op(act, [x]))
    b.op(ops.Concat(axis=-1), outs)
    b.op(ops.Reshape(shape=(12, 6)))
    b.op(ops.Softmax(axis=0))
    return b.done()


@case
def max_pooling():
    b = Builder("max_pooling", (7, 7, 2))
    b.op(ops.MaxPool(pool_size=(3, 3), strides=(2, 2), padding="same"))
    b.relu()
    b.op(ops.GlobalMaxPool(n_spatial=2))
    return b.done()

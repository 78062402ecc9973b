"""Small hand-built lowered (SNN-stage) graphs for the simulator tests.

Each case is ``name -> builder() -> (graph, x)``: a seeded graph whose neurons fire at tens
to hundreds of Hz (some IF neurons several spikes per step, some LIF neurons often
refractory), and a batch of inputs. :func:`probe_spikes` adds an output on every spiking
node so that tests compare the spike trains themselves, not only the readouts.
"""

from __future__ import annotations

import numpy as np

from snnc.ir import Graph, neurons, ops

BATCH = 3
SYN = 0.005


class _Net:
    """``g.add`` with numbered node names and a seeded random generator."""

    def __init__(self, name: str, *shapes):
        self.g = Graph(name)
        self.rng = np.random.default_rng(sum(map(ord, name)))
        self.inputs = [
            self.g.add(f"in{i}", ops.Input(shape=s, index=i)) for i, s in enumerate(shapes)
        ]
        self._n = 0

    def w(self, *shape, scale=0.5):
        return self.rng.normal(scale=scale, size=shape)

    def add(self, op, *inputs, synapse=None) -> str:
        self._n += 1
        name = f"{op.kind.split('.')[1]}{self._n}"
        syns = synapse if isinstance(synapse, list) else [synapse] * len(inputs)
        return self.g.add(name, op, list(inputs), synapses=syns)

    def dense(self, src, n_out, synapse=None, bias=True) -> str:
        n_in = self.g.type(src).shape[-1]
        return self.add(
            ops.Dense(weight=self.w(n_in, n_out), bias=self.w(n_out) if bias else None),
            src,
            synapse=synapse,
        )

    def conv(self, src, k, cout, synapse=None, **kw) -> str:
        cin = self.g.type(src).shape[-1]
        return self.add(
            ops.Conv2D(weight=self.w(*k, cin, cout), bias=self.w(cout), **kw), src, synapse=synapse
        )

    def output(self, src, index=0, synapse=None) -> str:
        return self.g.add(f"out{index}", ops.Output(index=index), [src], synapses=[synapse])

    def done(self, low=0.0, high=1.0):
        r = np.random.default_rng(1)
        xs = [r.uniform(low, high, size=(BATCH, *self.g.type(n).shape)) for n in self.g.inputs]
        return self.g, xs[0] if len(xs) == 1 else xs


def _channels(net: _Net, node: str) -> int:
    return net.g.type(node).shape[-1]


CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


@case
def dense_if():
    """dense -> IF (per-neuron gain, some neurons above 1 spike per step) -> synapse -> dense."""
    net = _Net("dense_if", (6,))
    h = net.dense(net.inputs[0], 8)
    gain = net.rng.uniform(100, 400, size=8)
    gain[:2] = 3000  # J * dt > 1: several spikes in one step
    s = net.add(neurons.IF(gain=gain, bias=net.rng.uniform(50, 200, size=8), amplitude=0.01), h)
    net.output(net.dense(s, 3, synapse=SYN))
    return net.done()


@case
def conv_lif():
    """conv -> LIF (per-channel gain, min_voltage < 0, often refractory) -> synapse ->
    flatten -> dense."""
    net = _Net("conv_lif", (6, 6, 2))
    c = net.conv(net.inputs[0], (3, 3), 4, padding="same")
    s = net.add(
        neurons.LIF(gain=net.rng.uniform(2, 8, size=4), bias=1.5, amplitude=0.02, min_voltage=-0.5),
        c,
    )
    f = net.add(ops.Flatten(), s, synapse=0.01)
    net.output(net.dense(f, 5))
    return net.done()


@case
def layered():
    """Several layers with synapses on some edges: a filtered constant (input -> dense with
    bias -> synapse -> IF), an unfiltered spiking edge (IF -> conv), two filters in series,
    an add and a concat join, and an output read straight from a filtered spike train."""
    net = _Net("layered", (5, 5, 2))
    x = net.inputs[0]
    c1 = net.conv(x, (2, 2), 3)  # (4, 4, 3)
    a = net.add(neurons.IF(gain=200.0, bias=100.0, amplitude=0.01), c1)
    c2 = net.conv(a, (3, 3), 3, padding="same")  # no synapse: spikes reach it at once
    b = net.add(
        neurons.LIF(gain=np.full((4, 4, 3), 4.0), bias=1.2, amplitude=0.05), c2, synapse=SYN
    )
    # a second branch: input -> flatten -> dense (with bias) -> synapse -> IF
    d = net.dense(net.add(ops.Flatten(), x), 48)
    e = net.add(neurons.IF(gain=150.0, bias=150.0, amplitude=0.01), d, synapse=0.002)
    e3 = net.add(ops.Reshape(shape=(4, 4, 3)), e, synapse=SYN)
    joined = net.add(ops.Add(coeffs=(1.0, -0.5)), b, e3, synapse=[SYN, None])
    cat = net.add(ops.Concat(axis=-1), joined, a, synapse=[None, 0.01])  # (4, 4, 6)
    f = net.add(ops.Flatten(), cat, synapse=SYN)  # in series with the synapses above
    net.output(net.dense(f, 4), 0)
    net.output(b, 1, synapse=0.01)  # probe with a synapse
    return net.done()


@case
def series_synapses():
    """IF -> synapse -> flatten -> synapse -> dense: the flatten is a view of the first
    filter's state, which must be read before that filter updates."""
    net = _Net("series_synapses", (3, 2))
    s = net.add(
        neurons.IF(gain=net.rng.uniform(300, 900, size=2), bias=20.0, amplitude=0.01), net.inputs[0]
    )
    f = net.add(ops.Flatten(), s, synapse=SYN)
    net.output(net.dense(f, 3, synapse=0.01))
    net.output(f, 1, synapse=0.002)
    return net.done()


@case
def rate_neurons():
    """Rate neurons between spiking ones: rate_relu -> IF -> synapse -> lif_rate -> dense."""
    net = _Net("rate_neurons", (5,))
    r = net.add(
        neurons.RateReLU(gain=net.rng.uniform(0.5, 2, size=6), bias=0.1, amplitude=2.0),
        net.dense(net.inputs[0], 6),
    )
    s = net.add(neurons.IF(gain=150.0, bias=60.0, amplitude=0.01), net.dense(r, 6))
    q = net.add(neurons.LIFRate(gain=3.0, bias=1.5, amplitude=0.01), net.dense(s, 4, synapse=SYN))
    net.output(net.dense(q, 3))
    return net.done()


@case
def loihi_neurons():
    """Loihi's IF and LIF (one spike per step at most, discretised time constants)."""
    net = _Net("loihi_neurons", (6,))
    a = net.add(
        neurons.LoihiIF(gain=net.rng.uniform(100, 900, size=8), bias=50.0, amplitude=0.01),
        net.dense(net.inputs[0], 8),
    )
    b = net.add(
        neurons.LoihiLIF(
            gain=4.0,
            bias=net.rng.uniform(0.8, 3, size=5),
            amplitude=0.02,
            tau_rc=0.015,
            tau_ref=0.0025,
        ),
        net.dense(a, 5, synapse=SYN),
    )
    net.output(net.dense(b, 3, synapse=SYN))
    return net.done()


@case
def graded_and_v_init():
    """Graded (2-bit) IF and an IF starting half-way to its threshold (v_init)."""
    net = _Net("graded_and_v_init", (5,))
    a = net.add(
        neurons.GradedIF(
            gain=net.rng.uniform(500, 3000, size=6), bias=20.0, amplitude=0.01, bits=2
        ),
        net.dense(net.inputs[0], 6),
    )
    b = net.add(
        neurons.IF(gain=net.rng.uniform(100, 600, size=4), amplitude=0.01, v_init=0.5),
        net.dense(a, 4, synapse=SYN),
    )
    net.output(net.dense(b, 3, synapse=SYN))
    return net.done()


@case
def conv_stack():
    """A CNN's first layers: conv of the constant input -> IF (a constant drive: the class's
    window loop) -> strided, padded conv with 16 output channels (in float32 the register
    kernel ``conv_fma``) -> IF -> synapse -> flatten -> dense."""
    net = _Net("conv_stack", (7, 7, 2))
    c = net.conv(net.inputs[0], (3, 3), 6, padding="same")
    a = net.add(neurons.IF(gain=net.rng.uniform(100, 400, size=6), bias=60.0, amplitude=0.01), c)
    d = net.conv(a, (3, 3), 16, strides=(2, 2), padding="same")
    b = net.add(neurons.IF(gain=net.rng.uniform(5, 20, size=16), bias=50.0, amplitude=0.01), d)
    f = net.add(ops.Flatten(), b, synapse=SYN)
    net.output(net.dense(f, 4))
    return net.done()


@case
def two_inputs():
    """Two inputs joined by a concat, both read by IF neurons."""
    net = _Net("two_inputs", (4,), (2, 3))
    a = net.add(neurons.IF(gain=300.0, bias=20.0, amplitude=0.01), net.inputs[0])
    f = net.add(ops.Flatten(), net.inputs[1])
    cat = net.add(ops.Concat(axis=-1), a, f, synapse=[SYN, None])
    net.output(net.dense(cat, 3))
    return net.done()


def raw_outputs(g: Graph) -> Graph:
    """``g`` with every output reading out raw per-step values (``readout="raw"``), so that
    simulate() and the targets' runs compare step by step whatever their default readout."""
    for o in g.outputs:
        g.replace_op(o, g.op(o).replace(readout="raw"))
    return g


def probe_spikes(g: Graph) -> Graph:
    """A copy of ``g`` with an extra output (unfiltered) on every spiking neuron node."""
    g = g.copy()
    spiking = [n for n in g.topo_order() if ops.is_spiking(g.op(n))]
    for i, n in enumerate(spiking, start=len(g.outputs)):
        g.add(f"{n}.spikes", ops.Output(index=i), [n])
    return g

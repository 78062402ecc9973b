"""Chains of linear ops between two chip layers compose into one exact connection.

Each case puts a chain of linear ops between two chip neuron layers ``%a -> ... -> %b``,
emits the loihi network and checks the connection ``%a -> %b``: its kind (a convolution
stays a ``nengo.Convolution``, anything else is ``Sparse``/``Dense``) and its matrix, applied by
nengo itself, against the chain's matrix from the IR interpreter times ``%b``'s gain.
"""

from __future__ import annotations

import numpy as np
import pytest

from snnc.codegen import get_target
from snnc.codegen.loihi_emit import generate_loihi
from snnc.codegen.loihi_resources import initial_block
from snnc.ir import Graph, neurons, ops
from snnc.ir import traits as T
from snnc.ir.interpreter import run_kernel

RNG = np.random.default_rng(7)


def w(*shape):
    return RNG.normal(size=shape)


def _graph(shape, chain, gain=2.0, extra=None):
    """``%x -> %a`` (chip neurons of ``shape``) ``-> chain -> %b -> %out``; ``chain`` is a list
    of ``(name, op, inputs)`` where inputs name earlier nodes (``a`` included)."""
    g = Graph("compose")
    g.add("x", ops.Input(shape=shape, place="host"))
    g.add("a", neurons.LoihiIF(gain=1.0, bias=0.0, place="chip"), ["x"])
    last = "a"
    for name, op, ins in chain:
        last = g.add(name, op.replace(place="chip"), ins)
    g.add("b", neurons.LoihiIF(gain=gain, bias=0.0, place="chip"), [last])
    g.add("out", ops.Output(place="host"), ["b"])
    return g


def _expected(g: Graph) -> np.ndarray:
    """The matrix from %a's values to %b's input current (gain included), by the interpreter."""
    order = [n for n in g.topo_order() if n not in ("x", "a", "b", "out")]
    n_in = g.type("a").size

    def run(a):
        vals = {"a": a.reshape((len(a), *g.type("a").shape))}
        for n in order:
            vals[n] = run_kernel(g.op(n), [vals[s] for s in g.inputs_of(n)], g.dt)
        return vals[g.inputs_of("b")[0]].reshape(len(a), -1)

    const = run(np.zeros((1, n_in)))
    m = (run(np.eye(n_in)) - const).T
    gain = np.broadcast_to(np.asarray(g.op("b").gain, np.float64), g.type("b").shape).reshape(-1)
    return gain[:, None] * m


def _connection(g: Graph):
    shapes = {n: (initial_block(g.type(n).shape), g.type(n).shape) for n in g.nodes_of(T.Neuron)}
    art = generate_loihi(g, get_target("loihi"), shapes)
    net, _, _ = art.build()
    (conn,) = [c for c in net.all_connections if c.label == "a -> b"]
    return conn


def _matrix(conn) -> np.ndarray:
    """The connection's transform applied by nengo's reference simulator to a basis."""
    import nengo

    n = conn.size_mid if conn.function is not None else conn.pre.size_out
    with nengo.Network() as net:
        src = nengo.Node(lambda t: np.eye(n)[min(int(round(t / 0.001)) - 1, n - 1)])
        dst = nengo.Node(size_in=conn.size_out)
        nengo.Connection(src, dst, transform=conn.transform, synapse=None)
        p = nengo.Probe(dst, synapse=None)
    with nengo.Simulator(net, progress_bar=False) as sim:
        sim.run_steps(n)
    return sim.data[p].T


CASES = {
    "conv_valid_strided": (
        (6, 6, 2),
        [("c", ops.Conv2D(weight=w(3, 3, 2, 3), strides=(2, 2)), ["a"])],
        "Convolution",
    ),
    "conv_same": (
        (5, 5, 2),
        [("c", ops.Conv2D(weight=w(3, 3, 2, 3), padding="same"), ["a"])],
        "Convolution",
    ),
    "conv_grouped": (
        (4, 4, 4),
        [("c", ops.Conv2D(weight=w(3, 3, 2, 4), groups=2), ["a"])],
        "Convolution",
    ),
    "conv1d": (
        (9, 2),
        [("c", ops.Conv1D(weight=w(3, 2, 3), strides=(2,), padding="same"), ["a"])],
        "Convolution",
    ),
    "depthwise": (
        (5, 5, 2),
        [("c", ops.DepthwiseConv2D(weight=w(3, 3, 2, 2), padding="same"), ["a"])],
        "Convolution",
    ),
    "avg_pool": (
        (6, 6, 2),
        [("p", ops.AvgPool(pool_size=(2, 2), strides=(2, 2)), ["a"])],
        "Convolution",
    ),
    "avg_pool_padded": (
        (5, 5, 2),
        [("p", ops.AvgPool(pool_size=(2, 2), strides=(2, 2), padding="same"), ["a"])],
        "Sparse",
    ),
    "conv_transpose": (
        (3, 3, 2),
        [
            (
                "c",
                ops.ConvTranspose2D(weight=w(3, 3, 2, 2), strides=(2, 2), padding=((1, 1), (1, 1))),
                ["a"],
            )
        ],
        None,
    ),
    "mix_conv_scale": (
        (5, 5, 2),
        [
            ("m", ops.Dense(weight=w(2, 3)), ["a"]),
            ("c", ops.Conv2D(weight=w(3, 3, 3, 2)), ["m"]),
            ("s", ops.Affine(scale=np.array([0.5, -2.0]), offset=np.array([1.0, 0.0])), ["c"]),
        ],
        "Convolution",
    ),
    "residual_same_source": (
        (4, 4, 2),
        [
            ("c", ops.Conv2D(weight=w(3, 3, 2, 2), padding="same"), ["a"]),
            ("sum", ops.Add(coeffs=(1.0, -0.5)), ["c", "a"]),
        ],
        "Sparse",
    ),
    "pool_flatten_dense": (
        (4, 4, 2),
        [
            ("p", ops.AvgPool(pool_size=(2, 2), strides=(2, 2)), ["a"]),
            ("f", ops.Flatten(), ["p"]),
            ("d", ops.Dense(weight=w(8, 5)), ["f"]),
        ],
        "Dense",
    ),
    "concat_transpose_pad": (
        (3, 4, 2),
        [
            ("t", ops.Transpose(perm=(1, 0, 2)), ["a"]),
            ("pad", ops.Pad(pads=((1, 0), (0, 1), (0, 0))), ["t"]),
            ("gp", ops.GlobalAvgPool(), ["a"]),
            ("f1", ops.Flatten(), ["pad"]),
            ("cat", ops.Concat(axis=-1), ["f1", "gp"]),
        ],
        "Sparse",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_chain_composes_into_one_exact_connection(name):
    shape, chain, kind = CASES[name]
    g = _graph(shape, chain)
    conn = _connection(g)
    if kind is not None:
        assert type(conn.transform).__name__ == kind
    np.testing.assert_allclose(_matrix(conn), _expected(g), rtol=1e-6, atol=1e-9)


def test_a_per_channel_gain_folds_into_the_kernel_a_varying_one_into_a_matrix():
    chain = [("c", ops.Conv2D(weight=w(3, 3, 2, 3)), ["a"])]
    g = _graph((5, 5, 2), chain, gain=np.array([1.0, 2.0, 3.0]))
    conn = _connection(g)
    assert type(conn.transform).__name__ == "Convolution"
    np.testing.assert_allclose(_matrix(conn), _expected(g), rtol=1e-6, atol=1e-9)
    g = _graph((5, 5, 2), chain, gain=RNG.uniform(1, 2, (3, 3, 3)))
    conn = _connection(g)
    assert type(conn.transform).__name__ == "Sparse"
    np.testing.assert_allclose(_matrix(conn), _expected(g), rtol=1e-6, atol=1e-9)


def test_constants_on_the_way_become_the_neuron_bias():
    chain = [("c", ops.Conv2D(weight=w(1, 1, 2, 2), bias=np.array([0.5, -1.0])), ["a"])]
    g = _graph((2, 2, 2), chain, gain=3.0)
    shapes = {n: (initial_block(g.type(n).shape), g.type(n).shape) for n in g.nodes_of(T.Neuron)}
    art = generate_loihi(g, get_target("loihi"), shapes)
    net, _, _ = art.build()
    b = {e.label: e for e in net.all_ensembles}["b"]
    np.testing.assert_allclose(b.bias, np.tile([1.5, -3.0], 4))
    np.testing.assert_allclose(b.gain, 1.0)
    assert not [n for n in net.all_nodes if n.label.endswith(".const")]


def test_inputs_through_different_synapses_are_refused_naming_the_neuron():
    from snnc.errors import CodegenError

    g = Graph("syn")
    g.add("x", ops.Input(shape=(3,), place="host"))
    g.add("a", neurons.LoihiIF(place="chip"), ["x"])
    g.add("d", ops.Dense(weight=w(3, 3), place="chip"), ["a"], synapses=[0.005])
    g.add("sum", ops.Add(place="chip"), ["d", "a"])
    g.add("b", neurons.LoihiIF(place="chip"), ["sum"])
    g.add("out", ops.Output(place="host"), ["b"])
    with pytest.raises(CodegenError) as err:
        _connection(g)
    assert "%b" in str(err.value) and "different synapses (none, 0.005 s)" in str(err.value)

"""Rate parity on hand-built graphs: every emitter, on every target, equals the interpreter.

With rate neurons and no synapses, nengo propagates a value through the whole network in
one step, so the output after one step is the rate-mode output.
"""

from __future__ import annotations

import numpy as np
import pytest
from graphs import CASES, Builder, dense

from snnc.codegen import compile_graph
from snnc.ir import neurons, ops
from snnc.ir.interpreter import evaluate

TOL = 1e-4


def _as_list(y):
    return y if isinstance(y, list) else [y]


def assert_parity(c, g, x, steps=1, readout=None):
    ys = _as_list(c.run(x, steps=steps, progress=False, readout=readout))
    refs = _as_list(evaluate(g, x))
    assert len(ys) == len(refs)
    for y, ref in zip(ys, refs, strict=True):
        assert y.shape == (ref.shape[0], steps, *ref.shape[1:])
        np.testing.assert_allclose(y[:, -1], ref, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("case", sorted(CASES))
def test_rate_parity(case, target):
    g, x = CASES[case]()
    c = compile_graph(g, target, pipeline="")
    try:
        assert_parity(c, g, x)
    finally:
        c.close()


def _emitted(c, node):
    """What the compile report says ``node`` became."""
    for line in c.report.splitlines():
        if line.split()[:1] == [node]:
            return line
    raise KeyError(node)


def test_native_and_matrix_paths():
    """Native nengo transforms where exact; the matrix fallback everywhere else."""
    g, _ = CASES["conv2d_same_strided"]()
    c = compile_graph(g, "nengo", pipeline="")
    assert "nengo.Convolution" in _emitted(c, "conv2d1") and "nengo.Convolution" in _emitted(c, "conv2d3")
    g, _ = CASES["conv2d_fallbacks"]()  # dilated, grouped, asymmetric explicit padding
    c = compile_graph(g, "nengo", pipeline="")
    for node in ("conv2d1", "conv2d3", "conv2d5"):
        assert "nengo.Sparse (matrix)" in _emitted(c, node)
    g, _ = CASES["conv_transpose_native"]()
    c = compile_graph(g, "nengo", pipeline="")
    for node in ("conv2d_transpose1", "conv2d_transpose3"):
        assert "nengo.transforms.ConvolutionTranspose" in _emitted(c, node)
    g, _ = CASES["depthwise_and_transpose"]()  # crop (1, 0): not nengo's "same"
    c = compile_graph(g, "nengo", pipeline="")
    assert "nengo.Sparse (matrix)" in _emitted(c, "conv2d_transpose3")
    assert "nengo.Sparse (matrix)" in _emitted(c, "depthwise_conv2d1")
    g, _ = CASES["mlp"]()
    c = compile_graph(g, "nengo", pipeline="")
    assert "nengo.Dense" in _emitted(c, "dense1")
    g, _ = CASES["time_distributed_dense"]()  # leading dims: block-diagonal matrix
    c = compile_graph(g, "nengo", pipeline="")
    assert "nengo.Sparse (matrix)" in _emitted(c, "dense1")


def test_biases_become_neuron_biases():
    """Between neurons, linear ops fold into connections and their biases into the next
    neurons' biases: no relay or constant Node but the output's."""
    g, _ = CASES["conv2d_valid"]()
    c = compile_graph(g, "nengo", pipeline="")
    nodes = [line for line in c.source.splitlines() if "nengo.Node(" in line]
    assert len(nodes) == 3, nodes  # the input, the output relay, the output's constant
    assert "nengo.Convolution" in _emitted(c, "conv2d1") and "nengo.Dense" in _emitted(c, "dense4")
    assert "bias=w['rate_relu2.bias']" in c.source  # conv bias folded into the neuron bias


def test_chained_linear_ops_use_relays():
    g, _ = CASES["chained_linear"]()
    c = compile_graph(g, "nengo", pipeline="")
    assert c.source.count(".relay')") == 3  # before conv2d2, dense4 and dense5
    assert "index map" not in c.report  # flatten is a no-op


def _filtered_graph():
    """Synapses on edges, in series, and filtering constants."""
    b = Builder("filtered", (5,))
    dense(b, 4)
    b.relu()
    dense(b, 4)  # bias becomes a constant filtered by the next edge
    b.op(ops.Flatten(), synapses=[0.004])
    b.op(neurons.RateReLU(gain=1.5, bias=0.2), synapses=[0.003])  # a second filter in series
    b.op(ops.Pad(pads=((1, 1),), value=0.25), synapses=[0.002])
    dense(b, 3)
    b.output(synapse=0.005)
    return b.done()


def test_synapses_reach_the_rate_output(target):
    """Lowpass filters have unit DC gain: after a long run the output is the rate output."""
    g, x = _filtered_graph()
    c = compile_graph(g, target, pipeline="")
    assert "synapse=0.004" in c.source and ".filtered" in c.source
    assert_parity(c, g, x, steps=400, readout="raw")  # the filtered value itself, not its mean
    y = c.run(x, steps=3, progress=False, readout="raw")
    assert not np.allclose(y[:, 0], evaluate(g, x), atol=1e-2)  # but it starts from rest


def test_loihi_neurons_build_and_spike():
    """nengo-loihi's neuron models run on the nengo target (nengo-loihi registers builders)."""
    b = Builder("loihi_neurons", (4,))
    dense(b, 6)
    b.op(neurons.LoihiIF(gain=100.0, bias=50.0, amplitude=0.01))
    dense(b, 5)
    b.op(neurons.LoihiLIF(gain=10.0, bias=5.0, amplitude=0.01), synapses=[0.005])
    b.output(synapse=0.01)
    g, x = b.done()
    c = compile_graph(g, "nengo", pipeline="")
    assert "import nengo_loihi" in c.source
    y = c.run(x, steps=100, progress=False)
    assert np.all(np.isfinite(y)) and y[:, -1].max() > 0

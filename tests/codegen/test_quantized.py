"""Quantized graphs: quantized parameters emit their exact (dequantized) values, and
``nn.quantize`` rounds on a host Node (nengo, nengo-dl) and is refused by loihi."""

from __future__ import annotations

import numpy as np
import pytest
from graphs import Builder, dense

from snnc.codegen import compile_graph
from snnc.errors import CodegenError
from snnc.ir import neurons, ops
from snnc.ir.interpreter import evaluate
from snnc.ir.quant import quantize_param


def _quantized_graph():
    b = Builder("quantized", (6,))
    dense(b, 5)
    b.relu()
    b.op(ops.Quantize(bits=4, exp=-3))
    dense(b, 3)
    b.output()
    g, x = b.done()
    for n in g.nodes_of(ops.Dense):
        op = g.op(n)
        op, _ = quantize_param(op, "weight", 8, per_channel=True)
        op, _ = quantize_param(op, "bias", 8)
        g.replace_op(n, op)
    return g, x


def test_quantized_graph_matches_the_interpreter(target):
    g, x = _quantized_graph()
    assert all(g.op(n).is_quantized for n in g.nodes_of(ops.Dense))
    with compile_graph(g, target, pipeline="") as c:
        y = c.run(x, steps=1, progress=False)[:, -1]
        assert "quantize(" in c.source
    want = evaluate(g, x)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    dense0 = g.nodes_of(ops.Dense)[0]
    np.testing.assert_array_equal(c.weights[f"{dense0}.weight"], g.op(dense0).weight)


def test_loihi_refuses_quantize_nodes():
    g, _ = _quantized_graph()
    rate = g.nodes_of(neurons.RateReLU)[0]
    g.replace_op(rate, neurons.LoihiIF(gain=g.op(rate).gain, bias=g.op(rate).bias))
    with pytest.raises(CodegenError) as e:
        compile_graph(g, "loihi", pipeline="")
    assert "nn.quantize is not supported by target 'loihi'" in e.value.message

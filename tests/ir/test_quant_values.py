"""Quantized values in the IR: q-typed parameters and activation values, printed, parsed,
verified, serialized and evaluated with their exact dequantized semantics."""

from pathlib import Path

import numpy as np
import pytest

from snnc.errors import IRError, IRVerifyError
from snnc.ir import QInt, Stage, ops, parse_graph, print_graph, verify
from snnc.ir.interpreter import evaluate
from snnc.ir.quant import choose_exp, quantize_array, quantize_param, sqnr_db
from snnc.ir.serialize import graph_weights, load, save
from snnc.ir.types import parse_type

CASE = (Path(__file__).parent / "cases" / "quantized_params.snnir").read_text()


def test_case_parses_verifies_and_prints_back_identically():
    g = parse_graph(CASE)
    verify(g)
    text = print_graph(g, weights="full")
    body = [ln for ln in CASE.splitlines() if not ln.lstrip().startswith("//")]
    assert text.splitlines() == body
    dense = g.op("dense")
    assert dense.qtype("weight") == QInt(4, -2) and dense.qtype("bias") == QInt(8, (-4, -3, 0))
    np.testing.assert_array_equal(dense.mantissa("weight"), [[1, -2, 7], [3, 0, -8]])
    # the array holds the exact dequantized values
    np.testing.assert_array_equal(dense.weight, np.array([[1, -2, 7], [3, 0, -8]]) * 0.25)
    np.testing.assert_array_equal(dense.bias, [16 / 16, -8 / 8, 1.0])


def test_interpreter_computes_the_exact_quantized_semantics():
    g = parse_graph(CASE)
    x = np.array([[1.0, 2.0], [-1.0, 0.5]])
    w = np.array([[1, -2, 7], [3, 0, -8]]) * 0.25
    b = np.array([1.0, -1.0, 1.0])
    act = np.maximum(x @ w + b, 0)
    want = np.clip(np.rint(act / 0.5), -4, 3) * 0.5  # 3-bit signed, step 2**-1
    np.testing.assert_allclose(evaluate(g, x), want, rtol=0, atol=1e-6)


def test_hash_form_round_trips_through_model_snnc_with_integer_mantissas(tmp_path):
    g = parse_graph(CASE)
    weights = graph_weights(g, mantissas=True)
    assert weights["dense.weight"].dtype.kind == "i" and weights["dense.bias"].dtype.kind == "i"
    for mode in ("hash", "stats"):
        text = print_graph(g, weights=mode)
        assert "<q4e-2[2,3] #" in text and "<q8e(-4,-3,0)[3] #" in text
        assert parse_graph(text, weights).structurally_equal(g)
    save(g, tmp_path / "m.snnc")
    g2, _ = load(tmp_path / "m.snnc")
    assert g2.structurally_equal(g)


def test_stage_is_quantized_when_every_parameter_is():
    g = parse_graph(CASE)
    assert g.stage is Stage.SNN  # the neuron's gain and bias are still f32
    for n in g.topo_order():
        op = g.op(n)
        for p in op.param_arrays():
            op = quantize_param(op, p, 8)[0]
        g.replace_op(n, op)
    verify(g)
    assert g.stage is Stage.QUANTIZED


@pytest.mark.parametrize(
    "literal, why",
    [
        ("<q4e-2[2,3] [[1,-2,9],[3,0,-8]]>", "not 4-bit integers"),  # 9 > 7
        ("<q4e(0,0)[2,3] [[1,-2,7],[3,0,-8]]>", "per-channel exponents"),
    ],
)
def test_verifier_rejects_values_off_the_grid(literal, why):
    text = CASE.replace("<q4e-2[2,3] [[1,-2,7],[3,0,-8]]>", literal)
    with pytest.raises((IRError, IRVerifyError), match=why):
        verify(parse_graph(text))


def test_quantized_literal_must_hold_integers():
    text = CASE.replace("[[1,-2,7],[3,0,-8]]", "[[1.5,-2,7],[3,0,-8]]")
    with pytest.raises(IRError, match="holds integers"):
        parse_graph(text)


def test_quantize_helpers():
    a = np.array([[0.3, -1.2], [0.05, 0.9]], np.float32)
    assert choose_exp(a, 8) == -6  # 1.2 / 127 -> 2**-6.7 -> ceil
    assert choose_exp(a, 8, per_channel=True) == (-8, -6)
    q = quantize_array(a, QInt(8, -6))
    assert np.max(np.abs(q - a)) <= 2.0**-7
    op, dt = quantize_param(ops.Dense(weight=a), "weight", 4, per_channel=True)
    assert dt == QInt(4, (-4, -2)) and op.qtype("weight") == dt
    verify_op_types = op.verify([parse_type("f32[2]")])
    assert verify_op_types.shape == (2,)
    assert sqnr_db(a, a) == float("inf") and 10 < sqnr_db(a, op.weight) < 60


def test_dtype_text_forms():
    for text in ("f32[3]", "spike[2,2]", "spike4[8]", "q8e-7[3]", "q8e(-7,-6)[2,2]", "q1e0[1]"):
        assert str(parse_type(text)) == text


def test_placement_is_an_op_attribute_printed_only_when_set():
    text = CASE.replace("%dense = nn.dense(%x) {", '%dense = nn.dense(%x) {place="chip", ')
    g = parse_graph(text)
    verify(g)
    assert g.op("dense").place == "chip" and g.op("act").place is None
    printed = print_graph(g, weights="full")
    assert 'place="chip"' in printed and printed.count("place=") == 1
    assert parse_graph(printed).structurally_equal(g)
    bad = parse_graph(text.replace('place="chip"', 'place="gpu"'))
    with pytest.raises(IRVerifyError, match="not a placement"):
        verify(bad)


def test_graded_if_is_a_k_bit_neuron():
    from snnc.ir import neurons
    from snnc.ir.interpreter import run_kernel

    op = neurons.GradedIF(bits=2)
    assert str(op.infer_type([parse_type("f32[4]")])) == "spike2[4]"
    j = np.array([[-1.0, 500.0, 3000.0, 9000.0]])
    np.testing.assert_allclose(run_kernel(op, [j], 0.001), [[0.0, 500.0, 3000.0, 3000.0]])
    # the step emits at most 3 spikes and keeps the rest in the voltage
    x = np.array([[2.5, 5.0]]) / 0.001
    out, v = np.zeros((1, 2)), np.zeros((1, 2))
    op.step(x, np.ones(2), np.zeros(2), out, v, *op.step_params(0.001))
    np.testing.assert_allclose(out * 0.001, [[2.0, 3.0]])
    np.testing.assert_allclose(v, [[0.5, 2.0]])
    text = "graph @g(dt=0.001) {\n  %x = nn.input() : f32[2]\n  %n = snn.graded_if(%x) {gain=<f32[] 1.0>, bias=<f32[] 0.0>, amplitude=1.0, bits=3} : spike3[2]\n  %o = nn.output(%n) : spike3[2]\n}\n"
    g = parse_graph(text)
    verify(g)
    assert print_graph(g, weights="full") == text


def test_quantize_array_leaves_no_negative_zero():
    q = quantize_array(np.array([-0.001, -0.0, 0.3]), QInt(4, -2))
    assert not np.any(np.signbit(q) & (q == 0))

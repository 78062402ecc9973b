"""The .snnir text form: print -> parse -> print is a fixed point; errors point at the text."""

import numpy as np
import pytest
from ir_graphs import cnn, mlp

from snnc.errors import IRParseError
from snnc.ir import Graph, ops, parse_graph, print_graph
from snnc.ir.serialize import graph_weights


@pytest.mark.parametrize("make", [mlp, cnn])
@pytest.mark.parametrize("weights", ["full", "hash", "stats"])
def test_print_parse_print_is_a_fixed_point(make, weights):
    g = make()
    text = print_graph(g, weights=weights, meta=True)
    g2 = parse_graph(text, graph_weights(g))
    assert print_graph(g2, weights=weights, meta=True) == text
    assert g2.structurally_equal(g)


def test_every_attribute_value_kind_round_trips():
    g = Graph("odd names", dt=0.0005)
    g.add("in put", ops.Input(shape=(2, 3, 4), index=0))
    g.add("in2", ops.Input(shape=(2, 3, 4), index=1))
    g.add("t", ops.Transpose(perm=(2, 0, 1)), ["in put"])
    g.add("relu", ops.ReLU(max_value=None, negative_slope=0.25, threshold=-1e-7), ["in2"])
    g.add("t2", ops.Transpose(perm=(2, 0, 1)), ["relu"])
    g.add("sum", ops.Add(coeffs=(0.5, -1.0)), ["t", "t2"], synapses=[None, 0.01])
    g.add("gelu", ops.Gelu(approximate=True), ["sum"])
    g.add("pad", ops.Pad(pads=((1, 0), (0, 2), (0, 0)), value=-0.0), ["gelu"])
    g.add("upsample", ops.Upsample(scale=(3,)), ["pad"])
    g.add("output", ops.Output(), ["upsample"])
    g.set_meta("t", keras_layer="permute", note='quote " and // slashes')
    text = print_graph(g, weights="full", meta=True)
    assert '%"in put" = nn.input() : f32[2,3,4]' in text
    assert "nn.input() {index=1}" in text and "scale=(3,)" in text
    g2 = parse_graph(text)
    assert print_graph(g2, weights="full", meta=True) == text
    assert g2.meta("t")["note"] == 'quote " and // slashes'


def test_design_doc_example_parses():
    text = """
    // comments and blank lines are ignored
    graph @digits(dt=0.001) {
      %input = nn.input() : f32[8,8,1]
      %conv1 = nn.conv2d(%input) {weight=<f32[1,1,1,2] [[[[0.5,-1.0]]]]>, strides=(1,1), padding="valid"} : f32[8,8,2]
      %conv1.act = snn.if(%conv1) {amplitude=0.01} : spike[8,8,2]
      %flatten = nn.flatten(%conv1.act [synapse=0.005]) : f32[128]
      %output = nn.output(%flatten) : f32[128]
    }
    """
    g = parse_graph(text)
    assert g.synapse("conv1.act", "flatten", 0) == 0.005
    assert g.op("conv1").weight.tolist() == [[[[0.5, -1.0]]]]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty .snnir text"),
        ("graph @g(dt=0.001) {\n  %a = nn.input() : f32[2]\n", "closing '}'"),
        ("graph @g {\n  %a = nn.inptu() : f32[2]\n}", "unknown op 'nn.inptu'"),
        ("graph @g {\n  %a = nn.input() : f32[2]\n  %b = nn.flatten(%c) : f32[2]\n}", "input %c is not defined"),
        ("graph @g {\n  %a = nn.input() : f32[2]\n  %b = nn.flatten(%a) : f32[3]\n}", "declared type f32[3] but the op produces f32[2]"),
        ("graph @g {\n  %a = nn.input() : f32[2]\n  %b = nn.dense(%a) {weight=<f32[2,1] #deadbeef>} : f32[1]\n}", "printed as a hash"),
        ("graph @g {\n  %a = nn.input() : f32[2]\n  %b = nn.dense(%a) {weight=<f32[2,1] [1.0,2.0]>} : f32[1]\n}", "array has shape [2]"),
        ("graph @g {\n  %a = nn.input() {bogus=1} : f32[2]\n}", "unexpected keyword argument 'bogus'"),
        ("graph @g {\n  %a = nn.input() : f32[2] trailing\n}", "unexpected text after the type"),
    ],
)
def test_parse_errors_name_line_and_column(text, message):
    with pytest.raises(IRParseError) as err:
        parse_graph(text)
    assert message in str(err.value)
    if text:
        assert "line " in str(err.value)


def test_hash_mismatch_is_detected():
    g = mlp()
    w = graph_weights(g)
    w["dense.weight"] = w["dense.weight"] + 1
    with pytest.raises(IRParseError, match="do not match hash"):
        parse_graph(print_graph(g), w)


def test_full_weights_round_trip_bit_exactly():
    g = mlp(seed=3)
    g2 = parse_graph(print_graph(g, weights="full"))
    assert np.array_equal(g2.op("dense").weight, g.op("dense").weight)


# ----------------------------------------------------------------------------- properties

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "passes"))
from strategies import graphs  # noqa: E402


@given(graphs(), st.sampled_from(["hash", "full"]), st.lists(st.floats(1e-4, 0.1), max_size=3))
def test_random_graphs_round_trip(g, weights, taus):
    # put some synapses on edges, so edge data round-trips too
    edges = [(s, d, p) for d in g.topo_order() for s, p, _ in g.in_edges(d)]
    for (src, dst, port), tau in zip(edges, taus, strict=False):
        g.set_edge(src, dst, port, synapse=tau)
    text = print_graph(g, weights=weights)
    g2 = parse_graph(text, graph_weights(g))
    assert print_graph(g2, weights=weights) == text
    assert g2.structurally_equal(g)


@given(graphs())
def test_random_graphs_save_load(g):
    import tempfile

    from snnc.ir.serialize import load, save

    with tempfile.TemporaryDirectory() as d:
        g2, _ = load(save(g, Path(d) / "m.snnc"))
    assert g2.structurally_equal(g)

"""Per-node pass options (:mod:`snnc.passes.node_options`): the ``{key:value,...}`` syntax,
its round trip through pipeline text, key matching, and errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnc.errors import PipelineError
from snnc.ir import parse_graph
from snnc.passes import format_pipeline, get_pass, parse_pipeline, run_pipeline, with_options
from snnc.passes.lower_activations import NeuronSpec
from snnc.passes.node_options import (
    FractionMap,
    PercentileMap,
    RateMap,
    ScaleMap,
    SynapseMap,
    neuron_names,
    relu_names,
)

_KEYS = st.sampled_from(["conv1", "conv*", "dense?", "*", "a.b", "[cd]*", "x-y", "h.act"])


@st.composite
def _maps(draw):
    cls, values = draw(
        st.sampled_from(
            [
                (PercentileMap, st.floats(0.001, 100.0)),
                (RateMap, st.one_of(st.just("max"), st.floats(0.1, 1e5))),
                (ScaleMap, st.one_of(st.none(), st.floats(1e-3, 1e4))),
                (SynapseMap, st.one_of(st.none(), st.floats(1e-5, 1.0))),
                (FractionMap, st.floats(0.0, 0.999)),
                (NeuronSpec, st.sampled_from(["if", "lif", "graded-if", "loihi-if"])),
            ]
        )
    )
    keys = draw(st.lists(_KEYS, min_size=1, max_size=4, unique=True))
    return cls(tuple((k, draw(values)) for k in keys))


@given(_maps())
@settings(max_examples=200, deadline=None)
def test_text_round_trip(m):
    assert type(m).from_option(str(m)) == m


def test_single_values_print_bare_and_mappings_keep_their_order():
    assert str(PercentileMap.from_option(99.9)) == "99.9"
    assert str(RateMap.from_option("max")) == "max"
    assert str(SynapseMap.from_option("{dense*:0.005,*:none}")) == "{dense*:0.005,*:none}"
    m = PercentileMap.from_option({"conv1": 99.99, "*": 99})
    assert m.rules == (("conv1", 99.99), ("*", 99.0)) and str(m) == "{conv1:99.99,*:99.0}"
    # quoted keys and Python dict text read like bare ones
    assert FractionMap.from_option("{'conv*': 0.5}") == FractionMap.from_option("{conv*:0.5}")


def test_lookup_first_match_wins_else_the_default():
    m = PercentileMap.from_option("{conv1:99.99,conv*:99,dense:50}")
    assert m.lookup(("conv1.act", "conv1")) == (99.99, "conv1")
    assert m.lookup(("conv2.act", "conv2")) == (99.0, "conv*")
    assert m.lookup(("logits",)) == (PercentileMap.default, None)
    assert m.get(("x", "dense")) == 50.0
    spec = NeuronSpec.from_option("{clipped-relu:loihi-if,*:lif}")
    assert spec.choose(("a",), ("relu", "clipped-relu")) == ("loihi-if", "clipped-relu")
    assert spec.choose(("a",), ("relu",)) == ("lif", "*")
    assert NeuronSpec.from_option("{a:lif}").choose(("b",), ()) == ("if", None)


@pytest.mark.parametrize(
    "cls, text, message",
    [
        (PercentileMap, "0", "expected a percentile in (0, 100]"),
        (PercentileMap, "{a:100.5}", "expected a percentile in (0, 100]"),
        (PercentileMap, "{a}", "mapping entry 'a' is not key:value"),
        (PercentileMap, "{a:}", "mapping entry 'a' has no value"),
        (PercentileMap, "{}", "the mapping is empty"),
        (PercentileMap, "{a:1", "expected '}'"),
        (PercentileMap, "a:1}", "lacks its opening '{'"),
        (RateMap, "{a:-5}", "expected max or a rate > 0 (Hz)"),
        (RateMap, "fastest", "expected max or a rate > 0 (Hz)"),
        (FractionMap, "1.0", "expected a fraction in [0, 1)"),
        (SynapseMap, "{a:soon}", "expected a time constant > 0 in seconds"),
        (NeuronSpec, "{a:izhikevich}", "unknown neuron 'izhikevich'"),
        (FractionMap, "nan", "expected a fraction in [0, 1)"),
        (ScaleMap, "true", "expected a factor > 0"),
    ],
)
def test_bad_values_say_what_is_expected(cls, text, message):
    with pytest.raises(ValueError) as info:
        cls.from_option(text)
    assert message in str(info.value)


def test_pipeline_text_and_with_options():
    (p,) = parse_pipeline(
        "lower-activations{neuron={conv*:lif},synapse={dense*:0.005},v_init={conv1:0.25,*:0.5}}"
    )
    assert str(p.synapse) == "{dense*:0.005}" and str(p.v_init) == "{conv1:0.25,*:0.5}"
    assert parse_pipeline(format_pipeline([p])) == [p]
    text = with_options("lower-activations", "lower-activations", synapse={"d*": 0.01}, v_init=0.5)
    assert text == "lower-activations{synapse={d*:0.01},v_init=0.5}"
    with pytest.raises(PipelineError, match="option 'v_init': expected a fraction in"):
        get_pass("lower-activations")(v_init={"a": 2})
    # a single number from a command line (codegen's --synapse override) is one value
    (q,) = parse_pipeline(with_options("lower-activations", "lower-activations", synapse="0.005"))
    assert q.synapse.rules == (("*", 0.005),)


def test_node_names():
    g = parse_graph(
        """graph @g(dt=0.001) {
          %x = nn.input() : f32[2]
          %conv1 = nn.dense(%x) {weight=<f32[2,2] [[1.0,0.0],[0.0,1.0]]>} : f32[2]
          %conv1.act = ann.relu(%conv1) {max_value=1.0} : f32[2]
          %out = nn.output(%conv1.act) : f32[2]
        }"""
    )
    assert relu_names(g, "conv1.act") == ("conv1.act", "conv1")
    lowered, _ = run_pipeline(g, "lower-activations")
    assert neuron_names(lowered, "conv1.act.sat") == ("conv1.act.sat", "conv1.act", "conv1")

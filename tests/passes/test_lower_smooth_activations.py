"""lower-activations on activations other than ReLU (issue 11, item 5): hidden sigmoid / tanh
are kept in a rate network and refused in a spiking one, naming every node; an activation on
an output is kept (``output_activation=keep``) or dropped when that keeps the argmax.

The text-in / text-out cases live in ``cases/lower_activations``; these tests cover what
cases cannot: the whole neuron catalogue, every activation op, the verifier and stage, and
the reference semantics (interpreter, ``snnc.simulate``) of the kept ops.
"""

from __future__ import annotations

import numpy as np
import pytest

import snnc
from snnc.errors import PassError
from snnc.ir import Stage, ops, parse_graph, verify
from snnc.ir import traits as T
from snnc.ir.errors import IRVerifyError
from snnc.ir.interpreter import evaluate, run_kernel
from snnc.ir.neurons import NEURONS
from snnc.passes import PassContext, run_pipeline
from snnc.passes.lower_activations import RATE_ACTIVATIONS, _increasing

#: tanh -> relu -> sigmoid hidden, a dense, then ``{out_act}`` on the output
GRAPH = """
graph @smooth(dt=0.001) {{
  %x = nn.input() : f32[3]
  %d1 = nn.dense(%x) {{weight=<f32[3,4] [[0.5,-1.0,0.25,2.0],[1.5,0.5,-0.5,-1.0],[-2.0,1.0,1.0,0.5]]>}} : f32[4]
  %h1 = ann.tanh(%d1) : f32[4]
  %r = ann.relu(%h1) : f32[4]
  %h2 = ann.sigmoid(%r) : f32[4]
  %d2 = nn.dense(%h2) {{weight=<f32[4,2] [[1.0,-2.0],[0.5,1.0],[-1.5,0.5],[2.0,1.0]]>}} : f32[2]
  %y = {out_act}(%d2) : f32[2]
  %out = nn.output(%y) : f32[2]
}}
"""
X = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32) * 2


def _graph(out_act: str = "ann.sigmoid"):
    return parse_graph(GRAPH.format(out_act=out_act))


def _lower(g, options: str = "neuron=rate-relu"):
    return run_pipeline(g, f"lower-activations{{{options}}}", PassContext.default())


def _activations_on_outputs() -> list[type[ops.Op]]:
    """Every activation op class an output may end with besides ReLU, linear and softmax
    (those have their own options)."""
    return [
        cls
        for cls in ops.OPS.values()
        if cls.has(T.Activation)
        and not cls.has(T.ReLULike)
        and cls not in (ops.Linear, ops.Softmax)
    ]


# =============================================================================== hidden


@pytest.mark.parametrize("neuron", sorted(n for n, c in NEURONS.items() if not c.spiking))
def test_a_rate_neuron_keeps_hidden_sigmoid_and_tanh(neuron):
    g = _graph()
    out, report = _lower(g, f"neuron={neuron}")
    verify(out)
    assert out.stage is Stage.SNN  # the kept activations do not make it half-lowered
    assert isinstance(out.op("h1"), ops.Tanh) and isinstance(out.op("h2"), ops.Sigmoid)
    assert isinstance(out.op("r"), NEURONS[neuron])
    stats = report.stats["lower-activations"]
    assert stats["rate_kept"] == 2 and stats["output_kept"] == 1
    assert any("%h1, %h2: kept as rate neurons" in n for n in report.notes)
    if NEURONS[neuron].relu_exact:  # the lowering changed nothing of the function
        np.testing.assert_allclose(evaluate(out, X), evaluate(g, X), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("neuron", sorted(n for n, c in NEURONS.items() if c.spiking))
def test_a_spiking_neuron_refuses_them_naming_every_node_and_the_remedy(neuron):
    with pytest.raises(PassError) as err:
        _lower(_graph(), f"neuron={neuron}")
    msg = str(err.value)
    assert "cannot lower 2 activation(s)" in msg
    for node, kind in (("h1", "ann.tanh"), ("h2", "ann.sigmoid")):
        assert (
            f"%{node}: {kind} in a hidden layer has no neuron equivalent in a spiking network"
            in msg
        )
    assert f"the neuron chosen for it, '{neuron}', spikes" in msg
    assert "--neuron rate-relu" in err.value.hint and "retrain with relu" in err.value.hint


def test_one_error_names_every_kind_of_problem_with_every_hint():
    text = GRAPH.format(out_act="ann.swish").replace("ann.relu(%h1)", "ann.elu(%h1)")
    with pytest.raises(PassError) as err:
        _lower(parse_graph(text), "neuron=if,output_activation=drop")
    msg, hint = err.value.message, err.value.hint
    assert "cannot lower 4 activation(s)" in msg
    assert "%h1: ann.tanh in a hidden layer has no neuron equivalent in a spiking network" in msg
    assert "%r: ann.elu in a hidden layer has no neuron equivalent (only ReLU-family" in msg
    assert "%y: ann.swish on an output is not strictly increasing" in msg
    assert "rate-relu" in hint and "relu (plain, clipped or leaky)" in hint
    assert "output_activation=keep" in hint


def test_hidden_host_only_activations_are_refused_even_in_a_rate_network():
    text = GRAPH.format(out_act="ann.sigmoid").replace("ann.sigmoid(%r)", "ann.softplus(%r)")
    with pytest.raises(PassError, match=r"%h2: ann.softplus in a hidden layer has no neuron"):
        _lower(parse_graph(text))


def test_neuron_keys_match_sigmoid_and_tanh_by_kind_and_name():
    # by kind: the ReLU spikes, sigmoid and tanh are chosen a rate neuron; no key is unused
    out, report = _lower(_graph(), "neuron={sigmoid:rate-relu,ann.tanh:lif-rate,relu:if}")
    assert isinstance(out.op("h2"), ops.Sigmoid) and isinstance(out.op("h1"), ops.Tanh)
    assert out.op("r").has(T.Spiking)
    assert not any("matched no node" in n for n in report.notes), report.notes
    # by name: a key for one node only leaves the other to the spiking fallback
    with pytest.raises(PassError) as err:
        _lower(_graph(), "neuron={h2:rate-relu,relu:rate-relu}")
    assert "%h1: ann.tanh" in str(err.value) and "%h2" not in str(err.value)
    assert "'if' (no neuron key matched it)" in str(err.value)


def test_the_rate_activations_are_exactly_the_non_host_smooth_ones():
    """The ops kept as rate neurons are the activations ir/ops.py declares neither ReLU-like,
    host-only nor readouts (nengo has a rate neuron for each)."""
    smooth = {
        cls
        for cls in ops.OPS.values()
        if cls.has(T.Activation)
        and not (cls.has(T.ReLULike) or cls.has(T.HostOnly) or cls.has(T.Readout))
    }
    assert smooth == set(RATE_ACTIVATIONS)


# =============================================================================== outputs


@pytest.mark.parametrize("cls", _activations_on_outputs(), ids=lambda c: c.kind)
def test_every_output_activation_is_kept_by_default(cls):
    g = _graph(cls.kind)
    out, report = _lower(g)
    verify(out)
    assert type(out.op("y")) is cls and report.stats["lower-activations"]["output_kept"] == 1
    np.testing.assert_allclose(evaluate(out, X), evaluate(g, X), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cls", _activations_on_outputs(), ids=lambda c: c.kind)
def test_drop_removes_exactly_the_strictly_increasing_output_activations(cls):
    """What ``output_activation=drop`` accepts is checked against the kernels: strictly
    increasing on a grid (so the argmax is kept) exactly when the pass drops it."""
    op = cls()
    grid = np.linspace(-6, 6, 2001)[None, :]
    y = run_kernel(op, [grid], 0.001)
    assert _increasing(op) == bool(np.all(np.diff(y) > 0)), cls.kind
    g = _graph(cls.kind)
    if not _increasing(op):
        with pytest.raises(PassError, match=r"%y: .* not strictly increasing"):
            _lower(g, "neuron=rate-relu,output_activation=drop")
        return
    out, report = _lower(g, "neuron=rate-relu,output_activation=drop")
    assert "y" not in out.nx and report.stats["lower-activations"]["output_dropped"] == 1
    g2 = g.copy()  # the graph without the output activation, by hand
    g2.bypass("y")
    logits = evaluate(g2, X)
    np.testing.assert_allclose(evaluate(out, X), logits, rtol=1e-6, atol=1e-6)
    assert np.array_equal(evaluate(out, X).argmax(-1), evaluate(g, X).argmax(-1))


def test_elu_is_increasing_only_with_a_positive_alpha():
    assert _increasing(ops.Elu(alpha=1.0)) and not _increasing(ops.Elu(alpha=0.0))
    assert not _increasing(ops.Elu(alpha=-0.5))


def test_keeping_alone_is_no_change():
    """A graph whose only activation is a kept output sigmoid is unchanged, and the pass
    reports it unchanged (kept nodes are counted, not changes)."""
    g = parse_graph(
        """graph @k(dt=0.001) {
          %x = nn.input() : f32[2]
          %y = ann.sigmoid(%x) : f32[2]
          %out = nn.output(%y) : f32[2]
        }"""
    )
    out, report = _lower(g, "neuron=if")
    assert report.records[0].changed is False and out.fingerprint() == g.fingerprint()
    assert any("%y: kept on the output" in n for n in report.notes), report.notes


def test_spiking_upstream_note_warns_about_the_per_step_average():
    out, report = _lower(_graph().copy(), "neuron={relu:if,sigmoid:rate-relu,tanh:rate-relu}")
    assert any("mean of f(J), not f of the mean J" in n for n in report.notes), report.notes
    _, rate_report = _lower(_graph())
    assert not any("mean of f(J)" in n for n in rate_report.notes)


# =============================================================================== semantics


def test_the_simulator_runs_kept_activations_like_the_interpreter():
    """snnc.simulate evaluates the kept sigmoid / tanh (its generic instruction): with rate
    neurons and no synapse every step equals the rate-mode output."""
    out, _ = _lower(_graph())
    ys = snnc.simulate(out, X, steps=3, dtype=np.float64)
    ref = evaluate(out, X)
    for t in range(3):
        np.testing.assert_allclose(ys[:, t], ref, rtol=1e-6, atol=1e-7)


def test_the_verifier_still_refuses_a_relu_next_to_neurons():
    """The stage rule now asks for ReLU-like activations only: a kept sigmoid passes, a
    ReLU left beside neuron ops is half-lowered."""
    out, _ = _lower(_graph())
    g = out.copy()
    g.insert_after("h2", "late", ops.ReLU())
    with pytest.raises(IRVerifyError) as err:
        verify(g)
    assert err.value.rule == "stage" and err.value.node == "late"
    assert g.stage is Stage.ANN and out.stage is Stage.SNN

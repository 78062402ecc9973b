"""The passes read the neuron catalogue (:mod:`snnc.ir.neurons`), and a neuron defined in
one plugin file works with no other edit (the acceptance test of issue 7).

``lower-activations`` takes neuron names, the fields to fill (``lowering``), spiking-ness
and ReLU-exactness from the neuron classes; ``normalize-rates`` takes exactness and the
maximum rate. The plugin neuron (``plugins/neuron_plugin.py``, fixture ``neuron_plugin``)
lowers, prints/parses, evaluates and normalizes here; its simulation (``snnc.simulate``)
and nengo compilation belong next to it as tests taking the ``plugin_lowered`` fixture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import snnc
from snnc.errors import PipelineError
from snnc.ir import Stage, parse_graph, print_graph, verify
from snnc.ir import traits as T
from snnc.ir.neurons import NEURONS, NeuronOp, get_neuron, register_neuron
from snnc.ir.ops import OPS
from snnc.ir.serialize import graph_weights
from snnc.passes import PassContext, get_pass, run_pipeline

NEURON_PLUGIN = Path(__file__).parent / "plugins" / "neuron_plugin.py"

#: a hidden ReLU (3 units) and a clipped ReLU (2 units, lowered to two neurons each)
ANN = """
graph @plug(dt=0.001) {
  %x = nn.input() : f32[2]
  %d1 = nn.dense(%x) {weight=<f32[2,3] [[1.0,-1.0,0.5],[0.5,2.0,-1.0]]>, bias=<f32[3] [0.5,0.25,0.0]>} : f32[3]
  %act = ann.relu(%d1) : f32[3]
  %d2 = nn.dense(%act) {weight=<f32[3,2] [[1.0,0.0],[2.0,1.0],[0.5,-1.0]]>} : f32[2]
  %clip = ann.relu(%d2) {max_value=1.5} : f32[2]
  %d3 = nn.dense(%clip) {weight=<f32[2,1] [[1.0],[-1.0]]>} : f32[1]
  %out = nn.output(%d3) : f32[1]
}
"""


@pytest.fixture
def ann():
    return parse_graph(ANN)


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)


@pytest.fixture
def plugin_lowered(neuron_plugin, ann):
    """``ANN`` through the passes with the plugin neuron: ``(graph, report)``."""
    return run_pipeline(ann, "canonicalize,lower-activations{neuron=test-relu-if,synapse=0.005},fuse-bias")


def _max_err(a, b, x) -> float:
    return float(np.max(np.abs(snnc.evaluate(a, x) - snnc.evaluate(b, x))))


# =============================================================================== the plugin


def test_plugin_registers_a_neuron_and_an_op(neuron_plugin):
    assert NEURONS["test-relu-if"] is neuron_plugin is get_neuron("test-relu-if")
    assert OPS["snn.test_if"] is neuron_plugin
    assert all(neuron_plugin.has(t) for t in (T.Neuron, T.Spiking, T.ReLUExact))


def test_plugin_lowers(plugin_lowered, neuron_plugin):
    g, report = plugin_lowered
    verify(g)
    assert g.stage is Stage.SNN
    assert g.nodes_of(neuron_plugin) == ["act", "clip.pos", "clip.sat"]
    stats = report.stats["lower-activations"]
    assert stats["by_neuron"] == {"test-relu-if": 2}
    assert stats["neuron_ops"] == {"snn.test_if": 3}
    for n in g.nodes_of(neuron_plugin):  # spiking (declared): every outgoing edge filtered
        # (synapse=0.005 asked for: the default is none)
        assert g.type(n).dtype.is_spike
        assert all(g.synapse(n, d, p) == 0.005 for d, p in g.users(n))
    # ReLU-exact (declared): no warning that rates differ
    assert not any("not ReLU-exact" in note for note in report.notes)
    assert g.op("act").bias.tolist() == [0.5, 0.25, 0.0]  # fuse-bias moved d1's bias in


def test_plugin_prints_and_parses(plugin_lowered):
    g, _ = plugin_lowered
    text = print_graph(g, weights="full")
    assert "= snn.test_if(%d1) {gain=" in text
    back = parse_graph(text)
    assert back.structurally_equal(g) and print_graph(back, weights="full") == text
    hashed = parse_graph(print_graph(g), weights=graph_weights(g))
    assert hashed.structurally_equal(g)


def test_plugin_evaluates_like_the_ann(plugin_lowered, ann, x):
    g, _ = plugin_lowered
    assert _max_err(g, ann, x) <= 1e-5


def test_normalize_rates_scales_the_plugin_exactly(plugin_lowered, ann, x):
    g, _ = plugin_lowered
    out, report = run_pipeline(
        g, "normalize-rates{mode=data,percentile=100}", PassContext.default(calibration=x)
    )
    stats = report.stats["normalize-rates"]
    assert stats["scaled"] == 3 and stats["mode"] == "data"
    assert not any("approximate" in note for note in report.notes)
    assert _max_err(out, ann, x) <= 1e-4  # exact scaling of a ReLU-exact neuron
    # the most active unit of %act now fires at the default target: one spike per step
    values = snnc.evaluate(out, x, return_all=True)
    peak = float(np.max(values["act"] / out.op("act").amplitude))
    assert peak == pytest.approx(1.0 / out.dt, rel=1e-5)


def test_plugin_step_agrees_with_its_rate(neuron_plugin):
    """The plugin's spiking step (NumPy and loop forms) averages to its rate function."""
    op = neuron_plugin(
        gain=np.array([1.0, 2.0, 1.0]), bias=np.array([0.0, 5.0, -1.0]), amplitude=0.5
    )
    dt, steps = 0.001, 4000
    x = np.array([[30.0, 40.0, 0.5]])
    gain, bias = np.asarray(op.gain, np.float64), np.asarray(op.bias, np.float64)
    outs, state = [], {"numpy": np.zeros((1, 3)), "loop": np.zeros((1, 3))}
    for form, step in (("numpy", op.step), ("loop", op.step_loop)):
        out, total = np.zeros((1, 3)), np.zeros((1, 3))
        for _ in range(steps):
            step(x, gain, bias, out, state[form], *op.step_params(dt))
            total += out
        outs.append(total / steps)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[0], op.output(x, dt), atol=op.amplitude / (steps * dt))


def test_snnc_passes_lists_a_plugin_neuron(neuron_plugin, capsys):
    from snnc.cli import main

    assert main(["passes", "--load-pass", str(NEURON_PLUGIN)]) == 0
    out = capsys.readouterr().out
    assert "test-relu-if  test plugin: regular-spiking ReLU" in out
    assert "|test-relu-if) or {key:neuron,...}]" in out  # in lower-activations' neuron option


def test_loading_the_plugin_again_re_registers_it(neuron_plugin, ann):
    from snnc.passes import load_pass_file

    load_pass_file(NEURON_PLUGIN)  # the IR registries would refuse a second kind/option
    again = get_neuron("test-relu-if")
    assert again is not neuron_plugin and again.kind == "snn.test_if"
    out, _ = run_pipeline(ann, "lower-activations{neuron=test-relu-if}")
    assert out.nodes_of(again) == ["act", "clip.pos", "clip.sat"]


# =============================================================================== catalogue fields


@pytest.fixture
def scratch_neurons():
    """Register test-only neurons for one test (``add(cls)``); unregister them after."""
    added = []

    def add(cls):
        cls = register_neuron(cls)
        added.append(cls)
        return cls

    yield add
    for cls in added:
        NEURONS.pop(cls.option, None)
        OPS.pop(cls.kind, None)


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_every_catalogue_neuron_lowers_and_round_trips(ann, x, neuron):
    """Each neuron gets the option values its class declares in ``lowering`` and the class
    defaults for every other field; the result verifies, evaluates and parses back."""
    options = {"tau_rc": 0.05, "tau_ref": 0.001, "bits": 3}
    text = ",".join(f"{k}={v}" for k, v in options.items())
    out, report = run_pipeline(ann, f"lower-activations{{neuron={neuron},{text}}}")
    cls = get_neuron(neuron)
    default = cls()
    for n in out.nodes_of(T.Neuron):
        op = out.op(n)
        assert type(op) is cls
        for field, value in options.items():
            if field in cls.lowering:
                assert getattr(op, field) == value
            elif hasattr(default, field):
                assert getattr(op, field) == getattr(default, field)
    assert report.stats["lower-activations"]["by_neuron"] == {neuron: 2}
    assert np.all(np.isfinite(snnc.evaluate(out, x)))
    assert parse_graph(print_graph(out, weights="full")).structurally_equal(out)


def test_lowering_fills_only_the_declared_fields(scratch_neurons, ann, x):
    @scratch_neurons
    class Declares(NeuronOp):
        """A rate neuron with two time constants, of which lowering sets only tau_ref."""

        kind = "snn.test_declares"
        option = "test-declares"
        summary = "test: declares tau_ref only"
        spiking = False
        lowering = ("tau_ref",)
        tau_rc: float = 0.5
        tau_ref: float = 0.0

        def rate(self, j, dt):
            r = np.maximum(j, 0.0)
            return r / (1.0 + self.tau_ref * r)

    out, report = run_pipeline(
        ann, "lower-activations{neuron=test-declares,tau_rc=0.1,tau_ref=0.003}"
    )
    op = out.op("act")
    assert isinstance(op, Declares)
    assert op.tau_ref == 0.003 and op.tau_rc == 0.5  # tau_rc is not in its lowering
    # not spiking: no synapse; not ReLU-exact: the note says so, and it is true
    assert all(out.synapse("act", d, p) is None for d, p in out.users("act"))
    assert any("test-declares rates are not ReLU-exact" in n for n in report.notes)
    assert _max_err(out, ann, x) > 1e-3


def test_a_lowering_field_without_an_option_is_refused(scratch_neurons):
    @scratch_neurons
    class Threshold(NeuronOp):
        """Declares a lowering field lower-activations has no option for."""

        kind = "snn.test_threshold"
        option = "test-threshold"
        spiking = False
        lowering = ("v_th",)
        v_th: float = 1.0

        def rate(self, j, dt):
            return np.maximum(j, 0.0)

    with pytest.raises(
        PipelineError, match=r"neuron 'test-threshold' .* declares lowering field\(s\) v_th"
    ):
        get_pass("lower-activations")(neuron={"d*": "test-threshold"})


def test_normalize_rates_caps_at_the_neurons_max_rate(ann, x):
    lowered, _ = run_pipeline(ann, "lower-activations{neuron=loihi-if}")
    out, report = run_pipeline(lowered, "normalize-rates{mode=fixed,rate=2500}")
    # a Loihi neuron spikes at most once a step: 1/dt = 1000 Hz
    assert set(report.stats["normalize-rates"]["scales"].values()) == {1000.0}
    assert any("capped at their maximum: %act 2500 Hz -> 1000 Hz" in n for n in report.notes)
    assert any("not ReLU-exact (loihi-if)" in n and "approximate" in n for n in report.notes)


@pytest.mark.parametrize(
    "neuron, exact", [(name, cls.relu_exact) for name, cls in NEURONS.items() if cls.spiking]
)
def test_normalize_rates_says_which_scalings_are_approximate(ann, x, neuron, exact):
    lowered, _ = run_pipeline(ann, f"lower-activations{{neuron={neuron}}}")
    out, report = run_pipeline(
        lowered, "normalize-rates{mode=data}", PassContext.default(calibration=x)
    )
    approximate = any("approximate" in n for n in report.notes)
    assert approximate is not exact
    if exact:
        assert _max_err(out, lowered, x) <= 1e-4

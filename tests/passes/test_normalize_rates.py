"""``normalize-rates`` for low-latency conversion (issue 9): the calibration percentile goes
to the neuron's maximal useful rate, per layer or per channel, with rate-mode outputs
unchanged; calibration data is checked. Hand-checked graphs are in ``cases/normalize_rates``.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import snnc
from snnc.errors import PassError, PipelineError
from snnc.ir import Graph, ops, parse_graph, verify
from snnc.ir import traits as T
from snnc.ir.neurons import IF, GradedIF
from snnc.passes import PassContext, get_pass, run_pipeline
from snnc.passes.calibration import MIN_SAMPLES, check_calibration, clip_caps, neuron_currents
from tests.passes.strategies import graphs, sample_inputs

SETTINGS = settings(max_examples=40, deadline=None)


def _outputs(g, x) -> list[np.ndarray]:
    y = snnc.evaluate(g, x)
    return y if isinstance(y, list) else [y]


def _assert_same_outputs(a: Graph, b: Graph, x, rtol: float = 2e-5):
    """Equal up to float32 rounding of the (large) scaled parameters."""
    for p, q in zip(_outputs(a, x), _outputs(b, x), strict=True):
        scale = 1.0 + float(np.max(np.abs(p), initial=0.0))
        err = float(np.max(np.abs(p - q), initial=0.0))
        assert err <= rtol * scale * 10, f"max abs error {err:.3g} (outputs up to {scale - 1:.3g})"


def _currents(g: Graph, x, nodes) -> dict[str, np.ndarray]:
    out = {}
    inputs, _ = check_calibration(g, x)
    neuron_currents(g, inputs, nodes, lambda n, j: out.__setitem__(n, j))
    return out


def _lowered(g: Graph, neuron: str = "if", **extra) -> Graph:
    opts = ",".join(
        [f"neuron={neuron}", "drop_softmax=false", *(f"{k}={v}" for k, v in extra.items())]
    )
    return run_pipeline(g, f"canonicalize,fold-batchnorm,lower-activations{{{opts}}},fuse-bias")[0]


# =============================================================================== exactness


@given(
    graphs(),
    st.sampled_from(["layer", "channel"]),
    st.sampled_from([50.0, 99.0, 99.9, 100.0]),
)
@SETTINGS
def test_rate_mode_outputs_are_unchanged_on_random_graphs(g, granularity, percentile):
    x = sample_inputs(g, batch=128)
    lowered = _lowered(g)
    out, report = run_pipeline(
        lowered,
        f"normalize-rates{{granularity={granularity},percentile={percentile}}}",
        PassContext.default(calibration=x),
    )
    verify(out)
    _assert_same_outputs(lowered, out, x)
    stats = report.stats["normalize-rates"]
    assert stats["scaled"] == len(out.nodes_of(T.Spiking))


@given(graphs(activations=("relu",)), st.sampled_from([99.0, 99.9, 100.0]))
@SETTINGS
def test_the_percentile_fires_one_spike_per_step(g, percentile):
    """After the pass, each neuron's ``percentile`` of positive calibration currents is
    1/dt: a second run finds nothing to do (factors 1)."""
    x = sample_inputs(g, batch=128)
    lowered = _lowered(g)
    ctx = PassContext.default(calibration=x)
    out, report = run_pipeline(lowered, f"normalize-rates{{percentile={percentile}}}", ctx)
    stats = report.stats["normalize-rates"]
    currents = _currents(out, x, out.nodes_of(T.Spiking))
    for n, j in currents.items():
        positive = j[j > 0]
        if positive.size and stats["percentiles"].get(n):
            assert np.percentile(positive, percentile) == pytest.approx(1 / out.dt, rel=1e-4)
    _, again = run_pipeline(out, f"normalize-rates{{percentile={percentile}}}", ctx)
    for n, k in again.stats["normalize-rates"].get("scales", {}).items():
        if stats["percentiles"].get(n):
            assert k == pytest.approx(1.0, rel=1e-4)


@given(graphs(activations=("relu",), image=True))
@SETTINGS
def test_per_channel_puts_each_channel_percentile_at_the_target(g):
    x = sample_inputs(g, batch=128)
    lowered = _lowered(g)
    out, report = run_pipeline(
        lowered,
        "normalize-rates{granularity=channel,percentile=100}",
        PassContext.default(calibration=x),
    )
    per_channel = report.stats["normalize-rates"].get("per_channel", [])
    currents = _currents(out, x, per_channel)
    before = _currents(lowered, x, per_channel)
    for n in per_channel:
        j, j0 = currents[n], before[n]
        flat, flat0 = j.reshape(-1, j.shape[-1]), j0.reshape(-1, j0.shape[-1])
        for c in range(flat.shape[1]):
            if np.any(flat0[:, c] > 0):  # a silent channel keeps the layer's factor
                assert flat[:, c].max() == pytest.approx(1 / out.dt, rel=1e-4)


@given(graphs(activations=("relu",), image=True))
@SETTINGS
def test_channel_scales_recorded_in_meta_undo_the_value_changes(g):
    """Each per-channel scaled neuron records its residual (meta ``channel_scale``);
    :func:`value_scales` carries it to the nodes passing the value on, and every node's
    rate-mode value divided by its scale is the unscaled graph's, across two runs."""
    from snnc.passes.channel_scaling import META_KEY, value_scales

    x = sample_inputs(g, batch=64)
    lowered = _lowered(g)
    ctx = PassContext.default(calibration=x)
    once, report = run_pipeline(lowered, "normalize-rates{granularity=channel}", ctx)
    per_channel = set(report.stats["normalize-rates"].get("per_channel", []))
    assert {n for n in once.topo_order() if META_KEY in once.meta(n)} == per_channel
    twice, _ = run_pipeline(
        once, "normalize-rates{granularity=channel,percentile=50}", PassContext.default(calibration=x)
    )
    want = snnc.evaluate(lowered, x, return_all=True)
    for out in (once, twice):
        got = snnc.evaluate(out, x, return_all=True)
        scales = value_scales(out)
        assert set(scales) >= per_channel
        for n in out.topo_order():
            s = np.where(np.isnan(scales[n]), 1.0, scales[n]) if n in scales else 1.0
            v, w = np.asarray(got[n], np.float64) / s, np.asarray(want[n], np.float64)
            assert np.allclose(v, w, rtol=1e-4, atol=1e-4 * (1 + np.abs(w).max(initial=0))), n


@pytest.mark.parametrize(
    "bad", ["x", ["a", "b"], [1.0], [1.0, float("nan")], [1.0, -2.0], [True, 1.0], {"a": 1}, 3.0]
)
def test_a_malformed_channel_scale_in_meta_is_ignored(bad):
    """meta comes from model.snnc files: a recorded scale that is not C finite positive
    numbers is ignored, never a traceback."""
    from snnc.passes.channel_scaling import META_KEY, value_scales

    g = parse_graph(
        """graph @g(dt=0.001) {
  %x = nn.input() : f32[2]
  %n = snn.if(%x) {gain=<f32[] 1.0>, bias=<f32[] 0.0>, amplitude=1.0} : spike[2]
  %out = nn.output(%n) : spike[2]
}"""
    )
    g.set_meta("n", **{META_KEY: bad})
    assert value_scales(g) == {}
    g.set_meta("n", **{META_KEY: [2.0, 0.5]})
    assert np.array_equal(value_scales(g)["n"], [2.0, 0.5])


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_graded_spikes_use_all_their_levels(bits):
    g = parse_graph(
        f"""graph @g(dt=0.001) {{
          %x = nn.input() : f32[3]
          %n = snn.graded_if(%x) {{gain=1.0, bias=0.0, amplitude=1.0, bits={bits}}} : spike{bits}[3]
          %d = nn.dense(%n) {{weight=<f32[3,1] [[1.0],[1.0],[1.0]]>}} : f32[1]
          %out = nn.output(%d) : f32[1]
        }}"""
    )
    x = np.random.default_rng(0).uniform(-1, 3, (200, 3))
    out, report = run_pipeline(
        g, "normalize-rates{percentile=100}", PassContext.default(calibration=x)
    )
    top = (2**bits - 1) / g.dt
    assert report.stats["normalize-rates"]["target_rates"]["n"] == top
    j = _currents(out, x, ["n"])["n"]
    assert j.max() == pytest.approx(top, rel=1e-5)
    # below saturation the graded neuron is ReLU-exact: the outputs are unchanged
    _assert_same_outputs(g, out, x)


def test_rate_in_hz_and_the_old_default():
    g = _lowered(_mlp())
    x = np.random.default_rng(1).uniform(-1, 1, (128, 4))
    out, report = run_pipeline(
        g, "normalize-rates{rate=250,percentile=100}", PassContext.default(calibration=x)
    )
    j = _currents(out, x, ["h.act"])["h.act"]
    assert j.max() == pytest.approx(250.0, rel=1e-5)
    assert report.stats["normalize-rates"]["target_rates"] == {"h.act": 250.0}


def test_fixed_mode_defaults_to_one_spike_per_step_for_activations_of_one():
    g = _lowered(_mlp())
    out, report = run_pipeline(g, "normalize-rates{mode=fixed}")
    assert report.stats["normalize-rates"]["scales"] == {"h.act": 1000.0}
    assert float(out.op("h.act").gain) == 1000.0


def test_spikes_per_step_statistic_matches_the_rate_mode_activity():
    g = _lowered(_mlp())
    x = np.random.default_rng(2).uniform(-1, 1, (128, 4))
    out, report = run_pipeline(g, "normalize-rates", PassContext.default(calibration=x))
    values = snnc.evaluate(out, x, return_all=True)
    spikes = values["h.act"] / out.op("h.act").amplitude * out.dt  # spikes per step, rate mode
    assert report.stats["normalize-rates"]["spikes_per_step"]["h.act"] == pytest.approx(
        float(spikes.mean()), rel=1e-4
    )


# =============================================================================== per channel


def test_per_channel_through_padding_pooling_and_concat_is_exact():
    """The remainder travels through zero padding, average pooling and a concat with an
    unscaled branch to the conv and dense that undo it."""
    rng = np.random.default_rng(3)
    g = Graph("chain")
    g.add("x", ops.Input(shape=(6, 6, 2)))
    g.add("c1", ops.Conv2D(weight=rng.normal(size=(3, 3, 2, 3)), bias=rng.normal(size=3)), ["x"])
    g.add("c1.act", ops.ReLU(), ["c1"])
    g.add("pad", ops.Pad(pads=((1, 1), (1, 1), (0, 0))), ["c1.act"])
    g.add("pool", ops.AvgPool(pool_size=(2, 2), strides=(2, 2)), ["pad"])
    g.add("side", ops.Conv2D(weight=rng.normal(size=(1, 1, 3, 2)), strides=(1, 1)), ["pool"])
    g.add("cat", ops.Concat(axis=-1), ["pool", "side"])
    g.add("c2", ops.Conv2D(weight=rng.normal(size=(3, 3, 5, 4)), padding="same"), ["cat"])
    g.add("c2.act", ops.ReLU(), ["c2"])
    g.add("f", ops.Flatten(), ["c2.act"])
    g.add("d", ops.Dense(weight=rng.normal(size=(36, 3))), ["f"])
    g.add("out", ops.Output(), ["d"])
    verify(g)
    x = rng.uniform(0, 1, (64, 6, 6, 2))
    lowered = _lowered(g)
    out, report = run_pipeline(
        lowered, "normalize-rates{granularity=channel}", PassContext.default(calibration=x)
    )
    assert report.stats["normalize-rates"]["per_channel"] == ["c1.act", "c2.act"]
    assert not any("would not be exact" in n for n in report.notes)
    assert out.op("c1.act").gain.shape == (3,)
    _assert_same_outputs(lowered, out, x)


def test_per_channel_falls_back_where_the_remainder_cannot_be_undone():
    """An add of the neuron's output with an unscaled value cannot take a per-channel
    remainder: that neuron gets one factor, the others keep theirs."""
    rng = np.random.default_rng(4)
    g = Graph("res")
    g.add("x", ops.Input(shape=(3,)))
    g.add("a", ops.Dense(weight=rng.normal(size=(3, 3))), ["x"])
    g.add("a.act", ops.ReLU(), ["a"])
    g.add("sum", ops.Add(coeffs=(1.0, 1.0)), ["a.act", "x"])
    g.add("b", ops.Dense(weight=rng.normal(size=(3, 4))), ["sum"])
    g.add("b.act", ops.ReLU(), ["b"])
    g.add("d", ops.Dense(weight=rng.normal(size=(4, 2))), ["b.act"])
    g.add("out", ops.Output(), ["d"])
    x = rng.uniform(-1, 1, (64, 3))
    lowered = _lowered(g)
    out, report = run_pipeline(
        lowered, "normalize-rates{granularity=channel}", PassContext.default(calibration=x)
    )
    assert report.stats["normalize-rates"]["per_channel"] == ["b.act"]
    assert any(
        "one factor per layer used: %a.act: %sum (nn.add) adds inputs with different factors" in n
        for n in report.notes
    )
    assert np.ndim(out.op("a.act").gain) == 0
    _assert_same_outputs(lowered, out, x)


def test_per_channel_clipped_relu_pieces_share_one_profile():
    rng = np.random.default_rng(5)
    g = Graph("clip")
    g.add("x", ops.Input(shape=(4,)))
    g.add("a", ops.Dense(weight=rng.normal(size=(4, 3)) * [1.0, 3.0, 0.3]), ["x"])
    g.add("a.act", ops.ReLU(max_value=1.0), ["a"])
    g.add("d", ops.Dense(weight=rng.normal(size=(3, 2))), ["a.act"])
    g.add("out", ops.Output(), ["d"])
    x = rng.uniform(-1, 1, (256, 4))
    lowered = _lowered(g)
    out, report = run_pipeline(
        lowered, "normalize-rates{granularity=channel}", PassContext.default(calibration=x)
    )
    assert report.stats["normalize-rates"]["per_channel"] == ["a.act.pos", "a.act.sat"]
    pos, sat = out.op("a.act.pos"), out.op("a.act.sat")
    # the same channel profile (gain ratio per channel), each piece its own layer factor
    ratio = (pos.gain / pos.amplitude) / (sat.gain / sat.amplitude)
    assert np.allclose(ratio, ratio[0], rtol=1e-5)
    _assert_same_outputs(lowered, out, x)


# =============================================================================== clipped ReLU


def test_clip_caps_finds_the_rising_piece_only():
    g = _lowered(_mlp(relu=ops.ReLU(max_value=2.0, negative_slope=0.1)))
    caps = clip_caps(g)
    assert set(caps) == {"h.act.pos"}  # not the leaky piece, not the saturation piece
    assert np.allclose(caps["h.act.pos"], 2.0)
    # after normalization (pieces scaled differently) it is still found, in the new units
    x = np.random.default_rng(6).uniform(-3, 3, (256, 4))
    out, _ = run_pipeline(g, "normalize-rates", PassContext.default(calibration=x))
    pos, sat = out.op("h.act.pos"), out.op("h.act.sat")
    assert float(pos.gain) != float(sat.gain)
    assert np.allclose(clip_caps(out)["h.act.pos"], 2.0 * float(pos.gain), rtol=1e-5)


def test_bounded_neurons_keep_the_plain_statistic_of_the_rising_piece():
    g = _lowered(_mlp(relu=ops.ReLU(max_value=0.5)), neuron="graded-if", bits=2)
    x = np.random.default_rng(7).uniform(-3, 3, (256, 4))
    _, report = run_pipeline(
        g, "normalize-rates{percentile=100}", PassContext.default(calibration=x)
    )
    j = _currents(g, x, ["h.act.pos"])["h.act.pos"]
    assert report.stats["normalize-rates"]["percentiles"]["h.act.pos"] == pytest.approx(j.max())
    assert not any("clipped-ReLU rising piece" in n for n in report.notes)


# =============================================================================== calibration data


def test_calibration_is_checked_with_clear_messages():
    g = _lowered(_mlp())
    run = get_pass("normalize-rates")().run
    cases = [
        (np.zeros((4, 5)), "calibration data for input 'x' has shape [4, 5] (expected [batch, 4])"),
        (np.zeros(4), "has shape [4], one sample without a batch axis (expected [batch, 4])"),
        (np.zeros((0, 4)), "calibration data for input 'x' has no samples"),
        (
            [np.zeros((4, 4)), np.zeros((4, 4))],
            "has 2 array(s) (expected 1, one per graph input: x)",
        ),
        ({"y": np.zeros((4, 4))}, "keyed by ['y'] (expected the graph's inputs ['x'])"),
        (np.array([[1.0, np.inf, 0, 0]]), "has 1 non-finite value(s) (NaN or inf) among 4"),
        (np.array([["a", "b", "c", "d"]]), "input 'x' is not a numeric array"),
    ]
    for data, message in cases:
        with pytest.raises(PassError) as info:
            run(g.copy(), PassContext.default(calibration=data))
        assert message in info.value.message, info.value.message
        assert info.value.message.startswith("normalize-rates: ")


def test_few_calibration_samples_give_a_warning(caplog):
    g = _lowered(_mlp())
    x = np.random.default_rng(8).uniform(-1, 1, (MIN_SAMPLES - 1, 4))
    with caplog.at_level(logging.WARNING, logger="snnc.passes"):
        _, report = run_pipeline(g, "normalize-rates", PassContext.default(calibration=x))
    assert any(f"only {MIN_SAMPLES - 1} calibration sample(s)" in n for n in report.notes)
    assert f"only {MIN_SAMPLES - 1} calibration sample(s)" in caplog.text
    x = np.random.default_rng(8).uniform(-1, 1, (MIN_SAMPLES, 4))
    _, report = run_pipeline(g, "normalize-rates", PassContext.default(calibration=x))
    assert not any("calibration sample(s)" in n for n in report.notes)


def test_calibration_accepts_a_dict_and_a_list():
    g = _lowered(_mlp())
    x = np.random.default_rng(9).uniform(-1, 1, (128, 4))
    results = [
        run_pipeline(g, "normalize-rates", PassContext.default(calibration=data))[1].stats
        for data in (x, [x], {"x": x}, (x.tolist(),))
    ]
    assert all(r == results[0] for r in results[1:])


def test_neuron_currents_are_gain_times_input_plus_bias():
    g = _lowered(_mlp())
    x = np.random.default_rng(10).uniform(-1, 1, (32, 4))
    j = _currents(g, x, ["h.act"])["h.act"]
    values = snnc.evaluate(g, x, return_all=True)
    op = g.op("h.act")
    np.testing.assert_allclose(j, op.gain * values["h"] + op.bias, rtol=1e-5, atol=1e-6)


# =============================================================================== options


def test_per_node_options_and_their_errors():
    p = get_pass("normalize-rates")(percentile={"conv1": 99.99, "*": 99.0}, rate="{d*:500,*:max}")
    assert p.to_text() == "normalize-rates{percentile={conv1:99.99,*:99.0},rate={d*:500.0,*:max}}"
    with pytest.raises(
        PipelineError, match=r"option 'percentile': expected a percentile in \(0, 100\]"
    ):
        get_pass("normalize-rates")(percentile="{a:101}")
    with pytest.raises(PipelineError, match="option 'rate': expected max or a rate > 0"):
        get_pass("normalize-rates")(rate="fast")
    with pytest.raises(PipelineError, match="option 'granularity': expected one of layer|channel"):
        get_pass("normalize-rates")(granularity="neuron")


def test_keys_match_the_layer_name_of_a_lowered_neuron():
    """``conv1`` (the Keras layer) names the neuron ``conv1.act`` and its pieces."""
    g = _lowered(_mlp(relu=ops.ReLU(max_value=3.0)))
    x = np.random.default_rng(11).uniform(-1, 1, (128, 4))
    _, report = run_pipeline(g, "normalize-rates{scale={h:7}}", PassContext.default(calibration=x))
    assert report.stats["normalize-rates"]["scales"] == {"h.act.pos": 7.0, "h.act.sat": 7.0}


def test_v_init_and_per_node_synapse_reach_the_neurons():
    g = _mlp(hidden=2)
    out, report = run_pipeline(g, "lower-activations{v_init={h2:0.25,*:0.5},synapse={h1*:0.002}}")
    assert out.op("h1.act").v_init == 0.5 and out.op("h2.act").v_init == 0.25
    assert [out.synapse("h1.act", d, p) for d, p in out.users("h1.act")] == [0.002]
    assert [out.synapse("h2.act", d, p) for d, p in out.users("h2.act")] == [None]
    assert isinstance(out.op("h1.act"), IF) and not isinstance(out.op("h1.act"), GradedIF)
    assert out.op("h1.act").initial_state() == {"voltage": 0.5}


# =============================================================================== helpers


def _mlp(relu: ops.Op | None = None, hidden: int = 1) -> Graph:
    rng = np.random.default_rng(12)
    g = Graph("mlp")
    x = g.add("x", ops.Input(shape=(4,)))
    for i in range(hidden):
        name = "h" if hidden == 1 else f"h{i + 1}"
        x = g.add(
            name, ops.Dense(weight=rng.normal(size=(4, 4)), bias=rng.normal(size=4) * 0.1), [x]
        )
        x = g.add(f"{name}.act", relu or ops.ReLU(), [x])
    x = g.add("logits", ops.Dense(weight=rng.normal(size=(4, 3))), [x])
    g.add("out", ops.Output(), [x])
    verify(g)
    return g

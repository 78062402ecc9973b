"""IR -> NIR -> IR: every exportable SNN test model comes back structurally equal through a
NIR file, and runs the same in the rate interpreter and the spiking kernel; without snnc's
hints (plain NIR semantics) an IF model still computes the same."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import nir
import numpy as np
import pytest

import snnc
import snnc.nir as snir
from snnc.ir import Graph, neurons, ops

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "sim"))
sys.path.insert(0, str(TESTS / "frontend"))
import sim_graphs  # noqa: E402
import zoo  # noqa: E402

DIGITS = TESTS.parent / "examples" / "digits" / "digits_cnn.keras"
#: synapses stated explicitly, so that edge synapses (NIR LI nodes) are always exercised
PIPELINE = "canonicalize,fold-batchnorm,lower-activations{neuron=%s,synapse=0.005},fuse-bias,normalize-rates"
STEPS = 30

#: hand-built SNN graphs of the simulator tests that NIR can express (the others use a
#: reshape, a concat or rate neurons: refused, see test_nir_export.py)
SIM_CASES = ["dense_if", "conv_lif", "series_synapses", "loihi_neurons"]
#: lowered Keras zoo models covering every exported op kind
ZOO_CASES = [
    "dense_seq",
    "conv1d_seq",
    "conv2d_seq",
    "conv2d_dilated",
    "conv2d_groups",
    "depthwise_seq",
    "separable_seq",
    "avgpool2d_seq",
    "avgpool2d_valid_strided",
    "global_avgpool2d_seq",
    "rescaling",
    "bn_after_conv_seq",
    "relu_max_value",
    "leaky_relu",
    "merge_add_residual",
    "merge_subtract_average",
    "multi_input_add",
    "multi_output",
]


def _outputs(y) -> list[np.ndarray]:
    return y if isinstance(y, list) else [y]


@functools.cache
def _zoo_lowered(name: str, neuron: str = "if"):
    zm = zoo.get(name)
    xs = zoo.sample_inputs(zm, batch=4)
    x = xs if len(xs) > 1 else xs[0]
    g = snnc.optimize(snnc.load(zm.build()), PIPELINE % neuron, calibration=x)
    return g, x


def _roundtrip_through_file(g: Graph, tmp_path, approximate="all") -> Graph:
    path = snir.export_graph(g, tmp_path / f"{g.name}.nir", approximate=approximate)
    nir.read(path)  # nir's own reader accepts it
    return snir.from_nir(path, approximate=approximate)


def _assert_same_runs(a: Graph, b: Graph, x) -> None:
    for p, q in zip(_outputs(snnc.evaluate(a, x)), _outputs(snnc.evaluate(b, x)), strict=True):
        np.testing.assert_array_equal(p, q)
    for p, q in zip(
        _outputs(snnc.simulate(a, x, steps=STEPS)),
        _outputs(snnc.simulate(b, x, steps=STEPS)),
        strict=True,
    ):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("case", SIM_CASES)
def test_sim_graphs_round_trip(case, tmp_path):
    g, x = sim_graphs.CASES[case]()
    back = _roundtrip_through_file(g, tmp_path)
    assert back.structurally_equal(g), f"{g}\n---\n{back}"
    _assert_same_runs(g, back, x)


@pytest.mark.parametrize("name", ZOO_CASES)
def test_lowered_zoo_models_round_trip(name, tmp_path):
    g, x = _zoo_lowered(name)
    back = _roundtrip_through_file(g, tmp_path)
    assert back.structurally_equal(g), f"{g}\n---\n{back}"
    _assert_same_runs(g, back, x)


@pytest.mark.parametrize("neuron", ["if", "lif", "loihi-if", "loihi-lif"])
def test_digits_cnn_round_trips_with_every_spiking_neuron(neuron, tmp_path):
    x = np.random.default_rng(0).uniform(0, 1, size=(8, 8, 8, 1))
    g = snnc.optimize(DIGITS, PIPELINE % neuron, calibration=x)
    back = _roundtrip_through_file(g, tmp_path)
    assert back.structurally_equal(g)
    _assert_same_runs(g, back, x)


def _flattened_neurons() -> tuple[Graph, np.ndarray]:
    """Per-channel affine with an offset on an image, flattened into IF neurons with
    per-element gain and bias (their bias cannot fold into a dense layer: a bias node),
    whose spikes reach an output directly (NIR's [C, H, W] order must be undone) and
    through a synapse and a dense layer."""
    rng = np.random.default_rng(3)
    g = Graph("flat")
    g.add("x", ops.Input(shape=(3, 4, 2)))
    g.add("aff", ops.Affine(scale=[2.0, 3.0], offset=[0.5, -1.0]), ["x"])
    g.add("flat", ops.Flatten(), ["aff"])
    g.add(
        "n",
        neurons.IF(gain=rng.uniform(100, 300, 24), bias=rng.uniform(0, 50, 24), amplitude=0.01),
        ["flat"],
    )
    g.add("d", ops.Dense(weight=rng.normal(size=(24, 3)), bias=None), ["n"], synapses=[0.005])
    g.add("y", ops.Output(index=0), ["d"])
    g.add("spikes", ops.Output(index=1), ["n"])
    return g, rng.uniform(0, 1, size=(3, 3, 4, 2))


def test_flattened_neurons_round_trip_and_keep_their_meaning_without_hints(tmp_path):
    g, x = _flattened_neurons()
    ng = snir.to_nir(g, approximate="rectified-current")
    assert type(ng.nodes["spikes.order"]) is nir.Linear and type(ng.nodes["n.bias"]) is nir.Affine
    back = _roundtrip_through_file(g, tmp_path, approximate="rectified-current")
    assert back.structurally_equal(g)
    _assert_same_runs(g, back, x)
    plain = snir.from_nir(ng, approximate="rectified-current", hints=False)
    for p, q in zip(snnc.evaluate(g, x), snnc.evaluate(plain, x), strict=True):
        np.testing.assert_allclose(q, p, rtol=1e-5, atol=1e-6)
    for p, q in zip(
        snnc.simulate(g, x, steps=STEPS), snnc.simulate(plain, x, steps=STEPS), strict=True
    ):
        assert np.mean(np.isclose(q, p, rtol=1e-5, atol=1e-3)) > 0.97


def test_round_trip_keeps_names_dt_and_awkward_node_names(tmp_path):
    g = Graph("odd/name", dt=0.0005)
    g.add("in/put", ops.Input(shape=(4,)))
    g.add(
        "a/b",
        ops.Dense(weight=np.arange(12.0).reshape(4, 3) / 10, bias=[0.5, -0.5, 1.0]),
        ["in/put"],
    )
    g.add("a/b.act", neurons.IF(gain=[2.0, 3.0, 4.0], bias=0.25, amplitude=0.01), ["a/b"])
    g.add("..", ops.Output(), ["a/b.act"], synapses=[0.01])
    ng = snir.to_nir(g, approximate="rectified-current")
    assert all("/" not in k for k in ng.nodes)
    back = _roundtrip_through_file(g, tmp_path, approximate="rectified-current")
    assert back.structurally_equal(g)
    assert (back.name, back.dt) == ("odd/name", 0.0005)


def test_quantized_parameters_round_trip_with_their_bit_widths(tmp_path):
    from snnc.ir.quant import quantize_param

    g, x = sim_graphs.CASES["dense_if"]()
    for n in g.nodes_of(ops.Dense):
        op, _ = quantize_param(g.op(n), "weight", 6)
        g.replace_op(n, op)
    ng = snir.to_nir(g, approximate="all")
    first = g.nodes_of(ops.Dense)[0]
    assert "q6e" in ng.nodes[first].metadata["snnc"]["quant"]
    back = _roundtrip_through_file(g, tmp_path)
    assert back.structurally_equal(g)
    assert back.op(first).qtype("weight") == g.op(first).qtype("weight")


def _by_name(g: Graph, values) -> dict[str, np.ndarray]:
    return dict(zip(g.outputs, _outputs(values), strict=True))


@pytest.mark.parametrize(
    "case",
    [
        "dense_seq",
        "conv2d_groups",
        "depthwise_seq",
        "avgpool2d_seq",
        "global_avgpool2d_seq",
        "merge_subtract_average",
        "multi_output",
        "multi_input_add",
    ],
)
def test_import_without_hints_computes_the_same(case, tmp_path):
    """Read as any NIR graph (snnc's metadata ignored): other parameter layouts, the same
    network. NIR names inputs and outputs (a file lists them alphabetically), so they are
    matched by name; only float rounding of the folded biases differs."""
    g, x = _zoo_lowered(case)
    path = snir.export_graph(g, tmp_path / "m.nir", approximate="rectified-current")
    plain = snir.from_nir(path, approximate="rectified-current", hints=False)
    assert not plain.structurally_equal(g)
    xs = dict(zip(g.inputs, x if isinstance(x, list) else [x], strict=True))
    px = [xs[n] for n in plain.inputs]
    px = px if len(px) > 1 else px[0]
    want, got = _by_name(g, snnc.evaluate(g, x)), _by_name(plain, snnc.evaluate(plain, px))
    for name, p in want.items():
        np.testing.assert_allclose(got[name], p, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(p).max()))
    want = _by_name(g, snnc.simulate(g, x, steps=STEPS))
    got = _by_name(plain, snnc.simulate(plain, px, steps=STEPS))
    for name, p in want.items():
        # a rounding difference may move a spike across a step boundary now and then
        close = np.isclose(got[name], p, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(p).max()))
        assert close.mean() > 0.97, name


def test_exact_lif_needs_no_approximation_either_way(tmp_path):
    """A LIF without refractory period or voltage floor is NIR's LIF exactly."""
    g, x = sim_graphs.CASES["conv_lif"]()
    for n in g.nodes_of(neurons.LIF):
        g.replace_op(n, g.op(n).replace(tau_ref=0.0, min_voltage=-np.inf))
    path = snir.export_graph(g, tmp_path / "lif.nir")
    back = snir.from_nir(path)
    assert back.structurally_equal(g)
    plain = snir.from_nir(path, hints=False)
    np.testing.assert_allclose(
        snnc.simulate(plain, x, steps=STEPS), snnc.simulate(g, x, steps=STEPS), rtol=1e-5, atol=1e-3
    )


def test_edited_weights_are_read_from_the_graph(tmp_path):
    """Weights are never taken from metadata: an edit by another tool shows, names stay."""
    g, x = sim_graphs.CASES["dense_if"]()
    ng = snir.to_nir(g, approximate="all")
    last = g.nodes_of(ops.Dense)[-1]
    ng.nodes[last].weight = ng.nodes[last].weight * 2
    nir.write(tmp_path / "edited.nir", ng)
    back = snir.from_nir(tmp_path / "edited.nir", approximate="all")
    assert set(back.nx) == set(g.nx)
    np.testing.assert_array_equal(back.op(last).weight, 2 * g.op(last).weight)


def test_stale_hints_are_refused_and_the_graph_read_from_its_semantics(tmp_path, caplog):
    """The exact split of a bias folded into a dense layer lives in the hints; when the NIR
    bias no longer matches them, the hints are dropped, the NIR graph wins."""
    g, x = sim_graphs.CASES["dense_if"]()
    ng = snir.to_nir(g, approximate="all")
    first = g.nodes_of(ops.Dense)[0]
    assert "own_bias" in ng.nodes[first].metadata["snnc"]  # the IF's bias was folded in
    ng.nodes[first].bias = ng.nodes[first].bias + 1.0
    nir.write(tmp_path / "edited.nir", ng)
    back = snir.from_nir(tmp_path / "edited.nir", approximate="all")
    assert "hints do not match" in caplog.text
    neuron = g.nodes_of(neurons.IF)[0]
    gain = np.asarray(g.op(neuron).gain, np.float64)
    want = g.op(first).bias + g.op(neuron).bias / gain + 1.0
    np.testing.assert_allclose(back.op(first).bias, want, rtol=1e-6)
    np.testing.assert_array_equal(back.op(neuron).bias, 0.0)

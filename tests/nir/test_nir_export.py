"""snnc -> NIR: the parameters ``nir.read`` finds in an exported file are the IR's (in NIR's
layouts, written out here independently of the exporter), what NIR cannot express is
refused naming every node, and the ``snnc export`` command writes files."""

from __future__ import annotations

import argparse
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
import sim_graphs  # noqa: E402

DIGITS = TESTS.parent / "examples" / "digits" / "digits_cnn.keras"
#: synapses stated explicitly: the export of edge synapses (LI nodes) is under test
PIPELINE = "canonicalize,fold-batchnorm,lower-activations{neuron=if,synapse=0.005},fuse-bias,normalize-rates"


def _chw(a, shape):
    """A neuron parameter broadcast to snnc's [H, W, C] shape, as NIR's [C, H, W]."""
    return np.moveaxis(np.broadcast_to(a, shape), -1, 0)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    x = np.random.default_rng(0).uniform(0, 1, size=(8, 8, 8, 1))
    g = snnc.optimize(DIGITS, PIPELINE, calibration=x)
    path = snir.export_graph(
        g, tmp_path_factory.mktemp("nir") / "digits.nir", approximate="rectified-current"
    )
    return g, nir.read(path)


def test_digits_file_holds_the_irs_parameters(digits):
    g, ng = digits
    assert {k: type(v).__name__ for k, v in ng.nodes.items()} == {
        "image": "Input",
        "conv1": "Conv2d",
        "conv1.act": "IF",
        "conv1.act.amplitude": "Scale",
        "conv1.act.lowpass": "LI",
        "conv2": "Conv2d",
        "conv2.act": "IF",
        "conv2.act.amplitude": "Scale",
        "conv2.act.lowpass": "LI",
        "flatten": "Flatten",
        "logits": "Affine",
        "logits.output": "Output",
    }
    np.testing.assert_array_equal(ng.nodes["image"].output_type["output"], [1, 8, 8])
    for conv in ("conv1", "conv2"):
        c, act = g.op(conv), g.op(f"{conv}.act")
        node = ng.nodes[conv]
        np.testing.assert_array_equal(node.weight, np.transpose(c.weight, (3, 2, 0, 1)))
        np.testing.assert_array_equal(node.stride, c.strides)
        np.testing.assert_array_equal(node.padding, (0, 0))
        assert c.bias is None  # fuse-bias moved it into the neurons; NIR's IF has no bias:
        want = act.bias.astype(np.float64) / act.gain.astype(np.float64)
        np.testing.assert_allclose(node.bias, want, rtol=1e-12)  # it comes back as input offset
        shape = g.type(f"{conv}.act").shape
        neuron = ng.nodes[f"{conv}.act"]
        np.testing.assert_array_equal(neuron.r, _chw(act.gain, shape))
        np.testing.assert_array_equal(neuron.v_threshold, np.ones(neuron.r.shape))
        np.testing.assert_array_equal(neuron.v_reset, np.zeros(neuron.r.shape))
        np.testing.assert_array_equal(
            ng.nodes[f"{conv}.act.amplitude"].scale, np.full(neuron.r.shape, act.amplitude)
        )
        li = ng.nodes[f"{conv}.act.lowpass"]
        ((_, _, synapse),) = [e for e in g.in_edges(g.users(f"{conv}.act")[0][0])]
        np.testing.assert_array_equal(li.tau, np.full(neuron.r.shape, synapse))
        np.testing.assert_array_equal(li.r, np.ones(neuron.r.shape))
        np.testing.assert_array_equal(li.v_leak, np.zeros(neuron.r.shape))
    # NIR flattens [C, H, W]; snnc flattened [H, W, C]: the dense weight's columns follow
    h, w, c = g.type("conv2.act").shape
    dense = g.op("logits")
    hwc_index = np.arange(h * w * c).reshape(h, w, c)
    want = dense.weight[np.moveaxis(hwc_index, -1, 0).ravel()].T
    np.testing.assert_array_equal(ng.nodes["logits"].weight, want)
    np.testing.assert_array_equal(ng.nodes["logits"].bias, dense.bias)
    np.testing.assert_array_equal(ng.nodes["flatten"].output_type["output"], [h * w * c])
    assert set(ng.edges) >= {
        ("conv1.act", "conv1.act.amplitude"),
        ("conv1.act.amplitude", "conv1.act.lowpass"),
        ("conv1.act.lowpass", "conv2"),
        ("logits", "logits.output"),
    }
    assert ng.metadata["snnc"]["dt"] == g.dt


def test_lif_and_dense_parameters(tmp_path):
    g, _ = sim_graphs.CASES["conv_lif"]()
    ng = nir.read(
        snir.export_graph(g, tmp_path / "lif.nir", approximate="voltage-floor,refractory")
    )
    (lif,) = g.nodes_of(neurons.LIF)
    op, shape = g.op(lif), g.type(lif).shape
    node = ng.nodes[lif]
    np.testing.assert_array_equal(node.tau, np.full(node.r.shape, op.tau_rc))
    np.testing.assert_array_equal(node.r, _chw(op.gain, shape))
    np.testing.assert_array_equal(node.v_leak, _chw(op.bias, shape))
    np.testing.assert_array_equal(node.v_threshold, np.ones(node.r.shape))
    assert node.metadata["snnc"]["op"] == "snn.lif"  # tau_ref and min_voltage: in the hint only

    g, _ = sim_graphs.CASES["dense_if"]()
    ng = nir.read(snir.export_graph(g, tmp_path / "if.nir", approximate="rectified-current"))
    first, last = g.nodes_of(ops.Dense)
    (neuron,) = g.nodes_of(neurons.IF)
    d, n = g.op(first), g.op(neuron)
    np.testing.assert_array_equal(ng.nodes[first].weight, d.weight.T)
    want = d.bias.astype(np.float64) + n.bias.astype(np.float64) / n.gain.astype(np.float64)
    np.testing.assert_allclose(ng.nodes[first].bias, want, rtol=1e-12)
    np.testing.assert_array_equal(ng.nodes[neuron].r, n.gain)


def test_padded_average_pooling_divides_by_the_real_cells():
    g = Graph("pool")
    g.add("x", ops.Input(shape=(5, 5, 2)))
    g.add("p", ops.AvgPool(pool_size=(3, 3), strides=(2, 2), padding=((1, 1), (1, 1))), ["x"])
    g.add("y", ops.Output(), ["p"])
    ng = snir.to_nir(g)
    assert type(ng.nodes["p"]) is nir.SumPool2d
    counts = np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]], float)
    np.testing.assert_array_equal(ng.nodes["p.count"].scale, np.broadcast_to(1 / counts, (2, 3, 3)))
    assert snir.from_nir(ng).structurally_equal(g)


def test_type_check_is_nirs_own():
    g, _ = sim_graphs.CASES["series_synapses"]()
    ng = snir.to_nir(g, approximate="all")
    assert ng.check_types()
    for name in g.outputs:
        want = g.type(name).shape
        want = want if len(want) < 2 else (want[-1], *want[:-1])
        np.testing.assert_array_equal(ng.nodes[name].output_type["output"], want)


# =============================================================================== refusals


def test_every_refused_node_is_named_at_once():
    g = Graph("bad")
    g.add("x", ops.Input(shape=(6, 6, 2)))
    g.add("pool", ops.MaxPool(pool_size=(2, 2), strides=(2, 2)), ["x"])
    g.add("flat", ops.Flatten(), ["pool"])
    g.add("other", ops.Flatten(), ["x"])
    g.add("cat", ops.Concat(axis=-1), ["flat", "other"])
    g.add("rate", neurons.RateReLU(), ["cat"])
    g.add("fire", neurons.IF(), ["rate"])
    g.add("y", ops.Output(), ["fire"])
    with pytest.raises(snir.NIRExportError) as e:
        snir.to_nir(g)
    text = str(e.value)
    assert "cannot write 4 node(s)" in text
    for words in (
        "%pool (nn.max_pool): NIR has no max pooling",
        "%cat (nn.concat)",
        "%rate (snn.rate_relu)",
        "%fire (snn.if): needs the approximation(s) rectified-current",
    ):
        assert words in text


@pytest.mark.parametrize(
    ("neuron", "approximations"),
    [
        (neurons.IF(gain=2.0, bias=0.5), ["rectified-current"]),
        (neurons.LoihiIF(), ["voltage-floor"]),
        (neurons.LIF(), ["voltage-floor", "refractory"]),
        (neurons.LIF(min_voltage=-np.inf), ["refractory"]),
        (neurons.LoihiLIF(tau_ref=0.0), ["voltage-floor"]),
        (neurons.IF(v_init=0.5), ["initial-voltage", "rectified-current"]),
    ],
)
def test_neuron_differences_need_their_named_approximation(neuron, approximations):
    g = Graph("n")
    g.add("x", ops.Input(shape=(3,)))
    g.add("n", neuron, ["x"])
    g.add("y", ops.Output(), ["n"])
    with pytest.raises(snir.NIRExportError) as e:
        snir.to_nir(g)
    assert "%n (" in str(e.value)
    for a in approximations:
        assert a in str(e.value)
    assert f"--approximate {','.join(sorted(approximations))}" in str(e.value)
    snir.to_nir(g, approximate=approximations)
    assert snir.from_nir(snir.to_nir(g, approximate="all"), approximate="all").structurally_equal(g)


def test_graded_spikes_are_refused():
    g = Graph("graded")
    g.add("x", ops.Input(shape=(3,)))
    g.add("n", neurons.GradedIF(bits=4), ["x"])
    g.add("y", ops.Output(), ["n"])
    with pytest.raises(
        snir.NIRExportError, match=r"%n \(snn.graded_if\): it emits graded spikes \(spike4"
    ):
        snir.to_nir(g, approximate="all")


def test_rate_neurons_and_bad_options_are_refused():
    g, _ = sim_graphs.CASES["rate_neurons"]()
    with pytest.raises(snir.NIRExportError, match="rate_relu.*rate .non-spiking. neurons"):
        snir.to_nir(g, approximate="all")
    with pytest.raises(snnc.errors.SnncError, match="unknown approximation"):
        snir.to_nir(g, approximate="nonsense")


def test_ann_stage_graph_asks_for_lowering():
    g = snnc.load(DIGITS)
    with pytest.raises(snir.NIRExportError, match="lower-activations"):
        snir.to_nir(g)


def test_asymmetric_padding_and_bias_over_space_are_refused():
    g = Graph("pad")
    g.add("x", ops.Input(shape=(8, 8, 1)))
    g.add("c", ops.Conv2D(weight=np.ones((3, 3, 1, 2)), strides=(2, 2), padding="same"), ["x"])
    g.add("n", neurons.IF(bias=np.arange(32.0).reshape(4, 4, 2)), ["c"])
    g.add("y", ops.Output(), ["n"])
    with pytest.raises(snir.NIRExportError) as e:
        snir.to_nir(g, approximate="all")
    assert "%c (nn.conv2d): its padding [[0, 1], [0, 1]] is asymmetric" in str(e.value)
    assert "%n (snn.if): its bias varies over the [4, 4] positions" in str(e.value)


# =============================================================================== command


def _export_cli(argv: list[str]) -> int:
    from snnc.commands import export

    parser = argparse.ArgumentParser(prog="snnc")
    sub = parser.add_subparsers(dest="command")
    export.add_parser(sub).set_defaults(func=export.run)
    args = parser.parse_args(["export", *argv])
    return args.func(args)


def test_export_command_writes_a_nir_file(tmp_path, capsys):
    x = np.random.default_rng(0).uniform(0, 1, size=(8, 8, 8, 1))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "digits.nir"
    assert (
        _export_cli(
            [
                str(DIGITS),
                "--format",
                "nir",
                "--approximate",
                "rectified-current",
                "--calibration",
                str(tmp_path / "x.npy"),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "lowering the ANN" in err and "2 IF" in err
    from snnc.codegen import get_target

    g = snir.from_nir(out, approximate="rectified-current")
    want = snnc.optimize(DIGITS, get_target("nir").default_pipeline, calibration=x)
    assert g.structurally_equal(want)


def test_export_command_on_a_lowered_model_and_its_refusal(tmp_path):
    g, _ = sim_graphs.CASES["conv_lif"]()
    snnc.save(g, tmp_path / "model.snnc")
    with pytest.raises(snir.NIRExportError, match="--approximate refractory,voltage-floor"):
        _export_cli([str(tmp_path / "model.snnc"), "-o", str(tmp_path / "m.nir")])
    assert not (tmp_path / "m.nir").exists()
    assert (
        _export_cli(
            [str(tmp_path / "model.snnc"), "-a", "all", "--no-hints", "-o", str(tmp_path / "m.nir")]
        )
        == 0
    )
    ng = nir.read(tmp_path / "m.nir")
    assert all("snnc" not in n.metadata for n in ng.nodes.values())

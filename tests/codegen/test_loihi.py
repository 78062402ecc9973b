"""The loihi target: digits on nengo-loihi's emulator with every layer on the chip, placement,
no relay Nodes, refusals at compile time, partitioning and the resource report."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from snnc.codegen import compile_graph, get_target
from snnc.errors import CodegenError, SnncError
from snnc.ir import Graph, neurons, ops

sys.path.insert(0, str(ROOT / "examples/digits"))
from data import load_split  # noqa: E402

MODEL = ROOT / "examples/digits/digits_cnn.keras"


@pytest.fixture(scope="module")
def digits():
    import snnc

    x_train, _, x_test, y_test = load_split()
    return snnc.compile(MODEL, target="loihi", calibration=x_train[:200]), x_test, y_test


def test_digits_on_the_emulator_within_a_point_of_the_ann_at_32_steps(digits):
    import snnc

    c, x, y = digits
    out = c.run(x, steps=32, progress=False)
    assert out.shape == (len(x), 32, 10)
    spiking = np.mean(out[:, -1].argmax(-1) == y)  # the readout after 32 steps
    ann = np.mean(snnc.evaluate(snnc.load(MODEL), x).argmax(-1) == y)
    assert spiking >= ann - 0.01, (spiking, ann)


def test_every_model_layer_is_on_the_chip_and_the_input_encoder_on_the_host(digits):
    import nengo

    c, _, _ = digits
    place = {n: c.graph.op(n).place for n in c.graph.topo_order()}
    assert place["conv1.act"] == place["conv2.act"] == "chip"
    assert place["image"] == place["image.enc"] == place["logits.output"] == "host"
    assert place["conv1"] == place["conv2"] == "chip"  # synapses into chip neurons
    assert 'place="chip"' in str(c.graph)  # visible in dumps
    net, _, _ = c.build()
    ensembles = {e.label: e for e in net.all_ensembles}
    assert net.config[ensembles["image.enc"]].on_chip is False
    assert net.config[ensembles["conv1.act"]].on_chip is True
    assert net.config[ensembles["conv2.act"]].on_chip is True
    assert all(
        isinstance(ensembles[n].neuron_type, nengo.SpikingRectifiedLinear)
        for n in ("conv1.act", "conv2.act")
    )


def test_no_relay_nodes_every_chip_connection_is_neurons_to_neurons(digits):
    import nengo

    c, _, _ = digits
    net, inputs, _ = c.build()
    outputs = set(c.graph.outputs)
    for node in net.all_nodes:  # inputs, output nodes and constants only
        assert node in inputs.values() or node.label in outputs or node.label.endswith(".const")
    chip = {e for e in net.all_ensembles if net.config[e].on_chip}
    for conn in net.all_connections:
        post = conn.post_obj
        if isinstance(post, nengo.ensemble.Neurons) and post.ensemble in chip:
            assert isinstance(conn.pre_obj, nengo.ensemble.Neurons), conn
            kind = type(conn.transform).__name__
            assert kind in ("Dense", "Sparse", "Convolution", "NoTransform"), conn
        if isinstance(conn.pre_obj, nengo.ensemble.Neurons) and conn.pre_obj.ensemble in chip:
            if not isinstance(post, nengo.ensemble.Neurons):  # chip -> host: Dense only
                assert type(conn.transform).__name__ in ("Dense", "NoTransform"), conn
    kinds = {type(conn.transform).__name__ for conn in net.all_connections}
    assert "Convolution" in kinds  # the first layer's weights act on the encoder's spikes


def test_report_and_manifest_show_every_chip_layer(digits, tmp_path):
    c, _, _ = digits
    assert "Loihi resources, per layer" in c.report
    rows = {
        line.split()[0]: line
        for line in c.report.splitlines()
        if line.startswith(("conv", "image"))
    }
    assert " chip " in rows["conv1.act"] and " chip " in rows["conv2.act"]
    assert " host " in rows["image.enc"]
    c.save(tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    layers = {r["node"]: r for r in manifest["loihi"]["layers"]}
    assert layers["conv1.act"]["place"] == "chip" and layers["conv1.act"]["cores"] >= 1
    assert layers["conv1.act"]["compartments"] == 6 * 6 * 8
    assert layers["conv1.act"]["weight_bits"] == 8
    assert manifest["loihi"]["limits_per_core"]["compartments"] == 1024
    assert manifest["loihi"]["cores"] == sum(r.get("cores", 0) for r in layers.values())


def test_generated_module_places_ensembles_itself(digits, tmp_path):
    c, _, _ = digits
    c.save(tmp_path / "out")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import network;"
        "net, _, _ = network.build();"
        "print(sorted(e.label for e in net.all_ensembles if net.config[e].on_chip is False))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['image.enc']"


def test_first_layer_on_the_host_stays_available(digits):
    _, x, _ = digits
    import snnc

    x_train, _, _, _ = load_split()
    pipeline = get_target("loihi").default_pipeline.replace(
        "legalize-loihi", "legalize-loihi{input=host-layer}"
    )
    c = snnc.compile(MODEL, target="loihi", pipeline=pipeline, calibration=x_train[:200])
    assert c.graph.op("conv1.act").place == "host" and c.graph.op("conv2.act").place == "chip"
    assert "image.enc" not in c.graph
    out = c.run(x[:5], steps=10, progress=False)
    assert np.all(np.isfinite(out))


# =============================================================================== refusals


def _chain(*layers, n_in=4):
    """input -> (dense/relu layers) -> dense -> output, seeded."""
    rng = np.random.default_rng(0)
    g = Graph("chain")
    x = g.add("input", ops.Input(shape=(n_in,)))
    for i, layer in enumerate(layers):
        x = g.add(f"l{i}", layer(g.type(x).shape[-1], rng), [x])
    g.add("out", ops.Dense(weight=rng.normal(size=(g.type(x).shape[-1], 2))), [x])
    g.add("output", ops.Output(), ["out"])
    return g


def dense(n):
    return lambda n_in, rng: ops.Dense(weight=rng.normal(size=(n_in, n)) * 0.1)


def relu(n_in, rng):
    return ops.ReLU()


def test_single_hidden_layer_mlp_runs_on_the_chip():
    g = _chain(dense(6), relu)
    c = compile_graph(g, "loihi")
    assert c.graph.op("l1").place == "chip"
    out = c.run(np.random.default_rng(1).uniform(-1, 1, (3, 4)), steps=10, progress=False)
    assert out.shape == (3, 10, 2) and np.all(np.isfinite(out))


def test_hidden_sigmoid_is_refused_by_the_lowering_naming_the_node():
    g = _chain(dense(4), lambda n, r: ops.Sigmoid(), dense(4), relu)
    with pytest.raises(SnncError) as err:
        compile_graph(g, "loihi")
    assert "%l1" in str(err.value) and "sigmoid" in str(err.value)


def test_host_ops_and_rate_neurons_are_refused_all_at_once():
    rng = np.random.default_rng(0)
    g = Graph("lowered")
    g.add("input", ops.Input(shape=(4, 2)))
    g.add("dense", ops.Dense(weight=rng.normal(size=(2, 3))), ["input"])
    g.add("rate", neurons.RateReLU(), ["dense"])
    g.add("pool", ops.MaxPool(pool_size=(2,), strides=(2,)), ["rate"])
    g.add("act", neurons.LoihiIF(), ["pool"])
    g.add("output", ops.Output(), ["act"], synapses=[0.005])
    with pytest.raises(CodegenError) as err:
        compile_graph(g, "loihi", pipeline="")
    msg = str(err.value)
    assert "%rate (snn.rate_relu)" in msg and "--neuron loihi-if" in msg
    assert "%pool (nn.max_pool)" in msg and "max-to-avg-pool" in msg


def test_max_pooling_is_refused_by_default_and_rewritten_on_request():
    rng = np.random.default_rng(0)
    g = Graph("pool")
    g.add("input", ops.Input(shape=(4, 4, 1)))
    g.add("conv", ops.Conv2D(weight=rng.normal(size=(1, 1, 1, 2))), ["input"])
    g.add("conv.act", ops.ReLU(), ["conv"])
    g.add("pool", ops.MaxPool(pool_size=(2, 2), strides=(2, 2)), ["conv.act"])
    g.add("flat", ops.Flatten(), ["pool"])
    g.add("dense", ops.Dense(weight=rng.normal(size=(8, 2))), ["flat"])
    g.add("output", ops.Output(), ["dense"])
    with pytest.raises(SnncError) as err:
        compile_graph(g, "loihi")
    assert "%pool" in str(err.value) and "max-to-avg-pool" in str(err.value)
    pipeline = "max-to-avg-pool," + get_target("loihi").default_pipeline
    c = compile_graph(g, "loihi", pipeline)
    assert isinstance(c.graph.op("pool"), ops.AvgPool)
    assert "max-to-avg-pool: replaced max pooling by average pooling at %pool" in c.report


def test_the_loihi_pipeline_always_ends_with_its_legalization():
    t = get_target("loihi")
    assert t.pipeline_for("") == "legalize-loihi"
    assert t.pipeline_for("canonicalize").endswith("canonicalize,legalize-loihi")
    assert t.pipeline_for("legalize-loihi{input=host-layer},fuse-bias").startswith(
        "legalize-loihi{"
    )
    g = _chain(dense(3), relu)
    c = compile_graph(g, "loihi", pipeline="canonicalize,lower-activations{neuron=loihi-if}")
    assert c.graph.op("l1").place == "chip" and "input.enc" in c.graph


def test_an_unplaced_graph_is_refused_by_emit_with_the_pass_to_add():
    from snnc.passes import PassContext, run_pipeline

    g, _ = run_pipeline(
        _chain(dense(3), relu), "lower-activations{neuron=loihi-if}", PassContext.default()
    )
    with pytest.raises(CodegenError) as err:
        get_target("loihi").emit(g)
    assert "no Loihi placement" in str(err.value) and "legalize-loihi" in str(err.value)


def test_host_neurons_must_spike_at_most_once_a_step():
    g = _chain(dense(3), relu, dense(3), relu)
    pipeline = "lower-activations{neuron=if},legalize-loihi{input=host-layer}"
    with pytest.raises(CodegenError) as err:
        compile_graph(g, "loihi", pipeline)
    msg = str(err.value)
    assert "%l1" in msg and "more than one spike per step" in msg  # the host layer
    assert "%l3" in msg and "does not run on target 'loihi'" in msg  # the chip layer


def test_core_limits_are_checked_at_compile_time_naming_the_layer():
    # every one of 4200 neurons feeds each neuron of l3: more input axons than a core has,
    # however l3 is split; l1 (4200 neurons) is split over cores without complaint
    g = _chain(dense(4200), relu, dense(3), relu)
    with pytest.raises(CodegenError) as err:
        compile_graph(g, "loihi")
    msg = str(err.value)
    assert "%l3: in-axons 4200 > 4096" in msg and "splitting does not reduce it" in msg
    assert "fan-in" in msg and "%l1" not in msg


def test_large_layers_are_split_into_blocks_that_fit():
    g = _chain(dense(2500), relu)
    c = compile_graph(g, "loihi")
    layer = {r["node"]: r for r in c.manifest["loihi"]["layers"]}["l1"]
    assert layer["blocks"] == 4 and layer["compartments"] == 2500
    assert layer["block_shape"] == [625]
    out = c.run(np.random.default_rng(1).uniform(-1, 1, (2, 4)), steps=5, progress=False)
    assert np.all(np.isfinite(out))


def test_a_saved_loihi_artifact_loads_by_regenerating_it_and_runs_the_same(digits, tmp_path):
    from snnc.codegen import Compiled

    c, x, _ = digits
    loaded = Compiled.load(c.save(tmp_path / "out"))  # refuses files that differ
    assert loaded.source == c.source and loaded.manifest["loihi"] == c.manifest["loihi"]
    np.testing.assert_array_equal(
        loaded.run(x[:4], steps=8, progress=False), c.run(x[:4], steps=8, progress=False)
    )

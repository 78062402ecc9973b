"""The loihi target: digits on nengo-loihi's emulator, placement, refusals, core limits."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from snnc.codegen import compile_graph
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


def test_digits_spike_on_the_emulator_far_above_chance(digits):
    c, x, y = digits
    out = c.run(x[:60], steps=50, progress=False)
    assert out.shape == (60, 50, 10)
    acc = np.mean(out[:, 25:].mean(1).argmax(-1) == y[:60])
    assert acc > 0.85, acc  # chance is 0.1; the Keras model scores 0.96


def test_every_neuron_is_a_loihi_spiking_neuron_and_the_first_layer_is_on_the_host(digits):
    import nengo

    c, _, _ = digits
    kinds = {c.graph.op(n).kind for n in c.graph.nx if c.graph.op(n).dialect == "snn"}
    assert kinds == {"snn.loihi_if"}
    net, _, _ = c.build()
    ensembles = {e.label: e for e in net.all_ensembles}
    assert net.config[ensembles["conv1.act"]].on_chip is False  # fed by the input Node
    assert net.config[ensembles["conv2.act"]].on_chip is None  # default: on the chip
    assert all(isinstance(e.neuron_type, nengo.SpikingRectifiedLinear) for e in ensembles.values())
    assert "Loihi resources: 1 core(s)" in c.report


def test_generated_module_places_ensembles_itself(digits, tmp_path):
    c, _, _ = digits
    c.save(tmp_path / "out")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import network;"
        "net, _, _ = network.build();"
        "print(sorted(e.label for e in net.all_ensembles if net.config[e].on_chip is False))"
    )
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['conv1.act']"


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
    assert "%pool (nn.max_pool)" in msg and "average pooling" in msg


def test_core_limits_are_checked_at_compile_time_naming_the_block():
    # 4200 host neurons all feeding each chip neuron: more input axons than a core has
    g = _chain(dense(4200), relu, dense(3), relu)
    with pytest.raises(CodegenError) as err:
        compile_graph(g, "loihi")
    msg = str(err.value)
    assert "in-axons 4200 > 4096" in msg and "l3" in msg and "fan-in" in msg

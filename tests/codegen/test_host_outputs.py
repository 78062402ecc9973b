"""Keras models with sigmoid / tanh / softmax compiled and run (issue 11, item 5).

A rate lowering (``neuron=rate-relu``) keeps hidden sigmoid / tanh as nengo's exact rate
neurons and the output activations in the readout, so the compiled network equals Keras on
``nengo`` and ``nengo-dl``; the default (spiking) lowering refuses hidden ones naming the
nodes (exit 2 at the CLI), keeps a sigmoid output, and Loihi refuses what it cannot run.

Tolerance: the networks have rate neurons and no synapse, so one step gives the rate-mode
output. Keras computes in float32; nengo computes in float64, so the difference is Keras's
own rounding: a few float32 ulps per layer (~1e-7 relative) through four layers no wider
than 16 with values of order 1, far below 1e-5. nengo-dl computes in float32 too, with
another summation order: the same few ulps per layer (measured: 6e-8), also below 1e-5.
"""

from __future__ import annotations

import numpy as np
import pytest

import snnc
from snnc.cli import main
from snnc.codegen import Compiled
from snnc.codegen.emit.neurons import ACTIVATION_NEURONS
from snnc.errors import CodegenError, PassError
from snnc.passes.lower_activations import RATE_ACTIVATIONS

TOL = 1e-5
#: rate neurons for the ReLUs (so sigmoid / tanh stay), every output activation kept
RATE = (
    "canonicalize,fold-batchnorm,lower-activations{neuron=rate-relu,drop_softmax=false},fuse-bias"
)
X = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32) * 2


def _model(heads=("sigmoid", "softmax")):
    """Hidden sigmoid, tanh and relu layers; one output per activation in ``heads``, each a
    Dense followed by a separate Activation layer (so the logits are a Keras tensor too)."""
    import tensorflow as tf

    L = tf.keras.layers
    tf.keras.utils.set_random_seed(3)
    inp = L.Input((4,), name="x")
    h = L.Dense(16, activation="sigmoid", name="d1")(inp)
    h = L.Dense(16, activation="tanh", name="d2")(h)
    h = L.Dense(8, activation="relu", name="d3")(h)
    outs = [
        L.Activation(act, name=f"p{i}")(L.Dense(3, name=f"head{i}")(h))
        for i, act in enumerate(heads)
    ]
    return tf.keras.Model(inp, outs)


def _keras(model, x, logits=False):
    """Keras outputs as a list (``logits``: the heads' Dense outputs instead)."""
    import tensorflow as tf

    if logits:
        heads = [model.get_layer(f"head{i}").output for i in range(len(model.outputs))]
        model = tf.keras.Model(model.input, heads)
    y = model(x, training=False)
    return [np.asarray(v) for v in (y if isinstance(y, list) else [y])]


def _as_list(y):
    return y if isinstance(y, list) else [y]


def _emitted(c, node):
    return next(line for line in c.report.splitlines() if line.split()[:1] == [node])


def test_rate_network_with_hidden_sigmoid_and_tanh_equals_keras(target):
    model = _model()
    with snnc.compile(model, target, pipeline=RATE) as c:
        assert "nengo.Sigmoid Ensemble" in _emitted(c, "d1.act")
        assert "nengo.Tanh Ensemble" in _emitted(c, "d2.act")
        ys = _as_list(c.run(X, steps=1, progress=False))
    for y, ref in zip(ys, _keras(model, X), strict=True):
        np.testing.assert_allclose(y[:, 0], ref, rtol=TOL, atol=TOL)
    # the sigmoid output is a probability, exactly Keras's, 0.5 threshold included
    assert np.array_equal(ys[0][:, 0] > 0.5, _keras(model, X)[0] > 0.5)


def test_snnc_simulate_runs_the_kept_activations():
    model = _model()
    c = snnc.compile(model, "nengo", pipeline=RATE)
    ys = _as_list(snnc.simulate(c.graph, X, steps=2, dtype=np.float64))
    for y, ref in zip(ys, _keras(model, X), strict=True):
        np.testing.assert_allclose(y[:, -1], ref, rtol=TOL, atol=TOL)


def test_dropping_output_activations_gives_the_logits():
    model = _model()
    pipeline = RATE.replace("drop_softmax=false", "drop_softmax=true,output_activation=drop")
    with snnc.compile(model, "nengo", pipeline=pipeline) as c:
        ys = _as_list(c.run(X, steps=1, progress=False))
        assert "p0" not in c.graph.nx and "p1" not in c.graph.nx  # both activations gone
    refs, logits = _keras(model, X), _keras(model, X, logits=True)
    for y, logit, ref in zip(ys, logits, refs, strict=True):
        np.testing.assert_allclose(y[:, 0], logit, rtol=TOL, atol=TOL)
        assert np.array_equal(y[:, 0].argmax(-1), ref.argmax(-1))


def test_spiking_default_keeps_a_sigmoid_output():
    """The default pipeline (spiking iaf neurons) keeps a sigmoid output: the readout
    averages sigmoid(current) per step, close to Keras's probabilities."""
    import tensorflow as tf

    L = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    inp = L.Input((8,), name="x")
    h = L.Dense(32, activation="relu", name="d1")(inp)
    model = tf.keras.Model(inp, L.Dense(4, activation="sigmoid", name="out")(h))
    x = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    ref = _keras(model, x)[0]
    with snnc.compile(model, "nengo", calibration=x) as c:
        assert "snn.iaf" in _emitted(c, "d1.act") and "nengo.Sigmoid" in _emitted(c, "out.act")
        y = c.run(x, steps=100, progress=False)[:, -1]
    assert np.all((y > 0) & (y < 1))
    assert np.abs(y - ref).mean() < 0.02
    assert np.mean((y > 0.5) == (ref > 0.5)) >= 0.95


def test_cli_refuses_hidden_sigmoid_when_spiking_and_compiles_it_at_rate(tmp_path, capsys):
    model = _model(heads=("sigmoid",))
    path = tmp_path / "smooth.keras"
    model.save(path)
    out = tmp_path / "out"
    assert main(["compile", str(path), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "%d1.act: ann.sigmoid in a hidden layer" in err and "%d2.act: ann.tanh" in err
    assert "--neuron rate-relu" in err and "Traceback" not in err
    assert not out.exists()

    assert main(["compile", str(path), "--neuron", "rate-relu", "-o", str(out), "-q"]) == 0
    np.save(tmp_path / "x.npy", X)
    assert (
        main(
            [
                "run",
                str(out),
                "-i",
                str(tmp_path / "x.npy"),
                "-n",
                "1",
                "-o",
                str(tmp_path / "y.npy"),
                "-q",
            ]
        )
        == 0
    )
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_allclose(y[:, 0], _keras(model, X)[0], rtol=TOL, atol=TOL)
    with Compiled.load(out) as c:  # rebuilt from model.snnc: the kept ops survive the IR file
        np.testing.assert_allclose(c.run(X, steps=1, progress=False)[:, 0], y[:, 0], rtol=0, atol=0)


def test_loihi_refuses_what_it_cannot_run_naming_the_node():
    model = _model(heads=("sigmoid",))
    # the default spiking lowering: hidden sigmoid / tanh, named by the pass
    with pytest.raises(PassError) as err:
        snnc.compile(model, "loihi")
    assert "%d1.act" in str(err.value) and "%d2.act" in str(err.value)
    # a rate lowering keeps them; Loihi has neither neuron
    with pytest.raises(CodegenError) as err:
        snnc.compile(model, "loihi", neuron="rate-relu")
    assert "%d1.act (ann.sigmoid)" in str(err.value) and "Loihi has no sigmoid" in str(err.value)
    assert "%d2.act (ann.tanh)" in str(err.value)


def test_loihi_refuses_a_kept_output_sigmoid_and_names_the_remedy():
    import tensorflow as tf

    L = tf.keras.layers
    inp = L.Input((4,), name="x")
    h = L.Dense(6, activation="relu", name="d1")(inp)
    model = tf.keras.Model(inp, L.Dense(3, activation="sigmoid", name="out")(h))
    with pytest.raises(CodegenError) as err:
        snnc.compile(model, "loihi", calibration=X)
    assert "%out.act (ann.sigmoid)" in str(err.value)
    assert "output_activation=drop" in str(err.value)


def test_the_pass_keeps_exactly_what_codegen_emits_as_rate_neurons():
    assert set(RATE_ACTIVATIONS) == set(ACTIVATION_NEURONS)

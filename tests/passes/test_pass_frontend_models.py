"""The passes on real frontend output: every convertible model of the frontend zoo
(``tests/frontend/zoo.py``) and a model spelling ReLU five different ways.

Skips cleanly when the frontend (``snnc.frontend.load``) or the zoo is not available.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pytest

from snnc.errors import PassError
from snnc.ir import Stage, ops, verify
from snnc.passes import PassContext, run_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "frontend"))
import zoo  # noqa: E402

from snnc import frontend  # noqa: E402

ATOL = 1e-5
#: the nengo target's pipeline as of writing (the tests are about the passes, not about
#: which pipeline a target picks)
SNN_PIPELINE = "canonicalize,fold-batchnorm,lower-activations{neuron=if},fuse-bias,normalize-rates"


@functools.cache
def _converted(name: str):
    """(graph, inputs) of a zoo entry, converted once per session."""
    zm = zoo.get(name)
    g = frontend.load(zm.build())
    x = zoo.sample_inputs(zm, batch=4)
    return g, (x if len(x) > 1 else x[0])


def _outputs(g, x) -> list[np.ndarray]:
    from snnc.api import evaluate

    y = evaluate(g, x)
    return y if isinstance(y, list) else [y]


def _max_err(a, b, x) -> float:
    return max(
        float(np.max(np.abs(p - q), initial=0.0))
        for p, q in zip(_outputs(a, x), _outputs(b, x), strict=True)
    )


@pytest.mark.parametrize("name", [zm.name for zm in zoo.CONVERTIBLE])
def test_zoo_model_through_the_passes(name):
    g, x = _converted(name)
    for pipeline in ("canonicalize", "fold-batchnorm", "canonicalize,fold-batchnorm"):
        out, _ = run_pipeline(g, pipeline, PassContext.default(calibration=x))
        assert _max_err(g, out, x) <= ATOL, pipeline
    try:
        lowered, _ = run_pipeline(
            g,
            "canonicalize,fold-batchnorm,lower-activations{neuron=rate-relu,drop_softmax=false},fuse-bias",
        )
    except PassError as e:
        # only activations without a (rate) neuron equivalent (elu, a hidden softmax, ...,
        # ThresholdedReLU's jump) may be refused, by node name
        assert "non_relu" in zoo.get(name).tags or "(ThresholdedReLU)" in e.message, e.message
        assert "cannot lower" in e.message and "%" in e.message
        return
    assert _max_err(g, lowered, x) <= ATOL
    assert not [n for n in lowered.topo_order() if lowered.op(n).kind == "ann.relu"]
    try:
        snn, _ = run_pipeline(g, SNN_PIPELINE, PassContext.default(calibration=x))
    except PassError as e:
        # a spiking lowering refuses the hidden sigmoid / tanh the rate lowering kept
        assert "non_relu" in zoo.get(name).tags and "in a spiking network" in e.message, e.message
        return
    verify(snn)


def test_five_relu_spellings_lower_to_spiking_neurons():
    """string, tf.nn.relu, keras.activations.relu, a ReLU layer and Activation("relu")."""
    import tensorflow as tf

    L = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    inp = L.Input((4,), name="x")
    h = L.Dense(6, activation="relu", name="d_string")(inp)
    h = L.Dense(6, activation=tf.nn.relu, name="d_tf_nn")(h)
    h = L.Dense(6, activation=tf.keras.activations.relu, name="d_keras")(h)
    h = L.ReLU(name="relu_layer")(L.Dense(6, name="d_plain1")(h))
    h = L.Activation("relu", name="relu_activation")(L.Dense(6, name="d_plain2")(h))
    model = tf.keras.Model(inp, L.Dense(3, activation="softmax", name="head")(h))
    g = frontend.load(model)
    assert len(g.nodes_of("ann.relu")) == 5
    x = np.random.default_rng(0).uniform(-1, 1, (8, 4)).astype(np.float32)
    out, report = run_pipeline(g, SNN_PIPELINE, PassContext.default(calibration=x))
    neurons = [n for n in out.topo_order() if ops.is_neuron(out.op(n))]
    assert len(neurons) == 5 and all(ops.is_spiking(out.op(n)) for n in neurons)
    assert out.stage is Stage.SNN and not out.nodes_of("ann")
    assert report.stats["lower-activations"]["by_neuron"] == {"if": 5}
    # rate mode: the logits, so the decision, are unchanged
    logits = tf.keras.Model(model.input, model.get_layer("head").output)
    logits.get_layer("head").activation = tf.keras.activations.linear
    np.testing.assert_allclose(_outputs(out, x)[0], logits(x).numpy(), atol=1e-4)


@pytest.mark.parametrize("name", [zm.name for zm in zoo.CONVERTIBLE])
def test_zoo_model_rate_normalization_keeps_outputs(name):
    """normalize-rates (per layer and per channel, the low-latency defaults) leaves the
    rate-mode outputs of every lowerable zoo model unchanged."""
    g, x = _converted(name)
    try:
        lowered, _ = run_pipeline(
            g,
            "canonicalize,fold-batchnorm,lower-activations{neuron=if,v_init=0.5,drop_softmax=false},fuse-bias",
        )
    except PassError:
        pytest.skip("the model has activations without a neuron equivalent (tested above)")
    ctx = PassContext.default(calibration=x)
    for granularity in ("layer", "channel"):
        out, report = run_pipeline(lowered, f"normalize-rates{{granularity={granularity}}}", ctx)
        verify(out)
        scale = 1.0 + max(float(np.max(np.abs(y), initial=0.0)) for y in _outputs(lowered, x))
        assert _max_err(lowered, out, x) <= 1e-4 * scale, granularity
        assert report.stats["normalize-rates"]["scaled"] == len(
            [n for n in out.topo_order() if ops.is_spiking(out.op(n))]
        )

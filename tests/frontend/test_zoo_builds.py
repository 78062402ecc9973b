"""Sanity checks of the Keras model zoo itself (TensorFlow only, no snnc).

Every model builds, its reference outputs are finite and have the model's output shapes,
building is deterministic, all weights are randomized, and the zoo's metadata is coherent.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import zoo  # noqa: E402

MIN_CONVERTIBLE = 50
MIN_REFUSED = 6


def _output_shapes(model) -> list[tuple]:
    """The model's output shapes (with the batch dimension) as a list."""
    shapes = model.output_shape
    return list(shapes) if isinstance(shapes, list) else [shapes]


def test_zoo_size_and_unique_names():
    names = [zm.name for zm in zoo.ZOO]
    assert len(names) == len(set(names))
    assert len(zoo.CONVERTIBLE) >= MIN_CONVERTIBLE
    assert len(zoo.REFUSED) >= MIN_REFUSED
    assert "relu_spellings" in zoo.ZOO_BY_NAME


@pytest.mark.parametrize("zm", zoo.ZOO, ids=lambda zm: zm.name)
def test_builds_and_predicts(zm):
    model = zm.build()
    assert [tuple(t.shape[1:]) for t in model.inputs] == zm.input_shapes
    inputs = zoo.sample_inputs(zm, batch=3)
    outputs = zoo.reference_outputs(model, inputs)
    expected = _output_shapes(model)
    assert len(outputs) == len(expected)
    for out, shape in zip(outputs, expected, strict=True):
        assert out.shape == (3, *shape[1:])
        assert np.all(np.isfinite(out))
        assert np.ptp(out, axis=0).max() > 1e-6, "output does not depend on the input"
    if not zm.convertible:
        assert zm.refuse_layer in {layer.name for layer in zoo.leaf_layers(model)}
        assert "refused" in zm.tags
    else:
        assert zm.refuse_layer is None
    assert zoo.has_channels_first(model) == ("channels_first" in zm.tags)


@pytest.mark.parametrize("zm", zoo.ZOO, ids=lambda zm: zm.name)
def test_weights_randomized_and_deterministic(zm):
    first, second = zm.build(), zm.build()
    assert [layer.name for layer in first.layers] == [layer.name for layer in second.layers]
    for layer_a, layer_b in zip(zoo.leaf_layers(first), zoo.leaf_layers(second), strict=True):
        for var, w_a, w_b in zip(
            layer_a.weights, layer_a.get_weights(), layer_b.get_weights(), strict=True
        ):
            np.testing.assert_array_equal(w_a, w_b, err_msg=var.name)
            role = var.name.split("/")[-1].split(":")[0]
            if role == "bias":
                assert np.all(w_a != 0), var.name
            elif role in ("moving_variance", "gamma"):
                assert np.all(w_a > 0.1) and np.var(w_a) > 0.01, var.name
            elif w_a.size > 1:
                assert np.var(w_a) > 0, var.name


def test_sample_inputs_are_seeded():
    zm = zoo.get("multi_input")
    a, b = zoo.sample_inputs(zm, seed=1), zoo.sample_inputs(zm, seed=1)
    assert [x.shape for x in a] == [(4, *s) for s in zm.input_shapes]
    assert all(x.dtype == np.float32 and np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(x.min() >= -1 and x.max() <= 1 for x in a)
    assert not np.array_equal(a[0], zoo.sample_inputs(zm, seed=2)[0])


def test_relu_spellings():
    """The five spellings of ReLU are all present in ``relu_spellings``."""
    import tensorflow as tf

    layers = zoo.get("relu_spellings").build().layers
    activations = [getattr(layer, "activation", None) for layer in layers]
    assert tf.keras.activations.relu in activations
    assert tf.nn.relu in activations
    assert any(isinstance(layer, tf.keras.layers.ReLU) for layer in layers)
    assert any(isinstance(layer, tf.keras.layers.Activation) for layer in layers)
    configs = [layer.get_config().get("activation") for layer in layers]
    assert "relu" in configs

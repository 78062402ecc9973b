"""Random valid Keras models from the supported layer set: snnc equals Keras.

Hypothesis draws a *recipe* (a readable list of blocks, which it shrinks on failure): an
image input, then convolutions (kernel, strides, padding, dilation, bias, fused activation
in one of its spellings), average / max pooling, BatchNormalization, activation layers,
residual Add branches and Concatenate branches, then a Flatten or global pooling head and a
Dense layer. The model gets random weights (BatchNormalization statistics included), goes
to snnc in memory, as a ``.keras`` file or as a legacy ``.h5`` file, and
``snnc.evaluate(snnc.load(model), x)`` must equal Keras's output within 1e-5.
"""

from __future__ import annotations

import atexit
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import zoo
from hypothesis import given, settings
from hypothesis import strategies as st

import snnc

tf = zoo.tf
L = tf.keras.layers
WORK = Path(tempfile.mkdtemp(prefix="snnc-random-models-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)

#: ways of writing an activation (Keras serializes a function by its __name__)
ACTIVATIONS = {
    "relu": "relu",
    "tf.nn.relu": tf.nn.relu,
    "keras.activations.relu": tf.keras.activations.relu,
    "linear": "linear",
    "None": None,
    "relu6": tf.nn.relu6,
    "leaky_relu": tf.nn.leaky_relu,
    "sigmoid": "sigmoid",
    "tanh": tf.keras.activations.tanh,
}
#: activation layers
ACTIVATION_LAYERS = {
    "ReLU()": lambda: L.ReLU(),
    "Activation('relu')": lambda: L.Activation("relu"),
    "Activation(tf.nn.relu)": lambda: L.Activation(tf.nn.relu),
    "ReLU(max_value=6)": lambda: L.ReLU(max_value=6.0),
    "ReLU(negative_slope=0.1)": lambda: L.ReLU(negative_slope=0.1),
    "LeakyReLU(0.25)": lambda: L.LeakyReLU(0.25),
    "Activation('tanh')": lambda: L.Activation("tanh"),
}


def _out_size(size: int, k: int, stride: int, dilation: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return (size - ((k - 1) * dilation + 1)) // stride + 1


@st.composite
def recipes(draw, shape: tuple[int, int, int]) -> dict:
    """A random model recipe for ``shape`` inputs; sizes are tracked so every window fits."""
    h, w, c = shape
    blocks = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "pool", "bn", "act", "add", "concat"]))
        if kind in ("conv", "pool"):
            padding = draw(st.sampled_from(["valid", "same"]))
            k = draw(st.integers(1, 3))
            stride = draw(st.integers(1, 2))
            dilation = draw(st.integers(1, 2)) if kind == "conv" and stride == 1 else 1
            if padding == "valid" and (k - 1) * dilation + 1 > min(h, w):
                padding = "same"
            block = {"kind": kind, "k": k, "stride": stride, "padding": padding}
            if kind == "conv":
                c = draw(st.integers(1, 4))
                block.update(
                    filters=c,
                    dilation=dilation,
                    bias=draw(st.booleans()),
                    activation=draw(st.sampled_from(sorted(ACTIVATIONS))),
                )
            else:
                block["max"] = draw(st.booleans())
            h = _out_size(h, k, stride, dilation, padding)
            w = _out_size(w, k, stride, dilation, padding)
        elif kind == "act":
            block = {"kind": kind, "layer": draw(st.sampled_from(sorted(ACTIVATION_LAYERS)))}
        elif kind == "add":  # x + act(conv_same(x))
            block = {"kind": kind, "activation": draw(st.sampled_from(sorted(ACTIVATIONS)))}
        elif kind == "concat":  # concat(conv_a(x), conv_b(x)) along channels
            a, b = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            block = {"kind": kind, "filters": (a, b), "k": (draw(st.integers(1, 3)), 1)}
            c = a + b
        else:
            block = {"kind": kind}
        blocks.append(block)
    return {
        "blocks": blocks,
        "head": draw(st.sampled_from(["flatten", "gap", "gmp"])),
        "units": draw(st.integers(1, 4)),
        "out_activation": draw(st.sampled_from(["linear", "softmax", "relu"])),
        "via": draw(st.sampled_from(["memory", "keras", "h5"])),
        "seed": draw(st.integers(0, 2**16)),
    }


def build(recipe: dict, shape: tuple[int, int, int]) -> tf.keras.Model:
    """The functional Keras model of ``recipe`` on ``shape`` inputs, weights randomized."""
    x = inp = tf.keras.Input(shape)
    for b in recipe["blocks"]:
        kind = b["kind"]
        if kind == "conv":
            x = L.Conv2D(
                b["filters"],
                b["k"],
                strides=b["stride"],
                padding=b["padding"],
                dilation_rate=b["dilation"],
                use_bias=b["bias"],
                activation=ACTIVATIONS[b["activation"]],
            )(x)
        elif kind == "pool":
            pool = L.MaxPooling2D if b["max"] else L.AveragePooling2D
            x = pool(b["k"], strides=b["stride"], padding=b["padding"])(x)
        elif kind == "bn":
            x = L.BatchNormalization()(x)
        elif kind == "act":
            x = ACTIVATION_LAYERS[b["layer"]]()(x)
        elif kind == "add":
            y = L.Conv2D(x.shape[-1], 3, padding="same", activation=ACTIVATIONS[b["activation"]])(x)
            x = L.Add()([x, y])
        elif kind == "concat":
            ya = L.Conv2D(b["filters"][0], b["k"][0], padding="same")(x)
            yb = L.Conv2D(b["filters"][1], b["k"][1], padding="same", activation="relu")(x)
            x = L.Concatenate()([ya, yb])
    head = {"flatten": L.Flatten, "gap": L.GlobalAveragePooling2D, "gmp": L.GlobalMaxPooling2D}
    x = head[recipe["head"]]()(x)
    out = L.Dense(recipe["units"], activation=recipe["out_activation"])(x)
    model = tf.keras.Model(inp, out)
    zoo.randomize_weights(model, recipe["seed"])
    return model


@st.composite
def cases(draw) -> tuple[dict, tuple[int, int, int]]:
    """An input shape and a recipe for it."""
    shape = (draw(st.integers(4, 10)), draw(st.integers(4, 10)), draw(st.integers(1, 3)))
    return draw(recipes(shape)), shape


def check(recipe: dict, shape) -> None:
    model = build(recipe, shape)
    x = np.random.default_rng(recipe["seed"]).uniform(-1, 1, (3, *shape)).astype(np.float32)
    want = zoo.reference_outputs(model, [x])[0]
    source = model
    if recipe["via"] != "memory":
        source = WORK / f"model.{recipe['via']}"
        model.save(source, save_format="keras_v3" if recipe["via"] == "keras" else "h5")
    got = snnc.evaluate(snnc.load(source), x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@settings(max_examples=10, deadline=None)
@given(case=cases())
def test_random_model_equals_keras(case):
    check(*case)


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(case=cases())
def test_random_model_equals_keras_long(case):
    check(*case)


def test_recipes_cover_the_layer_set():
    """The strategy can reach every block kind, activation spelling and source."""
    seen: set = set()

    @settings(max_examples=150, deadline=None, database=None)
    @given(case=cases())
    def sample(case):
        recipe, _ = case
        seen.add(("via", recipe["via"]))
        seen.add(("head", recipe["head"]))
        for b in recipe["blocks"]:
            seen.add(("kind", b["kind"]))
            seen.update(("padding", b[k]) for k in ("padding",) if k in b)
            seen.update(("activation", b[k]) for k in ("activation",) if k in b)
            seen.update(("layer", b[k]) for k in ("layer",) if k in b)

    sample()
    assert {("kind", k) for k in ("conv", "pool", "bn", "act", "add", "concat")} <= seen
    assert {("via", v) for v in ("memory", "keras", "h5")} <= seen
    assert {("padding", "valid"), ("padding", "same")} <= seen
    assert len({s for s in seen if s[0] == "activation"}) >= 6

"""Unsupported models: every problem is found before anything is returned and reported in
one UnsupportedModelError naming each layer, its class and the reason."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import zipfile  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import snnc.frontend  # noqa: E402
from snnc.errors import UnsupportedModelError  # noqa: E402
from snnc.frontend.keras.builder import build_graph  # noqa: E402
from snnc.frontend.keras.reader import read_model_object  # noqa: E402

L = tf.keras.layers


def _problems(source) -> list[tuple[str, str, str]]:
    with pytest.raises(UnsupportedModelError) as info:
        snnc.frontend.load(source)
    return info.value.problems


def test_three_unsupported_layers_in_one_error():
    x = inp = tf.keras.Input((6, 2), name="input")
    x = L.LSTM(4, return_sequences=True, name="lstm")(x)
    x = L.Dense(4, name="between")(x)  # fine, but fed by a refused layer
    x = L.Lambda(lambda t: t * 2, name="double")(x)
    y = L.Multiply(name="product")([x, L.Dense(4)(inp)])
    model = tf.keras.Model(inp, L.Dense(2)(L.Flatten()(y)), name="bad")
    with pytest.raises(UnsupportedModelError) as info:
        snnc.frontend.load(model)
    err = info.value
    assert [(n, c) for n, c, _ in err.problems] == [
        ("lstm", "LSTM"),
        ("double", "Lambda"),
        ("product", "Multiply"),
    ]
    assert "recurrent" in err.problems[0][2] and "nonlinear" in err.problems[2][2]
    text = str(err)
    assert "cannot convert 3 layer(s)" in text and "<in-memory model 'bad'>" in text
    assert all(f"layer '{n}'" in text for n in ("lstm", "double", "product"))


def test_problem_in_nested_model_names_the_path_once():
    inner = tf.keras.Sequential(
        [tf.keras.Input((4,)), L.Dense(3), L.Lambda(lambda t: t, name="lam")], name="inner"
    )
    x = inp = tf.keras.Input((4,))
    y = L.Concatenate()([inner(x), inner(L.Dense(4)(x))])  # called twice, reported once
    problems = _problems(tf.keras.Model(inp, L.Dense(2)(y)))
    assert [(n, c) for n, c, _ in problems] == [("inner/lam", "Lambda")]


def test_unknown_activation_function():
    def my_act(t):
        return t

    model = tf.keras.Sequential([tf.keras.Input((3,)), L.Dense(2, activation=my_act, name="d")])
    ((name, cls, reason),) = _problems(model)
    assert (name, cls) == ("d", "Dense") and "activation 'my_act' is not supported" in reason


def test_variable_size_input_is_reported_once():
    x = inp = tf.keras.Input((None, 3), name="seq")
    x = L.GlobalAveragePooling1D()(L.Conv1D(4, 3)(x))
    ((name, cls, reason),) = _problems(tf.keras.Model(inp, L.Dense(2)(x)))
    assert (name, cls) == ("seq", "InputLayer") and "unknown size" in reason


def test_time_distributed_over_refused_layer():
    model = tf.keras.Sequential(
        [
            tf.keras.Input((3, 4, 2)),
            L.TimeDistributed(L.LSTM(2), name="td"),
            L.Flatten(),
            L.Dense(2),
        ]
    )
    ((name, cls, reason),) = _problems(model)
    assert (name, cls) == ("td", "TimeDistributed") and "recurrent" in reason


def test_prelu_with_learned_slopes():
    model = tf.keras.Sequential([tf.keras.Input((3,)), L.Dense(4), L.PReLU(name="p"), L.Dense(2)])
    model.get_layer("p").set_weights([np.array([0.1, 0.2, 0.3, 0.4])])
    ((name, cls, reason),) = _problems(model)
    assert (name, cls) == ("p", "PReLU") and "per-unit slopes" in reason


def test_subclassed_model():
    class Net(tf.keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.d = L.Dense(2)

        def call(self, x):
            return self.d(x)

    net = Net()
    net(np.zeros((1, 3), np.float32))
    ((name, cls, reason),) = _problems(net)
    assert (name, cls) == ("net", "Net") and "subclassed" in reason


def _edit_config(src, dst, edit) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            zout.writestr(item, data)


def test_unread_options_are_reported(tmp_path):
    model = tf.keras.Sequential(
        [tf.keras.Input((3,)), L.Dense(4, name="a"), L.Dense(4, name="b"), L.Dense(2, name="c")],
        name="opts",
    )
    model.save(tmp_path / "m.keras", save_format="keras_v3")

    def edit(config):
        layers = config["config"]["layers"]
        layers[1]["config"]["frobnicate"] = 3  # unknown option
        layers[2]["config"]["lora_rank"] = 4  # known option, not at its harmless default
        layers[3]["config"]["lora_rank"] = None  # at its default: fine

    _edit_config(tmp_path / "m.keras", tmp_path / "edited.keras", edit)
    problems = _problems(tmp_path / "edited.keras")
    assert problems == [
        ("a", "Dense", "unsupported option(s): frobnicate=3"),
        ("b", "Dense", "unsupported option(s): lora_rank=4"),
    ]


def test_raw_keras_ops_are_refused(tmp_path):
    """Keras 3 records ``x + y`` on Keras tensors as an operation whose class name (Add)
    is also a layer's: the module tells them apart."""
    model = tf.keras.Model(*(lambda i: (i, L.Add(name="plus")([i, i])))(tf.keras.Input((3,))))
    model.save(tmp_path / "m.keras", save_format="keras_v3")

    def edit(config):
        config["config"]["layers"][1]["module"] = "keras.src.ops.numpy"

    _edit_config(tmp_path / "m.keras", tmp_path / "ops.keras", edit)
    ((name, cls, reason),) = _problems(tmp_path / "ops.keras")
    assert (name, cls) == ("plus", "Add") and "keras.ops" in reason


def test_hard_sigmoid_follows_the_keras_version():
    model = tf.keras.Sequential(
        [tf.keras.Input((3,)), L.Dense(2, activation="hard_sigmoid", name="d")]
    )
    spec = read_model_object(model)
    assert build_graph(spec, "m").op("d.act").slope == 0.2  # Keras 2: clip(0.2 x + 0.5)
    spec.keras_version = "3.1.0"
    op = build_graph(spec, "m").op("d.act")
    assert op.slope == pytest.approx(1 / 6) and op.offset == 0.5  # Keras 3: relu6(x + 3) / 6

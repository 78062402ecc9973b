"""Config parsing details, on hand-written configs (no TensorFlow needed)."""

from __future__ import annotations

import pytest

from snnc.errors import ModelFileError, UnsupportedModelError
from snnc.frontend.keras.builder import build_graph
from snnc.frontend.keras.reader import snake_case
from snnc.frontend.keras.registry import REFUSED, supported_layers
from snnc.frontend.keras.spec import ConfigError, TensorRef, parse_model_config


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        ("Dense", "dense"),
        ("Conv2D", "conv2d"),
        ("ReLU", "re_lu"),
        ("LeakyReLU", "leaky_re_lu"),
        ("DepthwiseConv2D", "depthwise_conv2d"),
        ("BatchNormalization", "batch_normalization"),
        ("InputLayer", "input_layer"),
        ("GlobalAveragePooling2D", "global_average_pooling2d"),
        ("UpSampling2D", "up_sampling2d"),
        ("Conv2DTranspose", "conv2d_transpose"),
        ("TimeDistributed", "time_distributed"),
        ("Functional", "functional"),
    ],
)
def test_snake_case_matches_keras(cls, name):
    assert snake_case(cls, keras3=True) == name
    assert snake_case(cls, keras3=False) == name


def _layer(cls, name, **config):
    return {"class_name": cls, "config": {"name": name, **config}}


def _k3_tensor(layer, node=0, index=0):
    return {
        "class_name": "__keras_tensor__",
        "config": {"shape": [None, 4], "dtype": "float32", "keras_history": [layer, node, index]},
    }


def test_keras2_sequential_without_input_layer():
    spec = parse_model_config(
        {
            "class_name": "Sequential",
            "config": {
                "name": "s",
                "layers": [
                    _layer("Flatten", "flat", batch_input_shape=[None, 2, 3]),
                    _layer("ReLU", "r"),
                ],
            },
        }
    )
    assert [layer.name for layer in spec.layers] == ["flat_input", "flat", "r"]
    assert spec.synthetic_input and spec.inputs == [TensorRef("flat_input")]
    g = build_graph(spec, "s.keras")
    assert g.inputs == ["flat_input"] and g.type("flat_input").shape == (2, 3)
    assert g.outputs == ["r.output"]


def test_sequential_never_built_is_reported():
    spec = parse_model_config(
        {"class_name": "Sequential", "config": {"name": "s", "layers": [_layer("ReLU", "r")]}}
    )
    with pytest.raises(UnsupportedModelError, match="model was never built"):
        build_graph(spec, "s.keras")


def _k3_functional(name, layers, inputs, outputs):
    return {
        "module": "keras",
        "class_name": "Functional",
        "config": {
            "name": name,
            "layers": layers,
            "input_layers": inputs,
            "output_layers": outputs,
        },
    }


def _k3_input(name, shape):
    return {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "name": name,
        "config": {"name": name, "batch_shape": [None, *shape]},
        "inbound_nodes": [],
    }


def _k3_call(cls, name, args, **config):
    return {
        "module": "keras.layers",
        "class_name": cls,
        "name": name,
        "config": {"name": name, **config},
        "inbound_nodes": [{"args": a, "kwargs": {}} for a in args],
    }


def test_keras3_nested_functional_counts_its_own_node():
    inner = _k3_functional(
        "inner",
        [_k3_input("i", [4]), _k3_call("ReLU", "r", [[_k3_tensor("i")]])],
        ["i", 0, 0],
        ["r", 0, 0],
    )
    inner.update(
        name="inner",
        inbound_nodes=[
            {"args": [_k3_tensor("x")], "kwargs": {}},
            {"args": [_k3_tensor("inner", 1)], "kwargs": {}},
        ],
    )
    top = _k3_functional(
        "outer",
        [
            _k3_input("x", [4]),
            inner,
            _k3_call("Add", "add", [[[_k3_tensor("inner", 1), _k3_tensor("inner", 2)]]]),
        ],
        {"x": ["x", 0, 0]},
        [["add", 0, 0]],
    )
    spec = parse_model_config(top, "3.1.0")
    assert spec.layer("inner").calls == [[TensorRef("x")], [TensorRef("inner", 0)]]
    assert spec.layer("add").calls == [[TensorRef("inner", 0), TensorRef("inner", 1)]]
    g = build_graph(spec, "m.keras")
    assert g.inputs_of("inner.call1/r") == ["inner/r"]
    assert g.inputs_of("add") == ["inner/r", "inner.call1/r"]


def test_keras3_nested_sequential_has_no_extra_node():
    inner = {
        "module": "keras",
        "class_name": "Sequential",
        "name": "seq",
        "config": {
            "name": "seq",
            "layers": [_k3_input("si", [4]) | {"name": None}, _k3_call("ReLU", "r", [])],
        },
        "inbound_nodes": [{"args": [_k3_tensor("x")], "kwargs": {"mask": None}}],
    }
    top = _k3_functional("outer", [_k3_input("x", [4]), inner], ["x", 0, 0], ["seq", 0, 0])
    g = build_graph(parse_model_config(top, "3.1.0"), "m.keras")
    assert g.outputs == ["seq.output"] and g.inputs_of("seq/r") == ["x"]


def test_bad_configs():
    with pytest.raises(ConfigError, match="not a Sequential or functional"):
        parse_model_config({"class_name": "MyNet", "config": {}})
    with pytest.raises(ConfigError, match="unknown layer 'ghost'"):
        parse_model_config(_k3_functional("m", [_k3_input("x", [4])], ["x", 0, 0], ["ghost", 0, 0]))


def test_inputs_that_never_arrive():
    top = _k3_functional(
        "m",
        [
            _k3_input("x", [4]),
            _k3_call("ReLU", "a", [[_k3_tensor("b")]]),
            _k3_call("ReLU", "b", [[_k3_tensor("a")]]),
        ],
        ["x", 0, 0],
        ["b", 0, 0],
    )
    with pytest.raises(ModelFileError, match="never become available"):
        build_graph(parse_model_config(top, "3.1.0"), "m.keras")


def test_registry_covers_the_brief():
    names = set(supported_layers())
    for cls in (
        "Dense",
        "Conv1D",
        "Conv2D",
        "Conv3D",
        "Conv2DTranspose",
        "DepthwiseConv2D",
        "DepthwiseConv1D",
        "SeparableConv1D",
        "SeparableConv2D",
        "AveragePooling3D",
        "MaxPooling1D",
        "GlobalMaxPooling3D",
        "Flatten",
        "Reshape",
        "Permute",
        "ZeroPadding3D",
        "Cropping1D",
        "UpSampling3D",
        "Dropout",
        "SpatialDropout3D",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
        "ActivityRegularization",
        "Rescaling",
        "BatchNormalization",
        "Activation",
        "ReLU",
        "LeakyReLU",
        "Softmax",
        "ELU",
        "PReLU",
        "Add",
        "Subtract",
        "Average",
        "Concatenate",
        "TimeDistributed",
        "Normalization",
    ):
        assert cls in names, cls
    assert not names & set(REFUSED)

"""Every malformed config ends in an SnncError that names the file and says what is wrong,
never in a traceback: one case per probe category of issue 11 (bad shapes, bad option
values and types, structural damage), each a small edit of a real fixture."""

from __future__ import annotations

import copy
import json

import pytest
from model_files import FIXTURES, config_of, input_layer, rezip, sequential, write_keras

import snnc.frontend
from snnc.errors import SnncError
from snnc.frontend import LimitError

CNN = "cnn"  # 0 InputLayer 8x8x1, 1 Conv2D 3x3 relu, 2 AveragePooling2D, 3 Flatten, 4 Dense
BN = "cnn_bn"  # 1 Conv2D same, 2 BatchNormalization, 3 ReLU, 4 MaxPooling2D, 5 GAP, 6 Dense
RES = "functional_residual"  # 0 image, 1 conv2d, 2 activation, 3 add, 4 concatenate, ...
NESTED = "rescaling_nested"  # 1 Rescaling 'rescale'


def _set(layer: int, key: str, value):
    def edit(c):
        c["config"]["layers"][layer]["config"][key] = value

    return edit


def _entry(layer: int, key: str, value):
    def edit(c):
        c["config"]["layers"][layer][key] = value

    return edit


def _top(key: str, value):
    def edit(c):
        c["config"][key] = value

    return edit


def _history(layer: int, history):
    """Replace the first keras_history of a functional layer's first inbound node."""

    def edit(c):
        node = c["config"]["layers"][layer]["inbound_nodes"][0]
        tensor = node["args"][0]
        tensor = tensor[0] if isinstance(tensor, list) else tensor
        tensor["config"]["keras_history"] = history

    return edit


def _replace(edit_whole):
    return edit_whole


# (id, fixture, edit of the parsed config.json, fragment the message must hold)
CASES = [
    # ---- Input shapes
    ("input_negative", CNN, _set(0, "batch_shape", [None, -8, 8, 1]), "not a positive integer"),
    ("input_zero", CNN, _set(0, "batch_shape", [None, 0, 8, 1]), "not a positive integer"),
    ("input_string_dim", CNN, _set(0, "batch_shape", [None, "8", 8, 1]), "not a positive integer"),
    ("input_float_dim", CNN, _set(0, "batch_shape", [None, 8.0, 8, 1]), "not a positive integer"),
    ("input_bool_dim", CNN, _set(0, "batch_shape", [None, True, 8, 1]), "not a positive integer"),
    ("input_shape_string", CNN, _set(0, "batch_shape", "abc"), "not a list of sizes"),
    ("input_shape_object", CNN, _set(0, "batch_shape", {"a": 1}), "not a list of sizes"),
    ("input_shape_missing", CNN, _set(0, "batch_shape", None), "its shape is unknown"),
    (
        "input_dtype_string",
        CNN,
        _set(0, "dtype", "string"),
        "its dtype is 'string' (expected real numbers",
    ),
    ("input_dtype_complex", CNN, _set(0, "dtype", "complex64"), "its dtype is 'complex64'"),
    ("input_dtype_number", CNN, _set(0, "dtype", 5), "its dtype 5 is not understood"),
    ("input_unknown_dim", CNN, _set(0, "batch_shape", [None, None, 8, 1]), "unknown size"),
    # ---- windows: sizes, strides, kernel larger than input
    (
        "pool_stride_0",
        CNN,
        _set(2, "strides", [0, 0]),
        "strides: expected a whole number >= 1, got 0",
    ),
    ("pool_stride_negative", CNN, _set(2, "strides", -2), "strides: expected a whole number >= 1"),
    ("pool_size_0", CNN, _set(2, "pool_size", [0, 2]), "pool_size: expected a whole number >= 1"),
    (
        "pool_size_string",
        CNN,
        _set(2, "pool_size", "2"),
        "pool_size: expected a whole number, got '2'",
    ),
    ("pool_size_float", CNN, _set(2, "pool_size", [2.5, 2]), "expected a whole number, got 2.5"),
    ("pool_size_rank", CNN, _set(2, "pool_size", [2, 2, 2]), "pool_size: expected 2 entries"),
    ("pool_larger_than_input", CNN, _set(2, "pool_size", [20, 20]), "does not fit input size 6"),
    (
        "pool_padding_int",
        CNN,
        _set(2, "padding", 5),
        "padding 5 is not supported (expected 'valid' or 'same')",
    ),
    ("conv_stride_0", CNN, _set(1, "strides", [0, 1]), "strides: expected a whole number >= 1"),
    (
        "conv_dilation_0",
        CNN,
        _set(1, "dilation_rate", 0),
        "dilation_rate: expected a whole number >= 1",
    ),
    ("conv_groups_0", CNN, _set(1, "groups", 0), "groups: expected a whole number >= 1"),
    ("conv_groups_string", CNN, _set(1, "groups", "one"), "groups: expected a whole number"),
    (
        "conv_kernel_size_mismatch",
        CNN,
        _set(1, "kernel_size", [5, 5]),
        "kernel: expected shape [5, 5, in, out]",
    ),
    (
        "conv_kernel_size_missing",
        CNN,
        _set(1, "kernel_size", None),
        "kernel_size: expected a whole number",
    ),
    (
        "conv_kernel_larger_than_input",
        CNN,
        _set(0, "batch_shape", [None, 2, 2, 1]),
        "does not fit input size 2",
    ),
    (
        "conv_padding_causal_2d",
        CNN,
        _set(1, "padding", "causal"),
        "padding 'causal' is not supported (expected 'valid' or 'same')",
    ),
    (
        "conv_data_format",
        CNN,
        _set(1, "data_format", "channels_middle"),
        "data_format 'channels_middle'",
    ),
    # ---- option values of the wrong type or not finite
    ("activation_int", CNN, _set(1, "activation", 5), "activation '5' is not supported"),
    (
        "activation_unknown",
        CNN,
        _set(1, "activation", "mish"),
        "activation 'mish' is not supported",
    ),
    (
        "bn_epsilon_string",
        BN,
        _set(2, "epsilon", "small"),
        "epsilon: expected a number, got 'small'",
    ),
    (
        "bn_epsilon_nan",
        BN,
        _set(2, "epsilon", float("nan")),
        "epsilon=nan (expected finite numbers)",
    ),
    ("bn_epsilon_inf", BN, _set(2, "epsilon", float("inf")), "epsilon=inf"),
    ("bn_epsilon_negative", BN, _set(2, "epsilon", -100.0), "var + epsilon must be positive"),
    ("bn_axis_float", BN, _set(2, "axis", 1.5), "axis: expected a whole number, got 1.5"),
    ("bn_axis_batch", BN, _set(2, "axis", 0), "batch axis"),
    ("bn_axis_out_of_range", BN, _set(2, "axis", 9), "out of range"),
    (
        "relu_max_value_string",
        BN,
        _set(3, "max_value", "6"),
        "max_value: expected a number, got '6'",
    ),
    ("relu_max_value_nan", BN, _set(3, "max_value", float("nan")), "max_value=nan"),
    (
        "relu_slope_bool",
        BN,
        _set(3, "negative_slope", True),
        "negative_slope: expected a number, got True",
    ),
    (
        "rescaling_scale_string",
        NESTED,
        _set(1, "scale", "big"),
        "could not convert string to float",
    ),
    ("rescaling_scale_nan", NESTED, _set(1, "scale", float("nan")), "expected finite numbers"),
    ("rescaling_scale_nested", NESTED, _set(1, "scale", [[1.0], 2.0]), "config cannot be read"),
    (
        "concat_axis_string",
        RES,
        _set(4, "axis", "last"),
        "axis: expected a whole number, got 'last'",
    ),
    ("dense_use_bias_off", CNN, _set(4, "use_bias", False), "should have 1 weight array(s)"),
    # ---- structure: wrong JSON types, missing keys
    ("layers_not_a_list", CNN, _top("layers", {"a": 1}), "has no 'layers' list"),
    ("layer_config_list", CNN, _entry(2, "config", [1, 2]), "config that is not an object"),
    ("layer_config_string", CNN, _entry(2, "config", "pool"), "config that is not an object"),
    (
        "layer_without_class",
        CNN,
        lambda c: c["config"]["layers"][2].pop("class_name"),
        "has no 'class_name'",
    ),
    (
        "layer_class_not_string",
        CNN,
        _entry(2, "class_name", ["AveragePooling2D"]),
        "class_name is not a string",
    ),
    (
        "layer_without_name",
        CNN,
        lambda c: c["config"]["layers"][2]["config"].pop("name"),
        "has no name",
    ),
    ("layer_name_not_string", CNN, _set(2, "name", 7), "has no name (got 7)"),
    ("duplicate_names", CNN, _set(3, "name", "dense"), "two layers with the same name"),
    # names are data; only what no file can hold (NUL, lone surrogates) is refused
    (
        "layer_name_nul",
        CNN,
        _set(2, "name", "po\x00ol"),
        "layer 'po\\x00ol' (AveragePooling2D): layer name",
    ),
    ("layer_name_surrogate", CNN, _set(3, "name", "fl\ud800at"), "contains a lone surrogate"),
    (
        "input_name_nul",
        CNN,
        _set(0, "name", "in\x00put"),
        "(InputLayer): layer name 'in\\x00put' contains a NUL",
    ),
    (
        "model_name_nul",
        CNN,
        _top("name", "cnn\x00"),
        "graph name 'cnn\\x00' contains a NUL character",
    ),
    ("model_name_surrogate", RES, _top("name", "\udc80"), "contains a lone surrogate"),
    (
        "unknown_class",
        CNN,
        _entry(3, "class_name", "Frobnicate"),
        "unknown layer class 'Frobnicate'",
    ),
    (
        "config_missing_key",
        CNN,
        lambda c: c["config"]["layers"][2]["config"].pop("pool_size"),
        "KeyError: 'pool_size'",
    ),
    (
        "inbound_nodes_string",
        RES,
        _entry(2, "inbound_nodes", "conv2d"),
        "inbound_nodes of layer 'activation' are not a list",
    ),
    (
        "inbound_node_number",
        RES,
        _entry(2, "inbound_nodes", [5]),
        "inbound node in an unknown form",
    ),
    ("history_string_index", RES, _history(2, ["conv2d", "0", 0]), "not [layer, node, tensor]"),
    ("history_short", RES, _history(2, ["conv2d"]), "not [layer, node, tensor]"),
    ("history_unknown_layer", RES, _history(2, ["nope", 0, 0]), "unknown layer 'nope'"),
    ("history_negative_tensor", RES, _history(2, ["conv2d", 0, -1]), "refers to tensor -1"),
    ("history_missing_output", RES, _history(2, ["conv2d", 0, 3]), "has no output 3"),
    (
        "history_cycle",
        RES,
        _history(2, ["activation", 0, 0]),
        "inputs never become available (activation, add",
    ),
    ("history_missing", RES, _history(2, None), "not [layer, node, tensor]"),
    ("output_layers_empty", RES, _top("output_layers", []), "has no inputs or no outputs"),
    ("output_layers_bad_call", RES, _top("output_layers", [["dense", 5, 0]]), "refers to call 5"),
    ("output_layers_number", RES, _top("output_layers", 5), "bad input/output list"),
]


@pytest.mark.parametrize(("case", "fixture", "edit", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_malformed_config(case, fixture, edit, fragment, tmp_path):
    src = FIXTURES / f"{fixture}.keras"
    config = copy.deepcopy(config_of(src))
    edit(config)
    path = rezip(src, tmp_path / f"{case}.keras", {"config.json": json.dumps(config)})
    with pytest.raises(SnncError) as info:
        snnc.frontend.load(path)
    text = str(info.value)
    assert str(path) in text
    assert fragment in text
    assert not isinstance(info.value, LimitError)


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ([1, 2, 3], "has no 'class_name'"),
        ("just a string", "has no 'class_name'"),
        ({"class_name": "Sequential", "config": 5}, "Sequential config has no 'layers' list"),
        ({"class_name": "Functional", "config": {"layers": []}}, "has no inputs or no outputs"),
        ({"class_name": "Dense", "config": {}}, "not a Sequential or functional model"),
    ],
)
def test_top_level_config_of_the_wrong_kind(tmp_path, config, fragment):
    path = write_keras(tmp_path / "top.keras", config)
    with pytest.raises(SnncError, match="the model config cannot be read") as info:
        snnc.frontend.load(path)
    assert fragment in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            b'{"class_name": "Sequential", "config": {"layers": [' + b"1" * 5000 + b"]}}",
            "not valid JSON",
        ),
        (b'{"class_name": "Seq', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"", "not valid JSON"),
    ],
    ids=["int_5000_digits", "truncated", "not_utf8", "empty"],
)
def test_config_text_that_is_not_json(tmp_path, text, fragment):
    path = write_keras(tmp_path / "text.keras", text)
    with pytest.raises(SnncError, match=fragment):
        snnc.frontend.load(path)


def test_metadata_that_is_not_an_object_is_ignored(tmp_path):
    """metadata.json only tells the Keras version; a damaged one means 'assume Keras 2'."""
    for meta in ([1, 2], "3", {"keras_version": 3.5}):
        path = rezip(
            FIXTURES / "cnn.keras", tmp_path / "meta.keras", {"metadata.json": json.dumps(meta)}
        )
        assert snnc.frontend.load(path).name == "cnn"


def _one_layer(layer: dict, shape=(8, 8, 2)) -> dict:
    return sequential([input_layer(shape), layer])


@pytest.mark.parametrize(
    ("layer", "fragment"),
    [
        (
            {"class_name": "UpSampling2D", "config": {"name": "l", "size": 0}},
            "size: expected a whole number >= 1",
        ),
        (
            {"class_name": "UpSampling2D", "config": {"name": "l", "size": [2, "2"]}},
            "size: expected a whole number, got '2'",
        ),
        (
            {"class_name": "ZeroPadding2D", "config": {"name": "l", "padding": -1}},
            "padding: expected a whole number >= 0",
        ),
        (
            {"class_name": "ZeroPadding2D", "config": {"name": "l", "padding": [[1, 2, 3], 1]}},
            "expected (before, after) pairs",
        ),
        (
            {"class_name": "Cropping2D", "config": {"name": "l", "cropping": [[4, 4], 0]}},
            "remove all of",
        ),
        (
            {"class_name": "Cropping2D", "config": {"name": "l", "cropping": "all"}},
            "cropping: expected a whole number",
        ),
        (
            {"class_name": "Reshape", "config": {"name": "l", "target_shape": [0, 128]}},
            "target_shape: expected sizes >= 1",
        ),
        (
            {"class_name": "Reshape", "config": {"name": "l", "target_shape": "128"}},
            "target_shape: expected a list",
        ),
        (
            {"class_name": "Reshape", "config": {"name": "l", "target_shape": [-1, -1]}},
            "more than one -1",
        ),
        (
            {"class_name": "Reshape", "config": {"name": "l", "target_shape": [-2, 64]}},
            "target_shape: expected a whole number >= -1",
        ),
        (
            {"class_name": "Reshape", "config": {"name": "l", "target_shape": [7, 7]}},
            "cannot reshape",
        ),
        (
            {"class_name": "Permute", "config": {"name": "l", "dims": [1, 1, 2]}},
            "not a permutation",
        ),
        ({"class_name": "Permute", "config": {"name": "l", "dims": 3}}, "dims: expected a list"),
        (
            {
                "class_name": "AveragePooling2D",
                "config": {"name": "l", "pool_size": 2, "padding": ["same"]},
            },
            "padding ['same'] is not supported",
        ),
        (
            {"class_name": "TimeDistributed", "config": {"name": "l", "layer": "Dense"}},
            "layer: expected a serialized layer",
        ),
        # found by tests/robustness/test_fuzz_files.py: an AttributeError escaped
        (
            {"class_name": "TimeDistributed", "config": {"name": "l", "layer": 5}},
            "layer: expected a serialized layer with a class_name, got 5",
        ),
        (
            {
                "class_name": "TimeDistributed",
                "config": {"name": "l", "layer": {"class_name": "Dense", "config": [1]}},
            },
            "expected the inner layer's config to be an object",
        ),
        ({"class_name": "Softmax", "config": {"name": "l", "axis": [1, 2]}}, "several axes"),
    ],
    ids=lambda v: v.get("class_name") if isinstance(v, dict) else None,
)
def test_malformed_weightless_layer(tmp_path, layer, fragment):
    path = write_keras(tmp_path / "layer.keras", _one_layer(layer))
    with pytest.raises(SnncError) as info:
        snnc.frontend.load(path)
    assert fragment in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_special_files_are_not_read(tmp_path, kind):
    """Reading a FIFO would block until a writer comes, a device may never end."""
    import os

    if kind == "fifo":
        path = tmp_path / "model.keras"
        os.mkfifo(path)
    else:
        path = "/dev/zero"
    with pytest.raises(SnncError, match="not a regular file") as info:
        snnc.frontend.load(path)
    assert str(path) in str(info.value)

"""Bounded cost: every :class:`snnc.frontend.Limits` field is enforced exactly (the amount
the model needs passes, one less is refused), the refusal names the file, the limit and
how to raise it, and hostile files (zip bombs, deep JSON, huge unconstrained shapes) are
refused before they cost memory or stack."""

from __future__ import annotations

import dataclasses
import json
import tracemalloc
import zipfile

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_files import (
    CNN,
    config_of,
    input_layer,
    read_member,
    relu_chain,
    rezip,
    sequential,
    write_keras,
)

import snnc.frontend
from snnc.errors import ModelFileError, SnncError
from snnc.frontend import DEFAULT_LIMITS, LimitError, Limits
from snnc.frontend.limits import MAX_SAFE_DEPTH, OPTIONS, json_depth, object_depth

FIELDS = [f.name for f in dataclasses.fields(Limits)]


def _limit_error(source, limits: Limits, field: str) -> LimitError:
    with pytest.raises(LimitError) as info:
        snnc.frontend.load(source, limits=limits)
    err = info.value
    assert err.limit == field
    text = str(err)
    assert str(source) in text or "in-memory" in text  # names the model
    assert f"limit {field}" in text and OPTIONS[field][0] in text and f"Limits({field}=" in text
    return err


# ----------------------------------------------------------------------------- the API


def test_every_limit_has_a_documented_option():
    assert set(OPTIONS) == set(FIELDS)
    for field, (flag, help_text) in OPTIONS.items():
        assert flag == "--" + field.replace("_", "-")
        assert str(getattr(DEFAULT_LIMITS, field)) in help_text
        assert f"{field}:" in Limits.__doc__  # described on the dataclass


def test_defaults():
    assert DEFAULT_LIMITS == Limits(
        max_member_bytes=512 << 20,
        max_config_bytes=32 << 20,
        max_depth=100,
        max_layers=10_000,
        max_params=100_000_000,
        max_activations=10_000_000,
    )


def test_snnc_zip_member_default_matches():
    from snnc.ir.serialize import MAX_MEMBER_BYTES

    assert MAX_MEMBER_BYTES == DEFAULT_LIMITS.max_member_bytes


@pytest.mark.parametrize("bad", [0, -5, "100", 2.5, True, None])
def test_limits_must_be_positive_ints(bad):
    with pytest.raises(SnncError, match=r"Limits\.max_params: must be a positive integer"):
        Limits(max_params=bad)


def test_replace_ignores_options_not_given():
    lim = DEFAULT_LIMITS.replace(max_params=7, max_layers=None)
    assert lim.max_params == 7 and lim.max_layers == DEFAULT_LIMITS.max_layers


def test_limits_argument_must_be_limits():
    with pytest.raises(SnncError, match="expected a snnc.frontend.Limits, got dict"):
        snnc.frontend.load(CNN, limits={"max_params": 3})


# ----------------------------------------------------------------------------- exact limits


def _needs(path) -> dict[str, int]:
    """What the cnn fixture needs of every limit (computed independently of the reader)."""
    config = read_member(path, "config.json")
    weights = read_member(path, "model.weights.h5")
    params, largest = 0, 0
    import io

    with h5py.File(io.BytesIO(weights)) as f:

        def visit(_name, obj):
            nonlocal params, largest
            if isinstance(obj, h5py.Dataset):
                params += obj.size
                largest = max(largest, obj.nbytes)

        f.visititems(visit)
    g = snnc.frontend.load(path)
    values = sum(g.type(n).size for n in g.nx if g.op(n).kind != "nn.output")
    return {
        "max_member_bytes": len(weights),  # the largest member: the weights file
        "max_config_bytes": len(config),
        "max_depth": json_depth(config, 10**6),
        "max_layers": len(config_of(path)["config"]["layers"]),
        "max_params": params,
        "max_activations": values,
    }


@pytest.mark.parametrize("field", FIELDS)
def test_limit_is_exact(field):
    need = _needs(CNN)[field]
    assert need > 1
    snnc.frontend.load(CNN, limits=DEFAULT_LIMITS.replace(**{field: need}))
    err = _limit_error(CNN, DEFAULT_LIMITS.replace(**{field: need - 1}), field)
    assert f"{need - 1:,}" in str(err)


@pytest.fixture(scope="module")
def small_tf(tmp_path_factory):
    """A small tf.keras CNN, in memory and as legacy .h5 and Keras 2.12 .keras files."""
    import tensorflow as tf

    L = tf.keras.layers
    model = tf.keras.Sequential(
        [
            tf.keras.Input((6, 6, 2), name="img"),
            L.Conv2D(3, 3, activation="relu", name="conv"),
            L.BatchNormalization(name="bn"),
            L.Flatten(name="flat"),
            L.Dense(2, name="out"),
        ],
        name="small",
    )
    d = tmp_path_factory.mktemp("small_tf")
    model.save(d / "small.h5", save_format="h5")
    model.save(d / "small.keras", save_format="keras_v3")
    return model, d


@pytest.mark.parametrize("via", ["memory", "h5", "keras"])
@pytest.mark.parametrize(
    ("field", "low"),
    [("max_params", 10), ("max_layers", 2), ("max_depth", 3), ("max_activations", 50)],
)
def test_limits_apply_to_every_source(small_tf, via, field, low):
    model, d = small_tf
    source = model if via == "memory" else d / f"small.{via}"
    snnc.frontend.load(source)  # fine with the defaults
    _limit_error(source, DEFAULT_LIMITS.replace(**{field: low}), field)


def test_h5_model_config_size(small_tf):
    _, d = small_tf
    err = _limit_error(d / "small.h5", Limits(max_config_bytes=100), "max_config_bytes")
    assert "model_config attribute" in str(err)


def test_h5_weight_array_size(small_tf):
    _, d = small_tf
    err = _limit_error(d / "small.h5", Limits(max_member_bytes=100), "max_member_bytes")
    assert "weight array 'model_weights/conv/conv/kernel:0'" in str(err)  # 216 bytes


def test_unlimited_loads_everything(small_tf):
    model, d = small_tf
    for source in (model, d / "small.h5", d / "small.keras", CNN):
        snnc.frontend.load(source, limits=Limits.unlimited())


# ----------------------------------------------------------------------------- zip bombs


def _bomb(path, mib: int):
    """A .keras whose model.weights.h5 inflates to ``mib`` MiB of zeros (about 1/200 of
    that on disk)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("config.json", read_member(CNN, "config.json"))
        with z.open("model.weights.h5", "w", force_zip64=True) as f:
            chunk = bytes(16 << 20)
            for _ in range(mib // 16):
                f.write(chunk)
    return path


def _refused_small(path, limits: Limits, member_bytes: int):
    tracemalloc.start()
    try:
        err = _limit_error(path, limits, "max_member_bytes")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "model.weights.h5" in str(err) and f"{member_bytes:,}" in str(err)
    assert peak < 16 << 20


def test_zip_bomb_refused_without_inflating(tmp_path):
    path = _bomb(tmp_path / "bomb.keras", 64)
    assert path.stat().st_size < 1 << 20
    _refused_small(path, Limits(max_member_bytes=16 << 20), 64 << 20)


@pytest.mark.slow
def test_zip_bomb_beyond_the_default_limit(tmp_path):
    path = _bomb(tmp_path / "bomb.keras", 640)
    assert path.stat().st_size < 4 << 20
    _refused_small(path, DEFAULT_LIMITS, 640 << 20)


def _lying_sizes(src, dst, member: str, claimed: int):
    """Copy a zip, patching the sizes its local and central headers claim for ``member``."""
    data = bytearray(src.read_bytes())
    name = member.encode()
    # local header: signature, ..., uncompressed size at +22, name length at +26, name at +30
    local = data.find(b"PK\x03\x04" + b"", 0)
    while local >= 0:
        n = int.from_bytes(data[local + 26 : local + 28], "little")
        if data[local + 30 : local + 30 + n] == name:
            data[local + 22 : local + 26] = claimed.to_bytes(4, "little")
        local = data.find(b"PK\x03\x04", local + 4)
    # central header: uncompressed size at +24, name length at +28, name at +46
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        n = int.from_bytes(data[central + 28 : central + 30], "little")
        if data[central + 46 : central + 46 + n] == name:
            data[central + 24 : central + 28] = claimed.to_bytes(4, "little")
        central = data.find(b"PK\x01\x02", central + 4)
    dst.write_bytes(bytes(data))
    return dst


def test_zip_header_that_understates_the_size(tmp_path):
    """A member whose headers claim 100 bytes but whose data inflates to 64 MiB: reading
    stops at the claimed size (the checksum then fails), memory stays small."""
    real = tmp_path / "real.keras"
    with zipfile.ZipFile(real, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", read_member(CNN, "config.json"))
        z.writestr("model.weights.h5", bytes(64 << 20))
    path = _lying_sizes(real, tmp_path / "liar.keras", "model.weights.h5", 100)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="not a readable zip archive") as info:
            snnc.frontend.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value)
    assert peak < 8 << 20


# ----------------------------------------------------------------------------- nesting


def _deep_config(levels: int) -> bytes:
    """The cnn config with an option nested ``levels`` arrays deep in its Dense layer."""
    config = config_of(CNN)
    config["config"]["layers"][-1]["config"]["odd"] = "DEEP"
    return json.dumps(config).replace('"DEEP"', "[" * levels + "]" * levels).encode()


@pytest.mark.parametrize("levels", [150, 100_000])
def test_deep_json_refused_without_recursion(tmp_path, levels):
    path = rezip(CNN, tmp_path / "deep.keras", {"config.json": _deep_config(levels)})
    err = _limit_error(path, DEFAULT_LIMITS, "max_depth")
    assert "config.json" in str(err)


def test_deep_json_beyond_what_python_parses(tmp_path):
    """Raising max_depth past MAX_SAFE_DEPTH still refuses (with a plain ModelFileError)
    JSON that would exhaust the stack."""
    path = rezip(CNN, tmp_path / "deep.keras", {"config.json": _deep_config(100_000)})
    with pytest.raises(ModelFileError, match=f"at most {MAX_SAFE_DEPTH} levels") as info:
        snnc.frontend.load(path, limits=Limits(max_depth=10**6))
    assert not isinstance(info.value, LimitError)


def test_brackets_inside_strings_do_not_count(tmp_path):
    config = config_of(CNN)
    config["config"]["name"] = "[" * 500 + "{" * 500
    path = rezip(CNN, tmp_path / "brackets.keras", {"config.json": config})
    assert snnc.frontend.load(path).name == "[" * 500 + "{" * 500


def test_deep_h5_model_config(small_tf, tmp_path):
    _, d = small_tf
    path = tmp_path / "deep.h5"
    path.write_bytes((d / "small.h5").read_bytes())
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["name"] = "DEEP"
        f.attrs["model_config"] = json.dumps(config).replace('"DEEP"', "[" * 50_000 + "]" * 50_000)
    err = _limit_error(path, DEFAULT_LIMITS, "max_depth")
    assert "model_config attribute" in str(err)


def test_object_depth_is_iterative():
    deep: list = []
    for _ in range(200_000):
        deep = [deep]
    assert object_depth(deep, 10**6) == 200_001
    assert object_depth({"a": [1, {"b": 2}]}, 100) == 3
    assert object_depth(deep, 50) == 51  # stops early
    loop: list = []
    loop.append(loop)
    assert object_depth(loop, 100) == 1  # a self-reference is not infinitely deep


def _nested_sequentials(levels: int) -> dict:
    """``levels`` Sequential models, each the only layer of the one around it, with one
    ReLU at the bottom."""
    inner = {"class_name": "ReLU", "config": {"name": "relu"}}
    for i in range(levels):
        inner = {"class_name": "Sequential", "config": {"name": f"s{i}", "layers": [inner]}}
    return sequential([input_layer((3,)), inner])


def test_deeply_nested_models(tmp_path):
    """Nesting costs depth; with the limit raised, 120 nested models convert without
    exhausting the stack."""
    path = write_keras(tmp_path / "nested.keras", _nested_sequentials(120))
    _limit_error(path, DEFAULT_LIMITS, "max_depth")
    g = snnc.frontend.load(path, limits=Limits(max_depth=MAX_SAFE_DEPTH))
    assert g.op(next(n for n in g.nx if n.endswith("/relu"))).kind == "ann.relu"
    x = np.array([[-1.0, 0.5, 2.0]], np.float32)
    np.testing.assert_array_equal(snnc.evaluate(g, x), np.maximum(x, 0))


# ----------------------------------------------------------------------------- model size


def test_layer_count_refused_before_building(tmp_path):
    path = write_keras(tmp_path / "chain.keras", relu_chain(DEFAULT_LIMITS.max_layers))
    err = _limit_error(path, DEFAULT_LIMITS, "max_layers")
    assert f"got {DEFAULT_LIMITS.max_layers + 1:,}" in str(err)  # the InputLayer counts


def test_long_chain_within_limits(tmp_path):
    path = write_keras(tmp_path / "chain.keras", relu_chain(2000))
    g = snnc.frontend.load(path)
    assert len(g.nx) == 2002


def _upsampling(size: int, channels: int = 4) -> dict:
    return sequential(
        [
            input_layer((8, 8, channels)),
            {"class_name": "UpSampling2D", "config": {"name": "up", "size": [size, size]}},
        ]
    )


def test_unconstrained_shape_refused(tmp_path):
    """UpSampling2D(300) on an 8x8x4 input asks for 23 million values: refused, naming the
    layer; allowed when the limit is raised."""
    path = write_keras(tmp_path / "up.keras", _upsampling(300))
    err = _limit_error(path, DEFAULT_LIMITS, "max_activations")
    assert "layer 'up' produces 23,040,000" in str(err)
    g = snnc.frontend.load(path, limits=Limits(max_activations=30_000_000))
    assert g.type("up").shape == (2400, 2400, 4)


@pytest.mark.parametrize("size", [10**6, 10**30])
def test_huge_input_shape_refused(tmp_path, size):
    path = write_keras(tmp_path / "in.keras", sequential([input_layer((size, size, 3), "pixels")]))
    err = _limit_error(path, DEFAULT_LIMITS, "max_activations")
    assert "layer 'pixels'" in str(err)


def test_huge_padding_refused(tmp_path):
    config = sequential(
        [
            input_layer((4, 4, 1)),
            {"class_name": "ZeroPadding2D", "config": {"name": "pad", "padding": [10**6, 10**6]}},
        ]
    )
    _limit_error(write_keras(tmp_path / "pad.keras", config), DEFAULT_LIMITS, "max_activations")


@pytest.mark.slow
def test_reversed_long_functional_chain_is_linear(tmp_path):
    """A 10,000-layer functional chain listed in reverse order (each sweep of the builder
    could build one layer): the build stays linear and takes seconds."""
    import time

    n = DEFAULT_LIMITS.max_layers - 1
    layers = [
        {
            "class_name": "ReLU",
            "name": f"r{i}",
            "config": {"name": f"r{i}"},
            "inbound_nodes": [[[f"r{i - 1}" if i else "x", 0, 0, {}]]],
        }
        for i in range(n)
    ]
    layers.reverse()
    layers.append(
        {
            "class_name": "InputLayer",
            "name": "x",
            "config": {"batch_input_shape": [None, 3], "name": "x"},
        }
    )
    config = {
        "class_name": "Functional",
        "config": {
            "name": "chain",
            "layers": layers,
            "input_layers": [["x", 0, 0]],
            "output_layers": [[f"r{n - 1}", 0, 0]],
        },
    }
    path = write_keras(tmp_path / "rev.keras", config)
    start = time.perf_counter()
    g = snnc.frontend.load(path)
    assert time.perf_counter() - start < 60
    assert len(g.nx) == n + 2


# ----------------------------------------------------------------------------- the depth scan

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    # strings full of the characters the scan must see through
    | st.text(alphabet='[]{}"\\\\ab,:', max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet='[]{}"\\\\k', max_size=4), children, max_size=4)
    ),
    max_leaves=40,
)


def _reference_depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_reference_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_reference_depth, value), default=0)
    return 0


@settings(max_examples=150, deadline=None)
@given(
    value=_json_values,
    chunk=st.sampled_from([1, 2, 3, 7, 1 << 22]),
    indent=st.sampled_from([None, 1]),
)
def test_json_depth_matches_the_parsed_depth(value, chunk, indent):
    """The vectorised scan equals the depth of the parsed value, for any chunking (the
    carries across chunks: open strings, backslash runs, depth)."""
    text = json.dumps(value, indent=indent).encode()
    assert json_depth(text, 10**6, chunk=chunk) == _reference_depth(value)


def test_json_depth_stops_early():
    assert json_depth(b"[" * 1000 + b"]" * 1000, 10, chunk=1 << 22) == 1000
    assert json_depth(b"[" * 1000 + b"]" * 1000, 10, chunk=8) == 16  # the first chunk past 10

"""Helpers for tests that write model files by hand (no TensorFlow): re-zipping a ``.keras``
with changed members, configs made from scratch, empty weight files, legacy ``.h5`` files."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import h5py

FIXTURES = Path(__file__).parent / "fixtures" / "keras3"
#: a Keras 3 Sequential: Input 8x8x1, Conv2D(4, 3, relu), AveragePooling2D, Flatten, Dense(3)
CNN = FIXTURES / "cnn.keras"
DIGITS = Path(__file__).parents[2] / "examples" / "digits" / "digits_cnn.keras"


def read_member(path: Path, member: str) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(member)


def config_of(path: Path) -> dict:
    """The parsed config.json of a ``.keras`` file."""
    return json.loads(read_member(path, "config.json"))


def rezip(src: Path, dst: Path, replace: dict[str, bytes | str | dict | None]) -> Path:
    """Copy a zip, replacing members (bytes / text / a dict written as JSON) or dropping
    them (None)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.namelist():
            data = replace.get(item, zin.read(item))
            if isinstance(data, dict | list):
                data = json.dumps(data)
            if data is not None:
                zout.writestr(item, data)
    return dst


def empty_weights() -> bytes:
    """A Keras 3 ``model.weights.h5`` for a model without weights."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_group("layers")
    return buf.getvalue()


def write_keras(dst: Path, config, weights: bytes | None = None) -> Path:
    """A Keras-3-style ``.keras`` zip from a config (any JSON value, or raw bytes)."""
    if not isinstance(config, bytes):
        config = json.dumps(config)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        z.writestr("config.json", config)
        z.writestr("model.weights.h5", empty_weights() if weights is None else weights)
    return dst


def input_layer(shape, name: str = "input_layer") -> dict:
    return {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {"batch_shape": [None, *shape], "dtype": "float32", "name": name},
    }


def sequential(layers: list[dict], name: str = "seq") -> dict:
    """A Keras 3 Sequential config."""
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": name, "layers": layers},
    }


def relu_chain(n: int, shape=(4,)) -> dict:
    """A Sequential: Input then ``n`` ReLU layers (no weights at all)."""
    layers = [input_layer(shape)]
    layers += [
        {"module": "keras.layers", "class_name": "ReLU", "config": {"name": f"relu_{i}"}}
        for i in range(n)
    ]
    return sequential(layers)

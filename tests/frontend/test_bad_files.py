"""Broken or foreign files raise ModelFileError naming the file (and what would work);
reading a file never imports TensorFlow."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import snnc.frontend
from snnc.errors import ModelFileError

FIXTURES = Path(__file__).parent / "fixtures" / "keras3"
GOOD = FIXTURES / "cnn.keras"


def _rezip(src: Path, dst: Path, replace: dict[str, bytes | None]) -> Path:
    """Copy a zip, replacing (bytes) or dropping (None) some members."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = replace.get(item, zin.read(item))
            if data is not None:
                zout.writestr(item, data)
    return dst


def _load_error(path) -> ModelFileError:
    with pytest.raises(ModelFileError) as info:
        snnc.frontend.load(path)
    assert str(path) in str(info.value)  # the message names the file
    return info.value


def test_missing_path(tmp_path):
    err = _load_error(tmp_path / "nope.keras")
    assert "no such file" in str(err)


def test_directory(tmp_path):
    err = _load_error(tmp_path)
    assert "directory" in str(err) and "model.save" in str(err)


def test_plain_text_file(tmp_path):
    path = tmp_path / "model.keras"
    path.write_text("this is not a model\n")
    err = _load_error(path)
    assert "not a Keras model file" in str(err) and ".keras zip" in str(err)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.h5"
    path.write_bytes(b"")
    _load_error(path)


def test_truncated_zip(tmp_path):
    data = GOOD.read_bytes()
    path = tmp_path / "truncated.keras"
    path.write_bytes(data[: len(data) // 2])
    err = _load_error(path)
    assert "truncated or corrupted" in str(err)


def test_broken_config_json(tmp_path):
    path = _rezip(GOOD, tmp_path / "broken.keras", {"config.json": b'{"class_name": "Seq'})
    err = _load_error(path)
    assert "config.json" in str(err) and "not valid JSON" in str(err)


def test_config_that_is_not_a_model(tmp_path):
    path = _rezip(
        GOOD, tmp_path / "odd.keras", {"config.json": b'{"class_name": "Dense", "config": {}}'}
    )
    err = _load_error(path)
    assert "not a Sequential or functional model" in str(err)


def test_zip_without_weights(tmp_path):
    path = _rezip(GOOD, tmp_path / "noweights.keras", {"model.weights.h5": None})
    err = _load_error(path)
    assert "model.weights.h5" in str(err) and "missing" in str(err)


def test_zip_that_is_not_keras(tmp_path):
    path = tmp_path / "other.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    err = _load_error(path)
    assert "config.json" in str(err)


def test_weights_group_missing(tmp_path):
    """A weights file without the layer groups: the layer and what it lacks are named."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_group("layers")
    path = _rezip(GOOD, tmp_path / "nogroups.keras", {"model.weights.h5": buf.getvalue()})
    err = _load_error(path)
    assert "layer 'conv2d' (Conv2D)" in str(err) and "kernel" in str(err)


def _with_nan(src: Path, dst: Path, dataset: str) -> Path:
    with zipfile.ZipFile(src) as z:
        raw = z.read("model.weights.h5")
    tmp = dst.with_suffix(".tmp.h5")
    tmp.write_bytes(raw)
    with h5py.File(tmp, "r+") as f:
        a = f[dataset][()]
        a.flat[0] = np.nan
        f[dataset][...] = a
    return _rezip(src, dst, {"model.weights.h5": tmp.read_bytes()})


def test_nan_weight_in_keras_file(tmp_path):
    path = _with_nan(GOOD, tmp_path / "nan.keras", "layers/dense/vars/1")
    err = _load_error(path)
    assert "layer 'dense' (Dense)" in str(err) and "'bias'" in str(err) and "NaN" in str(err)


@pytest.fixture(scope="module")
def legacy_h5(tmp_path_factory):
    """A small Keras 2.12 model saved as legacy HDF5 (and its weights-only file)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    model = tf.keras.Sequential(
        [
            tf.keras.Input((4,), name="x"),
            tf.keras.layers.Dense(3, name="hidden"),
            tf.keras.layers.Dense(2, name="out"),
        ],
        name="small",
    )
    d = tmp_path_factory.mktemp("h5")
    model.save(d / "model.h5", save_format="h5")
    model.save_weights(d / "weights.h5")
    model.save(d / "model.keras", save_format="keras_v3")
    return d


def test_nan_weight_in_h5_file(legacy_h5, tmp_path):
    path = tmp_path / "nan.h5"
    path.write_bytes((legacy_h5 / "model.h5").read_bytes())
    with h5py.File(path, "r+") as f:
        ds = f["model_weights/out/out/kernel:0"]
        a = ds[()]
        a[1, 1] = np.inf
        ds[...] = a
    err = _load_error(path)
    assert "layer 'out' (Dense)" in str(err) and "'kernel'" in str(err)


def test_weights_only_h5(legacy_h5):
    err = _load_error(legacy_h5 / "weights.h5")
    assert "only weights" in str(err) and "model.save" in str(err)


def test_truncated_h5(legacy_h5, tmp_path):
    data = (legacy_h5 / "model.h5").read_bytes()
    path = tmp_path / "cut.h5"
    path.write_bytes(data[: len(data) // 3])
    _load_error(path)


def test_h5_broken_model_config(legacy_h5, tmp_path):
    path = tmp_path / "broken.h5"
    path.write_bytes((legacy_h5 / "model.h5").read_bytes())
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = '{"class_name": '
    err = _load_error(path)
    assert "model_config" in str(err) and "not valid JSON" in str(err)


def test_not_a_path_or_model():
    with pytest.raises(ModelFileError, match="cannot load a int"):
        snnc.frontend.load(42)


def test_loading_files_does_not_import_tensorflow(legacy_h5):
    """The file readers use zipfile/json/h5py only (TensorFlow takes seconds to import)."""
    paths = [str(GOOD), str(legacy_h5 / "model.h5"), str(legacy_h5 / "model.keras")]
    code = (
        "import sys, snnc.frontend\n"
        f"for p in {json.dumps(paths)}:\n"
        "    snnc.frontend.load(p)\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
        "assert 'keras' not in sys.modules, 'keras was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr

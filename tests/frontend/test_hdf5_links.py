"""Model files must be self-contained: HDF5 soft links, external links, virtual datasets and
datasets with external storage are refused (naming the file and the link) before any data
is read, in legacy .h5 files and in the weights of .keras files."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest
from model_files import CNN, read_member, rezip

import snnc.frontend
from snnc.errors import ModelFileError


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    """A Keras 2.12 legacy .h5 (Dense 4 -> 2, layer 'out')."""
    import tensorflow as tf

    model = tf.keras.Sequential(
        [tf.keras.Input((4,), name="x"), tf.keras.layers.Dense(2, name="out")], name="small"
    )
    path = tmp_path_factory.mktemp("legacy") / "model.h5"
    model.save(path, save_format="h5")
    return path


KERNEL = "model_weights/out/out/kernel:0"


@pytest.fixture()
def secret(tmp_path):
    """Another HDF5 file on disk holding an array the model's kernel could be linked to."""
    path = tmp_path / "secret.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.full((4, 2), 7.0, np.float32)
    return path


def _copy(src, dst):
    dst.write_bytes(src.read_bytes())
    return dst


def _refused(path, *fragments: str) -> ModelFileError:
    with pytest.raises(ModelFileError) as info:
        snnc.frontend.load(path)
    text = str(info.value)
    assert str(path) in text
    for fragment in fragments:
        assert fragment in text
    return info.value


def test_external_link_in_legacy_h5(legacy, secret, tmp_path):
    path = _copy(legacy, tmp_path / "ext.h5")
    with h5py.File(path, "r+") as f:
        del f[KERNEL]
        f[KERNEL] = h5py.ExternalLink(str(secret), "/data")
    with h5py.File(path) as f:  # h5py itself would follow it
        assert f[KERNEL][0, 0] == 7.0
    _refused(path, f"external link to '/data' in file '{secret}'", f"'/{KERNEL}'")


def test_external_link_to_missing_file(legacy, tmp_path):
    """The link is refused as such, whether or not its target exists."""
    path = _copy(legacy, tmp_path / "ext.h5")
    with h5py.File(path, "r+") as f:
        f["model_weights/extra"] = h5py.ExternalLink("/nonexistent/file.h5", "/x")
    _refused(path, "external link", "/nonexistent/file.h5")


def test_soft_link_loop_in_legacy_h5(legacy, tmp_path):
    path = _copy(legacy, tmp_path / "loop.h5")
    with h5py.File(path, "r+") as f:
        f["model_weights/out/loop"] = h5py.SoftLink("/model_weights/out")
        f["model_weights/a"] = h5py.SoftLink("/model_weights/b")
        f["model_weights/b"] = h5py.SoftLink("/model_weights/a")
    _refused(path, "soft link to '/model_weights/")


def test_soft_link_to_a_weight(legacy, tmp_path):
    """Keras never writes soft links, so even a harmless one is refused."""
    path = _copy(legacy, tmp_path / "soft.h5")
    with h5py.File(path, "r+") as f:
        f["copy"] = f[KERNEL][()]
        del f[KERNEL]
        f[KERNEL] = h5py.SoftLink("/copy")
    _refused(path, "soft link to '/copy'", "expected hard links only")


def test_hard_link_cycle_terminates(legacy, tmp_path):
    """A group hard-linked into itself is legal HDF5: the link scan visits it once."""
    path = _copy(legacy, tmp_path / "cycle.h5")
    with h5py.File(path, "r+") as f:
        f["model_weights/out/again"] = f["model_weights/out"]
    g = snnc.frontend.load(path)
    assert g.op("out").weight.shape == (4, 2)


def _keras_with_weights(tmp_path, edit) -> object:
    """The cnn fixture with its model.weights.h5 changed by ``edit(h5py.File)``."""
    h5 = tmp_path / "weights.h5"
    h5.write_bytes(read_member(CNN, "model.weights.h5"))
    with h5py.File(h5, "r+") as f:
        edit(f)
    return rezip(CNN, tmp_path / "edited.keras", {"model.weights.h5": h5.read_bytes()})


def test_external_link_in_keras_weights(tmp_path, secret):
    def edit(f):
        del f["layers/dense/vars/1"]
        f["layers/dense/vars/1"] = h5py.ExternalLink(str(secret), "/data")

    path = _keras_with_weights(tmp_path, edit)
    _refused(
        path, "model.weights.h5 inside the .keras file", "external link", "'/layers/dense/vars/1'"
    )


def test_soft_link_loop_in_keras_weights(tmp_path):
    path = _keras_with_weights(
        tmp_path, lambda f: f.__setitem__("layers/loop", h5py.SoftLink("/layers"))
    )
    _refused(path, "soft link to '/layers'")


def test_dataset_with_external_storage(legacy, secret, tmp_path):
    """HDF5 can keep a dataset's bytes in raw files next to it: refused, not read."""
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.full((4, 2), 9.0, np.float32).tobytes())
    path = _copy(legacy, tmp_path / "external_storage.h5")
    with h5py.File(path, "r+") as f:
        del f[KERNEL]
        f.create_dataset(KERNEL, shape=(4, 2), dtype="f4", external=[(str(raw), 0, 32)])
    _refused(path, f"'{KERNEL}' is a dataset stored in external files")


def test_virtual_dataset(legacy, secret, tmp_path):
    path = _copy(legacy, tmp_path / "virtual.h5")
    with h5py.File(path, "r+") as f:
        del f[KERNEL]
        layout = h5py.VirtualLayout(shape=(4, 2), dtype="f4")
        layout[:] = h5py.VirtualSource(str(secret), "data", shape=(4, 2))
        f.create_virtual_dataset(KERNEL, layout)
    _refused(path, f"'{KERNEL}' is a virtual dataset")


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        (np.array([[b"a", b"b"]] * 4), "|S1"),
        (np.ones((4, 2), np.complex64), "complex64"),
    ],
)
def test_weight_that_is_not_numbers(legacy, tmp_path, value, dtype):
    path = _copy(legacy, tmp_path / "dtype.h5")
    with h5py.File(path, "r+") as f:
        del f[KERNEL]
        f[KERNEL] = value
    _refused(path, f"'{KERNEL}' does not hold numbers", f"got dtype {dtype}")


def test_weight_that_is_a_group(legacy, tmp_path):
    path = _copy(legacy, tmp_path / "group.h5")
    with h5py.File(path, "r+") as f:
        del f[KERNEL]
        f.create_group(KERNEL)
    _refused(path, f"'{KERNEL}' is a Group, not a weight array")


def test_weight_names_not_text(legacy, tmp_path):
    path = _copy(legacy, tmp_path / "names.h5")
    with h5py.File(path, "r+") as f:
        f["model_weights/out"].attrs["weight_names"] = np.array([1, 2])
    _refused(path, "weight_names of group '/model_weights/out' are not text")


def test_weight_listed_but_missing(legacy, tmp_path):
    path = _copy(legacy, tmp_path / "missing.h5")
    with h5py.File(path, "r+") as f:
        del f[KERNEL]
    _refused(path, "weight 'out/kernel:0' of layer 'out' is listed in weight_names but missing")


def test_huge_declared_dataset_not_allocated(legacy, tmp_path):
    """A chunked dataset can declare any shape in a few bytes (unwritten chunks read as the
    fill value): the shape is checked before reading."""
    path = _copy(legacy, tmp_path / "huge.h5")
    with h5py.File(path, "r+") as f:
        del f[KERNEL]
        f.create_dataset(KERNEL, shape=(4, 10**9), dtype="f4", chunks=(1, 1024))
    assert path.stat().st_size < 1 << 20
    err = _refused(path, "limit max_member_bytes", "16,000,000,000")
    assert err.limit == "max_member_bytes"


def test_model_config_that_is_not_text(legacy, tmp_path):
    path = _copy(legacy, tmp_path / "config.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = np.arange(3)
    _refused(path, "the model_config attribute is not text")


def test_in_memory_h5_weights_are_self_contained(tmp_path):
    """The .keras weights file is opened from memory: an external link there could still
    name a file on disk, and is refused the same way."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f["layers/x"] = h5py.ExternalLink("/etc/passwd", "/")
    path = rezip(CNN, tmp_path / "ext.keras", {"model.weights.h5": buf.getvalue()})
    _refused(path, "external link to '/' in file '/etc/passwd'")

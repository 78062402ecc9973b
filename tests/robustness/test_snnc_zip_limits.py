"""Decompression bounds of ``model.snnc`` (snnc.ir.serialize.load): a member or a weight
array larger than ``max_member_bytes`` is refused before it is inflated or allocated."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import numpy as np
import pytest
from model_files import CNN

import snnc.frontend
from snnc.errors import ModelFileError
from snnc.ir import serialize


@pytest.fixture()
def snnc_file(tmp_path):
    g = snnc.frontend.load(CNN)
    return serialize.save(g, tmp_path / "model.snnc"), g


def _replace(src, dst, member: str, data: bytes):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.namelist():
            zout.writestr(item, data if item == member else zin.read(item))
    return dst


def test_round_trip_within_limits(snnc_file):
    path, g = snnc_file
    loaded, _ = serialize.load(path)
    assert loaded.fingerprint() == g.fingerprint()


def test_member_over_the_limit(snnc_file):
    path, _ = snnc_file
    with pytest.raises(ModelFileError, match="limit max_member_bytes") as info:
        serialize.load(path, max_member_bytes=1000)
    assert str(path) in str(info.value) and "--max-member-bytes" in str(info.value)


def test_inflating_member_refused_with_little_memory(snnc_file, tmp_path):
    path, _ = snnc_file
    bomb = _replace(path, tmp_path / "bomb.snnc", "graph.snnir", b" " * (64 << 20))
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="graph.snnir decompresses to more than the limit"):
            serialize.load(bomb, max_member_bytes=16 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 << 20


def _npz_with_header(shape: tuple, data: bytes) -> bytes:
    """A weights.npz holding one .npy whose header declares ``shape`` (float32) but whose
    data is just ``data``."""
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        npy, {"descr": "<f4", "fortran_order": False, "shape": shape}
    )
    npy.write(data)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("conv2d.weight.npy", npy.getvalue())
    return buf.getvalue()


def test_array_header_declaring_terabytes(snnc_file, tmp_path):
    """An array header is a few bytes; the allocation it asks for is checked first."""
    path, _ = snnc_file
    bomb = _replace(
        path, tmp_path / "npz.snnc", "weights.npz", _npz_with_header((10**12,), b"\0" * 16)
    )
    with pytest.raises(ModelFileError, match="declares 4,000,000,000,000 bytes"):
        serialize.load(bomb)


def test_object_array_refused(snnc_file, tmp_path):
    """No pickles: an object array in weights.npz is refused, not unpickled."""
    path, _ = snnc_file
    buf = io.BytesIO()
    np.savez(buf, **{"conv2d.weight": np.array([{"a": 1}], dtype=object)})
    bad = _replace(path, tmp_path / "pickle.snnc", "weights.npz", buf.getvalue())
    with pytest.raises(ModelFileError, match="cannot read model.snnc"):
        serialize.load(bad)

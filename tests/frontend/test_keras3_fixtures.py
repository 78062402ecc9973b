"""Keras 3 ``.keras`` files (fixtures written by Keras 3.15 / jax) load without Keras 3 and
reproduce their stored outputs."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import snnc.frontend
from snnc.ir.interpreter import evaluate
from snnc.ir.verifier import verify

FIXTURES = Path(__file__).parent / "fixtures" / "keras3"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.keras"))


def _io(name: str):
    data = np.load(FIXTURES / f"{name}.npz")
    xs = [data[k] for k in sorted(data.files) if k.startswith("x")]
    ys = [data[k] for k in sorted(data.files) if k.startswith("y")]
    return xs, ys


def _check(graph, name: str) -> None:
    verify(graph)
    xs, ys = _io(name)
    out = evaluate(graph, xs if len(xs) > 1 else xs[0])
    out = out if isinstance(out, list) else [out]
    assert len(out) == len(ys)
    for got, want in zip(out, ys, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_fixtures_present():
    assert len(NAMES) >= 11


@pytest.mark.parametrize("name", NAMES)
def test_keras3_fixture_matches_stored_outputs(name):
    _check(snnc.frontend.load(FIXTURES / f"{name}.keras"), name)


def _without_name_attributes(src: Path, dst: Path) -> None:
    """Copy a .keras file, deleting the ``name`` attribute of every ``vars`` group (the
    layout of Keras < 3.4), so only the class-name counter rule can find the weights."""
    h5 = dst.with_suffix(".h5")
    with zipfile.ZipFile(src) as zin:
        h5.write_bytes(zin.read("model.weights.h5"))
        with h5py.File(h5, "r+") as f:
            groups = []
            f.visititems(lambda n, o: groups.append(o) if isinstance(o, h5py.Group) else None)
            for g in [f, *groups]:
                if "name" in g.attrs:
                    del g.attrs["name"]
        with zipfile.ZipFile(dst, "w") as zout:
            for item in zin.namelist():
                data = h5.read_bytes() if item == "model.weights.h5" else zin.read(item)
                zout.writestr(item, data)


@pytest.mark.parametrize("name", NAMES)
def test_keras3_fixture_without_vars_name_attributes(name, tmp_path):
    dst = tmp_path / f"{name}.keras"
    _without_name_attributes(FIXTURES / f"{name}.keras", dst)
    with zipfile.ZipFile(dst) as z, h5py.File(io.BytesIO(z.read("model.weights.h5"))) as f:
        assert "name" not in f["layers"][next(iter(f["layers"]))]["vars"].attrs
    _check(snnc.frontend.load(dst), name)


def test_any_file_name_works(tmp_path):
    """The format is told by content: a .keras zip named .h5 still loads."""
    dst = tmp_path / "model.h5"
    shutil.copy(FIXTURES / "cnn.keras", dst)
    _check(snnc.frontend.load(str(dst)), "cnn")


def test_nested_shared_naming():
    g = snnc.frontend.load(FIXTURES / "rescaling_nested.keras")
    assert g.name == "rescaling_nested"
    assert g.inputs == ["pixels"]
    assert {
        "rescale",
        "inner/inner_conv",
        "inner/inner_conv.act",
        "inner/inner_gap",
        "inner/inner_dense",
        "shared_dense",
        "shared_dense.act",
        "shared_dense.call1",
        "shared_dense.call1.act",
        "add",
        "out",
        "out.output",
    } <= set(g.nx)
    assert g.op("rescale").kind == "nn.affine"
    assert g.inputs_of("inner/inner_conv") == ["rescale"]
    assert g.inputs_of("shared_dense") == ["inner/inner_dense"]
    assert g.meta("inner/inner_conv") == {
        "keras_layer": "inner/inner_conv",
        "keras_class": "Conv2D",
    }
    assert g.meta("shared_dense.call1") == {"keras_layer": "shared_dense", "keras_class": "Dense"}


def test_multi_io_order_and_names():
    g = snnc.frontend.load(FIXTURES / "multi_io.keras")
    assert g.inputs == ["in_a", "in_b"]
    assert g.outputs == ["head_0.output", "head_1.output"]
    assert g.op("subtract").coeffs == (1.0, -1.0)
    assert g.op("average").coeffs == (0.5, 0.5)
    assert g.op("head_1.act").kind == "ann.softmax"


def test_relu_spellings_all_become_ann_relu():
    g = snnc.frontend.load(FIXTURES / "activations.keras")
    relus = [n for n in g.nx if g.op(n).kind == "ann.relu"]
    assert relus == ["act_string.act", "act_function.act", "activation_relu", "relu_layer"]
    assert "act_linear.act" not in g  # a linear activation adds no node


def test_channels_first_keeps_user_layout():
    g = snnc.frontend.load(FIXTURES / "channels_first.keras")
    assert g.type(g.inputs[0]).shape == (2, 6, 6)
    assert g.op("conv2d.to_channels_last").perm == (1, 2, 0)
    assert g.type("average_pooling2d.to_channels_first").shape == (3, 2, 2)


def test_causal_padding_is_explicit():
    g = snnc.frontend.load(FIXTURES / "conv1d.keras")
    assert g.op("conv1d").padding == ((4, 0),)  # (k - 1) * dilation = 2 * 2
    assert g.op("leaky_re_lu").negative_slope == pytest.approx(0.1)


def test_separable_is_depthwise_then_pointwise():
    g = snnc.frontend.load(FIXTURES / "depthwise_separable.keras")
    assert g.op("separable_conv2d").kind == "nn.depthwise_conv2d"
    assert g.op("separable_conv2d").bias is None
    assert g.op("separable_conv2d.pointwise").kind == "nn.conv2d"
    assert g.inputs_of("separable_conv2d.pointwise") == ["separable_conv2d"]

"""Every zoo model through the frontend: in memory, as a ``.keras`` (keras_v3) file and as a
legacy ``.h5`` file.

Convertible models must evaluate (reference interpreter) to the TensorFlow outputs within
float32 noise and pass the IR verifier; refused ones must raise one UnsupportedModelError
that names the refused layer.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import functools  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import zoo  # noqa: E402

import snnc.frontend  # noqa: E402
from snnc.errors import UnsupportedModelError  # noqa: E402
from snnc.ir.interpreter import evaluate  # noqa: E402
from snnc.ir.verifier import verify  # noqa: E402

VIAS = ("memory", "keras", "h5")


@functools.cache
def _built(name: str):
    """(model, inputs, reference outputs) of a zoo entry, built once per test session."""
    zm = zoo.get(name)
    model = zm.build()
    x = zoo.sample_inputs(zm, batch=3)
    return model, x, (zoo.reference_outputs(model, x) if zm.convertible else None)


def _source(model, via: str, tmp_path):
    """The model itself, or the path of a copy saved in the ``via`` format."""
    if via == "memory":
        return model
    path = tmp_path / f"{model.name}.{via}"
    model.save(path, save_format="keras_v3" if via == "keras" else "h5")
    return path


def assert_outputs_match(graph, x, ref):
    """The interpreter's outputs equal the reference within float32 noise."""
    out = evaluate(graph, x if len(x) > 1 else x[0])
    out = out if isinstance(out, list) else [out]
    assert len(out) == len(ref)
    for got, want in zip(out, ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("name", [zm.name for zm in zoo.CONVERTIBLE])
def test_convertible_zoo_model_matches_keras(name, via, tmp_path):
    model, x, ref = _built(name)
    g = snnc.frontend.load(_source(model, via, tmp_path))
    verify(g)
    assert g.name == model.name and g.dt == 0.001
    assert [g.type(i).shape for i in g.inputs] == zoo.get(name).input_shapes
    assert_outputs_match(g, x, ref)


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("name", [zm.name for zm in zoo.REFUSED])
def test_refused_zoo_model_names_the_layer(name, via, tmp_path):
    model, _, _ = _built(name)
    with pytest.raises(UnsupportedModelError) as info:
        snnc.frontend.load(_source(model, via, tmp_path))
    names = [layer for layer, _, _ in info.value.problems]
    assert names == [zoo.get(name).refuse_layer], info.value.problems
    assert zoo.get(name).refuse_layer in str(info.value)


def test_zoo_node_names_and_meta():
    model, _, _ = _built("shared_layer")
    g = snnc.frontend.load(model)
    shared = model.layers[2].name  # the Dense called on both inputs
    assert {shared, f"{shared}.act", f"{shared}.call1", f"{shared}.call1.act"} <= set(g.nx)
    np.testing.assert_array_equal(g.op(shared).weight, g.op(f"{shared}.call1").weight)
    assert g.meta(f"{shared}.call1.act") == {"keras_layer": shared, "keras_class": "Dense"}
    assert g.inputs == ["input_1", "input_2"]
    assert [g.inputs_of(o)[0] for o in g.outputs] == [model.layers[-1].name]


def test_zoo_nested_names():
    model, _, _ = _built("nested_model_shared")
    g = snnc.frontend.load(model)
    inner_conv = [n for n in g.nx if n.startswith("inner/") and g.op(n).kind == "nn.conv2d"]
    again = [n for n in g.nx if n.startswith("inner.call1/") and g.op(n).kind == "nn.conv2d"]
    assert len(inner_conv) == len(again) == 1
    assert g.meta(again[0])["keras_layer"] == inner_conv[0]

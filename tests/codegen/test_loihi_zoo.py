"""Every model of the test zoo and every Keras 3 fixture against the loihi target: a model
whose layers Loihi can express compiles and runs on nengo-loihi's emulator (10 steps, finite
outputs); every other one is refused at compile time, naming its node and why. No model
compiles and then fails at run time.

The whole zoo takes about a minute (tiny models; the first compile imports nengo-loihi).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

import snnc
from snnc.codegen import compile_graph, get_target
from snnc.errors import SnncError, UnsupportedModelError

sys.path.insert(0, str(ROOT / "tests" / "frontend"))
import zoo  # noqa: E402

#: zoo model -> (node the refusal names, why): everything else must compile and run
REFUSED = {
    "avgpool2d_valid_strided": ("%input", "no neuron would run on the Loihi chip"),
    "avgpool2d_same_strided": ("%input", "no neuron would run on the Loihi chip"),
    "avgpool1d": ("%input", "no neuron would run on the Loihi chip"),
    "maxpool2d_seq": ("%max_pooling2d", "max-to-avg-pool"),
    "maxpool2d_func": ("%max_pooling2d", "max-to-avg-pool"),
    "maxpool2d_same_strided": ("%max_pooling2d", "max-to-avg-pool"),
    "maxpool1d": ("%max_pooling1d", "max-to-avg-pool"),
    "global_maxpool2d": ("%global_max_pooling2d", "max-to-avg-pool"),
    "pooling_channels_first": ("%max_pooling2d", "max-to-avg-pool"),
    "relu_threshold": ("%re_lu", "no sum of rectified-linear neurons has a jump"),
    "sigmoid_tanh_seq": ("%dense.act", "no neuron equivalent"),
    "sigmoid_tanh_func": ("%dense.act", "no neuron equivalent"),
}


@functools.cache
def _loaded(name: str):
    zm = zoo.get(name)
    x = zoo.sample_inputs(zm, batch=3)
    return snnc.load(zm.build()), (x if len(x) > 1 else x[0])


@pytest.mark.parametrize("name", [zm.name for zm in zoo.CONVERTIBLE])
def test_zoo_model_runs_on_the_emulator_or_is_refused_at_compile_time(name):
    graph, x = _loaded(name)
    if name in REFUSED:
        node, why = REFUSED[name]
        with pytest.raises(SnncError) as err:
            compile_graph(graph, "loihi", calibration=x)
        assert node in str(err.value) and why in str(err.value), str(err.value)
        return
    c = compile_graph(graph, "loihi", calibration=x)
    placed = {c.graph.op(n).place for n in c.graph.nx}
    assert placed <= {"host", "chip"} and "chip" in placed
    out = c.run(x, steps=10, progress=False)
    for o in out if isinstance(out, list) else [out]:
        assert o.shape[:2] == (3, 10) and np.all(np.isfinite(o))


def test_every_refused_zoo_model_exists():
    assert set(REFUSED) <= {zm.name for zm in zoo.CONVERTIBLE}


@pytest.mark.parametrize("name", [zm.name for zm in zoo.ZOO if not zm.convertible])
def test_models_the_frontend_refuses_are_refused_naming_the_layer(name):
    zm = zoo.get(name)
    with pytest.raises(UnsupportedModelError) as err:
        snnc.compile(zm.build(), target="loihi")
    assert zm.refuse_layer in str(err.value)


# =============================================================================== Keras 3


FIXTURES = ROOT / "tests" / "frontend" / "fixtures" / "keras3"
#: fixture -> (pipeline prefix, refusal: (node, why) or None)
KERAS3 = {
    "channels_first": ("", None),
    "cnn": ("", None),
    "conv1d": ("", None),
    "depthwise_separable": ("", None),
    "functional_residual": ("", None),
    "mlp": ("", None),
    "multi_io": ("", None),
    "cnn_bn": ("max-to-avg-pool,", None),  # max pooling, rewritten on request
    "activations": ("", ("%", "no neuron equivalent")),
    "rescaling_nested": ("", ("%shared_dense.act", "no neuron equivalent")),
    "reshape_permute": ("", ("%", "no neuron would run on the Loihi chip")),
}


def _fixture_inputs(name: str):
    data = np.load(FIXTURES / f"{name}.npz")
    xs = [data[k] for k in sorted(data.files) if k.startswith("x")]
    return xs if len(xs) > 1 else xs[0]


def test_every_keras3_fixture_is_listed():
    assert {p.stem for p in FIXTURES.glob("*.keras")} == set(KERAS3)


@pytest.mark.parametrize("name", sorted(KERAS3))
def test_keras3_fixture_on_the_emulator(name):
    prefix, refused = KERAS3[name]
    x = _fixture_inputs(name)
    pipeline = prefix + get_target("loihi").default_pipeline
    path = Path(FIXTURES / f"{name}.keras")
    if refused is not None:
        with pytest.raises(SnncError) as err:
            snnc.compile(path, target="loihi", calibration=x, pipeline=pipeline)
        assert refused[0] in str(err.value) and refused[1] in str(err.value)
        return
    c = snnc.compile(path, target="loihi", calibration=x, pipeline=pipeline)
    out = c.run(x, steps=10, progress=False)
    for o in out if isinstance(out, list) else [out]:
        assert o.shape[1] == 10 and np.all(np.isfinite(o))

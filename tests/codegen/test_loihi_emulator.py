"""The loihi sessions: one nengo-loihi build per session, and samples that start from a state
exactly as fresh as a new simulator's. The batched chip (all samples advanced together) and
the reset simulator must equal a fresh ``nengo_loihi.Simulator`` per sample, bit for bit."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import ROOT

import snnc
from snnc.codegen import compile_graph
from snnc.errors import SnncError
from snnc.ir import Graph, ops

sys.path.insert(0, str(ROOT / "tests" / "frontend"))
import zoo  # noqa: E402

#: models with the interesting shapes of traffic: convolutions (pop32 axons), fan-in merges,
#: several inputs and outputs (host readouts and direct host paths), global pooling
MODELS = [
    "conv2d_same_strided",
    "merge_add_residual",
    "multi_input_output",
    "concat_axis1_image",
    "depthwise_multiplier2",
    "global_avgpool2d_func",
    "conv2d_transpose_same",
]


def _compiled(name: str, batch: int = 3):
    zm = zoo.get(name)
    x = zoo.sample_inputs(zm, batch=batch)
    x = x if len(x) > 1 else x[0]
    return compile_graph(snnc.load(zm.build()), "loihi", calibration=x), x


def _outs(out):
    return out if isinstance(out, list) else [out]


@pytest.mark.parametrize("name", MODELS)
def test_batched_chip_equals_a_fresh_simulator_per_sample(name):
    c, x = _compiled(name)
    batched = _outs(c.run(x, steps=12, progress=False))
    assert c._sessions[(None, ())].mode == "batch"
    fresh = _outs(c.run(x, steps=12, progress=False, mode="rebuild"))
    for a, b in zip(batched, fresh, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(np.any(a) for a in batched)  # something reached the outputs


def test_reset_simulator_equals_a_fresh_one_for_both_emulators():
    c, x = _compiled("merge_add_residual")
    for emulator in ("sim", "simreal"):
        reset = c.run(x, steps=8, progress=False, emulator=emulator, mode="reset")
        fresh = c.run(x, steps=8, progress=False, emulator=emulator, mode="rebuild")
        np.testing.assert_array_equal(reset, fresh)


def _split_graph():
    """A conv layer of 16x16x8 = 2048 neurons (split into blocks), a dense readout of it."""
    rng = np.random.default_rng(3)
    g = Graph("split")
    g.add("input", ops.Input(shape=(16, 16, 1)))
    g.add("conv", ops.Conv2D(weight=rng.normal(size=(3, 3, 1, 8)), padding="same"), ["input"])
    g.add("conv.act", ops.ReLU(), ["conv"])
    g.add(
        "conv2",
        ops.Conv2D(weight=rng.normal(size=(3, 3, 8, 4)) * 0.3, strides=(2, 2)),
        ["conv.act"],
    )
    g.add("conv2.act", ops.ReLU(), ["conv2"])
    g.add("flat", ops.Flatten(), ["conv2.act"])
    g.add("dense", ops.Dense(weight=rng.normal(size=(196, 3)) * 0.1), ["flat"])
    g.add("output", ops.Output(), ["dense"])
    return g, rng.uniform(0, 1, (3, 16, 16, 1))


def test_layers_split_over_cores_run_exactly_batched():
    g, x = _split_graph()
    c = compile_graph(g, "loihi", calibration=x)
    layer = {r["node"]: r for r in c.manifest["loihi"]["layers"]}["conv.act"]
    assert layer["blocks"] > 1 and layer["compartments"] == 2048
    batched = c.run(x, steps=10, progress=False)
    fresh = c.run(x, steps=10, progress=False, mode="rebuild")
    np.testing.assert_array_equal(batched, fresh)
    assert np.any(batched)


def test_the_simulator_is_built_once_per_session_and_reused():
    c, x = _compiled("conv2d_same_strided")
    c.run(x, steps=5, progress=False)
    session = c._sessions[(None, ())]
    sim = session.sim
    again = c.run(x[:2], steps=5, progress=False)
    assert c._sessions[(None, ())] is session and session.sim is sim
    np.testing.assert_array_equal(again, c.run(x, steps=5, progress=False)[:2])


def test_bad_session_options_are_user_errors():
    c, x = _compiled("dense_seq")
    with pytest.raises(SnncError, match="emulator"):
        c.run(x, steps=2, emulator="chip")
    with pytest.raises(SnncError, match="mode"):
        c.run(x, steps=2, mode="fast")
    with pytest.raises(SnncError, match="options"):
        c.run(x, steps=2, dtype="float64")

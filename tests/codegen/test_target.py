"""Targets and the checks before emitting: registry, limits, refusals (all reported at
once), run-time input validation, progress bars, and light imports."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from graphs import CASES, Builder

from snnc.codegen import Limits, compile_graph, get_target, target_names
from snnc.errors import CodegenError, InputShapeError, SnncError
from snnc.ir import ops


def test_registry():
    assert set(target_names()) == {"loihi", "nengo", "nengo-dl", "nir"}
    t = get_target("nengo-dl")
    assert get_target(t) is t and t.default_batch and not get_target("nengo").default_batch
    assert "lower-activations" in t.default_pipeline
    with pytest.raises(SnncError, match=r"unknown target 'loihi3' \(expected one of: loihi, nengo, nengo-dl"):
        get_target("loihi3")


def test_every_problem_is_reported_at_once():
    """ANN activations left over, refused kinds and limits: one error names every node."""
    b = Builder("problems", (40,))
    b.op(ops.ReLU(), name="relu_a")
    b.op(ops.Dense(weight=np.ones((40, 30)), bias=None), name="dense")
    b.op(ops.ReLU(), name="relu_b")
    b.op(ops.Reshape(shape=(5, 6, 1)))
    b.op(ops.MaxPool(pool_size=(2, 2), strides=(2, 2)), name="pool")
    b.op(ops.Upsample(scale=(3, 3)))  # 54 values: over the fallback limit below
    b.op(ops.AvgPool(pool_size=(2, 2), strides=(1, 1), padding="same"), name="avg")
    g, _ = b.done()
    strict = dataclasses.replace(
        get_target("nengo"), name="strict", default_pipeline="canonicalize",
        limits=Limits(max_fallback_inputs=50),
        refuses={ops.MaxPool: "max pooling is host-side; use average pooling"},
    )
    with pytest.raises(CodegenError) as e:
        compile_graph(g, strict, pipeline="")
    msg = e.value.message
    assert "cannot emit 4 node(s)" in msg
    for node in ("%relu_a (ann.relu)", "%relu_b (ann.relu)", "%pool (nn.max_pool)", "%avg (nn.avg_pool)"):
        assert node in msg
    assert "lower-activations" in msg and "use average pooling" in msg and "fallback limit (50)" in msg


def test_run_validates_inputs():
    g, x = CASES["mlp"]()
    c = compile_graph(g, "nengo", pipeline="")
    with pytest.raises(InputShapeError, match=r"expected \[batch, 6\]"):
        c.run(np.zeros((2, 7)))
    with pytest.raises(SnncError, match="steps must be an integer >= 1"):
        c.run(x, steps=0)
    with pytest.raises(SnncError, match="takes no simulator options"):
        c.run(x, steps=1, dtype="float64")


def test_multi_input_by_name():
    g, (a, b) = CASES["multi_io"]()
    c = compile_graph(g, "nengo", pipeline="")
    y0, y1 = c.run({"in0": a, "in1": b}, steps=1, progress=False)
    z0, z1 = c.run([a, b], steps=1, progress=False)
    np.testing.assert_array_equal(y0, z0)
    assert y1.shape == (len(a), 1, 10)


def test_progress_bar(capsys):
    g, x = CASES["mlp"]()
    c = compile_graph(g, "nengo", pipeline="")
    c.run(x, steps=2, progress=False)
    c.run(x, steps=2)  # default: only for runs longer than a second
    assert capsys.readouterr().err == ""
    c.run(x, steps=2, progress=True)
    assert "sample" in capsys.readouterr().err


def test_codegen_imports_no_backend():
    """Listing targets and importing codegen imports neither nengo nor TensorFlow."""
    code = (
        "import sys, snnc.codegen as c; c.all_targets(); "
        "print(sorted(m for m in ('nengo', 'nengo_dl', 'tensorflow') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr


def test_nengo_dl_minibatches_pad_the_last_one():
    """5 samples in minibatches of 2 (the last one padded) equal one minibatch of 5."""
    g, _ = CASES["conv2d_valid"]()
    x = np.random.default_rng(0).uniform(-1, 1, size=(5, 7, 7, 2))
    with compile_graph(g, "nengo-dl", pipeline="") as c:
        y2 = c.run(x, steps=2, batch=2, progress=False)
        y5 = c.run(x, steps=2, progress=False)
    np.testing.assert_allclose(y2, y5, rtol=1e-6, atol=1e-6)

"""The compile artifact: atomic, refuses to overwrite, reloads, and its network.py runs
without snnc (and, for the nengo target, without TensorFlow)."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest
from graphs import CASES

from snnc.codegen import Compiled, compile_graph
from snnc.codegen.compiled import ARTIFACT_FILES
from snnc.errors import SnncError


@pytest.fixture
def compiled():
    g, x = CASES["residual_add_concat"]()
    return compile_graph(g, "nengo", pipeline=""), x


def test_save_load_roundtrip(compiled, tmp_path):
    c, x = compiled
    out = c.save(tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == sorted(ARTIFACT_FILES)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["target"] == "nengo" and manifest["pipeline"] == ""
    assert manifest["inputs"] == {"input": [6, 6, 2]} and manifest["neurons"] > 0
    assert "emitted as" in (out / "report.txt").read_text()
    loaded = Compiled.load(out)
    assert loaded.graph.structurally_equal(c.graph) and loaded.source == c.source
    np.testing.assert_array_equal(loaded.run(x, steps=2, progress=False), c.run(x, steps=2, progress=False))


def test_save_refuses_non_empty_folder(compiled, tmp_path):
    c, _ = compiled
    out = tmp_path / "out"
    out.mkdir()
    c.save(out)  # an empty folder is fine
    (out / "keep.txt").write_text("mine")
    with pytest.raises(SnncError, match="not empty"):
        c.save(out)
    assert (out / "keep.txt").exists()
    c.save(out, force=True)
    assert not (out / "keep.txt").exists() and (out / "network.py").exists()


def test_load_rejects_other_folders(tmp_path):
    with pytest.raises(SnncError, match="not an snnc compile output"):
        Compiled.load(tmp_path)


def test_network_is_the_generated_module(compiled):
    """The in-process network comes from executing the same source the artifact holds."""
    c, _ = compiled
    import nengo

    assert isinstance(c.network, nengo.Network)
    assert c.module.build.__code__.co_filename.startswith("<snnc network")
    assert c.network.label == c.graph.name


_STANDALONE = """
import importlib.util, sys
sys.path.append({purelib!r})  # site-packages without .pth files: snnc's editable install is off
sys.path.insert(0, {out!r})
assert importlib.util.find_spec("snnc") is None, "snnc must not be importable here"
import numpy as np
import {backend} as backend
import network

x = np.load({x!r})
outs = []
for sample in x:
    net, inputs, probes = network.build()
    (node,) = inputs.values()
    node.output = sample.reshape(-1)
    with backend.Simulator(net, dt=network.DT, progress_bar=False) as sim:
        sim.run_steps({steps})
    outs.append(sim.data[probes["output"]][-{steps}:].reshape(({steps}, -1)))
np.save({y!r}, np.stack(outs))
print("tensorflow" in sys.modules, "snnc" in sys.modules)
"""


@pytest.mark.parametrize("target, backend", [("nengo", "nengo"), ("nengo-dl", "nengo_dl")])
def test_network_runs_without_snnc(target, backend, tmp_path):
    g, x = CASES["conv2d_valid"]()
    x = x if target == "nengo" else x[:1]  # one nengo-dl build is enough (TF is slow)
    c = compile_graph(g, target, pipeline="")
    out = c.save(tmp_path / "out")
    np.save(tmp_path / "x.npy", x)
    script = _STANDALONE.format(
        purelib=sysconfig.get_paths()["purelib"], out=str(out), x=str(tmp_path / "x.npy"),
        y=str(tmp_path / "y.npy"), steps=2, backend=backend,
    )
    r = subprocess.run([sys.executable, "-I", "-S", "-c", textwrap.dedent(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    tf_loaded, snnc_loaded = r.stdout.split()[-2:]
    assert snnc_loaded == "False"
    if target == "nengo":
        assert tf_loaded == "False", "the nengo target's network must not import TensorFlow"
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_allclose(y, c.run(x, steps=2, progress=False).reshape(y.shape), rtol=1e-5, atol=1e-5)

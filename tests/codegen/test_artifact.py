"""The compile artifact: atomic, refuses to overwrite, reloads from model.snnc (refusing
files snnc did not generate), its network.py runs without snnc (and, for the nengo target,
without TensorFlow), and a target may produce files instead of a nengo network."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap
from dataclasses import dataclass

import numpy as np
import pytest
from graphs import CASES

from snnc.codegen import Compiled, FileArtifact, Target, compile_graph
from snnc.errors import ModelFileError, SnncError


@pytest.fixture
def compiled():
    g, x = CASES["residual_add_concat"]()
    return compile_graph(g, "nengo", pipeline=""), x


def test_save_load_roundtrip(compiled, tmp_path):
    c, x = compiled
    out = c.save(tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == sorted(c.files)
    assert set(c.files) == {"model.snnc", "network.py", "weights.npz", "manifest.json", "report.txt"}
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
    assert c.module.build.__code__.co_filename == "<snnc network>"
    assert c.network.label == c.graph.name


def _edit(path, old: bytes, new: bytes):
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))


def test_load_regenerates_and_refuses_an_edited_network(compiled, tmp_path):
    """Artifacts are data: Compiled.load builds from model.snnc, and a network.py that is
    not what snnc generates is refused, unless trust_code=True."""
    c, x = compiled
    out = c.save(tmp_path / "out")
    marker = tmp_path / "pwned"
    _edit(out / "network.py", b"import os\n", f"import os\nopen({str(marker)!r}, 'w').close()\n".encode())
    with pytest.raises(ModelFileError) as e:
        Compiled.load(out).run(x, steps=1, progress=False)
    msg = str(e.value)
    assert "network.py differs" in msg and "network_sha256 does not match" in msg
    assert "--trust-code" in msg and not marker.exists()
    regenerated, problems = Compiled.load_regenerated(out)  # for checkers: report, do not refuse
    assert len(problems) == 2 and regenerated.source == c.source
    np.testing.assert_array_equal(regenerated.run(x, steps=1, progress=False), c.run(x, steps=1, progress=False))
    assert not marker.exists()
    trusted = Compiled.load(out, trust_code=True)
    assert not marker.exists()  # nothing runs until the network is built
    np.testing.assert_array_equal(trusted.run(x, steps=2, progress=False), c.run(x, steps=2, progress=False))
    assert marker.exists()  # the user asked for it: their network.py ran


def test_load_refuses_edited_weights_and_manifest_hash(compiled, tmp_path):
    c, _ = compiled
    out = c.save(tmp_path / "out")
    weights = dict(np.load(out / "weights.npz"))
    key = next(iter(weights))
    weights[key] = weights[key] + 1
    np.savez(out / "weights.npz", **weights)
    with pytest.raises(ModelFileError, match=r"weights.npz differs from model.snnc's parameters"):
        Compiled.load(out)
    out = c.save(tmp_path / "out2")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["network_sha256"] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="network_sha256 does not match"):
        Compiled.load(out)


@pytest.mark.parametrize("manifest", ["[1, 2]", "{not json", '{"target": 3}', '{"target": "nowhere"}'])
def test_load_refuses_bad_manifests(compiled, tmp_path, manifest):
    c, _ = compiled
    out = c.save(tmp_path / "out")
    (out / "manifest.json").write_text(manifest)
    with pytest.raises(SnncError):
        Compiled.load(out)


@dataclass(frozen=True)
class _TextTarget(Target):
    """A backend that writes files, not a nengo network (the seam a NIR export uses)."""

    def emit(self, graph):
        from snnc.ir.printer import print_graph

        return FileArtifact({"graph.txt": print_graph(graph).encode()})

    def read_artifact(self, folder):
        return FileArtifact.read(folder, ["graph.txt"])


def test_a_target_may_produce_files(compiled, tmp_path):
    text_target = _TextTarget(name="text", description="IR text", default_pipeline="")
    c, x = compiled
    t = compile_graph(c.graph, text_target, pipeline="")
    assert t.files == ("model.snnc", "manifest.json", "report.txt", "graph.txt")
    assert "files_sha256" in t.manifest and "network_sha256" not in t.manifest
    with pytest.raises(SnncError, match="not a nengo network"):
        t.source  # noqa: B018
    with pytest.raises(SnncError, match="has no simulator"):
        t.run(x, steps=1)
    out = t.save(tmp_path / "out")
    assert (out / "graph.txt").read_text().startswith("graph @")
    from snnc.codegen import target as target_module

    target_module.register_target(text_target)
    try:
        assert Compiled.load(out).artifact.contents == t.artifact.contents
        (out / "graph.txt").write_text("edited")
        with pytest.raises(ModelFileError, match="graph.txt differs"):
            Compiled.load(out)
    finally:
        del target_module._TARGETS["text"]


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

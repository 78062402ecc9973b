"""Names are data (issue 11): node and graph names from a model never become code.

Graphs are written as ``.snnir`` text whose graph, input, neuron and output names are hostile
or awkward (code injections, docstring breakouts, backslashes, line breaks, NUL, non-ASCII),
then compiled, run, saved, reloaded and run again; the generated module must stay valid
Python, the results must equal the interpreter's, and the injected code must never run (a
marker file must never appear).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from snnc.codegen import Compiled, compile_graph
from snnc.errors import SnncError
from snnc.ir.interpreter import evaluate
from snnc.ir.parser import parse_graph

W = [[0.5, -0.25], [0.75, 1.0], [-0.5, 0.25]]
X = np.array([[0.2, -0.4, 0.9], [1.0, 0.3, -0.2]])


def injections(marker) -> list[str]:
    """Names that would run ``touch marker`` if spliced into Python source."""
    cmd = f"touch {marker}"
    call = f'__import__("os").system("{cmd}")'
    return [
        f'a"+str({call})+"',  # the issue's example: breaks out of a "..." literal
        f"a'+str({call.replace(chr(34), chr(39))})+'",  # the same for '...'
        f'"""+str({call})+"""',  # breaks out of a docstring
        f"'''+str({call})+'''",
        f"x\n{call}\n",  # a line of its own (a comment or a label broken by a newline)
        f"x\r{call}\r",
        f"x\\\n{call}",  # a line continuation
    ]


AWKWARD = ['"', "'", '"""', "a\\N", "a\\", "\\x41", "tab\there", "é漢字", "line\u2028sep", "", "1st", "class", "w", "np"]


def snnir(name: str, neuron: str = "snn.rate_relu", layers: int = 1) -> str:
    """A graph whose graph, input, neuron and output names are all derived from ``name``:
    input -> (dense -> neuron) * layers -> output, as .snnir text (names are JSON-quoted
    there). Spiking neurons get a synapse on their outgoing edges."""
    q = json.dumps  # the .snnir spelling of any name
    spiking = neuron != "snn.rate_relu"
    lines = [f"graph @{q(name)}(dt=0.001) {{", f"  %{q(name)} = nn.input() : f32[3]"]
    src, width = name, 3
    for i in range(layers):
        d, n = f"{name}.d{i}", f"{name}.n{i}"
        weight = json.dumps(W if width == 3 else [[1.0, 0.5], [0.5, 1.0]])
        edge = f"%{q(src)}" + (" [synapse=0.005]" if spiking and i else "")
        lines.append(f"  %{q(d)} = nn.dense({edge}) {{weight=<f32[{width},2] {weight}>, bias=<f32[2] [0.1,-0.1]>}} : f32[2]")
        out_type = "spike[2]" if spiking else "f32[2]"
        lines.append(f"  %{q(n)} = {neuron}(%{q(d)}) {{gain=<f32[] 1.0>, bias=<f32[] 0.0>, amplitude=1.0}} : {out_type}")
        src, width = n, 2
    edge = f"%{q(src)}" + (" [synapse=0.005]" if spiking else "")
    lines += [f"  %{q(name + '.out')} = nn.output({edge}) : f32[2]", "}"]
    return "\n".join(lines)


def _check(c, g, marker):
    tree = ast.parse(c.source)  # valid Python, whatever the names
    assert c.source.isascii()
    # the names are in string constants only: no call of anything they spell
    assert "__import__" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "system" not in {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    y = c.run(X, steps=1, progress=False)
    np.testing.assert_allclose(y[:, -1], evaluate(g, X), rtol=1e-6, atol=1e-6)
    assert not marker.exists()


@pytest.mark.parametrize("index", range(7))
def test_injected_names_never_run(tmp_path, index):
    marker = tmp_path / "pwned"
    name = injections(marker)[index]
    g = parse_graph(snnir(name))
    c = compile_graph(g, "nengo", pipeline="")
    _check(c, g, marker)
    net, inputs, probes = c.build()
    assert net.label == name and list(inputs) == [name] and list(probes) == [name + ".out"]
    assert {e.label for e in net.all_ensembles} == {name + ".n0"}
    out = c.save(tmp_path / "out")
    loaded = Compiled.load(out)
    assert loaded.graph.name == name
    np.testing.assert_array_equal(loaded.run(X, steps=1, progress=False), c.run(X, steps=1, progress=False))
    assert not marker.exists()


@pytest.mark.parametrize("name", AWKWARD, ids=[json.dumps(n) for n in AWKWARD])
def test_awkward_names_compile_run_and_reload(tmp_path, name):
    marker = tmp_path / "pwned"
    g = parse_graph(snnir(name))
    c = compile_graph(g, "nengo", pipeline="")
    _check(c, g, marker)
    loaded = Compiled.load(c.save(tmp_path / "out"))
    assert loaded.graph.structurally_equal(c.graph)
    np.testing.assert_array_equal(loaded.run(X, steps=1, progress=False), c.run(X, steps=1, progress=False))


def test_injected_names_on_nengo_dl(tmp_path):
    marker = tmp_path / "pwned"
    g = parse_graph(snnir(injections(marker)[0]))
    with compile_graph(g, "nengo-dl", pipeline="") as c:
        _check(c, g, marker)


def test_injected_names_on_loihi(tmp_path):
    """loihi's compile builds the network (its resource check): still no code runs."""
    marker = tmp_path / "pwned"
    name = injections(marker)[2]
    g = parse_graph(snnir(name, neuron="snn.loihi_if", layers=2))  # the first layer: on the host
    c = compile_graph(g, "loihi", pipeline="")
    y = c.run(X[:1], steps=5, progress=False)
    assert y.shape == (1, 5, 2) and not marker.exists()
    assert "Loihi resources" in c.report


def test_snnc_run_of_an_injected_artifact(tmp_path):
    """The CLI end to end: `snnc compile` of a hostile .snnir, then `snnc run`."""
    marker = tmp_path / "pwned"
    src = tmp_path / "evil.snnir"
    src.write_text(snnir(injections(marker)[0]))
    np.save(tmp_path / "x.npy", X)

    def snnc(*args):
        return subprocess.run([sys.executable, "-m", "snnc", *map(str, args)], capture_output=True, text=True, cwd=tmp_path)

    r = snnc("compile", src, "-o", tmp_path / "out", "-q")
    assert r.returncode == 0, r.stderr
    r = snnc("run", tmp_path / "out", "-i", tmp_path / "x.npy", "-n", "2", "-q")
    assert r.returncode == 0, r.stderr
    assert "readout" in r.stdout and not marker.exists()


@pytest.mark.parametrize("bad, why", [("bad\ud800name", "lone surrogate"), ("nul\x00x", "NUL")])
def test_unrepresentable_names_are_refused_at_load(bad, why):
    with pytest.raises(SnncError, match=why):
        parse_graph(snnir(bad))


def test_lone_surrogates_are_refused(tmp_path):
    src = tmp_path / "bad.snnir"
    src.write_text(snnir("bad\ud800name"))  # json.dumps wrote it as an ASCII escape
    r = subprocess.run(
        [sys.executable, "-m", "snnc", "compile", str(src), "-o", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and "lone surrogate" in r.stderr

"""`snnc layers`, `snnc compile --load-pass`, `snnc opt` pipelines from the Target and dumps
honouring --weights, and plain progress lines when stderr is not a terminal."""

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from snnc.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = Path(__file__).parent / "fixtures/tiny_dense.h5"  # Dense(2) named "dense"
PRUNE = ROOT / "examples/custom_pass.py"


def snnc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "snnc", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_layers_lists_supported_and_refused_without_tensorflow():
    code = (
        "import sys; from snnc.cli import main; rc = main(['layers']);"
        "assert rc == 0; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    supported, refused = r.stdout.split("\nrefused")
    for layer in ("Conv2D", "Dense", "AveragePooling2D", "BatchNormalization"):
        assert f"    {layer}\n" in supported
    assert "LSTM: recurrent layers" in refused


def test_layers_json(capsys):
    assert main(["layers", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "Dense" in doc["supported"] and "Lambda" in doc["refused"]


def test_compile_loads_pass_files(tmp_path):
    pipeline = "canonicalize,prune-weights{threshold=0.01},lower-activations{neuron=if},fuse-bias"
    r = snnc("compile", TINY, "--load-pass", PRUNE, "-p", pipeline, "-o", tmp_path / "out", "-q")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    assert "prune-weights{threshold=0.01}" in manifest["pipeline"]
    r = snnc("compile", TINY, "-p", pipeline, "-o", tmp_path / "out2")
    assert r.returncode == 2 and "prune-weights" in r.stderr and "Traceback" not in r.stderr


def test_opt_runs_the_pipeline_of_the_target(tmp_path, capsys):
    from snnc.codegen import get_target
    from snnc.ir.serialize import load

    out = tmp_path / "loihi.snnc"
    assert main(["opt", str(TINY), "--target", "loihi", "-o", str(out), "-q"]) == 0
    _, manifest = load(out)
    assert manifest["pipeline"] == get_target("loihi").default_pipeline
    assert "neuron=loihi-if" in manifest["pipeline"]


def test_opt_dumps_honour_weights_and_parse_back(tmp_path, capsys):
    from snnc.ir.parser import parse_file

    dumps = tmp_path / "dumps"
    args = ["opt", str(TINY), "-p", "canonicalize,lower-activations{neuron=if}", "-q"]
    assert main([*args, "--dump-dir", str(dumps)]) == 0
    files = sorted(dumps.iterdir())
    assert files and all("#" not in f.read_text() for f in files)  # full weights by default
    for f in files:
        parse_file(f)  # dumped files parse back
    capsys.readouterr()
    assert main([*args, "--dump-ir-after", "all", "--weights", "stats"]) == 0
    err = capsys.readouterr().err
    assert "// ----- IR after" in err and "mean=" in err


def test_progress_prints_plain_lines_off_a_terminal(monkeypatch):
    from snnc.codegen import target

    stream = io.StringIO()  # not a terminal
    monkeypatch.setattr(target, "PLAIN_PROGRESS_INTERVAL", 0.0)
    items = list(target.progress_bar(range(5), total=5, enabled=True, unit="sample", stream=stream))
    assert items == list(range(5))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and lines[-1].startswith("snnc: 5/5 samples (100%)")
    assert len(lines) == 5 and lines[0].startswith("snnc: 1/5 samples (20%)")
    quiet = io.StringIO()
    list(target.progress_bar(range(5), total=5, enabled=None, unit="sample", stream=quiet))
    assert quiet.getvalue() == ""  # the default shows nothing for a run under a second


def test_run_refuses_a_folder_that_is_not_an_artifact(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 2)))
    r = snnc("run", tmp_path, "-i", tmp_path / "x.npy")
    assert r.returncode == 2 and "not an snnc compile output" in r.stderr

"""`snnc compile`, `snnc run`, `snnc targets`: outputs, files, and exit 2 on bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from test_spiking import DIGITS

from snnc.cli import main

MODEL = DIGITS / "digits_cnn.keras"


def snnc(*args):
    """The real entry point in a subprocess: exit code, stderr, no traceback."""
    return subprocess.run([sys.executable, "-m", "snnc", *map(str, args)], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def digits_data(tmp_path_factory):
    """``(folder, x_test.npy, y_test.npy, x_cal.npy)`` of the digits split, as .npy files."""
    sys.path.insert(0, str(DIGITS))
    try:
        from data import load_split
    finally:
        sys.path.remove(str(DIGITS))
    x_train, _, x_test, y_test = load_split()
    d = tmp_path_factory.mktemp("digits")
    for name, a in (("x_test", x_test), ("y_test", y_test), ("x_cal", x_train[:200])):
        np.save(d / f"{name}.npy", a)
    return d, d / "x_test.npy", d / "y_test.npy", d / "x_cal.npy"


@pytest.fixture(scope="module")
def compiled_digits(digits_data):
    d, _, _, x_cal = digits_data
    out = d / "out"
    assert main(["compile", str(MODEL), "--target", "nengo", "--calibration", str(x_cal), "-o", str(out), "-q"]) == 0
    return out


def test_compile_writes_artifact_and_report(digits_data, capsys):
    d, _, _, x_cal = digits_data
    out = d / "out_dl"
    assert main(["compile", str(MODEL), "-t", "nengo-dl", "--neuron", "if", "--calibration", str(x_cal), "-o", str(out)]) == 0
    report = capsys.readouterr().out
    assert "conv1.act" in report and "snn.if" in report and "nengo.Convolution" in report
    assert "pipeline: canonicalize,fold-batchnorm,lower-activations{neuron=if," in report
    assert (out / "network.py").is_file() and (out / "model.snnc").is_file()
    assert (out / "report.txt").read_text() == report
    x = np.load(digits_data[1])[:20]
    np.save(d / "x20.npy", x)
    np.save(d / "y20.npy", np.load(digits_data[2])[:20])
    assert main(["run", str(out), "-i", str(d / "x20.npy"), "--labels", str(d / "y20.npy"), "-b", "8", "-q"]) == 0
    assert "accuracy: " in capsys.readouterr().out


def test_run_prints_digits_accuracy(compiled_digits, digits_data, capsys):
    """`snnc run` on the full held-out split (450 images) with IF neurons, 50 steps."""
    _, x_test, y_test, _ = digits_data
    assert main(["run", str(compiled_digits), "--input", str(x_test), "--labels", str(y_test), "--steps", "50", "-q"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("accuracy: ") and "after the last step, readout 'mean'" in line
    accuracy = float(line.split()[1])
    print(line)
    assert accuracy > 0.9  # chance is 0.1; the ANN gets 0.96


def test_run_saves_and_prints(compiled_digits, digits_data, tmp_path, capsys):
    _, x_test, _, _ = digits_data
    x = np.load(x_test)[:4]
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(compiled_digits), "-i", str(tmp_path / "x.npy"), "-n", "6", "-o", str(tmp_path / "y.npy"), "-q"]) == 0
    assert np.load(tmp_path / "y.npy").shape == (4, 6, 10)
    assert main(["run", str(compiled_digits), "-i", str(tmp_path / "x.npy"), "-n", "6", "-q"]) == 0
    assert "readout" in capsys.readouterr().out


def test_targets_lists_both():
    r = snnc("targets")
    assert r.returncode == 0
    assert "nengo:" in r.stdout and "nengo-dl:" in r.stdout and "lower-activations" in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["compile", MODEL, "--target", "spinnaker"], "unknown target 'spinnaker' (expected one of: loihi, nengo, nengo-dl, nir)"),
        (["compile", MODEL, "-p", "canonicalize"], "%conv1.act (ann.relu)"),  # model/pipeline mismatch
        (["compile", MODEL, "-p", "canonicalize", "--neuron", "if"], "has no 'lower-activations' pass"),
        (["compile", MODEL, "--neuron", "resonate-and-fire"], "unknown neuron"),
        (["compile", ROOT / "no_such.keras"], "no such file"),
    ],
)
def test_compile_bad_input_exits_2(args, message, tmp_path):
    r = snnc(*args, "-o", tmp_path / "out")
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_compile_refuses_existing_output(compiled_digits):
    r = snnc("compile", MODEL, "-o", compiled_digits, "-p", "")
    assert r.returncode == 2 and "not empty" in r.stderr and "--force" in r.stderr


def test_run_bad_input_exits_2(compiled_digits, tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((3, 64)))
    r = snnc("run", compiled_digits, "--input", tmp_path / "flat.npy", "--steps", "5")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "expected [batch, 8, 8, 1]" in r.stderr
    np.save(tmp_path / "x.npy", np.zeros((3, 8, 8, 1)))
    np.save(tmp_path / "y.npy", np.zeros(4, dtype=int))
    r = snnc("run", compiled_digits, "--input", tmp_path / "x.npy", "--labels", tmp_path / "y.npy", "-n", "2")
    assert r.returncode == 2 and "4 labels for 3 samples" in r.stderr
    r = snnc("run", tmp_path, "--input", tmp_path / "x.npy")
    assert r.returncode == 2 and "not an snnc compile output" in r.stderr


def test_run_refuses_an_edited_network_unless_trusted(compiled_digits, tmp_path):
    """Artifacts are data: `snnc run` builds from model.snnc and refuses a network.py that is
    not what snnc generates (exit 2), unless --trust-code."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(compiled_digits, out)
    marker = tmp_path / "edited"
    source = (out / "network.py").read_text()
    (out / "network.py").write_text(source.replace("import os\n", f"import os\nopen({str(marker)!r}, 'w').close()\n", 1))
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8, 1)))
    r = snnc("run", out, "-i", tmp_path / "x.npy", "-n", "2", "-q")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "network.py differs" in r.stderr and "--trust-code" in r.stderr
    assert not marker.exists()
    r = snnc("run", out, "-i", tmp_path / "x.npy", "-n", "2", "-q", "--trust-code")
    assert r.returncode == 0, r.stderr
    assert marker.exists()


def test_targets_lists_neurons_from_the_catalogue():
    r = snnc("targets")
    assert r.returncode == 0
    loihi = r.stdout.split("loihi:", 1)[1].split("\nnengo:", 1)[0]
    assert "neurons:  loihi-if, loihi-lif" in loihi and "refuses:" in loihi
    assert "neuron=loihi-if" in loihi

"""``snnc verify`` on the command line: exit 0 / 1 / 2, the JSON report, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import MODEL, ROOT


def test_cli_passes_on_digits_and_writes_json(cli, digits_npz, digits, tmp_path):
    np.save(tmp_path / "cal.npy", digits[0][:200])
    code, out, err = cli(
        "verify",
        MODEL,
        "--data",
        digits_npz,
        "--steps",
        "10",
        "--calibration",
        tmp_path / "cal.npy",
        "--json",
        tmp_path / "r.json",
        "-q",
    )
    assert code == 0, err
    assert "tier 1" in out and "PASSED" in out and "tier 2" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["tier1"]["passed"] and data["tier2"]["steps"] == 10
    assert data["tier1"]["worst_layer"] in ("conv1", "conv2", "flatten", "logits")


def test_cli_input_and_labels_files(cli, digits, tmp_path):
    np.save(tmp_path / "x.npy", digits[2][:50])
    np.save(tmp_path / "y.npy", digits[3][:50])
    code, out, err = cli(
        "verify",
        MODEL,
        "--input",
        tmp_path / "x.npy",
        "--labels",
        tmp_path / "y.npy",
        "--tier",
        "1",
        "-q",
    )
    assert code == 0, err
    assert "(50 samples)" in out


def test_cli_flipped_layer_exits_1_and_names_it(
    cli, flipped, digits_artifact, digits_npz, tmp_path
):
    code, out, err = cli(
        "verify",
        flipped("conv2"),
        "--data",
        digits_npz,
        "--artifact",
        digits_artifact,
        "--tier",
        "1",
        "--json",
        tmp_path / "r.json",
        "-q",
    )
    assert code == 1, err
    assert "FAIL layer 'conv2'" in out and "Traceback" not in err
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["tier1"]["passed"] is False and data["tier1"]["worst_layer"] == "conv2"


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _npy(path, array):
    np.save(path, array)
    return path


def _truncated(src, path):
    data = src.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


BAD_INPUTS = {
    "missing model": lambda d, t: ["verify", t / "nope.keras", "--data", d],
    "missing data": lambda d, t: ["verify", MODEL, "--data", t / "nope.npz"],
    "npz without y": lambda d, t: [
        "verify",
        MODEL,
        "--data",
        _npz(t / "x_only.npz", x=np.zeros((2, 8, 8, 1))),
    ],
    "npz without x": lambda d, t: [
        "verify",
        MODEL,
        "--data",
        _npz(t / "y_only.npz", y=np.zeros(2, int)),
    ],
    "non-integer labels": lambda d, t: [
        "verify",
        MODEL,
        "--data",
        _npz(t / "float.npz", x=np.zeros((2, 8, 8, 1)), y=np.array([0.5, 1.0])),
    ],
    "wrong input shape": lambda d, t: [
        "verify",
        MODEL,
        "--data",
        _npz(t / "shape.npz", x=np.zeros((2, 8, 8)), y=np.zeros(2, int)),
    ],
    "label count": lambda d, t: [
        "verify",
        MODEL,
        "--data",
        _npz(t / "count.npz", x=np.zeros((3, 8, 8, 1)), y=np.zeros(2, int)),
    ],
    "label out of range": lambda d, t: [
        "verify",
        MODEL,
        "--data",
        _npz(t / "range.npz", x=np.zeros((2, 8, 8, 1)), y=np.array([0, 10])),
    ],
    "not an npz": lambda d, t: ["verify", MODEL, "--data", MODEL],
    "no data": lambda d, t: ["verify", MODEL],
    "npy as data": lambda d, t: [
        "verify",
        MODEL,
        "--data",
        _npy(t / "x.npy", np.zeros((2, 8, 8, 1))),
    ],
    "object arrays": lambda d, t: [
        "verify",
        MODEL,
        "--data",
        _npz(t / "obj.npz", x=np.zeros((2, 8, 8, 1)), y=np.array([0, None])),
    ],
    "truncated npz": lambda d, t: ["verify", MODEL, "--data", _truncated(d, t / "cut.npz")],
    "input without labels": lambda d, t: ["verify", MODEL, "--input", d],
    "data and input": lambda d, t: ["verify", MODEL, "--data", d, "--input", d],
    "missing artifact": lambda d, t: [
        "verify",
        MODEL,
        "--data",
        d,
        "--artifact",
        t / "no_such_out",
    ],
    "bad steps": lambda d, t: ["verify", MODEL, "--data", d, "--steps", "0"],
    "bad tolerance": lambda d, t: ["verify", MODEL, "--data", d, "--tolerance", "-1"],
    "unknown target": lambda d, t: ["verify", MODEL, "--data", d, "--target", "spinnaker"],
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_a_message(case, cli, digits_npz, tmp_path):
    code, out, err = cli(*BAD_INPUTS[case](digits_npz, tmp_path))
    assert code == 2, (out, err)
    assert err.startswith("snnc verify: error:") and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 4  # one paragraph (+ hint), not a dump


def _snnc(*args):
    """The real entry point, in a subprocess (needs `verify` registered in snnc.cli)."""
    return subprocess.run(
        [sys.executable, "-m", "snnc", *map(str, args)], capture_output=True, text=True, cwd=ROOT
    )


def test_subprocess_bad_input_exits_2_without_traceback(tmp_path):
    bad = _npz(tmp_path / "bad.npz", x=np.zeros((2, 8, 8, 1)), y=np.array([0.5, 1.0]))
    r = _snnc("verify", MODEL, "--data", bad)
    assert r.returncode == 2, r.stderr
    assert "labels must be integer class indices" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow  # a cold TensorFlow import in the subprocess; the in-process CLI test covers exit 1
def test_subprocess_flipped_layer_exits_1(flipped, digits_artifact, digits_npz, tmp_path):
    r = _snnc(
        "verify",
        flipped("logits"),
        "--data",
        digits_npz,
        "--artifact",
        digits_artifact,
        "--tier",
        "1",
        "--json",
        tmp_path / "r.json",
    )
    assert r.returncode == 1, r.stderr
    assert json.loads((tmp_path / "r.json").read_text())["tier1"]["worst_layer"] == "logits"

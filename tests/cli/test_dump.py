"""`snnc dump`, `--help`, `--version`: output, exit codes, no traceback, no TensorFlow."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from snnc.cli import main
from snnc.ir.serialize import save

ROOT = Path(__file__).resolve().parents[2]
KERAS3 = ROOT / "tests/frontend/fixtures/keras3"
DIGITS = ROOT / "examples/digits/digits_cnn.keras"


def snnc(*args):
    """Run the CLI in a subprocess (the real entry point: exit code, stderr, imports)."""
    return subprocess.run([sys.executable, "-m", "snnc", *map(str, args)], capture_output=True, text=True)


def test_help_and_version():
    r = snnc("--help")
    assert r.returncode == 0 and "dump" in r.stdout
    r = snnc("--version")
    assert r.returncode == 0 and r.stdout.startswith("snnc ")


def test_dump_text_json_dot(tmp_path, capsys):
    assert main(["dump", str(DIGITS)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("graph @") and "nn.conv2d(%" in text and "ann.relu" in text
    assert main(["dump", str(DIGITS), "--format", "json", "--weights", "stats"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["stage"] == "ann" and any(n["op"] == "nn.dense" for n in doc["nodes"])
    out = tmp_path / "g.dot"
    assert main(["dump", str(DIGITS), "--format", "dot", "-o", str(out)]) == 0
    assert out.read_text().startswith("digraph")


def test_dump_full_weights_round_trips_through_snnir_and_snnc(tmp_path, capsys):
    assert main(["dump", str(DIGITS), "--weights", "full", "--meta"]) == 0
    text = capsys.readouterr().out
    (tmp_path / "m.snnir").write_text(text)
    assert main(["dump", str(tmp_path / "m.snnir"), "--weights", "full", "--meta"]) == 0
    assert capsys.readouterr().out == text
    import snnc as api

    save(api.load(tmp_path / "m.snnir"), tmp_path / "m.snnc")
    assert main(["dump", str(tmp_path / "m.snnc"), "--weights", "full", "--meta"]) == 0
    assert capsys.readouterr().out == text


def test_dump_of_a_keras_file_does_not_import_tensorflow():
    code = (
        "import sys; from snnc.cli import main; rc = main(['dump', sys.argv[1]]);"
        "assert rc == 0; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    r = subprocess.run([sys.executable, "-c", code, str(KERAS3 / "cnn.keras")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _truncated(tmp_path):
    p = tmp_path / "truncated.keras"
    p.write_bytes(DIGITS.read_bytes()[:3000])
    return p


def _broken_json(tmp_path):
    p = tmp_path / "broken_json.keras"
    with zipfile.ZipFile(DIGITS) as src, zipfile.ZipFile(p, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            dst.writestr(item, b"{not json" if item.filename == "config.json" else data)
    return p


def _no_weights(tmp_path):
    p = tmp_path / "no_weights.keras"
    with zipfile.ZipFile(DIGITS) as src, zipfile.ZipFile(p, "w") as dst:
        for item in src.infolist():
            if not item.filename.endswith(".h5"):
                dst.writestr(item, src.read(item.filename))
    return p


def _nan_weights(tmp_path):
    import h5py

    p = tmp_path / "nan_weights.h5"
    import shutil

    src = Path(__file__).parent / "fixtures/tiny_dense.h5"  # Dense(2) named "dense", legacy HDF5
    shutil.copy(src, p)
    with h5py.File(p, "r+") as f:
        def poison(name, obj):
            if isinstance(obj, h5py.Dataset) and "kernel" in name:
                obj[...] = np.nan
        f["model_weights"].visititems(poison)
    return p


def _text_file(tmp_path):
    p = tmp_path / "notes.keras"
    p.write_text("hello")
    return p


@pytest.mark.parametrize(
    "make, words",
    [
        (_truncated, ["truncated.keras"]),
        (_broken_json, ["broken_json.keras", "config.json"]),
        (_no_weights, ["no_weights.keras", "weights"]),
        (_text_file, ["notes.keras"]),
        (_nan_weights, ["nan_weights.h5", "dense", "NaN"]),
        (lambda tmp: tmp / "missing.keras", ["missing.keras", "no such file"]),
    ],
)
def test_bad_files_exit_2_with_one_paragraph_and_no_traceback(tmp_path, make, words):
    r = snnc("dump", make(tmp_path))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    for w in words:
        assert w in r.stderr
    assert r.stderr.startswith("snnc dump: error: ")


def test_unsupported_layer_exits_2_naming_the_layer(tmp_path):
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    inp = tf.keras.Input((4, 3))
    x = tf.keras.layers.LSTM(2, name="my_lstm")(inp)
    x = tf.keras.layers.Dense(2, name="head")(x)
    path = tmp_path / "lstm.h5"
    tf.keras.Model(inp, x).save(path)
    r = snnc("dump", path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "my_lstm" in r.stderr and "LSTM" in r.stderr

"""Fixtures of the ``snnc verify`` tests: the digits example's data, a compiled artifact of
it, and copies of the model with one layer's weights sign-flipped (made with TensorFlow)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "examples" / "digits"
MODEL = DIGITS / "digits_cnn.keras"
KERAS3 = ROOT / "tests" / "frontend" / "fixtures" / "keras3"
#: the Keras layers of the digits CNN, in order
LAYERS = ("conv1", "conv2", "flatten", "logits")


@pytest.fixture(scope="session")
def digits(digits_split):
    """``(x_train, y_train, x_test, y_test)`` of examples/digits (450 test images)."""
    return digits_split


@pytest.fixture(scope="session")
def digits_npz(digits, tmp_path_factory) -> Path:
    """The held-out digits as ``DATA.npz`` (arrays x and y)."""
    path = tmp_path_factory.mktemp("data") / "digits_test.npz"
    np.savez(path, x=digits[2], y=digits[3])
    return path


@pytest.fixture(scope="session")
def digits_artifact(digits, tmp_path_factory) -> Path:
    """``snnc compile examples/digits/digits_cnn.keras --calibration x_train[:200]``."""
    import snnc

    out = tmp_path_factory.mktemp("artifact") / "digits.nengo"
    snnc.compile(MODEL, "nengo", calibration=digits[0][:200]).save(out)
    return out


@pytest.fixture(scope="session")
def flipped(tmp_path_factory):
    """``flipped(layer)``: a copy of the digits model, saved by TensorFlow, with the sign of
    ``layer``'s kernel flipped (the bias unchanged)."""
    folder = tmp_path_factory.mktemp("flipped")
    made: dict[str, Path] = {}

    def make(layer: str) -> Path:
        if layer not in made:
            import tensorflow as tf

            model = tf.keras.models.load_model(MODEL, compile=False)
            weights = model.get_layer(layer).get_weights()
            weights[0] = -weights[0]
            model.get_layer(layer).set_weights(weights)
            path = folder / f"digits_{layer}_flipped.keras"
            model.save(path, save_format="keras_v3")
            made[layer] = path
        return made[layer]

    return make


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run ``snnc ARGS`` in-process through ``snnc.cli.main``; returns ``(code, out, err)``.

    ``verify`` is added to the command table if it is not registered yet, so these tests
    run the real argument parsing, error handling and exit codes either way."""
    from snnc import cli as snnc_cli

    if "verify" not in snnc_cli.COMMANDS:
        monkeypatch.setattr(snnc_cli, "COMMANDS", (*snnc_cli.COMMANDS, "verify"))

    def run(*args) -> tuple[int, str, str]:
        code = snnc_cli.main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run

"""Fixtures of the sweep tests: the bundled digits CNN and a few held-out digits.

The held-out split is the one ``examples/digits`` trains and reports on; the tests use its
first samples only, to stay fast (each grid point simulates every sample).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "examples" / "digits"
MODEL = DIGITS / "digits_cnn.keras"


@pytest.fixture(scope="session")
def small(digits_split):
    """20 held-out digits, and 100 training digits for rate calibration."""
    x_train, _, x_test, y_test = digits_split
    return x_test[:20], y_test[:20], x_train[:100]


@pytest.fixture(scope="session")
def model_path() -> str:
    return str(MODEL)


@pytest.fixture
def data_npz(tmp_path, small) -> str:
    x, y, _ = small
    path = tmp_path / "data.npz"
    np.savez(path, x=x, y=y)
    return str(path)


@pytest.fixture
def calibration_npy(tmp_path, small) -> str:
    path = tmp_path / "calibration.npy"
    np.save(path, small[2])
    return str(path)

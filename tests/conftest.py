"""Shared test set-up: quiet TensorFlow, deterministic hypothesis profile, the digits split."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "snnc", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("snnc")


DIGITS_DIR = Path(__file__).resolve().parents[1] / "examples" / "digits"


@pytest.fixture(scope="session")
def digits_split():
    """``(x_train, y_train, x_test, y_test)`` of examples/digits (seeded, stratified; 450
    test images)."""
    sys.path.insert(0, str(DIGITS_DIR))
    try:
        from data import load_split
    finally:
        sys.path.remove(str(DIGITS_DIR))
    return load_split()

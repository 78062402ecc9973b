"""Fixtures of the codegen tests: the ``target`` fixture runs a test on every nengo target."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))  # graphs.py

TARGETS = ["nengo", "nengo-dl"]


@pytest.fixture(params=TARGETS)
def target(request) -> str:
    """The target name; the same test runs on each."""
    return request.param

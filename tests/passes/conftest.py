"""Shared setup of the pass tests: make ``tests.passes.strategies`` and the frontend zoo
importable, and undo registrations of test-only passes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def clean_registry():
    """Remove every pass a test registers (the registry is process-global)."""
    from snnc.passes import PASSES

    before = dict(PASSES)
    yield PASSES
    PASSES.clear()
    PASSES.update(before)

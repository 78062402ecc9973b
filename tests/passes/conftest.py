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


NEURON_PLUGIN = ROOT / "tests" / "passes" / "plugins" / "neuron_plugin.py"


@pytest.fixture
def neuron_plugin():
    """The test neuron of ``plugins/neuron_plugin.py``, loaded as a plugin file (the way
    ``--load-pass`` loads it); yields its class. Its catalogue and op registrations are
    removed afterwards, so suites that enumerate the neurons see only the built-in ones.
    (Loaded per test: loading again defines a new class, and a test compares classes.)
    """
    from snnc.ir.neurons import NEURONS
    from snnc.ir.ops import OPS
    from snnc.passes import load_pass_file

    assert load_pass_file(NEURON_PLUGIN) == []  # a neuron, no pass
    cls = NEURONS["test-relu-if"]
    yield cls
    NEURONS.pop(cls.option, None)
    OPS.pop(cls.kind, None)

"""Robustness tests reuse the frontend tests' helpers (the model zoo, model_files)."""

import sys
from pathlib import Path

FRONTEND_TESTS = Path(__file__).parents[1] / "frontend"
if str(FRONTEND_TESTS) not in sys.path:
    sys.path.insert(0, str(FRONTEND_TESTS))

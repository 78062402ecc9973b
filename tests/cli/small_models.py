"""Small models for the CLI tests of data files and limits, written without TensorFlow:
a ``.snnir`` classifier (fast to compile and run) and hand-written Keras 3 files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from snnc.cli import main
from snnc.ir import Graph, ops
from snnc.ir.printer import print_graph

ROOT = Path(__file__).resolve().parents[2]
#: a Keras 3 Sequential: Input 8x8x1, Conv2D(4, 3, relu), AveragePooling2D, Flatten, Dense(3)
CNN = ROOT / "tests" / "frontend" / "fixtures" / "keras3" / "cnn.keras"
#: the sample shape and the classes of :func:`write_small`
INPUT_SHAPE = (2, 3)
CLASSES = 3


def cli(capsys, *args) -> tuple[int, str, str]:
    """``snnc ARGS`` in-process: ``(exit code, stdout, stderr)`` (argparse errors exit
    through SystemExit)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_small(path: Path) -> Path:
    """``small.snnir``: input (2, 3) -> flatten -> dense(5) -> relu -> dense(3) -> output."""
    rng = np.random.default_rng(0)
    g = Graph("small")
    g.add("x", ops.Input(shape=INPUT_SHAPE))
    g.add("flat", ops.Flatten(), ["x"])
    g.add("d1", ops.Dense(weight=rng.normal(size=(6, 5)).astype(np.float32), bias=np.zeros(5, np.float32)), ["flat"])
    g.add("r1", ops.ReLU(), ["d1"])
    g.add("d2", ops.Dense(weight=rng.normal(size=(5, CLASSES)).astype(np.float32), bias=np.zeros(CLASSES, np.float32)), ["r1"])
    g.add("out", ops.Output(), ["d2"])
    path.write_text(print_graph(g, weights="full"))
    return path


def _model_files():
    """tests/frontend/model_files.py (hand-written Keras 3 files), loaded by path."""
    spec = importlib.util.spec_from_file_location(
        "model_files_for_cli", ROOT / "tests" / "frontend" / "model_files.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_upsampling(path: Path, size: int) -> Path:
    """A Keras 3 ``.keras``: Input 8x8x4 then ``UpSampling2D(size)`` (no weights); size 300
    makes 23,040,000 values per sample, over the default ``max_activations``."""
    mf = _model_files()
    config = mf.sequential(
        [
            mf.input_layer((8, 8, 4)),
            {"class_name": "UpSampling2D", "config": {"name": "up", "size": [size, size]}},
        ]
    )
    return mf.write_keras(path, config)

"""Compile time against model depth: chains of 1k / 3k / 10k (``--max``: 100k) layers.

Each chain is ``input -> (dense 4x4 -> relu) x n -> output`` built in the IR, then run
through the nengo target's default pipeline (``snnc.optimize``) and emitted as a nengo
network (``Target.emit``, no simulator). Linear growth means the time per layer stays flat
as n grows. Prints a table; one run, best of ``--rounds``.

Usage: ``TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/compile_time.py [--max 100000]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import snnc
from snnc.codegen import get_target
from snnc.ir import Graph, ops


def chain(n: int) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph(f"chain{n}")
    prev = g.add("x", ops.Input(shape=(4,)))
    for i in range(n):
        d = g.add(f"d{i}", ops.Dense(weight=np.eye(4) + rng.normal(size=(4, 4)) * 0.01), [prev])
        prev = g.add(f"r{i}", ops.ReLU(), [d])
    g.add("y", ops.Output(), [prev])
    return g


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=int, default=10_000, help="largest chain (layers)")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    target = get_target("nengo")
    x = np.random.default_rng(1).uniform(0, 1, size=(128, 4))
    sizes = [n for n in (1_000, 3_000, 10_000, 30_000, 100_000) if n <= args.max]
    print("| layers | build IR (s) | passes (s) | emit (s) | total per layer (ms) |")
    print("|---|---|---|---|---|")
    for n in sizes:
        best = None
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            g = chain(n)
            t1 = time.perf_counter()
            g2 = snnc.optimize(g, target.default_pipeline, calibration=x)
            t2 = time.perf_counter()
            target.emit(g2)
            t3 = time.perf_counter()
            times = (t1 - t0, t2 - t1, t3 - t2)
            best = times if best is None or sum(times) < sum(best) else best
        b, p, e = best
        print(f"| {n} | {b:.2f} | {p:.2f} | {e:.2f} | {1000 * (b + p + e) / n:.3f} |", flush=True)


if __name__ == "__main__":
    main()

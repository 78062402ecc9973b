"""Fit the simulator's event-driven vs GEMM cost model (``snnc.sim.plan.events_pay``).

For the dense and convolution shapes of ``benchmarks/kernel_speed.py`` at spike densities
from 2% to 40%, times the event-driven kernels (``gather_conv2d``, ``gather_dense``) and
the GEMM path (``conv_gemm``: im2col + ``gemm``) on every core at once (one copy of the
problem per core, as the simulator's workers run: the event path shares memory bandwidth
worse than the GEMM, so one core alone flatters it), interleaved, best of the rounds; fits

    event ns = a * inputs + b * (non-zero inputs x uses) + c * (event multiply-adds)
    GEMM ns  = d * (dense multiply-adds)

by least squares, and prints the table with the path the fitted model and the committed
constants choose against the faster one measured::

    .venv/bin/python benchmarks/event_cost.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import math
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np


def conv_cases():
    """(name, rows, (H, W, C), (KH, KW, O), stride, pad) of the workloads' convolutions."""
    return [
        ("A conv 6x6x16 -> 32 /2", 4000, (6, 6, 16), (3, 3, 32), 2, 0),
        ("B conv 26x26x32 -> 64 /2", 300, (26, 26, 32), (3, 3, 64), 2, 0),
        ("B conv 12x12x64 -> 64 /2", 600, (12, 12, 64), (3, 3, 64), 2, 0),
        ("conv 16x16x32 -> 32 same", 300, (16, 16, 32), (3, 3, 32), 1, 1),
    ]


def dense_cases():
    """(name, rows, K, O) of the workloads' dense layers."""
    return [
        ("A dense 128 -> 64", 20000, 128, 64),
        ("B dense 1600 -> 256", 2000, 1600, 256),
        ("dense 256 -> 10", 20000, 256, 10),
    ]


def best(fns: dict, rounds: int) -> dict:
    """Best wall time of each entry: a list of callables, one per worker, run together."""
    pool = ThreadPoolExecutor(max(len(v) for v in fns.values()))

    def together(calls):
        list(pool.map(lambda f: f(), calls))

    for calls in fns.values():
        together(calls)
    out = {k: math.inf for k in fns}
    for _ in range(rounds):
        for k, calls in fns.items():
            start = time.perf_counter()
            together(calls)
            out[k] = min(out[k], time.perf_counter() - start)
    pool.shutdown()
    return out


def measure(rounds: int, densities, workers: int) -> list[dict]:
    """Event and GEMM seconds per case and density; each worker runs its own copy."""
    from snnc.sim import numba_kernels as nk
    from snnc.sim.plan import cols_block, window_uses

    rng = np.random.default_rng(0)
    rows = []
    for name, r, (h, w, c), (kh, kw, o), st, pad in conv_cases():
        oh, ow = (h + 2 * pad - kh) // st + 1, (w + 2 * pad - kw) // st + 1
        wt = rng.normal(size=(kh, kw, c, o)).astype(np.float32)
        cols = (oh, ow, kh, kw, c)
        block = cols_block(cols, 4)
        uses = window_uses((h, w), (oh, ow), (kh, kw), (st, st), (1, 1), (pad, pad))
        geom = (st, st, 1, 1, pad, pad)
        for d in densities:
            xs = [
                ((rng.uniform(size=(r, h, w, c)) < d) * 1000.0).astype(np.float32)
                for _ in range(workers)
            ]
            outs = [np.empty((r, oh, ow, o), np.float32) for _ in range(workers)]
            bufs = [np.empty(block * math.prod(cols), np.float32) for _ in range(workers)]
            w2 = wt.reshape(-1, o)
            t = best(
                {
                    "event": [
                        partial(nk.gather_conv2d, x, wt, out, *geom)
                        for x, out in zip(xs, outs, strict=True)
                    ],
                    "gemm": [
                        partial(nk.conv_gemm, x, w2, out, buf, block, kh, kw, *geom)
                        for x, out, buf in zip(xs, outs, bufs, strict=True)
                    ],
                },
                rounds,
            )
            nnz = int(np.count_nonzero(xs[0]))
            rows.append(
                dict(
                    name=name,
                    density=d,
                    size=xs[0].size,
                    uses=nnz * uses,
                    macs=nnz * uses * o,
                    dense=r * oh * ow * kh * kw * c * o,
                    **t,
                )
            )
    for name, r, k, o in dense_cases():
        wt = rng.normal(size=(k, o)).astype(np.float32)
        for d in densities:
            xs = [
                ((rng.uniform(size=(r, k)) < d) * 1000.0).astype(np.float32) for _ in range(workers)
            ]
            outs = [np.empty((r, o), np.float32) for _ in range(workers)]
            pairs = list(zip(xs, outs, strict=True))
            t = best(
                {
                    "event": [partial(nk.gather_dense, x, wt, out) for x, out in pairs],
                    "gemm": [partial(nk.gemm, x, wt, out) for x, out in pairs],
                },
                rounds,
            )
            nnz = int(np.count_nonzero(xs[0]))
            rows.append(
                dict(
                    name=name,
                    density=d,
                    size=xs[0].size,
                    uses=nnz,
                    macs=nnz * o,
                    dense=r * k * o,
                    **t,
                )
            )
    return rows


def main() -> None:
    import scipy.linalg.cython_blas  # noqa: F401 - numba's BLAS, loaded before the limit
    from threadpoolctl import threadpool_limits

    from snnc.sim import plan
    from snnc.sim.simulator import available_cores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    densities = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4)
    workers = available_cores()
    print(f"{workers} workers, one copy of each problem each\n")
    with threadpool_limits(limits=1, user_api="blas"):
        rows = measure(args.rounds, densities, workers)
    a = np.array([[r["size"], r["uses"], r["macs"]] for r in rows], float)
    ev = np.array([r["event"] for r in rows]) * 1e9
    # relative least squares: every shape counts, not just the largest
    coef = np.linalg.lstsq(a / ev[:, None], np.ones(len(rows)), rcond=None)[0]
    gemm_ns = float(np.median([r["gemm"] * 1e9 / r["dense"] for r in rows]))
    print(
        f"fitted: ns per input {coef[0]:.3f}, per use {coef[1]:.3f}, per MAC {coef[2]:.4f}; "
        f"GEMM ns per MAC {gemm_ns:.4f}"
    )
    print(
        f"committed: {plan.EVENT_NS_PER_INPUT}, {plan.EVENT_NS_PER_USE}, "
        f"{plan.EVENT_NS_PER_MAC}; GEMM {plan.GEMM_NS_PER_MAC}; margin {plan.EVENT_MARGIN}\n"
    )
    print(
        "| layer | density | event (ms) | GEMM (ms) | faster | fit picks | committed picks | loss |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        faster = "event" if r["event"] < r["gemm"] else "gemm"
        nnz_uses, macs = r["uses"], r["macs"]
        committed = (
            plan.EVENT_NS_PER_INPUT * r["size"]
            + plan.EVENT_NS_PER_USE * nnz_uses
            + plan.EVENT_NS_PER_MAC * macs
        )
        gemm_cost = plan.EVENT_MARGIN * plan.GEMM_NS_PER_MAC * r["dense"]
        pick = "event" if committed < gemm_cost else "gemm"
        fitted = coef @ [r["size"], nnz_uses, macs]
        fit_pick = "event" if fitted < gemm_ns * r["dense"] else "gemm"
        loss = max(r[pick] / min(r["event"], r["gemm"]) - 1, 0)
        print(
            f"| {r['name']} | {r['density']:.0%} | {r['event'] * 1e3:.1f} | "
            f"{r['gemm'] * 1e3:.1f} | {faster} | {fit_pick} | {pick} | {loss:.0%} |"
        )


if __name__ == "__main__":
    main()

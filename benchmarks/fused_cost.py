"""Fit the cost model the fused neuron + product kernel chooses its product by
(``snnc.sim.numba_kernels._neurons_conv_fma`` under ``event="auto"``).

For the convolution and dense shapes of ``benchmarks/kernel_speed.py`` at spike densities of
5-30%, times ``neuron_conv_fma(IF)`` with the product over every spike (``FUSED_DENSE``: the
register blocks of ``conv_fma``) and over the listed non-zero spikes only (``FUSED_EVENTS``),
and the IF steps alone, on one core, interleaved, best of the rounds. The neurons' steps are
the same in both modes, so the products' costs are the times less the steps'. Fits

    dense ns  = a * multiply-adds
    events ns = b * (8-input blocks listed) + c * (listed inputs x _gather passes)

(relative least squares, non-negative), and prints the table with the product the fitted
model and the committed constants choose against the faster one measured::

    .venv/bin/python benchmarks/fused_cost.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

#: (name, (H, W, C), (KH, KW, O), stride, samples, steps)
SHAPES = [
    ("A conv 6x6x16 -> 32 /2", (6, 6, 16), (3, 3, 32), 2, 199, 20),
    ("A dense 128 -> 64", (1, 1, 128), (1, 1, 64), 1, 199, 20),
    ("B conv 26x26x32 -> 64 /2", (26, 26, 32), (3, 3, 64), 2, 24, 10),
    ("B conv 12x12x64 -> 64 /2", (12, 12, 64), (3, 3, 64), 2, 64, 10),
    ("B dense 1600 -> 256", (1, 1, 1600), (1, 1, 256), 1, 64, 10),
    ("conv 8x8x32 -> 64", (8, 8, 32), (3, 3, 64), 1, 64, 10),
]
RATES = (0.05, 0.1, 0.2, 0.3)
DT, AMPLITUDE = 1e-3, 0.01


def measure(shape, rate: float, rounds: int) -> dict:
    import numba

    from snnc.ir.neurons import IF
    from snnc.sim import numba_kernels as nk
    from snnc.sim.kernels import FUSED_DENSE, FUSED_EVENTS

    _, (h, w_, c), (kh, kw, o), stride, rows, steps = shape
    n = h * w_ * c
    oh, ow = (h - kh) // stride + 1, (w_ - kw) // stride + 1
    rng = np.random.default_rng(0)
    x3 = rng.random((1, rows, n)).astype(np.float32)
    gain = np.full(n, rate / (0.5 * DT))  # x ~ U(0, 1): `rate` spikes per step on average
    bias = np.zeros(n)
    w = rng.standard_normal((kh * kw * c, o)).astype(np.float32)
    u5 = np.zeros((steps, rows, oh, ow, o), np.float32)
    v = np.full((rows, n), 0.5, np.float32)
    s4 = np.zeros((6, h, w_, c), np.float32)
    fused = nk.neuron_conv_fma(IF)
    step = nk.neuron_step(IF)

    @numba.njit(nogil=True)
    def steps_only(x3, gain, bias, v, s2):
        for r0 in range(0, v.shape[0], 6):
            r1 = min(r0 + 6, v.shape[0])
            for _ in range(steps):
                step(x3[0, r0:r1], gain, bias, s2[: r1 - r0], v[r0:r1], DT, AMPLITUDE)

    geometry = (kh, kw, stride, stride, 1, 1, 0, 0)
    calls = {
        mode: (lambda m=m: fused(x3, 0, gain, bias, v, (DT, AMPLITUDE), s4, w, u5, m, *geometry))
        for mode, m in (("dense", FUSED_DENSE), ("events", FUSED_EVENTS))
    }
    calls["steps"] = lambda: steps_only(x3, gain, bias, v, s4.reshape(6, -1))
    best = dict.fromkeys(calls, np.inf)
    for _ in range(rounds):
        for k, f in calls.items():
            start = time.perf_counter()
            f()
            best[k] = min(best[k], time.perf_counter() - start)
    per = rows * steps
    xoff, woff, ntap = nk._fma_taps((h, w_, c), (oh, ow, o), kh, kw, stride, stride, 1, 1, 0, 0)
    uses = np.zeros(h * w_)
    np.add.at(uses, np.concatenate([xoff[p, : ntap[p]] // c for p in range(len(ntap))]), 1)
    spikes = np.zeros((steps, rows, n), np.float32)
    v2 = np.full((rows, n), 0.5, np.float32)
    nk.neuron_window(IF)(x3, 0, gain, bias, spikes, v2, DT, AMPLITUDE)
    listed = ((spikes != 0).reshape(-1, h * w_, c).sum(-1) @ uses).mean()
    return dict(
        density=float((spikes != 0).mean()),
        dense=(best["dense"] - best["steps"]) / per * 1e9,
        events=(best["events"] - best["steps"]) / per * 1e9,
        macs=int(ntap.sum()) * c * o,
        blocks=int(ntap.sum()) * c / 8,
        uses=listed * nk.gather_passes(o),
    )


def main() -> None:
    from scipy.optimize import nnls

    from snnc.sim import numba_kernels as nk

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    rows = []
    for shape in SHAPES:
        for rate in RATES:
            r = measure(shape, rate, args.rounds)
            r["name"] = shape[0]
            rows.append(r)
    dense, events = (np.array([r[k] for r in rows]) for k in ("dense", "events"))
    a = float(np.mean(dense / [r["macs"] for r in rows]))
    x = np.array([[r["blocks"], r["uses"]] for r in rows])
    (b, c), _ = nnls(x / events[:, None], np.ones(len(rows)))
    committed = (nk._DENSE_NS_PER_MAC, nk._EVENT_NS_PER_BLOCK, nk._EVENT_NS_PER_USE)
    print(f"fitted: dense {a:.4f} ns/MAC; events {b:.2f} ns/block, {c:.2f} ns/listed input")
    print(
        f"committed: dense {committed[0]} ns/MAC; events {committed[1]} ns/block, "
        f"{committed[2]} ns/listed input\n"
    )
    print(
        "| shape | density | dense (ns/image) | events (ns/image) | faster | fitted picks | "
        "committed picks | committed events model / measured |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r, d, e in zip(rows, dense, events, strict=True):
        picks = [_pick(r, *k) for k in ((a, b, c), committed)]
        model = committed[1] * r["blocks"] + committed[2] * r["uses"]
        print(
            f"| {r['name']} | {r['density']:.2f} | {d:.0f} | {e:.0f} | "
            f"{'events' if e < d else 'dense'} | {picks[0]} | {picks[1]} | {model / e:.2f} |"
        )


def _pick(r: dict, per_mac: float, per_block: float, per_use: float) -> str:
    events = per_block * r["blocks"] + per_use * r["uses"]
    return "events" if events < per_mac * r["macs"] else "dense"


if __name__ == "__main__":
    main()

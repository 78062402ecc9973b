"""Speed of snnc's compiled kernel (``snnc.sim.Simulator``) against nengo-dl and
``nengo.Simulator`` on the workloads of issue 10, and of its Loihi mode against nengo-loihi's
emulator. One script, interleaved rounds, best of the rounds::

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/kernel_speed.py [--rounds 3] [--quick]

Workloads (IF neurons, the ``nengo`` target's lowering: canonicalize, lower-activations{if},
fuse-bias, normalize-rates):

- A: digits CNN conv16-conv32/2-dense64-dense10 on 8x8 images, trained here for a few
  seconds (seeded), 397 test images x 100 steps;
- B: 28x28x1 conv32-conv64/2-conv64/2-dense256-dense10 with random (Keras-initialised,
  seeded) weights, 256 random images x 50 steps;
- C (Loihi mode): the repository's digits example (examples/digits) compiled for ``loihi``,
  450 images x 50 steps, against ``nengo_loihi.Simulator(target="sim")``, with the spikes
  and logits of the subsample checked for identity.

Contestants: the kernel in float32 (event-driven path chosen per window, "auto"), float32
dense only, float32 event-driven only, float64; nengo-dl (``nengo-dl`` target, float32,
minibatch = the batch, timed after a warm-up call that builds its TensorFlow graph);
``nengo.Simulator`` (``nengo`` target, sample by sample). The nengo and nengo-dl runs on B,
and nengo's on A, run a subsample and are scaled linearly to the full batch (stated in the
table). GFLOP/s counts the multiply-adds of the per-step dense and conv layers at full
density (the layers fed by the constant input are computed once and not counted), so the
event-driven path can exceed the matmul rate. The matmul rate is float32 2048^3 with
every core. "CPU (s)" is the process's CPU time over the run (all threads; for a loaded
machine the fairer number). torch peers are quoted from issue 10, or measured with
``--sinabs PYTHON``: an interpreter with torch and sinabs runs ``benchmarks/sinabs_peer.py``
(see its docstring) once per round.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits"
LOWERING = "canonicalize,lower-activations{neuron=if},fuse-bias,normalize-rates"


def best_of(times: list[float]) -> float:
    return min(times) if times else float("nan")


def matmul_rate(threads: int | None = None) -> float:
    """float32 GFLOP/s of a 2048^3 matmul (best of 5), with ``threads`` BLAS threads."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    c = np.empty_like(a)
    with threadpool_limits(limits=threads, user_api="blas"):
        np.matmul(a, a, out=c)
        best = min(_timed(np.matmul, a, a, out=c) for _ in range(5))
    return 2 * 2048**3 / best / 1e9


def _timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def _timed_cpu(fn) -> tuple[float, float]:
    """Wall and CPU seconds (every thread of this process) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


# =============================================================================== workloads


def workload_a(quick: bool):
    """Digits CNN conv16-conv32/2-dense64-dense10, trained (seeded) on the digits split."""
    import tensorflow as tf

    sys.path.insert(0, str(DIGITS))
    from data import load_split

    import snnc
    from snnc.passes import PassContext, run_pipeline

    x_train, y_train, x_test, y_test = load_split()
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(8, 8, 1)),
            tf.keras.layers.Conv2D(16, 3, activation="relu"),
            tf.keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(64, activation="relu"),
            tf.keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=tf.keras.optimizers.Adam(3e-3),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=5 if quick else 30, batch_size=32, verbose=0)
    ann_acc = float(np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test))
    ctx = PassContext.default(target="nengo", calibration=x_train[:200])
    graph, _ = run_pipeline(snnc.load(model), LOWERING, ctx)
    n = 397
    return dict(
        name="A",
        graph=graph,
        x=x_test[:n],
        y=y_test[:n],
        steps=100,
        ann_acc=ann_acc,
        desc=f"digits CNN conv16-conv32/2-dense64-dense10 (trained, ANN accuracy {ann_acc:.3f}), {n} images x 100 steps",
    )


def workload_b(quick: bool):
    """28x28x1 conv32-conv64/2-conv64/2-dense256-dense10, random (seeded) weights."""
    import tensorflow as tf

    import snnc
    from snnc.passes import PassContext, run_pipeline

    tf.keras.utils.set_random_seed(1)
    model = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(28, 28, 1)),
            tf.keras.layers.Conv2D(32, 3, activation="relu"),
            tf.keras.layers.Conv2D(64, 3, strides=2, activation="relu"),
            tf.keras.layers.Conv2D(64, 3, strides=2, activation="relu"),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(256, activation="relu"),
            tf.keras.layers.Dense(10),
        ]
    )
    rng = np.random.default_rng(2)
    n = 64 if quick else 256
    x = rng.uniform(0, 1, size=(n, 28, 28, 1)).astype(np.float32)
    calib = rng.uniform(0, 1, size=(100, 28, 28, 1)).astype(np.float32)
    ctx = PassContext.default(target="nengo", calibration=calib)
    graph, _ = run_pipeline(snnc.load(model), LOWERING, ctx)
    return dict(
        name="B",
        graph=graph,
        x=x,
        y=None,
        steps=50,
        desc=f"28x28x1 conv32-conv64/2-conv64/2-dense256-dense10 (random weights), {n} images x 50 steps",
    )


def dense_flops(sim) -> float:
    """Multiply-adds x 2 per sample-step of the per-step dense and conv layers."""
    from snnc.sim.plan import Weighted

    total = 0
    for ins in sim.plan.instrs:
        if isinstance(ins, Weighted):
            rows = math.prod(sim.plan.shapes[ins.src]) / ins.in_size
            total += 2 * ins.row_macs * rows
    return total


# =============================================================================== contestants


def kernel_contestants(w):
    from snnc.sim import Simulator

    g, x, steps = w["graph"], w["x"], w["steps"]
    variants = {
        "snnc float32 (auto)": dict(),
        "snnc float32 dense": dict(event="never"),
        "snnc float32 event-driven": dict(event="always"),
        "snnc float64": dict(dtype=np.float64),
    }
    out = {}
    for label, kw in variants.items():
        sim = Simulator(g, **kw)
        sim.run(x[:2], 2)  # compiles or loads the numba kernels for these shapes
        out[label] = dict(fn=lambda sim=sim: sim.run(x, steps), sim=sim, scale=1.0, note="")
    return out


def nengo_dl_contestant(w, n: int):
    from snnc.codegen import compile_graph

    g, x, steps = w["graph"], w["x"][:n], w["steps"]
    c = compile_graph(g, "nengo-dl", pipeline="")
    start = time.perf_counter()
    c.run(x, steps, batch=len(x), progress=False)  # builds the TensorFlow graph (warm-up)
    build = time.perf_counter() - start
    note = f"warm; build + first call {build:.1f} s"
    if n < len(w["x"]):
        note += f"; {n} images, x{len(w['x']) / n:g}"
    return dict(
        fn=lambda: c.run(x, steps, batch=len(x), progress=False),
        scale=len(w["x"]) / n,
        note=note,
        c=c,
    )


def nengo_contestant(w, n: int):
    from snnc.codegen import compile_graph

    g, x, steps = w["graph"], w["x"][:n], w["steps"]
    c = compile_graph(g, "nengo", pipeline="")
    c.run(x[:1], 1, progress=False)  # builds the nengo.Simulator (kept by c)
    return dict(
        fn=lambda: c.run(x, steps, progress=False),
        scale=len(w["x"]) / n,
        note=f"{n} image(s), x{len(w['x']) / n:g}; build not counted",
        c=c,
    )


def sinabs_contestant(python: str, workload: str, threads: int) -> dict:
    """sinabs in another interpreter (``benchmarks/sinabs_peer.py``), one process per round:
    the time is the one it measures itself, after its warm-up (torch's import not counted)."""

    contestant = dict(scale=1.0, note="")
    cmd = [python, str(ROOT / "benchmarks" / "sinabs_peer.py"), "--workload", workload]
    cmd += ["--threads", str(threads)]

    def measure() -> tuple[float, float]:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode:
            sys.exit(f"kernel_speed: {' '.join(cmd)} failed:\n{out.stderr.strip()}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        v = result["versions"]
        contestant["note"] = f"torch {v['torch']}, sinabs {v['sinabs']}; a frame per image and step"
        return result["wall"], result["cpu"]

    contestant["measure"] = measure
    return contestant


def run_rounds(contestants: dict, rounds: int) -> dict[str, float]:
    """Interleaved: every round times every contestant once, in a shuffled order (seeded),
    so no contestant always follows the same one (a rotation keeps who follows whom: the
    contestant after the long single-threaded nengo run was always the same one, and ran
    up to 20% slower); best of the rounds, scaled. Each contestant's best CPU time (all
    threads of the process) goes in ``c["cpu"]``."""
    times = {k: [] for k in contestants}
    cpus = {k: [] for k in contestants}
    labels = list(contestants)
    rng = np.random.default_rng(0)
    for r in range(rounds):
        for i in rng.permutation(len(labels)):
            label = labels[i]
            c = contestants[label]
            wall, cpu = c["measure"]() if "measure" in c else _timed_cpu(c["fn"])
            times[label].append(wall * c["scale"])
            cpus[label].append(cpu * c["scale"])
        print(
            f"  round {r + 1}/{rounds}: "
            + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items()),
            file=sys.stderr,
        )
    for k, c in contestants.items():
        c["cpu"] = best_of(cpus[k])
    return {k: best_of(v) for k, v in times.items()}


def report(w, contestants, best, rate: float) -> None:
    steps, n = w["steps"], len(w["x"])
    sim = contestants["snnc float32 (auto)"]["sim"]
    flops = dense_flops(sim) * n * steps
    t_dl = best.get("nengo-dl")
    t_ng = best.get("nengo.Simulator")
    print(f"\n### Workload {w['name']}: {w['desc']}\n")
    print(
        f"per-step dense/conv work: {flops / 1e9:.2f} GFLOP; float32 matmul floor at {rate:.0f} GFLOP/s: {flops / rate / 1e9:.4f} s\n"
    )
    print(
        "| contestant | time (s) | CPU (s) | vs nengo-dl | vs nengo | GFLOP/s | % of matmul rate | note |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, t in best.items():
        c = contestants[label]
        gf = flops / t / 1e9
        vs_dl = f"{t_dl / t:.1f}x" if t_dl else ""
        vs_ng = f"{t_ng / t:.0f}x" if t_ng else ""
        note = c.get("note", "")
        if "sim" in c and c["sim"].modes:
            ev = sum(m[0] for m in c["sim"].modes.values())
            tot = sum(sum(m) for m in c["sim"].modes.values())
            note = f"{ev}/{tot} layer-windows event-driven"
        print(
            f"| {label} | {t:.4f} | {c['cpu']:.3f} | {vs_dl} | {vs_ng} | {gf:.1f} | "
            f"{100 * gf / rate:.0f}% | {note} |"
        )


def agreement(w, contestants) -> None:
    """Predictions of the kernel's variants (and the sample nengo-dl ran) after all steps."""
    x = w["x"]
    ys = {k: c["sim"].run(x, w["steps"])[:, -1] for k, c in contestants.items() if "sim" in c}
    ref = ys["snnc float64"].argmax(-1)
    line = ", ".join(f"{k}: {np.mean(v.argmax(-1) == ref):.4f}" for k, v in ys.items())
    print(f"\nprediction agreement with float64 after {w['steps']} steps: {line}")
    if w["y"] is not None:
        acc = {k: float(np.mean(v.argmax(-1) == w["y"])) for k, v in ys.items()}
        print(
            "SNN accuracy: "
            + ", ".join(f"{k} {a:.4f}" for k, a in acc.items())
            + f" (ANN {w['ann_acc']:.4f})"
        )
    spk = contestants["snnc float32 (auto)"]["sim"]
    from snnc.ir import ops
    from snnc.sim import Simulator

    g = w["graph"]
    names = [n for n in g.topo_order() if ops.is_spiking(g.op(n))]
    probe = Simulator(g, probes=names)
    probe.run(x[: min(64, len(x))], w["steps"])
    dens = ", ".join(f"{n} {np.mean(probe.probe_data[n] != 0):.3f}" for n in names)
    print(f"spike density (fraction of neuron-steps with a spike, 64 samples): {dens}")
    del spk


# =============================================================================== Loihi


def loihi_section(rounds: int, n_emulator: int, quick: bool) -> None:
    """C: the digits example compiled for loihi: snnc's Loihi mode vs nengo-loihi's emulator."""
    sys.path.insert(0, str(DIGITS))
    from data import load_split

    import snnc
    from snnc.codegen import compile_graph
    from snnc.sim import Simulator

    x_train, _, x_test, y_test = load_split()
    steps = 50
    c = snnc.compile(DIGITS / "digits_cnn.keras", target="loihi", calibration=x_train[:200])
    g = c.graph.copy()
    for o in g.outputs:  # per-step values on both sides, whatever the run() readout
        g.replace_op(o, dataclasses.replace(g.op(o), readout="raw"))
    sim = Simulator(g, mode="loihi")
    sim.run(x_test[:2], 2)
    sub = x_test[:n_emulator]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        emu = compile_graph(g, "loihi", pipeline="")
        theirs = emu.run(sub, steps, progress=False)  # also builds the first emulator
    ours = sim.run(sub, steps)
    diff = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
    contestants = {
        "snnc Loihi mode": dict(fn=lambda: sim.run(x_test, steps), scale=1.0),
        "nengo-loihi emulator": dict(
            fn=lambda: emu.run(sub, steps, progress=False), scale=len(x_test) / len(sub)
        ),
    }
    best = run_rounds(contestants, rounds)
    y = sim.run(x_test, steps)
    acc = float(np.mean(y.mean(axis=1).argmax(-1) == y_test))
    print(
        f"\n### C: Loihi mode on the digits example (loihi target), {len(x_test)} images x {steps} steps\n"
    )
    print("| contestant | time (s) | CPU (s) | speed-up | note |")
    print("|---|---|---|---|---|")
    t_emu = best["nengo-loihi emulator"]
    for label, t in best.items():
        note = (
            f"{len(sub)} images, x{len(x_test) / len(sub):g} (a new emulator per image, as the loihi target runs)"
            if label.startswith("nengo")
            else "float64 host, integer chip"
        )
        print(
            f"| {label} | {t:.3f} | {contestants[label]['cpu']:.3f} | {t_emu / t:.0f}x | {note} |"
        )
    print(
        f"\nparity on the {len(sub)} emulated images: logits max |diff| / max |logit| = {diff:.1e}; "
        f"Loihi-mode accuracy (mean over the {steps} steps) {acc:.4f}"
    )


# =============================================================================== main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best of)")
    parser.add_argument(
        "--quick", action="store_true", help="smaller B, shorter training, 2 rounds"
    )
    parser.add_argument(
        "--nengo-dl-b", type=int, default=64, help="B images nengo-dl runs (scaled)"
    )
    parser.add_argument("--nengo-a", type=int, default=8, help="A images nengo runs (scaled)")
    parser.add_argument("--nengo-b", type=int, default=1, help="B images nengo runs (scaled)")
    parser.add_argument(
        "--loihi", type=int, default=8, help="images the nengo-loihi emulator runs (scaled)"
    )
    parser.add_argument(
        "--sinabs",
        metavar="PYTHON",
        help="an interpreter with torch and sinabs: time benchmarks/sinabs_peer.py with it",
    )
    parser.add_argument("--skip", default="", help="comma-separated sections to skip: A,B,C")
    args = parser.parse_args()
    if args.sinabs and not (Path(args.sinabs).is_file() or shutil.which(args.sinabs)):
        parser.error(f"--sinabs {args.sinabs}: no such interpreter (give a venv's bin/python)")
    rounds = 2 if args.quick else args.rounds
    skip = set(filter(None, args.skip.split(",")))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")
    import nengo  # noqa: F401 - imported before any timing

    from snnc.sim.simulator import available_cores

    rate = matmul_rate()
    rate1 = matmul_rate(1)
    print(f"# snnc kernel speed ({available_cores()} cores)\n")
    print(f"float32 matmul 2048^3: {rate:.0f} GFLOP/s with every core, {rate1:.0f} GFLOP/s on one")
    if not args.sinabs:
        print(
            "torch peers (issue 10, not measured here; --sinabs PYTHON measures them): "
            "sinabs IAF A 0.27 s / 0.14 s (1 / 2 threads), B 3.2 s (1 thread)"
        )
    for key, make, n_dl, n_ng in (
        ("A", workload_a, None, args.nengo_a),
        ("B", workload_b, args.nengo_dl_b, args.nengo_b),
    ):
        if key in skip:
            continue
        print(f"[{key}] building the workload", file=sys.stderr)
        w = make(args.quick)
        contestants = kernel_contestants(w)
        print(f"[{key}] building nengo-dl and nengo", file=sys.stderr)
        contestants["nengo-dl"] = nengo_dl_contestant(w, min(n_dl or len(w["x"]), len(w["x"])))
        contestants["nengo.Simulator"] = nengo_contestant(w, n_ng)
        if args.sinabs:
            for threads in (1, 2):
                label = f"sinabs IAF, {threads} thread{'s' * (threads > 1)}"
                contestants[label] = sinabs_contestant(args.sinabs, key, threads)
        best = run_rounds(contestants, rounds)
        report(w, contestants, best, rate)
        agreement(w, contestants)
    if "C" not in skip:
        print("[C] Loihi mode", file=sys.stderr)
        loihi_section(rounds, args.loihi, args.quick)


if __name__ == "__main__":
    main()

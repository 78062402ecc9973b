"""Speed of ``snnc.simulate`` (numba and numpy backends) against ``nengo.Simulator`` on the
network the codegen emits, and the spiking accuracy of ``simulate`` on the digits CNN.
(benchmarks/kernel_speed.py compares the kernel with nengo-dl on the issue-10 workloads.)

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/bench_sim.py [--batch 100] [--steps 50]

The digits CNN (examples/digits) is lowered with the nengo target's pipeline minus
fold-batchnorm (it has no BatchNorm), calibrated on 200 training images. nengo runs the
samples one by one, resetting between them, exactly as ``Compiled.run`` does; its simulator
build is timed separately. simulate() times (float32, the default) are the best of
``--repeat`` runs after a warm-up call (which compiles or loads the numba kernels). All ratios
come from this one run. "max rel diff" is max |simulate - nengo| / max |nengo| over the
logits (both with the graph's readout) of the timed batch, simulate in float64 (its
nengo-parity mode).
Accuracy follows the readout convention: the argmax of the running mean after all steps.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits"
PIPELINE = "canonicalize,lower-activations{{neuron={neuron}}},fuse-bias,normalize-rates"


def lowered_digits(neuron: str, x_cal):
    """The digits CNN lowered to ``neuron`` neurons (an SNN-stage graph)."""
    import snnc
    from snnc.passes import PassContext, run_pipeline

    ctx = PassContext.default(target="nengo", calibration=x_cal)
    graph, _ = run_pipeline(
        snnc.load(DIGITS / "digits_cnn.keras"), PIPELINE.format(neuron=neuron), ctx
    )
    return graph


def best_time(repeat: int, fn, *args, **kwargs) -> float:
    """The fastest of ``repeat`` calls ``fn(*args, **kwargs)``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return min(times)


def accuracy(y: np.ndarray, labels: np.ndarray) -> float:
    """Argmax of the running-mean readout after the last step (``y[:, -1]``)."""
    return float(np.mean(y[:, -1].argmax(axis=1) == labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=100, help="test images per timed run")
    parser.add_argument("--steps", type=int, default=50, help="time steps per image")
    parser.add_argument("--repeat", type=int, default=3, help="simulate() runs per timing (best)")
    args = parser.parse_args()

    sys.path.insert(0, str(DIGITS))
    import nengo  # noqa: F401 - imported before the timings, which measure builds, not imports
    from data import load_split

    import snnc
    from snnc.codegen import compile_graph
    from snnc.sim import simulate

    x_train, _, x_test, y_test = load_split()
    rows, accuracies = [], []
    for neuron in ("if", "lif"):
        graph = lowered_digits(neuron, x_train[:200])
        start = time.perf_counter()
        simulate(graph, x_test[:1], 2)  # compiles (or loads from the cache) the numba kernels
        warmup = time.perf_counter() - start
        for batch in sorted({1, args.batch}):
            x = x_test[:batch]
            t_numba = best_time(args.repeat, simulate, graph, x, args.steps)
            t_numpy = best_time(args.repeat, simulate, graph, x, args.steps, backend="numpy")
            with compile_graph(graph, "nengo", pipeline="") as c:
                start = time.perf_counter()
                c.run(x[:1], 1, progress=False)  # builds the nengo.Simulator (kept by c)
                t_build = time.perf_counter() - start
                start = time.perf_counter()
                theirs = c.run(x, args.steps, progress=False)
                t_nengo = time.perf_counter() - start
            ours = simulate(graph, x, args.steps, dtype=np.float64)  # both: nn.output's readout
            diff = np.abs(ours - theirs).max() / np.abs(theirs).max()
            rows.append(
                (f"digits-{neuron}", batch, args.steps, t_numba, t_numpy, t_nengo, t_build, diff)
            )
        for steps in (args.steps, 2 * args.steps):
            start = time.perf_counter()
            y = simulate(graph, x_test, steps)
            accuracies.append(
                (f"digits-{neuron}", steps, accuracy(y, y_test), time.perf_counter() - start)
            )
        rate = float(np.mean(snnc.evaluate(graph, x_test).argmax(axis=1) == y_test))
        accuracies.append((f"digits-{neuron}", "rate", rate, float("nan")))
        print(
            f"[digits-{neuron}] numba warm-up (compile or cache load): {warmup:.2f} s",
            file=sys.stderr,
        )

    # fmt: off
    print(f"\nsnnc.simulate vs nengo.Simulator (nengo {_version('nengo')}, numba {_version('numba')})\n")
    print("| model | batch | steps | numba (s) | numpy (s) | nengo (s) | nengo build (s) "
          "| nengo/numba | nengo/numpy | numpy/numba | max rel diff |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model, batch, steps, tb, tp, tn, build, diff in rows:
        print(f"| {model} | {batch} | {steps} | {tb:.4f} | {tp:.4f} | {tn:.3f} | {build:.3f} "
              f"| {tn / tb:.0f}x | {tn / tp:.0f}x | {tp / tb:.1f}x | {diff:.1e} |")

    print(f"\nsimulate() accuracy on the {len(y_test)} held-out digits (argmax of the running "
          "mean after the last step; steps 'rate' = snnc.evaluate)\n")
    print("| model | steps | accuracy | time (s) |")
    print("|---|---|---|---|")
    for model, steps, acc, t in accuracies:
        print(f"| {model} | {steps} | {acc:.4f} | {'' if np.isnan(t) else f'{t:.3f}'} |")
    # fmt: on


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    main()

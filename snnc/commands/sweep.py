"""``snnc sweep MODEL --data DATA.npz``: accuracy over weight bits x activation bits x steps.

The work is done by :func:`snnc.sweep.run_sweep`; this module parses the options, prints
the table and writes the JSON and PNG files.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> argparse.ArgumentParser:
    from snnc.commands.common import add_limit_options

    p = sub.add_parser(
        "sweep",
        help="accuracy grid over weight bits, activation bits and time steps (on Dask)",
        description="Compile MODEL once per (weight bits, activation bits) pair: the target's "
        "default pipeline with lower-activations{neuron=graded-if,bits=A} (A=32: rate "
        "neurons, neuron=rate-relu) and quantize{weight_bits=W} (W=32: float weights). "
        "Simulate each once for the largest step count with snnc's spiking simulator and "
        "score the output's readout (the running mean over steps 1..t unless the pipeline "
        "chose another) after every requested step count. Prints accuracy "
        "with Wilson 95% intervals and synaptic operations per inference (spikes x fan-out). "
        "The simulations run as tasks on Dask distributed: a local cluster of --workers "
        "processes, or the cluster at --scheduler. Finished tasks are cached on disk by "
        "(compiled graph fingerprint, samples, simulator settings), so a repeated or extended "
        "sweep only simulates what is new.",
        epilog="example: snnc sweep digits.keras --data test.npz --calibration x_train.npy "
        "--weight-bits 8,32 --act-bits 1,2,4,32 --steps 4,8,16,32 --json sweep.json --plot sweep.png",
    )
    p.add_argument("model", help="a .keras / .h5 Keras file, a model.snnc or a .snnir file (ANN stage)")
    p.add_argument("--data", required=True, metavar="DATA.npz", help="test data: a .npz with arrays x (inputs, batch-first) and y (integer labels)")
    p.add_argument("--weight-bits", default="32", metavar="LIST", help="weight bit widths, comma-separated; 32 = float weights (default: 32)")
    p.add_argument("--act-bits", default="1,2,4,8", metavar="LIST", help="activation bit widths (graded spikes per step: 0..2**A-1), comma-separated; 32 = rate neurons (default: 1,2,4,8)")
    p.add_argument("--steps", default="4,8,16,32,64", metavar="LIST", help="step counts to score, comma-separated (default: 4,8,16,32,64)")
    p.add_argument("-t", "--target", default="nengo", help="whose default pipeline to start from: nengo, nengo-dl or loihi (default: nengo)")
    p.add_argument("-p", "--pipeline", metavar="PIPELINE", help="base pipeline instead of the target's (must contain lower-activations)")
    p.add_argument("--calibration", metavar="FILE", help="inputs for normalize-rates: .npy (without it, rates use the pass's fixed scale)")
    p.add_argument("--json", metavar="FILE", help="write the grid as JSON (points: weight_bits, act_bits, steps, accuracy, ci_low, ci_high, synops)")
    p.add_argument("--plot", metavar="FILE.png", help="write a heat map of the accuracies (PNG)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler (tcp://host:8786); default: start a local cluster")
    p.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster (default: 2; 0 runs in this process, without Dask)")
    p.add_argument("--chunk-size", type=int, default=256, metavar="N", help="samples per task (default: 256)")
    p.add_argument("--cache-dir", metavar="DIR", help="task result cache (default: ~/.cache/snnc/sweep)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="simulator precision (default: float32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the passes' random generator (default: 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_limit_options(p, run=True)
    return p


def run(args) -> int:
    from snnc.api import calibration_data, load
    from snnc.commands.common import limits_from_args, max_run_values
    from snnc.ir.output_files import check_outputs
    from snnc.sweep import load_data, parse_bits, run_sweep

    check_outputs(files=[args.json, args.plot])  # before any work
    weight_bits = parse_bits(args.weight_bits, "--weight-bits")
    act_bits = parse_bits(args.act_bits, "--act-bits")
    steps = parse_bits(args.steps, "--steps")
    limits = limits_from_args(args)
    # the model is read once, here, to check the data files against it (naming them), and
    # handed to run_sweep as a graph
    graph = load(args.model, limits=limits)
    x, y = load_data(args.data, graph, max_member_bytes=limits.max_member_bytes)
    calibration = calibration_data(graph, args.calibration, limits=limits)
    if calibration is None:
        print(
            "snnc sweep: note: no --calibration; normalize-rates scales firing rates by its "
            "fixed factor instead of the data's activations",
            file=sys.stderr,
        )
    if args.no_cache:
        cache_dir = None
    else:
        cache_dir = args.cache_dir or "default"
    result = run_sweep(
        graph,
        x,
        y,
        weight_bits=weight_bits,
        act_bits=act_bits,
        steps=steps,
        target=args.target,
        pipeline=args.pipeline,
        calibration=calibration,
        scheduler=args.scheduler,
        workers=args.workers,
        cache_dir=cache_dir,
        chunk_size=args.chunk_size,
        dtype=args.dtype,
        progress=not args.quiet,
        seed=args.seed,
        limits=limits,
        max_run_values=max_run_values(args),
    )
    result.model = str(args.model)  # the file the user named, not the graph's name
    print(result.format_table(), end="")
    if args.json:
        result.save_json(args.json)
        print(f"snnc sweep: wrote {args.json}", file=sys.stderr)
    if args.plot:
        result.plot(args.plot)
        print(f"snnc sweep: wrote {args.plot}", file=sys.stderr)
    return 0

"""``snnc verify MODEL --data DATA.npz``: check a conversion layer by layer (see
:mod:`snnc.verify`). Exit 0 when tier 1 is inside tolerance, 1 when it is not, 2 on bad
input."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> argparse.ArgumentParser:
    from snnc.commands.common import add_limit_options

    p = sub.add_parser(
        "verify",
        help="compare a Keras model with its compiled network: exact per-layer errors and "
        "spiking accuracy, rates, synaptic ops",
        description="Tier 1 (exact): Keras layer outputs vs the IR interpreter vs the "
        "compiled network in rate mode, max abs error per layer, each node checked on the "
        "reference values of its inputs so an error is attributed to its layer. Tier 2 "
        "(spiking): ANN vs SNN accuracy with Wilson 95% intervals, agreement and a paired "
        "McNemar test, accuracy vs time steps, per-layer firing rates (mean, max, fraction "
        "silent / saturated) and SNN-vs-ANN error, synaptic operations vs the ANN's MACs and "
        "an energy estimate. Exit 0 when tier 1 is inside tolerance, 1 when it is not, 2 on "
        "bad input.",
        epilog="examples: snnc verify digits.keras --data test.npz --calibration x_train.npy "
        "--json report.json --plots plots/ ; snnc verify digits.keras --input x.npy --labels "
        "y.npy --artifact out/digits",
    )
    p.add_argument("model", help="the Keras model (.keras / .h5) the network was converted from")
    p.add_argument(
        "--data", metavar="DATA.npz", help="a .npz with arrays x (inputs) and y (integer labels)"
    )
    p.add_argument(
        "-i",
        "--input",
        metavar="FILE",
        help="inputs instead of --data: .npy, or .npz with one array per model input",
    )
    p.add_argument("--labels", metavar="FILE", help="integer class labels (.npy) for --input")
    p.add_argument(
        "-t", "--target", help="nengo, nengo-dl or loihi (default: nengo, or the artifact's)"
    )
    p.add_argument(
        "-n", "--steps", type=int, default=50, help="simulation steps of tier 2 (default: 50)"
    )
    p.add_argument(
        "--artifact",
        metavar="OUT",
        help="verify this `snnc compile` output folder against MODEL instead of compiling MODEL",
    )
    p.add_argument(
        "--calibration",
        metavar="FILE",
        help="inputs for normalize-rates (training data; .npy or .npz), as `snnc compile` takes them",
    )
    p.add_argument(
        "-p", "--pipeline", metavar="PIPELINE", help="pass pipeline (default: the target's)"
    )
    p.add_argument(
        "--neuron",
        help="neuron of tier 2's network (default: the pipeline's), e.g. if, lif, loihi-if",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="tier 1 tolerance relative to each layer's peak |value| (default: 1e-4)",
    )
    p.add_argument(
        "--tier",
        choices=("1", "2", "both"),
        default="both",
        help="run tier 1, tier 2 or both (default: both)",
    )
    p.add_argument(
        "--json", metavar="FILE", help="write the report (every number printed, and more) as JSON"
    )
    p.add_argument(
        "--plots", metavar="DIR", help="write accuracy_vs_steps.png and layers.png into DIR"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the passes' random generator (default: 0)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_limit_options(p, run=True)
    return p


def run(args) -> int:
    from snnc.commands.common import limits_from_args, max_run_values
    from snnc.errors import SnncError
    from snnc.ir.output_files import check_outputs
    from snnc.verify import verify

    check_outputs(files=[args.json], folders=[args.plots])  # before any work
    if args.data and (args.input or args.labels):
        raise SnncError("give either --data DATA.npz or --input X --labels Y, not both")
    if args.data:
        data = args.data
    elif args.input:
        if not args.labels:
            raise SnncError(
                "--input needs --labels (integer class labels, .npy)",
                hint="or give --data DATA.npz holding arrays x and y",
            )
        data = (args.input, args.labels)  # paths: verify reads and checks them, naming them
    else:
        raise SnncError(
            "no data: give --data DATA.npz (arrays x and y) or --input X.npy --labels Y.npy"
        )
    tiers = {"1": (1,), "2": (2,), "both": (1, 2)}[args.tier]
    report = verify(
        args.model,
        data,
        target=args.target,
        steps=args.steps,
        artifact=args.artifact,
        calibration=args.calibration,
        pipeline=args.pipeline,
        neuron=args.neuron,
        tolerance=args.tolerance,
        tiers=tiers,
        plots=args.plots,
        progress=False if args.quiet else None,
        seed=args.seed,
        limits=limits_from_args(args),
        max_run_values=max_run_values(args),
    )
    if args.json:
        report.save_json(args.json)
    print(report, end="")
    if args.json:
        print(f"snnc verify: wrote {args.json}", file=sys.stderr)
    return report.exit_code

"""``snnc compile MODEL --target T -o OUT``: run the target's pipeline and write the artifact."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    from snnc.commands.common import add_limit_options, add_load_pass

    p = sub.add_parser(
        "compile",
        help="compile a model into a nengo network folder (model.snnc + network.py)",
        description="Load a model (.keras, .h5, model.snnc or .snnir), run the target's pass "
        "pipeline and emit a nengo network. OUT gets model.snnc (the IR), network.py + "
        "weights.npz (a readable module rebuilding the network with only numpy, nengo and "
        "the backend), manifest.json and report.txt. `snnc targets` lists the targets.",
        epilog="example: snnc compile digits.keras --target nengo-dl --neuron if "
        "--calibration x_train.npy -o out/digits",
    )
    p.add_argument("model", help="a .keras / .h5 Keras file, a model.snnc or a .snnir file")
    p.add_argument("-t", "--target", default="nengo", help="backend: nengo, nengo-dl or loihi (default: nengo)")
    p.add_argument("-p", "--pipeline", metavar="PIPELINE", help="pass pipeline (default: the target's; '' runs none)")
    p.add_argument("--neuron", help="neuron for lower-activations: a neuron of the catalogue (`snnc targets` lists those each target runs), or {pattern:neuron,...}")
    p.add_argument("--synapse", help="lowpass synapse (s) after spiking neurons, or none (default: the pipeline's)")
    p.add_argument("--calibration", metavar="FILE", help="inputs for normalize-rates: .npy, or .npz with one array per model input")
    p.add_argument("-o", "--output", metavar="OUT", help="output folder (default: ./<model file stem>.<target>)")
    p.add_argument("-f", "--force", action="store_true", help="replace OUT if it exists and is not empty")
    p.add_argument("--seed", type=int, default=0, help="seed of the passes' random generator (default: 0)")
    add_load_pass(p)
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the compile report")
    add_limit_options(p)
    return p


def run(args) -> int:
    from snnc.api import compile as compile_model
    from snnc.codegen import get_target
    from snnc.codegen.compiled import check_out_dir
    from snnc.commands.common import limits_from_args, load_plugins

    load_plugins(args)
    # cheap checks first: an unknown target or a taken output folder fail before any work
    target = get_target(args.target)
    source = Path(args.model)
    out = check_out_dir(args.output or f"{source.stem}.{target.name}", args.force)
    compiled = compile_model(
        args.model,
        target,
        args.calibration,  # a path: read and checked against the model, naming the file
        pipeline=args.pipeline,
        neuron=args.neuron,
        synapse=args.synapse,
        seed=args.seed,
        limits=limits_from_args(args),
    )
    path = compiled.save(out, force=args.force)
    if not args.quiet:
        print(compiled.report, end="")
    print(f"snnc compile: wrote {path}/ ({', '.join(sorted(p.name for p in path.iterdir()))})", file=sys.stderr)
    return 0

"""``snnc export MODEL|OUT --format nir -o model.nir``: write a lowered model in another format.

A model still at the ANN stage (a Keras file) is lowered first with ``--pipeline`` or the
default pipeline of ``--target`` (nengo's when not given); an ``snnc compile`` output folder,
a ``model.snnc`` or a ``.snnir`` file of a lowered graph is exported as it is.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

#: export formats: name -> file suffix
FORMATS = {"nir": ".nir"}


def add_parser(sub) -> argparse.ArgumentParser:
    from snnc.commands.common import add_limit_options
    from snnc.nir.common import APPROXIMATIONS

    p = sub.add_parser(
        "export",
        help="write a lowered model in an exchange format (NIR)",
        description="Load a model (.keras, .h5, model.snnc, .snnir, or an `snnc compile` "
        "output folder), lower it if it is still an ANN (--pipeline, or the default pipeline "
        "of --target), and write it as NIR (the Neuromorphic Intermediate Representation: "
        "read by Lava/Loihi 2, SpiNNaker2, Speck, Xylo, Norse, snnTorch, sinabs and others). "
        "Nodes NIR cannot express are refused, each named; where snnc's neurons differ from "
        "NIR's, the difference must be allowed with --approximate. Approximations: "
        + "; ".join(f"{k}: {v}" for k, v in APPROXIMATIONS.items())
        + ".",
        epilog="example: snnc export out/digits --format nir --approximate rectified-current "
        "-o digits.nir",
    )
    p.add_argument(
        "model", metavar="MODEL|OUT", help="a model file or an `snnc compile` output folder"
    )
    p.add_argument(
        "--format", choices=tuple(FORMATS), default="nir", help="output format (default: nir)"
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", help="output file (default: ./<model stem>.nir)"
    )
    p.add_argument(
        "-a",
        "--approximate",
        metavar="NAMES",
        help=f"comma-separated approximations to allow ({', '.join(APPROXIMATIONS)}), or all",
    )
    p.add_argument(
        "-p",
        "--pipeline",
        metavar="PIPELINE",
        help="pass pipeline to run before exporting (default: none for a lowered model, the target's default for an ANN)",
    )
    p.add_argument(
        "-t", "--target", help="whose default pipeline lowers an ANN model (default: nir)"
    )
    p.add_argument(
        "--calibration",
        metavar="FILE",
        help="inputs for normalize-rates: .npy, or .npz with one array per model input",
    )
    p.add_argument(
        "--no-hints",
        action="store_true",
        help="write no snnc metadata (node names, op kinds, exact biases) into the NIR nodes",
    )
    add_limit_options(p)
    return p


def run(args) -> int:
    from snnc.api import load, optimize
    from snnc.commands.common import limits_from_args
    from snnc.ir import Stage
    from snnc.nir import export_graph

    limits = limits_from_args(args)
    graph = load(args.model, limits=limits)
    pipeline = args.pipeline
    if pipeline is None and graph.stage == Stage.ANN:
        from snnc.codegen import get_target

        pipeline = get_target(args.target or "nir").default_pipeline
        print(
            f"snnc export: note: lowering the ANN with the pipeline '{pipeline}'", file=sys.stderr
        )
    if pipeline:
        graph = optimize(
            graph, pipeline, calibration=args.calibration, target=args.target, limits=limits
        )
    source = Path(args.model)
    stem = source.stem if source.is_file() else source.resolve().name
    out = args.output or f"{stem}{FORMATS[args.format]}"
    path = export_graph(graph, out, approximate=args.approximate, hints=not args.no_hints)
    import nir

    kinds = Counter(type(n).__name__ for n in nir.read(path).nodes.values())
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(f"snnc export: wrote {path} (NIR {nir.version}: {summary})", file=sys.stderr)
    return 0

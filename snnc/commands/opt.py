"""``snnc opt MODEL -p PIPELINE``: run passes on a model and print or save the result."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> argparse.ArgumentParser:
    from snnc.commands.common import add_limit_options, add_load_pass

    p = sub.add_parser(
        "opt",
        help="run a pass pipeline on a model and print or save the IR",
        description="Load a model (.keras, .h5, model.snnc or .snnir), run a pass pipeline on "
        "it and print the resulting IR (or write it with -o). `snnc passes` lists the passes.",
        epilog='example: snnc opt model.keras -p "canonicalize,fold-batchnorm,'
        'lower-activations{neuron={conv*:lif,dense:if}}" --print-ir-diff',
    )
    p.add_argument("model", help="a .keras / .h5 Keras file, a model.snnc or a .snnir file")
    p.add_argument(
        "-p",
        "--pipeline",
        metavar="PIPELINE",
        help='passes to run, e.g. "canonicalize,lower-activations{neuron=if}" '
        "(default: the default pipeline of --target, or of nengo)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the result to FILE: .snnc writes a model.snnc, anything else .snnir text",
    )
    p.add_argument(
        "--weights",
        choices=("hash", "stats", "full"),
        help="how to print parameters, in the result and in dumps and diffs (default: hash "
        "on stdout and stderr, full in files, so they parse back)",
    )
    p.add_argument(
        "--dump-ir-after",
        metavar="all|PASS",
        help="dump the IR after every pass (all) or after the passes named PASS",
    )
    p.add_argument(
        "--dump-dir",
        metavar="DIR",
        help="write dumps as DIR/00_input.snnir, DIR/01_<pass>.snnir, ... (default: stderr)",
    )
    p.add_argument(
        "--print-ir-diff",
        action="store_true",
        help="print a unified diff of the IR for every pass (stderr)",
    )
    p.add_argument(
        "--print-changed-only",
        action="store_true",
        help="dumps and diffs skip passes that changed nothing",
    )
    p.add_argument(
        "--time-passes", action="store_true", help="print a timing table of the passes (stderr)"
    )
    p.add_argument(
        "--no-verify", action="store_true", help="do not verify the graph after every pass"
    )
    add_load_pass(p)
    p.add_argument(
        "--calibration",
        metavar="FILE",
        help="calibration inputs for data-driven passes: .npy, or .npz with one array per model input",
    )
    p.add_argument(
        "--target",
        help="target name passed to the passes (and whose default pipeline runs without -p)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the passes' random generator (default: 0)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the passes' notes")
    add_limit_options(p)
    return p


def run(args) -> int:
    from snnc.api import calibration_data, load
    from snnc.codegen import get_target
    from snnc.commands.common import limits_from_args, load_plugins
    from snnc.ir.output_files import check_outputs
    from snnc.passes import PassContext, PassManager

    check_outputs(files=[args.output], folders=[args.dump_dir])  # before any work
    load_plugins(args)
    target = get_target(args.target or "nengo")
    pipeline = args.pipeline if args.pipeline is not None else target.default_pipeline
    manager = PassManager(
        pipeline,
        verify=not args.no_verify,
        dump_dir=args.dump_dir,
        dump_after=args.dump_ir_after,
        print_diff=args.print_ir_diff,
        time_passes=args.time_passes,
        print_changed_only=args.print_changed_only,
        dump_weights=args.weights,
        stream=sys.stderr,
    )
    limits = limits_from_args(args)
    graph = load(args.model, limits=limits)
    calibration = calibration_data(graph, args.calibration, limits=limits)
    ctx = PassContext.default(seed=args.seed, target=args.target, calibration=calibration)
    result, report = manager.run(graph, ctx)
    if not args.quiet:
        for note in report.notes:
            print(f"snnc opt: note: {note}", file=sys.stderr)
    _write(result, args, report.pipeline)
    return 0


def _write(graph, args, pipeline: str) -> None:
    from snnc.commands.common import write_text
    from snnc.ir.printer import print_graph

    if args.output and args.output.endswith(".snnc"):
        from snnc.api import save

        save(graph, args.output, pipeline=pipeline, target=args.target)
        return
    weights = args.weights or ("full" if args.output else "hash")
    write_text(print_graph(graph, weights=weights), args.output)

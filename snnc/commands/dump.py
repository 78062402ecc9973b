"""``snnc dump MODEL``: print a model's IR as text, JSON or Graphviz DOT."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> argparse.ArgumentParser:
    from snnc.commands.common import add_limit_options, add_load_pass

    p = sub.add_parser(
        "dump",
        help="print a model's IR (text, JSON or DOT)",
        description="Load a Keras model (.keras, .h5), a model.snnc or a .snnir file and print "
        "its IR. Reading a .keras file does not import TensorFlow.",
    )
    p.add_argument("model", help="a .keras / .h5 Keras file, a model.snnc or a .snnir file")
    p.add_argument("--format", choices=("text", "json", "dot"), default="text", help="output format (default: text)")
    p.add_argument("--weights", choices=("hash", "stats", "full"), default="hash", help="how to print parameters (default: hash)")
    p.add_argument("--meta", action="store_true", help="print each node's provenance (Keras layer) too")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically) instead of stdout")
    add_load_pass(p)
    add_limit_options(p)
    return p


def run(args) -> int:
    from snnc.api import load
    from snnc.commands.common import limits_from_args, load_plugins
    from snnc.ir import verify
    from snnc.ir.printer import print_graph
    from snnc.ir.serialize import to_dot, to_json

    load_plugins(args)
    g = load(args.model, limits=limits_from_args(args))
    verify(g)
    if args.format == "text":
        text = print_graph(g, weights=args.weights, meta=args.meta)
    elif args.format == "json":
        text = json.dumps(to_json(g, args.weights), indent=2) + "\n"
    else:
        text = to_dot(g)
    from snnc.commands.common import write_text

    write_text(text, args.output)
    return 0

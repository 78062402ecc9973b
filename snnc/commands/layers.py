"""``snnc layers``: list the Keras layers snnc converts (and those it knows and refuses)."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "layers",
        help="list the Keras layers snnc can convert",
        description="List every Keras layer class the frontend converts (one converter per "
        "class), and the classes it knows and refuses, with the reason. Layers missing from "
        "both lists (custom layers) are refused too. Imports no TensorFlow.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    return p


def run(args) -> int:
    from snnc.frontend.keras.registry import REFUSED, supported_layers

    supported = supported_layers()
    if args.json:
        print(json.dumps({"supported": supported, "refused": dict(sorted(REFUSED.items()))}, indent=2))
        return 0
    print(f"supported Keras layers ({len(supported)}):")
    for name in supported:
        print(f"    {name}")
    print(f"\nrefused ({len(REFUSED)}):")
    for name, reason in sorted(REFUSED.items()):
        print(f"    {name}: {reason}")
    return 0

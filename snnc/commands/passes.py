"""``snnc passes``: list every pass with its options, defaults and summary."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "passes",
        help="list the available passes and their options",
        description="List every registered pass (built in, from --load-pass files and from "
        "installed 'snnc.passes' entry points) with its stage, options, defaults and summary, "
        "and the default pipeline of each target.",
    )
    p.add_argument(
        "--load-pass",
        metavar="FILE",
        action="append",
        default=[],
        help="also import custom passes from FILE (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    return p


def run(args) -> int:
    from snnc.passes import DEFAULT_PIPELINES, all_passes, load_pass_file

    for path in args.load_pass:
        load_pass_file(path)
    passes = all_passes()
    if args.json:
        print(json.dumps(_as_json(passes, DEFAULT_PIPELINES), indent=2))
        return 0
    for name, cls in passes.items():
        stages = cls.stages()
        stage = "any" if stages is None else "|".join(sorted(s.value for s in stages))
        print(f"{name}  (stage: {stage})")
        print(f"    {cls.summary()}")
        for o in cls.options():
            print(f"    {o.name}={o.format(o.default)}  [{o.expected()}]  {o.doc}".rstrip())
    print("\ndefault pipelines:")
    for target, pipeline in DEFAULT_PIPELINES.items():
        print(f"    {target}: {pipeline}")
    return 0


def _as_json(passes, pipelines) -> dict:
    out = {}
    for name, cls in passes.items():
        stages = cls.stages()
        out[name] = {
            "summary": cls.summary(),
            "stage": None if stages is None else sorted(s.value for s in stages),
            "module": cls.__module__,
            "options": [
                {
                    "name": o.name,
                    "type": o.type_text(),
                    "default": o.format(o.default),
                    "expected": o.expected(),
                    "doc": o.doc,
                }
                for o in cls.options()
            ],
        }
    return {"passes": out, "default_pipelines": dict(pipelines)}

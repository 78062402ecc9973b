"""``snnc passes``: list every pass with its options, defaults and summary, the neurons
``lower-activations`` can use, and each target's default pipeline.

Everything listed is read from its owner: passes from the pass registry, neurons from the
neuron catalogue (:mod:`snnc.ir.neurons`), pipelines from the targets (``snnc.codegen``).
Files given with ``--load-pass`` are loaded first, so their passes and neurons appear too.
"""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "passes",
        help="list the available passes, their options and the neurons",
        description="List every registered pass (built in, from --load-pass files and from "
        "installed 'snnc.passes' entry points) with its stage, options, defaults and summary; "
        "the neurons lower-activations{neuron=...} takes; and the default pipeline of each "
        "target.",
    )
    p.add_argument(
        "--load-pass",
        metavar="FILE",
        action="append",
        default=[],
        help="also import custom passes or neurons from FILE (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    return p


def run(args) -> int:
    from snnc.ir.neurons import NEURONS
    from snnc.passes import all_passes, load_pass_file

    for path in args.load_pass:
        load_pass_file(path)
    passes = all_passes()
    pipelines = _default_pipelines()
    if args.json:
        print(json.dumps(_as_json(passes, NEURONS, pipelines), indent=2))
        return 0
    for name, cls in passes.items():
        stages = cls.stages()
        stage = "any" if stages is None else "|".join(sorted(s.value for s in stages))
        print(f"{name}  (stage: {stage})")
        print(f"    {cls.summary()}")
        for o in cls.options():
            print(f"    {o.name}={o.format(o.default)}  [{o.expected()}]  {o.doc}".rstrip())
    print("\nneurons (lower-activations{neuron=NAME}):")
    width = max(len(n) for n in NEURONS)
    for name, cls in NEURONS.items():
        print(f"    {name:<{width}}  {cls.summary}  [{_neuron_traits(cls)}]")
    print("\ndefault pipelines:")
    for target, pipeline in pipelines.items():
        print(f"    {target}: {pipeline}")
    return 0


def _default_pipelines() -> dict[str, str]:
    """Each target's default pipeline, as the target declares it."""
    from snnc.codegen import default_pipelines

    return default_pipelines()


def _neuron_traits(cls) -> str:
    """What a neuron is, in the words a user picks one by."""
    words = ["spiking" if cls.spiking else "rate"]
    words.append("ReLU-exact" if cls.relu_exact else "not ReLU-exact")
    if cls.lowering:
        words.append("takes " + ", ".join(cls.lowering))
    words.append("targets: " + ", ".join(cls.targets))
    return "; ".join(words)


def _as_json(passes, neurons, pipelines) -> dict:
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
    catalogue = {
        name: {
            "kind": cls.kind,
            "summary": cls.summary,
            "spiking": cls.spiking,
            "relu_exact": cls.relu_exact,
            "lowering": list(cls.lowering),
            "targets": list(cls.targets),
        }
        for name, cls in neurons.items()
    }
    return {"passes": out, "neurons": catalogue, "default_pipelines": dict(pipelines)}

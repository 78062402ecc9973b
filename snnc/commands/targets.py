"""``snnc targets``: list the backends, whether they are installed, and their pipelines."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    return sub.add_parser(
        "targets",
        help="list the compile targets and their default pipelines",
        description="List every target `snnc compile --target` accepts: its backend package "
        "(and whether it is installed), how it runs batches, and its default pass pipeline.",
    )


def run(args) -> int:
    from importlib.metadata import PackageNotFoundError, version

    from snnc.codegen import all_targets

    for t in all_targets():
        try:
            backend = f"{t.backend} {version(t.backend.replace('_', '-'))}"
        except PackageNotFoundError:
            backend = f"{t.backend} (not installed)"
        print(f"{t.name}: {t.description}")
        print(f"  backend:  {backend}")
        print(f"  pipeline: {t.default_pipeline}")
        if t.refuses:
            print(f"  refuses:  {', '.join(sorted(t.refuses))}")
    return 0

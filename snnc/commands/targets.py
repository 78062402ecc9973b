"""``snnc targets``: list the backends, whether they are installed, and their pipelines."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    return sub.add_parser(
        "targets",
        help="list the compile targets, their default pipelines and the neurons they run",
        description="List every target `snnc compile --target` accepts: its backend package "
        "(and whether it is installed), how it runs batches, its default pass pipeline, the "
        "neurons of the catalogue it runs (--neuron) and what it refuses.",
    )


def run(args) -> int:
    from importlib.metadata import PackageNotFoundError, version

    from snnc.codegen import all_targets
    from snnc.ir import traits as T

    for t in all_targets():
        if t.backend is None:
            backend = "(none)"
        else:
            try:
                backend = f"{t.backend} {version(t.backend.replace('_', '-'))}"
            except PackageNotFoundError:
                backend = f"{t.backend} (not installed)"
        print(f"{t.name}: {t.description}")
        print(f"  backend:  {backend}")
        print("  batches:  " + (f"minibatches of {t.default_batch}" if t.default_batch else "one sample at a time"))
        print(f"  pipeline: {t.default_pipeline}")
        print(f"  neurons:  {', '.join(t.neurons()) or '(none)'}")
        if t.refuses:
            refused = sorted(
                f"{key.__name__} ops" if issubclass(key, T.Trait) else key.kind for key in t.refuses
            )
            print(f"  refuses:  {', '.join(refused)}")
    return 0

"""``snnc run OUT --input x.npy --steps N``: simulate a compiled network and print or save it.

The result of a run is each output's value after the last step, read the way the graph's
``nn.output`` says (the readout convention: by default the running mean over all steps, so
the printed accuracy is the prediction after ``--steps`` steps, the same number
``snnc.simulate`` and ``Compiled.run`` give as ``ys[:, steps-1]``); ``--labels`` prints the
classification accuracy of its argmax.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def add_parser(sub) -> argparse.ArgumentParser:
    from snnc.commands.common import add_limit_options, add_load_pass

    p = sub.add_parser(
        "run",
        help="simulate a compiled network on inputs (print, save, or score against labels)",
        description="Run the network of an `snnc compile` output folder on a batch of inputs, "
        "each sample presented for --steps steps from a reset state. The network is built "
        "from OUT/model.snnc; a folder whose network.py or weights.npz differ from what snnc "
        "generates is refused unless --trust-code is given. Prints each output's value after "
        "the last step (its readout: by default the running mean over all steps) or, with -o, saves the full "
        "outputs (batch, steps, *output_shape). With --labels, prints the accuracy of the "
        "readout's argmax.",
        epilog="example: snnc run out/digits --input x_test.npy --labels y_test.npy --steps 50",
    )
    p.add_argument("out", metavar="OUT", help="a folder written by `snnc compile`")
    p.add_argument("-i", "--input", required=True, metavar="FILE", help="inputs, batch-first: .npy, or .npz with one array per model input (in input order)")
    p.add_argument("-n", "--steps", type=int, default=50, help="simulation steps per sample (default: 50)")
    p.add_argument("-b", "--batch", type=int, help="minibatch size of batched targets (nengo-dl; default: up to 32)")
    p.add_argument("--labels", metavar="FILE", help="integer class labels (.npy): print the accuracy of the first output's readout")
    p.add_argument("-o", "--output", metavar="FILE", help="save outputs: .npy (one output) or .npz (one array per output)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_load_pass(p)
    p.add_argument(
        "--trust-code",
        action="store_true",
        help="run OUT's network.py and weights.npz as they are, even when they differ from what "
        "snnc generates from OUT/model.snnc (by default such a folder is refused: the network "
        "is always built from model.snnc)",
    )
    add_limit_options(p, run=True)
    return p


def readout(y: np.ndarray) -> np.ndarray:
    """The output after the last step (``Compiled.run`` already applied the graph's
    readout): ``(batch, *output_shape)``."""
    return y[:, -1]


def run(args) -> int:
    from snnc.codegen import Compiled
    from snnc.commands.common import limits_from_args, load_plugins, max_run_values
    from snnc.datafiles import check_label_fit, read_inputs, read_labels
    from snnc.errors import SnncError
    from snnc.frontend.limits import check_graph
    from snnc.ir.output_files import check_outputs

    check_outputs(files=[args.output])  # before any work
    if args.steps < 1:
        raise SnncError(f"--steps must be >= 1 (got {args.steps})")
    if args.batch is not None and args.batch < 1:
        raise SnncError(f"--batch must be >= 1 (got {args.batch})")
    load_plugins(args)
    limits = limits_from_args(args)
    compiled = Compiled.load(args.out, trust_code=args.trust_code, limits=limits)
    check_graph(compiled.graph, args.out, limits)  # before a network of that size is built
    names = compiled.graph.outputs
    if args.output and not args.output.endswith(".npz") and len(names) > 1:  # before the run
        raise SnncError(f"{args.output}: the model has {len(names)} outputs; save them with a .npz file name")
    x = read_inputs(args.input, "input data", compiled.graph, max_member_bytes=limits.max_member_bytes)
    n = len(x[0] if isinstance(x, list) else x)
    labels = None
    if args.labels:
        labels = read_labels(args.labels, max_member_bytes=limits.max_member_bytes)
        check_label_fit(labels, n, args.labels, args.input, compiled.graph)
    # every step is kept only to save it (-o); printing and scoring need the last step alone
    ys = compiled.run(
        x,
        steps=args.steps,
        batch=args.batch,
        progress=False if args.quiet else None,
        trace=bool(args.output),
        max_run_values=max_run_values(args),
    )
    ys = ys if isinstance(ys, list) else [ys]
    finals = [readout(y) for y in ys] if args.output else ys
    if args.output:
        _save(args.output, names, ys)
    if labels is not None:
        scores = finals[0].reshape(n, -1)
        hits = int(np.sum(scores.argmax(axis=1) == labels))
        print(
            f"accuracy: {hits / len(labels):.4f} ({hits}/{len(labels)}) "
            f"[{compiled.target.name}, {args.steps} steps; argmax of output '{names[0]}' "
            f"after the last step, readout '{compiled.graph.op(names[0]).readout}']"
        )
    elif not args.output:
        with np.printoptions(precision=4, suppress=True, threshold=200):
            for name, y in zip(names, finals, strict=True):
                print(f"output '{name}' {list(y.shape)}; value after the last step (readout '{compiled.graph.op(name).readout}'):")
                print(y)
    return 0


def _save(path: str, names: list[str], ys: list[np.ndarray]) -> None:
    import io

    from snnc.ir.serialize import atomic_write_bytes

    buf = io.BytesIO()
    if path.endswith(".npz"):
        np.savez(buf, **dict(zip(names, ys, strict=True)))
    elif len(ys) == 1:
        np.save(buf, ys[0])
    else:
        from snnc.errors import SnncError

        raise SnncError(f"{path}: the model has {len(ys)} outputs; save them with a .npz file name")
    atomic_write_bytes(path, buf.getvalue())
    print(f"snnc run: saved outputs {[list(y.shape) for y in ys]} to {path}", file=sys.stderr)

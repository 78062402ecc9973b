"""Helpers shared by the CLI subcommands: plugin files, reading arrays, writing text output."""

from __future__ import annotations


def add_load_pass(p) -> None:
    """Add the repeatable ``--load-pass FILE`` option to subcommand parser ``p``."""
    p.add_argument(
        "--load-pass",
        metavar="FILE",
        action="append",
        default=[],
        help="import a Python file defining custom passes, ops or neurons (repeatable); "
        "a model using a plugin op or neuron needs its file to be read",
    )


def load_plugins(args) -> None:
    """Import the files given with ``--load-pass`` (they register their passes, ops and
    neurons)."""
    if args.load_pass:
        from snnc.passes import load_pass_file

        for path in args.load_pass:
            load_pass_file(path)


def load_arrays(path: str | None, what: str = "calibration data"):
    """Read a ``.npy`` array or a ``.npz`` (one array per model input, in order).

    Returns None for no path, an array, or a list of arrays; a bad file raises
    ModelFileError naming it.
    """
    if path is None:
        return None
    import numpy as np

    from snnc.errors import ModelFileError

    try:
        data = np.load(path)
    except (OSError, ValueError) as e:
        raise ModelFileError(
            f"{path}: cannot read {what} ({e})",
            hint="give a .npy array or a .npz with one array per input",
        ) from None
    if isinstance(data, np.ndarray):
        return data
    with data:
        arrays = [data[k] for k in data.files]
    return arrays[0] if len(arrays) == 1 else arrays


def write_text(text: str, output: str | None) -> None:
    """Print ``text``, or write it atomically to ``output``."""
    if output:
        from snnc.ir.serialize import atomic_write_bytes

        atomic_write_bytes(output, text.encode("utf-8"))
    else:
        print(text, end="")

"""Helpers shared by the CLI subcommands: plugin files, resource-limit options, writing text
output. Data files (``--input``, ``--labels``, ``--calibration``, ``--data``) are read and
checked by :mod:`snnc.datafiles`."""

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


def positive_int(maximum: int | None = None, why: str = ""):
    """An argparse ``type`` accepting integers ``1..maximum`` written in decimal; anything
    else (0, negatives, ``2.5``, ``1e9``, words) ends the command with exit code 2 and
    argparse's ``argument --flag: ...`` message (``why`` explains the maximum)."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"expected a positive integer (got {text!r})")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"expected at most {maximum:,}{why} (got {value:,})")
        return value

    return parse


def add_limit_options(p, *, run: bool = False) -> None:
    """Add the resource-limit options to the parser ``p`` of a command that reads a model:
    one per :class:`snnc.frontend.limits.Limits` field (``--max-params N`` ...) and, with
    ``run``, ``--max-run-values N`` (commands that simulate). Read them back with
    :func:`limits_from_args` and :func:`max_run_values`."""
    from snnc.frontend.limits import MAX_SAFE_DEPTH, OPTIONS
    from snnc.runcost import RUN_OPTIONS

    text = (
        "bounds on what reading a model may cost (Keras and NIR files: all of them; "
        "model.snnc: --max-member-bytes)"
    )
    if run:
        text += " and what a simulation may hold (--max-run-values)"
    group = p.add_argument_group("resource limits", text + "; raise them for a model you trust")
    for field, (flag, text) in OPTIONS.items():
        kind = positive_int()
        if field == "max_depth":
            kind = positive_int(MAX_SAFE_DEPTH, ": deeper JSON would exhaust Python's stack")
        group.add_argument(flag, dest=field, metavar="N", type=kind, help=text)
    if run:
        flag, text = RUN_OPTIONS["max_run_values"]
        group.add_argument(flag, dest="max_run_values", metavar="N", type=positive_int(), help=text)


def limits_from_args(args):
    """The :class:`~snnc.frontend.limits.Limits` of the options :func:`add_limit_options`
    added: the defaults, with every option given on the command line replacing its field."""
    from snnc.frontend.limits import DEFAULT_LIMITS, OPTIONS

    return DEFAULT_LIMITS.replace(**{field: getattr(args, field, None) for field in OPTIONS})


def max_run_values(args) -> int | None:
    """``--max-run-values`` (None when not given: the default applies)."""
    return getattr(args, "max_run_values", None)


def write_text(text: str, output: str | None) -> None:
    """Print ``text``, or write it atomically to ``output``."""
    if output:
        from snnc.ir.serialize import atomic_write_bytes

        atomic_write_bytes(output, text.encode("utf-8"))
    else:
        print(text, end="")

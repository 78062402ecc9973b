"""The ``snnc`` command line. Each subcommand lives in ``snnc/commands/<name>.py`` with
``add_parser(subparsers)`` and ``run(args) -> int``; heavy imports happen inside ``run``.

Exit codes: 0 success, 2 user error (one-paragraph message, no traceback; an output snnc
cannot or will not write is one, see :mod:`snnc.ir.output_files`), 1 bug.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

#: subcommands in the order ``snnc --help`` lists them
COMMANDS = (
    "dump", "opt", "passes", "compile", "run", "verify", "sweep", "export", "targets", "layers",
)


def build_parser() -> argparse.ArgumentParser:
    from snnc import __version__

    parser = argparse.ArgumentParser(
        prog="snnc",
        description="Compile trained Keras models into spiking neural networks for nengo, "
        "nengo-dl and nengo-loihi.",
    )
    parser.add_argument("--version", action="version", version=f"snnc {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"snnc.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"snnc.commands.{name}":
                continue  # a command not written yet
            raise
        p = module.add_parser(sub)
        p.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (also used by the ``snnc`` console script)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="snnc: %(levelname)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from snnc.errors import SnncError

    try:
        return int(args.func(args) or 0)
    except SnncError as e:
        print(f"snnc {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("snnc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (`snnc layers | head`): not an error of ours;
        # point stdout at devnull so the interpreter's final flush does not complain again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:
        # a last resort: the writers report their OS errors themselves (OutputError); one
        # they missed is still the user's disk, not a bug, when it names an output path
        path = _output_path(args, e)
        if path is None:
            raise
        print(f"snnc {args.command}: error: {path}: cannot write it ({e.strerror or e})", file=sys.stderr)
        return 2


#: the options of the subcommands that name an output file or folder
OUTPUT_OPTIONS = ("output", "dump_dir", "json", "plots", "plot")


def _output_path(args, e: OSError) -> str | None:
    """The output path (an option's value) that the OS error ``e`` is about, if any: its file
    is that path, inside it, or a temporary next to it (``.NAME.*``)."""
    from pathlib import Path

    for name in (e.filename, e.filename2):
        if not isinstance(name, str | bytes | os.PathLike):
            continue
        failed = Path(os.path.abspath(os.fsdecode(name)))
        for option in OUTPUT_OPTIONS:
            value = getattr(args, option, None)
            if not isinstance(value, str) or not value:
                continue  # unset, or a flag (`snnc layers --json`)
            out = Path(os.path.abspath(value))
            beside = failed.parent == out.parent and failed.name.startswith(f".{out.name}.")
            if failed == out or out in failed.parents or beside:
                return value
    return None


if __name__ == "__main__":
    sys.exit(main())

"""The ``snnc`` command line. Each subcommand lives in ``snnc/commands/<name>.py`` with
``add_parser(subparsers)`` and ``run(args) -> int``; heavy imports happen inside ``run``.

Exit codes: 0 success, 2 user error (one-paragraph message, no traceback), 1 bug.
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


if __name__ == "__main__":
    sys.exit(main())

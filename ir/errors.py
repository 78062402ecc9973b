"""Error types of the IR (re-exported, with the rest, by :mod:`snnc.errors`).

``snnc.ir`` depends on nothing else of snnc, so the root of all user-facing errors,
:class:`SnncError`, lives here. Every error a *user* can cause derives from it; the CLI
prints its message as one paragraph and exits with code 2. Anything else escaping the CLI is
a bug (exit code 1). Messages follow ``<where>: <what> (expected X, got Y)`` with an optional
``hint:`` line.
"""

from __future__ import annotations


class SnncError(Exception):
    """A problem with the user's input: exit code 2 from the CLI, no traceback."""

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\nhint: {hint}")


class IRError(SnncError):
    """Malformed IR: parse errors, type errors, verifier failures."""


class IRParseError(IRError):
    """The ``.snnir`` text cannot be parsed."""


class IRVerifyError(IRError):
    """The graph breaks an IR invariant. ``rule`` names the invariant, ``node`` the culprit."""

    def __init__(self, message: str, *, rule: str, node: str | None = None, hint: str | None = None):
        self.rule = rule
        self.node = node
        super().__init__(message, hint=hint)


class InputShapeError(SnncError):
    """Input data does not have the shape the model expects."""


class ModelFileError(SnncError):
    """A model file cannot be read: missing, truncated, wrong format, broken JSON, bad weights."""


class OutputError(SnncError, OSError):
    """An output file or folder cannot be written: a destination snnc refuses to replace (a
    link, a FIFO, a device, the current folder), another snnc writing it, or an OS error
    (permissions, full or read-only disk, too long a name). Also an ``OSError`` (``errno`` is
    the OS error's, when there was one), so code catching OSError around a write still does."""

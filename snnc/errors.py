"""Error types of snnc.

Every error a *user* can cause (bad file, unsupported layer, bad option, bad input shape)
derives from :class:`SnncError`; the CLI prints its message as one paragraph and exits with
code 2. Anything else escaping the CLI is a bug in snnc (exit code 1).

Messages follow ``<where>: <what> (expected X, got Y)`` with an optional ``hint:`` line.
"""

from __future__ import annotations


class SnncError(Exception):
    """A problem with the user's input: exit code 2 from the CLI, no traceback."""

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\nhint: {hint}")


class ModelFileError(SnncError):
    """A model file cannot be read: missing, truncated, wrong format, broken JSON, bad weights."""


class UnsupportedModelError(SnncError):
    """The model uses layers or options snnc cannot convert.

    ``problems`` lists ``(layer_name, layer_class, reason)`` for every offending layer, so a
    user sees all of them at once.
    """

    def __init__(self, source: str, problems: list[tuple[str, str, str]]):
        self.source = source
        self.problems = list(problems)
        lines = [f"  - layer '{n}' ({c}): {r}" for n, c, r in self.problems]
        super().__init__(
            f"{source}: cannot convert {len(self.problems)} layer(s):\n" + "\n".join(lines),
            hint="remove or replace these layers (see `snnc dump --help` for the supported "
            "layer list), or convert them to supported ones before saving the model",
        )


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


class PassError(SnncError):
    """A pass was misconfigured or failed on this graph."""


class PipelineError(PassError):
    """A pipeline string cannot be parsed or names an unknown pass or option."""


class CodegenError(SnncError):
    """The graph cannot be emitted for the chosen target."""


class InputShapeError(SnncError):
    """Input data does not have the shape the model expects."""

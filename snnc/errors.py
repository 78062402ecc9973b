"""Error types of snnc.

Every error a *user* can cause (bad file, unsupported layer, bad option, bad input shape)
derives from :class:`SnncError`; the CLI prints its message as one paragraph and exits with
code 2. Anything else escaping the CLI is a bug in snnc (exit code 1). The IR's own errors
(and ``SnncError`` itself) live in :mod:`snnc.ir.errors`, so that ``snnc.ir`` imports nothing
above it; they are re-exported here.

Messages follow ``<where>: <what> (expected X, got Y)`` with an optional ``hint:`` line.
"""

from __future__ import annotations

from snnc.ir.errors import (
    InputShapeError,
    IRError,
    IRParseError,
    IRVerifyError,
    ModelFileError,
    OutputError,
    SnncError,
)

__all__ = [
    "CodegenError", "InputShapeError", "IRError", "IRParseError", "IRVerifyError",
    "ModelFileError", "OutputError", "PassError", "PipelineError", "SnncError", "UnsupportedModelError",
]


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
            hint="remove or replace these layers (`snnc layers` lists the supported "
            "layers), or convert them to supported ones before saving the model",
        )


class PassError(SnncError):
    """A pass was misconfigured or failed on this graph."""


class PipelineError(PassError):
    """A pipeline string cannot be parsed or names an unknown pass or option."""


class CodegenError(SnncError):
    """The graph cannot be emitted for the chosen target."""



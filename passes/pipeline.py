"""Pipeline strings: ``"canonicalize,lower-activations{neuron={conv*:lif,dense:if},synapse=none}"``.

Grammar (whitespace is allowed between tokens)::

    pipeline := [ pass ("," pass)* ]
    pass     := NAME [ "{" [ option ("," option)* ] "}" ]
    option   := KEY "=" VALUE        KEY may use - or _ (synapse-tau == synapse_tau)
    VALUE    := text up to the next "," or "}" outside nested {...}, (...), [...] and "..."

:func:`parse_pipeline` turns the text into pass instances (options typed and checked by
the pass, see :mod:`snnc.passes.base`); :func:`format_pipeline` prints them back so that
``parse_pipeline(format_pipeline(ps)) == ps``.
"""

from __future__ import annotations

import re

from snnc.errors import PipelineError
from snnc.passes.base import Pass, get_pass, known_passes_hint

#: the default pipeline of each target (codegen's ``Target.default_pipeline`` uses these)
DEFAULT_PIPELINES: dict[str, str] = {
    "nengo": "canonicalize,fold-batchnorm,lower-activations{neuron=if},fuse-bias,normalize-rates",
    "nengo-dl": "canonicalize,fold-batchnorm,lower-activations{neuron=if},fuse-bias,normalize-rates",
    "loihi": "canonicalize,fold-batchnorm,lower-activations{neuron=loihi-if},fuse-bias,normalize-rates",
}

_PASS_NAME = re.compile(r"[A-Za-z0-9_][\w\-]*")
_KEY = re.compile(r"[A-Za-z_][\w\-]*")
_CLOSE = {"{": "}", "(": ")", "[": "]"}


class _Scanner:
    """A cursor over the pipeline text; errors point at the column with a caret."""

    def __init__(self, text: str):
        self.text, self.pos = text, 0

    def error(self, what: str, pos: int | None = None) -> PipelineError:
        pos = self.pos if pos is None else pos
        return PipelineError(
            f"bad pipeline: {what} at column {pos + 1}\n  {self.text}\n  {' ' * pos}^",
            hint=known_passes_hint(),
        )

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at(self, s: str) -> bool:
        self.skip()
        return self.text.startswith(s, self.pos)

    def accept(self, s: str) -> bool:
        if self.at(s):
            self.pos += len(s)
            return True
        return False

    def match(self, regex: re.Pattern, what: str) -> str:
        self.skip()
        m = regex.match(self.text, self.pos)
        if not m:
            found = self.text[self.pos : self.pos + 10] or "end of text"
            raise self.error(f"expected {what}, found '{found}'")
        self.pos = m.end()
        return m.group(0)

    def value(self) -> str:
        """Raw text of an option value: up to a top-level ',' or '}'."""
        self.skip()
        start, stack, quoted = self.pos, [], False
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if quoted:
                if c == "\\":
                    self.pos += 1
                elif c == '"':
                    quoted = False
            elif c == '"':
                quoted = True
            elif c in _CLOSE:
                stack.append(_CLOSE[c])
            elif stack and c == stack[-1]:
                stack.pop()
            elif not stack and c in ",}":
                break
            elif c in ")]}":
                raise self.error(f"unbalanced '{c}' in an option value")
            self.pos += 1
        if quoted or stack:
            raise self.error(
                "unterminated option value (missing " + ('"' if quoted else f"'{stack[-1]}'") + ")",
                start,
            )
        raw = self.text[start : self.pos].strip()
        if not raw:
            raise self.error("expected an option value")
        return raw


def split_pipeline(text: str) -> list[tuple[str, dict[str, str]]]:
    """Parse the syntax only: ``[(pass_name, {option: raw_text})]``."""
    s = _Scanner(text)
    items: list[tuple[str, dict[str, str]]] = []
    if not text.strip():
        return items
    while True:
        name = s.match(_PASS_NAME, "a pass name")
        opts: dict[str, str] = {}
        if s.accept("{"):
            while not s.accept("}"):
                key_pos = s.pos
                key = s.match(_KEY, "an option name").replace("-", "_")
                if key in opts:
                    raise s.error(f"option '{key}' of pass '{name}' given twice", key_pos)
                if not s.accept("="):
                    raise s.error(f"expected '=' after option '{key}'")
                opts[key] = s.value()
                if not s.accept(","):
                    if not s.accept("}"):
                        raise s.error(f"expected ',' or '}}' in the options of '{name}'")
                    break
        items.append((name, opts))
        s.skip()
        if s.pos >= len(text):
            return items
        if not s.accept(","):
            raise s.error("expected ',' between passes")


def make_pass(name: str, raw_options: dict[str, str]) -> Pass:
    """Build pass ``name`` from option texts (each parsed with the option's type)."""
    cls = get_pass(name)
    infos = {o.name: o for o in cls.options()}
    values = {}
    for key, raw in raw_options.items():
        if key not in infos:
            known = ", ".join(f"{o.name} ({o.type_text()})" for o in infos.values()) or "none"
            raise PipelineError(
                f"pass '{name}' has no option '{key}'", hint=f"options of '{name}': {known}"
            )
        values[key] = infos[key].parse(raw, name)
    return cls(**values)


def parse_pipeline(text: str) -> list[Pass]:
    """Parse a pipeline string into pass instances (raise PipelineError when it is wrong)."""
    if not isinstance(text, str):
        raise PipelineError(
            f"a pipeline is a string like 'canonicalize,fold-batchnorm' (got {type(text).__name__})"
        )
    return [make_pass(name, opts) for name, opts in split_pipeline(text)]


def as_passes(pipeline: str | list[Pass]) -> list[Pass]:
    """A pipeline string or a list of passes (checked) as a list of passes."""
    if isinstance(pipeline, str):
        return parse_pipeline(pipeline)
    passes = list(pipeline)
    for p in passes:
        if not isinstance(p, Pass):
            raise PipelineError(
                f"a pipeline list must hold Pass instances (got {p!r})", hint=known_passes_hint()
            )
    return passes


def format_pipeline(passes: list[Pass], include_defaults: bool = False) -> str:
    """Pipeline text of ``passes`` (options at their default are left out unless asked)."""
    return ",".join(p.to_text(include_defaults) for p in passes)


def default_pipeline(target: str) -> str:
    """The default pipeline string of ``target``."""
    try:
        return DEFAULT_PIPELINES[target]
    except KeyError:
        raise PipelineError(
            f"no default pipeline for target '{target}'",
            hint="targets: " + ", ".join(DEFAULT_PIPELINES),
        ) from None

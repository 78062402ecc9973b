"""The one lexer and literal formatter of snnc's texts: ``.snnir`` lines and pipeline strings.

:class:`Cursor` walks a string with small recursive-descent helpers; the caller supplies how
an error is made (an ``IRParseError`` for IR text, a ``PipelineError`` for pipelines), and
errors point at the column with a caret. :func:`format_literal` prints attribute and option
values (``none``, ``true``/``false``, ints, shortest round-trip floats, JSON strings,
tuples) and :meth:`Cursor.literal` reads them back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

NAME = re.compile(r'[A-Za-z_][\w.\-/]*|"(?:[^"\\]|\\.)*"')
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan)")
WORD = re.compile(r"[A-Za-z_][\w.]*")
_INT = re.compile(r"[-+]?\d+")
_CLOSE = {"{": "}", "(": ")", "[": "]"}
_BARE_NAME = re.compile(r"^[A-Za-z_][\w.\-/]*$")


def format_name(name: str) -> str:
    """A name as IR text: bare when it is a plain identifier, else a JSON string (escaped:
    quotes, backslashes, control characters and non-ASCII become escapes)."""
    return name if _BARE_NAME.match(name) else json.dumps(name)


def format_float(x: float) -> str:
    """Shortest text that reads back to the same float64."""
    return repr(float(x))


def format_literal(v) -> str:
    """Text of a literal: ``none``, ``true``/``false``, int, float, ``"string"``, ``(a,b)``."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, tuple):
        inner = ",".join(format_literal(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    raise TypeError(f"cannot print literal {v!r} of type {type(v).__name__}")


class Cursor:
    """A cursor over ``text``. ``make_error(message, text, column)`` builds the exception
    raised by :meth:`error` (the message already carries the caret line)."""

    def __init__(self, text: str, make_error: Callable[[str], Exception], where: str = ""):
        self.text, self.pos = text, 0
        self._make_error = make_error
        self._where = where

    # ------------------------------------------------------------------ errors
    def error(self, what: str, pos: int | None = None) -> Exception:
        pos = self.pos if pos is None else pos
        prefix = f"{self._where}, column {pos + 1}" if self._where else f"column {pos + 1}"
        return self._make_error(f"{prefix}: {what}\n  {self.text}\n  {' ' * pos}^")

    # ------------------------------------------------------------------ tokens
    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, s: str) -> bool:
        self.skip()
        return self.text.startswith(s, self.pos)

    def accept(self, s: str) -> bool:
        if self.peek(s):
            self.pos += len(s)
            return True
        return False

    def expect(self, s: str) -> None:
        if not self.accept(s):
            found = self.text[self.pos : self.pos + 12] or "end of text"
            raise self.error(f"expected '{s}', found '{found}'")

    def match(self, regex: re.Pattern, what: str) -> str:
        self.skip()
        m = regex.match(self.text, self.pos)
        if not m:
            found = self.text[self.pos : self.pos + 12] or "end of text"
            raise self.error(f"expected {what}, found '{found}'")
        self.pos = m.end()
        return m.group(0)

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def name(self) -> str:
        """A bare or JSON-quoted name."""
        tok = self.match(NAME, "a name")
        if not tok.startswith('"'):
            return tok
        try:
            return json.loads(tok)
        except ValueError as e:
            raise self.error(f"bad quoted name: {e}") from None

    # ------------------------------------------------------------------ literals
    def literal(self, special: Callable[[Cursor], object] | None = None):
        """A literal as :func:`format_literal` prints it; ``special(cursor)`` is called
        at a ``<`` (IR arrays) and returns the value."""
        self.skip()
        c = self.text[self.pos : self.pos + 1]
        if c == "(":
            self.pos += 1
            items = []
            while not self.accept(")"):
                items.append(self.literal(special))
                if not self.accept(","):
                    self.expect(")")
                    break
            return tuple(items)
        if c == '"':
            return self.name()
        if c == "<" and special is not None:
            return special(self)
        if self.text.startswith(("none", "true", "false"), self.pos):
            word = self.match(WORD, "a value")
            if word in ("none", "true", "false"):
                return {"none": None, "true": True, "false": False}[word]
            raise self.error(f"unknown word '{word}'")
        tok = self.match(NUMBER, "a value (number, string, tuple, none, true, false)")
        if _INT.fullmatch(tok):
            return int(tok)
        return float(tok)

    def balanced(self, stops: str = ",}") -> str:
        """Raw text up to a top-level character of ``stops``, outside nested brackets and
        quoted strings (pipeline option values keep their own syntax)."""
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
            elif not stack and c in stops:
                break
            elif c in ")]}":
                raise self.error(f"unbalanced '{c}'")
            self.pos += 1
        if quoted or stack:
            missing = '"' if quoted else f"'{stack[-1]}'"
            raise self.error(f"unterminated value (missing {missing})", start)
        return self.text[start : self.pos].strip()

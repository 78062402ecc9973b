"""Names are data: how the generated module refers to IR nodes without running their names.

IR node and graph names come from model files (a Keras layer name, a ``.snnir`` line) and
may hold anything: quotes, ``\"\"\"``, backslashes (``a\\N``), newlines, NUL, lone surrogates.
The generated ``network.py`` must stay valid Python for every one of them and must never
run one. So, as torch.fx's ``_Namespace`` does:

- Python variables are *fresh* identifiers made by :class:`Namespace` from the name's ASCII
  letters and digits (``conv1.act`` -> ``conv1_act``), never the name itself;
- a name appears in the source only as a literal made by :func:`literal` (``ascii()``: an
  escaped, pure-ASCII Python string) in labels and dictionary keys, and in comments only
  through :func:`comment`, which escapes every line break;
- docstrings hold no names at all (the module template reads them from constants).
"""

from __future__ import annotations

import builtins
import keyword
import math
import numbers
import re

from snnc.errors import CodegenError

#: longest identifier made from a name (longer names are cut; uniqueness adds a suffix)
MAX_IDENTIFIER = 40

_NOT_IDENT = re.compile(r"[^0-9A-Za-z_]+")


class Namespace:
    """Fresh, legal, ASCII Python identifiers for arbitrary strings.

    ``create_name("conv1.act")`` returns ``conv1_act``, then ``conv1_act_1`` for the next
    request that sanitises the same way. Keywords, builtins and ``reserved`` names (those the
    generated module defines itself) are never returned.
    """

    def __init__(self, reserved=()):
        self._used = set(reserved) | set(dir(builtins)) | set(keyword.kwlist)
        self._used |= set(keyword.softkwlist)

    def create_name(self, candidate: str) -> str:
        """A fresh identifier derived from ``candidate`` (any string)."""
        base = _NOT_IDENT.sub("_", candidate).strip("_")[:MAX_IDENTIFIER].rstrip("_") or "v"
        if base[0].isdigit():
            base = "n_" + base
        name, i = base, 0
        while name in self._used:
            i += 1
            name = f"{base}_{i}"
        self._used.add(name)
        return name

    def reserve(self, name: str) -> None:
        """Mark ``name`` as taken (a helper function copied into the module)."""
        self._used.add(name)


def literal(value) -> str:
    """Python source for a plain value: None, bool, int, float, str or tuples of them.

    Strings become escaped pure-ASCII literals (``ascii()``), so no string can end the
    literal or the line it is on; non-finite floats become ``float("inf")``-style calls
    (the generated module has no ``inf`` name). Anything else is refused, so an attribute
    of an unexpected type can never reach the source through its ``repr``.
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, numbers.Integral):
        return repr(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        return repr(value) if math.isfinite(value) else f'float("{value}")'
    if isinstance(value, str):
        return ascii(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise CodegenError(
        f"cannot write a value of type {type(value).__name__} into generated code ({value!r:.60})"
    )


def comment(text: str) -> str:
    """``text`` as one comment line: every character but printable ASCII (line breaks,
    control characters, non-ASCII) is written as its backslash escape."""
    return "# " + "".join(
        c if " " <= c <= "~" else c.encode("unicode_escape").decode("ascii") for c in text
    )

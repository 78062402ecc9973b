"""Parse ``.snnir`` text (see :mod:`snnc.ir.printer`) back into a :class:`~snnc.ir.graph.Graph`.

Parameters printed as hashes need the arrays: pass ``weights`` as a mapping from
``"<node>.<param>"`` to array (what ``weights.npz`` of a ``model.snnc`` holds); the hash in
the text is checked against the array. Errors name the line and column.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import numpy as np

from snnc.errors import IRError, IRParseError
from snnc.ir.graph import Graph
from snnc.ir.ops import OPS, OpError, array_hash
from snnc.ir.types import parse_type

_NAME = re.compile(r'[A-Za-z_][\w.\-/]*|"(?:[^"\\]|\\.)*"')
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan)")
_WORD = re.compile(r"[A-Za-z_][\w.]*")
_TYPE = re.compile(r"[a-z0-9\-]+\[[0-9,\s]*\]")


class _Cursor:
    """A character cursor over one line with small recursive-descent helpers."""

    def __init__(self, text: str, lineno: int):
        self.text, self.pos, self.lineno = text, 0, lineno

    def error(self, what: str) -> IRParseError:
        caret = " " * self.pos + "^"
        return IRParseError(
            f"line {self.lineno}, column {self.pos + 1}: {what}\n  {self.text}\n  {caret}"
        )

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
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
            found = self.text[self.pos : self.pos + 12] or "end of line"
            raise self.error(f"expected '{s}', found '{found}'")

    def match(self, regex: re.Pattern, what: str) -> str:
        self.skip()
        m = regex.match(self.text, self.pos)
        if not m:
            raise self.error(f"expected {what}")
        self.pos = m.end()
        return m.group(0)

    def name(self) -> str:
        """A node or graph name (bare or JSON-quoted), without the sigil."""
        tok = self.match(_NAME, "a name")
        return json.loads(tok) if tok.startswith('"') else tok

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    # ------------------------------------------------------------------ values
    def value(self, weights, node: str, key: str):
        self.skip()
        c = self.text[self.pos : self.pos + 1]
        if c == "(":
            self.pos += 1
            items = []
            while not self.accept(")"):
                items.append(self.value(weights, node, key))
                if not self.accept(","):
                    self.expect(")")
                    break
            return tuple(items)
        if c == '"':
            return self.name()
        if c == "<":
            return self.array(weights, node, key)
        if self.text.startswith(("none", "true", "false"), self.pos):
            word = self.match(_WORD, "a value")
            if word in ("none", "true", "false"):
                return {"none": None, "true": True, "false": False}[word]
            raise self.error(f"unknown word '{word}'")
        tok = self.match(_NUMBER, "a value (number, string, tuple, array, none, true, false)")
        if re.fullmatch(r"[-+]?\d+", tok):
            return int(tok)
        return float(tok)

    def array(self, weights, node: str, key: str) -> np.ndarray:
        self.expect("<")
        t = parse_type(self.match(_TYPE, "an array type like f32[3,3]"))
        end = self.text.find(">", self.pos)
        if end < 0:
            raise self.error("unterminated array literal (missing '>')")
        body = self.text[self.pos : end].strip()
        self.pos = end + 1
        if body.startswith("#"):
            digest = body[1:].split()[0]
            if weights is None or f"{node}.{key}" not in weights:
                raise self.error(
                    f"parameter {node}.{key} is printed as a hash; its array is needed "
                    "(load the model.snnc, or print with weights=full)"
                )
            a = np.asarray(weights[f"{node}.{key}"], dtype=np.float32)
            if array_hash(a) != digest:
                raise self.error(f"weights for {node}.{key} do not match hash #{digest}")
        else:
            try:
                a = np.array(json.loads(_json_floats(body)), dtype=np.float32)
            except ValueError as e:
                raise self.error(f"bad array literal: {e}") from None
        if a.shape != t.shape:
            raise self.error(f"array has shape {list(a.shape)}, its type says {t}")
        return a


def _json_floats(body: str) -> str:
    return re.sub(r"(?<![\w.])(-?)(inf|nan)\b", lambda m: {"inf": f"{m.group(1)}Infinity", "nan": "NaN"}[m.group(2)], body)


def parse_graph(text: str, weights: Mapping[str, np.ndarray] | None = None) -> Graph:
    """Parse ``.snnir`` text. Comments (``//``) and blank lines are ignored.

    The node types in the text are checked against inference; a mismatch is an error.
    """
    lines = [(i + 1, ln.rstrip()) for i, ln in enumerate(text.splitlines())]
    lines = [(i, ln) for i, ln in lines if ln.strip() and not ln.lstrip().startswith("//")]
    if not lines:
        raise IRParseError("empty .snnir text (expected 'graph @name(dt=...) {')")
    lineno, header = lines[0]
    cur = _Cursor(header, lineno)
    cur.expect("graph")
    cur.expect("@")
    name = cur.name()
    dt = 0.001
    if cur.accept("("):
        cur.expect("dt")
        cur.expect("=")
        dt = cur.value(None, "graph", "dt")
        cur.expect(")")
    cur.expect("{")
    g = Graph(name, dt)
    if lines[-1][1].strip() != "}":
        raise IRParseError(f"line {lines[-1][0]}: expected the closing '}}' of graph @{name}")
    for lineno, line in lines[1:-1]:
        _parse_node(g, _Cursor(line, lineno), weights)
    return g


def _parse_node(g: Graph, cur: _Cursor, weights) -> None:
    cur.expect("%")
    node = cur.name()
    cur.expect("=")
    kind = cur.match(_WORD, "an op kind like nn.dense")
    if kind not in OPS:
        raise cur.error(f"unknown op '{kind}' (known: {', '.join(sorted(OPS))})")
    cls = OPS[kind]
    cur.expect("(")
    inputs, synapses = [], []
    while not cur.accept(")"):
        cur.expect("%")
        inputs.append(cur.name())
        syn = None
        if cur.accept("["):
            cur.expect("synapse")
            cur.expect("=")
            syn = cur.value(None, node, "synapse")
            cur.expect("]")
        synapses.append(syn)
        if not cur.accept(","):
            cur.expect(")")
            break
    fields: dict = {}
    if cur.accept("{"):
        while not cur.accept("}"):
            key = cur.match(_WORD, "an attribute name")
            cur.expect("=")
            fields[key] = cur.value(weights, node, key)
            if not cur.accept(","):
                cur.expect("}")
                break
    cur.expect(":")
    t = parse_type(cur.match(_TYPE, "a type like f32[8,8,1]"))
    meta = {}
    if cur.accept("#meta"):
        cur.skip()
        try:
            meta, cur.pos = json.JSONDecoder().raw_decode(cur.text, cur.pos)
        except ValueError as e:
            raise cur.error(f"bad #meta JSON: {e}") from None
    if cur.accept("//"):  # trailing comment
        cur.pos = len(cur.text)
    if not cur.at_end():
        raise cur.error("unexpected text after the type")
    for f in cls.type_fields:
        fields[f] = t.shape
    try:
        op = cls(**fields)
    except TypeError as e:
        raise cur.error(f"{kind}: {e}") from None
    for src in inputs:
        if src not in g:
            raise cur.error(f"input %{src} is not defined above this line")
    try:
        g.add(node, op, inputs, meta=meta, synapses=synapses, type=t)
    except IRError as e:
        raise cur.error(e.message) from None
    # the declared type must agree with inference; a failing inference is left to the
    # verifier, so broken graphs still parse and get reported with their rule
    try:
        inferred = op.infer_type(g.in_types(node))
    except OpError:
        return
    if inferred != t:
        raise cur.error(f"declared type {t} but the op produces {inferred}")


def parse_file(path, weights=None) -> Graph:
    """Parse a ``.snnir`` file."""
    with open(path, encoding="utf-8") as f:
        try:
            return parse_graph(f.read(), weights)
        except IRParseError as e:
            raise IRParseError(f"{path}: {e.message}", hint=e.hint) from None



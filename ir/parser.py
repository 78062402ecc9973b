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

from snnc.ir.errors import IRError, IRParseError
from snnc.ir.graph import Graph
from snnc.ir.lexer import WORD, Cursor
from snnc.ir.ops import OPS, OpError, array_hash
from snnc.ir.types import parse_type

_TYPE = re.compile(r"[a-z0-9\-]+(?:\((?:\s*-?\d+\s*,?)*\))?\[[0-9,\s]*\]")


def _cursor(text: str, lineno: int) -> Cursor:
    return Cursor(text, IRParseError, where=f"line {lineno}")


def _read_type(cur: Cursor, expected: str):
    """The type at ``cur``; one it cannot be (an unknown dtype, a bad quantization) is a
    parse error there."""
    text = cur.match(_TYPE, expected)
    try:
        return parse_type(text)
    except ValueError as e:
        raise cur.error(str(e)) from None


def _array_reader(weights, node: str, key: str, quant: dict):
    """The ``<type #hash>`` / ``<type [values]>`` reader for parameter ``key`` of ``node``;
    a q-typed literal records its dtype in ``quant``."""

    def read(cur: Cursor) -> np.ndarray:
        cur.expect("<")
        t = _read_type(cur, "an array type like f32[3,3]")
        end = cur.text.find(">", cur.pos)
        if end < 0:
            raise cur.error("unterminated array literal (missing '>')")
        body = cur.text[cur.pos : end].strip()
        cur.pos = end + 1
        q = t.dtype if t.dtype.is_quantized else None
        if q is not None and q.per_channel and (not t.shape or t.shape[-1] != len(q.exp)):
            raise cur.error(
                f"{t} has {len(q.exp)} per-channel exponents (expected one per element of its "
                "last axis)"
            )
        if body.startswith("#"):
            digest = body[1:].split()[0]
            if weights is None or f"{node}.{key}" not in weights:
                raise cur.error(
                    f"parameter {node}.{key} is printed as a hash; its array is needed "
                    "(load the model.snnc, or print with weights=full)"
                )
            raw = np.asarray(weights[f"{node}.{key}"])
            a = _dequantize(raw, q) if q is not None and raw.dtype.kind in "iu" else raw.astype(np.float32)
            if array_hash(a) != digest:
                raise cur.error(f"weights for {node}.{key} do not match hash #{digest}")
        else:
            try:
                data = np.array(json.loads(_json_floats(body)))
            except ValueError as e:
                raise cur.error(f"bad array literal: {e}") from None
            if q is not None:  # full q-typed literals hold the integer mantissas
                if data.size and data.dtype.kind not in "iu":
                    raise cur.error(f"a {t.dtype} literal holds integers (the mantissas)")
                a = _dequantize(data.astype(np.int64), q)
            else:
                a = data.astype(np.float32)
        if a.shape != t.shape:
            raise cur.error(f"array has shape {list(a.shape)}, its type says {t}")
        if q is not None:
            quant[key] = q
        elif not t.dtype.kind == "f32":
            raise cur.error(f"parameters are f32 or q-typed (got {t.dtype})")
        return a

    return read


def _dequantize(mantissa: np.ndarray, q) -> np.ndarray:
    """``mantissa * 2**exp`` as float32 (exact for the bit widths the IR allows)."""
    return (mantissa.astype(np.float64) * q.scale()).astype(np.float32)


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
    cur = _cursor(header, lineno)
    cur.expect("graph")
    cur.expect("@")
    name = cur.name()
    dt = 0.001
    if cur.accept("("):
        cur.expect("dt")
        cur.expect("=")
        dt = cur.literal()
        cur.expect(")")
    if isinstance(dt, bool) or not isinstance(dt, int | float):
        raise cur.error(f"dt must be a number of seconds (got {dt!r})")
    cur.expect("{")
    g = Graph(name, dt)
    if lines[-1][1].strip() != "}":
        raise IRParseError(f"line {lines[-1][0]}: expected the closing '}}' of graph @{name}")
    for lineno, line in lines[1:-1]:
        _parse_node(g, _cursor(line, lineno), weights)
    return g


def _parse_node(g: Graph, cur: Cursor, weights) -> None:
    cur.expect("%")
    node = cur.name()
    cur.expect("=")
    kind = cur.match(WORD, "an op kind like nn.dense")
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
            syn = cur.literal()
            cur.expect("]")
        synapses.append(syn)
        if not cur.accept(","):
            cur.expect(")")
            break
    fields: dict = {}
    quant: dict = {}
    if cur.accept("{"):
        while not cur.accept("}"):
            key = cur.match(WORD, "an attribute name")
            cur.expect("=")
            if key in fields:
                raise cur.error(f"attribute '{key}' given twice")
            fields[key] = cur.literal(_array_reader(weights, node, key, quant))
            if not cur.accept(","):
                cur.expect("}")
                break
    cur.expect(":")
    t = _read_type(cur, "a type like f32[8,8,1]")
    meta = {}
    if cur.accept("#meta"):
        cur.skip()
        meta = None
        try:
            meta, cur.pos = json.JSONDecoder().raw_decode(cur.text, cur.pos)
        except ValueError as e:
            raise cur.error(f"bad #meta JSON: {e}") from None
        if not isinstance(meta, dict):
            raise cur.error("#meta must be a JSON object")
    if cur.accept("//"):  # trailing comment
        cur.pos = len(cur.text)
    if not cur.at_end():
        raise cur.error("unexpected text after the type")
    for f in cls.type_fields:
        fields[f] = t.shape
    if "quant" in fields:
        raise cur.error("'quant' is not written as an attribute: q-typed parameter literals say it")
    if quant:
        fields["quant"] = quant
    try:
        op = cls(**fields)
    except (TypeError, ValueError) as e:
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
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise IRParseError(
            f"{path}: not UTF-8 text (byte {data[e.start : e.start + 1]!r} at offset {e.start})",
            hint="a .snnir file is UTF-8 text, as `snnc opt -o FILE.snnir` writes it",
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as open() reads
    try:
        return parse_graph(text, weights)
    except IRParseError as e:
        raise IRParseError(f"{path}: {e.message}", hint=e.hint) from None



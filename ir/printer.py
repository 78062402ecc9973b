"""The ``.snnir`` text form: one line per node, deterministic and diff-friendly.

::

    graph @digits(dt=0.001) {
      %input = nn.input() : f32[8,8,1]
      %conv1 = nn.conv2d(%input) {weight=<f32[3,3,1,16] #4be1c0a2>, ...} : f32[6,6,16]
      %flatten = nn.flatten(%conv1.act [synapse=0.005]) : f32[576]
    }

Parameters print as ``<type #hash>`` (``weights="hash"``), with summary statistics
(``"stats"``) or in full (``"full"``, parseable without a weights file). Scalars always print
in full. :mod:`snnc.ir.parser` reads every form back.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from snnc.ir.graph import Graph
from snnc.ir.lexer import format_float, format_literal
from snnc.ir.lexer import format_name as _format_name
from snnc.ir.ops import Op, array_hash
from snnc.ir.types import F32, DType

WEIGHT_MODES = ("hash", "stats", "full")

#: an attribute value as text (the lexer's literal form)
format_value = format_literal


def format_name(name: str) -> str:
    """``%conv1`` for plain names, ``%"odd name"`` (JSON-escaped) otherwise."""
    return "%" + _format_name(name)


def _array_body(a: np.ndarray) -> str:
    """Nested-list literal of a float32 array with shortest round-tripping floats."""
    if a.ndim == 0:
        return str(np.float32(a))
    return "[" + ",".join(_array_body(x) for x in a) + "]"


def _int_body(m: np.ndarray) -> str:
    if m.ndim == 0:
        return str(int(m))
    return "[" + ",".join(_int_body(x) for x in m) + "]"


def format_array(a: np.ndarray, weights: str = "hash", dtype: DType = F32) -> str:
    """``<f32[3,3] #hash>``, ``<f32[3,3] #hash min=.. max=.. mean=.. std=..>`` or full.

    A quantized parameter shows its q-type (``<q8e-7[3,3] #hash>``); in full it prints its
    integer mantissas. The hash is always of the (dequantized) float32 values."""
    t = f"{dtype}[{','.join(str(d) for d in a.shape)}]"
    if weights == "full" or a.ndim == 0:
        if dtype.is_quantized:
            m = np.rint(np.asarray(a, np.float64) / dtype.scale()).astype(np.int64)
            return f"<{t} {_int_body(m)}>"
        return f"<{t} {_array_body(a)}>"
    text = f"<{t} #{array_hash(a)}"
    if weights == "stats" and a.size:
        s = [float(a.min()), float(a.max()), float(a.mean()), float(a.std())]
        text += " min={:.4g} max={:.4g} mean={:.4g} std={:.4g}".format(*s)
    return text + ">"


def format_op(op: Op, inputs: str, weights: str = "hash") -> str:
    """``kind(inputs) {attrs}`` of one op."""
    parts = []
    defaults = {f.name: f.default for f in dataclasses.fields(op)}
    for name, value in op.attrs().items():
        if name == "quant":  # shown by the parameters' q-types
            continue
        if name == "place" and value is None:
            continue
        if name in op.type_fields or (name in op.quiet_fields and value == defaults[name]):
            continue
        parts.append(f"{name}={format_value(value)}")
    for name, a in op.param_arrays().items():
        parts.append(f"{name}={format_array(a, weights, op.qtype(name))}")
    # parameters first: they are the big, op-defining fields
    n_attrs = len(parts) - len(op.param_arrays())
    parts = parts[n_attrs:] + parts[:n_attrs]
    attrs = f" {{{', '.join(parts)}}}" if parts else ""
    return f"{op.kind}({inputs}){attrs}"


def format_node(g: Graph, name: str, weights: str = "hash", meta: bool = False) -> str:
    """One ``%name = op(...) {...} : type`` line (without indentation)."""
    args = []
    for src, _, syn in g.in_edges(name):
        args.append(format_name(src) + ("" if syn is None else f" [synapse={format_float(syn)}]"))
    line = f"{format_name(name)} = {format_op(g.op(name), ', '.join(args), weights)} : {g.type(name)}"
    if meta and g.meta(name):
        line += " #meta " + json.dumps(g.meta(name), sort_keys=True, default=str)
    return line


def print_graph(g: Graph, weights: str = "hash", meta: bool = False) -> str:
    """The whole graph as ``.snnir`` text (ends with a newline)."""
    if weights not in WEIGHT_MODES:
        raise ValueError(f"weights={weights!r} (expected one of {', '.join(WEIGHT_MODES)})")
    lines = [f"graph @{_format_name(g.name)}(dt={format_float(g.dt)}) {{"]
    lines += ["  " + format_node(g, n, weights, meta) for n in g.topo_order()]
    lines.append("}")
    return "\n".join(lines) + "\n"

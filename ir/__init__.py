"""snnc's intermediate representation: graph, ops, types, text form, verifier, interpreter."""

from snnc.ir.graph import Change, Graph, Stage
from snnc.ir.ops import OPS, Op, OpError, register_op
from snnc.ir.parser import parse_file, parse_graph
from snnc.ir.printer import print_graph
from snnc.ir.types import F32, SPIKE, DType, QInt, TensorType
from snnc.ir.verifier import verify

__all__ = [
    "OPS", "F32", "SPIKE", "Change", "DType", "Graph", "Op", "OpError", "QInt", "Stage",
    "TensorType", "parse_file", "parse_graph", "print_graph", "register_op", "verify",
]

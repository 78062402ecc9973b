"""snnc's intermediate representation: graph, ops, traits, the neuron catalogue, types,
text form, verifier, interpreter. It imports nothing else of snnc."""

from snnc.ir import neurons, traits
from snnc.ir.errors import IRError, IRParseError, IRVerifyError
from snnc.ir.graph import Change, Graph, Stage
from snnc.ir.neurons import NEURONS, NeuronOp, register_neuron
from snnc.ir.ops import OPS, Op, OpError, register_op
from snnc.ir.parser import parse_file, parse_graph
from snnc.ir.printer import print_graph
from snnc.ir.types import F32, SPIKE, DType, QInt, Spike, TensorType
from snnc.ir.verifier import verify

__all__ = [
    "NEURONS", "OPS", "F32", "SPIKE", "Change", "DType", "Graph", "IRError", "IRParseError",
    "IRVerifyError", "NeuronOp", "Op", "OpError", "QInt", "Spike", "Stage", "TensorType",
    "neurons", "parse_file", "parse_graph", "print_graph", "register_neuron", "register_op",
    "traits", "verify",
]

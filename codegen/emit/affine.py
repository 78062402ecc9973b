"""Emitters of linear ops: they rewrite Values (index maps, sums, transforms) and create
nengo objects only where a transform has to be materialized.

Registered by trait, so a new linear op with an interpreter kernel needs no emitter:
``MovesValues`` ops become index maps (registered first: they are ``Linear`` too), any other
one-input ``Linear`` op a native nengo transform where exact, else its exact sparse matrix.
"""

from __future__ import annotations

import numpy as np

from snnc.codegen.emit.builder import NetworkBuilder
from snnc.codegen.emit.native import is_native, matrix_transform, native_transform
from snnc.codegen.emit.registry import emitter
from snnc.codegen.emit.values import concatenated, gathered, summed, transformed
from snnc.codegen.linear import index_map
from snnc.ir import ops
from snnc.ir import traits as T
from snnc.ir.graph import Graph
from snnc.ir.types import TensorType


@emitter(T.MovesValues)
def emit_index_map(b: NetworkBuilder, node: str, op, ins):
    """Flatten, reshape, transpose, crop, pad, upsample, concat, identity: index maps on the
    connections (no nengo objects)."""
    g, fill = index_map(op, [v.shape for v in ins])
    value = ins[0] if len(ins) == 1 else concatenated(ins)
    out = b.graph.type(node).shape
    if np.array_equal(g, np.arange(value.size)):
        return value.with_shape(out)  # flatten, reshape, identity: a no-op
    b.note(node, "index map")
    return gathered(b, node, value, g, out, fill)


@emitter(ops.Add)
def emit_add(b: NetworkBuilder, node: str, op, ins):
    """A weighted sum: the terms are scaled and merged (no nengo objects)."""
    return summed(ins, op.coeffs)


def _check_affine(graph: Graph, node: str, target) -> str | None:
    op, in_types = graph.op(node), graph.in_types(node)
    if len(in_types) != 1:
        return f"no emitter for a linear op with {len(in_types)} inputs\n    hint: add an emitter for {type(op).__name__}"
    in_type = in_types[0]
    if is_native(op, in_type, graph.type(node)):
        return None
    limit = target.limits.max_fallback_inputs
    if limit is not None and in_type.size > limit:
        return (
            f"no native nengo transform, and its input ({in_type.size} values) exceeds the "
            f"matrix fallback limit ({limit})\n    hint: use a smaller input or a native "
            "layer (1-D/2-D ungrouped, undilated convolution)"
        )
    return None


@emitter(T.Linear, check=_check_affine)
def emit_affine(b: NetworkBuilder, node: str, op, ins):
    """Dense, convolutions, pooling, batch norm, affine: the linear part becomes the
    transform of the input's connections, the constant part a bias of the Value."""
    (value,) = ins
    in_type, out_type = TensorType(value.shape), b.graph.type(node)
    transform = native_transform(b, node, op, in_type, out_type)
    if transform is None:
        transform = matrix_transform(b, node, op, in_type)
    if transform is not None:
        b.note(node, transform.what)
    return transformed(b, node, value, transform, op, out_type.shape)

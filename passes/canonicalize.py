"""``canonicalize``: remove no-ops, merge consecutive linear ops where exact, drop dead nodes.

Rewrites, applied until none fires (so the pass is idempotent):

- drop identities: ``nn.identity`` (Dropout, noise layers at inference), hidden
  ``ann.linear``, and shape ops that do nothing (reshape to the same shape, flatten of a
  vector, identity transpose, zero pad / crop, upsample by 1, one-input concat, affine
  ``x * 1 + 0``);
- merge chains: reshape/flatten after reshape/flatten, transpose after transpose,
  ``nn.add`` into an ``nn.add`` (coefficients multiply out), ``nn.concat`` into an
  ``nn.concat`` on the same axis, ``nn.affine`` into the affine or linear op before it;
- merge ``nn.dense`` after ``nn.dense`` when the product has no more weights than the two
  (``W = W1 @ W2``, ``b = b1 @ W2 + b2``; a bottleneck is kept, it is cheaper);
- remove nodes that reach no output.

A node is merged into another only when it is that node's sole user and no synapse sits on
the edge between them (filtering is not linear-map algebra). Output ``ann.linear`` stays: it
marks the readout until ``lower-activations``.

Ops are recognised by their class or traits (:mod:`snnc.ir.traits`), never by kind
strings: a new shape-only op (trait ``ShapeOnly``) merges like reshape, a new op with
weights (``HasWeights``) takes an affine like dense. Quantized parameters survive every
rule that leaves their values alone; a merge that computes new values (dense after dense,
an affine folded into weights) makes them float and says so in a note.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from snnc.ir import Graph, ops
from snnc.ir import traits as T
from snnc.passes.base import Pass, PassContext, PassResult, register_pass
from snnc.passes.folding import (
    NotFoldable,
    channel_affine,
    fold_into_producer,
    fuse_into,
    is_fold_producer,
    quant_note,
    replace_params,
    sole_user,
)


@register_pass
@dataclass(frozen=True)
class Canonicalize(Pass):
    """Drop identity ops, merge consecutive linear ops where exact, remove dead nodes."""

    name: ClassVar[str] = "canonicalize"
    stage: ClassVar = None  # meaningful at every stage

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        stats: Counter = Counter()
        lost: list[str] = []  # quantized parameters a merge made float
        progress = True
        while progress:
            progress = False
            for n in graph.topo_order():
                if n in graph:
                    for rule in _RULES:
                        fired = rule(graph, n)
                        if fired is not False:
                            stats[rule.__name__.lstrip("_")] += 1
                            lost += fired if isinstance(fired, list) else []
                            progress = True
                            break
        dead = graph.remove_dead()
        if dead:
            stats["remove_dead"] = len(dead)
        notes = [f"removed dead node(s): {', '.join(sorted(dead))}"] if dead else []
        if lost:
            stats["quant_dropped"] = len(lost)
            notes.append(quant_note(lost, "merged into a neighbour's parameters"))
        return PassResult(changed=bool(stats), stats=dict(stats), notes=notes)


# =============================================================================== rules
# Each rule looks at node ``n``, rewrites around it and returns True (or, for rules that
# compute new parameters, the list of quantized parameters that became float), or returns
# False when it does not apply.


def _drop_identity(g: Graph, n: str) -> bool:
    if not _is_noop(g, n):
        return False
    ((_, _, in_syn),) = g.in_edges(n)
    if in_syn is not None and any(g.synapse(n, d, p) is not None for d, p in g.users(n)):
        return False  # two filters in a row are not one filter
    g.bypass(n)
    return True


def _is_noop(g: Graph, n: str) -> bool:
    """Does ``n`` compute its one input unchanged? (per op class: what "nothing" means)"""
    op = g.op(n)
    ins = g.inputs_of(n)
    if len(ins) != 1 or op.has(T.GraphIO):
        return False
    if isinstance(op, ops.Identity):
        return True
    if isinstance(op, ops.Linear):  # the ann.linear activation: identity unless a readout
        return not all(isinstance(g.op(d), ops.Output) for d, _ in g.users(n))
    t_in = g.type(ins[0])
    if op.has(T.ShapeOnly):
        return g.type(n).shape == t_in.shape
    if isinstance(op, ops.Transpose):
        return tuple(op.perm) == tuple(range(t_in.rank))
    if isinstance(op, ops.Pad):
        return all(p == (0, 0) for p in op.pads)
    if isinstance(op, ops.Crop):
        return all(c == (0, 0) for c in op.crops)
    if isinstance(op, ops.Upsample):
        return all(s == 1 for s in op.scale)
    if isinstance(op, ops.Concat):
        return True  # one input
    if isinstance(op, ops.Affine):
        scale, offset, _ = channel_affine(op, t_in.rank)
        return bool(np.all(scale == 1) and np.all(offset == 0))
    return False


def _mergeable_producer(g: Graph, n: str, accepts: Callable[[ops.Op], bool]) -> str | None:
    """The one input of ``n`` when ``accepts`` its op and ``n`` is its sole user."""
    ins = g.inputs_of(n)
    if len(ins) == 1 and accepts(g.op(ins[0])) and sole_user(g, ins[0]) == n:
        return ins[0]
    return None


def _shape_only(op: ops.Op) -> bool:
    return op.has(T.ShapeOnly)


def _merge_reshapes(g: Graph, n: str) -> bool:
    # shape-only ops are row-major reinterpretations, so f(g(x)) == f(x) with the outer shape
    if not _shape_only(g.op(n)) or not _mergeable_producer(g, n, _shape_only):
        return False
    fuse_into(g, n, g.op(n), g.inputs_of(n)[0])
    return True


def _merge_transposes(g: Graph, n: str) -> bool:
    op = g.op(n)
    if not isinstance(op, ops.Transpose):
        return False
    inner = _mergeable_producer(g, n, lambda p: isinstance(p, ops.Transpose))
    if not inner:
        return False
    # output axis i of n is axis perm2[i] of inner's output = axis perm1[perm2[i]] of x
    perm1 = g.op(inner).perm
    fuse_into(g, n, op.replace(perm=tuple(perm1[p] for p in op.perm)), inner)
    return True


def _merge_affine(g: Graph, n: str) -> bool | list[str]:
    op = g.op(n)
    if not isinstance(op, ops.Affine):
        return False
    producer = _mergeable_producer(g, n, is_fold_producer)
    if producer is None:
        return False
    rank = g.type(n).rank
    try:
        merged = fold_into_producer(g.op(producer), *channel_affine(op, rank), rank)
    except NotFoldable:
        return False
    return fuse_into(g, producer, merged, n)


def _merge_dense(g: Graph, n: str) -> bool | list[str]:
    op = g.op(n)
    if not isinstance(op, ops.Dense):
        return False
    first = _mergeable_producer(g, n, lambda p: isinstance(p, ops.Dense))
    if not first:
        return False
    w1, w2 = np.asarray(g.op(first).weight, np.float64), np.asarray(op.weight, np.float64)
    if w1.shape[0] * w2.shape[1] > w1.size + w2.size:
        return False  # a bottleneck: merging would add weights
    b1 = g.op(first).bias
    bias = (0.0 if b1 is None else np.asarray(b1, np.float64) @ w2) + (
        0.0 if op.bias is None else op.bias
    )
    has_bias = b1 is not None or op.bias is not None
    merged = replace_params(op, weight=w1 @ w2, bias=bias if has_bias else None)
    return fuse_into(g, n, merged, first)


def _merge_add(g: Graph, n: str) -> bool:
    return _splice_variadic(g, n, ops.Add)


def _merge_concat(g: Graph, n: str) -> bool:
    return _splice_variadic(g, n, ops.Concat)


def _splice_variadic(g: Graph, n: str, cls: type[ops.Op]) -> bool:
    """Inline an input of ``n`` that is a sole-user node of the same variadic class:
    ``a + (b + c)`` -> ``a + b + c`` (coefficients multiply), ``concat(a, concat(b, c))``
    -> ``concat(a, b, c)`` on the same axis."""
    op = g.op(n)
    if type(op) is not cls:
        return False
    rank = g.type(n).rank
    for src, port, syn in g.in_edges(n):
        inner = g.op(src)
        if type(inner) is not cls or syn is not None or sole_user(g, src) != n:
            continue
        if isinstance(op, ops.Concat) and inner.axis % rank != op.axis % rank:
            continue
        edges = g.in_edges(n)
        inner_edges = g.in_edges(src)
        new_edges = edges[:port] + inner_edges + edges[port + 1 :]
        new_op = op
        if isinstance(op, ops.Add):
            c = op.coeffs
            new_op = op.replace(
                coeffs=c[:port] + tuple(c[port] * ci for ci in inner.coeffs) + c[port + 1 :]
            )
        # the inputs and the coefficients change together (one per input)
        g.set_inputs(n, [e[0] for e in new_edges], synapses=[e[2] for e in new_edges], op=new_op)
        g.erase(src)
        return True
    return False


_RULES = (
    _drop_identity,
    _merge_reshapes,
    _merge_transposes,
    _merge_affine,
    _merge_dense,
    _merge_add,
    _merge_concat,
)

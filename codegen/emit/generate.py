"""The driver of the nengo emitters: IR graph -> :class:`NengoNetwork` (source + weights)."""

from __future__ import annotations

from snnc.codegen.emit.artifact import NengoNetwork
from snnc.codegen.emit.builder import NetworkBuilder
from snnc.codegen.emit.host import helper_names
from snnc.codegen.emit.module import module_source
from snnc.codegen.emit.naming import comment
from snnc.codegen.emit.registry import find_emitter
from snnc.codegen.emit.values import Value, filtered
from snnc.ir.graph import Graph
from snnc.ir.printer import format_node


def generate(graph: Graph, target) -> NengoNetwork:
    """Emit ``graph`` as the source of a nengo network for the nengo-family ``target``.

    Runs ``target.check`` first, so nothing is emitted for a graph with problems. Nodes are
    emitted in topological order; each gets a comment with its IR line, then what its
    emitter wrote (nothing, for linear ops folded into their users' connections).

    Raises:
        CodegenError: nodes the target cannot emit (all of them, at once).
    """
    target.check(graph)
    postlude = getattr(target, "postlude", None)
    reserved = helper_names() | ({postlude.__name__} if postlude is not None else set())
    b = NetworkBuilder(graph, target, reserved)
    values: dict[str, Value] = {}
    for n in graph.topo_order():
        op = graph.op(n)
        b.emit("")
        b.emit(comment(format_node(graph, n)))
        mark = len(b.lines)
        ins = [filtered(b, n, values[src], syn) for src, _, syn in graph.in_edges(n)]
        value = find_emitter(target, op).fn(b, n, op, ins)
        # a transformed value read by several users is computed once, not once per user
        if len(graph.users(n)) > 1 and any(t.transform is not None for t in value.terms):
            value = b.materialize(n, value)
        if len(b.lines) == mark:
            b.lines[-1] += "  -> folded into its users' connections"
        if not b.records[n].emitted:
            b.note(n, "folded")
        values[n] = value
    from snnc import __version__

    source = module_source(b, __version__, postlude)
    return NengoNetwork(source, b.weights, b.records, tuple(b.imports))

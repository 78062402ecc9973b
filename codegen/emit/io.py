"""Emitters of the graph boundary: inputs become Nodes, outputs become Probes."""

from __future__ import annotations

from snnc.codegen.emit.builder import NetworkBuilder
from snnc.codegen.emit.naming import literal
from snnc.codegen.emit.registry import emitter
from snnc.codegen.emit.values import object_value
from snnc.ir import ops


@emitter(ops.Input)
def emit_input(b: NetworkBuilder, node: str, op, ins):
    """A ``nengo.Node`` fed one flat sample (``snnc run`` and the sessions set its output)."""
    t = b.graph.type(node)
    name = b.var(node)
    b.emit(f"{name} = nengo.Node(np.zeros({t.size}), label={literal(node)})")
    b.inputs[node] = name
    b.note(node, f"input Node[{t.size}]")
    return object_value(name, t.shape)


@emitter(ops.Output)
def emit_output(b: NetworkBuilder, node: str, op, ins):
    """A ``nengo.Probe`` on the value: on its object directly when the value is one plain
    object, else on a Node summing the value's terms."""
    (value,) = ins
    if value.is_plain():
        target, synapse = value.terms[0].src, value.terms[0].synapse
    else:
        target, synapse = b.var(node), None
        b.emit(f"{target} = nengo.Node(size_in={value.size}, label={literal(node)})")
        b.connect_value(node, value, target)
        b.note(node, f"output Node[{value.size}]")
    probe = b.var(node, "probe")
    b.emit(f"{probe} = nengo.Probe({target}, synapse={literal(synapse)}, label={literal(node)})")
    b.probes[node] = probe
    b.note(node, "Probe")
    return value

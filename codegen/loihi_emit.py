"""The ``loihi`` target's emitter: a placed IR graph -> a nengo-loihi network with no relays.

It reuses the shared machinery of :mod:`snnc.codegen.emit` (the :class:`NetworkBuilder`:
fresh names, weights, the module template) but not the shared value algebra: there, a
second transform on a value materializes it into a passthrough Node (a relay), which
nengo-loihi would place on the host. Here every linear op only extends the chains of its
input (:mod:`snnc.codegen.loihi_compose`), and each neuron gets one connection per source
layer with the composed transform. What the generated ``build()`` makes:

- an input: a ``nengo.Node`` (host) fed one flat sample;
- a neuron node: ``nengo.Ensemble(n, 1, neuron_type, gain=1, bias)`` (the gain is folded
  into the incoming weights), configured ``on_chip`` as its ``place`` says, with its
  ``nengo_loihi.BlockShape`` (how it is split over cores: see
  :mod:`snnc.codegen.loihi_resources`), plus its incoming connections; constants reaching
  it (biases, padding values) fold into its bias;
- an output: a ``nengo.Probe`` on the neurons it reads, or, when it reads a linear chain, a
  host ``nengo.Node`` fed by Dense chip->host connections (nengo-loihi's readout), probed.

Every connection is labelled ``"<source node> -> <node>"`` (a literal, names are data), so a
nengo-loihi error about it can be traced back to the IR nodes of its chain.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from snnc.codegen.emit import NengoNetwork, NetworkBuilder
from snnc.codegen.emit.host import helper_names
from snnc.codegen.emit.module import module_source
from snnc.codegen.emit.naming import comment, literal
from snnc.codegen.loihi_compose import (
    CHIP,
    HOST,
    LinearValue,
    MatrixCache,
    apply_linear,
    compose,
    object_value,
    through_synapse,
)
from snnc.errors import CodegenError
from snnc.ir import ops
from snnc.ir import traits as T
from snnc.ir.graph import Graph
from snnc.ir.lexer import format_name
from snnc.ir.printer import format_node


class LoihiNetwork(NengoNetwork):
    """A generated nengo-loihi network, plus what the compile-time build found.

    Attributes:
        labels: connection label -> the IR nodes of its chain and its target.
        block_shapes: chip neuron node -> ``(block shape, ensemble shape)``.
        resources: the per-layer resource report (filled by the partitioner), stored in
            ``manifest.json`` under ``loihi``.
    """

    def __init__(self, source, weights, records, imports, labels, block_shapes):
        super().__init__(source, weights, records, imports)
        self.labels: dict[str, list[str]] = labels
        self.block_shapes: dict[str, tuple] = dict(block_shapes)
        self.resources: dict | None = None

    def manifest(self) -> dict:
        out = super().manifest()
        if self.resources is not None:
            out["loihi"] = self.resources
        return out


def _groups(chains) -> list[list]:
    """Chains grouped by (source object, synapse), in first-seen order."""
    groups: dict[tuple, list] = {}
    for c in chains:
        groups.setdefault((c.src, c.synapse), []).append(c)
    return list(groups.values())


class _Emission:
    """The state of one emission (the builder plus the Loihi-specific bookkeeping)."""

    def __init__(self, graph: Graph, target, block_shapes: Mapping, cache: MatrixCache):
        self.graph = graph
        self.b = NetworkBuilder(graph, target, helper_names())
        self.block_shapes = block_shapes
        self.cache = cache
        self.labels: dict[str, list[str]] = {}
        self.composed_into: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ connections
    def connect(self, node: str, value: LinearValue, dst: str, gain, post_place: str) -> None:
        """One composed connection per (source, synapse) group of ``value``'s chains;
        ``gain`` (a scalar or one per value) is folded into the weights."""
        b = self.b
        gain = np.asarray(gain, np.float64)
        gain = (
            gain.reshape(-1)
            if gain.size == value.size
            else np.broadcast_to(gain, value.shape).reshape(-1)
        )
        for group in _groups(value.chains):
            conn = compose(b, node, group, gain, value.size, post_place, self.cache)
            if conn is None:
                continue
            src = group[0]
            label = f"{src.src_node} -> {node}"
            nodes = list(dict.fromkeys(n for c in group for n in c.nodes))
            self.labels[label] = [*nodes, node]
            for n in nodes[1:]:
                self.composed_into.setdefault(n, []).append(node)
            args = [src.src, dst]
            if conn.transform is not None:
                args.append(f"transform={conn.transform}")
            args += [f"synapse={literal(src.synapse)}", f"label={literal(label)}"]
            b.emit(f"nengo.Connection({', '.join(args)})")
            b.note(node, f"{conn.what} from %{format_name(src.src_node)}")
        if value.filtered:
            where = ", ".join(f"%{format_name(n)}" for n in value.filtered)
            raise CodegenError(
                f"%{format_name(node)}: a constant offset passes a synapse at {where}; on Loihi "
                "a constant enters a neuron only as its bias, unfiltered",
                hint="move the synapse before the op adding the constant, or drop it",
            )

    def check_synapses(self, node: str, value: LinearValue) -> None:
        """A Loihi compartment filters its whole input current with one time constant
        (nengo-loihi keeps the largest and warns), so all inputs must share it."""
        taus = {c.synapse for c in value.chains}
        if len(taus) > 1:
            shown = ", ".join(
                "none" if t is None else f"{t:g} s" for t in sorted(taus, key=lambda t: t or 0)
            )
            raise CodegenError(
                f"%{format_name(node)}: its inputs arrive through different synapses ({shown}); "
                "a Loihi neuron filters all its input with one time constant",
                hint="use one synapse for every edge into a neuron layer "
                "(lower-activations{synapse=...})",
            )

    # ------------------------------------------------------------------ nodes
    def emit_input(self, node: str) -> LinearValue:
        b, t = self.b, self.graph.type(node)
        name = b.var(node)
        b.emit(f"{name} = nengo.Node(np.zeros({t.size}), label={literal(node)})")
        b.inputs[node] = name
        b.note(node, f"input Node[{t.size}] (host)")
        return object_value(name, node, t.shape, HOST)

    def emit_neuron(self, node: str, op, value: LinearValue) -> LinearValue:
        b, shape = self.b, self.graph.type(node).shape
        n = int(np.prod(shape))
        module = type(op).nengo_module
        if module != "nengo":
            b.require(module)
        b.define(type(op).nengo_source)
        if op.place == CHIP:  # (the host is nengo: any synapses)
            self.check_synapses(node, value)
        gain = np.broadcast_to(np.asarray(op.gain, np.float64), shape).reshape(-1)
        bias = np.broadcast_to(np.asarray(op.bias, np.float64), shape).reshape(-1)
        if value.const is not None:
            bias = bias + gain * value.const  # constants enter as bias: no constant Nodes
        name = b.var(node)
        b.emit(
            f"{name} = nengo.Ensemble({n}, 1, neuron_type={op.nengo()}, gain=np.full({n}, 1.0), "
            f"bias={b.vector(node, 'bias', bias)}, label={literal(node)}).neurons"
        )
        place = op.place
        b.emit(f"net.config[{name}.ensemble].on_chip = {place == CHIP}")
        if place == CHIP:
            block, ens_shape = self.block_shapes[node]
            b.emit(
                f"net.config[{name}.ensemble].block_shape = "
                f"nengo_loihi.BlockShape({literal(tuple(block))}, {literal(tuple(ens_shape))})"
            )
        self.connect(node, value, name, gain, place)
        b.records[node].neurons = n
        kind = op.nengo().split("(", 1)[0].rsplit(".", 1)[-1]
        b.note(node, f"{kind} Ensemble ({place})")
        return object_value(name, node, shape, place)

    def emit_output(self, node: str, value: LinearValue) -> None:
        b = self.b
        (only,) = value.chains if len(value.chains) == 1 else (None,)
        plain = only is not None and not only.steps and value.const is None and not value.filtered
        if plain:
            target, synapse = only.src, only.synapse
            b.note(node, f"Probe on %{format_name(only.src_node)} ({only.place})")
        else:
            target, synapse = b.var(node), None
            b.emit(f"{target} = nengo.Node(size_in={value.size}, label={literal(node)})")
            self.connect(node, value, target, 1.0, HOST)
            if value.const is not None:
                const = b.constant(node, value.const)
                b.emit(f"nengo.Connection({const}, {target}, synapse=None)")
            b.note(node, f"output Node[{value.size}] (host)")
        probe = b.var(node, "probe")
        b.emit(
            f"{probe} = nengo.Probe({target}, synapse={literal(synapse)}, label={literal(node)})"
        )
        b.probes[node] = probe


def generate_loihi(
    graph: Graph, target, block_shapes: Mapping, cache: MatrixCache | None = None
) -> LoihiNetwork:
    """Emit the placed ``graph`` as a nengo-loihi network with the given block shapes
    (chip neuron node -> ``(block shape, ensemble shape)``).

    Raises:
        CodegenError: nodes the target cannot emit, an unplaced graph, or connections
            Loihi cannot make (named).
    """
    target.check(graph)
    cache = cache or MatrixCache(graph.dt)
    e = _Emission(graph, target, block_shapes, cache)
    b = e.b
    b.emit("")
    b.emit("nengo_loihi.add_params(net)  # on_chip, block_shape")
    values: dict[str, LinearValue] = {}
    for n in graph.topo_order():
        op = graph.op(n)
        b.emit("")
        b.emit(comment(format_node(graph, n)))
        mark = len(b.lines)
        ins = [through_synapse(n, values[src], syn) for src, _, syn in graph.in_edges(n)]
        if isinstance(op, ops.Input):
            values[n] = e.emit_input(n)
        elif op.has(T.Neuron):
            values[n] = e.emit_neuron(n, op, ins[0])
        elif isinstance(op, ops.Output):
            e.emit_output(n, ins[0])
            values[n] = ins[0]
        elif op.has(T.Linear):
            shape = graph.type(n).shape
            if op.has(T.ShapeOnly) or isinstance(op, ops.Identity):
                values[n] = ins[0].with_shape(shape)
            else:
                values[n] = apply_linear(
                    n, op, ins, [t.shape for t in graph.in_types(n)], shape, graph.dt
                )
        else:  # target.check refuses these first; kept as a guard for plugin ops
            raise CodegenError(f"%{format_name(n)} ({op.kind}): no Loihi equivalent")
        if len(b.lines) == mark:
            b.lines[-1] += "  -> composed into its users' connections"
    for n in graph.topo_order():
        posts = e.composed_into.get(n)
        if posts:
            b.note(
                n, "composed into " + ", ".join(f"%{format_name(p)}" for p in dict.fromkeys(posts))
            )
        elif not b.records[n].emitted:
            b.note(n, "folded")
    from snnc import __version__

    source = module_source(b, __version__)
    return LoihiNetwork(source, b.weights, b.records, tuple(b.imports), e.labels, block_shapes)

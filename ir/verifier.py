"""The IR verifier: checks every invariant of :mod:`snnc.ir.graph` and names the culprit.

Rules (each has a name used in errors and tests):

``dt``            the graph's dt is a positive finite number
``acyclic``       the graph has no cycle
``io``            at least one ``nn.input`` and one ``nn.output``; inputs have no inputs,
                  outputs have no users; input / output indices are 0..n-1 without repeats
``dead-node``     every node but an input reaches an output
``schema``        node data is exactly op/type/meta with the right classes; edge data is
                  only ``synapse``
``ports``         every input port 0..arity-1 is fed exactly once
``op``            the op accepts its inputs and its parameters are finite, read-only and
                  of consistent shapes
``type``          the stored type equals the inferred type
``synapse``       synapses are None or a positive finite time constant
``stage``         no ReLU-like activation remains once neuron ops exist (a half-lowered
                  graph: lower-activations replaces every one, while the activations it
                  keeps, on outputs or as rate sigmoid/tanh neurons, may stay); spike-typed
                  values only leave spiking neurons or ops that preserve their input's
                  dtype; fixed-point (QInt) values only leave quantizers or
                  dtype-preserving ops
"""

from __future__ import annotations

import math

import networkx as nx

from snnc.ir import traits as T
from snnc.ir.errors import IRVerifyError
from snnc.ir.graph import Graph
from snnc.ir.ops import Input, Op, OpError, Output
from snnc.ir.types import TensorType

RULES = ("dt", "acyclic", "io", "dead-node", "schema", "ports", "op", "type", "synapse", "stage")


def _fail(g: Graph, rule: str, node: str | None, what: str, hint: str | None = None):
    where = f"graph @{g.name}" + (f", node %{node}" if node is not None else "")
    line = ""
    if node is not None:
        try:
            from snnc.ir.printer import format_node

            line = "\n  " + format_node(g, node)
        except Exception:  # noqa: BLE001 - a broken node may not print; the message still helps
            line = ""
    raise IRVerifyError(f"{where}: [{rule}] {what}{line}", rule=rule, node=node, hint=hint)


def verify(g: Graph) -> None:
    """Raise :class:`~snnc.ir.errors.IRVerifyError` on the first broken invariant."""
    if not (isinstance(g.dt, float) and math.isfinite(g.dt) and g.dt > 0):
        _fail(g, "dt", None, f"dt must be a positive number of seconds (got {g.dt!r})")
    if not nx.is_directed_acyclic_graph(g.nx):
        cycle = " -> ".join(e[0] for e in nx.find_cycle(g.nx))
        _fail(g, "acyclic", None, f"the graph has a cycle: {cycle}", "remove the back edge")
    for n in g.nx:
        _check_schema(g, n)
    _check_io(g)
    for n in g.topo_order():
        _check_node(g, n)
    _check_stage(g)


def _check_schema(g: Graph, n: str) -> None:
    data = g.nx.nodes[n]
    if set(data) != {"op", "type", "meta"}:
        _fail(g, "schema", n, f"node data keys are {sorted(data)} (expected ['meta', 'op', 'type'])")
    if not isinstance(data["op"], Op):
        _fail(g, "schema", n, f"'op' is a {type(data['op']).__name__} (expected an Op)")
    if not isinstance(data["type"], TensorType):
        _fail(g, "schema", n, f"'type' is a {type(data['type']).__name__} (expected a TensorType)")
    if not isinstance(data["meta"], dict):
        _fail(g, "schema", n, f"'meta' is a {type(data['meta']).__name__} (expected a dict)")
    for src, _, port, edata in g.nx.in_edges(n, keys=True, data=True):
        if set(edata) - {"synapse"}:
            _fail(g, "schema", n, f"edge from %{src} port {port} has data {sorted(edata)} (expected only 'synapse')")
        if not isinstance(port, int):
            _fail(g, "schema", n, f"edge from %{src} has key {port!r} (expected an int port)")


def _check_io(g: Graph) -> None:
    for cls, what in ((Input, "input"), (Output, "output")):
        nodes = g.nodes_of(cls)
        if not nodes:
            _fail(g, "io", None, f"the graph has no {cls.kind} node", f"every graph needs an {what}")
        indices = sorted(g.op(n).index for n in nodes)
        if indices != list(range(len(nodes))):
            _fail(g, "io", nodes[0], f"{what} indices are {indices} (expected 0..{len(nodes) - 1})")
    for n in g.outputs:
        if g.users(n):
            _fail(g, "io", n, "an nn.output node has users", "outputs are sinks")
    # one reverse sweep from the outputs (not one ancestor search per output)
    live = set(g.outputs)
    stack = list(live)
    while stack:
        for src in g.nx.predecessors(stack.pop()):
            if src not in live:
                live.add(src)
                stack.append(src)
    for n in g.topo_order():
        # an unused model input is part of the interface, not dead code
        if n not in live and not isinstance(g.op(n), Input):
            _fail(g, "dead-node", n, "the node does not reach any output", "run canonicalize (it removes dead nodes)")


def _check_node(g: Graph, n: str) -> None:
    op = g.op(n)
    ports = sorted(p for _, _, p in g.nx.in_edges(n, keys=True))
    expected = list(range(len(ports)))
    if ports != expected or not op.num_inputs_ok(len(ports)):
        want = op.arity if op.arity is not None else f"at least {op.min_inputs}"
        _fail(g, "ports", n, f"input ports are {ports} (expected {want} input(s) on ports 0, 1, ...; each fed once)")
    for src, port, syn in g.in_edges(n):
        if syn is not None and not (isinstance(syn, float) and math.isfinite(syn) and syn > 0):
            _fail(g, "synapse", n, f"synapse {syn!r} on the edge from %{src} (port {port}) is not a positive time constant", "use None for no filter, or tau > 0 in seconds")
    try:
        inferred = op.verify(g.in_types(n))
    except OpError as e:
        _fail(g, "op", n, e.message, e.hint)
    if inferred != g.type(n):
        _fail(g, "type", n, f"stored type {g.type(n)} differs from the inferred type {inferred}", "mutate graphs through Graph methods (they re-type), or call Graph.retype()")


def _check_stage(g: Graph) -> None:
    ops = {n: g.op(n) for n in g.nx}
    if any(op.has(T.Neuron) for op in ops.values()):
        for n, op in ops.items():
            if op.has(T.ReLULike):
                _fail(g, "stage", n, f"{op.kind} remains in a graph that already has neuron ops (half-lowered)", "run lower-activations over the whole graph")
    for n in g.nx:
        op, dtype = ops[n], g.type(n).dtype
        if dtype.is_spike and not (op.has(T.Spiking) or op.has(T.PreservesDtype)):
            _fail(g, "stage", n, f"{op.kind} produces spikes but is not a spiking neuron op")
        if dtype.is_quantized and not (op.has(T.Quantizer) or op.has(T.PreservesDtype)):
            _fail(g, "stage", n, f"{op.kind} produces fixed-point values but is not a quantizer")


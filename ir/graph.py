"""The IR graph: a ``networkx.MultiDiGraph`` of ops with typed values and synapse edges.

Node key: a readable name (``conv1``, ``conv1.act``). Node data: exactly ``op`` (an
:class:`~snnc.ir.ops.Op`), ``type`` (its output :class:`~snnc.ir.types.TensorType`) and
``meta`` (provenance, ignored by equality). Edge key: the destination port; edge data: only
``synapse`` (lowpass time constant in seconds, or None).

Analyses may read ``g.nx``; every mutation goes through the methods here, which keep the
invariants (types re-inferred, ports unique) and append to :attr:`Graph.changes`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import networkx as nx

from snnc.errors import IRError
from snnc.ir.ops import Op, OpError, array_hash, is_neuron
from snnc.ir.types import F32, TensorType

#: ``ann.*`` kinds allowed in an SNN-stage graph: they only shape the readout.
READOUT_KINDS = ("ann.linear", "ann.softmax")


class Stage(StrEnum):
    """Where a graph is in the pipeline (derived from its ops, never stored)."""

    ANN = "ann"
    SNN = "snn"
    QUANTIZED = "quantized"


@dataclass(frozen=True)
class Change:
    """One entry of the change log: what happened to which node."""

    action: str  # add | replace | erase | rewire | synapse | rename
    node: str
    detail: str = ""


class Graph:
    """An snnc IR graph. See the module docstring for the data model."""

    def __init__(self, name: str = "main", dt: float = 0.001):
        self.name = name
        self.dt = float(dt)
        self.nx = nx.MultiDiGraph()
        self.changes: list[Change] = []
        self._order: dict[str, int] = {}  # insertion order: stable tie-break for topo_order
        self._counter = 0

    # ------------------------------------------------------------------ read access
    def __contains__(self, name: str) -> bool:
        return name in self.nx

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def __iter__(self):
        return iter(self.topo_order())

    def op(self, name: str) -> Op:
        return self._data(name)["op"]

    def type(self, name: str) -> TensorType:
        return self._data(name)["type"]

    def meta(self, name: str) -> dict:
        return self._data(name)["meta"]

    def _data(self, name: str) -> dict:
        try:
            return self.nx.nodes[name]
        except KeyError:
            raise KeyError(f"no node '{name}' in graph @{self.name}") from None

    def inputs_of(self, name: str) -> list[str]:
        """Source nodes of ``name``, ordered by destination port."""
        edges = sorted(self.nx.in_edges(name, keys=True), key=lambda e: e[2])
        return [src for src, _, _ in edges]

    def in_edges(self, name: str) -> list[tuple[str, int, float | None]]:
        """``(src, port, synapse)`` for each input of ``name``, ordered by port."""
        edges = sorted(self.nx.in_edges(name, keys=True, data="synapse"), key=lambda e: e[2])
        return [(src, port, syn) for src, _, port, syn in edges]

    def users(self, name: str) -> list[tuple[str, int]]:
        """``(dst, port)`` for every use of ``name``, in a stable order."""
        uses = [(dst, port) for _, dst, port in self.nx.out_edges(name, keys=True)]
        return sorted(uses, key=lambda u: (self._order.get(u[0], 0), u[1]))

    def synapse(self, src: str, dst: str, port: int) -> float | None:
        return self.nx.edges[src, dst, port].get("synapse")

    def in_types(self, name: str) -> list[TensorType]:
        """Types of the inputs of ``name`` as seen through their edges: a synapse filters
        spikes into real values, so a spike input behind a synapse arrives as f32."""
        return [
            self.type(src).with_dtype(F32) if syn is not None and self.type(src).dtype.is_spike
            else self.type(src)
            for src, _, syn in self.in_edges(name)
        ]

    def nodes_of(self, kind: str) -> list[str]:
        """Names of nodes whose op kind is ``kind`` (or starts with ``kind`` + '.')."""
        return [
            n for n in self.topo_order()
            if self.op(n).kind == kind or self.op(n).kind.startswith(kind + ".")
        ]

    @property
    def inputs(self) -> list[str]:
        """The ``nn.input`` nodes ordered by their ``index``."""
        return sorted(self.nodes_of("nn.input"), key=lambda n: self.op(n).index)

    @property
    def outputs(self) -> list[str]:
        """The ``nn.output`` nodes ordered by their ``index``."""
        return sorted(self.nodes_of("nn.output"), key=lambda n: self.op(n).index)

    @property
    def stage(self) -> Stage:
        """ANN while any ``ann.*`` op other than a readout (linear, softmax) remains or no
        neuron op exists; QUANTIZED when every parameterised node has a QInt type; else SNN."""
        ops = [self.op(n) for n in self.nx]
        hidden_ann = any(op.dialect == "ann" and op.kind not in READOUT_KINDS for op in ops)
        if hidden_ann or not any(is_neuron(op) for op in ops):
            return Stage.ANN
        param_nodes = [n for n in self.nx if self.op(n).param_arrays()]
        if all(self.type(n).dtype.is_quantized for n in param_nodes):
            return Stage.QUANTIZED
        return Stage.SNN

    def topo_order(self) -> list[str]:
        """Topological order, ties broken by insertion order (so print → parse → print is
        a fixed point)."""
        try:
            return list(nx.lexicographical_topological_sort(self.nx, key=lambda n: self._order[n]))
        except nx.NetworkXUnfeasible:
            raise IRError(f"graph @{self.name} has a cycle") from None

    def unique_name(self, base: str) -> str:
        """``base`` if free, else ``base.1``, ``base.2``, ..."""
        if base not in self.nx:
            return base
        i = 1
        while f"{base}.{i}" in self.nx:
            i += 1
        return f"{base}.{i}"

    # ------------------------------------------------------------------ mutation
    def add(
        self,
        name: str,
        op: Op,
        inputs: Sequence[str] = (),
        *,
        type: TensorType | None = None,  # noqa: A002 - the data model's word
        meta: dict | None = None,
        synapses: Sequence[float | None] | None = None,
    ) -> str:
        """Add node ``name`` computing ``op`` of ``inputs``; the type is inferred unless given.

        Returns the name. Raises IRError on a duplicate name, unknown input or type error.
        """
        if name in self.nx:
            raise IRError(f"node '{name}' already exists in graph @{self.name}")
        for src in inputs:
            if src not in self.nx:
                raise IRError(f"node '{name}': input '{src}' does not exist")
        if not op.num_inputs_ok(len(inputs)):
            raise IRError(f"node '{name}': {op.kind} takes {op.arity} input(s), got {len(inputs)}")
        self.nx.add_node(name, op=op, type=type, meta=dict(meta or {}))
        self._order[name] = self._counter
        self._counter += 1
        synapses = list(synapses) if synapses is not None else [None] * len(inputs)
        for port, (src, syn) in enumerate(zip(inputs, synapses, strict=True)):
            self.nx.add_edge(src, name, key=port, synapse=syn)
        if type is None:
            try:
                self.nx.nodes[name]["type"] = self._infer(name, op, self.in_types(name))
            except IRError:
                self.nx.remove_node(name)
                del self._order[name]
                raise
        self.changes.append(Change("add", name, op.kind))
        return name

    def _infer(self, name: str, op: Op, in_types: list[TensorType]) -> TensorType:
        try:
            return op.infer_type(in_types)
        except OpError as e:
            raise IRError(f"node '{name}' ({op.kind}): {e.message}", hint=e.hint) from None

    def replace_op(
        self, name: str, op: Op, *, type: TensorType | None = None, retype_users: bool = False  # noqa: A002
    ) -> None:
        """Swap the op of ``name`` (same inputs); its type is re-inferred unless given.

        With ``retype_users`` every node downstream is re-typed too; otherwise call
        :meth:`retype` when a change of type propagates.
        """
        if not op.num_inputs_ok(len(self.inputs_of(name))):
            raise IRError(f"node '{name}': {op.kind} cannot take {len(self.inputs_of(name))} inputs")
        data = self._data(name)
        data["op"] = op
        data["type"] = type if type is not None else self._infer(name, op, self.in_types(name))
        self.changes.append(Change("replace", name, op.kind))
        if retype_users:
            self.retype(nx.descendants(self.nx, name))

    def retype(self, names: Iterable[str] | None = None) -> None:
        """Re-infer the types of ``names`` (default: all) in topological order."""
        wanted = set(self.nx) if names is None else set(names)
        for n in self.topo_order():
            if n in wanted:
                self._data(n)["type"] = self._infer(n, self.op(n), self.in_types(n))

    def insert_after(
        self, name: str, new_name: str, op: Op, *, meta: dict | None = None, synapse=None
    ) -> str:
        """Insert ``new_name = op(name)`` and move every user of ``name`` onto it.

        Synapses on the moved edges stay on them; ``synapse`` sets the new edge's one.
        """
        users = [(d, p, self.synapse(name, d, p)) for d, p in self.users(name)]
        self.add(new_name, op, [name], meta=meta, synapses=[synapse])
        for dst, port, syn in users:
            self.nx.remove_edge(name, dst, key=port)
            self.nx.add_edge(new_name, dst, key=port, synapse=syn)
        self.changes.append(Change("rewire", name, f"users moved to {new_name}"))
        return new_name

    def replace_all_uses(self, old: str, new: str) -> None:
        """Point every user of ``old`` at ``new`` (keeping ports and synapses)."""
        if old == new:
            return
        for dst, port in self.users(old):
            syn = self.synapse(old, dst, port)
            self.nx.remove_edge(old, dst, key=port)
            self.nx.add_edge(new, dst, key=port, synapse=syn)
        self.changes.append(Change("rewire", old, f"users moved to {new}"))

    def set_inputs(self, name: str, inputs: Sequence[str], synapses=None) -> None:
        """Replace the input edges of ``name`` (does not re-type)."""
        for src, _, port in list(self.nx.in_edges(name, keys=True)):
            self.nx.remove_edge(src, name, key=port)
        synapses = list(synapses) if synapses is not None else [None] * len(inputs)
        for port, (src, syn) in enumerate(zip(inputs, synapses, strict=True)):
            self.nx.add_edge(src, name, key=port, synapse=syn)
        self.changes.append(Change("rewire", name, "inputs " + ", ".join(inputs)))

    def erase(self, name: str) -> None:
        """Remove a node that has no users."""
        if self.users(name):
            users = ", ".join(d for d, _ in self.users(name))
            raise IRError(f"cannot erase '{name}': still used by {users}")
        self.nx.remove_node(name)
        del self._order[name]
        self.changes.append(Change("erase", name))

    def bypass(self, name: str) -> None:
        """Erase a one-input node, wiring its users to its input. An edge keeps the user's
        synapse or takes the node's input synapse; two filters in series cannot become one
        edge, so that case raises."""
        ((src, _, in_syn),) = self.in_edges(name)
        for dst, port in self.users(name):
            syn = self.synapse(name, dst, port)
            if syn is not None and in_syn is not None:
                raise IRError(
                    f"cannot bypass '{name}': synapses on both sides ({in_syn} and {syn} on the "
                    f"edge to '{dst}') would have to merge into one"
                )
            self.nx.remove_edge(name, dst, key=port)
            self.nx.add_edge(src, dst, key=port, synapse=syn if syn is not None else in_syn)
        self.erase(name)

    def set_edge(self, src: str, dst: str, port: int, *, synapse: float | None) -> None:
        """Set the synapse of an existing edge."""
        if not self.nx.has_edge(src, dst, key=port):
            raise IRError(f"no edge {src} -> {dst} port {port}")
        self.nx.edges[src, dst, port]["synapse"] = synapse
        # a synapse turns spikes into real values, so the types downstream may change
        self.retype({dst} | nx.descendants(self.nx, dst))
        self.changes.append(Change("synapse", dst, f"port {port} from {src}: {synapse}"))

    def set_meta(self, name: str, **meta: Any) -> None:
        self._data(name)["meta"].update(meta)

    def remove_dead(self) -> list[str]:
        """Erase every node that cannot reach an output; returns the erased names."""
        live: set[str] = set()
        for out in self.outputs:
            live.add(out)
            live |= nx.ancestors(self.nx, out)
        dead = [n for n in reversed(self.topo_order()) if n not in live and self.op(n).kind != "nn.input"]
        for n in dead:
            self.erase(n)
        return dead

    # ------------------------------------------------------------------ whole-graph
    def copy(self) -> Graph:
        """A structural copy (ops are immutable and shared; meta dicts are copied)."""
        g = Graph(self.name, self.dt)
        g.nx = self.nx.copy()
        for n in g.nx:
            g.nx.nodes[n]["meta"] = dict(self.nx.nodes[n]["meta"])
        g._order = dict(self._order)
        g._counter = self._counter
        return g

    def fingerprint(self) -> str:
        """Hash of the structure, ops, types, parameters and synapses (not meta)."""
        h = hashlib.sha256(f"{self.name}|{self.dt!r}".encode())
        for n in self.topo_order():
            op = self.op(n)
            arrays = ",".join(f"{k}={array_hash(v)}" for k, v in op.param_arrays().items())
            h.update(f"|{n}={op.kind}{sorted(op.attrs().items())!r}{arrays}:{self.type(n)}".encode())
            h.update(repr(self.in_edges(n)).encode())
        return h.hexdigest()[:16]

    def structurally_equal(self, other: Graph) -> bool:
        """Same name, dt, nodes, ops (incl. parameters), types, edges and synapses."""
        if (self.name, self.dt) != (other.name, other.dt) or set(self.nx) != set(other.nx):
            return False
        return all(
            self.op(n) == other.op(n)
            and self.type(n) == other.type(n)
            and self.in_edges(n) == other.in_edges(n)
            for n in self.nx
        )

    def __repr__(self) -> str:
        return f"<Graph @{self.name}: {len(self)} nodes, stage {self.stage.value}>"

    def __str__(self) -> str:
        from snnc.ir.printer import print_graph

        return print_graph(self)

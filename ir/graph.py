"""The IR graph: a ``networkx.MultiDiGraph`` of ops with typed values and synapse edges.

Node key: a readable name (``conv1``, ``conv1.act``). Node data: exactly ``op`` (an
:class:`~snnc.ir.ops.Op`), ``type`` (its output :class:`~snnc.ir.types.TensorType`) and
``meta`` (provenance, ignored by equality). Edge key: the destination port; edge data: only
``synapse`` (lowpass time constant in seconds, or None).

Analyses may read ``g.nx``; every mutation goes through the methods here. Each one keeps
the invariants: ports stay unique, and the types of the nodes it touches *and of every node
downstream whose inputs' types changed* are re-inferred before it returns (a work list in
topological rank order that stops where types stop changing, so a rewrite costs the size
of what it affects, not of the graph). Each mutation appends to :attr:`Graph.changes`,
which the pass manager reads to know whether a pass changed anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import networkx as nx

from snnc.ir import traits as T
from snnc.ir.errors import IRError
from snnc.ir.ops import Input, Op, OpError, Output, array_hash
from snnc.ir.types import F32, TensorType


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


def check_name(name, what: str = "node") -> str:
    """A node or graph name: any string that can be stored (UTF-8, in a zip member
    name, in JSON). Names are data, never code, so quotes, backslashes, newlines and unicode
    are fine; NUL (which ends a zip member name and C strings) and lone surrogates (which no
    file encoding can hold) cannot be represented, so they are refused here, at load."""
    if not isinstance(name, str):
        raise IRError(f"{what} name {name!r} must be a string")
    if "\x00" in name:
        raise IRError(
            f"{what} name {name!r} contains a NUL character, which cannot be stored",
            hint="rename the layer or model (any other character works)",
        )
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise IRError(
            f"{what} name {name!r} contains a lone surrogate, which is not valid text",
            hint="rename the layer or model",
        ) from None
    return name


class Graph:
    """An snnc IR graph. See the module docstring for the data model."""

    def __init__(self, name: str = "main", dt: float = 0.001):
        self.name = check_name(name, "graph")
        self.dt = float(dt)
        self.nx = nx.MultiDiGraph()
        self.changes: list[Change] = []
        self._order: dict[str, int] = {}  # insertion order: stable tie-break for topo_order
        self._counter = 0
        # a topological rank per node (any valid one), kept through rewrites so re-typing
        # can visit affected nodes in order; None: recompute on next use
        self._rank: dict[str, float] | None = None
        # inside ``with g.rewrite():`` re-typing waits for the end of the scope
        self._deferred: set[str] | None = None

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

    def nodes_of(self, what) -> list[str]:
        """Names of nodes (topological order) whose op is an instance of op class ``what``,
        declares trait ``what``, or (a string) whose kind is ``what`` or in dialect/prefix
        ``what`` (``"ann"`` matches every ``ann.*``)."""
        if isinstance(what, str):
            def match(op):
                return op.kind == what or op.kind.startswith(what + ".")
        elif isinstance(what, type) and issubclass(what, T.Trait):
            def match(op):
                return op.has(what)
        else:
            def match(op):
                return isinstance(op, what)
        return [n for n in self.topo_order() if match(self.op(n))]

    @property
    def inputs(self) -> list[str]:
        """The ``nn.input`` nodes ordered by their ``index``."""
        names = [n for n in self.nx if isinstance(self.op(n), Input)]
        return sorted(names, key=lambda n: self.op(n).index)

    @property
    def outputs(self) -> list[str]:
        """The ``nn.output`` nodes ordered by their ``index``."""
        names = [n for n in self.nx if isinstance(self.op(n), Output)]
        return sorted(names, key=lambda n: self.op(n).index)

    @property
    def stage(self) -> Stage:
        """ANN while a ReLU-like activation remains (what lower-activations replaces; the
        activations it keeps, on outputs or as rate sigmoid/tanh neurons, do not count) or no
        neuron op exists; QUANTIZED when every numpy parameter of every op is fixed point;
        else SNN."""
        ops = [self.op(n) for n in self.nx]
        relu_left = any(op.has(T.ReLULike) for op in ops)
        if relu_left or not any(op.has(T.Neuron) for op in ops):
            return Stage.ANN
        with_params = [op for op in ops if op.param_arrays()]
        if with_params and all(op.is_quantized for op in with_params):
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
        check_name(name)
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
        if self._rank is not None:
            self._rank[name] = max((self._rank[s] for s in inputs), default=0.0) + 1.0
        synapses = list(synapses) if synapses is not None else [None] * len(inputs)
        for port, (src, syn) in enumerate(zip(inputs, synapses, strict=True)):
            self.nx.add_edge(src, name, key=port, synapse=syn)
        if type is None:
            try:
                self.nx.nodes[name]["type"] = self._infer(name, op, self.in_types(name))
            except (IRError, ValueError, ArithmeticError, TypeError) as e:
                # nothing half-added stays behind, whatever the op's inference raised
                self.nx.remove_node(name)
                del self._order[name]
                if self._rank is not None:
                    self._rank.pop(name, None)
                if isinstance(e, IRError):
                    raise
                raise IRError(f"node '{name}' ({op.kind}): {type(e).__name__}: {e}") from None
        self.changes.append(Change("add", name, op.kind))
        return name

    def _infer(self, name: str, op: Op, in_types: list[TensorType]) -> TensorType:
        try:
            return op.infer_type(in_types)
        except OpError as e:
            raise IRError(f"node '{name}' ({op.kind}): {e.message}", hint=e.hint) from None

    def replace_op(self, name: str, op: Op, *, type: TensorType | None = None) -> None:  # noqa: A002
        """Swap the op of ``name`` (same inputs); its type is re-inferred unless given, and
        users whose input types change are re-typed."""
        if not op.num_inputs_ok(len(self.inputs_of(name))):
            raise IRError(f"node '{name}': {op.kind} cannot take {len(self.inputs_of(name))} inputs")
        data = self._data(name)
        data["op"] = op
        self.changes.append(Change("replace", name, op.kind))
        if type is not None:
            data["type"] = type
            self._retype_from(self._user_nodes(name))
        else:
            self._retype_from([name])

    def retype(self, names: Iterable[str] | None = None) -> None:
        """Re-infer the types of ``names`` (default: all) in topological order.

        Mutations keep types right by themselves; this is for code that edits ``g.nx``
        directly (parsers, tests) and for a full re-check."""
        wanted = set(self.nx) if names is None else set(names)
        for n in self.topo_order():
            if n in wanted:
                self._data(n)["type"] = self._infer(n, self.op(n), self.in_types(n))

    # ------------------------------------------------------------------ incremental typing
    def _ranks(self) -> dict[str, float]:
        if self._rank is None:
            self._rank = {n: float(i) for i, n in enumerate(nx.topological_sort(self.nx))}
        return self._rank

    def _check_rank(self, src: str, dst: str) -> None:
        """A new edge ``src -> dst``: drop the cached ranks if it breaks their order."""
        if self._rank is not None and self._rank[src] >= self._rank[dst]:
            self._rank = None

    def _user_nodes(self, name: str) -> list[str]:
        return list(dict.fromkeys(d for _, d in self.nx.out_edges(name)))

    @contextlib.contextmanager
    def rewrite(self) -> Iterator[Graph]:
        """A rewrite scope: mutations inside it may pass through ill-typed intermediate
        states (change a producer, then its consumer); the affected nodes are re-typed
        once, when the scope ends (an error then names the node that does not fit)."""
        if self._deferred is not None:  # nested: the outer scope re-types
            yield self
            return
        self._deferred = set()
        try:
            yield self
        finally:
            pending, self._deferred = self._deferred, None
        self._retype_from(pending)

    def _retype_from(self, starts: Iterable[str]) -> None:
        """Re-infer ``starts`` and, in topological rank order, every user whose input
        types changed; stops where types stop changing."""
        if self._deferred is not None:
            self._deferred.update(starts)
            return
        try:
            rank = self._ranks()
        except nx.NetworkXUnfeasible:
            raise IRError(f"graph @{self.name} has a cycle") from None
        heap = [(rank[n], n) for n in dict.fromkeys(starts) if n in self.nx]
        heapq.heapify(heap)
        queued = {n for _, n in heap}
        while heap:
            _, n = heapq.heappop(heap)
            queued.discard(n)
            data = self._data(n)
            new = self._infer(n, data["op"], self.in_types(n))
            if new == data["type"]:
                continue
            data["type"] = new
            for user in self._user_nodes(n):
                if user not in queued:
                    queued.add(user)
                    heapq.heappush(heap, (rank[user], user))

    def insert_after(
        self, name: str, new_name: str, op: Op, *, meta: dict | None = None, synapse=None
    ) -> str:
        """Insert ``new_name = op(name)`` and move every user of ``name`` onto it.

        Synapses on the moved edges stay on them; ``synapse`` sets the new edge's one.
        """
        users = [(d, p, self.synapse(name, d, p)) for d, p in self.users(name)]
        self.add(new_name, op, [name], meta=meta, synapses=[synapse])
        if self._rank is not None and users:
            # place the new node between its input and its first user
            lo, hi = self._rank[name], min(self._rank[d] for d, _, _ in users)
            self._rank[new_name] = (lo + hi) / 2
            if not lo < self._rank[new_name] < hi:  # ran out of float resolution
                self._rank = None
        for dst, port, syn in users:
            self.nx.remove_edge(name, dst, key=port)
            self.nx.add_edge(new_name, dst, key=port, synapse=syn)
        self.changes.append(Change("rewire", name, f"users moved to {new_name}"))
        self._retype_from(d for d, _, _ in users)
        return new_name

    def replace_all_uses(self, old: str, new: str) -> None:
        """Point every user of ``old`` at ``new`` (keeping ports and synapses)."""
        if old == new:
            return
        users = self.users(old)
        for dst, port in users:
            syn = self.synapse(old, dst, port)
            self.nx.remove_edge(old, dst, key=port)
            self.nx.add_edge(new, dst, key=port, synapse=syn)
            self._check_rank(new, dst)
        self.changes.append(Change("rewire", old, f"users moved to {new}"))
        self._retype_from(d for d, _ in users)

    def set_inputs(
        self, name: str, inputs: Sequence[str], synapses=None, *, op: Op | None = None
    ) -> None:
        """Replace the input edges of ``name`` (and its op, when given: the new inputs may
        only suit a new op); the node and the users affected are re-typed."""
        for src in inputs:
            if src not in self.nx:
                raise IRError(f"node '{name}': input '{src}' does not exist")
        for src, _, port in list(self.nx.in_edges(name, keys=True)):
            self.nx.remove_edge(src, name, key=port)
        synapses = list(synapses) if synapses is not None else [None] * len(inputs)
        for port, (src, syn) in enumerate(zip(inputs, synapses, strict=True)):
            self.nx.add_edge(src, name, key=port, synapse=syn)
            self._check_rank(src, name)
        self.changes.append(Change("rewire", name, "inputs " + ", ".join(inputs)))
        if op is not None:
            self._data(name)["op"] = op
            self.changes.append(Change("replace", name, op.kind))
        self._retype_from([name])

    def erase(self, name: str) -> None:
        """Remove a node that has no users."""
        if self.users(name):
            users = ", ".join(d for d, _ in self.users(name))
            raise IRError(f"cannot erase '{name}': still used by {users}")
        self.nx.remove_node(name)
        del self._order[name]
        if self._rank is not None:
            self._rank.pop(name, None)
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
        users = self._user_nodes(src)
        self.erase(name)
        self._retype_from(users)

    def set_edge(self, src: str, dst: str, port: int, *, synapse: float | None) -> None:
        """Set the synapse of an existing edge."""
        if not self.nx.has_edge(src, dst, key=port):
            raise IRError(f"no edge {src} -> {dst} port {port}")
        self.nx.edges[src, dst, port]["synapse"] = synapse
        self.changes.append(Change("synapse", dst, f"port {port} from {src}: {synapse}"))
        # a synapse turns spikes into real values, so the types downstream may change
        self._retype_from([dst])

    def set_meta(self, name: str, **meta: Any) -> None:
        self._data(name)["meta"].update(meta)

    def remove_dead(self) -> list[str]:
        """Erase every node that cannot reach an output; returns the erased names."""
        live: set[str] = set()
        for out in self.outputs:
            live.add(out)
            live |= nx.ancestors(self.nx, out)
        dead = [
            n for n in reversed(self.topo_order())
            if n not in live and not isinstance(self.op(n), Input)
        ]
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
        g._rank = None if self._rank is None else dict(self._rank)
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

"""The state of one emission: source lines, weights, names, and the nengo objects made.

:class:`NetworkBuilder` is what an emitter writes into. Every method that creates a nengo
object takes the IR ``node`` it is emitted for (labels and the compile report name it);
there is no implicit "current node".
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from snnc.codegen.emit.naming import Namespace, literal
from snnc.codegen.emit.values import Term, Value, object_value
from snnc.codegen.target import NodeRecord
from snnc.errors import CodegenError
from snnc.ir import traits as T
from snnc.ir.graph import Graph

#: names the generated module defines at its top level (see :mod:`snnc.codegen.emit.module`)
MODULE_NAMES = frozenset(
    {"np", "nengo", "os", "w", "net", "build", "load_weights", "DT", "GRAPH", "TARGET",
     "INPUTS", "OUTPUTS", "nengo_dl", "nengo_loihi"}
)
_MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_DEFINED = re.compile(r"^class\s+([A-Za-z_]\w*)", re.MULTILINE)


class NetworkBuilder:
    """Collects the body of the generated ``build()`` while a graph is emitted.

    Attributes:
        graph: the graph being emitted; ``target``: the target emitting it.
        lines: source lines of ``build()``'s body (indented by the module template).
        weights: the arrays the module reads (``weights.npz``), by key.
        helpers: functions whose source is copied into the module.
        imports: modules the module imports besides numpy and nengo.
        inputs / probes: IR input / output name -> Python variable of its Node / Probe.
        records: IR node -> what it became (for the compile report).
    """

    def __init__(self, graph: Graph, target, reserved=()):
        self.graph = graph
        self.target = target
        self.lines: list[str] = []
        self.weights: dict[str, np.ndarray] = {}
        self.helpers: list[Callable] = []
        self.imports: list[str] = []
        self.inputs: dict[str, str] = {}
        self.probes: dict[str, str] = {}
        self.records: dict[str, NodeRecord] = {n: NodeRecord() for n in graph.topo_order()}
        # module-level names a node variable must not shadow inside build(): the module's
        # own, every helper function that may be copied in, every module it may import
        modules = {type(graph.op(n)).nengo_module for n in graph.nodes_of(T.Neuron)}
        # classes a neuron's ``nengo_source`` defines at the module's top level
        defined = {
            name
            for n in graph.nodes_of(T.Neuron)
            for name in _DEFINED.findall(type(graph.op(n)).nengo_source)
        }
        self.names = Namespace(
            set(MODULE_NAMES) | set(reserved) | {m.split(".")[0] for m in modules} | defined
        )
        #: source text of top-level definitions the module needs (a neuron's nengo_source)
        self.definitions: list[str] = []
        self._idents: dict[str, str] = {}
        self._handed_out: set[str] = set()
        for module in getattr(target, "imports", ()):
            self.require(module)

    # ------------------------------------------------------------------ source helpers
    def emit(self, line: str) -> None:
        """Append one line to ``build()``'s body."""
        self.lines.append(line)

    def note(self, node: str, what: str) -> None:
        """Record that ``node`` became ``what`` (shown in the compile report)."""
        self.records[node].emitted.append(what)

    def ident(self, node: str) -> str:
        """The identifier chosen for IR node ``node`` (made once, then reused as a stem)."""
        if node not in self._idents:
            self._idents[node] = self.names.create_name(node)
        return self._idents[node]

    def var(self, node: str, suffix: str = "") -> str:
        """A fresh Python variable for an object made for ``node``: its identifier
        (``conv1_act``) the first time, else the identifier plus ``suffix``
        (``conv1_act_relay``, ``conv1_act_relay_2``, ...)."""
        stem = self.ident(node)
        if not suffix and stem not in self._handed_out:
            self._handed_out.add(stem)
            return stem
        return self.names.create_name(f"{stem}_{suffix or 'obj'}")

    def weight(self, node: str, what: str, array: np.ndarray) -> str:
        """Store ``array`` in the weights under a fresh key; returns ``w["key"]``."""
        key = candidate = f"{self.ident(node)}.{what}"
        i = 1
        while candidate in self.weights:
            i += 1
            candidate = f"{key}.{i}"
        self.weights[candidate] = np.asarray(array)
        return f"w[{literal(candidate)}]"

    def vector(self, node: str, what: str, array: np.ndarray) -> str:
        """Source for a flat vector: ``np.full(n, v)`` when constant, else a weight."""
        a = np.asarray(array, dtype=np.float64).reshape(-1)
        if a.size and np.all(a == a[0]):
            return f"np.full({a.size}, {literal(float(a[0]))})"
        return self.weight(node, what, a)

    def index(self, node: str, what: str, idx: np.ndarray | None) -> str:
        """``[a:b]`` / ``[a:b:s]`` for regular index arrays, else ``[w["key"]]``."""
        if idx is None:
            return ""
        if len(idx) >= 1:
            step = int(idx[1] - idx[0]) if len(idx) > 1 else 1
            if step > 0 and np.all(np.diff(idx) == step):
                start, stop = int(idx[0]), int(idx[-1]) + 1
                return f"[{start}:{stop}]" if step == 1 else f"[{start}:{stop}:{step}]"
        return f"[{self.weight(node, what, np.asarray(idx, dtype=np.int64))}]"

    def helper(self, fn: Callable) -> str:
        """Copy function ``fn`` into the module (once); returns its name.

        Raises:
            CodegenError: a node variable already took the name (helpers must be reserved
                when the builder is made; see :func:`snnc.codegen.emit.host.helper_names`).
        """
        if fn not in self.helpers:
            if fn.__name__ in self._idents.values() or any(
                h.__name__ == fn.__name__ for h in self.helpers
            ):
                raise CodegenError(f"helper function name {fn.__name__!r} is already in use")
            self.helpers.append(fn)
            self.names.reserve(fn.__name__)
        return fn.__name__

    def define(self, source: str) -> None:
        """Paste ``source`` (trusted snnc text, e.g. a neuron's ``nengo_source``) once at the
        top level of the module."""
        if source and source not in self.definitions:
            self.definitions.append(source)

    def require(self, module: str) -> None:
        """Import ``module`` at the top of the generated file."""
        if not _MODULE.fullmatch(module):
            raise CodegenError(f"{module!r} is not a module name")
        if module not in self.imports:
            self.imports.append(module)

    # ------------------------------------------------------------------ nengo objects
    def connect(self, node: str, term: Term, dst: str) -> None:
        """Emit the ``nengo.Connection`` of ``term`` into the object ``dst``."""
        pre = term.src + self.index(node, "pre", term.gather)
        post = dst + self.index(node, "post", term.scatter)
        args = [pre, post]
        if term.transform is not None:
            args.append(f"transform={term.transform.source(term.scale)}")
        elif term.scale != 1.0:
            args.append(f"transform={literal(term.scale)}")
        args.append(f"synapse={literal(term.synapse)}")
        self.emit(f"nengo.Connection({', '.join(args)})")

    def constant(self, node: str, b: np.ndarray) -> str:
        """A constant ``nengo.Node`` outputting ``b``; returns its variable."""
        name = self.var(node, "const")
        vector = self.vector(node, "const", b)
        self.emit(f"{name} = nengo.Node({vector}, label={literal(node + '.const')})")
        return name

    def connect_value(self, node: str, value: Value, dst: str) -> None:
        """Connect every term of ``value`` into ``dst``, and its constants through constant
        Nodes (neurons fold the unfiltered constant into their bias instead: see
        :meth:`ensemble`)."""
        for t in value.terms:
            self.connect(node, t, dst)
        for key, b in value.bias.items():
            if np.any(b):
                src = self.constant(node, b)
                self.connect(node, Term(src, value.size, synapse=key), dst)

    def relay(self, node: str, terms, size: int, what: str = "relay") -> Term:
        """Materialize ``terms`` (each delivering into positions of a ``size`` vector) into a
        passthrough ``nengo.Node``; returns the plain term reading it."""
        name = self.var(node, what)
        self.emit(f"{name} = nengo.Node(size_in={size}, label={literal(f'{node}.{what}')})")
        for t in terms:
            self.connect(node, t, name)
        self.note(node, f"relay Node[{size}]")
        return Term(name, size)

    def materialize(self, node: str, value: Value) -> Value:
        """``value`` with its terms summed into one relay (constants stay lazy)."""
        if not value.terms:
            return value
        return Value(value.shape, (self.relay(node, value.terms, value.size),), dict(value.bias))

    def ensemble(self, node: str, neuron_type: str, value: Value, gain, bias, what: str) -> Value:
        """Emit ``nengo.Ensemble(...).neurons`` computing ``J = gain * value + bias`` per
        element, with the neuron type whose source is ``neuron_type``.

        The unfiltered constants of ``value`` fold into the neuron bias (``gain * c + bias``):
        biases are neuron biases, not relay Nodes. Gain and bias broadcast to the value's
        shape and flatten in C order (channels-last). ``what`` names it in the report.
        """
        shape = value.shape
        n = value.size
        gain = np.broadcast_to(np.asarray(gain, dtype=np.float64), shape).reshape(-1)
        bias = np.broadcast_to(np.asarray(bias, dtype=np.float64), shape).reshape(-1)
        folded = value.bias.get(None)
        if folded is not None:
            bias = bias + gain * folded
        rest = Value(shape, value.terms, {k: b for k, b in value.bias.items() if k is not None})
        name = self.var(node)
        self.emit(
            f"{name} = nengo.Ensemble({n}, 1, neuron_type={neuron_type}, "
            f"gain={self.vector(node, 'gain', gain)}, bias={self.vector(node, 'bias', bias)}, "
            f"label={literal(node)}).neurons"
        )
        self.connect_value(node, rest, name)
        self.records[node].neurons = n
        self.note(node, f"{what} Ensemble")
        return object_value(name, shape)

    def host_node(self, node: str, call: str, value: Value, out_shape, what: str) -> Value:
        """A ``nengo.Node`` on the host computing ``call`` (source of a function of ``x``,
        the flat sample) from ``value``; ``what`` names it in the report."""
        out_size = int(np.prod(out_shape))
        name = self.var(node)
        self.emit(
            f"{name} = nengo.Node(lambda t, x: {call}, size_in={value.size}, "
            f"size_out={out_size}, label={literal(node)})"
        )
        self.connect_value(node, value, name)
        self.note(node, what)
        return object_value(name, out_shape)

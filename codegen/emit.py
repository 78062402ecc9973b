"""Emitters: IR ops -> the Python source of a nengo network (plus a weights dict).

The generated module is the single source of truth: ``snnc compile`` writes it as
``network.py`` and :class:`~snnc.codegen.compiled.Compiled` executes the very same text to get
its in-process network.

How values flow
---------------
Each IR node's result is a :class:`Value`: a sum of :class:`Term` s plus constant offsets.
A term is one future ``nengo.Connection`` from an existing nengo object::

    nengo.Connection(src[gather], dst[scatter], transform=scale * T, synapse=tau)

Linear ops do not create nengo objects; they rewrite the terms of their input (and the
constants, by running their interpreter kernel):

- value-moving ops (flatten, reshape, transpose, crop, pad, upsample, concat) change
  ``gather`` / ``scatter`` (index maps);
- ``nn.add`` scales and merges terms;
- an affine op (dense, conv, pooling, batch norm, ...) sets ``transform``; a term holds at
  most one transform, so a second one first *materializes* the value into a passthrough
  ``nengo.Node`` (a relay) — the only place relays appear;
- an edge synapse sets ``synapse`` (and filters the constants, as nengo would).

Objects appear only where the IR computes something nonlinear: a neuron op becomes
``nengo.Ensemble(...).neurons`` with gain and bias set directly, and the constant offsets
reaching it fold into its bias (so biases are neuron biases, not relay nodes); a host-side
op becomes a ``nengo.Node`` running a numpy function; an output becomes a ``nengo.Probe``.

Emitters
--------
One function per op kind, registered with :func:`emitter` and shared by all targets; a
target may override any of them (``Target.emitters``). An emitter gets the context, the
node name, its op and its input Values (edge synapses already applied) and returns the
node's Value. An optional ``check`` says, before anything is emitted, why a node cannot be
emitted, so :func:`check` reports every problem at once.
"""

from __future__ import annotations

import builtins
import dataclasses
import inspect
import keyword
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from snnc.codegen import host_functions, tf_functions
from snnc.codegen.linear import (
    AFFINE_KINDS,
    INDEX_MAP_KINDS,
    affine_constant,
    apply_linear,
    index_map,
    op_matrix,
)
from snnc.codegen.target import Target
from snnc.errors import CodegenError
from snnc.ir.graph import Graph
from snnc.ir.ops import Op, resolve_padding
from snnc.ir.printer import format_node
from snnc.ir.types import TensorType

logger = logging.getLogger(__name__)


# =============================================================================== values


@dataclass(frozen=True)
class Transform:
    """A nengo transform (``size_in -> size_out``) as source text.

    ``template`` holds ``{init}`` where the weight expression goes, so a term's scale can be
    folded into the weights (``init=0.5 * w["conv1.weight"]``). ``what`` names it in reports.
    """

    size_in: int
    size_out: int
    template: str
    init: str
    what: str

    def source(self, scale: float = 1.0) -> str:
        init = self.init if scale == 1.0 else f"{scale!r} * {self.init}"
        return self.template.format(init=init)


@dataclass(frozen=True, eq=False)
class Term:
    """One pending connection ``src[gather] -> (scale * transform) -> [scatter]`` (see the
    module docstring). ``gather``/``scatter`` None mean "all, in order"."""

    src: str
    src_size: int
    gather: np.ndarray | None = None
    transform: Transform | None = None
    scale: float = 1.0
    scatter: np.ndarray | None = None
    synapse: float | None = None

    @property
    def size(self) -> int:
        """Number of values this term delivers."""
        if self.transform is not None:
            return self.transform.size_out
        return self.src_size if self.gather is None else len(self.gather)

    def replace(self, **changes) -> Term:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class Value:
    """The result of an IR node: ``sum(terms) + sum(bias)``, flat in C order.

    ``bias`` maps a synapse (None or a lowpass tau) to a constant vector filtered by it.
    """

    shape: tuple[int, ...]
    terms: tuple[Term, ...] = ()
    bias: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def is_plain(self) -> bool:
        """A single untouched object (probe it or connect from it directly)."""
        if len(self.terms) != 1 or any(np.any(b) for b in self.bias.values()):
            return False
        t = self.terms[0]
        return t.gather is None and t.transform is None and t.scatter is None and t.scale == 1.0


def _add_bias(bias: dict, key, b: np.ndarray) -> None:
    bias[key] = bias[key] + b if key in bias else np.asarray(b, dtype=np.float64)


def _is_range(idx: np.ndarray | None, n: int) -> bool:
    return idx is not None and len(idx) == n and bool(np.all(idx == np.arange(n)))


# =============================================================================== registry


@dataclass(frozen=True)
class Emitter:
    """An emitter function plus its optional pre-emission check."""

    fn: Callable
    check: Callable | None = None


EMITTERS: dict[str, Emitter] = {}


def emitter(*kinds: str, check: Callable | None = None, registry: dict | None = None):
    """Register ``fn(ctx, node, op, inputs) -> Value`` for op ``kinds``.

    ``check(graph, node, target) -> str | None`` returns why ``node`` cannot be emitted.
    ``registry`` defaults to the shared :data:`EMITTERS`; targets pass their own dict.
    """
    table = EMITTERS if registry is None else registry

    def deco(fn):
        for k in kinds:
            if k in table:
                raise ValueError(f"emitter for {k} registered twice")
            table[k] = Emitter(fn, check)
        return fn

    return deco


def find_emitter(target: Target, kind: str) -> Emitter | None:
    """The target's override for ``kind``, else the shared emitter, else None."""
    return target.emitters.get(kind) or EMITTERS.get(kind)


# =============================================================================== context


#: names the generated module uses (and Python's builtins): node variables avoid them
_RESERVED = {"np", "nengo", "nengo_dl", "nengo_loihi", "w", "net", "build", "load_weights", "os"}
_RESERVED |= set(dir(builtins)) | {
    name for module in (host_functions, tf_functions) for name, fn in vars(module).items() if callable(fn)
}


@dataclass
class NodeRecord:
    """What one IR node became (for the compile report)."""

    emitted: list[str] = field(default_factory=list)
    neurons: int = 0


class EmitContext:
    """State of one emission: source lines, weights, names, and the Value algebra."""

    def __init__(self, graph: Graph, target: Target):
        self.graph = graph
        self.target = target
        self.lines: list[str] = []
        self.weights: dict[str, np.ndarray] = {}
        self.helpers: list[Callable] = []  # host functions to copy into the module
        self.imports: list[str] = list(target.imports)
        self.inputs: dict[str, str] = {}  # IR input name -> Python variable
        self.probes: dict[str, str] = {}  # IR output name -> Python variable
        self.records: dict[str, NodeRecord] = {n: NodeRecord() for n in graph.topo_order()}
        self.node = ""  # the node being emitted (for labels and records)
        self._names: set[str] = set(_RESERVED)

    # ------------------------------------------------------------------ source helpers
    def emit(self, line: str) -> None:
        self.lines.append(line)

    def note(self, what: str, node: str | None = None) -> None:
        self.records[node or self.node].emitted.append(what)

    def var(self, base: str) -> str:
        """A fresh Python identifier derived from ``base``."""
        name = re.sub(r"\W", "_", base).strip("_") or "v"
        if name[0].isdigit():
            name = "n_" + name
        if keyword.iskeyword(name):
            name += "_"
        candidate, i = name, 1
        while candidate in self._names:
            i += 1
            candidate = f"{name}_{i}"
        self._names.add(candidate)
        return candidate

    def weight(self, key: str, array: np.ndarray) -> str:
        """Store ``array`` in the weights dict (under a fresh key) and return ``w["key"]``."""
        candidate, i = key, 1
        while candidate in self.weights:
            i += 1
            candidate = f"{key}.{i}"
        self.weights[candidate] = np.asarray(array)
        return f'w["{candidate}"]'

    def vector(self, key: str, array: np.ndarray) -> str:
        """Source for a flat vector: ``np.full(n, v)`` when constant, else a weight."""
        a = np.asarray(array, dtype=np.float64).reshape(-1)
        if a.size and np.all(a == a[0]):
            return f"np.full({a.size}, {float(a[0])!r})"
        return self.weight(key, a)

    def index(self, idx: np.ndarray | None, key: str) -> str:
        """``[a:b]`` / ``[a:b:s]`` for regular index arrays, else ``[w["key"]]``."""
        if idx is None:
            return ""
        if len(idx) >= 1:
            step = int(idx[1] - idx[0]) if len(idx) > 1 else 1
            if step > 0 and np.all(np.diff(idx) == step):
                start, stop = int(idx[0]), int(idx[-1]) + 1
                return f"[{start}:{stop}]" if step == 1 else f"[{start}:{stop}:{step}]"
        return f"[{self.weight(key, np.asarray(idx, dtype=np.int64))}]"

    def helper(self, fn: Callable) -> str:
        """Copy host function ``fn`` into the module (once); returns its name."""
        if fn not in self.helpers:
            self.helpers.append(fn)
        return fn.__name__

    def require(self, module: str) -> None:
        """Import ``module`` at the top of the generated file."""
        if module not in self.imports:
            self.imports.append(module)

    # ------------------------------------------------------------------ nengo objects
    def connect(self, term: Term, dst: str) -> None:
        """Emit the ``nengo.Connection`` of ``term`` into ``dst``."""
        pre = term.src + self.index(term.gather, f"{self.node}.pre")
        post = dst + self.index(term.scatter, f"{self.node}.post")
        args = [pre, post]
        if term.transform is not None:
            args.append(f"transform={term.transform.source(term.scale)}")
        elif term.scale != 1.0:
            args.append(f"transform={term.scale!r}")
        args.append(f"synapse={term.synapse!r}")
        self.emit(f"nengo.Connection({', '.join(args)})")

    def constant(self, b: np.ndarray, key: str) -> str:
        """A constant ``nengo.Node`` outputting ``b``; returns its variable."""
        name = self.var(f"{self.node}_const")
        self.emit(f'{name} = nengo.Node({self.vector(key, b)}, label="{self.node}.const")')
        return name

    def connect_value(self, value: Value, dst: str) -> None:
        """Connect every term of ``value`` into ``dst``, and its constants through constant
        Nodes (neurons fold the unfiltered constant into their bias instead: see
        :func:`ensemble`)."""
        for t in value.terms:
            self.connect(t, dst)
        for key, b in value.bias.items():
            if np.any(b):
                src = self.constant(b, f"{self.node}.const")
                self.connect(Term(src, value.size, synapse=key), dst)

    def relay(self, terms, size: int, what: str = "relay") -> Term:
        """Materialize ``terms`` (each delivering into positions of a ``size`` vector) into a
        passthrough ``nengo.Node``; returns the plain term reading it."""
        name = self.var(f"{self.node}_{what}")
        self.emit(f'{name} = nengo.Node(size_in={size}, label="{self.node}.{what}")')
        for t in terms:
            self.connect(t, name)
        self.note(f"relay Node[{size}]")
        return Term(name, size)

    def materialize(self, value: Value) -> Value:
        """``value`` with its terms summed into one relay (constants stay lazy)."""
        if not value.terms:
            return value
        return Value(value.shape, (self.relay(value.terms, value.size),), dict(value.bias))

    # ------------------------------------------------------------------ value algebra
    def filtered(self, value: Value, synapse: float | None) -> Value:
        """``value`` seen through an edge with ``synapse``."""
        if synapse is None:
            return value
        terms, bias = [], {}
        for t in value.terms:
            if t.synapse is None:
                terms.append(t.replace(synapse=synapse))
            else:  # a second filter in series: relay the once-filtered values
                r = self.relay([t.replace(scatter=None)], t.size, "filtered")
                terms.append(Term(r.src, t.size, scatter=t.scatter, synapse=synapse))
        for key, b in value.bias.items():
            if key is None:
                _add_bias(bias, synapse, b)
            elif np.any(b):
                src = self.constant(b, f"{self.node}.const")
                r = self.relay([Term(src, value.size, synapse=key)], value.size, "filtered")
                terms.append(r.replace(synapse=synapse))
        return Value(value.shape, tuple(terms), bias)

    def gathered(self, value: Value, g: np.ndarray, shape, fill: float = 0.0) -> Value:
        """``y[j] = value[g[j]]`` (``fill`` where ``g[j] == -1``) as index maps."""
        n_out = len(g)
        terms = []
        for t in value.terms:
            pos = t.scatter if t.scatter is not None else np.arange(t.size)
            inv = np.full(value.size, -1)
            inv[pos] = np.arange(len(pos))
            sel = np.where(g >= 0, inv[np.maximum(g, 0)], -1)
            js = np.flatnonzero(sel >= 0)  # output positions this term feeds
            idx = sel[js]  # which of the term's values each one reads
            if js.size == 0:
                continue
            if t.transform is None:  # compose on the pre side: any gather works
                pre = idx if t.gather is None else t.gather[idx]
                terms.append(t.replace(gather=pre, scatter=js))
            elif len(idx) == t.size and np.array_equal(np.sort(idx), np.arange(t.size)):
                scatter = np.empty(t.size, dtype=np.int64)  # a permutation: move the outputs
                scatter[idx] = js
                terms.append(t.replace(scatter=scatter))
            else:  # drops or repeats transformed values: relay them first
                r = self.relay([t.replace(scatter=None)], t.size)
                terms.append(r.replace(gather=idx, scatter=js))
        terms = [self._tidy(t, n_out) for t in terms]
        bias: dict = {}
        for key, b in value.bias.items():
            _add_bias(bias, key, np.where(g >= 0, b[np.maximum(g, 0)], 0.0))
        if fill != 0.0 and np.any(g < 0):
            _add_bias(bias, None, np.where(g < 0, fill, 0.0))
        return Value(tuple(shape), tuple(terms), bias)

    @staticmethod
    def _tidy(t: Term, n_out: int) -> Term:
        gather = None if _is_range(t.gather, t.src_size) else t.gather
        scatter = None if _is_range(t.scatter, n_out) else t.scatter
        return t.replace(gather=gather, scatter=scatter)

    def concatenated(self, values: list[Value]) -> Value:
        """The inputs laid end to end as one flat vector (what ``index_map`` numbers)."""
        terms, offset, total = [], 0, sum(v.size for v in values)
        bias: dict = {}
        for v in values:
            for t in v.terms:
                pos = t.scatter if t.scatter is not None else np.arange(t.size)
                terms.append(t.replace(scatter=pos + offset))
            for key, b in v.bias.items():
                full = np.zeros(total)
                full[offset : offset + v.size] = b
                _add_bias(bias, key, full)
            offset += v.size
        return Value((total,), tuple(terms), bias)

    def transformed(self, value: Value, transform: Transform | None, op: Op, shape) -> Value:
        """``op(value)`` for a one-input affine ``op`` whose linear part is ``transform``
        (None: the linear part is zero)."""
        terms = list(value.terms)
        single = len(terms) == 1 and terms[0].transform is None and terms[0].scatter is None
        if terms and not single:
            terms = [self.relay(terms, value.size)]
        if transform is None:
            terms = []
        terms = [t.replace(transform=transform) for t in terms]
        in_shape = value.shape
        bias: dict = {}
        for key, b in value.bias.items():
            _add_bias(bias, key, apply_linear(op, b, in_shape))
        _add_bias(bias, None, affine_constant(op, [in_shape]))
        return Value(tuple(shape), tuple(terms), bias)

    def summed(self, values: list[Value], coeffs) -> Value:
        """``sum(c * v)`` of equally shaped values."""
        terms, bias = [], {}
        for v, c in zip(values, coeffs, strict=True):
            if c == 0:
                continue
            terms += [t.replace(scale=t.scale * float(c)) for t in v.terms]
            for key, b in v.bias.items():
                _add_bias(bias, key, float(c) * b)
        return Value(values[0].shape, tuple(terms), bias)

    def object_value(self, var: str, shape) -> Value:
        """The Value of a freshly created nengo object."""
        shape = tuple(shape)
        return Value(shape, (Term(var, int(np.prod(shape))),))


# =============================================================================== checking


def check(graph: Graph, target: Target) -> None:
    """Raise one CodegenError listing every node ``target`` cannot emit (kind, reason, hint)."""
    problems = []
    for n in graph.topo_order():
        op = graph.op(n)
        reason = target.supports(graph, n)
        if reason is None:
            em = find_emitter(target, op.kind)
            if em is None:
                reason = f"no emitter for {op.kind}\n    hint: {_missing_hint(op.kind)}"
            elif em.check is not None:
                reason = em.check(graph, n, target)
        if reason:
            problems.append(f"  - %{n} ({op.kind}): {reason}")
    if problems:
        raise CodegenError(
            f"graph @{graph.name}: target '{target.name}' cannot emit {len(problems)} node(s):\n"
            + "\n".join(problems),
            hint=f"adjust the pipeline (default for {target.name}: {target.default_pipeline!r})",
        )


def _missing_hint(kind: str) -> str:
    if kind.startswith("ann."):
        return "lower activations to neurons first: run the lower-activations pass (e.g. -p '...,lower-activations{neuron=if}')"
    return "this op has no nengo equivalent yet; replace the layer or add an emitter"


# =============================================================================== module


def generate(graph: Graph, target: Target) -> tuple[str, dict[str, np.ndarray], EmitContext]:
    """Emit ``graph`` for ``target``: ``(module source, weights, context)``.

    Runs :func:`check` first, so nothing is emitted for a graph with problems.
    """
    check(graph, target)
    ctx = EmitContext(graph, target)
    if target.postlude is not None:
        ctx.helper(target.postlude)
    values: dict[str, Value] = {}
    for n in graph.topo_order():
        ctx.node = n
        op = graph.op(n)
        ctx.emit("")
        ctx.emit(f"# {format_node(graph, n)}")
        mark = len(ctx.lines)
        ins = [ctx.filtered(values[src], syn) for src, _, syn in graph.in_edges(n)]
        value = find_emitter(target, op.kind).fn(ctx, n, op, ins)
        # a transformed value read by several users is computed once, not once per user
        if len(graph.users(n)) > 1 and any(t.transform is not None for t in value.terms):
            value = ctx.materialize(value)
        if len(ctx.lines) == mark:
            ctx.lines[-1] += "  -> folded into its users' connections"
        if not ctx.records[n].emitted:
            ctx.note("folded")
        values[n] = value
    return _module_source(ctx), ctx.weights, ctx


def _module_source(ctx: EmitContext) -> str:
    from snnc import __version__

    g = ctx.graph
    inputs = {n: g.type(n).shape for n in g.inputs}
    outputs = {n: g.type(n).shape for n in g.outputs}
    backends = ", ".join(["numpy", "nengo", *ctx.imports])
    head = f'''"""nengo network for graph @{g.name}, generated by snnc {__version__} for target '{ctx.target.name}'.

Do not edit: regenerate with `snnc compile`. Needs only {backends}.
Inputs are nengo Nodes fed flat (C-order, channels-last) samples; outputs are Probes.

Usage (one sample; `snnc run` does this for a batch, resetting the state between samples)::

    import nengo, network
    net, inputs, probes = network.build()            # reads weights.npz next to this file
    inputs["{g.inputs[0]}"].output = x.reshape(-1)   # x: one sample of shape INPUTS["{g.inputs[0]}"]
    with nengo.Simulator(net, dt=network.DT) as sim:
        sim.run_steps(50)
    y = sim.data[probes["{g.outputs[0]}"]]           # (steps, size of the output)
"""

import os

import numpy as np
import nengo
'''
    head += "".join(f"import {m}\n" for m in ctx.imports)
    head += f"""
DT = {g.dt!r}
#: per-sample shapes (without batch and time)
INPUTS = {inputs!r}
OUTPUTS = {outputs!r}


def load_weights(path=None):
    \"\"\"The weights dict (default: weights.npz next to this file).\"\"\"
    if path is None:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.npz")
    with np.load(path) as f:
        return {{k: f[k] for k in f.files}}
"""
    helpers = "".join("\n\n" + inspect.getsource(fn) for fn in ctx.helpers)
    body = "\n".join(("        " + line).rstrip() for line in ctx.lines)
    ins = ", ".join(f"{n!r}: {v}" for n, v in ctx.inputs.items())
    outs = ", ".join(f"{n!r}: {v}" for n, v in ctx.probes.items())
    post = f"\n    {ctx.target.postlude.__name__}(net)" if ctx.target.postlude is not None else ""
    build = f'''

def build(w=None):
    """Build the network; returns ``(network, {{input name: Node}}, {{output name: Probe}})``."""
    if w is None:
        w = load_weights()
    with nengo.Network(label={g.name!r}, seed=0) as net:{body}{post}
    return net, {{{ins}}}, {{{outs}}}
'''
    return head + helpers + build


# =============================================================================== shared emitters


@emitter("nn.input")
def emit_input(ctx: EmitContext, node, op, ins):
    size = ctx.graph.type(node).size
    name = ctx.var(node)
    ctx.emit(f'{name} = nengo.Node(np.zeros({size}), label="{node}")')
    ctx.inputs[node] = name
    ctx.note(f"input Node[{size}]")
    return ctx.object_value(name, ctx.graph.type(node).shape)


@emitter("nn.output")
def emit_output(ctx: EmitContext, node, op, ins):
    (value,) = ins
    if value.is_plain():
        target, synapse = value.terms[0].src, value.terms[0].synapse
    else:
        target, synapse = ctx.var(node), None
        ctx.emit(f'{target} = nengo.Node(size_in={value.size}, label="{node}")')
        ctx.connect_value(value, target)
        ctx.note(f"output Node[{value.size}]")
    probe = ctx.var(f"probe_{node}")
    ctx.emit(f'{probe} = nengo.Probe({target}, synapse={synapse!r}, label="{node}")')
    ctx.probes[node] = probe
    ctx.note("Probe")
    return value


@emitter(*INDEX_MAP_KINDS)
def emit_index_map(ctx: EmitContext, node, op, ins):
    g = index_map(op, [v.shape for v in ins])
    value = ins[0] if len(ins) == 1 else ctx.concatenated(ins)
    out = ctx.graph.type(node).shape
    if np.array_equal(g, np.arange(value.size)):
        return Value(out, value.terms, value.bias)  # flatten, reshape, identity: a no-op
    fill = op.value if op.kind == "nn.pad" else 0.0
    ctx.note("index map")
    return ctx.gathered(value, g, out, fill)


@emitter("nn.add")
def emit_add(ctx: EmitContext, node, op, ins):
    return ctx.summed(ins, op.coeffs)


# ------------------------------------------------------------------ affine ops


def native_conv_padding(op: Op, in_type: TensorType) -> str | None:
    """``"valid"``/``"same"`` when ``nengo.Convolution`` computes ``op`` exactly, else None.

    nengo's convolution (reference and nengo-dl) is 1-D or 2-D, ungrouped, undilated,
    without leading (TimeDistributed) dims, and pads like TensorFlow (the odd pixel after).
    """
    if op.kind not in ("nn.conv1d", "nn.conv2d") or op.groups != 1:
        return None
    n = op.n_spatial
    if any(d != 1 for d in op.dilation) or in_type.rank != n + 1:
        return None
    spatial, kernel = in_type.shape[:-1], op.weight.shape[:n]
    pads = resolve_padding(op.padding, spatial, kernel, op.strides, op.dilation)
    for mode in ("valid", "same"):
        if pads == resolve_padding(mode, spatial, kernel, op.strides, op.dilation):
            return mode
    return None


def native_conv_transpose_padding(op: Op, in_type: TensorType, out_type: TensorType) -> str | None:
    """``"valid"``/``"same"`` when ``nengo.transforms.ConvolutionTranspose`` (the transpose
    of the nengo Convolution from the output shape back to the input shape) computes ``op``
    exactly, else None.

    The IR crops the full output ``(n - 1) * s + k`` by its padding pairs. That is nengo's
    "valid" when nothing is cropped, and its "same" when the crop is the forward "same"
    padding of a convolution from the output size ``m``: ``P = max((n - 1) * s + k - m, 0)``
    split ``(P // 2, rest)``, as TensorFlow's conv2d_transpose does.
    """
    if op.kind != "nn.conv2d_transpose" or any(d != 1 for d in op.dilation) or in_type.rank != 3:
        return None
    sizes = zip(in_type.shape[:-1], out_type.shape[:-1], op.weight.shape[:2], op.strides, strict=True)
    pads = resolve_padding(op.padding, in_type.shape[:-1], op.weight.shape[:2], op.strides, op.dilation)
    if all(p == (0, 0) for p in pads):
        return "valid"
    same = []
    for n, m, k, s in sizes:
        full, total = (n - 1) * s + k, max((n - 1) * s + k - m, 0)
        same.append((total // 2, full - m - total // 2))
    return "same" if tuple(same) == tuple(pads) else None


def is_native(op: Op, in_type: TensorType, out_type: TensorType) -> bool:
    """Whether a native nengo transform (Dense, Convolution, ConvolutionTranspose) computes
    ``op`` exactly."""
    dense = op.kind == "nn.dense" and in_type.rank == 1  # leading dims: block-diagonal
    return (
        dense
        or native_conv_padding(op, in_type) is not None
        or native_conv_transpose_padding(op, in_type, out_type) is not None
    )


def native_transform(ctx: EmitContext, node: str, op: Op, in_type: TensorType) -> Transform | None:
    """A native nengo transform computing the linear part of ``op`` exactly, or None."""
    out_type = ctx.graph.type(node)
    if not is_native(op, in_type, out_type):
        return None
    if op.kind == "nn.dense":
        n_in, n_out = op.weight.shape
        init = ctx.weight(f"{node}.weight", op.weight) + ".T"
        return Transform(n_in, n_out, f"nengo.Dense(({n_out}, {n_in}), init={{init}})", init, "nengo.Dense")
    kernel = tuple(op.weight.shape[: op.n_spatial])
    init = ctx.weight(f"{node}.weight", op.weight)
    common = f"kernel_size={kernel!r}, strides={tuple(op.strides)!r}"
    if op.kind == "nn.conv2d_transpose":
        what = "nengo.transforms.ConvolutionTranspose"
        padding = native_conv_transpose_padding(op, in_type, out_type)
        common = f"output_shape={out_type.shape!r}, {common}"
    else:
        what, padding = "nengo.Convolution", native_conv_padding(op, in_type)
    template = f"{what}({op.weight.shape[-1]}, {in_type.shape!r}, {common}, padding={padding!r}, init={{init}})"
    return Transform(in_type.size, out_type.size, template, init, what)


def matrix_transform(ctx: EmitContext, node: str, op: Op, in_type: TensorType) -> Transform | None:
    """The exact sparse matrix of ``op`` (see :func:`~snnc.codegen.linear.op_matrix`) as a
    ``nengo.Sparse`` transform; None if the linear part is zero."""
    matrix, _ = op_matrix(op, in_type.shape)
    if matrix.nnz == 0:
        return None
    coo = matrix.tocoo()
    indices = ctx.weight(f"{node}.indices", np.stack([coo.row, coo.col], axis=1).astype(np.int64))
    init = ctx.weight(f"{node}.data", coo.data)
    m, n = matrix.shape
    template = f"nengo.Sparse(({m}, {n}), indices={indices}, init={{init}})"
    return Transform(n, m, template, init, "nengo.Sparse (matrix)")


def _check_affine(graph: Graph, node: str, target: Target) -> str | None:
    op, in_type = graph.op(node), graph.in_types(node)[0]
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


@emitter(*AFFINE_KINDS, check=_check_affine)
def emit_affine(ctx: EmitContext, node, op, ins):
    (value,) = ins
    in_type = TensorType(value.shape)
    transform = native_transform(ctx, node, op, in_type)
    if transform is None:
        transform = matrix_transform(ctx, node, op, in_type)
    if transform is not None:
        ctx.note(transform.what)
    return ctx.transformed(value, transform, op, ctx.graph.type(node).shape)


# ------------------------------------------------------------------ neurons


def _lif_args(op) -> str:
    return f"tau_rc={op.tau_rc!r}, tau_ref={op.tau_ref!r}"


#: neuron op kind -> source of its nengo neuron type. Spiking types start at rest (voltage
#: 0, as the IR semantics and snnc.sim do) rather than nengo's random initial voltage.
_AT_REST = 'initial_state={"voltage": nengo.dists.Choice([0.0])}'
NEURON_TYPES: dict[str, Callable[[Op], str]] = {
    "snn.rate_relu": lambda op: f"nengo.RectifiedLinear(amplitude={op.amplitude!r})",
    "snn.if": lambda op: f"nengo.SpikingRectifiedLinear(amplitude={op.amplitude!r}, {_AT_REST})",
    "snn.lif": lambda op: (
        f"nengo.LIF({_lif_args(op)}, min_voltage={op.min_voltage!r}, "
        f"amplitude={op.amplitude!r}, {_AT_REST})"
    ),
    "snn.lif_rate": lambda op: f"nengo.LIFRate({_lif_args(op)}, amplitude={op.amplitude!r})",
    "snn.loihi_if": lambda op: f"nengo_loihi.neurons.LoihiSpikingRectifiedLinear(amplitude={op.amplitude!r})",
    "snn.loihi_lif": lambda op: f"nengo_loihi.neurons.LoihiLIF({_lif_args(op)}, amplitude={op.amplitude!r})",
    # exact nengo equivalents of two activations (tau_ref=1 makes the rate the function)
    "ann.sigmoid": lambda op: "nengo.Sigmoid(tau_ref=1.0)",
    "ann.tanh": lambda op: "nengo.Tanh(tau_ref=1.0)",
}


def ensemble(ctx: EmitContext, node: str, neuron_type: str, value: Value, gain, bias) -> Value:
    """Emit ``nengo.Ensemble(...).neurons`` computing ``J = gain * value + bias`` per element.

    The unfiltered constants of ``value`` fold into the neuron bias (``gain * c + bias``);
    gain and bias broadcast to the value's shape and flatten in C order (channels-last).
    """
    shape = value.shape
    n = value.size
    gain = np.broadcast_to(np.asarray(gain, dtype=np.float64), shape).reshape(-1)
    bias = np.broadcast_to(np.asarray(bias, dtype=np.float64), shape).reshape(-1)
    folded = value.bias.get(None)
    if folded is not None:
        bias = bias + gain * folded
    rest = Value(shape, value.terms, {k: b for k, b in value.bias.items() if k is not None})
    name = ctx.var(node)
    ctx.emit(
        f"{name} = nengo.Ensemble({n}, 1, neuron_type={neuron_type}, "
        f"gain={ctx.vector(f'{node}.gain', gain)}, bias={ctx.vector(f'{node}.bias', bias)}, "
        f'label="{node}").neurons'
    )
    ctx.connect_value(rest, name)
    ctx.records[node].neurons = n
    ctx.note(neuron_type.split("(")[0].replace("nengo_loihi.neurons.", "") + " Ensemble")
    return ctx.object_value(name, shape)


@emitter(*(k for k in NEURON_TYPES if k.startswith("snn.")))
def emit_neuron(ctx: EmitContext, node, op, ins):
    if op.kind.startswith("snn.loihi"):
        ctx.require("nengo_loihi")
    return ensemble(ctx, node, NEURON_TYPES[op.kind](op), ins[0], op.gain, op.bias)


@emitter("ann.sigmoid", "ann.tanh")
def emit_activation_neuron(ctx: EmitContext, node, op, ins):
    return ensemble(ctx, node, NEURON_TYPES[op.kind](op), ins[0], 1.0, 0.0)


# ------------------------------------------------------------------ host-side nodes


def _pool_args(op, shape) -> tuple:
    n = len(op.pool_size)
    spatial = shape[len(shape) - n - 1 : -1]
    pads = resolve_padding(op.padding, spatial, op.pool_size, op.strides, (1,) * n)
    return tuple(shape), tuple(op.pool_size), tuple(op.strides), pads


#: host-side op kind -> (numpy function, its static arguments given (op, input shape))
HOST_OPS: dict[str, tuple[Callable, Callable]] = {
    "nn.max_pool": (host_functions.max_pool, _pool_args),
    "nn.global_max_pool": (host_functions.global_max_pool, lambda op, s: (tuple(s), op.n_spatial)),
    "ann.softmax": (host_functions.softmax, lambda op, s: (tuple(s), op.axis)),
    "ann.elu": (host_functions.elu, lambda op, s: (op.alpha,)),
    "ann.selu": (host_functions.selu, lambda op, s: ()),
    "ann.softplus": (host_functions.softplus, lambda op, s: ()),
    "ann.softsign": (host_functions.softsign, lambda op, s: ()),
    "ann.swish": (host_functions.swish, lambda op, s: ()),
    "ann.gelu": (host_functions.gelu, lambda op, s: (op.approximate,)),
    "ann.exponential": (host_functions.exponential, lambda op, s: ()),
    "ann.hard_sigmoid": (host_functions.hard_sigmoid, lambda op, s: (op.slope, op.offset)),
}


def host_call_args(op: Op, shape) -> str:
    """The static arguments of a host op's function as source text (``", a, b"``), shared by
    the numpy Nodes here and nengo-dl's TensorNodes."""
    _, args_of = HOST_OPS[op.kind]
    return "".join(f", {a!r}" for a in args_of(op, shape))


@emitter(*HOST_OPS)
def emit_host_node(ctx: EmitContext, node, op, ins):
    """A ``nengo.Node`` running the op's numpy function on the host, one sample per call
    (not neuromorphic: a loihi target refuses these)."""
    (value,) = ins
    fn, _ = HOST_OPS[op.kind]
    out_shape = ctx.graph.type(node).shape
    out_size = int(np.prod(out_shape))
    args = host_call_args(op, value.shape)
    name = ctx.var(node)
    ctx.emit(
        f"{name} = nengo.Node(lambda t, x: {ctx.helper(fn)}(x{args}), size_in={value.size}, "
        f'size_out={out_size}, label="{node}")'
    )
    ctx.connect_value(value, name)
    ctx.note("host Node (numpy)")
    return ctx.object_value(name, out_shape)

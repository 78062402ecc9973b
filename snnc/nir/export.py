"""snnc IR -> NIR: :func:`to_nir` builds a ``nir.NIRGraph``, :func:`export_graph` writes it.

Each snnc node becomes one *primary* NIR node under the same name (``/`` replaced, as HDF5
forbids it), plus helper nodes named ``<node>.<role>`` where NIR needs several primitives
for one snnc op. The mapping, the continuous-time reading of snnc's discrete neurons and
what is refused are documented in :mod:`snnc.nir`. All problems of a graph are collected
and reported in one :class:`~snnc.nir.common.NIRExportError` naming every node.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnc.ir import Graph, neurons, ops
from snnc.ir import traits as T
from snnc.ir.ops import resolve_padding
from snnc.nir.common import (
    APPROXIMATIONS,
    HINT_FORMAT,
    HINT_KEY,
    NIRExportError,
    Refuse,
    dump_attrs,
    neuron_approximations,
    nir_key,
    parse_approximations,
)
from snnc.nir.layout import (
    conv_to_nir,
    dense_to_nir,
    depthwise_to_nir,
    flatten_perm,
    nir_shape,
    pool_counts,
    reduce_param,
    to_nir_array,
    ungroup,
)

log = logging.getLogger(__name__)

#: IF-like neurons: NIR ``IF`` (no leak, so no place for a bias: it moves upstream)
IF_LIKE = (neurons.IF, neurons.LoihiIF)
#: LIF-like neurons: NIR ``LIF`` (the bias is its ``v_leak``)
LIF_LIKE = (neurons.LIF, neurons.LoihiLIF)
#: ops whose NIR node has a bias an IF neuron's bias can fold into
_BIASED = (ops.Dense, ops.Conv1D, ops.Conv2D, ops.DepthwiseConv2D)

#: why NIR cannot hold an op (and what to do instead), by op class
_NO_EQUIVALENT = {
    ops.MaxPool: ("NIR has no max pooling", "use average pooling in the model"),
    ops.GlobalMaxPool: ("NIR has no max pooling", "use global average pooling in the model"),
    ops.Concat: ("NIR has no concatenation", None),
    ops.Reshape: ("NIR has no reshape (only Flatten)", None),
    ops.Transpose: ("NIR has no transpose", None),
    ops.Pad: ("NIR has no padding op (only padded convolutions and poolings)", None),
    ops.Crop: ("NIR has no cropping", None),
    ops.Upsample: ("NIR has no upsampling", None),
    ops.Conv3D: ("NIR has no 3-D convolution (Conv1d, Conv2d only)", None),
    ops.ConvTranspose2D: ("NIR has no transposed convolution", None),
    ops.BatchNorm: ("batch normalization is left in the graph", "run fold-batchnorm"),
    ops.Identity: ("an identity node is left in the graph", "run canonicalize"),
    ops.Quantize: (
        "NIR has no quantizer (quantized parameters export as their exact dequantized "
        "values; quantized activations cannot)",
        None,
    ),
}


@dataclass(frozen=True)
class _Val:
    """An snnc value in the NIR graph: the NIR node producing it, its snnc shape, and the
    permutation of a vector's elements (NIR order -> snnc index; see layout.flatten_perm)."""

    key: str
    shape: tuple[int, ...]
    perm: np.ndarray | None = None


def _same_perm(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def _f64(value, shape) -> np.ndarray:
    """A float64 array of NIR ``shape`` filled with ``value`` (Python floats stay exact)."""
    return np.full(shape, float(value), dtype=np.float64)


class _Exporter:
    """One export: emits the NIR nodes of each snnc node in topological order, tracking for
    each snnc value the NIR node that holds it (:class:`_Val`)."""

    def __init__(self, graph: Graph, allowed: frozenset[str], hints: bool):
        self.g = graph
        self.allowed = allowed
        self.hints = hints
        self.nodes: dict = {}
        self.edges: list[tuple[str, str]] = []
        self.taken: set[str] = set()
        self.vals: dict[str, _Val] = {}
        self.lowpass: dict[tuple[str, float], _Val] = {}
        #: linear node -> extra bias (bias / gain of the IF neuron it alone feeds), snnc layout
        self.fold: dict[str, np.ndarray] = {}
        self.problems: list[tuple[str, str, str, str | None]] = []
        # primary keys first, so that helper names never take a node's own name
        self.keys = {n: nir_key(n, self.taken) for n in graph.topo_order()}

    # ------------------------------------------------------------------ plumbing
    def run(self):
        import nir

        self._plan_bias_folds()
        for n in self.g.topo_order():
            op = self.g.op(n)
            try:
                self._emit(n, op)
            except Refuse as e:
                self.problems.append((n, op.kind, e.reason, e.hint))
                # a stand-in value, so that the nodes after this one are checked too and
                # every problem is reported at once (nothing is written after a problem)
                self.vals[n] = _Val(self.keys[n], self.g.type(n).shape)
        if self.problems:
            lines = [
                f"  - node %{n} ({kind}): {why}" + (f" ({hint})" if hint else "")
                for n, kind, why, hint in self.problems
            ]
            wanted = sorted(
                {a for _, _, why, _ in self.problems for a in APPROXIMATIONS if a in why}
            )
            raise NIRExportError(
                f"graph @{self.g.name}: cannot write {len(self.problems)} node(s) as NIR:\n"
                + "\n".join(lines),
                hint=(
                    f"allow the approximation(s) with approximate={wanted!r} "
                    f"(snnc export --approximate {','.join(wanted)}); "
                    if wanted
                    else ""
                )
                + "see `snnc.nir` for what NIR expresses",
            )
        meta = {"format": HINT_FORMAT, "name": self.g.name, "dt": float(self.g.dt)}
        try:
            return nir.NIRGraph(
                nodes=self.nodes,
                edges=self.edges,
                metadata={HINT_KEY: meta} if self.hints else {},
                type_check=True,
            )
        except (ValueError, AssertionError, KeyError, TypeError) as e:
            raise NIRExportError(
                f"graph @{self.g.name}: nir rejected the exported graph ({type(e).__name__}: {e})",
                hint="this is a bug in snnc's NIR export; please report it with the model",
            ) from e

    def _add(self, key: str, node, inputs=(), hint: dict | None = None) -> str:
        if self.hints and hint:
            node.metadata = {HINT_KEY: hint}
        self.nodes[key] = node
        for src in inputs:
            if (src, key) in self.edges:
                raise Refuse(
                    f"'{src}' would feed NIR node '{key}' twice (NIR edges are unique)",
                    "give the duplicated input a coefficient other than 1",
                )
            self.edges.append((src, key))
        return key

    def _aux(self, n: str, role: str) -> str:
        return nir_key(f"{n}.{role}", self.taken)

    def _primary_hint(self, n: str, op: ops.Op, **extra) -> dict:
        attrs = {k: v for k, v in op.attrs().items() if k != "quant"}
        hint = {"node": n, "op": op.kind, "attrs": dump_attrs(attrs)}
        if op.quant:
            # NIR has no bit widths: the values are the exact dequantized ones, the format
            # is kept here (informative for other tools, restored by snnc's importer)
            hint["quant"] = dump_attrs({name: str(dt) for name, dt in op.quant})
        hint.update(extra)
        return hint

    def _input(self, n: str, port: int = 0) -> _Val:
        """The value on input ``port`` of ``n``, through a NIR ``LI`` when the edge has a
        synapse (one LI per source and time constant, shared by its users)."""
        src, _, syn = self.g.in_edges(n)[port]
        v = self.vals[src]
        if syn is None:
            return v
        import nir

        cached = self.lowpass.get((src, syn))
        if cached is not None:
            return cached
        shape = nir_shape(v.shape)
        key = self._aux(src, "lowpass")
        # nengo's Lowpass(tau): tau dy/dt = x - y, NIR's LI: tau dv/dt = (v_leak - v) + R I
        li = nir.LI(tau=_f64(syn, shape), r=_f64(1.0, shape), v_leak=_f64(0.0, shape))
        self._add(key, li, [v.key], {"role": "synapse", "of": src})
        out = _Val(key, v.shape, v.perm)
        self.lowpass[(src, syn)] = out
        return out

    # ------------------------------------------------------------------ bias folding
    def _plan_bias_folds(self) -> None:
        """NIR's IF has no bias: ``dv/dt = R I``. An IF's ``J = gain x + bias`` becomes
        ``R (x + bias/gain)`` with ``R = gain``; the ``bias/gain`` joins the bias of the
        dense / conv node feeding it when that node feeds nothing else over a plain edge
        (else a bias node is inserted, see :meth:`_bias_node`)."""
        for n in self.g.topo_order():
            op = self.g.op(n)
            if not isinstance(op, IF_LIKE) or not np.any(op.bias):
                continue
            ((src, _, syn),) = self.g.in_edges(n)
            producer = self.g.op(src)
            if (
                syn is not None
                or not isinstance(producer, _BIASED)
                or self.g.users(src) != [(n, 0)]
            ):
                continue
            shape = self.g.type(n).shape
            try:
                extra = _bias_over_gain(op, shape)
            except Refuse:
                continue  # reported when the neuron itself is emitted
            if not isinstance(producer, ops.Dense):
                extra = reduce_param(extra)
                if extra.ndim > 1 or (extra.ndim == 1 and extra.shape != (shape[-1],)):
                    continue  # varies over space: a conv bias is per channel
                extra = np.broadcast_to(extra, (shape[-1],))
            elif len(shape) != 1:
                continue
            self.fold[src] = np.asarray(extra, np.float64)

    def _bias_node(self, n: str, v: _Val, bias: np.ndarray, hint_of: str) -> _Val:
        """Insert a node adding ``bias`` (snnc layout, broadcastable to ``v.shape``) to ``v``:
        ``Affine(I, b)`` on vectors, a 1x1 ``Conv`` with identity weights on images
        (per-channel bias only)."""
        import nir

        shape = v.shape
        key = self._aux(n, "bias")
        hint = {"role": "bias", "of": hint_of}
        if len(shape) == 1:
            b = to_nir_array(bias, shape, v.perm, np.float64)
            node = nir.Affine(weight=np.eye(shape[0], dtype=np.float32), bias=b)
        else:
            per_channel = reduce_param(np.broadcast_to(bias, shape))
            if per_channel.ndim > 1:
                raise Refuse(
                    f"its bias varies over the {list(shape[:-1])} positions of an image; NIR can "
                    "add it only per channel (a convolution bias)"
                )
            c, spatial = shape[-1], shape[:-1]
            b = np.ascontiguousarray(np.broadcast_to(per_channel, (c,)), dtype=np.float64)
            w = np.eye(c, dtype=np.float32).reshape(c, c, *([1] * len(spatial)))
            if len(spatial) == 1:
                node = nir.Conv1d(
                    input_shape=spatial[0],
                    weight=w,
                    stride=1,
                    padding=0,
                    dilation=1,
                    groups=1,
                    bias=b,
                )
            elif len(spatial) == 2:
                node = nir.Conv2d(
                    input_shape=tuple(spatial),
                    weight=w,
                    stride=(1, 1),
                    padding=(0, 0),
                    dilation=(1, 1),
                    groups=1,
                    bias=b,
                )
            else:
                raise Refuse(f"its bias needs a {len(spatial)}-D convolution; NIR has 1-D and 2-D")
        self._add(key, node, [v.key], hint)
        return _Val(key, shape, v.perm)

    # ------------------------------------------------------------------ ops
    def _emit(self, n: str, op: ops.Op) -> None:
        # exact classes first: Conv3D subclasses Conv2D, which is exported
        if type(op) in _NO_EQUIVALENT:
            raise Refuse(*_NO_EQUIVALENT[type(op)])
        if isinstance(op, ops.Input):
            return self._emit_input(n, op)
        if isinstance(op, ops.Output):
            return self._emit_output(n, op)
        if isinstance(op, ops.Dense):
            return self._emit_dense(n, op)
        if isinstance(op, (ops.Conv1D, ops.Conv2D, ops.DepthwiseConv2D)):
            return self._emit_conv(n, op)
        if isinstance(op, ops.AvgPool):
            return self._emit_avg_pool(n, op)
        if isinstance(op, ops.GlobalAvgPool):
            return self._emit_global_avg_pool(n, op)
        if isinstance(op, ops.Flatten):
            return self._emit_flatten(n, op)
        if isinstance(op, ops.Add):
            return self._emit_add(n, op)
        if isinstance(op, ops.Affine):
            return self._emit_affine(n, op)
        if op.has(T.Neuron):
            return self._emit_neuron(n, op)
        if op.has(T.Activation):
            raise Refuse(
                "an ANN activation is left in the graph",
                "lower the model to spiking neurons first (lower-activations)",
            )
        raise Refuse(f"NIR has no equivalent of {op.kind}")

    def _emit_input(self, n, op):
        import nir

        shape = self.g.type(n).shape
        key = self._add(
            self.keys[n],
            nir.Input(input_type={"input": np.array(nir_shape(shape))}),
            hint=self._primary_hint(n, op),
        )
        self.vals[n] = _Val(key, shape)

    def _emit_output(self, n, op):
        import nir

        v = self._input(n)
        if v.perm is not None:
            # a flattened image reaches the output: NIR's vector is in [C, H, W] order, the
            # model's in [H, W, C] order; a permutation matrix puts it back
            size = v.shape[0]
            order = np.zeros((size, size), dtype=np.float32)
            order[v.perm, np.arange(size)] = 1.0
            key = self._add(
                self._aux(n, "order"), nir.Linear(weight=order), [v.key], {"role": "order", "of": n}
            )
            v = _Val(key, v.shape)
        out = nir.Output(output_type={"output": np.array(nir_shape(v.shape))})
        self._add(self.keys[n], out, [v.key], self._primary_hint(n, op))
        self.vals[n] = _Val(self.keys[n], v.shape)

    def _emit_dense(self, n, op: ops.Dense):
        import nir

        v = self._input(n)
        if len(v.shape) != 1:
            raise Refuse(
                f"it applies to the last axis of a {list(v.shape)} value; NIR's Affine takes vectors",
                "flatten the value first",
            )
        weight = dense_to_nir(op.weight, v.perm)
        extra = self.fold.get(n)
        bias = None if op.bias is None else np.asarray(op.bias)
        hint = self._primary_hint(n, op, has_bias=int(op.bias is not None))
        if extra is not None:
            bias = extra + (0.0 if bias is None else bias.astype(np.float64))
            if op.bias is not None:
                hint["own_bias"] = _hint_array(op.bias)
        node = nir.Linear(weight=weight) if bias is None else nir.Affine(weight=weight, bias=bias)
        key = self._add(self.keys[n], node, [v.key], hint)
        self.vals[n] = _Val(key, self.g.type(n).shape)

    def _emit_conv(self, n, op):
        import nir

        v = self._input(n)
        ns = op.weight.ndim - 2
        if len(v.shape) != ns + 1:
            raise Refuse(
                f"its input {list(v.shape)} has leading axes besides {ns} spatial and "
                "one channel axis (TimeDistributed); NIR convolutions have none"
            )
        spatial, kernel = v.shape[:-1], op.weight.shape[:ns]
        strides, dilation = tuple(op.strides), tuple(op.dilation)
        padding = _nir_padding(op.padding, spatial, kernel, strides, dilation)
        if isinstance(op, ops.DepthwiseConv2D):
            weight = ungroup(depthwise_to_nir(op.weight), v.shape[-1])
        else:
            weight = ungroup(conv_to_nir(op.weight), op.groups)
        groups, cout = 1, weight.shape[0]
        bias = np.zeros(cout, np.float32) if op.bias is None else np.asarray(op.bias)
        hint = self._primary_hint(n, op, has_bias=int(op.bias is not None))
        if n in self.fold:
            bias = self.fold[n] + bias.astype(np.float64)
            if op.bias is not None:
                hint["own_bias"] = _hint_array(op.bias)
        if ns == 1:
            node = nir.Conv1d(
                input_shape=spatial[0],
                weight=weight,
                stride=strides[0],
                padding=padding if isinstance(padding, str) else padding[0],
                dilation=dilation[0],
                groups=groups,
                bias=bias,
            )
        else:
            node = nir.Conv2d(
                input_shape=tuple(spatial),
                weight=weight,
                stride=strides,
                padding=padding,
                dilation=dilation,
                groups=groups,
                bias=bias,
            )
        key = self._add(self.keys[n], node, [v.key], hint)
        self.vals[n] = _Val(key, self.g.type(n).shape)

    def _emit_avg_pool(self, n, op: ops.AvgPool):
        import nir

        if len(op.pool_size) != 2:
            raise Refuse(f"NIR pools in 2-D only (this pools over {len(op.pool_size)} axes)")
        v = self._input(n)
        if len(v.shape) != 3:
            raise Refuse(f"its input {list(v.shape)} is not one [H, W, C] image")
        spatial, kernel, strides = v.shape[:2], tuple(op.pool_size), tuple(op.strides)
        pads = resolve_padding(op.padding, spatial, kernel, strides, (1, 1))
        out_shape = self.g.type(n).shape
        if all(a == 0 and b == 0 for a, b in pads):
            node = nir.AvgPool2d(
                kernel_size=np.array(kernel), stride=np.array(strides), padding=np.array([0, 0])
            )
            key = self._add(self.keys[n], node, [v.key], self._primary_hint(n, op))
            self.vals[n] = _Val(key, out_shape)
            return
        if any(a != b for a, b in pads):
            raise Refuse(
                f"its padding {[list(p) for p in pads]} is asymmetric; NIR pads both sides equally"
            )
        # snnc (TensorFlow) averages over the real cells only; NIR's AvgPool2d divides by
        # the kernel area. SumPool2d then a Scale by 1/count per position is exact.
        node = nir.SumPool2d(
            kernel_size=np.array(kernel),
            stride=np.array(strides),
            padding=np.array([a for a, _ in pads]),
        )
        key = self._add(self.keys[n], node, [v.key], self._primary_hint(n, op))
        counts = pool_counts(spatial, kernel, strides, pads)
        scale = np.ascontiguousarray(np.broadcast_to(1.0 / counts, (out_shape[-1], *counts.shape)))
        count_key = self._add(
            self._aux(n, "count"), nir.Scale(scale=scale), [key], {"role": "count", "of": n}
        )
        self.vals[n] = _Val(count_key, out_shape)

    def _emit_global_avg_pool(self, n, op: ops.GlobalAvgPool):
        import nir

        v = self._input(n)
        if op.n_spatial != 2 or len(v.shape) != 3:
            raise Refuse(
                f"NIR pools in 2-D only (input {list(v.shape)}, {op.n_spatial} spatial axes)"
            )
        hw = np.array(v.shape[:2])
        node = nir.AvgPool2d(kernel_size=hw, stride=hw, padding=np.array([0, 0]))
        key = self._add(self.keys[n], node, [v.key], self._primary_hint(n, op))
        c = v.shape[-1]
        if not op.keepdims:
            flat = nir.Flatten(input_type={"input": np.array([c, 1, 1])}, start_dim=0, end_dim=-1)
            key = self._add(self._aux(n, "flatten"), flat, [key], {"role": "part", "of": n})
        self.vals[n] = _Val(key, self.g.type(n).shape)

    def _emit_flatten(self, n, op):
        import nir

        v = self._input(n)
        node = nir.Flatten(
            input_type={"input": np.array(nir_shape(v.shape))}, start_dim=0, end_dim=-1
        )
        key = self._add(self.keys[n], node, [v.key], self._primary_hint(n, op))
        perm = v.perm if len(v.shape) == 1 else flatten_perm(v.shape)
        self.vals[n] = _Val(key, self.g.type(n).shape, perm)

    def _emit_add(self, n, op: ops.Add):
        import nir

        # NIR sums the edges entering a node: a Scale(1) node is the sum, a Scale(c) on an
        # edge its coefficient
        ins = [self._input(n, p) for p in range(len(op.coeffs))]
        if any(not _same_perm(ins[0].perm, v.perm) for v in ins[1:]):
            raise Refuse("its inputs are vectors flattened in different orders")
        shape = nir_shape(ins[0].shape)
        sources = []
        for i, (v, c) in enumerate(zip(ins, op.coeffs, strict=True)):
            if c == 1.0:
                sources.append(v.key)
                continue
            coeff = nir.Scale(scale=_f64(c, shape))
            sources.append(
                self._add(
                    self._aux(n, f"coeff{i}"), coeff, [v.key], {"role": "coeff", "of": n, "port": i}
                )
            )
        key = self._add(
            self.keys[n], nir.Scale(scale=_f64(1.0, shape)), sources, self._primary_hint(n, op)
        )
        self.vals[n] = _Val(key, ins[0].shape, ins[0].perm)

    def _emit_affine(self, n, op: ops.Affine):
        import nir

        v = self._input(n)
        rank = len(v.shape)
        per_axis = any(np.ndim(getattr(op, p)) for p in op.params)
        if per_axis and op.axis % rank != rank - 1:
            raise Refuse(
                f"it scales along axis {op.axis} of {list(v.shape)}; NIR's Scale is "
                "elementwise and snnc keeps only per-channel (last axis) scales here"
            )
        scale = 1.0 if op.scale is None else op.scale
        node = nir.Scale(scale=to_nir_array(scale, v.shape, v.perm))
        hint = self._primary_hint(n, op, shapes=dump_attrs(_param_shapes(op)))
        offset = None if op.offset is None else np.asarray(op.offset)
        if offset is not None and np.any(offset):
            hint["bias"] = _hint_array(offset)
        key = self._add(self.keys[n], node, [v.key], hint)
        out = _Val(key, v.shape, v.perm)
        if offset is not None and np.any(offset):
            out = self._bias_node(n, out, offset.astype(np.float64), n)
        self.vals[n] = out

    def _emit_neuron(self, n, op: neurons.NeuronOp):
        import nir

        dtype = self.g.type(n).dtype
        if dtype.is_spike and dtype.bits:
            raise Refuse(
                f"it emits graded spikes ({dtype}: up to {2**dtype.bits - 1} per step); "
                "NIR's spikes are single events"
            )
        needed = neuron_approximations(op)
        if needed is None:
            what = "rate (non-spiking) neurons" if not op.spiking else f"a neuron like {op.kind}"
            raise Refuse(
                f"NIR has no {what} (its spiking neurons are IF, LIF and CubaLIF)",
                "lower to the if or lif neuron",
            )
        missing = [a for a in needed if a not in self.allowed]
        if missing:
            raise Refuse(
                "needs the approximation(s) "
                + "; ".join(f"{a}: {APPROXIMATIONS[a]}" for a in missing)
            )
        v = self._input(n)
        shape = v.shape
        nshape = nir_shape(shape)
        hint = self._primary_hint(n, op, shapes=dump_attrs(_param_shapes(op)))
        if isinstance(op, IF_LIKE):
            if np.any(op.bias):
                hint["bias"] = _hint_array(op.bias)
                if self.g.inputs_of(n)[0] not in self.fold:
                    v = self._bias_node(n, v, _bias_over_gain(op, shape), n)
            node = nir.IF(
                r=to_nir_array(op.gain, shape, v.perm),
                v_threshold=_f64(1.0, nshape),
                v_reset=_f64(0.0, nshape),
            )
        else:
            node = nir.LIF(
                tau=_f64(op.tau_rc, nshape),
                r=to_nir_array(op.gain, shape, v.perm),
                v_leak=to_nir_array(op.bias, shape, v.perm),
                v_threshold=_f64(1.0, nshape),
                v_reset=_f64(0.0, nshape),
            )
        key = self._add(self.keys[n], node, [v.key], hint)
        if op.amplitude != 1.0:
            # NIR spikes are unit impulses; snnc's carry `amplitude` (amplitude/dt per step)
            scale = nir.Scale(scale=_f64(op.amplitude, nshape))
            key = self._add(self._aux(n, "amplitude"), scale, [key], {"role": "amplitude", "of": n})
        self.vals[n] = _Val(key, shape, v.perm)


def _hint_array(a) -> np.ndarray:
    """An exact copy of a parameter for a hint; at least 1-D, as nir.write compresses every
    array and HDF5 cannot compress scalars (the hint's ``shapes`` keeps the real shape)."""
    return np.atleast_1d(np.array(a))


def _param_shapes(op: ops.Op) -> dict:
    return {p: list(np.shape(a)) for p, a in op.param_arrays().items()}


def _bias_over_gain(op, shape) -> np.ndarray:
    """``bias / gain`` in full snnc layout (float64): the input offset that gives an IF
    neuron its bias when the NIR IF multiplies its input by ``R = gain``."""
    gain = np.broadcast_to(np.asarray(op.gain, np.float64), shape)
    bias = np.broadcast_to(np.asarray(op.bias, np.float64), shape)
    if np.any((gain == 0) & (bias != 0)):
        raise Refuse(
            "a neuron with gain 0 and a bias is driven by its bias alone; NIR's IF "
            "(dv/dt = R I) cannot hold that"
        )
    return np.divide(bias, gain, out=np.zeros(shape), where=gain != 0)


def _nir_padding(padding, spatial, kernel, strides, dilation):
    """NIR's conv padding (symmetric ints per dim, or "same" as PyTorch: the extra cell after,
    like TensorFlow, stride 1 only) for snnc's padding; refuses other asymmetric pads."""
    pads = resolve_padding(padding, spatial, kernel, strides, dilation)
    if all(a == b for a, b in pads):
        return tuple(a for a, _ in pads)
    if all(s == 1 for s in strides) and pads == resolve_padding(
        "same", spatial, kernel, strides, dilation
    ):
        return "same"
    raise Refuse(
        f"its padding {[list(p) for p in pads]} is asymmetric with stride {list(strides)}; "
        "NIR pads both sides equally (or 'same' at stride 1)"
    )


def to_nir(graph: Graph, *, approximate=None, hints: bool = True):
    """Translate an snnc graph (SNN stage, or any graph of NIR-expressible ops) into a
    ``nir.NIRGraph`` whose types ``nir`` itself infers and checks.

    Args:
        graph: the graph; it is verified first.
        approximate: approximations to allow (names of :data:`~snnc.nir.APPROXIMATIONS`, a
            comma-separated string, or ``"all"``); without them such neurons are refused.
        hints: write snnc's ``metadata["snnc"]`` hints (node names, op kinds, attributes) that
            let :func:`snnc.nir.from_nir` rebuild this exact graph.

    Raises:
        NIRExportError: naming every node NIR cannot express, and why.
    """
    from snnc.ir import verify

    if not isinstance(graph, Graph):
        raise NIRExportError(
            f"to_nir takes an snnc.ir.Graph (got {type(graph).__name__})",
            hint="snnc.load(...) a model first",
        )
    verify(graph)
    return _Exporter(graph, parse_approximations(approximate), hints).run()


def export_graph(graph: Graph, path, *, approximate=None, hints: bool = True) -> Path:
    """Write ``graph`` as a NIR file (HDF5, ``nir.write``) at ``path``, atomically; returns the
    path. See :func:`to_nir` for the options and errors."""
    import io

    import nir

    from snnc.ir.serialize import atomic_write_bytes

    nir_graph = to_nir(graph, approximate=approximate, hints=hints)
    buf = io.BytesIO()
    nir.write(buf, nir_graph)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    log.info("wrote %s (%d NIR nodes, %d edges)", path, len(nir_graph.nodes), len(nir_graph.edges))
    return path


__all__ = ["export_graph", "to_nir"]

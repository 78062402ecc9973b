"""Chains of linear ops between two neuron layers, composed into one Loihi connection each.

On the chip, a neuron layer's input is the sum of its synapses: one ``nengo.Connection`` per
source layer, whose transform nengo-loihi turns into synapse weights. nengo-loihi accepts
``Dense``, ``Sparse`` and 2-D ``Convolution`` transforms between neurons, and only ``Dense``
from the chip to the host; a passthrough ``nengo.Node`` between two chip layers ("relay")
is merged away only when every transform around it is Dense ("Mergeable transforms must be
Dense"), and otherwise lands on the host. So here, at compile time, every chain of linear ops
(pooling, flatten/reshape, padding, concat, add, transposes, channel affines, dense, conv)
between a source neuron layer and the next neuron layer becomes *one* exact transform:

- a :class:`Chain` records the steps a source's values go through (each step is one input
  port of one linear op: a concat or add reads several chains, each through its own port);
- at a neuron, the chains are grouped by (source, synapse): a fan-in merge (concat, add,
  a residual connection) becomes one connection per source into the same ensemble, and
  two paths from the same source (``x + pool(x)``) sum into one transform;
- a group that is one convolution-like op (conv, grouped / 1-D conv, depthwise conv,
  average pooling without padding, transposed conv) with channel mixes before or after it
  (the on/off input decode, a per-channel scale, the post neuron's gain) becomes a
  ``nengo.Convolution`` with the composed kernel; anything else becomes the exact composed
  matrix (``Sparse``, ``Dense`` when full or when the chip reads out to the host).

The constants the ops add (biases, padding values) are tracked beside the chains and end in
the neuron's bias. The post neuron's gain is folded into the weights (nengo-loihi would do
the same, but for convolutions only when the gain is uniform), so ensembles get gain 1.
Matrices come from the interpreter's kernels (:mod:`snnc.codegen.linear`), so a chain
computes exactly what the IR does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse

from snnc.codegen.emit.naming import literal
from snnc.codegen.emit.native import native_conv_transpose_padding
from snnc.codegen.linear import index_map
from snnc.errors import CodegenError
from snnc.ir import ops
from snnc.ir import traits as T
from snnc.ir.interpreter import run_kernel
from snnc.ir.lexer import format_name
from snnc.ir.ops import Op, resolve_padding
from snnc.ir.types import TensorType

HOST, CHIP = "host", "chip"


@dataclass(frozen=True)
class Step:
    """Input ``port`` of the linear op ``op`` of IR node ``node`` (the other inputs zero)."""

    node: str
    op: Op
    in_shapes: tuple[tuple[int, ...], ...]
    port: int
    out_shape: tuple[int, ...]

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.in_shapes[self.port]


@dataclass(frozen=True, eq=False)
class Chain:
    """A source object's values seen through ``steps`` (one future connection).

    ``src`` is the Python variable of the nengo object (``conv1_act``: an ensemble's
    neurons, or an input Node), ``src_node`` its IR node, ``place`` where it runs.
    """

    src: str
    src_node: str
    src_shape: tuple[int, ...]
    place: str
    synapse: float | None = None
    steps: tuple[Step, ...] = ()

    @property
    def size(self) -> int:
        return int(np.prod(self.src_shape))

    @property
    def nodes(self) -> list[str]:
        """The IR nodes this chain passes (source first)."""
        return [self.src_node, *dict.fromkeys(s.node for s in self.steps)]


@dataclass(frozen=True, eq=False)
class LinearValue:
    """An IR node's value during emission: ``sum(chains) + const`` (flat, C order).

    ``filtered`` names the nodes where a nonzero constant went through a synapse (a
    constant current that ramps up: Loihi has no exact equivalent, refused at the neuron).
    """

    shape: tuple[int, ...]
    chains: tuple[Chain, ...] = ()
    const: np.ndarray | None = None
    filtered: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def with_shape(self, shape) -> LinearValue:
        return LinearValue(tuple(shape), self.chains, self.const, self.filtered)


def object_value(var: str, node: str, shape, place: str) -> LinearValue:
    """The value of a freshly made nengo object (an ensemble's neurons, an input Node)."""
    return LinearValue(tuple(shape), (Chain(var, node, tuple(shape), place),))


# =============================================================================== the algebra


def through_synapse(node: str, value: LinearValue, synapse: float | None) -> LinearValue:
    """``value`` read over an edge into ``node`` with ``synapse`` (a lowpass, or None)."""
    if synapse is None:
        return value
    chains = []
    for c in value.chains:
        if c.synapse is not None:
            raise CodegenError(
                f"%{format_name(node)}: the values of %{format_name(c.src_node)} pass two "
                f"synapses in series ({c.synapse:g} s and {synapse:g} s); a Loihi connection "
                "filters once",
                hint="keep one synapse per path between two neuron layers",
            )
        chains.append(Chain(c.src, c.src_node, c.src_shape, c.place, synapse, c.steps))
    filtered = value.filtered
    if value.const is not None and np.any(value.const):
        filtered = (*filtered, node)
    return LinearValue(value.shape, tuple(chains), value.const, filtered)


def apply_linear(
    node: str, op: Op, ins: list[LinearValue], in_shapes, out_shape, dt
) -> LinearValue:
    """The value of the linear op ``op`` (IR node ``node``) of the values ``ins``: every
    chain gets one more step; the constants go through the op's kernel (which also adds the
    op's own constant part, e.g. a bias or a padding value)."""
    in_shapes = tuple(tuple(s) for s in in_shapes)
    out_shape = tuple(out_shape)
    chains = [
        Chain(
            c.src,
            c.src_node,
            c.src_shape,
            c.place,
            c.synapse,
            (*c.steps, Step(node, op, in_shapes, p, out_shape)),
        )
        for p, v in enumerate(ins)
        for c in v.chains
    ]
    consts = [
        (v.const if v.const is not None else np.zeros(v.size)).reshape((1, *s))
        for v, s in zip(ins, in_shapes, strict=True)
    ]
    const = np.asarray(run_kernel(op, consts, dt, node), np.float64).reshape(-1)
    filtered = tuple(dict.fromkeys(n for v in ins for n in v.filtered))
    return LinearValue(out_shape, tuple(chains), const if np.any(const) else None, filtered)


# =============================================================================== matrices


def _probe(op: Op, in_shapes, port: int, dt: float) -> scipy.sparse.csr_matrix:
    """The exact matrix of input ``port`` of the linear op (other inputs zero), from its
    interpreter kernel run on basis vectors (in chunks, as :func:`~snnc.codegen.linear.op_matrix`)."""
    shapes = [tuple(s) for s in in_shapes]
    n = int(np.prod(shapes[port]))
    zeros = [np.zeros((1, *s)) for s in shapes]
    const = np.asarray(run_kernel(op, zeros, dt), np.float64).reshape(-1)
    m = const.size
    chunk = max(1, min(n, (1 << 22) // max(n, m, 1)))
    rows, cols, vals = [], [], []
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        basis = np.zeros((k, n))
        basis[np.arange(k), start + np.arange(k)] = 1.0
        xs = [np.zeros((k, *s)) for s in shapes]
        xs[port] = basis.reshape((k, *shapes[port]))
        y = np.asarray(run_kernel(op, xs, dt), np.float64).reshape(k, m) - const
        r, c = np.nonzero(y)
        rows.append(c)
        cols.append(start + r)
        vals.append(y[r, c])
    return scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, n)
    )


def step_matrix(step: Step, dt: float) -> scipy.sparse.csr_matrix:
    """The sparse ``(out_size, in_size)`` matrix of one step."""
    op = step.op
    n_in = int(np.prod(step.in_shape))
    n_out = int(np.prod(step.out_shape))
    if op.has(T.MovesValues):
        g, _ = index_map(op, list(step.in_shapes))
        offset = sum(int(np.prod(s)) for s in step.in_shapes[: step.port])
        rows = np.flatnonzero((g >= offset) & (g < offset + n_in))
        cols = g[rows] - offset
        return scipy.sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_out, n_in))
    if isinstance(op, ops.Add):
        return scipy.sparse.identity(n_in, format="csr") * float(op.coeffs[step.port])
    return _probe(op, step.in_shapes, step.port, dt)


class MatrixCache:
    """Step matrices, computed once per (node, port) and reused by every chain through it."""

    def __init__(self, dt: float):
        self.dt = dt
        self._cache: dict[tuple[str, int], scipy.sparse.csr_matrix] = {}

    def step(self, step: Step) -> scipy.sparse.csr_matrix:
        key = (step.node, step.port)
        if key not in self._cache:
            self._cache[key] = step_matrix(step, self.dt)
        return self._cache[key]

    def chain(self, chain: Chain) -> scipy.sparse.csr_matrix:
        """The ``(value size, source size)`` matrix of a whole chain."""
        m = scipy.sparse.identity(chain.size, format="csr")
        for s in chain.steps:
            m = self.step(s) @ m
        return m.tocsr()


# =============================================================================== convolutions


@dataclass
class ConvSpec:
    """A convolution that nengo-loihi builds on the chip (``nengo.Convolution`` or
    ``ConvolutionTranspose``), in channels-last layout: kernel ``[kh, kw, cin, cout]``."""

    kernel: np.ndarray
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    strides: tuple[int, int]
    padding: str
    transpose: bool = False
    what: list[str] = field(default_factory=list)


def _as_2d(shape) -> tuple[int, int, int] | None:
    """A rank-3 ``(h, w, c)`` shape, or a rank-2 sequence ``(n, c)`` seen as ``(n, 1, c)``."""
    if len(shape) == 3:
        return tuple(shape)
    if len(shape) == 2:
        return (shape[0], 1, shape[1])
    return None


def _conv_spec(step: Step) -> ConvSpec | None:
    """The convolution computing ``step`` exactly (one-input ops only), or None."""
    op, in_shape = step.op, step.in_shape
    if len(step.in_shapes) != 1:
        return None
    in3, out3 = _as_2d(in_shape), _as_2d(step.out_shape)
    if in3 is None or out3 is None or len(in_shape) != len(step.out_shape):
        return None
    one_d = len(in_shape) == 2
    if type(op) in (ops.Conv2D, ops.Conv1D) and op.n_spatial == len(in_shape) - 1:
        if any(d != 1 for d in op.dilation):
            return None
        w = np.asarray(op.weight, np.float64)
        if op.groups != 1:  # grouped: the full kernel, zero between groups
            kh = w.shape[: op.n_spatial]
            cin_g, cout = w.shape[-2:]
            full = np.zeros((*kh, cin_g * op.groups, cout))
            per = cout // op.groups
            for g in range(op.groups):
                full[..., g * cin_g : (g + 1) * cin_g, g * per : (g + 1) * per] = w[
                    ..., g * per : (g + 1) * per
                ]
            w = full
        padding = _padding_mode(op.padding, in_shape, w.shape[: op.n_spatial], op.strides)
        if padding is None:
            return None
        kernel = w[:, None] if one_d else w
        strides = (op.strides[0], 1) if one_d else tuple(op.strides)
        return ConvSpec(kernel, in3, out3, strides, padding)
    if isinstance(op, ops.DepthwiseConv2D) and len(in_shape) == 3:
        if any(d != 1 for d in op.dilation):
            return None
        w = np.asarray(op.weight, np.float64)  # [kh, kw, c, mult] -> out channel c*mult + j
        kh, kw, c, mult = w.shape
        full = np.zeros((kh, kw, c, c * mult))
        for ch in range(c):
            full[:, :, ch, ch * mult : (ch + 1) * mult] = w[:, :, ch, :]
        padding = _padding_mode(op.padding, in_shape, (kh, kw), op.strides)
        return None if padding is None else ConvSpec(full, in3, out3, tuple(op.strides), padding)
    if isinstance(op, ops.AvgPool) and len(op.pool_size) == len(in_shape) - 1:
        # a window mean is a convolution only where no window is padded (TensorFlow's mean
        # ignores padded cells, so border windows of "same" pooling divide by fewer)
        pads = resolve_padding(
            op.padding, in_shape[:-1], op.pool_size, op.strides, (1,) * len(op.pool_size)
        )
        if any(p != (0, 0) for p in pads):
            return None
        c = in_shape[-1]
        k = tuple(op.pool_size) if not one_d else (op.pool_size[0], 1)
        kernel = np.zeros((*k, c, c))
        kernel[:, :, np.arange(c), np.arange(c)] = 1.0 / float(np.prod(op.pool_size))
        strides = tuple(op.strides) if not one_d else (op.strides[0], 1)
        return ConvSpec(kernel, in3, out3, strides, "valid")
    if isinstance(op, ops.ConvTranspose2D) and len(in_shape) == 3:
        padding = native_conv_transpose_padding(
            op, TensorType(in_shape), TensorType(step.out_shape)
        )
        if padding is None:
            return None
        w = np.asarray(op.weight, np.float64)
        return ConvSpec(w, in3, out3, tuple(op.strides), padding, transpose=True)
    return None


def _padding_mode(padding, in_shape, kernel, strides) -> str | None:
    """``"valid"``/``"same"`` when nengo's convolution pads exactly like the IR, else None."""
    n = len(kernel)
    pads = resolve_padding(padding, in_shape[:-1], kernel, strides, (1,) * n)
    for mode in ("valid", "same"):  # (a 1-D conv's extra width-1 axis pads nothing)
        if pads == resolve_padding(mode, in_shape[:-1], kernel, strides, (1,) * n):
            return mode
    return None


def _channel_mix(step: Step) -> np.ndarray | None:
    """The ``(c_in, c_out)`` matrix of a step that mixes channels only (a dense on the last
    axis of an image, a per-channel affine, an add's coefficient), or None."""
    op, shape = step.op, step.in_shape
    if len(step.in_shapes) != 1 and not isinstance(op, ops.Add):
        return None
    c = shape[-1] if shape else 1
    if isinstance(op, ops.Add):
        return np.eye(c) * float(op.coeffs[step.port])
    if type(op) is ops.Dense and len(shape) >= 2:
        return np.asarray(op.weight, np.float64)
    if op.has(T.ChannelAffine) and len(shape) >= 1 and op.axis % len(shape) == len(shape) - 1:
        scale = op.scale_offset()[0] if isinstance(op, ops.BatchNorm) else op.scale
        return np.diag(np.broadcast_to(np.asarray(scale, np.float64), (c,)).copy())
    return None


def _flat_noop(step: Step) -> bool:
    """Reshape, flatten, identity: the flat values are unchanged."""
    return step.op.has(T.ShapeOnly) or isinstance(step.op, ops.Identity)


def conv_of(chain: Chain) -> ConvSpec | None:
    """The convolution (with its channel mixes folded in) that computes the whole chain, or
    None when the chain is not one convolution-like op between channel mixes."""
    pre, conv, post = [], None, []
    conv_step = None
    for s in chain.steps:
        if _flat_noop(s):
            continue
        if conv is None:
            spec = _conv_spec(s)
            if spec is not None:
                conv, conv_step = spec, s
                continue
        mix = _channel_mix(s)
        if mix is None:
            return None
        (pre if conv is None else post).append((s, mix))
    if conv is None:
        return None
    kernel = conv.kernel
    h, w, c = conv.in_shape
    for s, mix in reversed(pre):
        shape = _as_2d(s.out_shape)
        if shape is None or shape[:2] != (h, w) or mix.shape[1] != kernel.shape[2]:
            return None
        kernel = np.einsum("ab,hwbc->hwac", mix, kernel)
        conv.what.append(s.node)
    ho, wo, _ = conv.out_shape
    for s, mix in post:
        shape = _as_2d(s.in_shape)
        if shape is None or shape[:2] != (ho, wo) or mix.shape[0] != kernel.shape[3]:
            return None
        kernel = np.einsum("hwac,cd->hwad", kernel, mix)
        conv.what.append(s.node)
    conv.kernel = kernel
    conv.in_shape = (h, w, kernel.shape[2])
    conv.out_shape = (ho, wo, kernel.shape[3])
    if int(np.prod(conv.in_shape)) != chain.size:
        return None
    conv.what.insert(0, conv_step.node)
    return conv


# =============================================================================== transforms


@dataclass(frozen=True)
class Connection:
    """One composed connection: its source text pieces and what the report says."""

    chains: tuple[Chain, ...]
    transform: str | None  # source of the transform argument (None: identity)
    what: str
    nnz: int


def compose(
    b,
    node: str,
    chains: list[Chain],
    gain: np.ndarray,
    post_size: int,
    post_place: str,
    cache: MatrixCache,
) -> Connection | None:
    """The connection from the chains' common source into ``node`` (``post_size`` values
    on ``post_place``), with the post gain (flat) folded in; None when it is all zero.

    ``b`` is the :class:`~snnc.codegen.emit.NetworkBuilder` (weights go into its arrays).
    """
    src = chains[0]
    readout = src.place == CHIP and post_place == HOST  # nengo-loihi: Dense only
    if len(chains) == 1 and not readout:
        conv = conv_of(src)
        if conv is not None and int(np.prod(conv.out_shape)) == post_size:
            per_channel = gain.reshape(-1, conv.out_shape[-1])
            if np.all(per_channel == per_channel[0]):
                return _conv_connection(b, node, src, conv, per_channel[0])
    m = None
    for c in chains:
        cm = cache.chain(c)
        m = cm if m is None else m + cm
    m = (scipy.sparse.diags(gain) @ m).tocsr()
    m.eliminate_zeros()
    if m.nnz == 0:
        return None
    n_out, n_in = m.shape
    if readout or m.nnz == n_out * n_in:
        if not readout and m.nnz == n_in == n_out and _is_identity(m):
            return Connection(tuple(chains), None, "identity", m.nnz)
        init = b.weight(node, "weight", m.toarray())
        return Connection(
            tuple(chains), f"nengo.Dense(({n_out}, {n_in}), init={init})", "nengo.Dense", m.nnz
        )
    coo = m.tocoo()
    indices = b.weight(node, "indices", np.stack([coo.row, coo.col], axis=1).astype(np.int64))
    data = b.weight(node, "data", coo.data)
    return Connection(
        tuple(chains),
        f"nengo.Sparse(({n_out}, {n_in}), indices={indices}, init={data})",
        "nengo.Sparse",
        m.nnz,
    )


def _is_identity(m: scipy.sparse.csr_matrix) -> bool:
    coo = m.tocoo()
    return bool(np.all(coo.row == coo.col) and np.all(coo.data == 1.0))


def _conv_connection(b, node: str, chain: Chain, conv: ConvSpec, gain: np.ndarray) -> Connection:
    kernel = conv.kernel * gain
    init = b.weight(node, "kernel", kernel.astype(np.float64))
    common = (
        f"{kernel.shape[3]}, {literal(conv.in_shape)}, kernel_size={literal(kernel.shape[:2])}, "
        f"strides={literal(conv.strides)}, padding={literal(conv.padding)}"
    )
    if conv.transpose:
        source = f"nengo.transforms.ConvolutionTranspose({common}, output_shape={literal(conv.out_shape)}, init={init})"
        what = "nengo.transforms.ConvolutionTranspose"
    else:
        source = f"nengo.Convolution({common}, init={init})"
        what = "nengo.Convolution"
    nnz = int(np.count_nonzero(kernel))
    return Connection((chain,), source, what, nnz)

"""Loihi mode: the integer semantics of nengo-loihi's emulator (``target="sim"``) on the plan.

``Simulator(graph, mode="loihi")`` runs what ``nengo_loihi.Simulator(net, target="sim")``
runs for the network snnc's ``loihi`` target emits, in seconds instead of minutes:

Placement (the ops' ``place``, set by the ``legalize-loihi`` pass)
    Neurons placed on the host (the input spike encoders, or with ``input=host-layer`` the
    first layers) run in nengo's float semantics; chip neurons in the chip's integers;
    outputs and the readout ops are host values. A graph without placement is placed as
    nengo-loihi's Keras example: neurons fed by the inputs on the host, the others on chip.

Chip layers (one :class:`ChipLayer` instruction per chip neuron node)
    The linear ops between a chip neuron and the neurons feeding it are its synapses: one
    connection per source layer, composed as the codegen composes them
    (``codegen/loihi_compose.py``: a convolution with its channel mixes folded into the
    kernel, else the exact matrix, the post gain folded in). Weights, biases, thresholds and
    decays are discretised exactly as nengo-loihi 1.1 does it (``builder/discretize.py``,
    transcribed below with its dtypes: float32 compartment and synapse arrays, 8-bit weights
    with a per-synapse exponent, 12-bit decays, ``decay_magnitude`` input scaling, mantissa
    and exponent thresholds and biases). Each step, as the emulator's ``CompartmentState``:
    ``q = W @ spikes[t-1]`` (a spike is one event whatever its height; every chip input,
    from the host or the chip, arrives one step after it is sent), ``u = decay(u, du) + q``,
    ``v = decay(v, dv) + u + bias`` with 21/23-bit wrap-around, clipped to ``[vmin, vmax]``,
    zero while refractory, a spike when ``v > vth`` (then ``v = 0``). The integer arithmetic
    runs in float64 arrays holding exact integers (every value stays below 2**53).

Chip -> host (:class:`ChipToHost`)
    nengo-loihi sends the chip's spikes of step ``k`` to the host for step ``k + 1`` (the
    emulator's probe stamps them ``(k + 1) dt``; the host's receive node holds the first
    message for steps 1 and 2), so a host node reading a chip neuron at step ``k`` sees the
    chip's spikes of step ``max(k - 1, 1)``; the rest of the host connection (synapse,
    weights) is ordinary float arithmetic. An output reading chip neurons directly is a
    nengo Probe on them (as the codegen emits it), recorded on the chip without that delay.

Layers over several cores
    nengo-loihi splits a layer above one core's 1024 compartments into blocks (the
    ``BlockShape`` the ``loihi`` target chooses; ``blocks=``, from the manifest by
    :func:`snnc.sim.loihi_blocks`) and discretizes each block on its own: its compartments
    and the part of each synapse that reaches it (a dense connection's columns; a
    convolution's output channels and the kernel taps that reach the block), so each block
    has its own weight scale. :func:`discretize_blocks` does the same and assembles the
    integers into one matrix (or one kernel) per connection.

Not emulated (refused with a message): a layer above one core without its block shape, a
convolution whose blocks would need different integer kernels for one channel, two synapses
in series or different synapses on two paths from one source (the codegen refuses those
too), noise and learning (snnc emits neither).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, fields, replace

import numpy as np

from snnc.errors import SnncError
from snnc.ir import neurons, ops
from snnc.ir.interpreter import run_kernel
from snnc.ir.neurons import (  # Loihi's fixed-point ranges (nengo-loihi 1.1)
    BIAS_MAN_MAX,
    BIAS_MAX,
    DECAY_SCALE_TH,
    MAX_DECAY,
    Q_BITS,
    VTH_EXP,
    VTH_MAX,
    decay_magnitude,
)
from snnc.ir.ops import resolve_padding
from snnc.ir.traits import Neuron, ShapeOnly
from snnc.sim.plan import (
    Frame,
    Instr,
    Plan,
    cols_block,
    events_wanted,
    window_uses,
)

# nengo_loihi/builder/discretize.py and block.py (1.1.0)
MAX_COMPARTMENTS = 1024
#: the 8-bit "mixed" synapse format nengo-loihi uses (weight_bits=7 -> 8 bits, fanout 1)
SHIFT_BITS = 1


# =============================================================================== discretization


def discretize_weights(w: np.ndarray, weight_exp: int) -> np.ndarray:
    """nengo-loihi's ``discretize_weights`` (lossy two-part shift) for the 8-bit mixed
    format: ``w`` already scaled to about +-255; returns the chip's integer weights."""
    m = 2 ** (8 - SHIFT_BITS) - 1
    wi = np.round(w / 2.0**SHIFT_BITS).clip(-m, m).astype(np.int32)
    s2 = SHIFT_BITS + weight_exp
    if s2 < 0:  # round before the right shift, as the chip's two-part shift loses these bits
        wi = (np.round(wi * 2.0**s2) / 2**s2).clip(-m, m).astype(np.int32)
        wi = np.right_shift(wi, -s2)
    else:
        wi = np.left_shift(wi, s2)
    return np.left_shift(wi, 6)


@dataclass
class Compartments:
    """A chip layer's compartment parameters before discretization (float32, as nengo-loihi's
    ``Compartment``) and after (integers)."""

    decay_u: np.ndarray
    decay_v: np.ndarray
    vth: np.ndarray
    bias: np.ndarray
    refract: np.ndarray
    scale_u: bool
    scale_v: bool
    vmin: float = 0.0
    vmax: float = np.inf


def discretize(comp: Compartments, weights: list[np.ndarray], maxima=None):
    """nengo-loihi's ``discretize_block``: the integer compartment parameters and synapse
    weights of one block (one core), from its float32 ``weights`` (``(in, out)`` each).
    ``maxima`` (one per weight array) replaces ``max |w|`` where a block's synapse holds
    only part of an array (a convolution kernel's taps that reach the block).

    Returns ``(du, dv, vth, bias, vmin, vmax, int_weights)``.
    """
    if maxima is None:
        maxima = [np.abs(w).max() if w.size else -np.inf for w in weights]
    w_maxs = list(maxima)
    w_max = max(w_maxs) if w_maxs else 0
    du = np.round(np.clip(comp.decay_u * MAX_DECAY - 1, 0, MAX_DECAY)).astype(np.int32)
    dv = np.round(comp.decay_v * MAX_DECAY).astype(np.int32)
    u_infactor = (
        1.0 / decay_magnitude(du, x0=2097152, offset=1) if comp.scale_u else np.ones(du.shape)
    )
    v_infactor = 1.0 / decay_magnitude(dv, x0=2097152) if comp.scale_v else np.ones(dv.shape)
    vth_max = VTH_MAX
    b_max = np.abs(comp.bias).max()
    w_exp = 0
    if w_max > 1e-8:
        w_scale = 255.0 / w_max
        s_scale = 1.0 / (u_infactor * v_infactor)
        for w_exp in range(0, -8, -1):
            v_scale = s_scale * w_scale * 2 ** (6 + w_exp)
            b_scale = v_scale * v_infactor
            vth = np.round(comp.vth * v_scale)
            bias = np.round(comp.bias * b_scale)
            if (vth <= vth_max).all() and (np.abs(bias) <= BIAS_MAX).all():
                break
        else:
            raise SnncError("loihi mode: no weight exponent fits the thresholds and biases")
    elif b_max > 1e-8:
        b_scale = BIAS_MAX / b_max
        while b_scale * b_max > 1:
            v_scale = b_scale / v_infactor
            w_scale = b_scale * u_infactor / 2 ** (6 + w_exp)
            vth = np.round(comp.vth * v_scale)
            bias = np.round(comp.bias * b_scale)
            if np.all(vth <= vth_max):
                break
            b_scale /= 2.0
        else:
            raise SnncError("loihi mode: no bias scaling fits the thresholds")
    else:
        vth_max = min(vth_max, 2**Q_BITS - 1)
        v_scale = np.array([vth_max / (comp.vth.max() + 1)])
        vth = np.round(comp.vth * v_scale)
        b_scale = v_scale * v_infactor
        bias = np.round(comp.bias * b_scale)
        w_scale = v_scale * v_infactor * u_infactor / 2 ** (6 + w_exp)
    vth_int = np.round(vth / 2**VTH_EXP).astype(np.int32) * 2**VTH_EXP
    r = np.maximum(np.abs(bias) / BIAS_MAN_MAX, 1)
    b_exp = np.ceil(np.log2(r)).astype(np.int32)
    bias_int = np.round(bias / 2**b_exp).astype(np.int32) * 2**b_exp
    v_scale = np.atleast_1d(v_scale)
    if not (v_scale[0] == v_scale).all():
        raise SnncError("loihi mode: per-neuron voltage scales are not supported")
    vmin = v_scale[0] * comp.vmin
    vmax = v_scale[0] * comp.vmax
    vmine = np.clip(np.round(np.log2(-vmin + 1)), 0, 2**5 - 1)
    vmaxe = np.clip(np.round((np.log2(vmax + 1) - 9) * 0.5), 0, 2**3 - 1)
    int_weights = []
    for w, w_max_i in zip(weights, w_maxs, strict=True):
        if w_max_i > 1e-16:
            dw_exp = int(np.floor(np.log2(w_max / w_max_i)))
            w_exp2 = max(w_exp - dw_exp, -6)
        else:
            w_exp2 = -6
            dw_exp = w_exp - w_exp2
        # float32 * float64 scalar stays float32 in NumPy 1.x, as in nengo-loihi
        int_weights.append(discretize_weights(w * w_scale * 2**dw_exp, w_exp2))
    return du, dv, vth_int, bias_int, -(2**vmine) + 1, 2 ** (9 + 2 * vmaxe) - 1, int_weights


def block_indices(block: tuple[int, ...] | None, shape: tuple[int, ...]) -> list[np.ndarray]:
    """The flat neuron indices of each core's block, as nengo-loihi's ``split_block`` cuts a
    layer of ``shape`` into tiles of ``block`` (C order, tiles in order); one block of all
    neurons when ``block`` is None."""
    full = np.arange(math.prod(shape)).reshape(shape)
    if block is None:
        return [full.reshape(-1)]
    starts = [range(0, n, b) for n, b in zip(shape, block, strict=True)]
    out = []
    for corner in itertools.product(*starts):
        sl = tuple(slice(c, min(c + b, n)) for c, b, n in zip(corner, block, shape, strict=True))
        out.append(full[sl].reshape(-1))
    return out


def check_blocks(graph, blocks) -> dict[str, tuple[int, ...]]:
    """``blocks`` (node -> block shape) checked against ``graph``: known nodes, shapes of
    positive integers of the node's rank."""
    out: dict[str, tuple[int, ...]] = {}
    for node, block in (blocks or {}).items():
        if node not in graph:
            raise SnncError(f"loihi mode: blocks names '{node}', which is not a node of @{graph.name}")
        rank = len(graph.type(node).shape)
        try:
            shape = tuple(int(d) for d in block)
        except (TypeError, ValueError):
            shape = ()
        if len(shape) != rank or min(shape, default=0) < 1:
            raise SnncError(
                f"loihi mode: the block shape of '{node}' must be {rank} positive integers "
                f"(got {block!r})"
            )
        out[node] = shape
    return out


def loihi_blocks(manifest: dict) -> dict[str, tuple[int, ...]]:
    """The block shapes of the chip layers a ``loihi`` compile split over several cores,
    from its manifest (``Compiled.manifest``): the ``blocks=`` of a Loihi-mode simulation."""
    loihi = manifest.get("loihi") if isinstance(manifest, dict) else None
    layers = loihi.get("layers") if isinstance(loihi, dict) else None
    out = {}
    for r in layers if isinstance(layers, list) else []:
        # a manifest is a file: entries of another shape are skipped, and LoihiPlan checks
        # the block shapes it is given against the graph
        if not isinstance(r, dict) or not isinstance(r.get("node"), str):
            continue
        shape, count = r.get("block_shape"), r.get("blocks")
        if isinstance(shape, list) and isinstance(count, int) and count > 1:
            out[r["node"]] = tuple(shape)
    return out


def _taps_reaching(inp: _Input, idx: np.ndarray) -> np.ndarray:
    """``(kh, kw)``: which kernel taps of convolution ``inp`` connect some input pixel to
    one of the output neurons ``idx`` (a block's synapse holds only those weights)."""
    sy, sx, _, _, pt, pl = inp.conv
    h, w, _ = inp.in4
    oy, ox, _ = np.unravel_index(idx, inp.out4)
    kh, kw = inp.w.shape[:2]
    ys = np.unique(oy)[:, None] * sy - pt + np.arange(kh)[None, :]  # (rows, kh)
    xs = np.unique(ox)[:, None] * sx - pl + np.arange(kw)[None, :]
    return np.any((ys >= 0) & (ys < h), axis=0)[:, None] & np.any((xs >= 0) & (xs < w), axis=0)


def discretize_blocks(comp: Compartments, inputs: list[_Input], blocks: list[np.ndarray]):
    """:func:`discretize` per core, as nengo-loihi discretizes a layer split into ``blocks``:
    each block from its own compartments and the weights of its synapses (dense: its
    columns; a convolution: its output channels, the taps that reach it). The results are
    assembled into whole-layer arrays; a convolution needs every block of a channel to
    arrive at the same integer kernel (one kernel is run), else the layer is refused."""
    n = len(comp.bias)
    per_neuron = {k: np.empty(n, np.int64) for k in ("du", "dv", "vth", "bias")}
    ints = [np.zeros(inp.w.shape, np.int64) for inp in inputs]
    kernel_set = [np.zeros(inp.w.shape[-1], bool) for inp in inputs]  # conv channels done
    limits = set()
    arrays = [f.name for f in fields(comp) if isinstance(getattr(comp, f.name), np.ndarray)]
    for idx in blocks:
        sub = replace(comp, **{name: getattr(comp, name)[idx] for name in arrays})
        weights, maxima, chans = [], [], []
        for inp in inputs:
            if inp.conv is None:
                w = inp.w[:, idx]
                weights.append(w)
                maxima.append(np.abs(w).max() if w.size else -np.inf)
                chans.append(None)
            else:
                c = np.unique(np.unravel_index(idx, inp.out4)[2])
                kern = inp.w[..., c]
                reach = _taps_reaching(inp, idx)
                weights.append(kern)
                maxima.append(np.abs(kern[reach]).max() if reach.any() else -np.inf)
                chans.append(c)
        du, dv, vth, bias, vmin, vmax, w_ints = discretize(sub, weights, maxima)
        limits.add((float(vmin), float(vmax)))
        for k, v in zip(("du", "dv", "vth", "bias"), (du, dv, vth, bias), strict=True):
            per_neuron[k][idx] = v
        for j, (w_int, c) in enumerate(zip(w_ints, chans, strict=True)):
            if c is None:
                ints[j][:, idx] = w_int
                continue
            seen = kernel_set[j][c]
            if np.any(ints[j][..., c[seen]] != w_int[..., seen]):
                raise SnncError(
                    "loihi mode: the blocks of a convolutional layer discretize its kernel "
                    "differently (one integer kernel per block is not emulated)"
                )
            ints[j][..., c] = w_int
            kernel_set[j][c] = True
    if len(limits) != 1:
        raise SnncError("loihi mode: the blocks of a layer get different voltage limits")
    ((vmin, vmax),) = limits
    p = per_neuron
    return p["du"], p["dv"], p["vth"], p["bias"], vmin, vmax, ints


def _relu_compartments(op, n, dt):
    """nengo-loihi's ``configure_relu`` (``LoihiSpikingRectifiedLinear``): vth = 1/dt."""
    return dict(decay_v=0.0, vth=1.0 / dt, refract=round(0.0 / dt) + 1, scale_v=False, vmin=0)


def _lif_compartments(op, n, dt):
    """nengo-loihi's ``configure_lif`` (``LoihiLIF``: min_voltage 0)."""
    decay_v = -(np.expm1(-dt / np.asarray(op.tau_rc)))
    scale_v = bool(np.all(np.float32(decay_v) > DECAY_SCALE_TH))
    if not scale_v:
        raise SnncError("loihi mode: tau_rc too large for Loihi's voltage scaling")
    return dict(
        decay_v=decay_v, vth=1.0, refract=np.round(op.tau_ref / dt) + 1, scale_v=scale_v, vmin=0
    )


#: neuron class -> how nengo-loihi configures its compartments (keyed by class, not kind)
COMPARTMENTS = {neurons.LoihiIF: _relu_compartments, neurons.LoihiLIF: _lif_compartments}


# =============================================================================== connections


@dataclass
class _Input:
    """One connection into a chip layer (one nengo-loihi ``Synapse``): the spikes of
    ``src`` (``size`` neurons) times integer weights, a dense ``(size, n_out)`` matrix or a
    convolution kernel ``(kh, kw, c, o)`` with its geometry."""

    src: str
    size: int
    tau: float | None
    w: np.ndarray  # float32 weights as nengo-loihi stores them; then float64 integers
    conv: tuple | None = None  # (sy, sx, dy, dx, pt, pl) for im2col
    in4: tuple = ()
    out4: tuple = ()
    cols: tuple = ()
    uses: float = 1.0  # windows (dense: rows) a non-zero input is used in (event-driven cost)
    fanout: float = 0.0  # multiply-adds per input spike (event-driven cost)
    row_macs: int = 0  # multiply-adds per sample-step (GEMM cost)
    block: int = 1  # im2col rows per GEMM


def _conv_of(g, path: list[str]):
    """The convolution computing a linear ``path`` (source first) with its channel mixes
    folded into the kernel, as the codegen composes it (``loihi_compose.conv_of``):
    ``(kernel (kh, kw, cin, cout), in3, out3, strides, padding)`` or None."""
    pre, conv, post = [], None, []
    for node in path:
        op = g.op(node)
        in_shape = g.in_types(node)[0].shape
        if op.has(ShapeOnly):
            continue
        if conv is None and type(op) is ops.Conv2D:
            if (
                op.groups != 1
                or tuple(op.dilation) != (1, 1)
                or op.padding not in ("valid", "same")
            ):
                return None
            conv = (node, op)
            continue
        if type(op) is ops.Dense and len(in_shape) >= 2 and op.bias is None:
            (pre if conv is None else post).append(np.asarray(op.weight, np.float64))
            continue
        return None
    if conv is None:
        return None
    node, op = conv
    kernel = np.asarray(op.weight, np.float64)
    for mix in reversed(pre):
        kernel = np.einsum("ab,hwbc->hwac", mix, kernel)
    for mix in post:
        kernel = np.einsum("hwac,cd->hwad", kernel, mix)
    in3 = g.in_types(node)[0].shape
    in3 = (*in3[:2], kernel.shape[2])
    out3 = (*g.type(node).shape[:2], kernel.shape[3])
    return kernel, in3, out3, tuple(op.strides), op.padding


class ChipLayer(Instr):
    """A chip neuron layer: integer synaptic input, current and voltage (see the module
    docstring); its value is ``amplitude / dt`` per spike, like a neuron's in the float plan."""

    def __init__(self, plan: LoihiPlan, node: str):
        g = plan.graph
        op = g.op(node)
        dt = plan.dt
        self.node = node
        self.kernels = plan.kernels
        self.event = plan.event if plan.kernels.name == "numba" else "never"
        shape = g.type(node).shape
        n = math.prod(shape)
        blocks = block_indices(plan.blocks.get(node), shape)
        if max(len(b) for b in blocks) > MAX_COMPARTMENTS:
            raise SnncError(
                f"loihi mode: '{node}' has {n} neurons, more than a core's {MAX_COMPARTMENTS}: "
                "nengo-loihi splits it into blocks discretised separately; give its block "
                "shape (blocks={node: shape}; a compiled artifact's manifest lists them under "
                "loihi.layers)"
            )
        cfg = COMPARTMENTS.get(type(op))
        if cfg is None:
            raise SnncError(
                f"loihi mode: '{node}' is {type(op).__name__}, which cannot run on the chip "
                "(lower to loihi-if or loihi-lif)"
            )
        gain = np.broadcast_to(np.asarray(op.gain, np.float64), shape).reshape(-1)
        bias = np.broadcast_to(np.asarray(op.bias, np.float64), shape).reshape(-1)
        const = plan.chip_const(node)
        if np.any(const):  # the connections' constants fold into the bias (as the codegen)
            bias = bias + gain * const
        self.inputs = [
            self._connection(plan, node, src, tau, gain, dt) for src, tau in plan.chip[node]
        ]
        c = cfg(op, n, dt)
        # configure_filter: no synapse is tau_s = 0 (decay 1); with several connections the
        # largest time constant wins, as nengo-loihi's
        tau = max((i.tau or 0.0) for i in self.inputs)
        decay_u = 1.0 if tau == 0 else float(-(np.expm1(-dt / np.asarray(tau))))
        comp = Compartments(
            decay_u=np.full(n, decay_u, np.float32),
            decay_v=np.full(n, c["decay_v"], np.float32),
            vth=np.full(n, c["vth"], np.float32),
            bias=bias.astype(np.float32),
            refract=np.full(n, c["refract"], np.int32),
            scale_u=decay_u > DECAY_SCALE_TH,
            scale_v=c["scale_v"],
            vmin=c["vmin"],
        )
        if not comp.scale_u:
            raise SnncError(f"loihi mode: synapse tau {tau} too large for Loihi's current scaling")
        if len(blocks) == 1:
            du, dv, vth, bias_int, vmin, vmax, w_ints = discretize(comp, [i.w for i in self.inputs])
        else:
            du, dv, vth, bias_int, vmin, vmax, w_ints = discretize_blocks(comp, self.inputs, blocks)
        # the synaptic sums are integers: float32 holds them exactly below 2**24 (twice the
        # GEMM rate of float64); a layer whose worst-case sum could exceed that uses float64
        worst = sum(
            float(np.abs(w).max(initial=0)) * (math.prod(i.cols[2:]) if i.conv else i.size)
            for i, w in zip(self.inputs, w_ints, strict=True)
        )
        self.qdtype = np.float32 if worst < 2**24 else np.float64
        for inp, w_int in zip(self.inputs, w_ints, strict=True):
            inp.w = w_int.astype(self.qdtype).reshape(inp.w.shape)
        self.n = n
        self.du_r = (4096 - 1 - du).astype(np.int64)  # decay_int(x, du, offset=1)
        self.dv_r = (4096 - dv).astype(np.int64)
        self.vth, self.bias = vth.astype(np.int64), bias_int.astype(np.int64)
        self.vmin, self.vmax = int(vmin), int(vmax)
        self.refract = comp.refract.astype(np.int64)
        self.scale = op.amplitude / dt
        self.discretized = dict(
            du=du, dv=dv, vth=vth, bias=bias_int, weights=w_ints, vmin=vmin, vmax=vmax
        )
        self.state = {f"{node}:{k}": (n,) for k in ("current", "voltage", "refractory")}
        self.scratch = {f"{node}:q": n, f"{node}:u": n}
        self.fixed = {}
        for i, inp in enumerate(self.inputs):
            self.state[f"{node}:last{i}"] = (inp.size,)
            self.scratch[f"{node}:s{i}"] = inp.size
            if inp.conv is not None:
                inp.block = cols_block(inp.cols, 8)
                self.fixed[f"{node}:cols{i}"] = inp.block * math.prod(inp.cols)

    @staticmethod
    def _connection(plan: LoihiPlan, node: str, src: str, tau, gain, dt) -> _Input:
        """The float32 synapse weights nengo-loihi stores for the connection ``src -> node``:
        the codegen's composed transform with the post gain folded in (``loihi_compose``),
        then nengo-loihi's builder arithmetic (``/ dt * amplitude``, times the ensemble gain
        of 1)."""
        g = plan.graph
        amp = g.op(src).amplitude
        size = math.prod(g.type(src).shape)
        path = plan.chip_paths[node, src]
        conv = _conv_of(g, path) if path is not None else None
        if conv is not None:
            kernel, in3, out3, strides, padding = conv
            per_channel = gain.reshape(-1, out3[-1])
            if np.all(per_channel == per_channel[0]) and math.prod(in3) == size:
                kernel = kernel * per_channel[0]  # codegen: kernel * gain
                kernel = kernel / dt * amp * 1.0  # build_conv2d_connection (gain[0] = 1)
                w32 = kernel.astype(np.float64).astype(np.float32)
                kh, kw, cin, cout = w32.shape
                pads = resolve_padding(padding, in3[:2], (kh, kw), strides, (1, 1))
                geometry = (strides[0], strides[1], 1, 1, pads[0][0], pads[1][0])
                uses = window_uses(in3[:2], out3[:2], (kh, kw), strides, (1, 1), geometry[4:])
                return _Input(
                    src,
                    size,
                    tau,
                    w32,
                    geometry,
                    in4=in3,
                    out4=out3,
                    cols=(*out3[:2], kh, kw, cin),
                    uses=uses,
                    fanout=uses * cout,
                    row_macs=out3[0] * out3[1] * kh * kw * cin * cout,
                )
        # any other chain: its exact matrix (as the codegen's Dense / Sparse transform)
        m = plan.chip_matrix(node, src)  # (n_out, n_in)
        m = gain[:, None] * m  # codegen: diags(gain) @ m
        weights = m * (1.0 / dt)  # build_full_chip_connection
        weights = weights * amp
        loihi = weights.astype(np.float64).T * 1.0  # .T, times the ensemble gain of 1
        w32 = loihi.astype(np.float32)
        return _Input(src, size, tau, w32, fanout=w32.shape[1], row_macs=w32.size)

    def run(self, fr: Frame) -> None:
        n, rows, k = fr.n, fr.rows, self.kernels
        q = fr.scratch(f"{self.node}:q", (n * rows, self.n), self.qdtype)
        for i, inp in enumerate(self.inputs):
            x = fr.over_time(inp.src).reshape(n, rows, inp.size)
            # a spike is one event whatever its height; inputs arrive a step after they leave
            s = fr.scratch(f"{self.node}:s{i}", (n, rows, inp.size), self.qdtype)
            last = fr.rows_of(f"{self.node}:last{i}")
            s[0] = last
            np.not_equal(x[: n - 1], 0, out=s[1:], casting="unsafe")
            np.not_equal(x[n - 1], 0, out=last, casting="unsafe")
            dst = q if i == 0 else fr.scratch(f"{self.node}:u", (n * rows, self.n), self.qdtype)
            self._synapse(fr, inp, i, s, dst)
            if i:
                q += dst
        out = fr.view(self.node).reshape(n, rows * self.n)
        k.loihi_compartments(
            q.reshape(n, rows * self.n),
            fr.rows_of(f"{self.node}:current").reshape(-1),
            fr.rows_of(f"{self.node}:voltage").reshape(-1),
            fr.rows_of(f"{self.node}:refractory").reshape(-1),
            self.du_r,
            self.dv_r,
            self.bias,
            self.vth,
            self.vmin,
            self.vmax,
            self.refract,
            out,
            self.scale,
        )

    def _synapse(self, fr: Frame, inp: _Input, i: int, s: np.ndarray, q: np.ndarray) -> None:
        """``q = spikes @ weights`` (exact: integers in float64), GEMM or event-driven."""
        k = self.kernels
        events = events_wanted(self.event, k, s, inp.size, inp.uses, inp.fanout, inp.row_macs)
        fr.modes.setdefault(self.node, [0, 0])[0 if events else 1] += 1
        r = s.shape[0] * s.shape[1]
        if inp.conv is None:
            s2 = s.reshape(r, inp.size)
            if events:
                k.gather_dense(s2, inp.w, q)
            else:
                k.gemm(s2, inp.w, q)
            return
        s4, q4 = s.reshape((r, *inp.in4)), q.reshape((r, *inp.out4))
        if events:
            k.gather_conv2d(s4, inp.w, q4, *inp.conv)
        else:
            buf = fr.buffers[f"{self.node}:cols{i}"].view(self.qdtype)
            w2 = inp.w.reshape(-1, inp.w.shape[-1])
            k.conv_gemm(s4, w2, q4, buf, inp.block, *inp.cols[2:4], *inp.conv)


class ChipToHost(Instr):
    """The host's view of a chip neuron: its spikes of step ``max(k - 1, 1)`` at step ``k``."""

    def __init__(self, plan: LoihiPlan, key: str, src: str):
        self.node, self.src = key, src
        self.size = math.prod(plan.shapes[src])
        self.state = {key: (self.size,)}
        self.scratch = {}

    def run(self, fr: Frame) -> None:
        n, rows = fr.n, fr.rows
        x = fr.view(self.src).reshape(n, rows, self.size)
        out = fr.view(self.node).reshape(n, rows, self.size)
        prev = fr.rows_of(self.node)
        out[1:] = x[:-1]
        out[0] = x[0] if fr.t0 == 0 else prev
        prev[...] = x[n - 1]


# =============================================================================== the plan


class LoihiPlan(Plan):
    """A :class:`~snnc.sim.plan.Plan` whose chip neurons are :class:`ChipLayer`\\ s, fed by
    the spikes of the neurons before them (the linear ops between, the chip's synapses, are
    absorbed), and whose host nodes read chip neurons through :class:`ChipToHost` (see the
    module docstring)."""

    def __init__(self, graph, *, blocks=None, **options):
        #: chip neuron node -> its block shape (nengo_loihi.BlockShape), for layers split
        #: over several cores
        self.blocks = check_blocks(graph, blocks)
        super().__init__(graph, **options)

    def _prepare(self) -> None:
        g = self.graph
        #: chip neuron -> [(source neuron, synapse)], one per connection
        self.chip: dict[str, list[tuple[str, float | None]]] = {}
        #: (chip neuron, source) -> the linear nodes of its single path (None: several)
        self.chip_paths: dict[tuple[str, str], list[str] | None] = {}
        #: chip neuron -> the linear nodes feeding it (absorbed)
        self._inside: dict[str, list[str]] = {}
        placed = any(getattr(g.op(n), "place", None) for n in self.order)
        for n in self.order:
            op = g.op(n)
            if not ops.is_spiking(op):
                continue
            inside, sources = self._feeders(n)
            fed_by_inputs = any(not ops.is_spiking(g.op(s)) for s in sources)
            place = getattr(op, "place", None)
            if placed and place is None:
                raise SnncError(f"loihi mode: '{n}' has no placement (run legalize-loihi)")
            on_chip = place == "chip" if placed else not fed_by_inputs
            if not on_chip:
                continue  # a host neuron: nengo's float semantics
            if fed_by_inputs:
                raise SnncError(
                    f"loihi mode: chip neuron '{n}' is fed by the host's values, not spikes"
                )
            self._inside[n] = inside
            self.absorbed.update(inside)
            self.chip[n] = self._connections(n, inside, sources)
        if not self.chip:
            raise SnncError(
                f"loihi mode: no neuron of @{g.name} runs on the chip (nothing to emulate)",
                hint="place the graph with legalize-loihi (the loihi target's pipeline)",
            )
        # host nodes read chip neurons one step late; an output reading chip neurons directly
        # is emitted as a nengo Probe on them, recorded on the chip without that delay
        self.to_host: dict[str, str] = {}
        for n in self.order:
            if n in self.absorbed or n in self.chip or isinstance(g.op(n), ops.Output):
                continue
            for i, (s, tau) in enumerate(self.edges[n]):
                if s in self.chip:
                    key = self.to_host.setdefault(s, f"{s}@host")
                    self.shapes[key] = self.shapes[s]
                    self.virtual.add(key)
                    self.edges[n][i] = (key, tau)
        for n in self.absorbed:
            outside = [u for u, _ in g.users(n) if u not in self.absorbed and u not in self.chip]
            if outside:
                raise SnncError(
                    f"loihi mode: '{n}' feeds a chip neuron and also {sorted(outside)}: "
                    "not emulated"
                )

    def _feeders(self, n: str) -> tuple[list[str], set[str]]:
        """The linear nodes between neuron ``n`` and the neurons (or inputs) feeding it
        (topological order), and those sources."""
        g = self.graph
        inside, sources, todo = set(), set(), [s for s, _ in self.edges[n]]
        while todo:
            s = todo.pop()
            op = g.op(s)
            if op.has(Neuron) or isinstance(op, ops.Input):
                sources.add(s)
            elif s not in inside:
                inside.add(s)
                todo.extend(p for p, _ in self.edges[s])
        return [x for x in self.order if x in inside], sources

    def _connections(self, n: str, inside: list[str], sources: set[str]):
        """One connection per source neuron, with the one synapse on its paths into ``n``."""
        conns = []
        for src in sorted(sources, key=self.order.index):
            taus, paths = set(), []
            self._walk(n, src, set(inside), [], None, taus, paths)
            if len(taus) != 1:
                raise SnncError(
                    f"loihi mode: paths from '{src}' into '{n}' have different synapses "
                    f"{sorted(map(str, taus))}"
                )
            self.chip_paths[n, src] = paths[0] if len(paths) == 1 else None
            conns.append((src, taus.pop()))
        return conns

    def _walk(self, node, src, inside, path, tau, taus, paths) -> None:
        """Collect the synapse (``taus``) and the linear nodes (``paths``, source first) of
        every path from ``src`` back from ``node``."""
        for s, syn in self.edges[node]:
            if syn is not None and tau is not None:
                raise SnncError(f"loihi mode: a path from '{src}' passes two synapses")
            t = syn if syn is not None else tau
            if s == src:
                taus.add(t)
                paths.append(path[::-1])
            elif s in inside:
                self._walk(s, src, inside, [*path, s], t, taus, paths)

    def _evaluate(self, n: str, values: dict[str, np.ndarray], batch: int) -> np.ndarray:
        """Neuron ``n``'s input through its linear feeders (synapses are filters: identity
        here) for source ``values`` (others zero), float64 ``(batch, size)``."""
        g = self.graph
        vals = dict(values)
        for s in {s for s, _ in self.chip[n]} - set(vals):
            vals[s] = np.zeros((batch, *g.type(s).shape))
        for x in self._inside[n]:
            vals[x] = np.asarray(
                run_kernel(g.op(x), [vals[p] for p, _ in self.edges[x]], self.dt, x), np.float64
            )
        ((src, _),) = self.edges[n]
        return vals[src].reshape(batch, -1)

    def chip_const(self, n: str) -> np.ndarray:
        """The constant part of neuron ``n``'s input (biases of the ops between)."""
        return self._evaluate(n, {}, 1)[0]

    def chip_matrix(self, n: str, src: str) -> np.ndarray:
        """The exact ``(n_out, n_in)`` matrix from ``src``'s values to ``n``'s input, from
        the interpreter's kernels on basis vectors (as the codegen's)."""
        g = self.graph
        n_in = math.prod(g.type(src).shape)
        const = self.chip_const(n)
        cols = []
        chunk = max(1, min(n_in, (1 << 22) // max(n_in, const.size, 1)))
        for start in range(0, n_in, chunk):
            k = min(chunk, n_in - start)
            basis = np.zeros((k, n_in))
            basis[np.arange(k), start + np.arange(k)] = 1.0
            y = self._evaluate(n, {src: basis.reshape((k, *g.type(src).shape))}, k) - const
            cols.append(y)
        return np.concatenate(cols).T

    def _build(self, n: str) -> None:
        if n in self.chip:
            self.instrs.append(ChipLayer(self, n))
            key = self.to_host.get(n)
            if key is not None:
                self.instrs.append(ChipToHost(self, key, n))
            return
        super()._build(n)

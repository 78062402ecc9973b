"""The compiled execution plan of a graph: instructions over preallocated time-major buffers.

:class:`Plan` turns a lowered graph into a list of instructions, once; the simulator then runs
them on windows of ``n`` steps for ``rows`` samples at a time (a *frame*). Every value of a
window lives in a buffer allocated once per worker, laid out ``(n, rows, *shape)``
(time-major, so the value of step ``t`` is one contiguous ``(rows, size)`` block).

Layer by layer over a window, not step by step
    The graph is acyclic and every synapse delays by one step, so the values of a node over a
    window depend only on its inputs over the same window (and on state carried from the
    previous window). Each instruction therefore runs once per window: a convolution is one
    GEMM of ``n * rows * positions`` rows instead of ``n`` small ones, a filter one scan. This is
    what SNN libraries call multi-step mode (SpikingJelly's ``step_mode="m"``); the result is
    identical to stepping the whole graph one step at a time.

Filter after the weights
    A lowpass is linear, so ``W @ lowpass(s) + b == lowpass(W @ s) + b``. When a synapse
    feeds a dense layer or convolution (directly or through flatten/reshape, whose filtered
    value then only exists for probes), the plan filters the layer's *output* instead: the
    weights multiply the spikes themselves, which are sparse (the event-driven path visits
    only the non-zero ones) and exact small multiples of ``amplitude / dt``. This is also the
    order nengo builds (transform, then synapse).

Instructions (one class per kernel family, chosen through :data:`BUILDERS`, keyed by op class):

=================== =========================================================================
``Weighted``        dense / 2-D and 1-D convolution: GEMM (im2col in L2-sized row blocks, no
                    padded copies), ``conv_fma`` (float32 convolutions: register blocks, no
                    im2col) or event-driven (the weight rows of the non-zero inputs only;
                    chosen per window by :func:`events_pay`), then the bias, or the synapse
                    scan that adds the bias in the same pass
``Neurons``         a spiking neuron layer: its catalogue step over the window's steps, in
                    one call
``Filter``          a synapse that could not move after weights (filters in the source space)
``Generic``         any other op: :func:`snnc.ir.interpreter.run_kernel` on ``n * rows`` samples
=================== =========================================================================

Neurons inside their reader
    A spiking layer whose only reader is a float32 dense layer or convolution (through views
    such as a flatten) runs inside it: 6 samples at a time, step by step, so its spikes stay
    in L1 instead of a window's spike tensor being written to memory and read back
    (:meth:`Plan._fuse_neurons`). The product is ``conv_fma``'s register blocks, or the same
    fused multiply-adds over the listed non-zero spikes only, whichever the kernel's cost
    model says is cheaper for each block of 6 samples and 1 step (``event="auto"``): skipped
    zeros would add exact zeros, so both give the same values.

Nodes whose value never changes (inputs, and stateless ops fed only by them without synapses)
are *static*: computed once per chunk of samples by the interpreter in float64; flatten,
reshape and outputs without synapses are *aliases* (views of their input's buffer).
:class:`snnc.sim.loihi.LoihiPlan` is the Loihi-mode variant (chip layers in integers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from snnc.errors import IRError, SnncError
from snnc.ir import ops
from snnc.ir.graph import Graph
from snnc.ir.interpreter import KERNELS, run_kernel
from snnc.ir.neurons import NeuronOp
from snnc.ir.ops import resolve_padding
from snnc.ir.traits import Neuron, ShapeOnly
from snnc.sim.kernels import (
    FMA_COLS,
    FMA_ROWS,
    FUSED_AUTO,
    FUSED_DENSE,
    FUSED_EVENTS,
    lowpass_coefficients,
)

#: cost model of the event-driven path against the GEMM path ("auto" takes the cheaper one,
#: per window). Event-driven: ns per input element scanned for non-zeros, per *use* of a
#: non-zero input (a dense row, or one window of a convolution it falls in: an index load and
#: a weight-row lookup) and per multiply-add; GEMM: ns per multiply-add of ``conv_gemm`` /
#: ``gemm`` (float32; float64 costs twice). Fitted by ``benchmarks/event_cost.py`` on AVX2
#: (EPYC, 2.45 GHz) with both cores busy, over the conv and dense shapes of
#: ``benchmarks/kernel_speed.py`` at densities 2-40%, scipy's OpenBLAS for the GEMMs.
EVENT_NS_PER_INPUT = 1.3
EVENT_NS_PER_USE = 5.2
EVENT_NS_PER_MAC = 0.11
GEMM_NS_PER_MAC = 0.046
#: the event path must be predicted this much cheaper: inside the simulator both paths run
#: 1.3-1.5x slower than the fit's isolated kernels, the event path more (workload B's second
#: convolution at 15.6% density: predicted 7% cheaper, ran 47% slower in the simulator), and
#: where the two are close the GEMM's speed is the one that does not depend on the spikes
EVENT_MARGIN = 0.7


def events_pay(
    nnz: int, size: int, uses: float, fanout: float, dense_macs: float, itemsize: int
) -> bool:
    """Is the event-driven product of ``nnz`` non-zero inputs (of ``size``; each used
    ``uses`` times, for ``fanout`` multiply-adds in all) clearly cheaper (by
    :data:`EVENT_MARGIN`) than the ``dense_macs`` multiply-adds of the GEMM path?"""
    event = EVENT_NS_PER_INPUT * size + nnz * (EVENT_NS_PER_USE * uses + EVENT_NS_PER_MAC * fanout)
    return event < EVENT_MARGIN * GEMM_NS_PER_MAC * dense_macs * itemsize / 4


#: the density test of a large window counts ``SAMPLE_CHUNKS`` contiguous runs of
#: ``SAMPLE_CHUNK`` inputs spread evenly over it: counting every input cost up to a sixth of
#: a convolution's GEMM (digits CNN, measured), and a strided sample (every 31st input, the
#: previous scheme) still pulled most of the window's cache lines from memory: 0.68 ms per
#: 9.6 MB window of workload A's convolution, against 0.03 ms for the runs (measured)
SAMPLE_CHUNK = 1024
SAMPLE_CHUNKS = 32
#: windows with fewer inputs than this are counted in full
SAMPLE_MIN = SAMPLE_CHUNK * SAMPLE_CHUNKS * 4


def estimate_nonzero(kernels, x: np.ndarray) -> int:
    """The number of non-zero entries of ``x``: counted, or, for a large ``x``, estimated
    from :data:`SAMPLE_CHUNKS` contiguous runs of :data:`SAMPLE_CHUNK` entries."""
    flat = x.reshape(-1)
    n = flat.size
    if n < SAMPLE_MIN:
        return kernels.count_nonzero(flat)
    runs = flat[: n - n % SAMPLE_CHUNKS].reshape(SAMPLE_CHUNKS, -1)[:, :SAMPLE_CHUNK]
    counted = kernels.count_nonzero(np.ascontiguousarray(runs))
    return round(counted * n / (SAMPLE_CHUNKS * SAMPLE_CHUNK))


def events_wanted(
    mode: str, kernels, x: np.ndarray, in_size: int, uses: float, fanout: float, row_macs: float
) -> bool:
    """Run this window of spikes ``x`` (rows of ``in_size`` inputs; a row costs
    ``row_macs`` multiply-adds by GEMM) event-driven? ``mode`` is the simulator's ``event``
    option; "auto" asks :func:`events_pay`, and counts the spikes only when the event path
    could pay at all (a layer whose scan alone costs more than its GEMM never counts)."""
    if mode != "auto":
        return mode == "always"
    dense = x.size / in_size * row_macs
    if not events_pay(0, x.size, uses, fanout, dense, x.itemsize):
        return False
    return events_pay(estimate_nonzero(kernels, x), x.size, uses, fanout, dense, x.itemsize)


def window_uses(in_hw, out_hw, kernel, strides, dilation, pads_before) -> float:
    """How many convolution windows an input pixel falls in, on average (the event-driven
    path's uses per non-zero input): valid ``(output, tap)`` pairs over input pixels."""
    pairs = 1
    for n_in, n_out, k, st, dil, pad in zip(
        in_hw, out_hw, kernel, strides, dilation, pads_before, strict=True
    ):
        pos = np.arange(n_out)[:, None] * st - pad + np.arange(k)[None, :] * dil
        pairs *= int(np.count_nonzero((pos >= 0) & (pos < n_in)))
    return pairs / math.prod(in_hw)


EVENT_MODES = ("auto", "always", "never")


# =============================================================================== frames


@dataclass
class Frame:
    """One worker's buffers and the window it is running: steps ``t0 .. t0 + n`` (since
    the last reset) of samples ``r0 .. r1``.

    ``buffers`` are flat arrays sized for the largest window; :meth:`view` cuts a contiguous
    ``(n, rows, *shape)`` view from their start. ``state`` holds the full-batch persistent
    arrays (sliced to the frame's rows by :meth:`rows_of`); ``statics`` the chunk's static
    values ``(rows, *shape)``.
    """

    plan: Plan
    buffers: dict[str, np.ndarray]
    state: dict[str, np.ndarray]
    statics: dict[str, np.ndarray] = field(default_factory=dict)
    r0: int = 0
    r1: int = 0
    t0: int = 0
    n: int = 0
    #: sample-steps the buffers hold
    capacity: int = 0
    #: instruction node -> seconds (when profiling), else None
    times: dict[str, float] | None = None
    #: instruction node -> [windows run event-driven, windows run dense]
    modes: dict[str, list[int]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.r1 - self.r0

    def view(self, key: str) -> np.ndarray:
        """The dynamic value ``key`` over the window: ``(n, rows, *shape)``, contiguous."""
        shape = self.plan.shapes[key]
        buf = self.buffers[self.plan.alias.get(key, key)]
        size = self.n * self.rows * math.prod(shape)
        return buf[:size].reshape((self.n, self.rows) + shape)

    def scratch(self, key: str, shape: tuple[int, ...], dtype=None) -> np.ndarray:
        """A scratch array of ``shape`` (within the capacity :meth:`Plan.scratch` declared),
        of ``dtype`` when given (no larger than the plan's: the buffer is reinterpreted)."""
        buf = self.buffers[key]
        if dtype is not None and np.dtype(dtype) != buf.dtype:
            buf = buf.view(dtype)
        return buf[: math.prod(shape)].reshape(shape)

    def get(self, key: str) -> tuple[np.ndarray, bool]:
        """``(value, is_static)``: a static value is ``(rows, *shape)``, held over the window."""
        v = self.statics.get(key)
        if v is not None:
            return v, True
        return self.view(key), False

    def over_time(self, key: str) -> np.ndarray:
        """The value ``key`` as ``(n, rows, *shape)`` (a broadcast view for a static one)."""
        v, static = self.get(key)
        return np.broadcast_to(v, (self.n,) + v.shape) if static else v

    def rows_of(self, key: str) -> np.ndarray:
        """The frame's rows of the persistent state ``key``."""
        return self.state[key][self.r0 : self.r1]


# =============================================================================== instructions


class Instr:
    """One step of the plan. ``node`` is the value it writes; ``scratch`` the extra buffer
    sizes it needs per sample-step (``fixed``: absolute sizes); ``state`` the persistent
    per-sample arrays (``key -> shape``) it keeps from window to window, which start at
    ``init[key]`` (default 0) on every reset."""

    node: str
    scratch: dict[str, int]
    state: dict[str, tuple[int, ...]]
    init: dict[str, float] = {}
    #: scratch buffers of a fixed number of elements, whatever the window
    fixed: dict[str, int] = {}

    def run(self, fr: Frame) -> None:
        raise NotImplementedError


class Neurons(Instr):
    """A spiking neuron layer: the class's step function (NumPy ``step`` or numba-compiled
    ``step_loop``) over the window's steps on ``(rows, size)`` blocks, in one call
    (``neuron_window``; for an input that does not change, a static value, the class's
    ``const_loop`` keeps the state in L1 over the steps)."""

    def __init__(self, plan: Plan, node: str, src: str):
        op = plan.graph.op(node)
        cls = type(op)
        shape = plan.graph.type(node).shape
        size = math.prod(shape)

        def per_neuron(p):  # scalar, per-channel or full parameter -> one float64 per neuron
            return np.ascontiguousarray(
                np.broadcast_to(np.asarray(p, np.float64), shape).reshape(size)
            )

        self.node, self.src = node, src
        self.cls = cls
        self.window = plan.kernels.neuron_window(cls)
        self.gain, self.bias = per_neuron(op.gain), per_neuron(op.bias)
        self.params = tuple(op.step_params(plan.dt))
        self.size = size
        self.state_keys = [f"{node}:{s}" for s in cls.state]
        self.state = {k: (size,) for k in self.state_keys}
        start = op.initial_state()  # the catalogue's initial state (e.g. IF's v_init)
        self.init = {
            k: float(start.get(s, 0.0)) for k, s in zip(self.state_keys, cls.state, strict=True)
        }
        self.scratch = {}

    def run(self, fr: Frame) -> None:
        x, static = fr.get(self.src)
        rows, n = fr.rows, fr.n
        x3 = x.reshape((1 if static else n, rows, self.size))
        out = fr.view(self.node).reshape(n, rows, self.size)
        states = [fr.rows_of(k) for k in self.state_keys]
        self.window(x3, 0 if static else 1, self.gain, self.bias, out, *states, *self.params)


class Filter(Instr):
    """A synapse in its source's space: ``out[t] = f; f = a f + b src[t]`` (nengo's
    ``Lowpass`` with its one-step delay), for edges where it cannot move after weights."""

    def __init__(self, plan: Plan, key: str, src: str, tau: float):
        self.node, self.src = key, src
        self.a, self.b = lowpass_coefficients(tau, plan.dt)
        self.size = math.prod(plan.shapes[src])
        self.state = {key: (self.size,)}
        self.scratch = {}
        self.lowpass_scan = plan.kernels.lowpass_scan
        self.no_bias = np.zeros(0)

    def run(self, fr: Frame) -> None:
        n, rows = fr.n, fr.rows
        u = fr.over_time(self.src).reshape(n, rows * self.size)
        out = fr.view(self.node).reshape(n, rows * self.size)
        f = fr.rows_of(self.node).reshape(-1)
        self.lowpass_scan(u, f, out, self.no_bias, self.a, self.b)


class Generic(Instr):
    """Any op through the rate-mode interpreter's kernel, over all ``n * rows`` samples of
    the window at once (stateless ops act sample by sample)."""

    def __init__(self, plan: Plan, node: str, srcs: list[str]):
        self.node, self.srcs = node, srcs
        self.op = plan.graph.op(node)
        self.dt = plan.dt
        self.state, self.scratch = {}, {}

    def run(self, fr: Frame) -> None:
        m = fr.n * fr.rows
        xs = [
            np.asarray(fr.over_time(s), np.float64).reshape((m,) + fr.plan.shapes[s])
            for s in self.srcs
        ]
        y = run_kernel(self.op, xs, self.dt, self.node)
        out = fr.view(self.node)
        out[...] = y.reshape(out.shape)


class Weighted(Instr):
    """A dense layer or a (1-D or 2-D, ungrouped) convolution, by GEMM or, for sparse spike
    inputs, by summing the weight rows of the non-zero inputs only; then either the bias, or
    (a synapse moved after the weights) the lowpass scan that adds the bias in the same pass.

    A convolution's GEMM multiplies the im2col matrix ``(R * OH * OW, KH * KW * C)`` by the
    weight ``(KH * KW * C, O)``; ``im2col2d`` writes zeros for padded cells, so no padded copy
    of the input is made (1x1 convolutions multiply the input itself). In float32, a
    convolution with ``KH * KW * C <= FMA_MAX_K`` and ``O`` a multiple of 16 runs ``conv_fma``
    instead: no im2col, sums kept in registers (1.15-1.5x the GEMM's rate, measured). In
    float32, any layer with ``O`` a multiple of 16 can compute the spiking layer it reads
    itself (:meth:`absorb`), with its product over the spikes it lists or over all of them.
    """

    def __init__(self, plan: Plan, node: str, src: str, tau: float | None, event_ok: bool):
        op = plan.graph.op(node)
        g = plan.graph
        self.node, self.src = node, src
        self.kernels = plan.kernels
        self.event = plan.event if event_ok and plan.kernels.name == "numba" else "never"
        in_shape, out_shape = plan.shapes[src], g.type(node).shape
        self.out_size = math.prod(out_shape)
        self.channels = out_shape[-1]
        self.bias = None if op.bias is None else np.asarray(op.bias, np.float64)
        self.tau = tau
        self.state, self.scratch = {}, {}
        #: the spiking neuron layer this convolution computes itself (see :meth:`absorb`)
        self.feeder: Neurons | None = None
        if tau is not None:
            self.a, self.b = lowpass_coefficients(tau, plan.dt)
            self.state[f"{node}:syn"] = (self.out_size,)
        w = np.asarray(op.weight, plan.dtype)
        # conv_fma's register blocks can run it: float32, whole blocks of 16 columns
        self.fma_ok = plan.dtype == np.float32 and w.shape[-1] % FMA_COLS == 0
        if isinstance(op, ops.Dense):
            self.conv = None
            self.fma = False  # the GEMM is faster alone; conv_fma only to absorb neurons
            self.k = in_shape[-1]
            self.w = np.ascontiguousarray(w)
            # cost model: per input row of k values, k * n multiply-adds; n per spike
            self.in_size, self.row_macs = self.k, self.k * w.shape[1]
            self.uses, self.fanout = 1.0, w.shape[1]
            # as conv_fma sees it: a 1x1 convolution of a 1x1 image, one per input row
            self.lead = math.prod(in_shape[:-1])
            self.in4, self.out4 = (1, 1, self.k), (1, 1, w.shape[1])
            self.fma_args = (1, 1, 1, 1, 1, 1, 0, 0)
            return
        # convolution: 1-D runs as 2-D with a unit height
        nsp = op.n_spatial
        spatial, cin = in_shape[-nsp - 1 : -1], in_shape[-1]
        self.lead = math.prod(in_shape[: -nsp - 1])
        pads = resolve_padding(op.padding, spatial, op.weight.shape[:nsp], op.strides, op.dilation)
        o_sp = out_shape[-nsp - 1 : -1]
        if nsp == 1:
            spatial, o_sp, w = (1, *spatial), (1, *o_sp), w[None]
            strides, dil, pads = (1, *op.strides), (1, *op.dilation), ((0, 0), *pads)
        else:
            strides, dil = tuple(op.strides), tuple(op.dilation)
        kh, kw = w.shape[:2]
        self.in4 = (*spatial, cin)
        self.out4 = (*o_sp, w.shape[-1])
        self.conv = (strides[0], strides[1], dil[0], dil[1], pads[0][0], pads[1][0])
        self.in_size = math.prod(self.in4)
        self.row_macs = math.prod(o_sp) * w.shape[0] * w.shape[1] * cin * w.shape[-1]
        self.uses = window_uses(spatial, o_sp, w.shape[:2], strides, dil, (pads[0][0], pads[1][0]))
        self.fanout = self.uses * w.shape[-1]
        self.w4 = np.ascontiguousarray(w)
        self.w = self.w4.reshape(kh * kw * cin, -1)
        self.cols = (*o_sp, kh, kw, cin)
        pointwise = (kh, kw) == (1, 1) and strides == (1, 1) and not any(sum(pads, ()))
        self.im2col = not pointwise
        # conv_fma alone, when faster than im2col + GEMM: windows up to FMA_MAX_K
        self.fma = self.im2col and self.fma_ok and kh * kw * cin <= FMA_MAX_K
        self.fma_args = (kh, kw, *self.conv)
        if self.im2col and not self.fma:
            self.block = cols_block(self.cols, plan.dtype.itemsize)
            self.fixed = {f"{node}:cols": self.block * math.prod(self.cols)}

    def can_absorb(self, nrn: Neurons) -> bool:
        """Can this layer compute ``nrn`` (its input, the unfiltered spikes) itself? conv_fma's
        blocks must be able to run it (a dense layer as a 1x1 convolution; any window: the
        product over the non-zero spikes is what usually runs), one sample per neuron row,
        and the neuron class must keep one state array (the fused kernel passes one)."""
        return self.fma_ok and self.lead == 1 and len(nrn.state_keys) == 1

    def absorb(self, nrn: Neurons) -> None:
        """Compute the neuron layer ``nrn`` inside this convolution (``neuron_conv_fma``):
        6 samples at a time, step by step, its spikes stay in a small buffer in L1 instead of
        a window's spike tensor written to memory and read back. The product runs over every
        spike or over the non-zero ones only (chosen per block of 6 samples and 1 step under
        ``event="auto"``). Its state becomes ours."""
        self.feeder = nrn
        self.fused = self.kernels.neuron_conv_fma(nrn.cls)
        self.fused_mode = {"auto": FUSED_AUTO, "always": FUSED_EVENTS}.get(
            self.event, FUSED_DENSE
        )
        self.state = {**self.state, **nrn.state}
        self.init = {**self.init, **nrn.init}
        self.fixed = {**self.fixed, f"{self.node}:spikes": FMA_ROWS * nrn.size}

    def use_events(self, fr: Frame, x: np.ndarray) -> bool:
        if self.event == "never":
            return False
        use = events_wanted(
            self.event, self.kernels, x, self.in_size, self.uses, self.fanout, self.row_macs
        )
        fr.modes.setdefault(self.node, [0, 0])[0 if use else 1] += 1
        return use

    def run_fused(self, fr: Frame) -> None:
        nrn, n, rows = self.feeder, fr.n, fr.rows
        x, static = fr.get(nrn.src)
        x3 = x.reshape((1 if static else n, rows, nrn.size))
        (state,) = (fr.rows_of(k) for k in nrn.state_keys)
        s4 = fr.buffers[f"{self.node}:spikes"].reshape((FMA_ROWS, *self.in4))
        u5 = fr.view(self.node).reshape((n, rows, *self.out4))
        n_events = self.fused(
            x3, 0 if static else 1, nrn.gain, nrn.bias, state, nrn.params, s4,
            self.w, u5, self.fused_mode, *self.fma_args,
        )  # fmt: skip
        if self.event != "never":
            blocks = -(-rows // FMA_ROWS) * n
            counts = fr.modes.setdefault(self.node, [0, 0])
            counts[0] += n_events
            counts[1] += blocks - n_events

    def run(self, fr: Frame) -> None:
        n, rows = fr.n, fr.rows
        if self.feeder is not None:
            self.run_fused(fr)
            self._after(fr, fr.view(self.node))
            return
        x, static = fr.get(self.src)
        if static:  # a synapse on a constant input: rare, so a copy per window is fine
            x = np.ascontiguousarray(np.broadcast_to(x, (n,) + x.shape))
        u = fr.view(self.node)
        kern = self.kernels
        events = self.use_events(fr, x)
        if self.conv is None:
            x2, u2 = x.reshape(-1, self.k), u.reshape(-1, self.w.shape[1])
            (kern.gather_dense if events else kern.gemm)(x2, self.w, u2)
        else:
            r = n * rows * self.lead
            x4, u4 = x.reshape((r, *self.in4)), u.reshape((r, *self.out4))
            if events:
                kern.gather_conv2d(x4, self.w4, u4, *self.conv)
            elif self.fma:
                kern.conv_fma(x4, self.w, u4, *self.fma_args)
            elif self.im2col:
                buf = fr.buffers[f"{self.node}:cols"]
                kern.conv_gemm(x4, self.w, u4, buf, self.block, *self.cols[2:4], *self.conv)
            else:
                kern.gemm(x4.reshape(-1, self.w.shape[0]), self.w, u4.reshape(-1, self.w.shape[1]))
        self._after(fr, u)

    def _after(self, fr: Frame, u: np.ndarray) -> None:
        """The synapse moved after the weights (with the bias), or the bias."""
        n, rows = fr.n, fr.rows
        kern = self.kernels
        if self.tau is not None:
            u2 = u.reshape(n, rows * self.out_size)
            f = fr.rows_of(f"{self.node}:syn").reshape(-1)
            bias = self.bias if self.bias is not None else np.zeros(0)
            kern.lowpass_scan(u2, f, u2, bias, self.a, self.b)
        elif self.bias is not None:
            kern.add_bias(u.reshape(-1, self.channels), self.bias)


#: the longest window (``KH * KW * C``) ``conv_fma`` runs. Measured on one core against
#: im2col + GEMM (GFLOP/s): K = 144 / 288 / 576 / 1152 (O = 32 / 64 / 64 / 128): 41 / 58 / 63 /
#: 71 against 34 / 49 / 55 / 56; at 2304 both 58-60. Beyond that, a 16-column slice of the
#: weights (K x 64 bytes) no longer stays in L2 alongside the inputs
FMA_MAX_K = 1152

#: bytes of im2col rows per GEMM: the window's convolution runs in blocks of input rows whose
#: im2col matrix stays in a core's L2 cache (a whole window's can be tens of MB)
COLS_BYTES = 512 << 10


def cols_block(cols: tuple[int, ...], itemsize: int) -> int:
    """Input rows per im2col block (each row expands to ``prod(cols)`` values)."""
    return max(1, COLS_BYTES // (math.prod(cols) * itemsize))


# =============================================================================== builders

#: op class -> builder ``(plan, node, srcs) -> Instr | None`` (None: use :class:`Generic`);
#: looked up along the op class's MRO, so subclasses share their base's builder
BUILDERS: dict[type, Callable] = {}


def builds(*classes: type):
    """Register the decorated function as the instruction builder of op ``classes``."""

    def deco(fn: Callable) -> Callable:
        for cls in classes:
            if cls in BUILDERS:
                raise ValueError(f"instruction builder for {cls.__name__} registered twice")
            BUILDERS[cls] = fn
        return fn

    return deco


@builds(ops.Dense, ops.Conv2D)
def _weighted(plan: Plan, node: str, srcs: list[tuple[str, float | None]]):
    op = plan.graph.op(node)
    if isinstance(op, ops.Conv2D) and (op.groups != 1 or op.n_spatial > 2):
        return None
    ((src, tau),) = srcs
    # the scatter path needs the spikes themselves: a spike-typed input read before any filter
    return Weighted(plan, node, src, tau, event_ok=plan.is_spike(src))


@builds(NeuronOp)
def _neurons(plan: Plan, node: str, srcs: list[tuple[str, float | None]]):
    if not plan.graph.op(node).spiking:
        return None  # rate neurons are stateless: the interpreter's kernel is their step
    return Neurons(plan, node, plan.filtered(srcs[0]))


def builder_for(op: ops.Op) -> Callable | None:
    for cls in type(op).__mro__:
        fn = BUILDERS.get(cls)
        if fn is not None:
            return fn
    return None


# =============================================================================== the plan


class Plan:
    """Everything about running ``graph`` that does not depend on the inputs: which nodes
    are static, aliases, synapse placement, the instruction list, buffer sizes.

    Args:
        graph: the (lowered) graph.
        dtype: storage dtype of values and state (float32 or float64).
        kernels: the backend's kernel namespace (:func:`snnc.sim.kernels.get_kernels`).
        event: ``"auto"``, ``"always"`` or ``"never"`` (event-driven weighted layers).
        record: nodes whose true values must be available for probes.
    """

    def __init__(self, graph: Graph, *, dtype, kernels, event: str = "auto", record=()):
        self.graph = graph
        self.dt = graph.dt
        self.dtype = np.dtype(dtype)
        self.kernels = kernels
        self.event = event
        self.order = graph.topo_order()
        _check_kernels(graph, self.order)
        #: node -> [(src, tau)] by port; filter moves rewrite it
        self.edges = {n: [(s, syn) for s, _, syn in graph.in_edges(n)] for n in self.order}
        #: value key (node, or "src~tau" filter output) -> shape
        self.shapes = {n: graph.type(n).shape for n in self.order}
        #: nodes computed by no instruction of their own (inside a fused chip connection)
        self.absorbed: set[str] = set()
        #: values that are not graph nodes but change over time (see :meth:`_prepare`)
        self.virtual: set[str] = set()
        self._prepare()
        self.dynamic = self._dynamic_nodes()
        self.static = [n for n in self.order if n not in self.dynamic]
        #: dynamic node -> the buffer it is a view of
        self.alias: dict[str, str] = {}
        #: node whose buffer holds its input *before* the synapse moved after weights
        self.moved: dict[str, float] = {}
        self.instrs: list[Instr] = []
        self._filters: dict[tuple[str, float], str] = {}
        self._move_filters_after_weights()
        for n in self.order:
            if n in self.dynamic and n not in self.absorbed:
                self._build(n)
        self._fuse_neurons(set(record))
        inside = sorted(set(record) & self.absorbed)
        if inside:
            raise SnncError(
                f"cannot probe {inside}: inside a chip connection, they have no value of "
                "their own (probe the neurons on either side)"
            )
        for n in record:
            if n in self.moved and n in self.dynamic:
                self.instrs.append(Filter(self, f"{n}!true", n, self.moved[n]))
                self.shapes[f"{n}!true"] = self.shapes[n]

    def _fuse_neurons(self, record: set[str]) -> None:
        """Let each weighted layer that ``conv_fma`` can run compute the spiking neuron layer
        it reads (:meth:`Weighted.absorb`), directly or through views (a flatten), when that
        layer has no other reader: no other user, not an output, not probed. Same arithmetic,
        so the same spikes and values (the fused kernel has its own event-driven product,
        which lists the spikes while they are in L1)."""
        by_node = {ins.node: ins for ins in self.instrs}
        for ins in list(self.instrs):
            if not isinstance(ins, Weighted):
                continue
            nrn = by_node.get(self.alias.get(ins.src, ins.src))
            if isinstance(nrn, Neurons) and self._sole_reader(nrn.node, ins.node, record):
                if ins.can_absorb(nrn):
                    ins.absorb(nrn)
                    self.instrs.remove(nrn)

    def _sole_reader(self, src: str, dst: str, record: set[str]) -> bool:
        """Is ``dst`` the only reader of ``src``, through views that nothing else reads, with
        none of them probed?"""
        node = src
        while node != dst:
            users = self.graph.users(node)
            if node in record or len(users) != 1:
                return False
            node = users[0][0]
            if node != dst and node not in self.alias:
                return False
        return True

    # ------------------------------------------------------------------ analysis
    def _prepare(self) -> None:
        """Hook for plan variants (Loihi mode): rewire :attr:`edges`, mark nodes
        :attr:`absorbed`, declare :attr:`virtual` values, before the analysis runs."""

    def is_spike(self, key: str) -> bool:
        """Does value ``key`` hold spikes in the plan (a flatten whose synapse moved after
        the weights holds its source's spikes, whatever its IR type says)?"""
        key = self.alias.get(key, key)
        return key in self.graph and self.graph.type(key).dtype.is_spike

    def _dynamic_nodes(self) -> set[str]:
        """Nodes whose value changes over time: spiking neurons (state), nodes behind a
        synapse (a filter's output rises from zero), and everything downstream of those."""
        dynamic: set[str] = set(self.virtual)
        for n in self.order:
            op = self.graph.op(n)
            if (op.has(Neuron) and op.spiking) or any(
                syn is not None or s in dynamic for s, syn in self.edges[n]
            ):
                dynamic.add(n)
        return dynamic

    def _move_filters_after_weights(self) -> None:
        """Push each synapse on a flatten/reshape down to its users when they all are
        weighted ops (or flatten/reshape) reading it without a synapse of their own: the
        weighted op then filters its output (see the module docstring)."""
        for n in self.order:
            op = self.graph.op(n)
            if n in self.absorbed or not (op.has(ShapeOnly) and len(self.edges[n]) == 1):
                continue
            ((src, tau),) = self.edges[n]
            users = self.graph.users(n)
            if tau is None or not users or src not in self.dynamic:
                continue
            if all(
                self.edges[u][p][1] is None
                and u not in self.absorbed
                and (self._weighted(u) or self.graph.op(u).has(ShapeOnly))
                for u, p in users
            ):
                self.edges[n] = [(src, None)]
                self.moved[n] = tau
                for u, p in users:
                    self.edges[u][p] = (n, tau)

    def _weighted(self, n: str) -> bool:
        op = self.graph.op(n)
        return builder_for(op) is _weighted and _weighted_ok(op)

    def filtered(self, edge: tuple[str, float | None]) -> str:
        """The value key an edge delivers: its source, or the output of a :class:`Filter`
        (one per source and time constant, shared by the edges that have both)."""
        src, tau = edge
        if tau is None:
            return src
        key = self._filters.get((src, tau))
        if key is None:
            key = f"{src}~{tau!r}"
            self._filters[src, tau] = key
            self.shapes[key] = self.shapes[src]
            self.instrs.append(Filter(self, key, src, tau))
        return key

    def _build(self, n: str) -> None:
        op = self.graph.op(n)
        edges = self.edges[n]
        if (isinstance(op, ops.Output) or op.has(ShapeOnly)) and edges[0][1] is None:
            src = edges[0][0]
            self.alias[n] = self.alias.get(src, src)
            return
        fn = builder_for(op)
        ins = fn(self, n, edges) if fn is not None else None
        if ins is None:
            ins = Generic(self, n, [self.filtered(e) for e in edges])
        self.instrs.append(ins)

    # ------------------------------------------------------------------ sizes
    def buffer_sizes(self) -> dict[str, int]:
        """Flat buffers (elements per sample-step): dynamic values that are not aliases,
        and every instruction's scratch."""
        sizes = {}
        for ins in self.instrs:
            sizes[ins.node] = math.prod(self.shapes[ins.node])
            sizes.update(ins.scratch)
        return sizes

    def fixed_sizes(self) -> dict[str, int]:
        """Scratch buffers of a fixed size (elements), allocated once per worker."""
        sizes = {}
        for ins in self.instrs:
            sizes.update(ins.fixed)
        return sizes

    def state_shapes(self) -> dict[str, tuple[tuple[int, ...], float]]:
        """Persistent state: ``key -> (per-sample shape, initial value)``."""
        out = {}
        for ins in self.instrs:
            for k, shape in ins.state.items():
                out[k] = (shape, ins.init.get(k, 0.0))
        return out

    def true_key(self, node: str) -> str:
        """The value key holding ``node``'s value as the IR defines it (probes read it)."""
        return f"{node}!true" if node in self.moved and node in self.dynamic else node


def _weighted_ok(op) -> bool:
    return not (isinstance(op, ops.Conv2D) and (op.groups != 1 or op.n_spatial > 2))


def _check_kernels(graph: Graph, order: list[str]) -> None:
    """Fail before simulating anything if some op has no kernel."""
    for n in order:
        op = graph.op(n)
        if isinstance(op, ops.Input) or op.has(Neuron):
            continue  # neurons carry their own kernels (the catalogue)
        if op.kind not in KERNELS:
            raise IRError(f"node '{n}': snnc.sim has no kernel for {op.kind}")

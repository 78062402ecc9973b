"""The reusable :class:`Simulator` and :func:`simulate`: run a lowered (SNN-stage) IR graph
over time, the way ``nengo.Simulator`` runs the network the codegen emits for it, without
building that network.

Timing follows nengo's reference simulator (see :mod:`snnc.sim`):

- every input is held constant; all state starts at zero (neurons at rest, synapses empty);
- an edge without a synapse passes this step's value on at once, so a stimulus crosses any
  number of layers within one step;
- an edge with a ``synapse`` (a nengo ``Lowpass(tau)`` on the connection) delivers its
  filter's state and updates that state after the step: ``y[n] = a y[n-1] + b x[n-1]``,
  ``y[0] = 0`` (one step of delay).

How it runs (see :mod:`snnc.sim.plan`): the graph is compiled once into a plan; the batch is
split into one contiguous part per worker thread (all kernels release the GIL; BLAS is held to
one thread meanwhile), each part into chunks of rows, and time into windows, sized so that a
window's buffers (allocated once per worker) stay in cache; each instruction runs once per
window.

Readout convention (DESIGN.md; each ``nn.output`` op carries its readout,
:meth:`snnc.ir.ops.Output.read`): an output's value at step ``t`` is, by default, the running
mean of its input over steps ``1 .. t`` (``"mean"``), so ``y[:, t-1].argmax(-1)`` is the
prediction after ``t`` steps; ``"window"`` averages the last ``window`` steps; ``"raw"`` is
the per-step value (what a nengo Probe without synapse records). The ``readout=`` option
overrides the graph's choice and adds ``"lowpass"`` (``y[t] = a y[t-1] + b raw[t]``,
time constant ``readout_tau``).
"""

from __future__ import annotations

import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from snnc.errors import InputShapeError, SnncError
from snnc.ir import ops
from snnc.ir.graph import Graph
from snnc.ir.interpreter import as_input_list, run_kernel
from snnc.sim.kernels import get_kernels, lowpass_coefficients
from snnc.sim.plan import EVENT_MODES, Frame, Plan

logger = logging.getLogger(__name__)

BACKENDS = ("numba", "numpy")
#: "nengo": nengo's float semantics (the nengo and nengo-dl targets); "loihi": the integer
#: semantics of nengo-loihi's emulator (:mod:`snnc.sim.loihi`)
MODES = ("nengo", "loihi")
#: the IR's readouts (:data:`snnc.ir.ops.READOUTS`: mean, window, raw) and a lowpass
READOUTS = (*ops.READOUTS, "lowpass")

#: bytes of window buffers per worker (activations over the window; a convolution's im2col
#: rows are blocked separately, see plan.COLS_BYTES): large windows amortise the per-call
#: overhead and reuse each weight matrix over many rows (a 1600x256 dense layer ran 2-4x
#: faster with 16 MB than with 2-6 MB windows), and two workers' windows still share a 32 MB
#: last-level cache. Measured best of 2-64 MB on workloads A and B of benchmarks/kernel_speed.py.
BLOCK_BYTES = 16 << 20

_POOL: ThreadPoolExecutor | None = None


def _pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of worker threads (created on first use, grown on demand)."""
    global _POOL
    if _POOL is None or _POOL._max_workers < workers:
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="snnc-sim")
    return _POOL


_BLAS = None


def _blas_controller():
    """threadpoolctl's controller (a scikit-learn dependency), built once: entering its
    ``limit`` then costs ~25 us instead of ~1 ms for ``threadpool_limits``."""
    global _BLAS
    if _BLAS is None:
        # numba's np.dot (the numba kernels' GEMMs) calls scipy's own OpenBLAS: load it
        # first, so that the controller limits its threads as well as numpy's
        import scipy.linalg.cython_blas  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Simulator:
    """A compiled graph, reusable across inputs: ``reset(x)`` then ``run_steps(n)`` as often
    as wanted (state carries over), or ``run(x, steps)``; set-up is paid once.

    ::

        sim = Simulator(graph, probes=["conv1.act"])
        y = sim.run(x, 50)                  # (batch, 50, *output_shape), running-mean readout
        sim.probe_data["conv1.act"]         # (batch, 50, 6, 6, 8): spikes (amplitude/dt each)
        sim.reset(x2); a = sim.run_steps(20); b = sim.run_steps(30)   # == sim.run(x2, 50)

    Args:
        graph: a lowered graph (any graph with interpreter kernels works; ``ann.*`` ops run
            as their rate functions).
        dtype: ``np.float32`` (default: values, state and matrix products in float32;
            element-wise arithmetic in float64) or ``np.float64`` (spike-exact against nengo).
        backend: ``"numba"`` (compiled kernels, the default) or ``"numpy"`` (the reference
            twins: the same spikes, bit for bit, and no event-driven path).
        readout: override every output's readout (default: each ``nn.output`` op's own,
            ``"mean"`` unless the graph says otherwise): ``"mean"``, ``"window"``, ``"raw"``
            or ``"lowpass"`` (see the module docstring).
        window: steps of the ``"window"`` readout (default: the output op's ``window``).
        readout_tau: time constant (s) of the ``"lowpass"`` readout.
        probes: node names whose raw values to record (:attr:`probe_data`).
        event: event-driven dense/conv layers on spike inputs: ``"auto"`` (per window, or per
            block of 6 samples where a layer computes its input neurons, when the spikes are
            sparse enough to pay), ``"always"``, ``"never"`` (or True/False). The modes
            give the same values up to summation order (bit for bit in fused layers).
        threads: worker threads (default: the cores available).
        block_bytes: window buffer budget per worker (default :data:`BLOCK_BYTES`).
        profile: accumulate each instruction's CPU time (summed over workers) in :attr:`times`.
        mode: ``"nengo"`` (default) or ``"loihi"``: chip neurons with the integer semantics
            of nengo-loihi's emulator, host parts in float64 (:mod:`snnc.sim.loihi`).
        blocks: Loihi mode: chip neuron node -> its block shape, for layers split over
            several cores (each block is discretized on its own, as nengo-loihi does); the
            ``loihi.layers`` of a compiled artifact's manifest list them
            (:func:`snnc.sim.loihi.loihi_blocks`).

    Raises:
        SnncError: a bad argument. IRError: an op without a kernel.
    """

    def __init__(
        self,
        graph: Graph,
        *,
        dtype=np.float32,
        backend: str = "numba",
        readout: str | None = None,
        window: int | None = None,
        readout_tau: float = 0.01,
        probes=(),
        event="auto",
        threads: int | None = None,
        block_bytes: int | None = None,
        profile: bool = False,
        mode: str = "nengo",
        blocks=None,
    ):
        event = {True: "always", False: "never"}.get(event, event)
        _check_options(backend, dtype, readout, window, readout_tau, event)
        if mode not in MODES:
            raise SnncError(f"simulate: unknown mode {mode!r} (expected one of {', '.join(MODES)})")
        if mode == "loihi":
            dtype = np.float64  # the host side is nengo's float64 reference simulator
        unknown = [p for p in probes if p not in graph]
        if unknown:
            raise SnncError(f"Simulator: probes {unknown} are not nodes of @{graph.name}")
        self.graph = graph
        self.dtype = np.dtype(dtype)
        self.backend = backend
        self.readout_tau = float(readout_tau)
        #: output -> (readout kind, window): each output's own (its nn.output op) unless
        #: ``readout`` / ``window`` override them
        self._readouts = {
            o: (readout or graph.op(o).readout, int(window or graph.op(o).window))
            for o in graph.outputs
        }
        self.probes = list(dict.fromkeys(probes))
        self.threads = max(1, int(threads or available_cores()))
        self.block_bytes = int(block_bytes or BLOCK_BYTES)
        self.profile = profile
        #: instruction node -> seconds spent in it since the last reset (``profile=True``)
        self.times: dict[str, float] = {}
        self.mode = mode
        plan_class, extra = Plan, {}
        if mode == "loihi":
            from snnc.sim.loihi import LoihiPlan as plan_class

            extra["blocks"] = blocks
        elif blocks:
            raise SnncError("Simulator: blocks= applies to mode='loihi' only")
        self.plan = plan_class(
            graph,
            dtype=self.dtype,
            kernels=get_kernels(backend),
            event=event,
            record=self.probes,
            **extra,
        )
        self.outputs = graph.outputs
        self._sizes = self.plan.buffer_sizes()
        self._frames: list[Frame] = []
        self._xs: dict[str, np.ndarray] | None = None
        self.batch = 0
        self.t = 0

    # ------------------------------------------------------------------ public
    def reset(self, x=None) -> None:
        """Zero every state (neurons at rest, synapses empty, readouts) and the step count;
        with ``x``, present new inputs (``(batch, *input_shape)``, a list or a dict by input
        name, held constant)."""
        if x is not None:
            xs = as_input_list(self.graph, x)
            self.batch = _batch_size(self.graph, xs)
            self._xs = dict(zip(self.graph.inputs, xs, strict=True))
        if self._xs is None:
            raise SnncError("Simulator.reset: no inputs yet (pass x)")
        b = self.batch
        self._state = {
            k: np.full((b, *shape), init, self.dtype)
            for k, (shape, init) in self.plan.state_shapes().items()
        }
        self._readout_state = {}
        for o, (kind, w) in self._readouts.items():
            shape = (b, *self.graph.type(o).shape)
            self._readout_state[o] = np.zeros(shape)  # running sum (or lowpass state)
            if kind == "window":  # and the running sums of the last w steps
                self._readout_state[o, "past"] = np.zeros((b, w, *shape[1:]))
        self._probe_parts: dict[str, list[np.ndarray]] = {p: [] for p in self.probes}
        #: weighted node -> [windows run event-driven, windows run dense] since the last reset
        self.modes: dict[str, list[int]] = {}
        self.times = {}
        self.t = 0

    def run(self, x, steps: int):
        """``reset(x)`` then ``run_steps(steps)``."""
        self.reset(x)
        return self.run_steps(steps)

    def run_steps(self, steps: int):
        """Advance ``steps`` steps from the current state.

        Returns:
            ``(batch, steps, *output_shape)`` array of the simulator's dtype (a list for
            several outputs): the readout of these steps (a running mean counts every step
            since the last reset).
        """
        steps = _check_steps(steps)
        if self._xs is None:
            raise SnncError("Simulator.run_steps: call reset(x) first")
        start = time.perf_counter()
        b = self.batch
        workers = min(self.threads, b)
        per_step = self.dtype.itemsize * max(1, sum(self._sizes.values()))
        window = max(1, self.block_bytes // per_step)  # sample-steps per window
        part = -(-b // workers)
        rows = min(part, window)
        tb = max(1, min(steps, window // rows))
        parts = [(r, min(r + part, b)) for r in range(0, b, part)]
        self._ensure_frames(len(parts), rows * tb)
        ys = [np.empty((b, steps, *self.graph.type(o).shape), self.dtype) for o in self.outputs]
        recs = {p: np.empty((b, steps, *self.graph.type(p).shape), self.dtype) for p in self.probes}

        def work(i: int) -> None:
            lo, hi = parts[i]
            fr = self._frames[i]
            fr.state = self._state
            fr.times = {} if self.profile else None
            for r0 in range(lo, hi, rows):
                self._run_chunk(fr, r0, min(r0 + rows, hi), steps, tb, ys, recs)

        # BLAS runs single-threaded inside the workers: one core each, and no thrashing when
        # other processes load the machine (multi-threaded small GEMMs slowed 2-6x then)
        with _blas_controller().limit(limits=1, user_api="blas"):
            if len(parts) == 1:
                work(0)
            else:
                list(_pool(len(parts)).map(work, range(len(parts))))
        for fr in self._frames:
            for k, (e, d) in fr.modes.items():
                m = self.modes.setdefault(k, [0, 0])
                m[0] += e
                m[1] += d
            fr.modes.clear()
            for k, v in (fr.times or {}).items():
                self.times[k] = self.times.get(k, 0.0) + v
        for p, a in recs.items():
            self._probe_parts[p].append(a)
        self.t += steps
        logger.debug(
            "simulated @%s: %d x %d steps, %d workers, chunks of %d rows x %d steps, %s %s, %.3f s",
            self.graph.name,
            b,
            steps,
            len(parts),
            rows,
            tb,
            self.backend,
            self.dtype,
            time.perf_counter() - start,
        )
        return ys[0] if len(ys) == 1 else ys

    @property
    def probe_data(self) -> dict[str, np.ndarray]:
        """Probed node -> ``(batch, steps since reset, *shape)`` raw values (a spiking
        neuron's value is ``amplitude / dt`` times its spike count in the step)."""
        return {
            p: parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
            for p, parts in self._probe_parts.items()
            if parts
        }

    # ------------------------------------------------------------------ internals
    def _ensure_frames(self, n: int, sample_steps: int) -> None:
        """One frame per worker, with flat buffers for ``sample_steps`` sample-steps
        (allocated once; grown only when a larger window is needed)."""
        for i in range(n):
            if i < len(self._frames) and self._frames[i].capacity >= sample_steps:
                continue
            buffers = {
                k: np.zeros(size * sample_steps, self.dtype) for k, size in self._sizes.items()
            }
            buffers.update(
                (k, np.zeros(size, self.dtype)) for k, size in self.plan.fixed_sizes().items()
            )
            fr = Frame(self.plan, buffers, {}, capacity=sample_steps)
            if i < len(self._frames):
                self._frames[i] = fr
            else:
                self._frames.append(fr)

    def _run_chunk(self, fr: Frame, r0: int, r1: int, steps: int, tb: int, ys, recs) -> None:
        fr.r0, fr.r1 = r0, r1
        fr.statics = self._statics(r0, r1)
        plan = self.plan
        for w0 in range(0, steps, tb):
            fr.n = min(tb, steps - w0)
            fr.t0 = self.t + w0
            if fr.times is None:
                for ins in plan.instrs:
                    ins.run(fr)
            else:  # profile=True: each instruction's CPU time (this thread's, so other
                # processes loading the machine do not count)
                for ins in plan.instrs:
                    start = time.thread_time()
                    ins.run(fr)
                    fr.times[ins.node] = fr.times.get(ins.node, 0.0) + time.thread_time() - start
            sl = (slice(r0, r1), slice(w0, w0 + fr.n))
            for o, y in zip(self.outputs, ys, strict=True):
                y[sl] = self._read(fr, o).swapaxes(0, 1)
            for p, rec in recs.items():
                rec[sl] = fr.over_time(plan.true_key(p)).swapaxes(0, 1)

    def _statics(self, r0: int, r1: int) -> dict[str, np.ndarray]:
        """The static values of rows ``r0 .. r1``: the interpreter in float64, stored in the
        simulator's dtype."""
        g = self.graph
        vals: dict[str, np.ndarray] = {}
        for n in self.plan.static:
            op = g.op(n)
            if isinstance(op, ops.Input):
                vals[n] = self._xs[n][r0:r1]
            else:
                vals[n] = np.asarray(
                    run_kernel(op, [vals[s] for s in g.inputs_of(n)], g.dt, n), np.float64
                )
        return {n: np.ascontiguousarray(v, self.dtype) for n, v in vals.items()}

    def _read(self, fr: Frame, o: str) -> np.ndarray:
        """Output ``o``'s readout over the window, ``(n, rows, *shape)``: the arithmetic of
        :meth:`snnc.ir.ops.Output.read` (float64 sums from the reset), carried across
        windows and ``run_steps`` calls in the readout state."""
        v = fr.over_time(o)
        kind, w = self._readouts[o]
        if kind == "raw":
            return v
        s = self._readout_state[o][fr.r0 : fr.r1]
        if kind == "lowpass":
            a, b = lowpass_coefficients(self.readout_tau, self.graph.dt)
            out = np.empty(v.shape)
            for t in range(fr.n):  # y[t] = a y[t-1] + b v[t]: includes this step's value
                s[...] = a * s + b * v[t]
                out[t] = s
            return out
        acc = v.astype(np.float64)
        acc[0] += s  # left to right, as one sum from the reset (windows change nothing)
        np.cumsum(acc, axis=0, out=acc)
        s[...] = acc[-1]
        t = np.arange(fr.t0 + 1, fr.t0 + fr.n + 1, dtype=np.float64)
        t = t.reshape((-1,) + (1,) * (acc.ndim - 1))
        if kind == "mean":
            return acc / t
        # window: (C[t] - C[t - w]) / min(t, w), C the running sum (0 before the reset)
        past = self._readout_state[o, "past"][fr.r0 : fr.r1]  # C[t0 - w + 1 .. t0]
        sums = np.concatenate([np.moveaxis(past, 1, 0), acc])
        past[...] = np.moveaxis(sums[-w:], 0, 1)
        return (acc - sums[: fr.n]) / np.minimum(t, w)


def simulate(
    graph: Graph,
    x,
    steps: int = 50,
    *,
    backend: str = "numba",
    dtype=np.float32,
    readout: str | None = None,
    return_all: bool = False,
    **options,
):
    """Simulate ``graph`` in time, each sample presented for ``steps`` steps of ``graph.dt``
    (a one-off :class:`Simulator`; keep one to run several inputs without set-up).

    In float64 it matches ``nengo.Simulator`` on the network ``snnc.codegen`` emits for the
    ``nengo`` target: the same spikes, raw outputs equal to ~1e-12 relative (nengo sums in
    another order and its lowpass coefficients can be a few ulp off). float32 (the default)
    rounds stored values and multiplies in float32: a spike can move by a step, so over 100
    steps spike counts differ from float64's by at most one per neuron, with the same
    predictions and readouts within 1% (tested on the digits CNN).

    Args:
        graph: a lowered graph.
        x: one array ``(batch, *input_shape)``, a list (one per input, in index order) or
            a dict keyed by input node name; held constant over the steps.
        steps: number of time steps (>= 1).
        backend, dtype, readout: see :class:`Simulator`.
        return_all: return every node's raw values (a dict by node name) instead of the
            outputs' readouts.
        **options: more :class:`Simulator` options (``event``, ``threads``, ``probes``...).

    Returns:
        ``(batch, steps, *output_shape)`` array of ``dtype`` (a list for several outputs),
        or with ``return_all`` a dict ``node -> (batch, steps, *shape)``.

    Raises:
        InputShapeError: ``x`` does not match the graph's inputs (the message names the
            expected shape) or the inputs have different batch sizes.
        SnncError: a bad ``steps``, ``backend``, ``dtype`` or ``readout``.
        IRError: an op without a kernel.
    """
    steps = _check_steps(steps)
    if return_all:
        options["probes"] = graph.topo_order()
    sim = Simulator(graph, backend=backend, dtype=dtype, readout=readout, **options)
    ys = sim.run(x, steps)
    return sim.probe_data if return_all else ys


# =============================================================================== checks


def _check_steps(steps) -> int:
    from snnc.runcost import check_steps

    return check_steps(steps, "simulate")


def _check_options(backend: str, dtype, readout, window, readout_tau, event) -> None:
    if backend not in BACKENDS:
        raise SnncError(
            f"simulate: unknown backend {backend!r} (expected one of {', '.join(BACKENDS)})"
        )
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise SnncError(f"simulate: dtype must be float32 or float64 (got {np.dtype(dtype)})")
    if readout is not None and readout not in READOUTS:
        raise SnncError(
            f"simulate: unknown readout {readout!r} (expected one of {', '.join(READOUTS)})"
        )
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int) or window < 1
    ):
        raise SnncError(f"simulate: window must be an integer >= 1 (got {window!r})")
    if not (
        isinstance(readout_tau, (int, float)) and readout_tau > 0 and math.isfinite(readout_tau)
    ):
        raise SnncError(f"simulate: readout_tau must be a time constant > 0 (got {readout_tau!r})")
    if event not in EVENT_MODES:
        raise SnncError(
            f"simulate: unknown event mode {event!r} (expected one of {', '.join(EVENT_MODES)})"
        )


def _batch_size(graph: Graph, xs: list[np.ndarray]) -> int:
    sizes = [a.shape[0] for a in xs]
    if len(set(sizes)) != 1:
        raise InputShapeError(
            f"graph @{graph.name}: inputs {graph.inputs} have different batch sizes {sizes} "
            "(expected one batch size)"
        )
    return sizes[0]

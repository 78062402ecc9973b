"""Accuracy sweeps: weight bit-width x activation bit-width x time steps (``snnc sweep``).

::

    from snnc.sweep import load_data, run_sweep
    x, y = load_data("data.npz")
    result = run_sweep("model.keras", x, y, weight_bits=(8, 32), act_bits=(1, 2, 4, 32),
                       steps=(4, 8, 16, 32), calibration=x_cal)
    print(result.format_table())
    result.save_json("sweep.json"); result.plot("sweep.png")

For each ``(weight_bits, act_bits)`` pair the model is compiled once (the target's default
pipeline, edited by :func:`sweep_pipeline`), simulated once for ``max(steps)`` steps with
snnc's simulator (:class:`snnc.sim.Simulator`, the numba kernel), and the accuracy after
every requested step count ``t`` is ``ys[:, t-1].argmax(-1)``: the readout convention of
shared/DESIGN.md (the output's value at step ``t`` is, by default, the running mean over
steps 1..t; a pipeline may choose another readout on ``nn.output``, which is then used).
That works because a simulation is causal: the first ``t`` steps of a long run are the run
of ``t`` steps.

Each grid point gets a Wilson 95% interval (it stays inside [0, 1] and is honest for
accuracies near 100% on a few hundred samples, where the normal approximation is not) and a
count of synaptic operations per inference (:func:`synop_counter`).

Scale-out: the simulations run as tasks on Dask distributed, one task per ``(weight_bits,
act_bits, chunk of samples)``. By default a ``LocalCluster`` of worker *processes* (one
thread each: the numba kernels hold the GIL, so threads would not run in parallel); an
address connects to an existing cluster. Finished tasks are cached on disk under a key made
of the compiled graph's fingerprint, a hash of the chunk's samples and the simulator
settings (plus a hash of the simulator's source, so a changed kernel never serves stale
numbers), so re-running a sweep, or extending it with more bit widths, only simulates what
is new.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from snnc.errors import SnncError

logger = logging.getLogger(__name__)

#: ``act_bits`` value meaning "no activation quantization": rate neurons (``rate-relu``)
RATE_BITS = 32
#: ``weight_bits`` value meaning "no weight quantization": the float32 weights as they are
FLOAT_BITS = 32
#: largest graded-spike width the ``graded-if`` neuron accepts (its ``bits`` field)
MAX_GRADED_BITS = 16
#: z of a two-sided 95% interval
Z95 = 1.959963984540054
#: bump when the cache entry layout or what a task computes changes
CACHE_FORMAT = 1
#: samples per task by default: small enough for several tasks per worker (progress and
#: balance), large enough that per-task overhead (graph transfer, plan set-up) is noise
DEFAULT_CHUNK = 256
#: bytes a task may spend on probed neuron values (batch x steps x neurons); larger models
#: get smaller chunks so that a worker's memory stays bounded
PROBE_BYTES = 512 << 20


# =============================================================================== pipelines


def sweep_pipeline(base: str, weight_bits: int, act_bits: int) -> str:
    """The pass pipeline of one grid point: ``base`` (a target's default pipeline) edited so
    that activations have ``act_bits`` and weights ``weight_bits``.

    The mapping, explicitly:

    - ``act_bits < 32``: ``lower-activations{neuron=graded-if,bits=A}`` (k-bit
      integrate-and-fire: 0..2**A-1 spikes per step; ``A=1`` is binary spiking);
    - ``act_bits == 32``: ``lower-activations{neuron=rate-relu}`` (non-spiking rates, the
      ANN's float activations), with any ``bits`` option removed;
    - ``weight_bits < 32``: ``quantize{weight_bits=W}``: an existing ``quantize`` pass gets
      the option; otherwise the pass is inserted after the last pass that changes
      parameters' scale (so it quantizes the final weights), i.e. before a trailing
      ``legalize`` pass if there is one, else at the end;
    - ``weight_bits == 32``: the pipeline's weights are left as they are (float32 for nengo
      and nengo-dl; a target whose pipeline quantizes for its hardware keeps doing so).

    The activation mapping applies to every target: on ``loihi`` too, ``graded-if``
    replaces the target's ``loihi-if`` (the catalogue has no Loihi graded neuron), so a
    loihi sweep differs from a nengo one only in the rest of its pipeline.

    The text is edited syntactically (the pipeline is checked when it runs, so a missing
    pass is reported by :func:`check_pipeline` with the grid point it belongs to).

    Raises:
        SnncError: bit widths out of range, or ``base`` has no ``lower-activations`` pass.
    """
    from snnc.passes.pipeline import split_pipeline

    _check_bits(weight_bits, act_bits)
    items = split_pipeline(base)
    lowering = [i for i, (name, _) in enumerate(items) if name == "lower-activations"]
    if not lowering:
        raise SnncError(
            f"sweep: pipeline {base!r} has no lower-activations pass, so activation bit "
            "widths cannot be set",
            hint="give a pipeline that lowers activations (the targets' defaults do)",
        )
    for i in lowering:
        name, opts = items[i]
        opts = {k: v for k, v in opts.items() if k != "bits"}
        if act_bits >= RATE_BITS:
            opts["neuron"] = "rate-relu"
        else:
            opts["neuron"] = "graded-if"
            opts["bits"] = str(act_bits)
        items[i] = (name, opts)
    if weight_bits < FLOAT_BITS:
        quantize = [i for i, (name, _) in enumerate(items) if name == "quantize"]
        if quantize:
            for i in quantize:
                items[i] = ("quantize", {**items[i][1], "weight_bits": str(weight_bits)})
        else:
            at = len(items)
            while at > 0 and items[at - 1][0].startswith("legalize"):
                at -= 1
            items.insert(at, ("quantize", {"weight_bits": str(weight_bits)}))
    return ",".join(_item_text(name, opts) for name, opts in items)


def _item_text(name: str, opts: dict[str, str]) -> str:
    if not opts:
        return name
    return name + "{" + ",".join(f"{k}={v}" for k, v in opts.items()) + "}"


def _check_bits(weight_bits: int, act_bits: int) -> None:
    for what, v, ok in (
        ("weight bits", weight_bits, lambda b: 1 <= b <= FLOAT_BITS),
        ("activation bits", act_bits, lambda b: 1 <= b <= MAX_GRADED_BITS or b == RATE_BITS),
    ):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or not ok(v):
            allowed = (
                f"1..{FLOAT_BITS} (32 = float weights)"
                if what == "weight bits"
                else f"1..{MAX_GRADED_BITS} or {RATE_BITS} (32 = rate neurons)"
            )
            raise SnncError(f"sweep: {what} {v!r} out of range (expected {allowed})")


def check_pipeline(pipeline: str, weight_bits: int, act_bits: int) -> None:
    """Parse ``pipeline`` (made by :func:`sweep_pipeline`) and say clearly which grid point
    needs what when a pass is missing: until the ``quantize`` pass exists, every
    ``weight_bits < 32`` point fails here, before anything is simulated.

    Raises:
        SnncError: an unknown pass or a bad option.
    """
    from snnc.passes import PASSES, parse_pipeline

    if weight_bits < FLOAT_BITS and "quantize" not in PASSES:
        raise SnncError(
            f"sweep: weight_bits={weight_bits} needs the 'quantize' pass, which this snnc "
            f"does not have (passes: {', '.join(sorted(PASSES))})",
            hint="sweep float weights only (--weight-bits 32), or load a quantize pass "
            "plugin",
        )
    try:
        parse_pipeline(pipeline)
    except SnncError as e:
        raise SnncError(
            f"sweep: the pipeline of weight_bits={weight_bits}, act_bits={act_bits} "
            f"({pipeline!r}) is not valid: {e.message}",
            hint=e.hint,
        ) from None


# =============================================================================== data


def load_data(
    path: str | os.PathLike, graph=None, *, max_member_bytes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``x`` (inputs, batch-first) and ``y`` (integer class labels) from a ``.npz``,
    checked by :func:`check_data` (against ``graph`` when given). ``max_member_bytes`` caps
    each array (see :func:`snnc.datafiles.read_arrays`; None: the default).

    Labels may be stored as integers or as floats holding whole numbers; they are returned
    as int64.

    Raises:
        ModelFileError: the file cannot be read, lacks ``x`` or ``y`` (the message lists
            the keys it has), or ``x`` / ``y`` have bad values, shapes or non-integer
            labels; the message names the file.
    """
    from snnc.datafiles import read_xy_npz
    from snnc.errors import ModelFileError

    x, y = read_xy_npz(path, "sweep data", max_member_bytes=max_member_bytes)
    try:
        return check_data(x, y, graph, where=str(path))
    except SnncError as e:  # all about the file
        raise ModelFileError(e.message, hint=e.hint) from None


def check_data(x, y, graph=None, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Check inputs ``x`` ``(N, ...)`` and labels ``y`` ``(N,)`` (with the checks of
    :mod:`snnc.datafiles`; against ``graph`` when given: one input of ``x``'s sample shape,
    one output with a class for every label) and return them as ``(float32 array, int64
    array)``. ``where`` names the file they came from.

    Raises:
        SnncError: empty data, mismatched lengths, non-finite inputs, labels that are not
            1-D whole non-negative numbers, data that does not fit ``graph``.
    """
    from snnc.datafiles import check_array, check_inputs, check_label_fit, check_labels

    wx, wy = (f"{where}: array 'x'", f"{where}: array 'y'") if where else ("x", "y")
    x = check_array(x, wx)
    y = check_labels(y, wy)
    check_label_fit(y, len(x), wy, wx)
    if graph is not None:
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            raise SnncError(
                f"sweep: model @{graph.name} has {len(graph.inputs)} inputs and "
                f"{len(graph.outputs)} outputs (expected one of each: x holds one input, y one "
                "label per sample)"
            )
        (x,) = check_inputs(graph, x, wx)
        check_label_fit(y, len(x), wy, wx, graph)
    return x.astype(np.float32, copy=False), y


# =============================================================================== statistics


def wilson_interval(hits: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``hits / n`` (95% for the default z).

    Returns ``(low, high)`` within [0, 1]; ``(0, 1)`` for ``n == 0``.
    """
    if n <= 0:
        return 0.0, 1.0
    p = hits / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # at p = 0 or 1 the bound is exactly 0 or 1 (rounding would leave ~1e-20 otherwise)
    lo = 0.0 if hits == 0 else max(0.0, centre - half)
    hi = 1.0 if hits == n else min(1.0, centre + half)
    return lo, hi


# =============================================================================== synops


class NoFanoutRule(SnncError):
    """A neuron feeds an op whose fan-out :func:`synop_counter` cannot count."""


def synop_counter(graph):
    """A function ``count(traces, steps) -> (synops, events)`` for ``graph``'s neuron nodes
    (listed in its attribute ``neurons``).

    ``traces`` maps every neuron node to its raw simulated values ``(batch, steps, *shape)``
    (``Simulator(graph, probes=count.neurons).probe_data``). The results are ``(steps,)``
    float64 arrays
    of synaptic operations *summed over the batch* in each step:

    - ``synops``: every spike is delivered along every synapse leaving its neuron, so a
      neuron's spike count in a step (``value * dt / amplitude``; a graded spike of ``n``
      counts ``n``) times its fan-out. A rate neuron sends a value, not spikes: each step it
      is non-zero counts one operation per synapse (the multiply-accumulates an
      event-driven rate network does);
    - ``events``: messages, i.e. non-zero outputs times fan-out (a graded spike of any size
      is one message, as on hardware with graded spikes).

    Fan-out is the number of non-zero weights a neuron's output reaches at the first op
    that combines values: a dense or convolution layer (exact, border effects and
    zero weights included), a depthwise convolution, an average pool, a sum (``nn.add``),
    a channel affine, or another neuron. Ops that only move values (flatten, reshape,
    concat, pad, crop, transpose, upsample) are followed to the ops behind them; edges to a
    graph output count nothing (the readout is not a synapse). The graph's input layer
    sends values, not spikes, and is not counted.

    Raises:
        NoFanoutRule: a neuron reaches an op it has no rule for (max pooling, a host op).
    """
    from snnc.ir import ops
    from snnc.ir.traits import Neuron

    neurons = [n for n in graph.topo_order() if graph.op(n).has(Neuron)]
    # fail now, not after a simulation, when some path has no rule
    for n in neurons:
        _fanout_totals(graph, n, np.zeros((1, *graph.type(n).shape)))

    def count(traces: dict[str, np.ndarray], steps: int) -> tuple[np.ndarray, np.ndarray]:
        synops = np.zeros(steps)
        events = np.zeros(steps)
        for n in neurons:
            op = graph.op(n)
            v = traces[n]  # (batch, steps, *shape), the simulator's dtype
            active = (v != 0).sum(axis=0, dtype=np.float64)  # (steps, *shape): batch summed
            if ops.is_spiking(op):
                # counts are small integers, exact in float32 too
                spikes = np.rint(v * (graph.dt / op.amplitude)).sum(axis=0, dtype=np.float64)
            else:
                spikes = active
            synops += _fanout_totals(graph, n, spikes)
            events += _fanout_totals(graph, n, active)
        return synops, events

    count.neurons = neurons
    return count


def _fanout_totals(graph, node: str, counts: np.ndarray) -> np.ndarray:
    """``(T,)``: for ``counts`` ``(T, *shape of node)`` events leaving ``node``, the number
    of synaptic operations they cause per step (see :func:`synop_counter`)."""
    from snnc.ir import ops
    from snnc.ir.interpreter import run_kernel
    from snnc.ir.traits import ChannelAffine, HasWeights, MovesValues, Neuron

    total = np.zeros(counts.shape[0])
    for dst, port in graph.users(node):
        op = graph.op(dst)
        if isinstance(op, ops.Output):
            continue
        if op.has(MovesValues):
            # push the counts through (zeros on the other inputs of a concat): a moved or
            # duplicated value reaches what follows as often as the op places it
            ins = [np.zeros((counts.shape[0], *graph.type(s).shape)) for s in graph.inputs_of(dst)]
            ins[port] = counts
            moved = run_kernel(op, ins, graph.dt, dst)
            total += _fanout_totals(graph, dst, np.asarray(moved, np.float64))
        elif op.has(HasWeights):
            # sum over outputs of (|W| != 0) @ counts = sum_i counts_i * fanout_i
            ones = op.replace(
                weight=(np.asarray(op.weight) != 0).astype(np.float32), bias=None, quant=()
            )
            y = run_kernel(ones, [counts], graph.dt, dst)
            total += _per_step_sum(y)
        elif isinstance(op, ops.Add):
            total += _per_step_sum(counts) * (op.coeffs[port] != 0)
        elif isinstance(op, ops.AvgPool):
            total += _per_step_sum(_window_sums(op, counts))
        elif isinstance(op, ops.GlobalAvgPool) or op.has(ChannelAffine) or op.has(Neuron):
            # one synapse per value: each input element reaches exactly one output
            total += _per_step_sum(counts)
        else:
            raise NoFanoutRule(
                f"sweep: cannot count synaptic operations from neuron '{node}' into "
                f"'{dst}' ({op.kind}): no fan-out rule for this op"
            )
    return total


def _per_step_sum(y) -> np.ndarray:
    y = np.asarray(y, np.float64)
    return y.reshape(y.shape[0], -1).sum(axis=1)


def _window_sums(op, counts: np.ndarray) -> np.ndarray:
    """Each pooling window's *sum* of ``counts`` (padded cells contribute nothing): summed
    over windows, every input counts once per window that covers it, its fan-out."""
    from snnc.ir.interpreter import conv_nd
    from snnc.ir.ops import resolve_padding

    n = len(op.pool_size)
    channels = counts.shape[-1]
    spatial = counts.shape[-n - 1 : -1]
    strides = tuple(op.strides) if isinstance(op.strides, tuple | list) else (op.strides,) * n
    pads = resolve_padding(op.padding, spatial, op.pool_size, strides, (1,) * n)
    ones = np.ones((*op.pool_size, 1, channels))
    return conv_nd(counts, ones, strides, (1,) * n, pads, groups=channels)


# =============================================================================== one task


@dataclass
class ChunkResult:
    """What one task returns: per-step totals over its samples (index ``t-1`` = after ``t``
    steps)."""

    n: int  # samples
    correct: np.ndarray  # (T,) int: samples whose readout's argmax after t steps is right
    synops: np.ndarray | None  # (T,) synaptic operations summed over samples, cumulative
    events: np.ndarray | None  # (T,) messages summed over samples, cumulative
    seconds: float  # time spent simulating and counting

    def to_json(self) -> dict:
        return {
            "n": self.n,
            "steps": int(len(self.correct)),
            "correct": self.correct.tolist(),
            "synops": None if self.synops is None else self.synops.tolist(),
            "events": None if self.events is None else self.events.tolist(),
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, d: dict, steps: int | None = None) -> ChunkResult:
        t = steps if steps is not None else d["steps"]

        def arr(v, dtype):
            return None if v is None else np.asarray(v[:t], dtype)

        return cls(d["n"], arr(d["correct"], np.int64), arr(d["synops"], np.float64), arr(d["events"], np.float64), d["seconds"])


def simulate_chunk(
    graph, x: np.ndarray, y: np.ndarray, steps: int, dtype: str = "float32", threads: int | None = None
) -> ChunkResult:
    """Simulate ``graph`` on one chunk of samples for ``steps`` steps and score every step.

    This is the Dask task; it runs on a worker, so it only needs the graph and the arrays.
    The neuron layers are probed (their raw per-step values) for the synaptic operation
    count; the output is read as its ``nn.output`` op says (by default the running mean
    over steps 1..t, the readout convention). ``threads`` caps the
    simulator's worker threads (a Dask worker owns one core). An
    :class:`~snnc.errors.SnncError` is re-raised as a plain SnncError carrying the same
    text, because some subclasses take keyword arguments that do not survive pickling
    back to the client.
    """
    from snnc.sim import Simulator

    start = time.perf_counter()
    try:
        try:
            counter = synop_counter(graph)
        except NoFanoutRule as e:
            logger.warning("%s; synops not counted", e)
            counter = None
        # the output op's own readout (running mean unless the pipeline chose another):
        # ys[:, t-1] is the model's prediction after t steps under it
        sim = Simulator(
            graph, dtype=np.dtype(dtype), backend="numba",
            probes=counter.neurons if counter is not None else (), threads=threads,
        )
        ys = sim.run(x, steps)
        predictions = ys.reshape(len(x), steps, -1).argmax(axis=-1)
        correct = (predictions == y[:, None]).sum(axis=0).astype(np.int64)
        synops = events = None
        if counter is not None:
            per_step, per_step_events = counter(sim.probe_data, steps)
            synops, events = np.cumsum(per_step), np.cumsum(per_step_events)
    except SnncError as e:
        raise SnncError(str(e)) from None
    return ChunkResult(len(x), correct, synops, events, time.perf_counter() - start)


# =============================================================================== cache


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/snnc/sweep`` (``~/.cache/snnc/sweep``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "snnc" / "sweep"


def _code_hash() -> str:
    """Hash of the source that decides a task's numbers (simulator, neuron catalogue,
    interpreter kernels, this module): a changed kernel must not be served from cache."""
    h = hashlib.sha256()
    names = ["snnc.sim", "snnc.ir.neurons", "snnc.ir.interpreter", "snnc.sweep"]
    for name in names:
        spec = importlib.util.find_spec(name)
        paths = []
        if spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                paths += sorted(Path(folder).glob("*.py"))
        elif spec.origin:
            paths.append(Path(spec.origin))
        for p in paths:
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _array_hash(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


class SweepCache:
    """Task results on disk, one JSON file per ``(graph fingerprint, chunk hash, simulator
    settings, code hash)``. An entry simulated for ``T`` steps serves any request of at most
    ``T`` steps (the first steps of a long run are the short run). ``folder=None`` disables
    caching."""

    def __init__(self, folder: str | os.PathLike | None):
        self.folder = None if folder is None else Path(folder)
        self.code = _code_hash()

    def key(self, fingerprint: str, chunk_hash: str, dtype: str) -> str:
        text = json.dumps(
            {"format": CACHE_FORMAT, "graph": fingerprint, "data": chunk_hash, "dtype": dtype,
             "backend": "numba", "code": self.code},
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def get(self, key: str, steps: int) -> ChunkResult | None:
        if self.folder is None:
            return None
        path = self.folder / f"{key}.json"
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if entry.get("steps", 0) < steps:
            return None
        return ChunkResult.from_json(entry, steps)

    def put(self, key: str, result: ChunkResult) -> None:
        if self.folder is None:
            return
        from snnc.ir.serialize import atomic_write_bytes

        try:
            atomic_write_bytes(self.folder / f"{key}.json", json.dumps(result.to_json()).encode())
        except OSError as e:  # a read-only cache must not fail a finished sweep
            logger.warning("sweep: cannot write cache entry in %s (%s)", self.folder, e)


# =============================================================================== results


@dataclass
class SweepResult:
    """A finished sweep: ``points`` (one dict per grid point, see :meth:`to_json`) plus
    what was swept and how."""

    model: str
    target: str
    samples: int
    weight_bits: tuple[int, ...]
    act_bits: tuple[int, ...]
    steps: tuple[int, ...]
    points: list[dict]
    configs: list[dict]  # per (weight_bits, act_bits): pipeline, fingerprint, seconds
    ann_accuracy: float | None = None
    meta: dict = field(default_factory=dict)

    def point(self, weight_bits: int, act_bits: int, steps: int) -> dict:
        """The grid point with these settings."""
        for p in self.points:
            if (p["weight_bits"], p["act_bits"], p["steps"]) == (weight_bits, act_bits, steps):
                return p
        raise KeyError((weight_bits, act_bits, steps))

    def to_json(self) -> dict:
        """JSON-ready dict: ``points`` holds one object per grid point with ``weight_bits``,
        ``act_bits``, ``steps``, ``accuracy``, ``ci_low``, ``ci_high`` (Wilson 95%),
        ``synops`` (synaptic operations per inference, None when not countable), plus
        ``correct``, ``samples`` and ``events`` (messages per inference)."""
        return {
            "model": self.model,
            "target": self.target,
            "samples": self.samples,
            "ann_accuracy": self.ann_accuracy,
            "weight_bits": list(self.weight_bits),
            "act_bits": list(self.act_bits),
            "steps": list(self.steps),
            "configs": self.configs,
            "points": self.points,
            **self.meta,
        }

    def save_json(self, path: str | os.PathLike) -> None:
        from snnc.ir.serialize import atomic_write_bytes

        atomic_write_bytes(path, (json.dumps(self.to_json(), indent=2) + "\n").encode())

    def format_table(self) -> str:
        """Two text tables: accuracy with its Wilson 95% interval, and synaptic operations
        per inference; rows ``(weight bits, act bits)``, columns steps."""
        head = f"{'W':>3} {'A':>3}"
        lines = []
        ann = "" if self.ann_accuracy is None else f"; ANN (rate, float weights) {self.ann_accuracy:.2%}"
        lines.append(
            f"model {self.model}, target {self.target}, {self.samples} samples{ann}. "
            "W = weight bits, A = activation bits (32: float weights / rate neurons)"
        )
        lines.append("")
        lines.append("accuracy % [Wilson 95% interval] after N steps")
        width = 20
        lines.append(head + " | " + " | ".join(f"{s:>{width}}" for s in self.steps))
        for w in self.weight_bits:
            for a in self.act_bits:
                cells = []
                for s in self.steps:
                    p = self.point(w, a, s)
                    cells.append(
                        f"{100 * p['accuracy']:5.1f} [{100 * p['ci_low']:4.1f}, {100 * p['ci_high']:5.1f}]".rjust(width)
                    )
                lines.append(f"{w:>3} {a:>3} | " + " | ".join(cells))
        lines.append("")
        lines.append("synaptic operations per inference (spikes x fan-out) after N steps")
        width = 9
        lines.append(head + " | " + " | ".join(f"{s:>{width}}" for s in self.steps))
        for w in self.weight_bits:
            for a in self.act_bits:
                cells = [_si(self.point(w, a, s)["synops"]).rjust(width) for s in self.steps]
                lines.append(f"{w:>3} {a:>3} | " + " | ".join(cells))
        return "\n".join(lines) + "\n"

    def plot(self, path: str | os.PathLike) -> None:
        """Save a PNG heat map: one panel per weight bit width, activation bits x steps,
        colour and label = accuracy (%)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        panels = len(self.weight_bits)
        cols = panels if panels <= 2 else 2  # a grid, not a strip, when there are many
        rows = -(-panels // cols)
        fig = Figure(
            figsize=(0.7 * len(self.steps) * cols + 1.8, (0.45 * len(self.act_bits) + 1.0) * rows + 0.4),
            layout="constrained",
        )
        FigureCanvasAgg(fig)
        grid_axes = fig.subplots(rows, cols, squeeze=False)
        axes = [ax for row in grid_axes for ax in row]
        for ax in axes[panels:]:
            ax.set_visible(False)
        axes = axes[:panels]
        image = None
        for ax, w in zip(axes, self.weight_bits, strict=True):
            grid = np.array([[100 * self.point(w, a, s)["accuracy"] for s in self.steps] for a in self.act_bits])
            image = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis", aspect="auto")
            for i in range(grid.shape[0]):
                for j in range(grid.shape[1]):
                    ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=7,
                            color="black" if grid[i, j] > 60 else "white")
            ax.set_xticks(range(len(self.steps)), [str(s) for s in self.steps])
            ax.set_yticks(range(len(self.act_bits)), [("rate" if a >= RATE_BITS else f"{a}") for a in self.act_bits])
            ax.set_xlabel("steps")
            ax.set_ylabel("activation bits")
            ax.set_title("float weights" if w >= FLOAT_BITS else f"{w}-bit weights", fontsize=9)
        fig.colorbar(image, ax=list(axes), label="accuracy %")
        title = f"{Path(self.model).name} ({self.target}, {self.samples} samples)"
        if self.ann_accuracy is not None:
            title += f"; ANN {100 * self.ann_accuracy:.1f}%"
        fig.suptitle(title, fontsize=9)
        from snnc.ir.output_files import save_figure

        save_figure(fig, path, dpi=120)


def _si(v: float | None) -> str:
    if v is None:
        return "n/a"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.3g}"


# =============================================================================== the sweep


def parse_bits(text: str, what: str) -> tuple[int, ...]:
    """``"2,4,8,32"`` -> ``(2, 4, 8, 32)`` (sorted, duplicates removed).

    Raises:
        SnncError: an entry that is not a positive integer.
    """
    values = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            v = int(part)
        except ValueError:
            raise SnncError(f"{what}: {part!r} is not an integer (expected a comma-separated list like 1,2,4)") from None
        if v < 1:
            raise SnncError(f"{what}: {v} must be >= 1")
        values.append(v)
    if not values:
        raise SnncError(f"{what}: empty list")
    return tuple(sorted(set(values)))


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def run_sweep(
    model,
    x,
    y,
    *,
    weight_bits: Iterable[int] = (FLOAT_BITS,),
    act_bits: Iterable[int] = (1, 2, 4, 8),
    steps: Iterable[int] = (4, 8, 16, 32, 64),
    target: str = "nengo",
    pipeline: str | None = None,
    calibration=None,
    scheduler: str | None = None,
    workers: int = 2,
    cache_dir: str | os.PathLike | None = "default",
    chunk_size: int = DEFAULT_CHUNK,
    dtype: str = "float32",
    progress: bool = True,
    seed: int = 0,
    limits=None,
    max_run_values: int | None = None,
) -> SweepResult:
    """Run the accuracy grid ``weight_bits x act_bits x steps`` (see the module docstring).

    Args:
        model: anything :func:`snnc.load` takes (a ``.keras`` file, a Graph, ...).
        x, y: inputs ``(N, *input_shape)`` and integer labels ``(N,)``.
        weight_bits: weight bit widths (32: float weights).
        act_bits: activation bit widths (1..16: ``graded-if`` neurons; 32: rate neurons).
        steps: step counts at which to score; one simulation of ``max(steps)`` per point.
        target: whose default pipeline to start from (``nengo``, ``nengo-dl``, ``loihi``).
        pipeline: a base pipeline replacing the target's default (it must lower activations).
        calibration: inputs for data-driven passes (``normalize-rates``): arrays or the
            path of a ``.npy`` / ``.npz``, checked against the model.
        scheduler: address of a running Dask scheduler; None starts a LocalCluster.
        workers: LocalCluster worker processes (one thread each); 0 runs the tasks in this
            process without Dask (for debugging).
        cache_dir: task-result cache folder; ``"default"`` is :func:`default_cache_dir`,
            None disables the cache.
        chunk_size: samples per task.
        dtype: simulator storage precision (``float32``, the fast default, or ``float64``).
        progress: show a tqdm bar on stderr.
        seed: seed of the passes' random generator.
        limits: a :class:`snnc.frontend.limits.Limits` raising the bounds on reading
            ``model`` (and, with ``max_member_bytes``, a ``calibration`` file).
        max_run_values: most values a task may record for one sample (``max(steps) x``
            the neurons and outputs; default :data:`snnc.runcost.MAX_RUN_VALUES`),
            checked before any simulation.

    Returns:
        a :class:`SweepResult`.

    Raises:
        SnncError: bad data, bad bit widths, a pipeline that cannot run (for
            ``weight_bits < 32`` while there is no ``quantize`` pass), a bad scheduler.
    """
    from snnc.api import calibration_data, evaluate, load
    from snnc.codegen import get_target
    from snnc.ir.traits import Neuron
    from snnc.passes import PassContext, run_pipeline
    from snnc.runcost import check_run_values

    start = time.perf_counter()
    graph = load(model, limits=limits)
    x, y = check_data(x, y, graph)
    calibration = calibration_data(graph, calibration, limits=limits)
    weight_bits = tuple(sorted(set(int(w) for w in weight_bits)))
    act_bits = tuple(sorted(set(int(a) for a in act_bits)))
    steps = tuple(sorted(set(int(s) for s in steps)))
    if not (weight_bits and act_bits and steps) or steps[0] < 1:
        raise SnncError("sweep: weight bits, activation bits and steps must be non-empty, steps >= 1")
    if chunk_size < 1:
        raise SnncError(f"sweep: chunk size must be >= 1 (got {chunk_size})")
    if workers < 0:
        raise SnncError(f"sweep: workers must be >= 0 (got {workers})")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise SnncError(f"sweep: dtype must be float32 or float64 (got {dtype})")
    dtype = np.dtype(dtype).name
    tgt = get_target(target)
    base = pipeline if pipeline is not None else tgt.default_pipeline
    combos = [(w, a) for w in weight_bits for a in act_bits]
    texts = {}
    for w, a in combos:  # every pipeline is checked before anything is compiled
        texts[w, a] = sweep_pipeline(base, w, a)
        check_pipeline(texts[w, a], w, a)

    ann = evaluate(graph, x)
    ann_accuracy = float(np.mean(np.asarray(ann).reshape(len(x), -1).argmax(-1) == y))

    compiled, configs = {}, []
    for w, a in combos:
        t0 = time.perf_counter()
        ctx = PassContext.default(target=tgt.name, calibration=calibration, seed=seed)
        g = run_pipeline(graph, texts[w, a], ctx)[0]
        compiled[w, a] = g
        configs.append({
            "weight_bits": w, "act_bits": a, "pipeline": texts[w, a],
            "fingerprint": g.fingerprint(), "compile_seconds": round(time.perf_counter() - t0, 3),
        })
        logger.info("sweep: W=%d A=%d compiled (%s)", w, a, texts[w, a])

    t_max = steps[-1]
    neurons = max(
        sum(g.type(n).size for n in g.topo_order() if g.op(n).has(Neuron)) for g in compiled.values()
    )
    out_values = graph.type(graph.outputs[0]).size
    # a task holds at least one sample's record: every step of every neuron and the output
    check_run_values(
        "sweep",
        f"one sample's record ({t_max:,} steps x {neurons + out_values:,} neuron and output "
        "values)",
        t_max * (neurons + out_values),
        max_run_values,
    )
    per_sample = max(1, t_max * neurons * np.dtype(dtype).itemsize)
    if chunk_size * per_sample > PROBE_BYTES:
        chunk_size = max(1, PROBE_BYTES // per_sample)
        logger.info("sweep: %d samples per task (probes of %d neurons x %d steps)", chunk_size, neurons, t_max)
    cache = SweepCache(None if cache_dir is None else (default_cache_dir() if cache_dir == "default" else cache_dir))
    chunks = _chunks(len(x), chunk_size)
    chunk_hashes = [_array_hash(x[c], y[c]) for c in chunks]
    results: dict[tuple[int, int, int], ChunkResult] = {}
    todo = []
    for w, a in combos:
        fp = compiled[w, a].fingerprint()
        for i, h in enumerate(chunk_hashes):
            key = cache.key(fp, h, dtype)
            hit = cache.get(key, t_max)
            if hit is not None:
                results[w, a, i] = hit
            else:
                todo.append((w, a, i, key))
    logger.info("sweep: %d tasks, %d from cache", len(combos) * len(chunks), len(combos) * len(chunks) - len(todo))

    executed = _execute(todo, compiled, x, y, chunks, t_max, dtype, scheduler, workers, progress)
    for (w, a, i, key), res in executed.items():
        results[w, a, i] = res
        cache.put(key, res)

    points = []
    for w, a in combos:
        parts = [results[w, a, i] for i in range(len(chunks))]
        n = sum(p.n for p in parts)
        correct = sum(p.correct for p in parts)
        countable = all(p.synops is not None for p in parts)
        synops = sum(p.synops for p in parts) / n if countable else None
        events = sum(p.events for p in parts) / n if countable else None
        for s in steps:
            hits = int(correct[s - 1])
            lo, hi = wilson_interval(hits, n)
            points.append({
                "weight_bits": w, "act_bits": a, "steps": s,
                "accuracy": hits / n, "ci_low": lo, "ci_high": hi,
                "synops": None if synops is None else float(synops[s - 1]),
                "events": None if events is None else float(events[s - 1]),
                "correct": hits, "samples": n,
            })
        for c in configs:
            if (c["weight_bits"], c["act_bits"]) == (w, a):
                c["simulate_seconds"] = round(sum(p.seconds for p in parts), 3)
    name = str(model) if isinstance(model, str | os.PathLike) else graph.name
    return SweepResult(
        model=name, target=tgt.name, samples=len(x), weight_bits=weight_bits,
        act_bits=act_bits, steps=steps, points=points, configs=configs,
        ann_accuracy=ann_accuracy,
        meta={
            "readout": "argmax of ys[:, t-1], the output op's readout after t steps: "
            + ", ".join(sorted(_readouts(compiled.values()))),
            "interval": "Wilson score, 95%",
            "dtype": dtype,
            "tasks": len(combos) * len(chunks),
            "tasks_cached": len(combos) * len(chunks) - len(todo),
            "seconds": round(time.perf_counter() - start, 3),
        },
    )


def _readouts(graphs) -> set[str]:
    """The readouts of the graphs' outputs, as text (``mean``, ``window=8``, ``raw``)."""
    out = set()
    for g in graphs:
        for o in g.outputs:
            op = g.op(o)
            out.add(f"window={op.window}" if op.readout == "window" else op.readout)
    return out


def _execute(todo, compiled, x, y, chunks, steps, dtype, scheduler, workers, progress) -> dict:
    """Run the uncached tasks: on Dask (a LocalCluster, or ``scheduler``), or in this
    process when ``workers == 0`` and no scheduler is given."""
    if not todo:
        return {}
    bar = _bar(len(todo), progress)
    out = {}
    if scheduler is None and workers == 0:
        for w, a, i, key in todo:
            out[w, a, i, key] = simulate_chunk(compiled[w, a], x[chunks[i]], y[chunks[i]], steps, dtype)
            bar.update()
        bar.close()
        return out
    from distributed import as_completed

    with _client(scheduler, workers) as client:
        # ship each graph and each chunk once; tasks refer to them by future
        graphs = {(w, a): client.scatter(compiled[w, a]) for w, a in {(w, a) for w, a, _, _ in todo}}
        needed = sorted({i for _, _, i, _ in todo})
        data = {i: client.scatter((x[chunks[i]], y[chunks[i]])) for i in needed}
        futures = {}
        for w, a, i, key in todo:
            f = client.submit(_task, graphs[w, a], data[i], steps, dtype, pure=False, key=f"snnc-sweep-w{w}-a{a}-c{i}-{key[:8]}")
            futures[f] = (w, a, i, key)
        try:
            for f in as_completed(futures):
                out[futures[f]] = f.result()
                bar.update()
        except BaseException:
            # a failed task (or Ctrl-C) stops the sweep: do not leave work on a shared cluster
            client.cancel(list(futures))
            raise
        finally:
            bar.close()
    return out


def _task(graph, data, steps: int, dtype: str) -> ChunkResult:
    x, y = data
    # one thread: the cluster gives each worker process one core (threads_per_worker=1)
    return simulate_chunk(graph, x, y, steps, dtype, threads=1)


def _bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="task", desc="sweep", file=sys.stderr, disable=not enabled, leave=False)


class _client:
    """Context manager: a Dask client on ``scheduler`` or on a new LocalCluster of
    ``workers`` single-threaded processes; the cluster it started is closed on exit."""

    def __init__(self, scheduler: str | None, workers: int):
        self.scheduler, self.workers = scheduler, workers
        self.cluster = self.client = None

    def __enter__(self):
        from distributed import Client, LocalCluster

        # Dask logs cluster start-up and shutdown at INFO/WARNING through the root handler
        # the CLI installs; that is noise for a sweep (shown with -vv, snnc's debug level)
        self.levels = {}
        if not logger.isEnabledFor(logging.DEBUG):
            for name in ("distributed", "tornado"):
                log = logging.getLogger(name)
                self.levels[name] = log.level
                log.setLevel(logging.ERROR)
        try:
            if self.scheduler is not None:
                self.client = Client(self.scheduler, timeout="10s")
            else:
                self.cluster = LocalCluster(
                    n_workers=max(1, self.workers),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self.client = Client(self.cluster)
        except (OSError, TimeoutError) as e:
            self.__exit__(None, None, None)
            where = f"scheduler {self.scheduler}" if self.scheduler else "a local Dask cluster"
            raise SnncError(
                f"sweep: cannot connect to {where} ({e})",
                hint="check the address (tcp://host:8786) and that `dask scheduler` runs there",
            ) from None
        return self.client

    def __exit__(self, *exc):
        try:
            if self.client is not None:
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            for name, level in self.levels.items():
                logging.getLogger(name).setLevel(level)
        return False


"""``snnc.verify``: check a conversion, layer by layer, in two tiers.

::

    r = snnc.verify("model.keras", (x, y), target="nengo", steps=50)
    print(r)                  # the text report
    r.passed                  # tier 1 inside tolerance
    r.to_json()               # every number of the text, JSON-ready

**Tier 1 (exact)** compares, on every sample, rate-mode values that must agree up to
floating-point rounding:

- ``keras_vs_ir``: each Keras layer's output (TensorFlow, ``keras.Model(inputs,
  layer.output)``) against :func:`snnc.evaluate` of the loaded graph, at the last IR node of
  that layer (node ``meta["keras_layer"]``). When TensorFlow cannot read the file (a Keras 3
  file, say) this check is skipped and the reference is snnc's own evaluation (the frontend
  tests compare it with Keras to 1e-5); the report says so.
- ``pipeline_rate``: the graph after the target's pass pipeline with ``neuron=rate-relu``;
- ``compiled_graph``: the spiking graph that tier 2 simulates (or the ``model.snnc`` of an
  ``--artifact``), every neuron run as the rectified-linear function the conversion assumes
  (``amplitude * max(gain * x + bias, 0)``; rate normalisation keeps it equal to the ANN);
- ``network``: the emitted nengo network of the rate-relu compile, run for one step on the
  target's backend, against the reference outputs (end to end);
- ``artifact_files`` (``--artifact`` only): ``network.py`` and ``weights.npz`` are what
  this snnc generates from the artifact's ``model.snnc`` (so checking the graph checks the
  network).

The two graph checks are *node-local*: every node is evaluated on the reference values of
its inputs ("teacher forcing"), so an error is measured where it arises, not in every layer
after it. That is what attributes a wrong weight to its layer; end-to-end output errors are
reported as well. A compiled node is compared with the reference node of the same name
(after following ``meta["absorbed"]`` for merged nodes) unless a pass changed what it
computes: a weighted op whose bias ``fuse-bias`` moved into its neurons, or a node reading a
value-changing op the pipeline removed without folding it (the dropped softmax readout).
Errors are judged relative to each layer's peak ``|reference|``.

**Tier 2 (spiking)** simulates the compiled graph with :class:`snnc.sim.Simulator` (what
:func:`snnc.simulate` runs; one plan for all chunks of samples, probes on the neurons; a
``loihi`` graph in Loihi mode, the integer semantics of nengo-loihi's emulator) and reports
ANN vs SNN accuracy with Wilson 95% intervals, their agreement, a paired McNemar test,
accuracy after every number of steps (the prediction after ``t`` steps is the argmax of the
readout current averaged over steps ``1..t``), per-layer firing statistics and errors (the
time-averaged SNN value of each neuron node against its rate-mode ANN value), synaptic
operations counted from spikes and fan-outs against the ANN's multiply-accumulates, and an
energy estimate from per-operation energies (see :data:`ENERGY_PJ`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from snnc.datafiles import check_labels  # noqa: F401 - part of this module's API
from snnc.errors import CodegenError, SnncError
from snnc.ir import ops
from snnc.ir import traits as T
from snnc.ir.graph import Graph
from snnc.ir.interpreter import run_kernel
from snnc.passes import channel_scaling

logger = logging.getLogger(__name__)

#: Energy per operation in picojoules, 45 nm CMOS at 0.9 V, from M. Horowitz, "Computing's
#: energy problem (and what we can do about it)", ISSCC 2014, Fig. 1.1.9: 32-bit float
#: multiply 3.7 pJ, 32-bit float add 0.9 pJ. An ANN multiply-accumulate is one of each
#: (4.6 pJ); an SNN synaptic operation is one accumulate (0.9 pJ: a spike adds a weight).
#: Memory access, which dominates real chips, is *not* included: the figure compares
#: arithmetic only and is an estimate, not a measurement of any hardware.
ENERGY_PJ = {"mac": 3.7 + 0.9, "accumulate": 0.9}
ENERGY_SOURCE = (
    "Horowitz, ISSCC 2014, 45 nm: 32-bit float mult 3.7 pJ + add 0.9 pJ = MAC 4.6 pJ; "
    "synaptic op = float add 0.9 pJ; arithmetic only (no memory access): an estimate"
)

#: default relative tolerance of tier 1 (error / peak |reference| of the layer)
DEFAULT_TOLERANCE = 1e-4
#: peak magnitudes below this count as this (a silent layer is judged in absolute terms)
_PEAK_FLOOR = 1e-6
#: float64 elements a chunk of samples may hold at once (per-node values or traces)
_CHUNK_ELEMENTS = 1 << 23
#: two-sided 95% normal quantile
_Z95 = 1.959963984540054
#: McNemar: below this many discordant pairs the exact binomial test is used
_EXACT_MCNEMAR_BELOW = 25

CHECK_DESCRIPTIONS = {
    "keras_vs_ir": "Keras layer outputs vs snnc.evaluate of the loaded model",
    "pipeline_rate": "graph after the target's pipeline with neuron=rate-relu, node-local",
    "compiled_graph": "compiled spiking graph, neurons as their rectified-linear rate, node-local",
    "network": "emitted network (rate-relu), one step on the backend, model outputs",
    "artifact_files": "artifact files == what snnc generates from its model.snnc",
}


# =============================================================================== statistics


def wilson_interval(k: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``k / n`` (95% by default).

    Unlike the normal approximation it stays inside [0, 1] and is sensible at ``k = 0`` or
    ``k = n`` (E. B. Wilson, JASA 22, 1927).
    """
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # at k = 0 and k = n the bounds are exactly 0 and 1 (rounding could miss them)
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


def mcnemar(b: int, c: int) -> dict:
    """Paired McNemar test of two classifiers on the same samples.

    ``b``: samples only the first classifies correctly, ``c``: only the second. With fewer
    than 25 discordant pairs the exact two-sided binomial test (``b ~ Bin(b + c, 1/2)``);
    otherwise the chi-square statistic with continuity correction, 1 degree of freedom.
    """
    n = b + c
    if n == 0:
        return {"test": "none (no discordant pairs)", "statistic": 0.0, "p_value": 1.0}
    if n < _EXACT_MCNEMAR_BELOW:
        tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2.0**n
        return {
            "test": "exact binomial",
            "statistic": float(min(b, c)),
            "p_value": min(1.0, 2 * tail),
        }
    chi2 = (abs(b - c) - 1) ** 2 / n
    # chi-square survival function with 1 dof: P(X > x) = erfc(sqrt(x / 2))
    return {
        "test": "chi-square, continuity corrected",
        "statistic": chi2,
        "p_value": math.erfc(math.sqrt(chi2 / 2)),
    }


# =============================================================================== report


@dataclass
class Report:
    """The result of :func:`verify`. ``str(report)`` is the text the CLI prints; every
    number in it is in :meth:`to_json` (plus the full accuracy-vs-steps curve).

    Attributes:
        model: what was verified (file name or description).
        target: the target whose pipeline was compiled (or the artifact's).
        samples: number of samples.
        tier1: tier 1 results (None when not run); keys ``passed``, ``max_abs_error``,
            ``max_rel_error``, ``worst_layer``, ``tolerance``, ``reference``, ``checks``,
            ``layers``, ``failures``, ``notes``.
        tier2: tier 2 results (None when not run); keys ``ann_accuracy``,
            ``snn_accuracy``, their ``*_ci``, ``agreement``, ``mcnemar``,
            ``accuracy_vs_steps``, ``layers``, ``synops``, ``energy``, ...
        artifact: the artifact folder verified, if any.
        plots: paths of the PNG files written.
        notes: remarks that concern the whole run.
        seconds: wall time of the verification.
    """

    model: str
    target: str
    samples: int
    tier1: dict | None = None
    tier2: dict | None = None
    artifact: str | None = None
    plots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Tier 1 inside tolerance (True when tier 1 was not run)."""
        return self.tier1 is None or bool(self.tier1["passed"])

    @property
    def exit_code(self) -> int:
        """The CLI's exit code: 0 inside tolerance, 1 outside."""
        return 0 if self.passed else 1

    def to_json(self) -> dict:
        """A JSON-ready dict of everything (floats, ints, strings, lists, dicts)."""
        return _jsonable(
            {
                "model": self.model,
                "artifact": self.artifact,
                "target": self.target,
                "samples": self.samples,
                "passed": self.passed,
                "tier1": self.tier1,
                "tier2": self.tier2,
                "plots": self.plots,
                "notes": self.notes,
                "seconds": self.seconds,
            }
        )

    def save_json(self, path) -> Path:
        """Write :meth:`to_json` to ``path`` atomically."""
        from snnc.ir.serialize import atomic_write_bytes

        text = json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n"
        atomic_write_bytes(path, text.encode("utf-8"))
        return Path(path)

    def __str__(self) -> str:
        return format_report(self.to_json())


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None  # JSON has no inf / nan
    if isinstance(v, Path):
        return str(v)
    return v


# =============================================================================== entry point


def verify(
    model,
    data,
    target: str | None = None,
    steps: int = 50,
    *,
    artifact=None,
    calibration=None,
    pipeline: str | None = None,
    neuron=None,
    tolerance: float = DEFAULT_TOLERANCE,
    tiers=(1, 2),
    plots=None,
    progress: bool | None = None,
    seed: int = 0,
    limits=None,
    max_run_values: int | None = None,
) -> Report:
    """Verify the conversion of ``model`` on labelled data (see the module docstring).

    Args:
        model: a Keras file (``.keras`` / ``.h5``), a ``keras.Model``, or anything
            :func:`snnc.load` takes (an IR file: then there is no Keras reference).
        data: ``(x, y)`` (``x`` one array or a list, one per model input, or the path of a
            ``.npy`` / ``.npz``; ``y`` an array or the path of a ``.npy``), a mapping with
            ``x`` and ``y``, or the path of a ``.npz`` holding arrays ``x`` and ``y``;
            ``y`` are integer class labels (one-hot rows are accepted). Checked by
            :func:`snnc.datafiles.labelled_data` (messages name the files).
        target: ``nengo``, ``nengo-dl`` or ``loihi`` (default: ``nengo``, or the artifact's).
        steps: simulation steps of tier 2.
        artifact: an ``snnc compile`` output folder to verify against ``model`` instead of
            compiling ``model`` afresh.
        calibration: inputs for the pipeline's ``normalize-rates`` (arrays or the path of
            a ``.npy`` / ``.npz``; not used with ``artifact``); without them the pipeline's
            data-free default applies.
        pipeline: pass pipeline replacing the target's default.
        neuron: neuron override of ``lower-activations`` for tier 2 (e.g. ``"lif"``).
        tolerance: tier 1 tolerance, relative to each layer's peak ``|reference|``.
        tiers: which tiers to run: ``(1,)``, ``(2,)`` or ``(1, 2)``.
        plots: a folder for PNG plots (accuracy vs steps, per-layer rates and errors).
        progress: progress bar on stderr (None: only when the work takes over a second).
        seed: seed of the passes' random generator.
        limits: a :class:`snnc.frontend.limits.Limits` raising the bounds on reading
            ``model`` and ``artifact`` (and, with ``max_member_bytes``, the data and
            calibration files).
        max_run_values: most values tier 2 may record for one sample (``steps x`` the
            probed neurons and outputs; default
            :data:`snnc.runcost.MAX_RUN_VALUES`), checked before any simulation.

    Returns:
        A :class:`Report`; ``report.passed`` is False when tier 1 is outside tolerance.

    Raises:
        SnncError: bad input: missing or unreadable files, data without ``x`` / ``y``,
            non-integer labels, inputs of the wrong shape, an artifact of another model.
    """
    start = time.perf_counter()
    tiers = _check_tiers(tiers)
    steps = _check_steps(steps)
    if not (isinstance(tolerance, (int, float)) and tolerance > 0 and math.isfinite(tolerance)):
        raise SnncError(f"verify: tolerance must be a number > 0 (got {tolerance!r})")

    from snnc.api import calibration_data, load
    from snnc.datafiles import labelled_data

    name = _describe(model)
    ref = load(model, limits=limits)  # missing / bad model files fail here, before any heavy work
    out_size = int(np.prod(ref.type(ref.outputs[0]).shape))
    if out_size < 2:
        raise SnncError(
            f"model '{name}': its first output has {out_size} value(s) per sample; verify "
            "scores classifiers by the argmax of that output (expected >= 2 classes)"
        )
    xs, y = labelled_data(data, ref, max_member_bytes=None if limits is None else limits.max_member_bytes)
    n = len(y)
    calibration = calibration_data(ref, calibration, limits=limits)

    notes: list[str] = []
    file_problems: list[str] = []
    compiled_spk, compiled_rate, target_name = _compile(
        ref, target, artifact, calibration, pipeline, neuron, seed, notes, tiers, file_problems,
        limits,
    )
    if 2 in tiers:  # before tier 1's work: tier 2 records every step of its probes
        _check_tier2_cost(compiled_spk.graph, steps, max_run_values)
    keras_model, keras_note = _load_keras(model)  # the ANN of both tiers, when TF reads it

    bar = _Progress(n * len(tiers), progress)
    try:
        ctx = _Context(ref, xs, y, keras_model, bar)
        tier1 = (
            _tier1(ctx, compiled_rate, compiled_spk, artifact, file_problems, tolerance, keras_note)
            if 1 in tiers
            else None
        )
        tier2 = _tier2(ctx, compiled_spk, steps) if 2 in tiers else None
    finally:
        bar.close()
    report = Report(
        model=name,
        target=target_name,
        samples=n,
        tier1=tier1,
        tier2=tier2,
        artifact=None if artifact is None else str(artifact),
        notes=notes,
    )
    if plots is not None and tier2 is not None:
        report.plots = [str(p) for p in write_plots(report.to_json(), plots)]
    report.seconds = time.perf_counter() - start
    return report


def _describe(model) -> str:
    if isinstance(model, (str, os.PathLike)):
        return str(model)
    return f"<{type(model).__name__} {getattr(model, 'name', '')}>".replace(" >", ">")


def _check_tiers(tiers) -> tuple[int, ...]:
    if isinstance(tiers, int):
        tiers = (tiers,)
    out = tuple(sorted(set(int(t) for t in tiers)))
    if not out or any(t not in (1, 2) for t in out):
        raise SnncError(f"verify: tiers must be 1, 2 or both (got {tiers!r})")
    return out


def _check_steps(steps) -> int:
    from snnc.runcost import check_steps

    return check_steps(steps, "verify")


# =============================================================================== set-up


def load_artifact(folder, limits=None):
    """``(Compiled, problems)`` for an ``snnc compile`` output folder: its graph and the
    ways its files differ from what this snnc generates from that graph (empty when they
    match). Unlike :meth:`Compiled.load`, differing files are reported, not refused: verify
    checks the graph (and never runs the folder's code), then fails tier 1 on them.

    Raises:
        ModelFileError: not a compile output, or unreadable files.
    """
    from snnc.codegen import Compiled
    from snnc.frontend.limits import check_graph

    spk, problems = Compiled.load_regenerated(folder, limits=limits)
    check_graph(spk.graph, str(folder), limits)
    return spk, list(problems)


def _compile(
    ref, target, artifact, calibration, pipeline, neuron, seed, notes, tiers, notes_files, limits=None
):
    """``(spiking Compiled, rate-relu Compiled or None, target name)``; for an artifact,
    the differences of its files are appended to ``notes_files``."""
    from snnc.codegen import compile_graph, get_target

    if artifact is not None:
        if pipeline is not None or neuron is not None or calibration is not None:
            raise SnncError(
                "verify: --pipeline, --neuron and --calibration do not apply with --artifact "
                "(the artifact is already compiled)"
            )
        spk, problems = load_artifact(artifact, limits)
        notes_files.extend(problems)
        if target is not None and get_target(target).name != spk.target.name:
            raise SnncError(
                f"{artifact}: compiled for target '{spk.target.name}', not '{target}'",
                hint="drop --target, or give the target the artifact was compiled for",
            )
        _check_same_io(ref, spk.graph, artifact)
        notes.append(
            f"verifying artifact {artifact} (target {spk.target.name}, pipeline "
            f"'{spk.manifest.get('pipeline', '?')}') against the model"
        )
        return spk, None, spk.target.name
    t = get_target(target or "nengo")
    spk = compile_graph(ref, t, pipeline, calibration=calibration, neuron=neuron, seed=seed)
    if calibration is None and 2 in tiers:
        notes.append(
            "no calibration data: rates were normalised without data (the pipeline's default); "
            "pass calibration inputs (training data) for data-based normalisation"
        )
    rate = None
    if 1 in tiers:
        try:
            rate = compile_graph(
                ref, t, pipeline, calibration=calibration, neuron="rate-relu", seed=seed
            )
        except CodegenError:
            # e.g. loihi runs no rate neurons: emit the same pipeline for the reference target
            notes.append(
                f"target '{t.name}' cannot emit rate-relu neurons: the rate-relu network of its "
                "pipeline was emitted for 'nengo' instead"
            )
            text = pipeline if pipeline is not None else t.default_pipeline
            rate = compile_graph(
                ref, "nengo", text, calibration=calibration, neuron="rate-relu", seed=seed
            )
    return spk, rate, t.name


def _check_same_io(ref: Graph, g: Graph, where) -> None:
    mine = [(n, ref.type(n).shape) for n in ref.inputs]
    theirs = [(n, g.type(n).shape) for n in g.inputs]
    outs_mine = [ref.type(n).shape for n in ref.outputs]
    outs_theirs = [g.type(n).shape for n in g.outputs]
    if mine != theirs or outs_mine != outs_theirs:
        raise SnncError(
            f"{where}: the artifact's inputs/outputs {theirs} -> {outs_theirs} do not match the "
            f"model's {mine} -> {outs_mine}; it was compiled from another model",
        )


def _load_keras(model):
    """``(keras.Model or None, note)``: the model as TensorFlow's Keras reads it."""
    if not isinstance(model, (str, os.PathLike)):
        if type(model).__module__.startswith(("keras", "tensorflow", "tf_keras")):
            return model, None
        return None, "the model is not a Keras model: the reference is snnc's evaluation of it"
    path = Path(model)
    if path.is_dir() or path.suffix in (".snnc", ".snnir"):
        return None, f"{path} is an snnc IR file: there is no Keras reference"
    try:
        import tensorflow as tf
    except ImportError as e:  # pragma: no cover - TF is a dependency
        return None, f"TensorFlow is not importable ({e}); the reference is snnc's evaluation"
    try:
        return tf.keras.models.load_model(str(path), compile=False), None
    except Exception as e:  # noqa: BLE001 - any failure means: no Keras reference
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, (
            f"TensorFlow {tf.__version__} cannot load {path.name} ({type(e).__name__}: "
            f"{reason[:200]}); the reference is snnc's frontend evaluation of the file "
            "(tested against Keras to 1e-5)"
        )


class _Progress:
    """A tqdm bar on stderr that appears only once the work has taken a second."""

    def __init__(self, total: int, progress: bool | None):
        self.bar = None
        if progress is False:
            return
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            desc="snnc verify",
            unit="sample",
            file=sys.stderr,
            delay=0 if progress else 1.0,
            leave=False,
        )

    def update(self, k: int, what: str | None = None) -> None:
        if self.bar is not None:
            if what:
                self.bar.set_description(f"snnc verify: {what}", refresh=False)
            self.bar.update(k)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class _Context:
    ref: Graph
    xs: list[np.ndarray]
    y: np.ndarray
    keras_model: object
    bar: _Progress
    ann_outputs: np.ndarray | None = None  # first model output of the ANN, flat per sample
    ann_source: str = ""


def _chunks(n: int, per_sample: int):
    """Sample ranges so that one chunk holds about ``_CHUNK_ELEMENTS`` values."""
    size = max(1, min(n, _CHUNK_ELEMENTS // max(per_sample, 1)))
    for s in range(0, n, size):
        yield slice(s, min(n, s + size))


# =============================================================================== rate-mode evaluation


def relu_equivalent(op: ops.Op, x: np.ndarray) -> np.ndarray:
    """A neuron's rectified-linear rate ``amplitude * max(gain * x + bias, 0)``: the function
    a converted ReLU stands for (lowering sets gain=amplitude=1, normalisation keeps
    ``gain * amplitude``), whatever the neuron's own rate curve."""
    return op.amplitude * np.maximum(op.current(np.asarray(x, np.float64)), 0.0)


def _kernel(g: Graph, n: str, ins: list[np.ndarray]) -> np.ndarray:
    op = g.op(n)
    if ops.is_neuron(op):
        return relu_equivalent(op, ins[0])
    return np.asarray(run_kernel(op, ins, g.dt, n), dtype=np.float64)


def evaluate_forced(g: Graph, xs: list[np.ndarray], forced: dict[str, np.ndarray] | None = None):
    """Rate-mode values of every node of ``g`` with neurons as :func:`relu_equivalent`.

    With ``forced`` (node -> value), every node reads the forced value of an input that has
    one instead of that input's computed value (teacher forcing), so each node's error is
    its own. Returns ``{node: float64 array}`` (for forced nodes: what they compute from
    their own inputs).
    """
    values: dict[str, np.ndarray] = {}
    for name, a in zip(g.inputs, xs, strict=True):
        values[name] = np.asarray(a, np.float64)
    for n in g.topo_order():
        if n in values:
            continue
        ins = [
            forced[s] if forced is not None and s in forced else values[s] for s in g.inputs_of(n)
        ]
        values[n] = _kernel(g, n, ins)
    return values


def cut_points(g: Graph, ref: Graph) -> dict[str, str]:
    """Nodes of the compiled graph ``g`` that compute the value of a node of ``ref``:
    ``{g node: ref node}``.

    A node keeps the value of its namesake in ``ref`` except when a pass changed what it
    computes: it absorbed a user (``meta["absorbed"]``: it then computes that user's value),
    ``fuse-bias`` moved its bias into the neurons it feeds (its value lacks the bias; see
    :func:`_bias_may_have_moved`), or it reads a value-changing op the pipeline removed
    without folding it anywhere (a dropped softmax readout: the output now carries the
    logits). Nodes that are no cut point are still evaluated, and their errors show at the
    next cut point.
    """
    import networkx as nx

    absorbed_anywhere = {a for n in g.topo_order() for a in g.meta(n).get("absorbed", [])}
    out: dict[str, str] = {}
    for n in g.topo_order():
        if n not in ref:
            continue
        o = n
        for a in g.meta(n).get("absorbed", []):
            if a in ref and a in nx.descendants(ref.nx, o):
                o = a
        if _bias_may_have_moved(g, n):
            continue
        dropped = [
            s
            for s in ref.inputs_of(o)
            if s not in g and s not in absorbed_anywhere and not ref.op(s).has(T.MovesValues)
        ]
        if dropped:
            continue
        out[n] = o
    return out


def covered_layers(g: Graph, cuts: dict[str, str], ref: Graph) -> dict[str, set[str]]:
    """For each cut point, the *other* Keras layers whose computation its node-local check
    includes: those of the nodes between it and the cut points (or inputs) before it, and
    of the nodes merged into them. An error found there may come from any of them."""
    out = {}
    for m, o in cuts.items():
        layers: set[str] = set()
        seen: set[str] = set()
        stack = [m]
        while stack:
            s = stack.pop()
            if s in seen or s in g.inputs:
                continue
            seen.add(s)
            if s != m:
                layers.add(_keras_name(g, s))
            layers |= {_keras_name(ref, a) for a in g.meta(s).get("absorbed", []) if a in ref}
            stack += [u for u in g.inputs_of(s) if u not in cuts]
        out[m] = layers - {_keras_name(ref, o)}
    return out


def _bias_may_have_moved(g: Graph, n: str) -> bool:
    """True for a weighted op without bias feeding only neurons of which one has a bias:
    ``fuse-bias`` may have moved its bias (or a folded batch norm's offset) there, so its
    value lacks it. Its users' values are right again and are where it is checked."""
    op = g.op(n)
    if not op.has(T.HasWeights) or getattr(op, "bias", None) is not None:
        return False
    users = [g.op(d) for d, _ in g.users(n)]
    return (
        bool(users)
        and all(ops.is_neuron(u) for u in users)
        and any(np.any(np.asarray(u.bias) != 0) for u in users)
    )


def _keras_name(g: Graph, n: str) -> str:
    meta = g.meta(n)
    if "keras_layer" in meta:
        return str(meta["keras_layer"])
    src = meta.get("lowered_from")
    if src and src in g:
        return _keras_name(g, src)
    return n


def _keras_class(g: Graph, n: str) -> str:
    return str(g.meta(n).get("keras_class", g.op(n).kind))


class _Err:
    """Running max abs error and peak |reference| of one comparison."""

    __slots__ = ("err", "peak", "nodes", "covers")

    def __init__(self):
        self.err = 0.0
        self.peak = 0.0
        self.nodes: list[str] = []
        self.covers: set[str] = set()  # other Keras layers whose nodes feed this check

    def update(self, got: np.ndarray, want: np.ndarray, node: str | None = None) -> None:
        got = np.asarray(got, np.float64).reshape(want.shape[0], -1)
        want = np.asarray(want, np.float64).reshape(want.shape[0], -1)
        if got.shape != want.shape:
            raise SnncError(f"verify: shape mismatch at {node} ({got.shape} vs {want.shape})")
        if want.size:
            self.err = max(self.err, float(np.max(np.abs(got - want))))
            self.peak = max(self.peak, float(np.max(np.abs(want))))
        if node is not None and node not in self.nodes:
            self.nodes.append(node)

    @property
    def rel(self) -> float:
        return self.err / max(self.peak, _PEAK_FLOOR)


# =============================================================================== tier 1


def _layer_nodes(ref: Graph) -> dict[tuple[str, int], str]:
    """``{(keras layer, call): last IR node of that call}`` for top-level Keras layers
    (nested models' layers are reached only through their model's output)."""
    out: dict[tuple[str, int], str] = {}
    for n in ref.topo_order():
        op = ref.op(n)
        if isinstance(op, (ops.Input, ops.Output)):
            continue
        layer = ref.meta(n).get("keras_layer")
        if not layer or "/" in layer or not (n == layer or n.startswith(layer + ".")):
            continue
        call = 0
        rest = n[len(layer) :]
        if rest.startswith(".call"):
            digits = rest[5:].split(".", 1)[0]
            if digits.isdigit():
                call = int(digits)
        out[(layer, call)] = n  # topological order: the last one wins
    return out


def _keras_probe(keras_model, ref: Graph, notes: list[str]):
    """``(keras.Model with one output per compared layer + the model's first output,
    [(layer, ref node)])``."""
    import tensorflow as tf

    tensors, pairs = [], []
    for (layer, call), node in _layer_nodes(ref).items():
        try:
            t = keras_model.get_layer(layer).get_output_at(call)
        except (ValueError, AttributeError, RuntimeError, IndexError) as e:
            notes.append(f"Keras layer '{layer}': output of call {call} not available ({e})")
            continue
        if isinstance(t, (list, tuple)):
            notes.append(f"Keras layer '{layer}' has several outputs: not compared per layer")
            continue
        if int(np.prod(t.shape[1:])) != int(np.prod(ref.type(node).shape)):
            notes.append(
                f"Keras layer '{layer}': output shape {tuple(t.shape[1:])} differs from node "
                f"%{node} {ref.type(node).shape}: not compared"
            )
            continue
        tensors.append(t)
        pairs.append((layer, node))
    outputs = keras_model.outputs
    probe = tf.keras.Model(keras_model.inputs, [*tensors, outputs[0]])
    return probe, pairs


def _tier1(ctx: _Context, rate, spk, artifact, file_problems, tolerance: float, keras_note) -> dict:
    ref, xs = ctx.ref, ctx.xs
    n = len(ctx.y)
    notes: list[str] = []
    if keras_note:
        notes.append(keras_note)
    # (check, keras layer) -> _Err ; layer order from the reference graph
    errs: dict[tuple[str, str], _Err] = {}
    e2e: dict[str, _Err] = {}
    graphs = {"compiled_graph": spk.graph}
    if rate is not None:
        graphs = {"pipeline_rate": rate.graph, **graphs}
    cuts = {k: cut_points(g, ref) for k, g in graphs.items()}
    # per-channel normalization scales some nodes' values (their consumers undo it): those
    # are compared, and forced, through their scale
    scales = {k: channel_scaling.value_scales(g) for k, g in graphs.items()}
    for k, sc in scales.items():
        scaled = [m for m in cuts[k] if m in sc]
        if scaled:
            notes.append(
                f"{k}: {len(scaled)} node(s) carry per-channel rate scales (normalize-rates "
                "granularity=channel, undone by their consumers): compared and forced with "
                "the scale undone"
            )
    segments = {k: covered_layers(g, cuts[k], ref) for k, g in graphs.items()}
    for k in graphs:
        missing = sorted(
            {_keras_name(ref, o) for o in ref.topo_order()}
            - {_keras_name(ref, o) for o in cuts[k].values()}
            - {_keras_name(ref, o) for o in ref.inputs}
        )
        if missing:
            notes.append(
                f"{k}: no comparable node for layer(s) {', '.join(missing)} (folded or "
                "rewritten by the pipeline): checked within the layers after them ('also checks')"
            )
    probe, pairs = (None, [])
    if ctx.keras_model is not None:
        probe, pairs = _keras_probe(ctx.keras_model, ref, notes)
    net_err, net_agree = _Err(), [0, 0]
    out_cut = {k: all(o in cuts[k] and cuts[k][o] == o for o in graphs[k].outputs) for k in graphs}
    if rate is not None and not out_cut["pipeline_rate"]:
        notes.append(
            "the pipeline changes the model outputs (a softmax readout is dropped): the "
            "network check compares predicted classes, not values"
        )
    ann_out = np.empty((n, int(np.prod(ref.type(ref.outputs[0]).shape))))
    per_sample = sum(int(np.prod(ref.type(m).shape)) for m in ref.topo_order()) * 3
    for sl in _chunks(n, per_sample):
        xc = [a[sl] for a in xs]
        ref_vals = evaluate_forced(ref, xc)
        if probe is not None:
            kout = probe(xc if len(xc) > 1 else xc[0], training=False)
            kout = [np.asarray(v, np.float64) for v in (kout if isinstance(kout, list) else [kout])]
            for (layer, node), kv in zip(pairs, kout[:-1], strict=True):
                errs.setdefault(("keras_vs_ir", layer), _Err()).update(ref_vals[node], kv, node)
            ann_out[sl] = kout[-1].reshape(kout[-1].shape[0], -1)
        else:
            ann_out[sl] = ref_vals[ref.outputs[0]].reshape(sl.stop - sl.start, -1)
        for k, g in graphs.items():
            sc = scales[k]
            forced = {m: _times(ref_vals[o], sc.get(m)) for m, o in cuts[k].items()}
            local = evaluate_forced(g, xc, forced)
            full = evaluate_forced(g, xc)
            for m, o in cuts[k].items():
                if m in g.inputs:
                    continue
                e = errs.setdefault((k, _keras_name(ref, o)), _Err())
                e.update(_times(local[m], sc.get(m), divide=True), ref_vals[o], m)
                e.covers |= segments[k][m]
            if out_cut[k]:
                for o in g.outputs:
                    e2e.setdefault(k, _Err()).update(full[o], ref_vals[o], o)
        if rate is not None:
            y_net = rate.run(xc if len(xc) > 1 else xc[0], steps=1, progress=False)
            y_net = y_net if isinstance(y_net, list) else [y_net]
            for o, yv in zip(rate.graph.outputs, y_net, strict=True):
                want = ref_vals[o] if out_cut["pipeline_rate"] else None
                if want is not None:
                    net_err.update(yv[:, 0], want, o)
            first = y_net[0][:, 0].reshape(sl.stop - sl.start, -1)
            same = first.argmax(1) == ref_vals[ref.outputs[0]].reshape(first.shape[0], -1).argmax(1)
            net_agree[0] += int(same.sum())
            net_agree[1] += len(same)
        ctx.bar.update(sl.stop - sl.start, "tier 1")
    ctx.ann_outputs = ann_out
    ctx.ann_source = "keras" if probe is not None else "snnc-ir"

    # ------------------------------------------------------------------ summarise
    layer_order = list(dict.fromkeys(_keras_name(ref, m) for m in ref.topo_order()))
    classes = {}
    for m in ref.topo_order():
        classes.setdefault(_keras_name(ref, m), _keras_class(ref, m))
    checks: dict[str, dict] = {}
    for (k, _layer), e in errs.items():
        c = checks.setdefault(
            k, {"description": CHECK_DESCRIPTIONS[k], "max_abs_error": 0.0, "max_rel_error": 0.0}
        )
        c["max_abs_error"] = max(c["max_abs_error"], e.err)
        c["max_rel_error"] = max(c["max_rel_error"], e.rel)
    for k, e in e2e.items():
        checks.setdefault(
            k, {"description": CHECK_DESCRIPTIONS[k], "max_abs_error": 0.0, "max_rel_error": 0.0}
        )
        checks[k]["end_to_end"] = {"max_abs_error": e.err, "max_rel_error": e.rel, "peak": e.peak}
    if rate is not None:
        net = {
            "description": CHECK_DESCRIPTIONS["network"],
            "target": rate.target.name,
            "samples": n,
            "argmax_agreement": net_agree[0] / max(net_agree[1], 1),
        }
        if out_cut["pipeline_rate"]:
            net.update(max_abs_error=net_err.err, max_rel_error=net_err.rel, peak=net_err.peak)
        checks["network"] = net
    else:
        notes.append(
            "the artifact's network is spiking, so no rate network was run: its graph is "
            "checked (compiled_graph) and its files against that graph (artifact_files)"
        )
    if artifact is not None:
        checks["artifact_files"] = {
            "description": CHECK_DESCRIPTIONS["artifact_files"],
            "ok": not file_problems,
            "problems": file_problems,
        }
        if file_problems:
            checks["artifact_files"]["reason"] = "; ".join(file_problems)
    for c in checks.values():
        c["passed"] = _check_passed(c, tolerance)

    layers = []
    for layer in layer_order:
        row_errs = {k: e for (k, lyr), e in errs.items() if lyr == layer}
        if not row_errs:
            continue
        worst = max(e.rel for e in row_errs.values())
        layers.append(
            {
                "layer": layer,
                "class": classes.get(layer, "?"),
                "peak": max(e.peak for e in row_errs.values()),
                "errors": {
                    k: {"abs": e.err, "rel": e.rel, "nodes": e.nodes} for k, e in row_errs.items()
                },
                "covers": sorted(set().union(*(e.covers for e in row_errs.values()))),
                "max_abs_error": max(e.err for e in row_errs.values()),
                "max_rel_error": worst,
                "passed": worst <= tolerance,
            }
        )
    failures = [
        f"layer '{r['layer']}': relative error {r['max_rel_error']:.3g} > {tolerance:g} "
        f"({', '.join(k for k, e in r['errors'].items() if e['rel'] > tolerance)})"
        for r in layers
        if not r["passed"]
    ]
    for k, c in checks.items():
        if not c["passed"] and k in ("network", "artifact_files"):
            failures.append(f"{k}: {c.get('reason') or 'outside tolerance'}")
        elif not c["passed"] and "end_to_end" in c and c["end_to_end"]["max_rel_error"] > tolerance:
            failures.append(
                f"{k}: model outputs off by {c['end_to_end']['max_rel_error']:.3g} (relative)"
            )
    # the largest error measured anywhere, and where
    found = [(r["max_abs_error"], f"layer '{r['layer']}'") for r in layers]
    found += [
        (c["end_to_end"]["max_abs_error"], f"{k}, model outputs end to end")
        for k, c in checks.items()
        if "end_to_end" in c
    ]
    found += [
        (c["max_abs_error"], f"{k}, model outputs")
        for k, c in checks.items()
        if k == "network" and "max_abs_error" in c
    ]
    max_abs, max_at = max(found, default=(0.0, None), key=lambda f: f[0])
    worst_row = max(layers, key=lambda r: (r["max_rel_error"], r["max_abs_error"]), default=None)
    return {
        "passed": not failures,
        "tolerance": tolerance,
        "reference": "keras" if probe is not None else "snnc-ir",
        "samples": n,
        "max_abs_error": max_abs,
        "max_abs_error_at": max_at,
        "max_rel_error": max((r["max_rel_error"] for r in layers), default=0.0),
        "worst_layer": worst_row["layer"] if worst_row else None,
        "checks": checks,
        "layers": layers,
        "failures": failures,
        "notes": notes,
    }


def _times(v: np.ndarray, scale: np.ndarray | None, divide: bool = False) -> np.ndarray:
    """``v`` (batch-first) times (or divided by) a per-position ``scale`` (NaN: 1)."""
    if scale is None:
        return v
    s = np.where(np.isnan(scale), 1.0, scale)
    return v / s if divide else v * s


def _check_passed(c: dict, tolerance: float) -> bool:
    if "ok" in c:
        return bool(c["ok"])
    if "max_rel_error" in c and c["max_rel_error"] > tolerance:
        return False
    if "end_to_end" in c and c["end_to_end"]["max_rel_error"] > tolerance:
        return False
    if "argmax_agreement" in c and "max_abs_error" not in c and c["argmax_agreement"] < 1.0:
        c["reason"] = f"predicted classes differ on {1 - c['argmax_agreement']:.2%} of samples"
        return False
    return True


# =============================================================================== tier 2


def fan_out(g: Graph, src: str) -> np.ndarray:
    """Synaptic connections leaving each neuron of ``src``: for every flat neuron, the
    number of non-zero coefficients in the linear map from ``src`` to the next non-linear
    nodes (neurons, outputs, host ops), found by probing the interpreter's kernels with
    basis vectors (so it is exact for any linear op: conv borders, strides, groups)."""
    order = g.topo_order()
    after = order[order.index(src) + 1 :]
    chain: list[str] = []
    reach = {src}
    for n in after:
        op = g.op(n)
        if (
            op.has(T.Linear)
            and not ops.is_neuron(op)
            and not isinstance(op, (ops.Output, ops.Input))
            and any(s in reach for s in g.inputs_of(n))
        ):
            chain.append(n)
            reach.add(n)
    edges = [(m, d) for m in [src, *chain] for d, _ in g.users(m) if d not in reach]
    shape = g.type(src).shape
    size = int(np.prod(shape))
    widest = max([size] + [int(np.prod(g.type(m).shape)) for m in chain])
    fan = np.zeros(size, dtype=np.int64)

    def run(basis: np.ndarray) -> dict[str, np.ndarray]:
        k = basis.shape[0]
        vals = {src: basis}
        for n in chain:
            op = g.op(n)
            if op.has(T.HasWeights) and getattr(op, "bias", None) is not None:
                op = op.replace(bias=None)  # the map's linear part is what spikes drive
            ins = [
                vals[s] if s in vals else np.zeros((k, *g.type(s).shape)) for s in g.inputs_of(n)
            ]
            vals[n] = np.asarray(run_kernel(op, ins, g.dt, n), np.float64)
        return vals

    zero = run(np.zeros((1, *shape)))
    chunk = max(1, min(size, _CHUNK_ELEMENTS // (8 * widest)))
    for s in range(0, size, chunk):
        k = min(chunk, size - s)
        basis = np.zeros((k, size))
        basis[np.arange(k), s + np.arange(k)] = 1.0
        vals = run(basis.reshape((k, *shape)))
        for m, _ in edges:
            d = vals[m].reshape(k, -1) - zero[m].reshape(1, -1)
            fan[s : s + k] += np.count_nonzero(d, axis=1)
    return fan


def ann_macs(g: Graph) -> int:
    """Multiply-accumulates of one ANN inference: every weighted op (dense: per leading
    position ``weight.size``; convolutions: per output position ``weight.size``; transposed
    convolutions: per input position) and one per element of a batch norm / affine.
    Pooling sums and activations are not counted (adds and comparisons, not MACs)."""
    return sum(
        _op_macs(g, n)
        for n in g.topo_order()
        if g.op(n).has(T.HasWeights) or g.op(n).has(T.ChannelAffine)
    )


def _static_macs(g: Graph) -> int:
    """MACs of weighted ops no spike reaches: they see only the constant inputs, so the
    simulator (and a chip's host) computes them once per inference."""
    dynamic: set[str] = set()
    static_total = 0
    for n in g.topo_order():
        op = g.op(n)
        if ops.is_spiking(op) or any(s in dynamic for s in g.inputs_of(n)):
            dynamic.add(n)
            continue
        if op.has(T.HasWeights) or op.has(T.ChannelAffine):
            static_total += _op_macs(g, n)
    return static_total


def _op_macs(g: Graph, n: str) -> int:
    """MACs of one weighted or channel-affine node (see :func:`ann_macs`)."""
    op = g.op(n)
    if op.has(T.HasWeights):
        w = int(np.asarray(op.weight).size)
        lead = (
            g.in_types(n)[0].shape[:-1]
            if isinstance(op, (ops.Dense, ops.ConvTranspose2D))
            else g.type(n).shape[:-1]
        )
        return int(np.prod(lead, dtype=np.int64)) * w
    return int(np.prod(g.type(n).shape, dtype=np.int64))


class _LayerStats:
    """Accumulated spiking statistics of one neuron node (or the readout)."""

    def __init__(self, g: Graph, n: str, steps: int, fan: np.ndarray | None):
        op = g.op(n)
        self.node = n
        self.layer = _keras_name(g, n)
        self.neuron = getattr(op, "option", "") or op.kind
        self.size = int(np.prod(g.type(n).shape))
        self.spiking = ops.is_spiking(op)
        self.amplitude = float(getattr(op, "amplitude", 1.0))
        self.fan = fan
        dt = g.dt
        max_rate = op.max_rate(dt) if self.spiking else None
        # unbounded neurons (nengo IF) count as saturated at one spike every step
        self.max_rate = max_rate if max_rate else 1.0 / dt
        self.duration = steps * dt
        self.pairs = self.silent = self.saturated = 0
        self.rate_sum = 0.0
        self.rate_max = 0.0
        self.spikes = 0.0
        self.synops = 0.0
        self.abs_diff = self.sq_diff = self.sq_ref = 0.0
        self.max_abs = 0.0
        self.values = 0

    def add(self, trace: np.ndarray, ann: np.ndarray, dt: float) -> None:
        b = trace.shape[0]
        flat = trace.reshape(b, trace.shape[1], -1)
        if self.spiking:
            counts = np.rint(flat.sum(axis=1) * dt / self.amplitude)  # (b, size)
            rates = counts / self.duration
            self.pairs += counts.size
            self.silent += int(np.count_nonzero(counts == 0))
            self.saturated += int(np.count_nonzero(rates >= 0.99 * self.max_rate))
            self.rate_sum += float(rates.sum())
            self.rate_max = max(self.rate_max, float(rates.max(initial=0.0)))
            self.spikes += float(counts.sum())
            if self.fan is not None:
                self.synops += float((counts @ self.fan).sum())
        d = flat.mean(axis=1) - ann.reshape(b, -1)
        self.abs_diff += float(np.abs(d).sum())
        self.sq_diff += float((d * d).sum())
        self.sq_ref += float((ann.astype(np.float64) ** 2).sum())
        self.max_abs = max(self.max_abs, float(np.abs(d).max(initial=0.0)))
        self.values += d.size

    def row(self, n_samples: int) -> dict:
        out = {"node": self.node, "layer": self.layer, "neuron": self.neuron, "neurons": self.size}
        if self.spiking:
            out.update(
                mean_rate_hz=self.rate_sum / max(self.pairs, 1),
                max_rate_hz=self.rate_max,
                fraction_silent=self.silent / max(self.pairs, 1),
                fraction_saturated=self.saturated / max(self.pairs, 1),
                saturation_rate_hz=self.max_rate,
                spikes_per_inference=self.spikes / n_samples,
                fan_out_mean=float(self.fan.mean()) if self.fan is not None else None,
                synops_per_inference=self.synops / n_samples,
            )
        else:
            out["readout"] = True
        out["error"] = {
            "mean_abs": self.abs_diff / max(self.values, 1),
            "max_abs": self.max_abs,
            "rel_l2": math.sqrt(self.sq_diff / self.sq_ref) if self.sq_ref > 0 else None,
        }
        return out


def _tier2_watch(g: Graph) -> tuple[list[str], str]:
    """``(spiking nodes, readout node)`` tier 2 probes: every spiking layer and the node
    the first output reads."""
    spiking = [m for m in g.topo_order() if ops.is_spiking(g.op(m))]
    return spiking, g.inputs_of(g.outputs[0])[0]


def _check_tier2_cost(g: Graph, steps: int, max_run_values) -> None:
    """Refuse (RunLimitError) a tier 2 whose record of one sample, every step of the probed
    nodes and the outputs, exceeds ``max_run_values``: chunks hold at least one sample."""
    from snnc.runcost import check_run_values

    spiking, readout = _tier2_watch(g)
    per_step = sum(int(np.prod(g.type(m).shape)) for m in [*spiking, readout, *g.outputs])
    check_run_values(
        "verify",
        f"tier 2's record of one sample ({steps:,} steps x {per_step:,} probed neuron and "
        "output values)",
        steps * per_step,
        max_run_values,
    )


def _tier2(ctx: _Context, spk, steps: int) -> dict:
    from snnc.sim import Simulator, loihi_blocks

    g = spk.graph
    ref, xs, y = ctx.ref, ctx.xs, ctx.y
    n = len(y)
    if ctx.ann_outputs is None:  # tier 1 did not run: the ANN's outputs now
        ctx.ann_outputs, ctx.ann_source = _ann_outputs(ctx)
    spiking, readout = _tier2_watch(g)
    if not spiking:
        raise SnncError(
            f"verify: the compiled graph @{g.name} has no spiking neurons (pipeline "
            f"'{spk.manifest.get('pipeline', '')}'); tier 2 needs a spiking network",
            hint="compile with a spiking neuron (--neuron if), or run only tier 1 (--tier 1)",
        )
    stats = {m: _LayerStats(g, m, steps, fan_out(g, m)) for m in spiking}
    stats[readout] = _LayerStats(g, readout, steps, None)
    watch = [*spiking, readout]
    correct_by_step = np.zeros(steps, dtype=np.int64)
    snn_pred = np.empty(n, dtype=np.int64)
    per_sample = steps * sum(int(np.prod(g.type(m).shape)) for m in [*watch, *g.outputs])
    t0 = time.perf_counter()
    # one simulator for all chunks: the plan is compiled once; probes record raw values. A
    # loihi graph runs in Loihi mode (the integer semantics of nengo-loihi's emulator: what
    # the chip computes), not in nengo's floats, which overstate its accuracy at few steps
    notes: list[str] = []
    mode = "loihi" if spk.target.name == "loihi" else "nengo"
    try:
        blocks = loihi_blocks(spk.manifest) if mode == "loihi" else None
        sim = Simulator(g, probes=watch, readout="mean", mode=mode, blocks=blocks)
    except SnncError as e:
        if mode != "loihi":
            raise
        mode = "nengo"  # a graph Loihi mode does not emulate (snnc.sim.loihi lists them)
        sim = Simulator(g, probes=watch, readout="mean")
        notes.append(
            f"not simulated in Loihi mode ({e.message}): nengo's float semantics instead, "
            "which overstate the chip's accuracy at few steps (snnc run on the artifact "
            "runs nengo-loihi's emulator)"
        )
    for sl in _chunks(n, per_sample):
        xc = [a[sl] for a in xs]
        ys = sim.run(xc, steps)
        ys = ys[0] if isinstance(ys, list) else ys
        traces = sim.probe_data
        ann = evaluate_forced(g, xc)
        for m in watch:
            stats[m].add(np.asarray(traces[m], np.float64), ann[m], g.dt)
        # readout convention: output at step t = running mean of the readout over 1..t, so
        # its argmax is the prediction after t steps
        pred = np.asarray(ys).reshape(sl.stop - sl.start, steps, -1).argmax(axis=2)
        correct_by_step += (pred == y[sl, None]).sum(axis=0)
        snn_pred[sl] = pred[:, -1]
        del traces, ys
        ctx.bar.update(sl.stop - sl.start, "tier 2 (spiking)")
    sim_seconds = time.perf_counter() - t0

    ann_pred = ctx.ann_outputs.argmax(axis=1)
    ann_ok, snn_ok = ann_pred == y, snn_pred == y
    k_ann, k_snn = int(ann_ok.sum()), int(snn_ok.sum())
    agree = int((ann_pred == snn_pred).sum())
    b = int((ann_ok & ~snn_ok).sum())
    c = int((~ann_ok & snn_ok).sum())
    curve = [
        {
            "steps": t + 1,
            "accuracy": int(k) / n,
            "correct": int(k),
            "ci": list(wilson_interval(int(k), n)),
        }
        for t, k in enumerate(correct_by_step)
    ]
    layer_rows = [stats[m].row(n) for m in watch]
    synops = float(sum(r.get("synops_per_inference", 0.0) for r in layer_rows))
    macs = ann_macs(ref)
    static = _static_macs(g)
    ann_pj = macs * ENERGY_PJ["mac"]
    snn_pj = synops * ENERGY_PJ["accumulate"] + static * ENERGY_PJ["mac"]
    neurons = sorted({stats[m].neuron for m in spiking})
    return {
        "target": spk.target.name,
        "pipeline": spk.manifest.get("pipeline"),
        "neurons": neurons,
        "steps": steps,
        "dt": g.dt,
        "samples": n,
        "simulator": f"snnc.sim.Simulator ({np.dtype(sim.dtype).name}, {sim.backend}"
        + (", Loihi integer mode)" if mode == "loihi" else ")"),
        "mode": mode,
        "notes": notes,
        "simulate_seconds": sim_seconds,
        "ann_source": ctx.ann_source,
        "ann_accuracy": k_ann / n,
        "ann_correct": k_ann,
        "ann_accuracy_ci": list(wilson_interval(k_ann, n)),
        "snn_accuracy": k_snn / n,
        "snn_correct": k_snn,
        "snn_accuracy_ci": list(wilson_interval(k_snn, n)),
        "agreement": agree / n,
        "agreement_ci": list(wilson_interval(agree, n)),
        "mcnemar": {"ann_only_correct": b, "snn_only_correct": c, **mcnemar(b, c)},
        "accuracy_vs_steps": curve,
        "layers": layer_rows,
        "synops": {
            "per_inference": synops,
            "per_step": synops / steps,
            "ann_macs": macs,
            "snn_static_macs": static,
            "synops_per_mac": synops / macs if macs else None,
        },
        "energy": {
            "ann_pj": ann_pj,
            "snn_pj": snn_pj,
            "snn_over_ann": snn_pj / ann_pj if ann_pj else None,
            "mac_pj": ENERGY_PJ["mac"],
            "synop_pj": ENERGY_PJ["accumulate"],
            "source": ENERGY_SOURCE,
        },
    }


def _ann_outputs(ctx: _Context) -> tuple[np.ndarray, str]:
    n = len(ctx.y)
    ref = ctx.ref
    out = np.empty((n, int(np.prod(ref.type(ref.outputs[0]).shape))))
    per_sample = sum(int(np.prod(ref.type(m).shape)) for m in ref.topo_order())
    for sl in _chunks(n, per_sample):
        xc = [a[sl] for a in ctx.xs]
        if ctx.keras_model is not None:
            y = ctx.keras_model(xc if len(xc) > 1 else xc[0], training=False)
            y = y[0] if isinstance(y, (list, tuple)) else y
        else:
            y = evaluate_forced(ref, xc)[ref.outputs[0]]
        out[sl] = np.asarray(y, np.float64).reshape(sl.stop - sl.start, -1)
    return out, "keras" if ctx.keras_model is not None else "snnc-ir"


# =============================================================================== text


def _table_steps(steps: int) -> list[int]:
    grid = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
    return sorted({t for t in grid if t < steps} | {steps})


def _pct(p) -> str:
    return "-" if p is None else f"{100 * p:.2f}%"


def _ci(ci) -> str:
    return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _g(v, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}g}"


def format_report(r: dict) -> str:
    """The text report, rendered from :meth:`Report.to_json` only (so the JSON holds every
    number printed)."""
    lines = [f"snnc verify: {r['model']} -> {r['target']} ({r['samples']} samples)"]
    if r.get("artifact"):
        lines[0] += f", artifact {r['artifact']}"
    lines += [f"  note: {n}" for n in r.get("notes", [])]
    t1 = r.get("tier1")
    if t1:
        lines += ["", _format_tier1(t1)]
    t2 = r.get("tier2")
    if t2:
        lines += ["", _format_tier2(t2)]
    if r.get("plots"):
        lines += ["", "plots: " + ", ".join(r["plots"])]
    verdict = "PASSED" if r["passed"] else "FAILED"
    lines += ["", f"verify {verdict} ({r['seconds']:.1f} s)"]
    return "\n".join(lines) + "\n"


def _format_tier1(t1: dict) -> str:
    tol = t1["tolerance"]
    head = (
        f"tier 1 (exact, rate mode; tolerance {tol:g} x each layer's peak |value|; "
        f"reference {t1['reference']}): {'PASSED' if t1['passed'] else 'FAILED'}"
    )
    lines = [head]
    lines += [f"  note: {n}" for n in t1.get("notes", [])]
    cols = [k for k in ("keras_vs_ir", "pipeline_rate", "compiled_graph") if k in t1["checks"]]
    covers = any(row["covers"] for row in t1["layers"])
    header = ["layer", "class", "peak", *cols, "ok", *(["also checks"] if covers else [])]
    rows = []
    for row in t1["layers"]:
        cells = [row["layer"], row["class"], _g(row["peak"])]
        for k in cols:
            e = row["errors"].get(k)
            cells.append("-" if e is None else f"{e['abs']:.2e} ({e['rel']:.1e})")
        cells.append("ok" if row["passed"] else "FAIL")
        if covers:
            cells.append(", ".join(row["covers"]))
        rows.append(cells)
    lines += _table(header, rows, indent=2)
    lines.append("  (max abs error per layer, relative error in parentheses)")
    for k in cols:
        c = t1["checks"][k]
        e = c.get("end_to_end")
        if e:
            lines.append(
                f"  {k}: model outputs end to end: max abs error {e['max_abs_error']:.2e} "
                f"(relative {e['max_rel_error']:.1e})"
            )
    net = t1["checks"].get("network")
    if net:
        if "max_abs_error" in net:
            lines.append(
                f"  network ({net['target']}, rate-relu, 1 step, {net['samples']} samples): "
                f"max abs error {net['max_abs_error']:.2e} (relative {net['max_rel_error']:.1e}), "
                f"argmax agreement {_pct(net['argmax_agreement'])}"
            )
        else:
            lines.append(
                f"  network ({net['target']}, rate-relu, 1 step, {net['samples']} samples): "
                f"argmax agreement {_pct(net['argmax_agreement'])}"
            )
    files = t1["checks"].get("artifact_files")
    if files:
        lines.append(
            "  artifact files: "
            + (
                "identical to what snnc generates from model.snnc"
                if files["ok"]
                else files["reason"]
            )
        )
    lines.append(
        f"  max abs error {t1['max_abs_error']:.2e} ({t1['max_abs_error_at']}); worst layer "
        f"'{t1['worst_layer']}' (relative error {t1['max_rel_error']:.2e})"
    )
    lines += [f"  FAIL {f}" for f in t1["failures"]]
    return "\n".join(lines)


def _format_tier2(t2: dict) -> str:
    n = t2["samples"]
    lines = [
        f"tier 2 (spiking: {', '.join(t2['neurons'])} neurons, {t2['steps']} steps of "
        f"{1000 * t2['dt']:g} ms, {t2['simulator']}, {t2['simulate_seconds']:.2f} s)",
        f"  ANN accuracy {_pct(t2['ann_accuracy'])} {_ci(t2['ann_accuracy_ci'])} "
        f"({t2['ann_correct']}/{n}, {t2['ann_source']})",
        f"  SNN accuracy {_pct(t2['snn_accuracy'])} {_ci(t2['snn_accuracy_ci'])} "
        f"({t2['snn_correct']}/{n}, after {t2['steps']} steps)",
        f"  agreement    {_pct(t2['agreement'])} {_ci(t2['agreement_ci'])}  (95% Wilson intervals)",
    ]
    lines[1:1] = [f"  note: {note}" for note in t2.get("notes", [])]
    m = t2["mcnemar"]
    lines.append(
        f"  McNemar ({m['test']}): ANN-only correct {m['ann_only_correct']}, SNN-only correct "
        f"{m['snn_only_correct']}, statistic {_g(m['statistic'])}, p = {_g(m['p_value'])}"
    )
    curve = {c["steps"]: c for c in t2["accuracy_vs_steps"]}
    rows = [
        [str(t), _pct(curve[t]["accuracy"]), _ci(curve[t]["ci"])] for t in _table_steps(t2["steps"])
    ]
    lines.append("  accuracy vs steps:")
    lines += _table(["steps", "accuracy", "95% CI"], rows, indent=4)
    header = [
        "node",
        "layer",
        "neuron",
        "mean Hz",
        "max Hz",
        "silent",
        "saturated",
        "spikes/inf",
        "rel err",
    ]
    rows = []
    for r in t2["layers"]:
        err = _g(r["error"]["rel_l2"])
        if r.get("readout"):
            rows.append([r["node"], r["layer"], "readout", "-", "-", "-", "-", "-", err])
            continue
        rows.append(
            [
                r["node"],
                r["layer"],
                r["neuron"],
                f"{r['mean_rate_hz']:.1f}",
                f"{r['max_rate_hz']:.0f}",
                _pct(r["fraction_silent"]),
                _pct(r["fraction_saturated"]),
                f"{r['spikes_per_inference']:.0f}",
                err,
            ]
        )
    lines.append("  per layer (rel err: ||SNN time-mean - ANN|| / ||ANN||):")
    lines += _table(header, rows, indent=4)
    s, e = t2["synops"], t2["energy"]
    lines.append(
        f"  synaptic ops per inference {s['per_inference']:.4g} ({s['per_step']:.4g}/step) vs "
        f"ANN MACs {s['ann_macs']} (ratio {_g(s['synops_per_mac'])}); SNN MACs on constant "
        f"inputs {s['snn_static_macs']}"
    )
    lines.append(
        f"  energy estimate per inference: ANN {e['ann_pj'] / 1e6:.4g} uJ, SNN "
        f"{e['snn_pj'] / 1e6:.4g} uJ (SNN/ANN {_g(e['snn_over_ann'])}); {e['source']}"
    )
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]], indent: int = 2) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    pad = " " * indent

    def fmt(cells):
        return pad + "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [fmt(header), *(fmt(r) for r in rows)]


# =============================================================================== plots


def write_plots(r: dict, folder) -> list[Path]:
    """Write ``accuracy_vs_steps.png`` and ``layers.png`` (firing rates, silent/saturated
    fractions and SNN-vs-ANN error per layer) into ``folder``; returns their paths."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from snnc.ir.output_files import check_output_dir, save_figure

    t2 = r["tier2"]
    out = check_output_dir(folder)
    paths = []

    fig = Figure(figsize=(6, 4), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    curve = t2["accuracy_vs_steps"]
    ts = [c["steps"] for c in curve]
    ax.fill_between(
        ts,
        [c["ci"][0] for c in curve],
        [c["ci"][1] for c in curve],
        alpha=0.25,
        label="SNN 95% Wilson interval",
    )
    ax.plot(ts, [c["accuracy"] for c in curve], label="SNN")
    ax.axhline(t2["ann_accuracy"], color="k", linestyle="--", label="ANN")
    ax.set_xlabel("time steps")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{Path(r['model']).name}: {t2['target']}, {', '.join(t2['neurons'])}")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    p = out / "accuracy_vs_steps.png"
    save_figure(fig, p)
    paths.append(p)

    rows = [x for x in t2["layers"] if not x.get("readout")]
    names = [x["node"] for x in rows]
    fig = Figure(figsize=(max(6, 1.2 * len(rows) + 3), 7), dpi=120)
    FigureCanvasAgg(fig)
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)
    xpos = np.arange(len(rows))
    ax1.bar(xpos - 0.2, [x["mean_rate_hz"] for x in rows], 0.4, label="mean")
    ax1.bar(xpos + 0.2, [x["max_rate_hz"] for x in rows], 0.4, label="max")
    ax1.set_ylabel("rate (Hz)")
    ax1.legend()
    ax2.bar(xpos - 0.2, [x["fraction_silent"] for x in rows], 0.4, label="silent")
    ax2.bar(xpos + 0.2, [x["fraction_saturated"] for x in rows], 0.4, label="saturated")
    ax2.set_ylabel("fraction")
    ax2.legend()
    ax3.bar(xpos, [x["error"]["rel_l2"] or 0.0 for x in rows])
    ax3.set_ylabel("rel. error vs ANN")
    ax3.set_xticks(xpos, names, rotation=30, ha="right")
    fig.suptitle(f"per-layer spiking statistics ({t2['steps']} steps)")
    fig.tight_layout()
    p = out / "layers.png"
    save_figure(fig, p)
    paths.append(p)
    return paths


# =============================================================================== snnc.verify(...)


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`verify`.

    ``snnc.verify`` must be the function (DESIGN.md's public API), but importing the
    submodule ``snnc.verify`` (the CLI does) makes Python bind the package attribute
    ``snnc.verify`` to this *module*, shadowing any function of that name. A callable module
    makes both spellings work: ``snnc.verify(model, data)`` and
    ``from snnc.verify import verify``.
    """

    def __call__(self, *args, **kwargs) -> Report:
        return verify(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

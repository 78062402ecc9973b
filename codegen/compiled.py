"""``compile_graph`` and :class:`Compiled`: a graph, its generated nengo module, and runs.

A Compiled holds the *source* of the generated ``network.py`` and its weights. Its network
is made by executing that very source (:meth:`Compiled.build`), so the artifact written by
:meth:`Compiled.save` and the network run in-process cannot differ.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import types
from pathlib import Path

import numpy as np

from snnc.codegen.emit import generate
from snnc.codegen.report import node_table
from snnc.codegen.target import Target, get_target
from snnc.errors import ModelFileError, SnncError
from snnc.ir.graph import Graph, Stage
from snnc.ir.interpreter import as_input_list

logger = logging.getLogger(__name__)

MODULE_FILE = "network.py"
WEIGHTS_FILE = "weights.npz"
ARTIFACT_FILES = ("model.snnc", MODULE_FILE, WEIGHTS_FILE, "manifest.json", "report.txt")


class Compiled:
    """A graph compiled for a target.

    Attributes:
        graph: the IR after the pipeline (what was emitted).
        target: the :class:`~snnc.codegen.target.Target`.
        source: the text of the generated ``network.py``.
        weights: the arrays it reads (``weights.npz``).
        manifest: JSON-ready facts: target, pipeline, shapes, fingerprint, versions.
        report: the compile report (one table row per node, then the pipeline).
    """

    def __init__(
        self, graph: Graph, target: Target, source: str, weights: dict, manifest: dict, report: str
    ):
        self.graph = graph
        self.target = target
        self.source = source
        self.weights = weights
        self.manifest = manifest
        self.report = report
        self._module: types.ModuleType | None = None
        self._network = None
        self._sessions: dict = {}

    def __repr__(self) -> str:
        return f"<Compiled @{self.graph.name} for {self.target.name}: {len(self.graph)} nodes>"

    # ------------------------------------------------------------------ the network
    @property
    def module(self) -> types.ModuleType:
        """The generated module, executed in-process (imports the backend)."""
        if self._module is None:
            module = types.ModuleType("snnc_generated_network")
            module.__file__ = f"<snnc network for @{self.graph.name}>"
            exec(compile(self.source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own generated code
            self._module = module
        return self._module

    def build(self):
        """A fresh ``(network, inputs, probes)`` from the generated module's ``build``."""
        return self.module.build(self.weights)

    @property
    def network(self):
        """The nengo network (built once, on first access)."""
        if self._network is None:
            self._network = self.build()[0]
        return self._network

    # ------------------------------------------------------------------ running
    def run(
        self, x, steps: int = 50, batch: int | None = None, progress: bool | None = None, **options
    ):
        """Simulate the network on a batch, every sample from a reset state.

        Args:
            x: one array ``(batch, *input_shape)``, a list (one per input, in index order)
                or a dict by input name; each sample is presented for all ``steps``.
            steps: simulation steps (of ``graph.dt`` seconds).
            batch: minibatch size of a batched target (nengo-dl; default: its
                ``default_batch`` or fewer); the reference target runs sample by sample.
            progress: show a progress bar (None: only if the run takes over a second).
            options: simulator options of the target (nengo-dl: ``dtype="float64"``).

        Returns:
            ``(batch, steps, *output_shape)`` — a list of those for several outputs.

        Raises:
            InputShapeError: ``x`` does not match the graph's inputs (names the expected shape).
        """
        steps = int(steps)
        if steps < 1:
            raise SnncError(f"steps must be >= 1 (got {steps})")
        xs = [a.reshape(a.shape[0], -1) for a in as_input_list(self.graph, x)]
        n = xs[0].shape[0]
        if any(a.shape[0] != n for a in xs):
            raise SnncError(f"inputs have different batch sizes: {[a.shape[0] for a in xs]}")
        if n == 0:
            raise SnncError("the input batch is empty")
        size = min(batch or self.target.default_batch, n) if self.target.default_batch else None
        key = (size, tuple(sorted(options.items())))
        if key not in self._sessions:  # simulators are kept: building one is the slow part
            logger.info("building a %s simulator (batch %s, %s)", self.target.name, size, options)
            self._sessions[key] = self.target.session(self, size, **options)
        outs = self._sessions[key].run(xs, steps, progress)
        shapes = [self.graph.type(o).shape for o in self.graph.outputs]
        outs = [o.reshape((n, steps) + s) for o, s in zip(outs, shapes, strict=True)]
        return outs[0] if len(outs) == 1 else outs

    def close(self) -> None:
        """Close the simulators kept for repeated runs (also on ``with`` exit and deletion)."""
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()

    def __enter__(self) -> Compiled:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass

    # ------------------------------------------------------------------ artifact
    def save(self, out_dir, force: bool = False) -> Path:
        """Write the artifact folder ``out_dir`` atomically.

        Files: ``model.snnc`` (the IR), ``network.py`` + ``weights.npz`` (the generated
        network), ``manifest.json`` and ``report.txt``. They are written into a temporary
        folder next to ``out_dir`` which then replaces it, so readers never see a half
        artifact.

        Raises:
            SnncError: ``out_dir`` exists and is not empty, and ``force`` is False.
        """
        from snnc.ir.serialize import to_snnc_bytes

        out = check_out_dir(out_dir, force)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; OUT is an ordinary folder
            (tmp / "model.snnc").write_bytes(to_snnc_bytes(self.graph, self._ir_manifest()))
            (tmp / MODULE_FILE).write_text(self.source)
            np.savez(tmp / WEIGHTS_FILE, **self.weights)
            (tmp / "manifest.json").write_text(
                json.dumps(self.manifest, indent=2, sort_keys=True) + "\n"
            )
            (tmp / "report.txt").write_text(self.report)
            if out.exists():  # move the old folder aside first: the swap stays all-or-nothing
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
                os.replace(out, old / "x")
                os.replace(tmp, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        logger.info("wrote %s", out)
        return out

    def _ir_manifest(self) -> dict:
        keys = ("target", "pipeline", "source_sha256")
        return {k: self.manifest[k] for k in keys if k in self.manifest}

    @classmethod
    def load(cls, out_dir) -> Compiled:
        """Read an artifact folder written by :meth:`save` (its ``network.py`` is what runs)."""
        from snnc.ir.serialize import load as load_snnc

        out = Path(out_dir)
        missing = [f for f in ARTIFACT_FILES if not (out / f).is_file()]
        if missing:
            raise ModelFileError(
                f"{out}: not an snnc compile output (missing {', '.join(missing)})",
                hint="create one with `snnc compile MODEL -o OUT`",
            )
        graph, _ = load_snnc(out / "model.snnc")
        try:
            manifest = json.loads((out / "manifest.json").read_text())
            with np.load(out / WEIGHTS_FILE) as f:
                weights = {k: f[k] for k in f.files}
        except (OSError, ValueError) as e:
            raise ModelFileError(f"{out}: cannot read the artifact ({e})") from None
        target = get_target(manifest.get("target", "nengo"))
        source = (out / MODULE_FILE).read_text()
        return cls(graph, target, source, weights, manifest, (out / "report.txt").read_text())


def check_out_dir(out_dir, force: bool = False) -> Path:
    """``out_dir`` as a Path if an artifact may be written there (missing, empty, or
    ``force``); else raise SnncError. ``snnc compile`` checks before compiling."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SnncError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise SnncError(
            f"{out}: folder exists and is not empty", hint="pass --force (force=True) to replace it"
        )
    return out


# =============================================================================== compiling


def with_lowering_options(pipeline: str, neuron=None, synapse=None) -> str:
    """``pipeline`` with ``lower-activations``' ``neuron`` / ``synapse`` options replaced,
    the rest of the text kept as written.

    ``neuron`` is anything the option takes (a name, ``"{conv*:lif}"`` text, a dict);
    ``synapse`` a float, ``"none"`` or its text. Each value is checked and printed by the
    pass's own option type (PipelineError when invalid). Raises SnncError when an override
    is given but the pipeline has no ``lower-activations``.
    """
    from snnc.passes import get_pass
    from snnc.passes.pipeline import split_pipeline

    changes = {k: v for k, v in (("neuron", neuron), ("synapse", synapse)) if v is not None}
    if not changes:
        return pipeline
    items = split_pipeline(pipeline)
    if not any(name == "lower-activations" for name, _ in items):
        raise SnncError(
            f"--neuron/--synapse need a lower-activations pass, and pipeline {pipeline!r} has none",
            hint="add lower-activations to the pipeline, or drop --neuron/--synapse",
        )
    infos = {o.name: o for o in get_pass("lower-activations").options()}
    overrides = {}
    for key, value in changes.items():
        info = infos[key]
        read = (
            info.parse(value, "lower-activations")
            if isinstance(value, str)
            else info.coerce(value, "lower-activations")
        )
        overrides[key] = info.format(read)
    parts = []
    for name, opts in items:
        if name == "lower-activations":
            opts = {**opts, **overrides}
        parts.append(
            name + ("{" + ",".join(f"{k}={v}" for k, v in opts.items()) + "}" if opts else "")
        )
    return ",".join(parts)


def compile_graph(
    graph: Graph,
    target: str | Target = "nengo",
    pipeline: str | None = None,
    *,
    calibration=None,
    neuron=None,
    synapse=None,
    seed: int = 0,
    source_sha256: str | None = None,
) -> Compiled:
    """Run the pass pipeline on ``graph`` and emit it for ``target``.

    Args:
        graph: an IR graph (not modified).
        target: target name or object (``nengo``, ``nengo-dl``).
        pipeline: pass pipeline text; None runs the target's default pipeline (or none for
            a graph already past the ANN stage, e.g. a compiled model.snnc) and ``""`` runs
            none.
        calibration: representative inputs for data-driven passes (normalize-rates).
        neuron: overrides the ``neuron`` option of ``lower-activations`` (e.g. ``"rate-relu"``,
            ``"if"``, or a ``{pattern: neuron}`` mapping).
        synapse: overrides its ``synapse`` option (seconds, or ``"none"``).
        seed: seed of the passes' random generator.
        source_sha256: hash of the source model file, recorded in the manifest.

    Returns:
        The :class:`Compiled` network (nothing is simulated yet).

    Raises:
        SnncError: unknown target, bad pipeline or options (PipelineError), a graph the
            passes reject, or ops the target cannot emit (CodegenError, all at once).
    """
    t = get_target(target)
    if pipeline is None and graph.stage != Stage.ANN and neuron is None and synapse is None:
        # the default pipelines lower ANN graphs; an already lowered graph is emitted as is
        logger.info("graph @%s is at stage %s: running no passes", graph.name, graph.stage.value)
        pipeline = ""
    text = t.default_pipeline if pipeline is None else pipeline
    text = with_lowering_options(text, neuron, synapse) if text.strip() else text
    if (neuron is not None or synapse is not None) and not text.strip():
        raise SnncError(
            "--neuron/--synapse need a pipeline with lower-activations (the pipeline is empty)"
        )
    pass_report = None
    if text.strip():
        from snnc.passes import PassContext, run_pipeline

        ctx = PassContext.default(seed=seed, target=t.name, calibration=calibration)
        graph, pass_report = run_pipeline(graph, text, ctx)
    else:
        from snnc.ir import verify

        verify(graph)
        graph = graph.copy()  # the Compiled owns its graph, as after run_pipeline
    source, weights, ctx = generate(graph, t)
    manifest = {
        "target": t.name,
        "pipeline": text,
        "graph": graph.name,
        "dt": graph.dt,
        "fingerprint": graph.fingerprint(),
        "inputs": {n: list(graph.type(n).shape) for n in graph.inputs},
        "outputs": {n: list(graph.type(n).shape) for n in graph.outputs},
        "neurons": sum(r.neurons for r in ctx.records.values()),
        "network_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "snnc_version": _version(),
        "backend_versions": _backend_versions(t, ctx.imports),
    }
    if source_sha256:
        manifest["source_sha256"] = source_sha256
    report = node_table(graph, ctx.records, t, text, pass_report)
    compiled = Compiled(graph, t, source, weights, manifest, report)
    if t.validate is not None:
        # resource limits are checked now, not when a simulator is first built
        lines = t.validate(compiled)
        compiled.report += "".join(f"{line}\n" for line in lines)
    logger.info("compiled @%s for %s: %d neurons", graph.name, t.name, manifest["neurons"])
    return compiled


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _version() -> str:
    from snnc import __version__

    return __version__


def _backend_versions(target: Target, imports) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in dict.fromkeys(["numpy", "nengo", target.backend, *imports]):
        try:
            out[dist] = version(dist.replace("_", "-"))
        except PackageNotFoundError:
            out[dist] = "missing"
    return out

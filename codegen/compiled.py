"""``compile_graph`` and :class:`Compiled`: a graph, its target's artifact, and runs.

A Compiled holds the graph after the pipeline and the :class:`~snnc.codegen.target.Artifact`
its target emitted (for the nengo-family targets, the *source* of the generated
``network.py`` and its weights: the network run in-process is made by executing that very
source, so the artifact written by :meth:`Compiled.save` and the network run cannot differ).

Artifacts are data: :meth:`Compiled.load` builds everything from ``model.snnc``, emitting the
artifact again with the same generator, and refuses a folder whose files differ from what
snnc generates (an edited ``network.py``) unless ``trust_code=True``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from snnc.codegen.emit import NengoNetwork
from snnc.codegen.report import node_table
from snnc.codegen.target import Artifact, Target, get_target, read_file
from snnc.errors import CodegenError, ModelFileError, SnncError
from snnc.ir.graph import Graph, Stage
from snnc.ir.lexer import format_name
from snnc.ir.ops import OpError

logger = logging.getLogger(__name__)

MODEL_FILE = "model.snnc"
MANIFEST_FILE = "manifest.json"
REPORT_FILE = "report.txt"
#: the files of every compile output, whatever its target (the artifact adds its own)
COMMON_FILES = (MODEL_FILE, MANIFEST_FILE, REPORT_FILE)
#: per-step output values one chunk of ``Compiled.run(trace=False)`` holds (16M float64,
#: 128 MiB; the readout's running mean needs as much again)
_CHUNK_VALUES = 1 << 24


class Compiled:
    """A graph compiled for a target.

    Attributes:
        graph: the IR after the pipeline (what was emitted).
        target: the :class:`~snnc.codegen.target.Target`.
        artifact: what the target emitted (a :class:`~snnc.codegen.emit.NengoNetwork` for
            the nengo-family targets).
        manifest: JSON-ready facts: target, pipeline, shapes, fingerprint, hashes, versions.
        report: the compile report (one table row per node, then the pipeline).
    """

    def __init__(self, graph: Graph, target: Target, artifact: Artifact, manifest: dict, report: str):
        self.graph = graph
        self.target = target
        self.artifact = artifact
        self.manifest = manifest
        self.report = report
        self._network = None
        self._sessions: dict = {}

    def __repr__(self) -> str:
        return f"<Compiled @{format_name(self.graph.name)} for {self.target.name}: {len(self.graph)} nodes>"

    @property
    def files(self) -> tuple[str, ...]:
        """Every file :meth:`save` writes."""
        return COMMON_FILES + tuple(self.artifact.files)

    # ------------------------------------------------------------------ the network
    def _nengo(self) -> NengoNetwork:
        if not isinstance(self.artifact, NengoNetwork):
            raise SnncError(
                f"target '{self.target.name}' produces {', '.join(self.artifact.files)}, "
                "not a nengo network"
            )
        return self.artifact

    @property
    def source(self) -> str:
        """The text of the generated ``network.py`` (nengo-family targets)."""
        return self._nengo().source

    @property
    def weights(self) -> dict:
        """The arrays ``network.py`` reads (``weights.npz``; nengo-family targets)."""
        return self._nengo().weights

    @property
    def module(self):
        """The generated module, executed in-process (imports the backend)."""
        return self._nengo().module

    def build(self):
        """A fresh ``(network, inputs, probes)`` from the generated module's ``build``."""
        return self._nengo().build()

    @property
    def network(self):
        """The nengo network (built once, on first access)."""
        if self._network is None:
            self._network = self.build()[0]
        return self._network

    # ------------------------------------------------------------------ running
    def run(
        self,
        x,
        steps: int = 50,
        batch: int | None = None,
        progress: bool | None = None,
        readout: str | None = None,
        *,
        trace: bool = True,
        max_run_values: int | None = None,
        **options,
    ):
        """Simulate the network on a batch, every sample from a reset state.

        Args:
            x: one array ``(batch, *input_shape)``, a list (one per input, in index order)
                or a dict by input name; each sample is presented for all ``steps``.
                Checked like every input (:func:`snnc.datafiles.check_inputs`: real finite
                numbers, at least one sample, the model's input shapes).
            steps: simulation steps (of ``graph.dt`` seconds), an integer >= 1.
            batch: minibatch size of a batched target (nengo-dl; default: its
                ``default_batch`` or fewer); the reference target runs sample by sample.
            progress: show progress (None: only if the run takes over a second).
            readout: None applies each output's own readout (``nn.output``'s ``readout``:
                the running mean over steps 1..t by default, so ``ys[:, t-1].argmax(-1)``
                is the prediction after ``t`` steps, as ``snnc.simulate`` gives it);
                ``"raw"`` returns the per-step values, ``"mean"`` / ``"window"`` override.
            trace: return every step (the default). False returns only the value after the
                last step, ``ys[:, -1]``, and runs the samples in chunks, so that only one
                chunk's per-step values are held at a time (what ``snnc run`` prints).
            max_run_values: most values the run may hold at once (default
                :data:`snnc.runcost.MAX_RUN_VALUES`): ``steps x samples held x``
                the output values per step (a batched target also feeds its inputs every
                step); checked before anything is allocated.
            options: simulator options of the target (nengo-dl: ``dtype="float64"``).

        Returns:
            ``(batch, steps, *output_shape)`` — a list of those for several outputs; with
            ``trace=False``, ``(batch, *output_shape)``.

        Raises:
            InputShapeError: ``x`` does not match the graph's inputs (names the expected shape).
            RunLimitError: the run would hold more than ``max_run_values`` values.
            SnncError: bad steps/options/inputs, or a target whose artifact snnc cannot run.
        """
        from snnc.datafiles import check_inputs
        from snnc.runcost import check_run_values, check_steps

        if self.target.session is None:
            raise SnncError(
                f"target '{self.target.name}' writes {', '.join(self.artifact.files)}; snnc "
                "has no simulator for it"
            )
        steps = check_steps(steps, "Compiled.run")
        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
            raise SnncError(f"Compiled.run: batch must be an integer >= 1 (got {batch!r})")
        reads = {name: self._readout_op(name, readout) for name in self.graph.outputs}
        xs = [
            a.reshape(a.shape[0], -1).astype(np.float64, copy=False)
            for a in check_inputs(self.graph, x, "x")
        ]
        n = xs[0].shape[0]
        size = min(batch or self.target.default_batch, n) if self.target.default_batch else None
        shapes = [self.graph.type(o).shape for o in self.graph.outputs]
        out_values = sum(self.graph.type(o).size for o in self.graph.outputs)
        # samples whose every step is held at once: all of them for a trace, else one chunk
        # (at least a minibatch of a batched target)
        rows = n if trace else (size or 1)
        found = steps * rows * out_values
        what = f"the record of {steps:,} steps x {rows:,} sample(s) x {out_values:,} output values"
        if size:  # nengo-dl is fed (minibatch, steps, input size) arrays
            found += steps * size * sum(a.shape[1] for a in xs)
            what += f", plus the input feed of {size:,} samples per step"
        check_run_values("Compiled.run", what, found, max_run_values)
        key = (size, tuple(sorted(options.items())))
        if key not in self._sessions:  # simulators are kept: building one is the slow part
            logger.info("building a %s simulator (batch %s, %s)", self.target.name, size, options)
            self._sessions[key] = self.target.session(self, size, **options)
        session = self._sessions[key]
        if trace:
            outs = session.run(xs, steps, progress)
            outs = [
                reads[name].read(o.reshape((n, steps) + s))
                for name, o, s in zip(self.graph.outputs, outs, shapes, strict=True)
            ]
            return outs[0] if len(outs) == 1 else outs
        # only the value after the last step: chunks of samples whose per-step values stay
        # within _CHUNK_VALUES (a whole number of minibatches on a batched target)
        chunk = max(1, min(n, _CHUNK_VALUES // (steps * out_values)))
        if size:
            chunk = max(size, chunk // size * size)
        finals = [np.empty((n, *s)) for s in shapes]
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            outs = session.run([a[start:stop] for a in xs], steps, progress)
            for final, name, o, s in zip(finals, self.graph.outputs, outs, shapes, strict=True):
                final[start:stop] = reads[name].read(o.reshape((stop - start, steps) + s))[:, -1]
        return finals[0] if len(finals) == 1 else finals

    def _readout_op(self, name: str, readout: str | None):
        """The output node's op with ``readout`` (None: its own) as the readout; its
        ``read`` applies it to per-step values (see :meth:`run`)."""
        op = self.graph.op(name)
        if readout is not None:
            op = op.replace(readout=readout)
            try:
                op.infer_type([self.graph.type(name)])
            except OpError as e:
                raise SnncError(f"readout: {e.message}") from None
        return op

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

        Files: ``model.snnc`` (the IR), the target's artifact (nengo family:
        ``network.py`` + ``weights.npz``), ``manifest.json`` and ``report.txt``. They are
        written into a temporary folder next to ``out_dir`` which then replaces it, so
        readers never see a half artifact; ``out_dir`` is locked meanwhile, so a concurrent
        writer fails instead of replacing it (:func:`snnc.ir.output_files.write_folder`).

        Raises:
            OutputError: ``out_dir`` exists and is not empty (without ``force``), is a link,
                a file or the current folder, another snnc is writing it, or the OS refuses
                the write (permissions, full disk, ...).
        """
        from snnc.ir.output_files import write_folder
        from snnc.ir.serialize import to_snnc_bytes

        model = to_snnc_bytes(self.graph, self._ir_manifest())
        manifest = json.dumps(self.manifest, indent=2, sort_keys=True) + "\n"
        with write_folder(out_dir, force=force) as tmp:
            (tmp / MODEL_FILE).write_bytes(model)
            self.artifact.write(tmp)
            (tmp / MANIFEST_FILE).write_text(manifest, encoding="utf-8")
            (tmp / REPORT_FILE).write_text(self.report, encoding="utf-8")
        out = Path(out_dir)
        logger.info("wrote %s", out)
        return out

    def _ir_manifest(self) -> dict:
        keys = ("target", "pipeline", "source_sha256")
        return {k: self.manifest[k] for k in keys if k in self.manifest}

    @classmethod
    def load(cls, out_dir, *, trust_code: bool = False, limits=None) -> Compiled:
        """Read an artifact folder written by :meth:`save`.

        Everything is built from ``model.snnc``: the target emits the artifact again, and a
        folder whose files differ from it (an edited ``network.py``, other weights, a
        manifest hash that does not match) is refused. ``trust_code=True`` instead uses the
        folder's files as they are: its ``network.py`` runs, whatever it holds. ``limits``
        (a :class:`snnc.frontend.limits.Limits`) raises ``max_member_bytes`` for reading
        ``model.snnc``.

        Raises:
            ModelFileError: not a compile output, unreadable files, or files that differ
                from what snnc generates (without ``trust_code``).
        """
        if trust_code:
            out, graph, target, manifest, report = _read_folder(out_dir, limits)
            logger.warning("%s: running its files as they are (trust_code)", out)
            return cls(graph, target, target.read_artifact(out), manifest, report)
        compiled, problems = cls.load_regenerated(out_dir, limits=limits)
        if problems:
            out, name = Path(out_dir), compiled.target.name
            raise ModelFileError(
                f"{out}: refusing to run files snnc did not generate: " + "; ".join(problems),
                hint="the folder was edited after `snnc compile`, or written by another snnc "
                f"version: recompile it (`snnc compile {out / MODEL_FILE} -t {name} -o NEW`), "
                "or pass --trust-code (trust_code=True) to run its files as they are",
            )
        return compiled

    @classmethod
    def load_regenerated(cls, out_dir, *, limits=None) -> tuple[Compiled, list[str]]:
        """``(compiled, differences)`` for an artifact folder: the Compiled is built from
        its ``model.snnc`` alone (the folder's code never runs), and ``differences`` says how
        the folder's artifact files differ from what snnc generates (empty: identical).
        :meth:`load` refuses a folder with differences; a checker (``snnc verify``) reports
        them.

        Raises:
            ModelFileError: not a compile output, or unreadable files.
        """
        out, graph, target, manifest, report = _read_folder(out_dir, limits)
        artifact = target.emit(graph)
        return cls(graph, target, artifact, manifest, report), artifact.differences(out, manifest)


def _read_folder(out_dir, limits=None):
    """``(folder, graph, target, manifest, report)`` of a compile output (no artifact yet)."""
    from snnc.ir.serialize import load as load_snnc

    out = Path(out_dir)
    missing = [f for f in COMMON_FILES if not (out / f).is_file()]
    if missing:
        raise ModelFileError(
            f"{out}: not an snnc compile output (missing {', '.join(missing)})",
            hint="create one with `snnc compile MODEL -o OUT`",
        )
    manifest = _read_manifest(out / MANIFEST_FILE)
    if limits is not None:
        graph, ir_manifest = load_snnc(out / MODEL_FILE, max_member_bytes=limits.max_member_bytes)
    else:
        graph, ir_manifest = load_snnc(out / MODEL_FILE)
    name = manifest.get("target")
    if not isinstance(name, str):
        raise ModelFileError(f"{out / MANIFEST_FILE}: 'target' is missing or not a name")
    if ir_manifest.get("target") not in (None, name):
        raise ModelFileError(
            f"{out}: model.snnc was compiled for target {ir_manifest.get('target')!r} but "
            f"manifest.json says {name!r}"
        )
    target = get_target(name)
    report = read_file(out / REPORT_FILE).decode("utf-8", errors="replace")
    return out, graph, target, manifest, report


def _read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(read_file(path))
    except (ValueError, RecursionError) as e:
        raise ModelFileError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{path}: expected a JSON object (got {type(manifest).__name__})")
    return manifest


def check_out_dir(out_dir, force: bool = False) -> Path:
    """``out_dir`` as a Path if an artifact may be written there (missing, empty, or
    ``force``; not a link, a file or the current folder); else raise OutputError (see
    :func:`snnc.ir.output_files.check_output_dir`). ``snnc compile`` checks before
    compiling; :meth:`Compiled.save` checks again while holding the folder's lock."""
    from snnc.ir.output_files import check_output_dir

    return check_output_dir(out_dir, replace=True, force=force)


# =============================================================================== compiling


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
        target: target name or object (``nengo``, ``nengo-dl``, ``loihi``).
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
    check_names(graph)
    if pipeline is None and graph.stage != Stage.ANN and neuron is None and synapse is None:
        # the default pipelines lower ANN graphs; an already lowered graph is emitted as is
        logger.info("graph @%s is at stage %s: running no passes", graph.name, graph.stage.value)
        pipeline = ""
    text = t.pipeline_for(pipeline, neuron=neuron, synapse=synapse)
    pass_report = None
    if text.strip():
        from snnc.passes import PassContext, run_pipeline

        ctx = PassContext.default(seed=seed, target=t.name, calibration=calibration)
        graph, pass_report = run_pipeline(graph, text, ctx)
    else:
        from snnc.ir import verify

        verify(graph)
        graph = graph.copy()  # the Compiled owns its graph, as after run_pipeline
    artifact = t.emit(graph)
    manifest = {
        "target": t.name,
        "pipeline": text,
        "graph": graph.name,
        "dt": graph.dt,
        "fingerprint": graph.fingerprint(),
        "inputs": {n: list(graph.type(n).shape) for n in graph.inputs},
        "outputs": {n: list(graph.type(n).shape) for n in graph.outputs},
        "neurons": sum(r.neurons for r in artifact.records.values()),
        **artifact.manifest(),
        "snnc_version": _version(),
        "backend_versions": _backend_versions(t, artifact),
    }
    if source_sha256:
        manifest["source_sha256"] = source_sha256
    report = node_table(graph, artifact.records, t, text, pass_report)
    compiled = Compiled(graph, t, artifact, manifest, report)
    if t.validate is not None:
        # resource limits are checked now, not when a simulator is first built
        lines = t.validate(compiled)
        compiled.report += "".join(f"{line}\n" for line in lines)
    logger.info("compiled @%s for %s: %d neurons", graph.name, t.name, manifest["neurons"])
    return compiled


def check_names(graph: Graph) -> None:
    """Refuse names that are not valid Unicode text (a lone surrogate, possible in a JSON
    ``"\\ud800"`` escape): they cannot be written to any UTF-8 file of the artifact.

    Raises:
        CodegenError: naming every such node (escaped).
    """
    bad = [n for n in [graph.name, *graph.topo_order()] if not _is_text(n)]
    if bad:
        raise CodegenError(
            f"graph @{format_name(graph.name)}: {len(bad)} name(s) are not valid Unicode text "
            f"(lone surrogates): {', '.join(format_name(n) for n in bad)}",
            hint="rename the layers (or the model) in the source model",
        )


def _is_text(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _version() -> str:
    from snnc import __version__

    return __version__


def _backend_versions(target: Target, artifact: Artifact) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    dists = ["numpy"]
    if isinstance(artifact, NengoNetwork):
        dists += ["nengo", *artifact.imports]
    if target.backend:
        dists.append(target.backend)
    out = {}
    for dist in dict.fromkeys(dists):
        try:
            out[dist] = version(dist.replace("_", "-"))
        except PackageNotFoundError:
            out[dist] = "missing"
    return out

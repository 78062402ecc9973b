"""Backends as data: a :class:`Target` per backend, found by name in a registry.

A target bundles what differs between backends, and is the seam every backend plugs into:

- ``default_pipeline``: the passes that prepare a graph for it (the target owns it;
  ``snnc compile``, ``snnc opt --target``, ``snnc passes`` and ``snnc targets`` read it
  here), and :meth:`Target.pipeline_for` applies the ``--neuron``/``--synapse`` overrides;
- :meth:`Target.check`: what it refuses (``refuses`` by op class or trait, neurons whose
  catalogue entry does not list the target, ``limits``), reported for all nodes at once
  before anything is emitted;
- :meth:`Target.emit` ``(graph) -> Artifact``: the backend's output. The nengo-family
  targets (:mod:`snnc.codegen.nengo_family`) return a generated nengo network; another
  backend (NIR export) returns files (:class:`FileArtifact`);
- ``session``: the simulator factory of a target that can run,
  ``session(compiled, batch, **options) -> Session`` with ``run(xs, steps, progress)`` and
  ``close()``; None for a target that only writes files.

Targets are declared in their own modules (``nengo_target``, ``nengo_dl_target``,
``loihi_target``); the registry imports those modules lazily, and a target module imports its
backend (nengo, TensorFlow) only inside ``session``, so listing targets stays cheap.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import importlib
import importlib.util
import logging
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from snnc.errors import CodegenError, ModelFileError, SnncError
from snnc.ir import traits as T
from snnc.ir.lexer import format_name

if TYPE_CHECKING:
    from snnc.ir.graph import Graph
    from snnc.ir.ops import Op

logger = logging.getLogger(__name__)

#: target name -> module that declares it (imported on first use)
_TARGET_MODULES = {
    "nengo": "snnc.codegen.nengo_target",
    "nengo-dl": "snnc.codegen.nengo_dl_target",
    "loihi": "snnc.codegen.loihi_target",
    "nir": "snnc.codegen.nir_target",
}
_TARGETS: dict[str, Target] = {}


@dataclass(frozen=True)
class Limits:
    """Resource limits of a target; ``None`` means unlimited.

    Attributes:
        max_neurons_per_ensemble: largest neuron op (in elements) one ensemble may hold.
        max_fallback_inputs: largest input (in elements) of an op emitted through the
            matrix fallback; the fallback probes the op with one basis vector per input
            element, so its cost grows with this number.
    """

    max_neurons_per_ensemble: int | None = None
    max_fallback_inputs: int | None = 1 << 17


@dataclass
class NodeRecord:
    """What one IR node became in an artifact (a row of the compile report)."""

    emitted: list[str] = field(default_factory=list)
    neurons: int = 0


# =============================================================================== artifacts


class Artifact(abc.ABC):
    """What :meth:`Target.emit` returns: the files a compile output holds besides
    ``model.snnc``, ``manifest.json`` and ``report.txt``, and what each node became.

    Artifacts are data. ``snnc run`` and ``Compiled.load`` never trust the files on disk:
    they emit the artifact again from ``model.snnc`` and :meth:`differences` says whether
    the files are exactly what snnc generates.
    """

    #: IR node -> what it became (the compile report's last column)
    records: dict[str, NodeRecord]

    @property
    @abc.abstractmethod
    def files(self) -> tuple[str, ...]:
        """Names of the files :meth:`write` creates."""

    @abc.abstractmethod
    def write(self, folder: Path) -> None:
        """Write the files into ``folder``."""

    @abc.abstractmethod
    def differences(self, folder: Path, manifest: Mapping) -> list[str]:
        """How the files in ``folder`` (and the hashes in ``manifest``) differ from this
        artifact: one short sentence per difference, none when they are identical."""

    def manifest(self) -> dict:
        """Entries this artifact adds to ``manifest.json`` (hashes, sizes)."""
        return {}


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex (manifest hashes)."""
    return hashlib.sha256(data).hexdigest()


def read_file(path: Path) -> bytes:
    """The bytes of an artifact file; ModelFileError naming it when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read ({e.strerror or e})") from None


class FileArtifact(Artifact):
    """An artifact that is a set of files (e.g. a NIR export): ``contents`` maps a file name
    to its bytes. The manifest records each file's SHA-256 under ``files_sha256``."""

    def __init__(self, contents: Mapping[str, bytes], records: dict[str, NodeRecord] | None = None):
        for name in contents:
            if Path(name).name != name or name in ("", ".", ".."):
                raise CodegenError(f"artifact file name {name!r} must be a plain file name")
        self.contents = dict(contents)
        self.records = records or {}

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(self.contents)

    def write(self, folder: Path) -> None:
        for name, data in self.contents.items():
            (Path(folder) / name).write_bytes(data)

    def manifest(self) -> dict:
        return {"files_sha256": {n: sha256_hex(d) for n, d in self.contents.items()}}

    def differences(self, folder: Path, manifest: Mapping) -> list[str]:
        out = []
        hashes = manifest.get("files_sha256")
        for name, data in self.contents.items():
            path = Path(folder) / name
            if not path.is_file():
                out.append(f"{name} is missing")
                continue
            on_disk = read_file(path)
            if on_disk != data:
                out.append(f"{name} differs from what snnc generates from model.snnc")
            if not isinstance(hashes, Mapping) or hashes.get(name) != sha256_hex(on_disk):
                out.append(f"manifest.json's files_sha256 does not match {name}")
        return out

    @classmethod
    def read(cls, folder: Path, names) -> FileArtifact:
        """The files ``names`` of ``folder`` as they are (for ``--trust-code``)."""
        return cls({n: read_file(Path(folder) / n) for n in names})


# =============================================================================== targets


@dataclass(frozen=True)
class Target(abc.ABC):
    """One backend. See the module docstring for the meaning of each field.

    Attributes:
        name: the ``--target`` name.
        description: one line for ``snnc targets``.
        default_pipeline: the passes ``snnc compile`` runs unless told otherwise.
        backend: the Python package that must be importable to use the artifact (None: none).
        session: simulator factory (None: the artifact cannot be run by snnc).
        limits: resource limits checked before emitting.
        refuses: op class or trait -> hint; the target cannot emit such ops.
        default_batch: minibatch size of a batched simulator; None: sample by sample.
        validate: ``fn(compiled) -> list[str]`` run at compile time on the result: raises
            CodegenError on resource problems (all at once), returns lines for the report.
    """

    name: str
    description: str
    default_pipeline: str
    backend: str | None = None
    session: Callable[..., Any] | None = None
    limits: Limits = Limits()
    refuses: Mapping[type, str] = field(default_factory=dict)
    default_batch: int | None = None
    validate: Callable | None = None

    def __post_init__(self):
        from snnc.ir.ops import Op

        for key in self.refuses:
            if not (isinstance(key, type) and issubclass(key, (Op, T.Trait))):
                raise ValueError(f"target {self.name}: refuses keys are op classes or traits (got {key!r})")
        object.__setattr__(self, "refuses", MappingProxyType(dict(self.refuses)))

    # ------------------------------------------------------------------ the seam
    @abc.abstractmethod
    def emit(self, graph: Graph) -> Artifact:
        """The backend's output for ``graph`` (checked with :meth:`check` first).

        Raises:
            CodegenError: nodes the target cannot emit (all of them, at once).
        """

    @abc.abstractmethod
    def read_artifact(self, folder: Path) -> Artifact:
        """The artifact files of ``folder`` as they are, unchecked (``--trust-code``)."""

    # ------------------------------------------------------------------ pipelines
    def pipeline_for(self, pipeline: str | None = None, **lowering) -> str:
        """The pipeline to run: ``pipeline`` (default: :attr:`default_pipeline`) with the
        ``lower-activations`` options in ``lowering`` (``neuron``, ``synapse``; None values
        are ignored) set, the rest of the text kept as written.

        Raises:
            PipelineError: a bad option value, or overrides for a pipeline without
                ``lower-activations``.
        """
        from snnc.passes.pipeline import with_options

        text = self.default_pipeline if pipeline is None else pipeline
        options = {k: v for k, v in lowering.items() if v is not None}
        return with_options(text, "lower-activations", **options) if options else text

    # ------------------------------------------------------------------ refusals
    def neurons(self) -> list[str]:
        """Options of the catalogue's neurons that run on this target (spiking ones first)."""
        from snnc.ir.neurons import NEURONS

        runs = [(not cls.spiking, opt) for opt, cls in NEURONS.items() if self.name in cls.targets]
        return [opt for _, opt in sorted(runs, key=lambda r: r[0])]

    def refusal(self, op: Op | type[Op]) -> str | None:
        """The hint of ``refuses`` for ``op`` (an op or op class; by class, then by trait),
        or None."""
        cls = op if isinstance(op, type) else type(op)
        for base in cls.__mro__:
            if base in self.refuses:
                return self.refuses[base]
        for key, hint in self.refuses.items():
            if issubclass(key, T.Trait) and cls.has(key):
                return hint
        return None

    def supports(self, graph: Graph, node: str) -> str | None:
        """Why this target cannot run ``node`` (a message with its hint), or None.

        Checks target-level rules: refused ops, neurons whose catalogue entry does not list
        this target, and limits. A backend adds its own rules in :meth:`problem`.
        """
        op = graph.op(node)
        hint = self.refusal(op)
        if hint is not None:
            return f"{op.kind} is not supported by target '{self.name}'\n    hint: {hint}"
        if op.has(T.Neuron) and self.name not in type(op).targets:
            runs = self.neurons()
            fix = (
                f"lower with --neuron {runs[0]} (neurons for {self.name}: {', '.join(runs)})"
                if runs
                else "no neuron of the catalogue runs on it (`snnc passes` lists them)"
            )
            return (
                f"neuron '{op.option}' does not run on target '{self.name}' (it runs on: "
                f"{', '.join(type(op).targets)})\n    hint: {fix}"
            )
        limit = self.limits.max_neurons_per_ensemble
        if limit is not None and op.has(T.Neuron) and graph.type(node).size > limit:
            return (
                f"{graph.type(node).size} neurons exceed the target's limit of {limit} per "
                "ensemble\n    hint: split the layer or use fewer channels"
            )
        return None

    def problem(self, graph: Graph, node: str) -> str | None:
        """Why ``node`` cannot be emitted (a backend extends :meth:`supports`), or None."""
        return self.supports(graph, node)

    def check(self, graph: Graph) -> None:
        """Raise one CodegenError listing every node this target cannot emit."""
        problems = []
        for n in graph.topo_order():
            reason = self.problem(graph, n)
            if reason:
                problems.append(f"  - %{format_name(n)} ({graph.op(n).kind}): {reason}")
        if problems:
            raise CodegenError(
                f"graph @{format_name(graph.name)}: target '{self.name}' cannot emit "
                f"{len(problems)} node(s):\n" + "\n".join(problems),
                hint=f"adjust the pipeline (default for {self.name}: {self.default_pipeline!r})",
            )

    def backend_available(self) -> bool:
        """True when the backend package can be imported (without importing it)."""
        return self.backend is None or importlib.util.find_spec(self.backend) is not None


def register_target(target: Target) -> Target:
    """Add ``target`` to the registry (a name may be registered once)."""
    if target.name in _TARGETS:
        raise ValueError(f"target {target.name!r} registered twice")
    _TARGETS[target.name] = target
    return target


def target_names() -> list[str]:
    """Names of every known target (built-in and registered)."""
    return sorted(set(_TARGET_MODULES) | set(_TARGETS))


def get_target(name: str | Target) -> Target:
    """The target called ``name`` (a Target passes through).

    Raises:
        SnncError: unknown name; the message lists the known targets.
    """
    if isinstance(name, Target):
        return name
    if not isinstance(name, str):
        raise SnncError(f"a target is a name or a Target (got {type(name).__name__})")
    if name not in _TARGETS and name in _TARGET_MODULES:
        importlib.import_module(_TARGET_MODULES[name])  # registers itself on import
    if name not in _TARGETS:
        raise SnncError(
            f"unknown target {name!r} (expected one of: {', '.join(target_names())})",
            hint="`snnc targets` lists the targets and their default pipelines",
        )
    return _TARGETS[name]


def all_targets() -> list[Target]:
    """Every known target, loading the built-in ones."""
    return [get_target(n) for n in target_names()]


def default_pipelines() -> dict[str, str]:
    """Target name -> its default pipeline, for every known target."""
    return {t.name: t.default_pipeline for t in all_targets()}


# =============================================================================== run helpers


@contextlib.contextmanager
def quiet_build():
    """Silence nengo's warning about the ``max_rates`` it derives from an ensemble's gain and
    bias (snnc sets gain and bias directly, so that derived number is informational only:
    for LIF neurons with a small gain it is not finite, and nengo warns at every build)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Non-finite values detected in `max_rates`")
        yield


#: seconds between two plain progress lines (when stderr is not a terminal)
PLAIN_PROGRESS_INTERVAL = 10.0


def progress_bar(iterable, *, total: int, enabled: bool | None, unit: str, stream=None):
    """Show progress of ``iterable`` on stderr.

    ``enabled=None`` (the default of ``Compiled.run``) shows it only once the run has taken
    more than a second; ``False`` never, ``True`` at once. On a terminal it is a tqdm bar;
    otherwise (a log file, a pipe, CI) a plain line now and then
    (:data:`PLAIN_PROGRESS_INTERVAL`) instead of a flood of carriage returns.
    """
    if enabled is False:
        return iterable
    stream = sys.stderr if stream is None else stream
    delay = 0.0 if enabled else 1.0
    if not _is_terminal(stream):
        return _plain_progress(iterable, total, unit, delay, stream)
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, unit=unit, delay=delay, leave=False, file=stream)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _plain_progress(iterable, total: int, unit: str, delay: float, stream):
    start = time.monotonic()
    last = None  # time of the last line printed (None: none yet)
    done = 0

    def line(final: bool = False) -> None:
        elapsed = time.monotonic() - start
        pct = f" ({100 * done // total}%)" if total else ""
        end = " done" if final else ""
        stream.write(f"snnc: {done}/{total} {unit}s{pct}, {elapsed:.1f} s{end}\n")
        stream.flush()

    for item in iterable:
        yield item
        done += 1
        now = time.monotonic()
        due = now - start >= delay if last is None else now - last >= PLAIN_PROGRESS_INTERVAL
        if due and done < total:
            line()
            last = now
    if last is not None or delay == 0.0:
        line(final=True)

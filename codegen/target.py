"""Backends as data: a :class:`Target` per backend, found by name in a registry.

A target bundles what differs between backends:

- ``default_pipeline``: the passes that prepare a graph for it, from
  :data:`snnc.passes.pipeline.DEFAULT_PIPELINES` (the one place pipelines are written down)
  unless the target sets its own ``pipeline``;
- ``limits`` and :meth:`Target.supports`: what it refuses, reported for all nodes at once
  before anything is emitted;
- ``emitters``: per-op overrides layered over the shared emitters of
  :mod:`snnc.codegen.emit`;
- ``imports``: the extra backend modules its generated ``network.py`` may import;
- ``session``: the simulator factory, ``session(compiled, batch, **options) -> Session``
  with ``run(xs, steps, progress)`` and ``close()``; ``options`` are target-specific
  simulator settings (nengo-dl: ``dtype``) and unknown ones raise SnncError.

Targets are declared in their own modules (``nengo_target``, ``nengo_dl_target``); the
registry imports those modules lazily, and a target module imports its backend (nengo,
TensorFlow) only inside ``session``, so listing targets stays cheap.

The ``loihi`` target fills the same shape: it ``refuses`` the host-side ops (``nn.max_pool``,
hidden ``ann.*``) and rate neurons, places ensembles with a ``postlude`` in network.py,
checks core resources at compile time with ``validate``, and its ``session`` runs
``nengo_loihi.Simulator`` one sample at a time like the reference target.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from snnc.errors import SnncError

if TYPE_CHECKING:
    from snnc.ir.graph import Graph

logger = logging.getLogger(__name__)

#: target name -> module that declares it (imported on first use)
_TARGET_MODULES = {
    "nengo": "snnc.codegen.nengo_target",
    "nengo-dl": "snnc.codegen.nengo_dl_target",
    "loihi": "snnc.codegen.loihi_target",
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


@dataclass(frozen=True)
class Target:
    """One backend. See the module docstring for the meaning of each field."""

    name: str
    description: str
    backend: str  # the Python package that must be importable to run it
    session: Callable[..., Any]
    pipeline: str | None = None  # None: DEFAULT_PIPELINES[name]
    emitters: Mapping[str, Callable] = field(default_factory=dict)
    imports: tuple[str, ...] = ()
    limits: Limits = Limits()
    refuses: Mapping[str, str] = field(default_factory=dict)  # op kind -> hint
    default_batch: int | None = None  # minibatch size of a batched target; None: sample by sample
    #: ``fn(net)`` copied into network.py and called at the end of ``build()`` (placement,
    #: backend config); must import what it needs itself
    postlude: Callable | None = None
    #: ``fn(compiled) -> list[str]`` run at compile time on the built network: raises
    #: CodegenError on resource problems (all at once), returns lines for the report
    validate: Callable | None = None

    def __post_init__(self):
        object.__setattr__(self, "emitters", MappingProxyType(dict(self.emitters)))
        object.__setattr__(self, "refuses", MappingProxyType(dict(self.refuses)))

    @property
    def default_pipeline(self) -> str:
        """The pass pipeline ``snnc compile`` runs for this target unless told otherwise.

        Raises:
            PipelineError: the target sets none and DEFAULT_PIPELINES has no entry for it.
        """
        if self.pipeline is not None:
            return self.pipeline
        from snnc.passes.pipeline import default_pipeline

        return default_pipeline(self.name)

    def supports(self, graph: Graph, node: str) -> str | None:
        """Why this target cannot run ``node`` (a message with its hint), or None.

        Checks target-level rules only (refused kinds, limits); whether an emitter exists
        and accepts the op is checked by :func:`snnc.codegen.emit.check`.
        """
        op = graph.op(node)
        if op.kind in self.refuses:
            return f"{op.kind} is not supported by target '{self.name}'\n    hint: {self.refuses[op.kind]}"
        limit = self.limits.max_neurons_per_ensemble
        if limit is not None and op.dialect == "snn" and graph.type(node).size > limit:
            return (
                f"{graph.type(node).size} neurons exceed the target's limit of {limit} per "
                "ensemble\n    hint: split the layer or use fewer channels"
            )
        return None

    def backend_available(self) -> bool:
        """True when the backend package can be imported (without importing it)."""
        return importlib.util.find_spec(self.backend) is not None


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


@contextlib.contextmanager
def quiet_build():
    """Silence nengo's warning about the ``max_rates`` it derives from an ensemble's gain and
    bias (snnc sets gain and bias directly, so that derived number is informational only:
    for LIF neurons with a small gain it is not finite, and nengo warns at every build)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Non-finite values detected in `max_rates`")
        yield


def progress_bar(iterable, *, total: int, enabled: bool | None, unit: str):
    """Wrap ``iterable`` in a tqdm bar on stderr.

    ``enabled=None`` (the default of ``Compiled.run``) shows the bar only once the run has
    taken more than a second; ``False`` never shows it, ``True`` shows it at once.
    """
    if enabled is False:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, unit=unit, delay=0.0 if enabled else 1.0, leave=False)

"""What the nengo-family targets (``nengo``, ``nengo-dl``, ``loihi``) share: one emitter set
(:mod:`snnc.codegen.emit`) producing a :class:`~snnc.codegen.emit.artifact.NengoNetwork`,
and the sample-by-sample simulator session.

A :class:`NengoTarget` differs from another only by data: its per-op emitter overrides
(nengo-dl's TensorNodes), the backend modules its module imports, a ``postlude`` copied
into ``network.py`` (loihi's placement), refusals, limits, and its session factory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnc.codegen.emit import EmitterTable, NengoNetwork, find_emitter, generate
from snnc.codegen.target import Target, progress_bar, quiet_build
from snnc.ir import traits as T
from snnc.ir.graph import Graph


@dataclass(frozen=True)
class NengoTarget(Target):
    """A target whose artifact is a generated nengo network.

    Attributes:
        emitters: per-op overrides of the shared emitters (None: none).
        imports: backend modules the generated module imports.
        postlude: ``fn(net)`` copied into ``network.py`` and called at the end of
            ``build()`` (placement, backend config); it must import what it needs itself.
    """

    emitters: EmitterTable | None = None
    imports: tuple[str, ...] = ()
    postlude: Callable | None = None

    def emit(self, graph: Graph) -> NengoNetwork:
        """The generated module and weights of ``graph`` (see :func:`~snnc.codegen.emit.generate`)."""
        return generate(graph, self)

    def read_artifact(self, folder: Path) -> NengoNetwork:
        return NengoNetwork.read(folder)

    def problem(self, graph: Graph, node: str) -> str | None:
        """Target rules (:meth:`Target.supports`), then: an emitter exists and accepts it."""
        reason = self.supports(graph, node)
        if reason is not None:
            return reason
        op = graph.op(node)
        em = find_emitter(self, op)
        if em is None:
            if op.has(T.Activation):
                hint = (
                    "lower activations to neurons first: run the lower-activations pass "
                    "(e.g. -p '...,lower-activations{neuron=if}')"
                )
            else:
                hint = "this op has no nengo equivalent yet; replace the layer or add an emitter"
            return f"no emitter for {op.kind}\n    hint: {hint}"
        return em.check(graph, node, self) if em.check is not None else None


# =============================================================================== sessions


class _Feed:
    """A Node output function returning whatever sample was set last."""

    def __init__(self, size: int):
        self.value = np.zeros(size)

    def __call__(self, t):
        return self.value


class ReferenceSession:
    """Runs a compiled network sample by sample on a nengo-API simulator.

    Args:
        compiled: the :class:`~snnc.codegen.compiled.Compiled` to run.
        simulator: ``simulator(network, dt) -> Simulator``; default ``nengo.Simulator``
            (a loihi target passes ``nengo_loihi.Simulator``).
    """

    def __init__(self, compiled, simulator=None):
        import nengo

        network, inputs, probes = compiled.build()
        self.feeds = []
        for node in inputs.values():
            feed = _Feed(node.size_out)
            node.output = feed  # the network is fresh from build(): ours to change
            self.feeds.append(feed)
        self.probes = list(probes.values())
        self._simulator = simulator or (lambda net, dt: nengo.Simulator(net, dt=dt, progress_bar=False))
        self._network, self._dt = network, compiled.graph.dt
        self.sim = self._make()

    def run(self, xs: list[np.ndarray], steps: int, progress: bool | None = None) -> list[np.ndarray]:
        """Run every sample for ``steps`` steps from a reset state.

        Args:
            xs: one ``(batch, size)`` array per input, flat samples.
        Returns:
            One ``(batch, steps, size)`` array per output.
        """
        n = xs[0].shape[0]
        outs = [np.empty((n, steps, p.size_in)) for p in self.probes]
        for i in progress_bar(range(n), total=n, enabled=progress, unit="sample"):
            for feed, x in zip(self.feeds, xs, strict=True):
                feed.value = x[i]
            self.reset()
            self.sim.run_steps(steps)  # the simulators are built with progress_bar=False
            for out, probe in zip(outs, self.probes, strict=True):
                out[i] = self.sim.data[probe]
        return outs

    def _make(self):
        with quiet_build():
            return self._simulator(self._network, self._dt)

    def reset(self) -> None:
        """Back to the initial state before each sample."""
        self.sim.reset()

    def close(self) -> None:
        """Close the simulator."""
        self.sim.close()

"""The ``nengo`` target: nengo's NumPy reference simulator.

Samples run one at a time: the input Nodes read the current sample from a :class:`_Feed`,
and the simulator is reset between samples, so no state leaks from one sample to the next.
The simulator is built once per session and reused for every sample.
"""

from __future__ import annotations

import logging

import numpy as np

from snnc.codegen.target import Target, progress_bar, quiet_build, register_target
from snnc.errors import SnncError

logger = logging.getLogger(__name__)


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
        self.sim.close()


def _session(compiled, batch: int | None, **options) -> ReferenceSession:
    if options:
        raise SnncError(f"target 'nengo' takes no simulator options (got {', '.join(options)})")
    return ReferenceSession(compiled)  # the reference simulator has no minibatches


NENGO = register_target(
    Target(
        name="nengo",
        description="nengo reference simulator (NumPy, CPU); one sample at a time",
        backend="nengo",
        session=_session,
    )
)

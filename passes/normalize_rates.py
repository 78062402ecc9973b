"""``normalize-rates``: scale spiking neurons so they fire at useful rates.

A spiking IF neuron with ``gain=1`` fires ``max(x, 0)`` times per second: for activations
near 1 that is one spike a second, far too slow to carry information in a few hundred
steps. For each spiking neuron node the pass picks a factor ``k`` and sets
``gain *= k, bias *= k, amplitude /= k``: ``J`` and so the firing rate grow ``k``-fold while
the rate-mode output ``amplitude * f(J)`` stays exactly the same for the rectified-linear
family (if, loihi-if). For LIF neurons (a nonlinear rate curve) it is the same
approximation nengo-dl's ``scale_firing_rates`` makes, and a note says so.

Modes:

- ``data``: run the graph in rate mode on the calibration data (``ctx.calibration``), take
  the ``percentile`` of each node's positive firing rates ``p`` and use ``k = rate / p``, so
  that fraction of the active neurons fires at most ``rate`` Hz. A node silent on the data
  (the saturation neuron of a clipped ReLU, say) takes the factor of a neuron reading the
  same input, else the fixed factor;
- ``fixed``: ``k = scale`` for every node (nengo-dl's ``scale_firing_rates``), no data;
- ``auto`` (default): ``data`` when calibration data is given, else ``fixed`` (with a note).

Rate neurons (rate-relu, lif-rate) emit no spikes and are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from snnc.errors import PassError
from snnc.ir import Graph, Stage
from snnc.ir.interpreter import evaluate
from snnc.ir.ops import is_spiking
from snnc.passes.base import Pass, PassContext, PassResult, option, register_pass

_RELU_KINDS = ("snn.if", "snn.loihi_if")


@register_pass
@dataclass(frozen=True)
class NormalizeRates(Pass):
    """Scale spiking neurons' gain/bias up and amplitude down to reach a target firing rate."""

    name: ClassVar[str] = "normalize-rates"
    stage: ClassVar = frozenset({Stage.ANN, Stage.SNN})  # a no-op until neurons exist
    mode: Literal["auto", "data", "fixed"] = option(
        "auto",
        "data: from calibration data; fixed: multiply by scale; auto: data if there is calibration data",
    )
    percentile: float = option(
        99.9,
        "percentile of the positive calibration rates mapped to rate",
        check=lambda v: 0 < v <= 100,
        expect="a float in (0, 100]",
    )
    rate: float = option(
        250.0,
        "target firing rate (Hz) of that percentile",
        check=lambda v: v > 0,
        expect="a float > 0",
    )
    scale: float | None = option(
        None,
        "the factor of mode=fixed; none means rate (activations of about 1 fire at rate Hz)",
        check=lambda v: v is None or v > 0,
        expect="a float > 0 or none",
    )

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        neurons = [n for n in graph.topo_order() if is_spiking(graph.op(n))]
        if not neurons:
            return PassResult(
                changed=False, stats={"scaled": 0}, notes=["no spiking neuron to scale"]
            )
        mode, notes = self.mode, []
        if mode == "auto":
            mode = "data" if ctx.calibration is not None else "fixed"
            if mode == "fixed":
                notes.append(
                    "no calibration data: scaled every neuron by a fixed factor (mode=fixed)"
                )
        fixed = self.scale if self.scale is not None else self.rate
        if mode == "data":
            factors = self._data_factors(graph, neurons, ctx, fixed, notes)
        else:
            factors = dict.fromkeys(neurons, fixed)
        for n, k in factors.items():
            op = graph.op(n)
            graph.replace_op(
                n, op.replace(gain=op.gain * k, bias=op.bias * k, amplitude=op.amplitude / k)
            )
        if factors:
            text = ", ".join(f"%{n} x{k:.4g}" for n, k in factors.items())
            notes.insert(0, f"scaled {len(factors)} neuron node(s) ({mode} mode): {text}")
        lif = [n for n in factors if graph.op(n).kind not in _RELU_KINDS]
        if lif:
            notes.append(
                f"{len(lif)} LIF node(s): the scaling is approximate (a LIF rate is not linear in J)"
            )
        stats = {
            "scaled": len(factors),
            "mode": mode,
            "scales": {n: float(k) for n, k in factors.items()},
        }
        return PassResult(changed=bool(factors), stats=stats, notes=notes)

    def _data_factors(
        self, g: Graph, neurons: list[str], ctx: PassContext, fixed: float, notes: list[str]
    ) -> dict[str, float]:
        if ctx.calibration is None:
            raise PassError(
                "mode=data needs calibration data (none was given)",
                hint="pass calibration inputs (snnc opt --calibration X.npy, or PassContext(calibration=x)), or use mode=fixed",
            )
        values = evaluate(g, ctx.calibration, return_all=True)
        factors, silent = {}, []
        for n in neurons:
            rates = values[n] / g.op(n).amplitude  # the firing rate in Hz
            active = rates[rates > 0]
            if active.size:
                factors[n] = self.rate / float(np.percentile(active, self.percentile))
            else:
                silent.append(n)
        for n in silent:
            # e.g. the saturation neuron of a clipped ReLU: fire like the neuron reading the
            # same input (same precision), else as if its activations were about 1
            src = g.inputs_of(n)[0]
            sibling = next((m for m in factors if g.inputs_of(m)[0] == src), None)
            factors[n] = factors[sibling] if sibling else fixed
            how = f"the factor of %{sibling}" if sibling else "the fixed factor"
            notes.append(f"%{n} never fires on the calibration data: it gets {how}")
        return {n: factors[n] for n in neurons}

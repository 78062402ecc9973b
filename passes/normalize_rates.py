"""``normalize-rates``: scale spiking neurons so that they use their whole firing range.

A spiking neuron computes ``J = gain * x + bias`` and outputs ``amplitude * rate(J)``. An
integrate-and-fire neuron lowered from a ReLU (``gain=1``) fires ``max(x, 0)`` times per
second: for activations near 1 that is one spike in a thousand steps, far too slow to
carry information in a few steps. For each spiking neuron node the pass picks a factor
``k`` and sets ``gain *= k, bias *= k, amplitude /= k``: ``J`` and so the firing rate grow
``k``-fold, while the rate-mode output ``amplitude * rate(J)`` stays exactly the same for
the catalogue's ``relu_exact`` neurons (e.g. ``if``), whose rate is linear in ``J``. For the
others (LIF, Loihi's quantized rates, ...) it is the approximation nengo-dl's
``scale_firing_rates`` makes, and a note says so.

Data-based normalization (``mode=data``; Diehl et al. 2015, "Fast-classifying,
high-accuracy spiking deep networks through weight and threshold balancing", IJCNN;
Rueckauer et al. 2017, "Conversion of continuous-valued deep networks to efficient
event-driven networks for image classification", Front. Neurosci. 11:682): the graph runs
in rate mode on the calibration data (``ctx.calibration``), and the ``percentile``
(default 99.9) of each node's positive input currents ``J`` is mapped to the neuron's
maximal useful rate ``rate`` (default ``max``):

- ``max`` is one spike per step (``1 / dt``) for neurons that may fire several times a step
  (``if``: a neuron at the percentile then fires every step, a weaker one proportionally
  less), and the neuron's own ``max_rate(dt)`` from the catalogue when it is bounded
  (``graded-if``: ``(2**bits - 1) / dt``; ``loihi-if``: ``1 / dt``), so graded spikes use
  all their levels. A number asks for that many Hz (capped at ``max_rate``; ``rate=250``
  gives the old, slow default);
- LIF only approaches its maximum ``1 / tau_ref``: its ``max`` is the knee of its curve,
  ``1 / (2 tau_ref)`` (the catalogue's ``full_rate``);
- the factor is ``k = J* / P`` (``P``: the percentile of the positive currents; ``J*``: the
  current at which the neuron fires at the target rate, the catalogue's ``current_for``:
  the rate itself for ReLU-like neurons, LIF's curve inverted, so the percentile fires at
  the rate asked for instead of deep in saturation). The
  percentile instead of the maximum (Rueckauer 2017) ignores the few outliers that would
  otherwise squeeze every other neuron into a handful of spikes;
- the statistic is of the neuron's whole input current, bias included, and the bias
  scales with the gain (bias-aware: Rueckauer 2017 scales biases with the weights), so a
  layer driven by its bias is normalized as one driven by its weights;
- the rising piece ``P`` of a lowered clipped ReLU (``relu(x) - relu(x - m)``) only matters
  up to ``x = m``: for neurons without a rate bound its currents are capped there before
  the percentile is taken, so it does not spend its range on values the saturation piece
  cancels (:func:`snnc.passes.calibration.clip_caps`). Bounded neurons keep the plain
  statistic (their saturation would otherwise clip twice);
- ``granularity=channel``: one factor per output channel (each channel's percentile; a
  channel silent on the data takes the layer's). A neuron's amplitude is one number, so
  the layer factor goes into the amplitude and the remainder ``k_c / k`` is undone where
  the next op can absorb it: the input channels of the following dense/conv (through
  flatten, reshape, padding, pooling, concat, ...) or the gain of the following neuron
  (:mod:`snnc.passes.channel_scaling`). Where it cannot (an output, an add of differently
  scaled values), those nodes fall back to one factor per layer, with a note. The pieces of
  a clipped or leaky ReLU share one channel profile, so their sum stays exact.

A node silent on the data (e.g. the saturation piece of a clipped ReLU that never
saturates) takes the factor of a neuron reading the same input, else the fixed factor.

Other modes: ``fixed``: ``k = scale`` (nengo-dl's ``scale_firing_rates``), or, with
``scale=none``, ``k = rate`` in Hz (activations of about 1 fire at that rate); ``auto``
(default): ``data`` when calibration data is given, else ``fixed`` (with a note). In data
mode a ``scale`` given for a node overrides its data factor.

Per-node options (:mod:`snnc.passes.node_options`): ``percentile``, ``rate`` and ``scale``
take one value or ``{key:value,...}`` whose keys match a neuron node's name, the ReLU it was
lowered from (``conv1.act``), that name without ``.act`` (``conv1``) or its input's name, by
exact name or glob: ``normalize-rates{percentile={conv1:99.99,*:99.9}}``.

Calibration data is checked first (:func:`snnc.passes.calibration.check_calibration`):
its shape against the graph's input, finite values, and a warning note below 100 samples.
Rate neurons (rate-relu, lif-rate) emit no spikes and are left alone. A scaled gain or bias
that was quantized is float afterwards (its ``quant`` entry is dropped and a note says so).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from snnc.errors import PassError
from snnc.ir import Graph, Stage, ops
from snnc.ir import traits as T
from snnc.ir.neurons import NeuronOp
from snnc.passes import channel_scaling
from snnc.passes.base import Pass, PassContext, PassResult, option, register_pass
from snnc.passes.calibration import check_calibration, clip_caps, neuron_currents
from snnc.passes.folding import lost_quant, quant_note, replace_params
from snnc.passes.node_options import MAX_RATE, PercentileMap, RateMap, ScaleMap, neuron_names


@dataclass
class _Stats:
    """What the calibration data says about one neuron node's input currents."""

    percentile: float | None  # of the positive currents (None: never positive)
    channels: np.ndarray | None  # per-channel percentiles (NaN: silent channel)
    mean_positive: float  # mean of max(J, 0) over every neuron and sample
    capped: bool  # currents were capped (rising piece of a clipped ReLU)


@register_pass
@dataclass(frozen=True)
class NormalizeRates(Pass):
    """Scale spiking neurons so the calibration percentile fires at their maximal useful rate.

    ``gain`` and ``bias`` are multiplied and ``amplitude`` divided by the same factor (one
    spike per step for ``if``; see the module docstring)."""

    name: ClassVar[str] = "normalize-rates"
    stage: ClassVar = frozenset({Stage.ANN, Stage.SNN})  # a no-op until neurons exist
    mode: Literal["auto", "data", "fixed"] = option(
        "auto",
        "data: from calibration data; fixed: multiply by scale; auto: data if there is calibration data",
    )
    percentile: PercentileMap = option(
        99.9,
        "percentile of the positive calibration currents mapped to rate, or {key:percentile,...}",
    )
    rate: RateMap = option(
        MAX_RATE,
        "target rate of that percentile: max (one spike per step, or the neuron's maximum "
        "rate when bounded) or Hz, or {key:rate,...}",
    )
    scale: ScaleMap | None = option(
        None,
        "fixed factor (mode=fixed; in data mode it overrides the data for the nodes it names), "
        "or {key:factor,...}; none: from the data, or the rate in Hz in fixed mode",
    )
    granularity: Literal["layer", "channel"] = option(
        "layer",
        "one factor per neuron node, or one per output channel (the remainder is undone in "
        "the next layer's weights)",
    )

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        neurons = graph.nodes_of(T.Spiking)
        if not neurons:
            return PassResult(
                changed=False, stats={"scaled": 0}, notes=["no spiking neuron to scale"]
            )
        mode, notes = self.mode, []
        if mode == "auto":
            mode = "data" if ctx.calibration is not None else "fixed"
            if mode == "fixed":
                notes.append(
                    "no calibration data: scaled every neuron by a fixed factor (mode=fixed); "
                    "give calibration data for few-step accuracy"
                )
        names = {n: neuron_names(graph, n) for n in neurons}
        targets = self._target_rates(graph, neurons, names, notes)
        # the percentile goes to the current at which the neuron fires at its target rate
        # (the rate itself for ReLU-like neurons; LIF's curve inverted)
        currents = {n: graph.op(n).current_for(r, graph.dt) for n, r in targets.items()}
        fixed = self._fixed_factors(neurons, names, currents)
        stats: dict[str, _Stats] = {}
        if mode == "data":
            stats = self._calibrate(graph, neurons, names, ctx, notes)
            factors, channel_factors = self._data_factors(
                graph, neurons, names, currents, fixed, stats, notes
            )
        else:
            factors, channel_factors = fixed, {}
        residuals = self._residuals(graph, factors, channel_factors, notes)
        lost = self._apply(graph, factors, residuals)
        if factors:
            text = ", ".join(f"%{n} x{k:.4g}" for n, k in factors.items())
            per = f", per channel: {len(residuals)}" if self.granularity == "channel" else ""
            notes.insert(0, f"scaled {len(factors)} neuron node(s) ({mode} mode{per}): {text}")
        inexact = [n for n in factors if not graph.op(n).has(T.ReLUExact)]
        if inexact:
            kinds = sorted({type(graph.op(n)).option for n in inexact})
            notes.append(
                f"{len(inexact)} node(s) of neurons that are not ReLU-exact ({', '.join(kinds)}): "
                "the scaling is approximate (their rate is not linear in J)"
            )
        if lost:
            notes.append(quant_note(lost, "scaled"))
        result = {
            "scaled": len(factors),
            "mode": mode,
            "scales": {n: float(k) for n, k in factors.items()},
            "target_rates": {n: float(r) for n, r in targets.items()},
        }
        if currents != targets:
            result["target_currents"] = {n: float(j) for n, j in currents.items()}
        if stats:
            result["percentiles"] = {
                n: s.percentile for n, s in stats.items() if s.percentile is not None
            }
            # the mean number of spikes per neuron and step the scaled layer fires in rate
            # mode: how busy the network will be (and how much the few steps can carry)
            result["spikes_per_step"] = {
                n: float(s.mean_positive * factors[n] * graph.dt) for n, s in stats.items()
            }
        if self.granularity == "channel":
            result["per_channel"] = sorted(residuals)
        return PassResult(changed=bool(factors), stats=result, notes=notes)

    # ------------------------------------------------------------------ target rates
    def _target_rates(
        self, g: Graph, neurons: list[str], names: dict, notes: list[str]
    ) -> dict[str, float]:
        """The rate (Hz) each node's percentile should reach: ``max`` is the neuron's
        ``max_rate(dt)``, or one spike per step (``1/dt``) when it has no bound; a number is
        capped at ``max_rate``."""
        targets, capped = {}, {}
        for n in neurons:
            top = g.op(n).max_rate(g.dt)
            want = self.rate.get(names[n])
            if want == MAX_RATE:
                # one spike per step: the fastest rate whose spikes still say something
                # per step about the value (more would only matter within a step)
                full = g.op(n).full_rate(g.dt)
                targets[n] = full if full is not None else 1.0 / g.dt
            elif top is not None and want > top:
                targets[n] = top
                capped[n] = (want, top)
            else:
                targets[n] = float(want)
        if capped:
            text = ", ".join(f"%{n} {w:g} Hz -> {t:g} Hz" for n, (w, t) in capped.items())
            notes.append(f"rates above what the neurons reach were capped at their maximum: {text}")
        return targets

    # ------------------------------------------------------------------ factors
    def _fixed_factors(
        self, neurons: list[str], names: dict, currents: dict[str, float]
    ) -> dict[str, float]:
        """``scale`` per node; where none is given, the target current (activations of
        about 1 then fire at the target rate)."""
        out = {}
        for n in neurons:
            k = self.scale.get(names[n]) if self.scale is not None else None
            out[n] = float(k) if k is not None else currents[n]
        return out

    def _calibrate(
        self, g: Graph, neurons: list[str], names: dict, ctx: PassContext, notes: list[str]
    ) -> dict[str, _Stats]:
        """Run the calibration data and take each neuron's current statistics."""
        if ctx.calibration is None:
            raise PassError(
                f"{self.name}: mode=data needs calibration data (none was given)",
                hint="pass calibration inputs (snnc opt --calibration X.npy, or "
                "PassContext(calibration=x)), or use mode=fixed",
            )
        inputs, data_notes = check_calibration(
            g, ctx.calibration, where=self.name, logger=ctx.logger
        )
        notes.extend(data_notes)
        caps = {
            n: cap
            for n, cap in clip_caps(g).items()
            if n in names and g.op(n).max_rate(g.dt) is None
        }
        per_channel = self.granularity == "channel"
        stats: dict[str, _Stats] = {}

        def visit(n: str, j: np.ndarray) -> None:
            if n in caps:
                j = np.minimum(j, caps[n])
            pct = self.percentile.get(names[n])
            positive = j[j > 0]
            p = float(np.percentile(positive, pct)) if positive.size else None
            channels = None
            if per_channel and p is not None and j.ndim >= 2:
                flat = j.reshape(-1, j.shape[-1])
                masked = np.where(flat > 0, flat, np.nan)
                with warnings.catch_warnings():
                    # a silent channel is all NaN: its percentile is NaN, handled later
                    warnings.simplefilter("ignore", RuntimeWarning)
                    channels = np.nanpercentile(masked, pct, axis=0)
            stats[n] = _Stats(p, channels, float(np.maximum(j, 0).mean()), n in caps)

        neuron_currents(g, inputs, names, visit)
        if caps:
            notes.append(
                "clipped-ReLU rising piece(s) "
                + ", ".join(f"%{n}" for n in caps)
                + ": currents above the clip level (cancelled by the saturation piece) left "
                "out of the percentile"
            )
        return stats

    def _data_factors(
        self,
        g: Graph,
        neurons: list[str],
        names: dict,
        currents: dict[str, float],
        fixed: dict[str, float],
        stats: dict[str, _Stats],
        notes: list[str],
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """``target current / percentile`` per node (and per channel when asked); a
        ``scale`` given for a node wins."""
        factors: dict[str, float] = {}
        channel: dict[str, np.ndarray] = {}
        silent, overridden = [], []
        for n in neurons:
            if self.scale is not None and self.scale.get(names[n]) is not None:
                factors[n] = fixed[n]
                overridden.append(n)
                continue
            s = stats[n]
            if s.percentile is None or s.percentile <= 0:
                silent.append(n)
                continue
            factors[n] = currents[n] / s.percentile
            if s.channels is not None:
                ch = np.where(np.isfinite(s.channels) & (s.channels > 0), s.channels, s.percentile)
                channel[n] = currents[n] / ch
        for n in silent:
            # e.g. the saturation piece of a clipped ReLU that never saturates on the data:
            # fire like the neuron reading the same input (same precision), else as if
            # its activations were about 1
            src = g.inputs_of(n)[0]
            sibling = next((m for m in factors if g.inputs_of(m)[0] == src), None)
            factors[n] = factors[sibling] if sibling else fixed[n]
            if sibling in channel:
                channel[n] = channel[sibling] * (factors[n] / factors[sibling])
            how = f"the factor of %{sibling}" if sibling else "the fixed factor"
            notes.append(f"%{n} never fires on the calibration data: it gets {how}")
        if overridden:
            notes.append(
                f"scale given for {', '.join('%' + n for n in overridden)}: fixed factor "
                "instead of the data's"
            )
        return {n: factors[n] for n in neurons}, channel

    # ------------------------------------------------------------------ per channel
    def _residuals(
        self,
        g: Graph,
        factors: dict[str, float],
        channel: dict[str, np.ndarray],
        notes: list[str],
    ) -> dict[str, np.ndarray]:
        """The per-channel remainders ``k_c / k`` that can be undone downstream; nodes whose
        remainder cannot fall back to the layer factor (with a note)."""
        residuals = {n: channel[n] / factors[n] for n in channel}
        _share_piece_profiles(g, residuals)
        fallen: dict[str, str] = {}
        while residuals:
            plan = channel_scaling.plan(g, residuals)
            if not plan.failed:
                break
            for n, why in plan.failed.items():
                fallen[n] = why
                residuals.pop(n, None)
        if fallen:
            text = "; ".join(f"%{n}: {why}" for n, why in fallen.items())
            notes.append(
                f"per-channel factors would not be exact, one factor per layer used: {text}"
            )
        return residuals

    def _apply(
        self, g: Graph, factors: dict[str, float], residuals: dict[str, np.ndarray]
    ) -> list[str]:
        """Scale every neuron (and undo per-channel remainders downstream); returns the
        parameters that lost their quantization."""
        plan = channel_scaling.plan(g, residuals) if residuals else channel_scaling.Plan()
        lost: list[str] = []
        with g.rewrite():
            for n in g.topo_order():
                op = g.op(n)
                new = op
                if n in factors:
                    k = factors[n] * residuals[n] if n in residuals else factors[n]
                    new = scale_neuron(new, k, factors[n])
                if n in plan.gains:
                    divisor = channel_scaling.gain_divisor(plan.gains[n])
                    new = replace_params(new, gain=np.asarray(new.gain, np.float64) / divisor)
                if n in plan.consumers:
                    rank = len(g.type(g.inputs_of(n)[0]).shape)
                    new = channel_scaling.absorb_into_consumer(new, plan.consumers[n], rank)
                if new is not op:
                    lost += [f"%{n}.{p}" for p in lost_quant(op, new)]
                    g.replace_op(n, new)
        for n, r in residuals.items():
            # what this node's rate-mode value is now, per channel, over the original's
            # (its consumers undo it): verify compares and forces values through it
            r = np.ravel(np.asarray(r, np.float64))
            before = channel_scaling.recorded_scale(g.meta(n).get(channel_scaling.META_KEY))
            total = r * before if before is not None and before.shape == r.shape else r
            g.set_meta(n, **{channel_scaling.META_KEY: [float(v) for v in total]})
        return lost


def _share_piece_profiles(g: Graph, residuals: dict[str, np.ndarray]) -> None:
    """Give the neurons summed by one ``nn.add`` (the pieces of a clipped / leaky ReLU) the
    channel profile of its first neuron input, so the sum is scaled uniformly per channel
    and the remainder passes the add (each piece keeps its own layer factor)."""
    for a in g.nodes_of(ops.Add):
        ins = [s for s in g.inputs_of(a) if s in residuals]
        if len(ins) == len(g.inputs_of(a)) and len(ins) > 1:
            for s in ins[1:]:
                residuals[s] = residuals[ins[0]]


def scale_neuron(op: NeuronOp, k, k_amplitude: float | None = None) -> NeuronOp:
    """``op`` with ``J`` scaled by ``k`` (a number, or one per channel) and its amplitude
    divided by ``k_amplitude`` (default ``k``, which must then be a number): the same
    rate-mode output for a ReLU-exact neuron, times ``k / k_amplitude``; ``k`` times the
    firing rate."""
    k = np.asarray(k, np.float64)
    k_amplitude = float(k) if k_amplitude is None else float(k_amplitude)
    scalar = k.ndim == 0
    gain = np.asarray(op.gain, np.float64) * (float(k) if scalar else k)
    bias = np.asarray(op.bias, np.float64) * (float(k) if scalar else k)
    if not scalar:
        # a per-channel factor on scalar gain/bias gives per-channel arrays
        gain = np.broadcast_to(gain, np.broadcast_shapes(gain.shape, k.shape))
        bias = np.broadcast_to(bias, np.broadcast_shapes(bias.shape, k.shape))
    return replace_params(op, gain=gain, bias=bias).replace(amplitude=op.amplitude / k_amplitude)

"""``legalize-loihi``: decide where every op runs on Loihi (host or chip) and encode the inputs.

A Loihi chip runs spiking neurons and the synapses between them; everything else (reading
the input, the readout) is the host's. nengo-loihi takes real values from the host only
through its own on/off "node encoding" (Dense connections only, saturating at ``|x| >= 1``),
so its Keras example runs the *first model layer* on the host to turn the input into
spikes. This pass instead inserts an explicit host-side **input encoder** and keeps every
model layer on the chip (``input=encode``, the default)::

    %image.onoff = nn.dense(%image) {weight=[[1,-1]], place="host"}       x -> (x, -x)
    %image.enc   = snn.graded_if(%image.onoff) {bits=1, gain=G, amplitude=1/G, place="host"}
    %image.dec   = nn.dense(%image.enc) {weight=[[1],[-1]], place="chip"}  (on - off)
    %conv1       = nn.conv2d(%image.dec) {..., place="chip"}

The encoder neurons emit at most one spike per step (what the host->chip link carries:
nengo-loihi sends "spiked or not") at the rate ``G x`` (subtractive reset, so the rate is
exact, unlike a reset-to-zero neuron whose rate is ``1/ceil(1/(G x dt))``), and ``1/G`` is
the largest magnitude encoded, ``input_max``. In rate mode the encoder computes
``clip(x, -input_max, input_max)``: exact for inputs in range, and the interpreter, the
simulator and ``snnc.evaluate`` see precisely what the chip receives. The decode
``on - off`` and the first layer's weights are linear, so codegen composes them into the
on-chip synapses of the first layer (a convolution stays a convolution). When the
calibration inputs are all >= 0 (images), ``encoder=auto`` uses the "on" neurons only
(half the encoder, no decode); negative inputs then read as 0, and a note says so.

``input=host-layer`` keeps nengo-loihi's own style instead: the neuron layers fed directly
by the inputs run on the host (their spikes go to the chip).

Placement (the ``place`` attribute of every op, printed in the IR):

- inputs, outputs, encoders: ``host``; neurons: ``chip`` (``host`` for the first layers in
  ``host-layer`` mode);
- a linear op (dense, convolution, pooling, flatten, concat, add, ...) is ``chip`` when its
  value reaches a chip neuron through linear ops only: it is part of the synapses into that
  neuron; otherwise it is ``host`` (the readout: nengo-loihi applies it to the spikes it
  reads from the chip).

Ops no neuron computes (max pooling, softmax, other activations, rounding) cannot run on
the chip: they stay unplaced, with a note, and the ``loihi`` target refuses them all at once,
each with its remedy (max pooling: the ``max-to-avg-pool`` rewrite), as it refuses a graph
that leaves nothing on the chip.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from snnc.ir import Graph, Stage, neurons, ops
from snnc.ir import traits as T
from snnc.ir.lexer import format_name
from snnc.ir.quant import quantize_param
from snnc.passes.base import Pass, PassContext, PassResult, option, register_pass
from snnc.passes.calibration import check_calibration

HOST, CHIP = "host", "chip"

#: op class / trait -> why it cannot be placed, and what to do instead
_UNPLACEABLE = {
    ops.MaxPool: "no neuron computes a maximum, so Loihi has no max pooling; add the "
    "max-to-avg-pool pass before legalize-loihi (it changes the outputs: retraining with "
    "average pooling is exact), or use average pooling in the model",
    ops.GlobalMaxPool: "no neuron computes a maximum; add the max-to-avg-pool pass before "
    "legalize-loihi (it changes the outputs), or use global average pooling in the model",
    T.Quantizer: "Loihi cannot round activations on the chip; quantize the weights instead",
    T.HostOnly: "no Loihi neuron computes it; use ReLU-like activations in hidden layers "
    "(a softmax right before an output is dropped by lower-activations)",
    T.Activation: "lower activations to neurons first (lower-activations)",
}


def _why_unplaceable(op) -> str | None:
    for key, why in _UNPLACEABLE.items():
        if (isinstance(key, type) and issubclass(key, ops.Op) and isinstance(op, key)) or (
            issubclass(key, T.Trait) and op.has(key)
        ):
            return why
    return None


def _is_linear(op) -> bool:
    return op.has(T.Linear) and not op.has(T.Neuron)


def linear_reach(graph: Graph, start: str) -> set[str]:
    """The non-linear nodes (neurons, outputs, others) that ``start``'s value reaches
    through linear ops only (``start`` itself when it is not linear)."""
    if not _is_linear(graph.op(start)) or isinstance(graph.op(start), ops.Input):
        return {start}
    seen, found, todo = {start}, set(), deque([start])
    while todo:
        n = todo.popleft()
        for d, _ in graph.users(n):
            if d in seen:
                continue
            seen.add(d)
            if _is_linear(graph.op(d)):
                todo.append(d)
            else:
                found.add(d)
    return found


def _reach_from_users(graph: Graph, node: str) -> set[str]:
    out: set[str] = set()
    for d, _ in graph.users(node):
        out |= linear_reach(graph, d)
    return out


@register_pass
@dataclass(frozen=True)
class LegalizeLoihi(Pass):
    """Place every op on Loihi's host or chip and insert input spike encoders."""

    name: ClassVar[str] = "legalize-loihi"
    # any stage: a graph left at the ANN stage (no neuron, or an activation not lowered)
    # gets this pass's own refusal, which names the nodes and the remedy
    stage: ClassVar = None

    input: Literal["encode", "host-layer"] = option(
        "encode",
        "encode: a host-side spike encoder turns each input into spikes and every model "
        "layer runs on the chip; host-layer: the neuron layers fed by the inputs run on the "
        "host (nengo-loihi's Keras-example style)",
    )
    encoder: Literal["auto", "on-off", "on"] = option(
        "auto",
        "on-off: two neurons per input value (x and -x), any sign; on: one neuron per value, "
        "negative values read as 0; auto: on when the calibration inputs are all >= 0, else "
        "on-off",
    )
    input_max: float | None = option(
        None,
        "the input magnitude encoded at one spike per step (larger values saturate); none: "
        "the largest |x| of the calibration inputs, or 1.0 without calibration",
        check=lambda v: v is None or v > 0,
        expect="a number > 0 or none",
    )

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        unplaceable = self._unplaceable(graph)
        was_quantized = graph.stage == Stage.QUANTIZED
        calibration = None
        if ctx.calibration is not None:
            calibration, _ = check_calibration(graph, ctx.calibration, where=self.name)
        before = len(graph.changes)
        notes: list[str] = []
        host_neurons: set[str] = set()
        if self.input == "host-layer":
            for x in graph.inputs:
                host_neurons |= {
                    n for n in _reach_from_users(graph, x) if graph.op(n).has(T.Neuron)
                }
        else:
            for i, x in enumerate(graph.inputs):
                data = None if calibration is None else calibration[i]
                note = self._encode(graph, x, data, was_quantized, ctx.target)
                if note:
                    notes.append(note)
        placed = self._place(graph, host_neurons, set(unplaceable))
        chip_neurons = [n for n in graph.nodes_of(T.Neuron) if graph.op(n).place == CHIP]
        if unplaceable:
            # left unplaced: the loihi target refuses them, all at once, each with its remedy
            notes += [
                f"cannot place %{format_name(n)} ({graph.op(n).kind}): {why}"
                for n, why in unplaceable.items()
            ]
        elif not chip_neurons:
            # a graph for the loihi target needs a chip layer: the target refuses it then
            notes.append(
                f"no neuron runs on the chip (input={self.input}): the loihi target refuses "
                "this graph"
            )
        host = [n for n in graph.nodes_of(T.Neuron) if graph.op(n).place == HOST]
        notes.append(
            f"placed {len(chip_neurons)} neuron node(s) on the chip"
            + (f", {len(host)} on the host ({', '.join('%' + n for n in host)})" if host else "")
        )
        return PassResult(
            changed=len(graph.changes) > before,
            stats={"chip_neurons": len(chip_neurons), "host_neurons": len(host), "placed": placed},
            notes=notes,
        )

    @staticmethod
    def _unplaceable(graph: Graph) -> dict[str, str]:
        """Nodes that are neither neurons, nor linear, nor the graph's boundary -> why."""
        out = {}
        for n in graph.topo_order():
            op = graph.op(n)
            if not (op.has(T.Neuron) or op.has(T.GraphIO) or _is_linear(op)):
                out[n] = _why_unplaceable(op) or "it is neither a neuron nor a linear op"
        return out

    # ------------------------------------------------------------------ input encoders
    def _encode(
        self, graph: Graph, x: str, data, quantized: bool, target: str | None
    ) -> str | None:
        """Insert the encoder of input ``x`` when its value reaches a neuron that is not
        already on the host (an encoder from an earlier run is a host neuron: no-op)."""
        users = [
            (d, p)
            for d, p in graph.users(x)
            if any(
                graph.op(r).has(T.Neuron) and graph.op(r).place != HOST
                for r in linear_reach(graph, d)
            )
        ]
        if not users:
            return None
        mode = self.encoder
        if mode == "auto":
            mode = "on" if data is not None and float(np.min(data)) >= 0 else "on-off"
        if self.input_max is not None:
            top = self.input_max
        elif data is not None and np.any(data):
            top = float(np.max(np.abs(data)))
        else:
            top = 1.0
        gain = 1.0 / (graph.dt * top)  # |x| = input_max fires every step
        if quantized:
            # a power of two keeps the encoder's gain exact on a q-grid (and under the max)
            gain = float(2.0 ** np.floor(np.log2(gain)))
        channels = graph.type(x).shape[-1] if graph.type(x).rank else 1
        eye = np.eye(channels, dtype=np.float32)
        neg = 0.0 - eye  # (not -eye: no negative zeros in the printed weights)
        src = x
        if mode == "on-off":
            split = ops.Dense(weight=np.concatenate([eye, neg], axis=1), place=HOST)
            src = graph.add(
                graph.unique_name(f"{x}.onoff"), self._q(split, "weight", quantized), [x]
            )
        # a graph lowered to rate neurons only, for another target than loihi (verify's
        # rate-relu twin of a loihi graph, run on nengo), gets a rate encoder: the same
        # value in range, and no spikes that a one-step rate run would misread (for loihi
        # the spike encoder stays, and the target refuses the rate neurons by name)
        rate = target != "loihi" and not any(
            graph.op(n).spiking for n in graph.nodes_of(T.Neuron)
        )
        kind = neurons.RateReLU if rate else neurons.GradedIF
        params = {} if rate else {"bits": 1}
        enc = kind(**params, gain=gain, bias=0.0, amplitude=1.0 / gain, place=HOST)
        if quantized:
            enc = self._q(self._q(enc, "gain", True), "bias", True)
        enc_name = graph.add(graph.unique_name(f"{x}.enc"), enc, [src])
        out = enc_name
        if mode == "on-off":
            merge = ops.Dense(weight=np.concatenate([eye, neg], axis=0), place=CHIP)
            out = graph.add(
                graph.unique_name(f"{x}.dec"), self._q(merge, "weight", quantized), [enc_name]
            )
        for n in {src, enc_name, out}:
            graph.set_meta(n, created_by=self.name, role="input encoder")
        with graph.rewrite():
            for d, port in users:
                ins = graph.in_edges(d)
                names = [out if p == port and s == x else s for s, p, _ in ins]
                graph.set_inputs(d, names, [syn for _, _, syn in ins])
        lost = "; negative inputs read as 0" if mode == "on" else ""
        if rate:
            return (
                f"input %{x}: {mode} rate encoder %{enc_name} on the host (the graph's neurons "
                f"are rate neurons; {graph.type(enc_name).size} neurons{lost})"
            )
        return (
            f"input %{x}: {mode} spike encoder %{enc_name} on the host "
            f"({graph.type(enc_name).size} neurons, |x| <= {top:g} at up to one spike per "
            f"step{lost})"
        )

    @staticmethod
    def _q(op, name: str, quantized: bool):
        """In a quantized graph the encoder's parameters are quantized too (exactly: they
        are 0, +-1 and a power of two), so the graph stays at the quantized stage."""
        if not quantized:
            return op
        return quantize_param(op, name, 8)[0]

    # ------------------------------------------------------------------ placement
    def _place(self, graph: Graph, host_neurons: set[str], skip: set[str]) -> int:
        """Set ``place`` on every node but ``skip``; returns how many changed."""
        order = [n for n in graph.topo_order() if n not in skip]
        where: dict[str, str] = {}
        for n in order:
            op = graph.op(n)
            if op.has(T.GraphIO):
                where[n] = HOST
            elif op.has(T.Neuron):
                where[n] = op.place or (HOST if n in host_neurons else CHIP)
        for n in order:
            if n not in where:  # linear: part of a chip synapse, or of the host readout
                reach = linear_reach(graph, n)
                where[n] = CHIP if any(where.get(r) == CHIP for r in reach) else HOST
        changed = 0
        for n in order:
            op = graph.op(n)
            if op.place != where[n]:
                graph.replace_op(n, op.replace(place=where[n]))
                changed += 1
        return changed

"""``lower-activations``: replace every ReLU by a neuron op and turn the output activation
into the readout.

Neuron catalog (option names -> IR ops, with nengo's models and parameters):

============  ==================  =================================================================
name          op                  nengo model
============  ==================  =================================================================
rate-relu     ``snn.rate_relu``   ``RectifiedLinear`` (non-spiking)
if            ``snn.if``          ``SpikingRectifiedLinear`` (integrate-and-fire, subtractive reset)
lif           ``snn.lif``         ``LIF(tau_rc, tau_ref)``
lif-rate      ``snn.lif_rate``    ``LIFRate(tau_rc, tau_ref)`` (non-spiking)
loihi-if      ``snn.loihi_if``    nengo-loihi ``LoihiSpikingRectifiedLinear``
loihi-lif     ``snn.loihi_lif``   nengo-loihi ``LoihiLIF(tau_rc, tau_ref)``
============  ==================  =================================================================

Every neuron computes ``J = gain * x + bias`` and outputs ``amplitude * f(J)``. A ReLU
becomes a neuron with ``gain=1, bias=0, amplitude=1``, which for the rectified-linear family
(rate-relu, if, loihi-if) is exactly ``relu(x)`` in rate mode. The LIF family is *not*
ReLU-exact (its rate is ``1 / (tau_ref + tau_rc * log1p(1 / (J - 1)))`` above ``J = 1``);
nengo-dl closes that gap by training with LIF rates, this pass only lowers and says so.

Keras' ReLU variants (``max_value`` m, ``negative_slope`` a, ``threshold`` t) map to sums
of rectified-linear neurons combined by an ``nn.add``, exact in rate mode:

- clipped ReLU: ``min(relu(x), m) = relu(x) - relu(x - m)``: neurons ``<n>.pos`` and
  ``<n>.sat`` (bias ``-m``), ``nn.add{coeffs=(1,-1)}`` keeps the name ``<n>``;
- leaky ReLU: ``relu(x) - a * relu(-x)``: neurons ``<n>.pos`` and ``<n>.neg`` (gain -1),
  coefficients ``(1, -a)``; both variants together give three neurons;
- a threshold ``t != 0`` (ThresholdedReLU) jumps from 0 to ``t`` at ``x = t``: no sum of
  rectified-linear neurons makes a jump, so the pass refuses it.

The neuron is chosen per graph (``neuron=if``) or per node (``neuron={conv*:lif,dense:if}``,
or a Python dict). A key matches a ReLU node by exact name or glob pattern on the node's
name, its name without a ``.act`` suffix (``conv1`` for the fused ``conv1.act``) or its
input's name; or by activation kind: ``relu`` (every ReLU), ``clipped-relu``,
``leaky-relu``. The first matching key wins; a node no key matches gets ``if``.

Readout: ``ann.linear`` nodes are removed (identity); an ``ann.softmax`` feeding outputs is
removed when ``drop_softmax`` (the default; argmax is unchanged) and kept otherwise. Other
activations (sigmoid, tanh, elu, ...) and a hidden softmax have no neuron equivalent: the
pass raises an error naming every such node. Afterwards no ``ann.*`` op but a kept softmax
readout remains, as the verifier's stage rule demands.

Synapses: every edge leaving a spiking neuron gets the lowpass ``synapse`` (seconds, or
``none``); rate neurons need none.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import ClassVar

from snnc.errors import PassError
from snnc.ir import Graph, Stage
from snnc.ir.ops import OPS, Add, Op, ReLU
from snnc.passes.base import Pass, PassContext, PassResult, option, register_pass
from snnc.passes.folding import single_input

#: neuron names usable in options -> IR op kinds
NEURONS: dict[str, str] = {
    "rate-relu": "snn.rate_relu",
    "if": "snn.if",
    "lif": "snn.lif",
    "lif-rate": "snn.lif_rate",
    "loihi-if": "snn.loihi_if",
    "loihi-lif": "snn.loihi_lif",
}
#: the neuron for nodes no key of a neuron mapping matches
FALLBACK_NEURON = "if"
_LIF_FAMILY = ("lif", "lif-rate", "loihi-lif")


def relu_variants(op: ReLU) -> tuple[str, ...]:
    """Activation kinds a ReLU op answers to in a neuron spec: ``relu`` and, when they
    apply, ``clipped-relu`` and ``leaky-relu``."""
    kinds = ["relu", "ann.relu"]
    if op.max_value is not None:
        kinds.append("clipped-relu")
    if op.negative_slope != 0:
        kinds.append("leaky-relu")
    return tuple(kinds)


@dataclass(frozen=True)
class NeuronSpec:
    """Which neuron replaces which ReLU: ordered ``(key, neuron)`` rules.

    Built from a neuron name (``"if"``: every ReLU), a mapping text
    (``"{conv*:lif,dense:if}"``) or a Python mapping; see the module docstring for how keys
    match. ``str()`` gives the pipeline text back.
    """

    rules: tuple[tuple[str, str], ...]
    option_type: ClassVar[str] = "neuron name or {key:neuron,...}"

    @classmethod
    def from_option(cls, value) -> NeuronSpec:
        if isinstance(value, NeuronSpec):
            return value
        if isinstance(value, str):
            text = value.strip()
            if not text.startswith("{"):
                return cls((("*", _check_neuron(text)),))
            if not text.endswith("}"):
                raise ValueError(f"neuron mapping {text!r} lacks its closing '}}'")
            pairs = []
            for item in filter(str.strip, text[1:-1].split(",")):
                key, sep, neuron = item.partition(":")
                if not sep or not key.strip():
                    raise ValueError(f"neuron mapping entry {item.strip()!r} is not key:neuron")
                pairs.append((_unquote(key), _unquote(neuron)))
        elif isinstance(value, Mapping):
            pairs = [(str(k), str(v)) for k, v in value.items()]
        else:
            raise TypeError(f"expected a neuron name or a mapping, got {type(value).__name__}")
        if not pairs:
            raise ValueError("the neuron mapping is empty")
        return cls(tuple((k, _check_neuron(v)) for k, v in pairs))

    def __str__(self) -> str:
        if len(self.rules) == 1 and self.rules[0][0] == "*":
            return self.rules[0][1]
        return "{" + ",".join(f"{k}:{v}" for k, v in self.rules) + "}"

    def choose(self, names: tuple[str, ...], kinds: tuple[str, ...]) -> tuple[str, str | None]:
        """``(neuron, matching key)`` for a node known by ``names`` with activation ``kinds``;
        the key is None when no rule matched and the fallback neuron applies."""
        for key, neuron in self.rules:
            if key in kinds or any(fnmatchcase(n, key) for n in names):
                return neuron, key
        return FALLBACK_NEURON, None


def _unquote(text: str) -> str:
    """Strip spaces and one pair of quotes (``{"conv*":lif}`` reads like ``{conv*:lif}``)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _check_neuron(name: str) -> str:
    if name not in NEURONS:
        raise ValueError(f"unknown neuron '{name}' (expected one of {', '.join(NEURONS)})")
    return name


@register_pass
@dataclass(frozen=True)
class LowerActivations(Pass):
    """Replace every ReLU by a neuron op (choice per graph or per node); set the readout."""

    name: ClassVar[str] = "lower-activations"
    stage: ClassVar = Stage.ANN
    neuron: NeuronSpec = option(
        "if", "neuron for every ReLU, or {key:neuron,...} by node name, glob or kind"
    )
    synapse: float | None = option(
        0.005,
        "lowpass time constant (s) on edges leaving spiking neurons",
        check=lambda v: v is None or v > 0,
        expect="a time constant > 0 in seconds, or none",
    )
    tau_rc: float = option(
        0.02,
        "membrane time constant (s) of LIF neurons",
        check=lambda v: v > 0,
        expect="a float > 0",
    )
    tau_ref: float = option(
        0.002, "refractory period (s) of LIF neurons", check=lambda v: v >= 0, expect="a float >= 0"
    )
    drop_softmax: bool = option(True, "remove a softmax feeding an output (argmax is unchanged)")

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        _refuse_unlowerable(graph)
        notes: list[str] = []
        per_neuron: Counter = Counter()
        neuron_nodes: Counter = Counter()
        used_keys: set[str] = set()
        fallback: list[str] = []
        for n in graph.nodes_of("ann.relu"):
            op = graph.op(n)
            src = graph.inputs_of(n)[0]
            names = (n, n.removesuffix(".act"), src)
            neuron, key = self.neuron.choose(names, relu_variants(op))
            if key is None:
                fallback.append(n)
            used_keys.add(key)
            created = self._lower_relu(graph, n, neuron)
            per_neuron[neuron] += 1
            neuron_nodes[NEURONS[neuron]] += len(created)
            if len(created) > 1:
                notes.append(
                    f"%{n}: {_describe_variant(op)} lowered to {len(created)} {neuron} neurons"
                )
        readout = _lower_readout(graph, self.drop_softmax, notes)
        graph.retype()
        lowered = sum(per_neuron.values())
        if lowered:
            summary = ", ".join(f"{k} x{v}" for k, v in sorted(per_neuron.items()))
            notes.insert(
                0,
                f"lowered {lowered} ReLU node(s) to {sum(neuron_nodes.values())} neuron node(s): {summary}",
            )
        else:
            notes.insert(0, "no ReLU to lower: the graph stays at the ANN stage")
        lif = sorted(set(per_neuron) & set(_LIF_FAMILY))
        if lif:
            notes.append(
                f"{', '.join(lif)} rates are not ReLU-exact: rate-mode outputs differ from the ANN (train with LIF rates, e.g. nengo-dl, for accuracy)"
            )
        if fallback:
            notes.append(
                f"no neuron key matched {', '.join('%' + n for n in fallback)}: they got '{FALLBACK_NEURON}'"
            )
        unused = [k for k, _ in self.neuron.rules if k not in used_keys and k != "*"]
        if unused:
            notes.append(f"neuron key(s) {', '.join(unused)} matched no node")
        stats = {
            "lowered": lowered,
            "by_neuron": dict(sorted(per_neuron.items())),
            "neuron_ops": dict(sorted(neuron_nodes.items())),
            **readout,
        }
        return PassResult(changed=bool(lowered or any(readout.values())), stats=stats, notes=notes)

    # ------------------------------------------------------------------ one ReLU
    def _lower_relu(self, g: Graph, n: str, neuron: str) -> list[str]:
        """Lower ReLU node ``n``; returns the neuron nodes that now compute it."""
        op = g.op(n)
        cls = OPS[NEURONS[neuron]]
        spiking = cls.spiking
        syn = self.synapse if spiking else None
        # (suffix, gain, bias, coefficient) of each rectified-linear term of the variant
        terms = [("pos", 1.0, 0.0, 1.0)]
        if op.max_value is not None:
            terms.append(("sat", 1.0, -float(op.max_value), -1.0))
        if op.negative_slope != 0:
            terms.append(("neg", -1.0, 0.0, -float(op.negative_slope)))
        if len(terms) == 1:
            g.replace_op(n, self._neuron_op(cls, 1.0, 0.0))
            g.set_meta(n, lowered_from="ann.relu")
            if syn is not None:
                for dst, port in g.users(n):
                    g.set_edge(n, dst, port, synapse=syn)
            return [n]
        src, in_syn = single_input(g, n)
        created = []
        for suffix, gain, bias, _ in terms:
            name = g.unique_name(f"{n}.{suffix}")
            meta = {"pass": self.name, "lowered_from": n}
            g.add(name, self._neuron_op(cls, gain, bias), [src], synapses=[in_syn], meta=meta)
            created.append(name)
        # n becomes the sum, so its users are untouched
        g.set_inputs(n, created, synapses=[syn] * len(created))
        g.replace_op(n, Add(coeffs=tuple(t[3] for t in terms)))
        return created

    def _neuron_op(self, cls: type[Op], gain: float, bias: float) -> Op:
        fields = {f.name for f in dataclasses.fields(cls)}
        params = {"gain": gain, "bias": bias, "amplitude": 1.0}
        if "tau_rc" in fields:
            params.update(tau_rc=self.tau_rc, tau_ref=self.tau_ref)
        return cls(**params)


def _describe_variant(op: ReLU) -> str:
    parts = []
    if op.max_value is not None:
        parts.append(
            f"clipped ReLU (max_value={op.max_value:g}: relu(x) - relu(x - {op.max_value:g}))"
        )
    if op.negative_slope != 0:
        parts.append(
            f"leaky ReLU (negative_slope={op.negative_slope:g}: relu(x) - {op.negative_slope:g} * relu(-x))"
        )
    return " and ".join(parts)


def _feeds_only_outputs(g: Graph, n: str) -> bool:
    users = g.users(n)
    return bool(users) and all(g.op(d).kind == "nn.output" for d, _ in users)


def _refuse_unlowerable(g: Graph) -> None:
    """Raise one error naming every activation that has no neuron equivalent."""
    problems = []
    for n in g.topo_order():
        op = g.op(n)
        if op.kind == "ann.relu" and op.threshold != 0:
            problems.append(
                f"%{n}: ann.relu with threshold={op.threshold:g} (ThresholdedReLU) jumps from 0 to "
                f"{op.threshold:g} at x = {op.threshold:g}; no sum of rectified-linear neurons has a jump"
            )
        elif op.dialect != "ann" or op.kind in ("ann.relu", "ann.linear"):
            continue
        elif op.kind == "ann.softmax" and _feeds_only_outputs(g, n):
            continue
        elif _feeds_only_outputs(g, n):
            problems.append(
                f"%{n}: {op.kind} on an output cannot be part of a spiking readout (only linear and softmax can)"
            )
        else:
            problems.append(
                f"%{n}: {op.kind} in a hidden layer has no neuron equivalent (only ReLU-family activations do)"
            )
    if problems:
        raise PassError(
            f"cannot lower {len(problems)} activation(s) to neurons:\n"
            + "\n".join(f"  - {p}" for p in problems),
            hint="retrain with relu (plain, clipped or leaky) in hidden layers and a linear or "
            "softmax output (for a sigmoid output, threshold its input at 0 instead)",
        )


def _lower_readout(g: Graph, drop_softmax: bool, notes: list[str]) -> dict[str, int]:
    """Remove ``ann.linear`` nodes and, if asked, output softmaxes; returns counts."""
    counts = {"linear_removed": 0, "softmax_removed": 0, "softmax_kept": 0}
    for n in g.nodes_of("ann.linear"):
        g.bypass(n)
        counts["linear_removed"] += 1
    for n in g.nodes_of("ann.softmax"):
        if drop_softmax:
            g.bypass(n)
            counts["softmax_removed"] += 1
            notes.append(f"%{n}: softmax dropped from the readout (argmax unchanged)")
        else:
            counts["softmax_kept"] += 1
            notes.append(f"%{n}: softmax kept in the readout (drop_softmax=false)")
    return counts

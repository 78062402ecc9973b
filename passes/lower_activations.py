"""``lower-activations``: replace every ReLU by a neuron op, keep what a rate network or the
readout computes exactly, and turn the output activation into the readout.

The neurons come from the catalogue (:mod:`snnc.ir.neurons`): ``neuron=NAME`` takes any
registered neuron's ``option`` name (``snnc passes`` lists them with their summaries; a
plugin file loaded with ``--load-pass`` adds its own). Each neuron class declares what
the lowering needs to know:

- ``spiking``: spiking neurons get the ``synapse`` on their outgoing edges (none by default);
- ``relu_exact``: whether ``amplitude * f(J)`` equals ``relu(J)`` in rate mode; lowering to
  a neuron that is not (LIF, Loihi's quantized rates, graded spikes that saturate) changes
  rate-mode outputs, and the pass says so in a note;
- ``lowering``: which of its fields this pass fills from its options of the same name
  (``tau_rc``/``tau_ref`` for the LIF family, ``bits`` for graded spikes, ``v_init`` for
  the integrate-and-fire neurons); other fields keep the class defaults.

Every neuron computes ``J = gain * x + bias`` and outputs ``amplitude * f(J)``. A ReLU
becomes a neuron with ``gain=1, bias=0, amplitude=1``.

Keras' ReLU variants (``max_value`` m, ``negative_slope`` a, ``threshold`` t) map to sums
of rectified-linear neurons combined by an ``nn.add``, exact in rate mode for ReLU-exact
neurons:

- clipped ReLU: ``min(relu(x), m) = relu(x) - relu(x - m)``: neurons ``<n>.pos`` and
  ``<n>.sat`` (bias ``-m``), ``nn.add{coeffs=(1,-1)}`` keeps the name ``<n>``;
- leaky ReLU: ``relu(x) - a * relu(-x)``: neurons ``<n>.pos`` and ``<n>.neg`` (gain -1),
  coefficients ``(1, -a)``; both variants together give three neurons;
- a threshold ``t != 0`` (ThresholdedReLU) jumps from 0 to ``t`` at ``x = t``: no sum of
  rectified-linear neurons makes a jump, so the pass refuses it.

Per-node options (:mod:`snnc.passes.node_options`): ``neuron``, ``synapse`` and ``v_init``
take one value or ``{key:value,...}`` (``neuron={conv*:lif,dense:if}``,
``synapse={dense*:0.005}``, ``v_init={conv1:0.5}``, or a Python dict). A key matches a ReLU
node by exact name or glob pattern on the node's name, its name without a ``.act`` suffix
(``conv1`` for the fused ``conv1.act``) or its input's name; ``neuron`` keys also match by
activation kind: ``relu`` (every ReLU), ``clipped-relu``, ``leaky-relu`` (or the op kind,
``ann.relu``), and ``sigmoid``, ``tanh`` for those (see below). The first matching key wins;
a node no key matches gets the option's default (``if``, no synapse, ``v_init`` 0).

Low-latency conversion (issue 9; the targets' default pipelines use it):

- ``synapse=none`` (the default): spikes reach the next layer in the step they are emitted.
  A lowpass synapse (nengo-dl's recipe: ``synapse=0.005``) smooths spike trains but delays
  each layer by several steps, which costs most at few steps;
- ``v_init=0.5``: integrate-and-fire neurons start half-way to the threshold, so the spike
  count after ``t`` steps rounds ``t * rate`` instead of truncating it: the error of the
  count is centred (at most half a spike instead of one), and a neuron that should fire in
  the first step does (Rueckauer et al. 2017, "Conversion of continuous-valued deep networks
  to efficient event-driven networks for image classification", Front. Neurosci. 11:682;
  Bu et al. 2022, "Optimal ANN-SNN conversion for high-accuracy and ultra-low-latency
  spiking neural networks", ICLR). Neurons whose ``lowering`` lacks ``v_init`` ignore it,
  with a note. The integrate-and-fire neurons reset by subtraction (the catalogue's ``if``
  and ``graded-if``), so no charge above the threshold is lost. A caveat: these neurons add
  ``max(J, 0) dt`` each step (nengo's SpikingRectifiedLinear), so a neuron fed by spikes
  whose mean current is negative but whose current is sometimes positive fires on its first
  positive step when it starts half-way; on the digits example ``v_init=0.5`` wins clearly
  at 1-4 steps and costs a little from 8 steps on (``benchmarks/low_latency.py``). A per-node
  value (``v_init={conv1:0.5,*:0}``: half-way only for the layer reading the constant input)
  is the compromise;
- the readout stays non-spiking: a model's last layer (logits, or a softmax the pass drops)
  gets no neuron, so the output receives that layer's input current, and the output's
  readout (``readout="mean"``, ``nn.output``'s default) averages it over steps 1..t: the
  accumulated current, not a spike count, decides. A ReLU on the output itself is part of
  the model's function and is lowered like the others (``output_relu=neuron``, the default:
  a spiking output whose spike count is quantized to whole spikes) unless
  ``output_relu=drop`` removes it (ReLU is monotone, so the argmax is unchanged whenever
  some output is positive; the note says so). ``readout=window`` with ``window=N`` averages
  only the last N steps (nengo-dl's recipe), ``readout=raw`` gives the per-step value.

Sigmoid and tanh in hidden layers: nengo has exact *rate* neurons for them (``nengo.Sigmoid``
and ``nengo.Tanh`` with ``tau_ref=1`` output ``sigmoid(J)`` and ``tanh(J)``; nengo 3.2 has no
other rate curve of a Keras activation but ``RectifiedLinear``, the ``rate-relu`` neuron), and
no spiking neuron computes them. Whether a network is a rate network is what the ``neuron``
option already says, per node: a sigmoid or tanh node is looked up in it like a ReLU (by its
name, its name without ``.act``, its input's name, or its kind: ``sigmoid``, ``tanh`` or the
op kind), and

- when the neuron chosen for it is a rate neuron (the catalogue's ``spiking=False``:
  ``rate-relu``, ``lif-rate``), the node is kept as it is and codegen emits nengo's rate
  neuron for it on ``nengo`` and ``nengo-dl``: ``neuron=rate-relu`` (``--neuron rate-relu``)
  compiles a model with hidden sigmoid / tanh into a rate network equal to Keras. Loihi has
  neither neuron: its target refuses a kept one, naming the node. A kept node fed by spiking
  neurons (a mixed choice such as ``neuron={relu:if,sigmoid:rate-relu}``) sees each step's
  current, so give those edges a ``synapse``;
- when it is a spiking neuron (``iaf``, the targets' default), the pass refuses, naming every
  such node and saying what works (a rate neuron, or retraining with ReLU).

Every other hidden activation (elu, softplus, swish, a hidden softmax, ...) has no neuron
equivalent and is refused, in the same error.

Readout: ``ann.linear`` nodes are removed (identity). An activation feeding only outputs is
computed from the last layer's non-spiking current (see above), so it can stay in the graph
as the readout's last step:

- softmax: removed when ``drop_softmax`` (the default: argmax is unchanged, and the outputs
  are the logits the readout averages) and kept otherwise;
- any other non-ReLU activation (sigmoid, tanh, elu, ...): ``output_activation=keep`` (the
  default) keeps it; nengo and nengo-dl compute it exactly (a rate neuron for sigmoid / tanh,
  a host Node for the others), so a rate network's outputs equal Keras's, probabilities and
  a binary classifier's 0.5 threshold included. ``output_activation=drop`` removes it when
  it is increasing (sigmoid, tanh, softplus, softsign, exponential, selu, elu with
  ``alpha > 0``): the outputs are then its input, whose argmax is the same (multi-class),
  but a binary sigmoid's decision threshold moves from 0.5 to 0 and the values are no longer
  probabilities. A non-increasing one (swish, gelu, hard sigmoid's flat ends) cannot be
  dropped without changing decisions, and the pass refuses that. Loihi cannot compute any of
  them: its target refuses a kept one, naming the node (``output_activation=drop`` is the
  remedy there).

The defaults differ on purpose. A softmax's values are rarely read, its argmax is, and
dropping it has been the default since the first release. A sigmoid's values are read (a
probability, a 0.5 threshold), and keeping it is exact in rate mode. With spiking neurons
upstream the readout averages the activation of each step's current, ``mean(f(J_t))``, not
``f(mean(J_t))``: close for a sigmoid whose input current is smooth (a ``synapse`` on the
edges into the last layer helps), and a note says so.

Afterwards no ReLU remains, as the verifier's stage rule demands; the activations kept above
are allowed to stay.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import ClassVar, Literal

from snnc.errors import PassError, PipelineError
from snnc.ir import Graph, Stage, ops
from snnc.ir import traits as T
from snnc.ir.neurons import NEURONS, NeuronOp, get_neuron
from snnc.passes.base import Pass, PassContext, PassResult, option, register_pass
from snnc.passes.folding import single_input
from snnc.passes.node_options import FractionMap, NodeMap, SynapseMap, relu_names

#: the neuron for nodes no key of a neuron mapping matches
FALLBACK_NEURON = "if"

#: activations nengo computes exactly with a rate neuron (codegen's ``ACTIVATION_NEURONS``
#: emits them): kept in hidden layers when the neuron chosen for the node is a rate neuron
RATE_ACTIVATIONS: tuple[type[ops.Op], ...] = (ops.Sigmoid, ops.Tanh)

#: readout counts of nodes left as they were (they do not make the pass's result "changed")
_UNCHANGED = frozenset({"softmax_kept", "output_kept", "rate_kept"})


def relu_variants(op: ops.ReLU) -> tuple[str, ...]:
    """Activation kinds a ReLU op answers to in a neuron spec: ``relu``, its op kind and,
    when they apply, ``clipped-relu`` and ``leaky-relu``."""
    kinds = ["relu", op.kind]
    if op.max_value is not None:
        kinds.append("clipped-relu")
    if op.negative_slope != 0:
        kinds.append("leaky-relu")
    return tuple(kinds)


def activation_kinds(op: ops.Op) -> tuple[str, ...]:
    """Kinds a non-ReLU activation answers to in a neuron spec: its short name (``sigmoid``)
    and its op kind."""
    return (op.kind.partition(".")[2], op.kind)


def _increasing(op: ops.Op) -> bool:
    """Whether ``op`` is strictly increasing, so removing it from an output keeps the argmax."""
    return op.has(T.Increasing) and not (isinstance(op, ops.Elu) and op.alpha <= 0)


@dataclass(frozen=True)
class NeuronSpec(NodeMap):
    """Which neuron replaces which ReLU (and whether a hidden sigmoid / tanh may stay: when
    its neuron is a rate neuron): ordered ``(key, neuron)`` rules.

    Built from a neuron name (``"if"``: every ReLU), a mapping text
    (``"{conv*:lif,dense:if}"``) or a Python mapping; keys match as every per-node option's
    do (:mod:`snnc.passes.node_options`), plus activation kinds. Neuron names are checked
    against the catalogue when the spec is built. ``str()`` gives the pipeline text back.
    """

    default: ClassVar[str] = FALLBACK_NEURON

    @classmethod
    def option_type(cls) -> str:
        """The expected value in words, listing the catalogue's neurons as they are now
        (plugins included)."""
        return f"a neuron ({'|'.join(NEURONS)}) or {{key:neuron,...}}"

    @classmethod
    def check_value(cls, value):
        if not isinstance(value, str):
            raise ValueError(f"expected a neuron name, got {value!r}")
        get_neuron(value)  # ValueError listing the catalogue's names
        return value

    @classmethod
    def read_value(cls, text):
        return cls.check_value(text.strip().strip("'\"") if isinstance(text, str) else text)

    @classmethod
    def show_value(cls, value) -> str:
        return value

    @property
    def neurons(self) -> tuple[str, ...]:
        """Every neuron this spec may choose, the fallback included."""
        return self.values

    def choose(self, names: tuple[str, ...], kinds: tuple[str, ...]) -> tuple[str, str | None]:
        """``(neuron, matching key)`` for a node known by ``names`` with activation ``kinds``;
        the key is None when no rule matched and the fallback neuron applies."""
        return self.lookup(names, kinds)


def _neurons_declaring(field_name: str) -> str:
    """Names of the catalogue's neurons whose lowering takes option ``field_name``."""
    names = [name for name, cls in NEURONS.items() if field_name in cls.lowering]
    return ", ".join(names) or "none yet"


@register_pass
@dataclass(frozen=True)
class LowerActivations(Pass):
    """Replace every ReLU by a neuron op (choice per graph or per node); set the readout."""

    name: ClassVar[str] = "lower-activations"
    stage: ClassVar = Stage.ANN
    # the names in the expected type and the summaries in ``snnc passes`` come from the
    # catalogue at the time they are shown, so plugin neurons appear too
    neuron: NeuronSpec = option(
        "if",
        "neuron for every ReLU (a rate neuron also keeps hidden sigmoid / tanh), or "
        "{key:neuron,...} by node name, glob or kind",
    )
    synapse: SynapseMap | None = option(
        None,
        "lowpass time constant (s) on edges leaving spiking neurons, or {key:tau,...} "
        "(none: no synapse, spikes arrive in the step they are emitted)",
    )
    v_init: FractionMap = option(
        0.0,
        lambda: (
            "initial membrane voltage as a fraction of the threshold, or {key:fraction,...}, "
            f"of the neurons that take it ({_neurons_declaring('v_init')}); 0.5 centres the "
            "spike count's rounding error"
        ),
    )
    tau_rc: float = option(
        0.02,
        lambda: (
            f"membrane time constant (s) of the neurons that take it ({_neurons_declaring('tau_rc')})"
        ),
        check=lambda v: v > 0,
        expect="a float > 0",
    )
    tau_ref: float = option(
        0.002,
        lambda: (
            f"refractory period (s) of the neurons that take it ({_neurons_declaring('tau_ref')})"
        ),
        check=lambda v: v >= 0,
        expect="a float >= 0",
    )
    bits: int = option(
        1,
        lambda: (
            "spike bits (up to 2**bits-1 spikes per step) of the neurons that take it "
            f"({_neurons_declaring('bits')})"
        ),
        check=lambda v: v >= 1,
        expect="an int >= 1",
    )
    drop_softmax: bool = option(True, "remove a softmax feeding an output (argmax is unchanged)")
    output_activation: Literal["keep", "drop"] = option(
        "keep",
        "another non-ReLU activation feeding only outputs (sigmoid, tanh, ...): keep (nengo "
        "and nengo-dl compute it exactly: outputs equal Keras in rate mode) or drop (the "
        "outputs are its input: argmax unchanged for an increasing one, but a binary "
        "sigmoid's 0.5 threshold becomes 0)",
    )
    output_relu: Literal["neuron", "drop"] = option(
        "neuron",
        "a ReLU feeding only outputs, with a spiking neuron chosen for it: neuron (lowered "
        "like the others: a spiking output) or drop (the readout stays non-spiking; argmax "
        "unchanged when some output is positive)",
    )
    readout: Literal["mean", "window", "raw"] | None = option(
        None,
        "set every output's readout: mean (running mean over steps 1..t), window (mean of "
        "the last `window` steps), raw (per-step value); none keeps each output's own",
    )
    window: int = option(
        10, "steps averaged by readout=window", check=lambda v: v >= 1, expect="an int >= 1"
    )

    def __post_init__(self):
        super().__post_init__()
        # a neuron whose lowering names a field this pass has no option for cannot be
        # lowered faithfully: say so when the pass is built, not halfway through a graph
        mine = {o.name for o in self.options()}
        for neuron in self.neuron.neurons:
            cls = get_neuron(neuron)
            missing = [f for f in cls.lowering if f not in mine]
            if missing:
                raise PipelineError(
                    f"pass '{self.name}': neuron '{neuron}' ({cls.__name__}) declares lowering "
                    f"field(s) {', '.join(missing)}, which are not options of {self.name}",
                    hint="a neuron's 'lowering' may only name options of lower-activations: "
                    + ", ".join(sorted(mine)),
                )

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        used = {"neuron": set(), "synapse": set(), "v_init": set()}
        rate_kept = self._check_activations(graph, used["neuron"])
        notes: list[str] = []
        per_neuron: Counter = Counter()
        neuron_nodes: Counter = Counter()
        fallback: list[str] = []
        dropped: list[str] = []
        no_v_init: set[str] = set()
        for n in graph.nodes_of(ops.ReLU):
            op = graph.op(n)
            names = relu_names(graph, n)
            neuron, key = self.neuron.choose(names, relu_variants(op))
            if key is None:
                fallback.append(n)
            used["neuron"].add(key)
            cls = get_neuron(neuron)
            if cls.spiking and self.output_relu == "drop" and _feeds_only_outputs(graph, n):
                # the readout accumulates the last layer's current; a spiking neuron here
                # would quantize the output to whole spikes, and a monotone ReLU does not
                # change which output is largest
                graph.bypass(n)
                dropped.append(n)
                continue
            syn, syn_key = self.synapse.lookup(names) if self.synapse is not None else (None, None)
            v_init, v_key = self.v_init.lookup(names)
            used["synapse"].add(syn_key)
            used["v_init"].add(v_key)
            if v_init and "v_init" not in cls.lowering:
                no_v_init.add(neuron)
            created = self._lower_relu(graph, n, cls, names, syn if cls.spiking else None)
            per_neuron[neuron] += 1
            neuron_nodes[cls.kind] += len(created)
            if len(created) > 1:
                notes.append(
                    f"%{n}: {_describe_variant(op)} lowered to {len(created)} {neuron} neurons"
                )
        if rate_kept:
            notes.append(
                f"{', '.join('%' + n for n in rate_kept)}: kept as rate neurons (the neuron "
                "chosen for them is a rate neuron): nengo's exact Sigmoid / Tanh on nengo and "
                "nengo-dl (loihi has neither)"
            )
        readout = self._lower_readout(graph, notes)
        readout["relu_dropped"] = len(dropped)
        readout["rate_kept"] = len(rate_kept)
        if dropped:
            notes.append(
                f"{', '.join('%' + n for n in dropped)}: ReLU on the output dropped "
                "(output_relu=drop), the readout stays non-spiking (argmax unchanged when some "
                "output is positive; rate-mode outputs below 0 are no longer clipped)"
            )
        readout["readouts_set"] = self._set_readouts(graph)
        lowered = sum(per_neuron.values())
        if lowered:
            summary = ", ".join(f"{k} x{v}" for k, v in sorted(per_neuron.items()))
            notes.insert(
                0,
                f"lowered {lowered} ReLU node(s) to {sum(neuron_nodes.values())} neuron node(s): {summary}",
            )
        else:
            notes.insert(0, "no ReLU to lower: the graph stays at the ANN stage")
        inexact = sorted(n for n in per_neuron if not get_neuron(n).relu_exact)
        if inexact:
            notes.append(
                f"{', '.join(inexact)} rates are not ReLU-exact: rate-mode outputs differ from "
                "the ANN (train with the neuron's rate curve, e.g. nengo-dl, for accuracy)"
            )
        if no_v_init:
            notes.append(
                f"v_init is ignored by {', '.join(sorted(no_v_init))} (not in its catalogue "
                "entry's lowering fields): those neurons start at rest"
            )
        if fallback:
            notes.append(
                f"no neuron key matched {', '.join('%' + n for n in fallback)}: they got '{FALLBACK_NEURON}'"
            )
        for opt, keys in used.items():
            spec = getattr(self, opt)
            if not isinstance(spec, NodeMap):
                continue
            unused = [k for k in spec.keys if k not in keys and k != "*"]
            if unused and lowered + len(dropped) + len(rate_kept):
                notes.append(f"{opt} key(s) {', '.join(unused)} matched no node")
        stats = {
            "lowered": lowered,
            "by_neuron": dict(sorted(per_neuron.items())),
            "neuron_ops": dict(sorted(neuron_nodes.items())),
            **readout,
        }
        changed = lowered or any(v for k, v in readout.items() if k not in _UNCHANGED)
        return PassResult(changed=bool(changed), stats=stats, notes=notes)

    # ------------------------------------------------------------------ activations
    def _check_activations(self, g: Graph, used_keys: set) -> list[str]:
        """Raise one error naming every activation this lowering can neither replace nor
        keep; return the hidden sigmoid / tanh nodes kept as rate neurons, adding the
        ``neuron`` keys that chose them to ``used_keys``."""
        problems: list[str] = []
        kept: list[str] = []
        spiking_smooth = other_hidden = bad_drop = False
        for n in g.topo_order():
            op = g.op(n)
            if isinstance(op, ops.ReLU) and op.threshold != 0:
                other_hidden = True
                problems.append(
                    f"%{n}: {op.kind} with threshold={op.threshold:g} (ThresholdedReLU) jumps from 0 to "
                    f"{op.threshold:g} at x = {op.threshold:g}; no sum of rectified-linear neurons has a jump"
                )
            elif not op.has(T.Activation) or op.has(T.ReLULike) or isinstance(op, ops.Linear):
                continue  # not an activation, lowered to neurons, or an identity (removed)
            elif _feeds_only_outputs(g, n):
                # part of the readout: softmax by drop_softmax, the others by output_activation
                if self.output_activation == "drop" and not isinstance(op, ops.Softmax):
                    if not _increasing(op):
                        bad_drop = True
                        problems.append(
                            f"%{n}: {op.kind} on an output is not strictly increasing: "
                            "dropping it (output_activation=drop) could change the decision"
                        )
            elif isinstance(op, RATE_ACTIVATIONS):
                neuron, key = self.neuron.choose(relu_names(g, n), activation_kinds(op))
                used_keys.add(key)
                if not get_neuron(neuron).spiking:
                    kept.append(n)
                    continue
                spiking_smooth = True
                chosen = f"'{neuron}'" + (" (no neuron key matched it)" if key is None else "")
                problems.append(
                    f"%{n}: {op.kind} in a hidden layer has no neuron equivalent in a spiking "
                    f"network: the neuron chosen for it, {chosen}, spikes (nengo computes "
                    f"{activation_kinds(op)[0]} only with a rate neuron)"
                )
            else:
                other_hidden = True
                problems.append(
                    f"%{n}: {op.kind} in a hidden layer has no neuron equivalent (only "
                    "ReLU-family activations do, and sigmoid / tanh in a rate network)"
                )
        if problems:
            hints = []
            if spiking_smooth:
                hints.append(
                    "for a rate network (nengo, nengo-dl) choose a rate neuron: --neuron "
                    "rate-relu or lower-activations{neuron=rate-relu} keeps sigmoid / tanh as "
                    "nengo's exact rate neurons; for a spiking network (or loihi) retrain with "
                    "relu in hidden layers"
                )
            if other_hidden:
                hints.append(
                    "retrain with relu (plain, clipped or leaky) in hidden layers; any "
                    "activation may stay on an output (output_activation=keep)"
                )
            if bad_drop:
                hints.append("keep it on the output: output_activation=keep")
            raise PassError(
                f"cannot lower {len(problems)} activation(s) to neurons:\n"
                + "\n".join(f"  - {p}" for p in problems),
                hint="; ".join(hints),
            )
        return kept

    def _lower_readout(self, g: Graph, notes: list[str]) -> dict[str, int]:
        """Remove ``ann.linear`` nodes and, as the options say, the activations feeding only
        outputs; returns counts."""
        counts = dict.fromkeys(
            ("linear_removed", "softmax_removed", "softmax_kept", "output_kept", "output_dropped"),
            0,
        )
        for n in g.nodes_of(ops.Linear):
            g.bypass(n)
            counts["linear_removed"] += 1
        for n in g.nodes_of(ops.Softmax):
            if self.drop_softmax:
                g.bypass(n)
                counts["softmax_removed"] += 1
                notes.append(f"%{n}: softmax dropped from the readout (argmax unchanged)")
            else:
                counts["softmax_kept"] += 1
                notes.append(f"%{n}: softmax kept in the readout (drop_softmax=false)")
        kept, dropped = [], []
        for n in g.nodes_of(T.Activation):
            op = g.op(n)
            if isinstance(op, ops.Softmax) or not _feeds_only_outputs(g, n):
                continue  # a softmax was handled above; a hidden one is a kept rate neuron
            if self.output_activation == "drop":
                g.bypass(n)
                dropped.append(n)
            else:
                kept.append(n)
        counts["output_kept"], counts["output_dropped"] = len(kept), len(dropped)
        if kept:
            spiking = any(g.op(m).has(T.Spiking) for m in g.nx)
            notes.append(
                f"{', '.join('%' + n for n in kept)}: kept on the output "
                "(output_activation=keep): nengo and nengo-dl compute it exactly"
                + (
                    "; with spiking neurons the readout averages it over each step's current "
                    "(mean of f(J), not f of the mean J)"
                    if spiking
                    else ""
                )
            )
        if dropped:
            notes.append(
                f"{', '.join('%' + n for n in dropped)}: dropped from the output "
                "(output_activation=drop): the outputs are its input; argmax unchanged, but a "
                "binary sigmoid's 0.5 threshold is now 0"
            )
        return counts

    def _set_readouts(self, g: Graph) -> int:
        """Set the ``readout`` (and ``window``) of every output, if asked; returns how many
        outputs changed."""
        if self.readout is None:
            return 0
        changed = 0
        for n in g.nodes_of(ops.Output):
            op = g.op(n)
            window = self.window if self.readout == "window" else op.window
            if (op.readout, op.window) != (self.readout, window):
                g.replace_op(n, op.replace(readout=self.readout, window=window))
                changed += 1
        return changed

    # ------------------------------------------------------------------ one ReLU
    def _lower_relu(
        self, g: Graph, n: str, cls: type[NeuronOp], names: tuple[str, ...], syn: float | None
    ) -> list[str]:
        """Lower ReLU node ``n`` (known by ``names``) to neurons of class ``cls`` with
        synapse ``syn`` on their outgoing edges; returns the neuron nodes that now compute
        it."""
        op = g.op(n)
        # (suffix, gain, bias, coefficient) of each rectified-linear term of the variant
        terms = [("pos", 1.0, 0.0, 1.0)]
        if op.max_value is not None:
            terms.append(("sat", 1.0, -float(op.max_value), -1.0))
        if op.negative_slope != 0:
            terms.append(("neg", -1.0, 0.0, -float(op.negative_slope)))
        if len(terms) == 1:
            g.replace_op(n, self._neuron_op(cls, 1.0, 0.0, names))
            g.set_meta(n, lowered_from=op.kind)
            if syn is not None:
                for dst, port in g.users(n):
                    g.set_edge(n, dst, port, synapse=syn)
            return [n]
        src, in_syn = single_input(g, n)
        created = []
        for suffix, gain, bias, _ in terms:
            name = g.unique_name(f"{n}.{suffix}")
            meta = {"pass": self.name, "lowered_from": n}
            neuron = self._neuron_op(cls, gain, bias, names)
            g.add(name, neuron, [src], synapses=[in_syn], meta=meta)
            created.append(name)
        # n becomes the sum (inputs and op at once: a ReLU takes one input), so its users
        # are untouched
        add = ops.Add(coeffs=tuple(t[3] for t in terms))
        g.set_inputs(n, created, synapses=[syn] * len(created), op=add)
        return created

    def _neuron_op(
        self, cls: type[NeuronOp], gain: float, bias: float, names: tuple[str, ...]
    ) -> NeuronOp:
        """A neuron of ``cls`` with the given gain and bias, unit amplitude, and the fields
        its class declares in ``lowering`` taken from this pass's options (a per-node option
        gives the value for the node known by ``names``)."""
        fields = {}
        for f in cls.lowering:
            value = getattr(self, f)
            fields[f] = value.get(names) if isinstance(value, NodeMap) else value
        return cls(gain=gain, bias=bias, amplitude=1.0, **fields)


def _describe_variant(op: ops.ReLU) -> str:
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
    return bool(users) and all(isinstance(g.op(d), ops.Output) for d, _ in users)

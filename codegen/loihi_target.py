"""The ``loihi`` target: nengo-loihi, on a Loihi board or (here) its CPU emulator.

The pipeline ends with ``legalize-loihi`` (:mod:`snnc.passes.legalize_loihi`), which places
every op on the host or the chip (the ``place`` attribute) and inserts a host-side spike
encoder per input, so every model layer runs on the chip. Codegen then:

- composes every chain of linear ops between two neuron layers into one connection
  transform nengo-loihi accepts (Dense, Sparse or Convolution on the chip, Dense from the
  chip to the host): no relay Nodes (:mod:`snnc.codegen.loihi_compose`,
  :mod:`snnc.codegen.loihi_emit`);
- chooses block shapes (``nengo_loihi.BlockShape``) so every block fits a core, and proves
  the whole network with nengo-loihi's full build, validation and emulator at compile time;
  whatever it refuses is an ``SnncError`` naming the IR nodes, the rule and a remedy
  (:mod:`snnc.codegen.loihi_resources`). The per-layer resource report is printed by
  ``snnc compile`` and stored in ``manifest.json``;
- runs on the emulator with one build per session and exact per-sample resets, the chip
  part batched (:mod:`snnc.codegen.loihi_emulator`).

What Loihi cannot run is refused before anything is emitted: neurons whose catalogue entry
does not list ``loihi`` (on the chip), host neurons that may spike more than once a step
(the host->chip link carries one spike per neuron and step), and host-side ops (max pooling:
add ``max-to-avg-pool``; softmax; other activations; rounding).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from snnc.codegen.nengo_family import NengoTarget
from snnc.codegen.target import register_target
from snnc.errors import CodegenError, SnncError
from snnc.ir import ops
from snnc.ir import traits as T
from snnc.ir.graph import Graph
from snnc.ir.lexer import format_name

#: op class or trait -> why Loihi cannot run it (neurons are refused by the catalogue)
_REFUSED = {
    ops.MaxPool: "Loihi has no max pooling; add the max-to-avg-pool pass (it changes the "
    "outputs) or use average pooling in the model",
    ops.GlobalMaxPool: "Loihi has no max pooling; add the max-to-avg-pool pass (it changes the "
    "outputs) or use global average pooling in the model",
    T.HostOnly: "Loihi cannot compute it on chip; use average pooling / ReLU layers instead "
    "(an increasing activation on an output: lower-activations{output_activation=drop} "
    "removes it)",
    T.Quantizer: "Loihi cannot round activations on chip; quantize the weights instead "
    "(its synapses are 8-bit)",
    # lower-activations keeps these on an output by default (output_activation=keep: exact
    # on the nengo targets) and in hidden layers of a rate network; Loihi runs neither
    ops.Sigmoid: "Loihi has no sigmoid neurons: use ReLU in hidden layers; on an output, "
    "lower-activations{output_activation=drop} removes it (argmax unchanged; a binary "
    "output's 0.5 threshold becomes 0)",
    ops.Tanh: "Loihi has no tanh neurons: use ReLU in hidden layers; on an output, "
    "lower-activations{output_activation=drop} removes it (argmax unchanged)",
    # a softmax readout is dropped by lower-activations (argmax unchanged); this is for a
    # softmax that survives (drop_softmax=false)
    ops.Softmax: "Loihi cannot compute a softmax; lower-activations{drop_softmax=true} (the "
    "default) removes one feeding an output",
}

#: Loihi's integrate-and-fire (at most one spike per step, reset to zero, nengo-loihi's rates),
#: per-channel rate normalization as the other targets' low-latency default, then placement
PIPELINE = (
    "canonicalize,fold-batchnorm,lower-activations{neuron=loihi-if},fuse-bias,"
    "normalize-rates{granularity=channel},legalize-loihi"
)


@dataclass(frozen=True)
class LoihiTarget(NengoTarget):
    """The nengo-family target whose emission is placed, composed and partitioned."""

    def pipeline_for(self, pipeline: str | None = None, **lowering) -> str:
        """The pipeline, ending with ``legalize-loihi`` when it does not name it: emission
        needs every op placed (a given ``legalize-loihi{...}`` keeps its options and place;
        on a graph placed already, e.g. a compiled model.snnc, the pass changes nothing)."""
        from snnc.passes.pipeline import split_pipeline

        text = super().pipeline_for(pipeline, **lowering)
        if any(name == "legalize-loihi" for name, _ in split_pipeline(text)):
            return text
        return f"{text},legalize-loihi" if text.strip() else "legalize-loihi"

    def supports(self, graph: Graph, node: str) -> str | None:
        """The target rules; a neuron placed on the host runs in nengo there (any neuron
        nengo runs), but its spikes cross to the chip one per step at most."""
        op = graph.op(node)
        if op.has(T.Neuron) and op.place == "host":
            if "nengo" not in type(op).targets:
                return f"neuron '{op.option}' cannot run on the host (nengo)"
            max_rate = op.max_rate(graph.dt)
            if not op.spiking or max_rate is None or max_rate > 1.0 / graph.dt + 1e-9:
                return (
                    f"host neuron '{op.option}' may emit more than one spike per step, but "
                    "the host->chip link carries at most one per neuron and step\n    hint: "
                    "use loihi-if or graded-if{bits=1} neurons on the host"
                )
            return None
        return super().supports(graph, node)

    def emit(self, graph: Graph):
        """Place-checked, composed, partitioned and validated nengo-loihi network."""
        from snnc.codegen.loihi_resources import partition

        self.check(graph)
        unplaced = [n for n in graph.topo_order() if graph.op(n).place is None]
        if unplaced:
            shown = ", ".join(f"%{format_name(n)}" for n in unplaced[:8])
            more = f" and {len(unplaced) - 8} more" if len(unplaced) > 8 else ""
            raise CodegenError(
                f"graph @{format_name(graph.name)}: {len(unplaced)} node(s) have no Loihi "
                f"placement ({shown}{more})",
                hint="end the pipeline with legalize-loihi (the loihi default pipeline does)",
            )
        if not any(graph.op(n).place == "chip" for n in graph.nodes_of(T.Neuron)):
            ends = ", ".join(f"%{format_name(n)}" for n in [*graph.inputs, *graph.outputs])
            host_layer = any(graph.op(n).place == "host" for n in graph.nodes_of(T.Neuron))
            raise CodegenError(
                f"graph @{format_name(graph.name)}: no neuron would run on the Loihi chip "
                f"between {ends}",
                hint="use legalize-loihi{input=encode} (the default): the inputs are encoded "
                "on the host and every layer runs on the chip"
                if host_layer
                else "Loihi runs neuron layers: add a ReLU-like activation to a hidden layer",
            )
        return partition(graph, self)

    def read_artifact(self, folder: Path):
        from snnc.codegen.emit import NengoNetwork

        return NengoNetwork.read(folder)


def report_resources(compiled) -> list[str]:
    """The per-layer resource report lines (compile report); the manifest already holds it."""
    from snnc.codegen.loihi_resources import report_lines

    resources = getattr(compiled.artifact, "resources", None) or compiled.manifest.get("loihi")
    return report_lines(resources) if resources else []


def _session(
    compiled, batch: int | None, emulator: str = "sim", mode: str | None = None, **options
):
    from snnc.codegen.loihi_emulator import LoihiSession

    if options:
        raise SnncError(
            f"target 'loihi' takes the options 'emulator' (sim|simreal) and 'mode' "
            f"(batch|reset|rebuild) (got {', '.join(options)})"
        )
    return LoihiSession(compiled, emulator=emulator, mode=mode)


LOIHI = register_target(
    LoihiTarget(
        name="loihi",
        description="nengo-loihi: Intel Loihi, or its emulator on the CPU; every layer on the "
        "chip (inputs spike-encoded on the host), 8-bit weights, per-core limits checked",
        default_pipeline=PIPELINE,
        backend="nengo_loihi",
        session=_session,
        imports=("nengo_loihi",),
        refuses=_REFUSED,
        validate=report_resources,
    )
)

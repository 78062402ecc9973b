"""The ``loihi`` target: nengo-loihi, on a Loihi board or (here) its CPU emulator.

What differs from the ``nengo`` target, and why (facts from nengo-loihi 1.1's builder):

- Loihi runs spiking neurons only (``LoihiSpikingRectifiedLinear``, ``LoihiLIF``, and
  nengo's ``SpikingRectifiedLinear`` / ``LIF`` which it maps onto them); rate neurons, max
  pooling and hidden non-ReLU activations would run on the host or fail, so they are
  refused before anything is emitted, with a hint.
- A host value enters the chip only through a Dense connection, encoded by on/off spike
  generators that saturate at ``|x| >= 1``. So, as in nengo-loihi's Keras example, every
  ensemble fed directly by a Node (the model input) runs on the host (``on_chip=False``)
  and turns the input into spikes; host *neurons* may feed the chip through any transform.
  :func:`place_on_loihi` does this in the generated ``network.py``.
- Per-core limits (1024 compartments, 4096 input / output axons, 1 Mbit of synapse
  memory) are checked at compile time by building the model with nengo-loihi's own
  builder (:func:`check_resources`), so a model that does not fit is refused by
  ``snnc compile`` with every offending block named, not at simulation time.
- The emulator (``target="sim"``) discretises weights (8 bits), biases and thresholds as
  the chip does; spikes leaving a chip layer arrive one step later than in nengo.
"""

from __future__ import annotations

import logging
import warnings

from snnc.codegen.emit import HOST_OPS
from snnc.codegen.nengo_target import ReferenceSession
from snnc.codegen.target import Target, register_target
from snnc.errors import CodegenError, SnncError

logger = logging.getLogger(__name__)

_SPIKING = "lower with a spiking neuron: --neuron loihi-if (or loihi-lif)"
_REFUSED = {
    **{
        kind: "Loihi cannot compute it on chip; use average pooling / ReLU layers instead"
        for kind in HOST_OPS
    },
    "ann.sigmoid": "Loihi has no sigmoid neurons; use ReLU in hidden layers",
    "ann.tanh": "Loihi has no tanh neurons; use ReLU in hidden layers",
    "snn.rate_relu": _SPIKING,
    "snn.lif_rate": _SPIKING,
}
# a softmax readout is dropped by lower-activations (argmax unchanged); keep the refusal
# message for a softmax that survives (drop_softmax=false)
_REFUSED["ann.softmax"] = "Loihi cannot compute a softmax; the default pipeline drops a final softmax"

#: nengo-loihi's per-core limits (nengo_loihi/block.py), shown in errors and `snnc targets`
CORE_LIMITS = {"compartments": 1024, "in-axons": 4096, "out-axons": 4096, "synapses": 1048576}

_HINTS = {
    "compartments": "a core holds 1024 neurons; nengo-loihi splits larger ensembles itself, so "
    "this block could not be split",
    "in-axons": "a neuron receives input from too many distinct neurons (fan-in); use a "
    "convolution, pooling or a smaller layer before it",
    "out-axons": "a neuron projects to too many cores; reduce the layer it feeds",
    "synapses": "the layer's weights do not fit one core's synapse memory; use fewer "
    "channels or a convolution instead of a dense layer",
}


def place_on_loihi(net):
    """Run on the host every ensemble fed directly by a Node (the model inputs and host
    nodes): Loihi takes host values only through Dense connections, encoded as saturating
    spikes, so the first layer turns the input into spikes on the host, as in nengo-loihi's
    Keras example. Everything else goes on the chip."""
    import nengo
    import nengo_loihi

    nengo_loihi.add_params(net)
    for conn in net.all_connections:
        post = conn.post_obj
        if isinstance(conn.pre_obj, nengo.Node) and isinstance(post, nengo.ensemble.Neurons):
            net.config[post.ensemble].on_chip = False


def _build_model(compiled):
    """nengo-loihi's model of the compiled network, built without its validation (so every
    block's use can be read, not just the first failure)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nengo_loihi.builder import Model
        from nengo_loihi.builder.builder import ValidationLevel

        network, _, _ = compiled.build()
        model = Model(dt=compiled.graph.dt)
        model.validation_level = ValidationLevel.NONE
        model.build(network, precompute=None, remove_passthrough=True, discretize=False)
    return model


def check_resources(compiled) -> list[str]:
    """Check every chip block against the per-core limits; report lines, or CodegenError
    naming every block over a limit."""
    model = _build_model(compiled)
    problems, cores = [], 0
    totals = dict.fromkeys(CORE_LIMITS, 0)
    for block in model.blocks:
        cores += 1
        for what, (used, limit) in block.utilization().items():
            if what in totals:
                totals[what] += used
            if used > limit:
                problems.append(f"  - block {block.label}: {what} {used} > {limit} per core\n    hint: {_HINTS.get(what, '')}")
    if problems:
        raise CodegenError(
            f"graph @{compiled.graph.name} does not fit Loihi's cores ({len(problems)} problem(s)):\n"
            + "\n".join(problems)
        )
    return [
        "",
        f"Loihi resources: {cores} core(s); "
        + ", ".join(f"{k} {v}" for k, v in totals.items())
        + f" (limits per core: {', '.join(f'{k} {v}' for k, v in CORE_LIMITS.items())})",
    ]


class LoihiSession(ReferenceSession):
    """Sample by sample like the reference target; nengo-loihi's Simulator cannot reset,
    so each sample gets a fresh one (building the emulator takes milliseconds)."""

    def reset(self) -> None:
        self.sim.close()
        self.sim = self._make()


def _session(compiled, batch: int | None, emulator: str = "sim", **options) -> LoihiSession:
    if options:
        raise SnncError(f"target 'loihi' takes only the option 'emulator' (got {', '.join(options)})")
    if emulator not in ("sim", "simreal"):
        raise SnncError(f"loihi emulator {emulator!r} is not supported (expected sim or simreal)")

    def make(network, dt):
        import nengo_loihi

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nengo_loihi.Simulator(network, dt=dt, target=emulator, progress_bar=False)

    return LoihiSession(compiled, simulator=make)


LOIHI = register_target(
    Target(
        name="loihi",
        description="nengo-loihi: Intel Loihi, or its emulator on the CPU (8-bit weights, "
        "per-core limits); the first layer runs on the host",
        backend="nengo_loihi",
        session=_session,
        imports=("nengo_loihi",),
        refuses=_REFUSED,
        postlude=place_on_loihi,
        validate=check_resources,
    )
)

"""Partitioning onto Loihi cores, legality at compile time, and the per-layer resource report.

nengo-loihi builds every chip ensemble into a ``LoihiBlock`` and splits a block that does
not fit one neuron core into several (``nengo_loihi.builder.split_blocks``), following the
ensemble's ``nengo_loihi.BlockShape`` when the network config gives one. A core's limits are
in :data:`CORE_LIMITS` (the one table; a test checks it against ``nengo_loihi.block``).
:func:`partition` chooses a block shape per layer and proves the choice with nengo-loihi's
own builder, at compile time:

1. every chip layer starts from the largest block of at most 1024 compartments that keeps
   whole channels (spatial tiles of an image, so a convolution's input axons stay local);
2. the network is built with nengo-loihi's builder (``discretize=False``, no validation, so
   *every* block's use can be read, not only the first failure); a layer with a block over
   any limit gets smaller blocks (its largest spatial dimension halved, then channels) and
   the build is repeated. A layer whose fullest block does not shrink when split (one
   neuron reading more input axons than a core has, ...) is refused, naming the layer, the
   limit and a remedy;
3. the blocks are discretized (weights, biases, thresholds to Loihi's integers) and checked
   with nengo-loihi's validation, one block at a time, so an error names its layer;
4. finally nengo-loihi's full build runs exactly as the simulator will run it (validation
   FULL, discretized) and its emulator is made and stepped once: a compile that succeeds
   builds and runs. Any error of nengo-loihi's is an ``SnncError`` naming the IR nodes it
   concerns (connections are labelled with their source and target nodes).

The report (one row per neuron layer: placement, block shape, blocks = cores, compartments,
input / output axons, synapse memory and weight bits) is printed by ``snnc compile``
(``report.txt``) and stored in ``manifest.json`` under ``loihi``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

from snnc.codegen.loihi_compose import CHIP, MatrixCache
from snnc.codegen.loihi_emit import LoihiNetwork, generate_loihi
from snnc.codegen.target import PLAIN_PROGRESS_INTERVAL, _is_terminal, quiet_build
from snnc.errors import CodegenError
from snnc.ir import traits as T
from snnc.ir.graph import Graph
from snnc.ir.lexer import format_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoreLimit:
    """One resource of a Loihi neuron core (the key of ``LoihiBlock.utilization()``)."""

    key: str
    limit: int
    what: str
    remedy: str


#: a Loihi neuron core's resources (nengo_loihi/block.py: MAX_COMPARTMENTS, MAX_IN_AXONS,
#: MAX_OUT_AXONS, MAX_SYNAPSE_BITS)
CORE_LIMITS: tuple[CoreLimit, ...] = (
    CoreLimit(
        "compartments",
        1024,
        "neurons (compartments) per core",
        "use fewer neurons in the layer (fewer channels or a smaller image)",
    ),
    CoreLimit(
        "in-axons",
        4096,
        "input axons per core (distinct sources of spikes)",
        "each neuron reads from too many neurons (fan-in): put a convolution, pooling or a "
        "smaller layer before it",
    ),
    CoreLimit(
        "out-axons",
        4096,
        "output axons per core (targets of its spikes)",
        "the layer projects to too many cores: make the layer it feeds smaller, or use a "
        "convolution instead of a dense layer after it",
    ),
    CoreLimit(
        "synapses",
        16384 * 64,
        "bits of synapse memory per core",
        "the weights into the layer do not fit a core: use fewer channels, a convolution "
        "instead of a dense layer, or sparser weights",
    ),
)
LIMITS = {c.key: c for c in CORE_LIMITS}
MAX_COMPARTMENTS = LIMITS["compartments"].limit
#: partition rounds before giving up (each halves some layer's blocks)
MAX_ROUNDS = 64


def limits_text() -> str:
    """The limits table in one line (errors, reports, ``snnc targets``)."""
    return ", ".join(
        f"{c.limit} {'synapse bits' if c.key == 'synapses' else c.key}" for c in CORE_LIMITS
    )


# =============================================================================== block shapes


def initial_block(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The largest block of at most 1024 compartments that keeps whole channels: spatial
    dimensions (all but the last) are halved, largest first, then channels if needed."""
    block = list(shape)
    while int(np.prod(block)) > MAX_COMPARTMENTS:
        block = list(smaller_block(tuple(block)))
    return tuple(block)


def smaller_block(block: tuple[int, ...]) -> tuple[int, ...] | None:
    """``block`` with its largest spatial dimension halved (rounded up; the channel axis of
    a rank-1 layer or of a 1x...x1 tile), or None when it is one compartment already."""
    block = list(block)
    spatial = list(range(len(block) - 1)) if len(block) > 1 else []
    dims = [i for i in spatial if block[i] > 1] or [i for i in range(len(block)) if block[i] > 1]
    if not dims:
        return None
    i = max(dims, key=lambda d: (block[d], -d))
    block[i] = -(-block[i] // 2)
    return tuple(block)


# =============================================================================== building


class _Progress:
    """Progress of a nengo-loihi build, shown once it has taken more than a second (a tqdm
    bar on a terminal, a plain line now and then otherwise), ticked by the builder's
    ``build_callback``."""

    def __init__(self, total: int, what: str, enabled: bool | None = None, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.total, self.what, self.enabled = max(total, 1), what, enabled
        self.done = 0
        self.start = time.monotonic()
        self.last: float | None = None
        self.bar = None
        if enabled is not False and _is_terminal(self.stream):
            from tqdm.auto import tqdm

            delay = 0.0 if enabled else 1.0
            self.bar = tqdm(
                total=self.total,
                unit="object",
                desc=what,
                delay=delay,
                leave=False,
                file=self.stream,
            )

    def __call__(self, obj=None) -> None:
        self.done = min(self.done + 1, self.total)
        if self.bar is not None:
            self.bar.update(1)
            return
        if self.enabled is False:
            return
        now = time.monotonic()
        due = (
            now - self.start >= 1.0
            if self.last is None
            else now - self.last >= PLAIN_PROGRESS_INTERVAL
        )
        if due:
            self._line(now)

    def _line(self, now: float, final: bool = False) -> None:
        self.last = now
        end = " done" if final else ""
        self.stream.write(
            f"snnc: {self.what}: {self.done}/{self.total} objects, {now - self.start:.1f} s{end}\n"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.last is not None:
            self._line(time.monotonic(), final=True)


def import_nengo_loihi(stream=None):
    """Import nengo-loihi, saying so on stderr when it takes over a second: nengo-loihi 1.1
    imports TensorFlow and nengo-dl (for its nengo-dl neuron builders), tens of seconds on
    a busy machine, before snnc's first Loihi build can start."""
    if "nengo_loihi" in sys.modules:
        return sys.modules["nengo_loihi"]
    import threading

    stream = sys.stderr if stream is None else stream
    start = time.monotonic()
    said = threading.Event()

    def say():
        said.set()
        stream.write("snnc: importing nengo-loihi (it imports TensorFlow and nengo-dl) ...\n")
        stream.flush()

    timer = threading.Timer(1.0, say)
    timer.daemon = True
    timer.start()
    try:
        import nengo_loihi
    finally:
        timer.cancel()
    if said.is_set():
        stream.write(f"snnc: nengo-loihi imported in {time.monotonic() - start:.1f} s\n")
        stream.flush()
    return nengo_loihi


def _count(network) -> int:
    return sum(
        len(x)
        for x in (
            network.all_ensembles,
            network.all_nodes,
            network.all_connections,
            network.all_probes,
        )
    )


#: nengo-loihi warnings that say nothing about the model: precompute and progress bars are
#: snnc's choices; the emulator fills its integer state arrays with NaN (a numpy cast warning)
_NOISE = ("precomputable", "progress bar", "invalid value encountered in cast")


@contextlib.contextmanager
def _captured():
    """Collect nengo-loihi's warnings (weight bits lost, filters merged, ...) as text."""
    with quiet_build(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        messages: list[str] = []
        yield messages
        for w in caught:
            text = str(w.message)
            if any(noise in text for noise in _NOISE):
                continue
            if text not in messages:
                messages.append(text)


def build_model(network, dt: float, *, discretize: bool, validation: str, what: str, progress=None):
    """Build ``network`` with nengo-loihi's builder, as ``nengo_loihi.Simulator`` does
    (``precompute=None``, ``remove_passthrough=True``). Returns the ``Model``."""
    from nengo_loihi.builder import Model
    from nengo_loihi.builder.builder import ValidationLevel

    model = Model(dt=float(dt), label=what)
    model.validation_level = getattr(ValidationLevel, validation)
    bar = _Progress(_count(network), what, progress)
    model.build_callback = bar
    try:
        model.build(network, precompute=None, remove_passthrough=True, discretize=discretize)
    finally:
        bar.close()
    return model


def _blocks_of(model, network) -> dict[str, list]:
    """IR neuron node (the ensemble's label) -> its blocks after splitting."""
    out = {}
    for ens in network.all_ensembles:
        objs = model.objs.get(ens, {})
        blocks = objs.get("out")
        if blocks is None:
            continue  # on the host
        out[ens.label] = list(blocks) if isinstance(blocks, list) else [blocks]
    return out


def named(message: str, art: LoihiNetwork, graph: Graph) -> list[str]:
    """The IR nodes a nengo-loihi message names: connection labels, then ensemble labels."""
    found: list[str] = []
    for label in sorted(art.labels, key=len, reverse=True):
        if f'"{label}"' in message:
            found += art.labels[label]
    for n in sorted(graph.nx, key=len, reverse=True):
        if f'"{n}"' in message or f"({n})" in message or f"<{n}>" in message:
            found.append(n)
    return list(dict.fromkeys(found))


def _refusal(
    graph: Graph, art: LoihiNetwork, stage: str, error: BaseException, hint: str, nodes=None
) -> CodegenError:
    message = f"{type(error).__name__}: {error}".strip()
    nodes = nodes if nodes is not None else named(message, art, graph)
    where = ", ".join(f"%{format_name(n)}" for n in nodes) if nodes else "the network"
    return CodegenError(
        f"graph @{format_name(graph.name)}: nengo-loihi refuses {where} ({stage}): {message}",
        hint=hint,
    )


# =============================================================================== partition


def partition(graph: Graph, target, progress: bool | None = None) -> LoihiNetwork:
    """Emit ``graph`` with block shapes that fit Loihi's cores, proven by nengo-loihi's
    build (see the module docstring). Returns the artifact with its resource report.

    Raises:
        CodegenError: a layer that cannot fit even split (names it, the limit, a remedy),
            or anything else nengo-loihi refuses (names the nodes).
    """
    import_nengo_loihi()
    chip = [n for n in graph.nodes_of(T.Neuron) if graph.op(n).place == CHIP]
    shapes = {n: (initial_block(graph.type(n).shape), graph.type(n).shape) for n in chip}
    cache = MatrixCache(graph.dt)
    tried: dict[tuple[str, str], int] = {}  # (layer, limit) -> fullest block before the split
    for _ in range(MAX_ROUNDS):
        art = generate_loihi(graph, target, shapes, cache)
        network = art.build()[0]
        try:
            with _captured():
                model = build_model(
                    network,
                    graph.dt,
                    discretize=False,
                    validation="NONE",
                    what="Loihi layout",
                    progress=progress,
                )
        except Exception as e:  # noqa: BLE001 - any nengo-loihi error is a refusal of the model
            raise _refusal(
                graph, art, "building", e, "this connection or layer has no Loihi equivalent"
            ) from e
        over = _over_limits(_blocks_of(model, network))
        if not over:
            break
        shapes = _split_more(graph, shapes, over, tried)
    else:
        raise CodegenError(
            f"graph @{format_name(graph.name)}: no partition onto Loihi cores found in {MAX_ROUNDS} rounds"
        )
    blocks = _blocks_of(model, network)
    _discretize_and_validate(graph, art, model, blocks)
    art.resources = _final_build(graph, art, progress)
    return art


def _over_limits(blocks: dict[str, list]) -> dict[str, dict[str, int]]:
    """Layer -> {limit key: use of its fullest block} for every limit some block exceeds."""
    over: dict[str, dict[str, int]] = {}
    for node, bs in blocks.items():
        for block in bs:
            for key, (used, _max) in block.utilization().items():
                if key in LIMITS and used > LIMITS[key].limit:
                    worst = over.setdefault(node, {})
                    worst[key] = max(worst.get(key, 0), int(used))
    return over


def _split_more(graph: Graph, shapes: dict, over: dict, tried: dict) -> dict:
    problems = []
    shapes = dict(shapes)
    for node, worst in over.items():
        block, ens = shapes[node]
        stuck = [k for k, used in worst.items() if tried.get((node, k), float("inf")) <= used]
        smaller = smaller_block(block)
        if stuck or smaller is None:
            for key in stuck or list(worst):
                lim = LIMITS[key]
                why = "splitting does not reduce it" if stuck else "one neuron per block already"
                problems.append(
                    f"  - %{format_name(node)}: {key} {worst[key]} > {lim.limit} ({lim.what}) "
                    f"even in blocks of {'x'.join(map(str, block))}: {why}\n    hint: {lim.remedy}"
                )
            continue
        for key, used in worst.items():
            tried[(node, key)] = used
        shapes[node] = (smaller, ens)
    if problems:
        raise CodegenError(
            f"graph @{format_name(graph.name)}: {len(problems)} layer(s) do not fit a Loihi core "
            f"even when split (limits per core: {limits_text()}):\n" + "\n".join(problems)
        )
    return shapes


def _discretize_and_validate(graph: Graph, art: LoihiNetwork, model, blocks: dict) -> None:
    """nengo-loihi's discretization and validation, block by block, so that every problem
    is reported with its layer."""
    from nengo_loihi.builder.discretize import discretize_block, discretize_probe
    from nengo_loihi.builder.validate import validate_block

    owner = {id(b): node for node, bs in blocks.items() for b in bs}
    problems, v_scale = [], {}
    with _captured():
        for block in model.blocks:
            node = owner.get(id(block))
            try:
                v_scale[block] = discretize_block(block)
                validate_block(block)
            except Exception as e:  # noqa: BLE001 - nengo-loihi signals refusals by many types
                problems.append(
                    f"  - %{format_name(node or block.label or '?')}: {type(e).__name__}: {e}\n"
                    "    hint: the layer's weights, biases and threshold must fit Loihi's integer "
                    "ranges together (8-bit weights sharing one exponent, 12-bit bias mantissas); "
                    "rescale the layer (normalize-rates) or quantize its weights (quantize{target=loihi})"
                )
        if not problems:
            for probe in model.probes:
                for i, block in enumerate(probe.target):
                    discretize_probe(probe, i, v_scale[block])
    if problems:
        raise CodegenError(
            f"graph @{format_name(graph.name)}: nengo-loihi cannot discretize or validate "
            f"{len(problems)} block(s):\n" + "\n".join(problems)
        )


def _final_build(graph: Graph, art: LoihiNetwork, progress) -> dict:
    """nengo-loihi's full build with validation, as the emulator will run it; its emulator is
    made and stepped once. Returns the resource report (manifest entry)."""
    from nengo_loihi.emulator import EmulatorInterface

    network = art.build()[0]
    try:
        with _captured() as messages:
            model = build_model(
                network,
                graph.dt,
                discretize=True,
                validation="FULL",
                what="Loihi build",
                progress=progress,
            )
            emulator = EmulatorInterface(model, seed=0)
            emulator.run_steps(1)
            emulator.close()
    except Exception as e:  # noqa: BLE001 - any nengo-loihi error is a refusal of the model
        raise _refusal(
            graph,
            art,
            "full build",
            e,
            "report this model: snnc's checks missed a rule of nengo-loihi",
        ) from e
    return resource_report(graph, model, _blocks_of(model, network), art, messages)


# =============================================================================== report


def resource_report(
    graph: Graph, model, blocks: dict, art: LoihiNetwork, messages: list[str]
) -> dict:
    """The JSON-ready report: limits, one entry per neuron layer, totals, nengo-loihi's
    warnings."""
    layers = []
    for n in graph.topo_order():
        op = graph.op(n)
        if not op.has(T.Neuron):
            continue
        row = {"node": n, "place": op.place, "neurons": graph.type(n).size}
        if op.place == CHIP and n in blocks:
            bs = blocks[n]
            use = [b.utilization() for b in bs]

            def total(key, use=use):
                return int(sum(u[key][0] for u in use))

            bits = sorted(
                {
                    s.synapse_cfg.real_weight_bits
                    for b in bs
                    for s in b.synapses
                    if s.synapse_cfg is not None
                }
            )
            fullest = max(u[k][0] / LIMITS[k].limit for u in use for k in LIMITS)
            row.update(
                block_shape=list(art.block_shapes[n][0]),
                blocks=len(bs),
                cores=len(bs),
                compartments=total("compartments"),
                in_axons=total("in-axons"),
                out_axons=total("out-axons"),
                synapse_bits=total("synapses"),
                weight_bits=bits[-1] if bits else None,
                fullest_core=round(100.0 * fullest, 1),
            )
        layers.append(row)
    chip = [r for r in layers if r["place"] == CHIP]
    return {
        "limits_per_core": {c.key: c.limit for c in CORE_LIMITS},
        "layers": layers,
        "cores": int(sum(r.get("cores", 0) for r in chip)),
        "chip_neurons": int(sum(r["neurons"] for r in chip)),
        "host_neurons": int(sum(r["neurons"] for r in layers if r["place"] != CHIP)),
        "warnings": messages,
    }


def report_lines(resources: dict) -> list[str]:
    """The resource report as text lines for ``report.txt`` / ``snnc compile``."""
    cols = (
        "layer",
        "place",
        "block shape",
        "blocks",
        "cores",
        "compartments",
        "in-axons",
        "out-axons",
        "synapse bits",
        "weight bits",
        "fullest core",
    )
    rows = []
    for r in resources["layers"]:
        if r["place"] == CHIP:
            rows.append(
                (
                    format_name(r["node"]),
                    r["place"],
                    "x".join(map(str, r["block_shape"])),
                    str(r["blocks"]),
                    str(r["cores"]),
                    str(r["compartments"]),
                    str(r["in_axons"]),
                    str(r["out_axons"]),
                    str(r["synapse_bits"]),
                    str(r["weight_bits"] or "-"),
                    f"{r['fullest_core']:g}%",
                )
            )
        else:
            rows.append(
                (
                    format_name(r["node"]),
                    r["place"],
                    "-",
                    "-",
                    "-",
                    f"({r['neurons']} on host)",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                )
            )
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    chip = [r for r in resources["layers"] if r["place"] == CHIP]
    out = [
        "",
        f"Loihi resources, per layer (limits per core: {limits_text()}):",
        line(cols),
        line(["-" * w for w in widths]),
    ]
    out += [line(r) for r in rows]
    out.append(
        f"total: {resources['cores']} core(s), {resources['chip_neurons']} neuron(s) in "
        f"{len(chip)} layer(s) on the chip, {resources['host_neurons']} on the host"
    )
    out += [f"nengo-loihi: {w}" for w in resources.get("warnings", [])]
    return out

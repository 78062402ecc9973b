"""``simulate``: run a lowered (SNN-stage) IR graph over time, the way ``nengo.Simulator``
runs the network the codegen emits for it, without building that network.

Timing follows nengo's reference simulator (see :mod:`snnc.sim`):

- every input is held constant; all state starts at zero (neurons at rest, synapses empty);
- each step evaluates the nodes in topological order; an edge without a synapse passes this
  step's value on at once, so a stimulus crosses any number of layers within one step;
- an edge with a ``synapse`` (a nengo ``Lowpass(tau)`` on the connection) passes on its
  filter's state and updates that state only after all nodes have run, so it adds one step
  of delay: ``y[n] = a * y[n-1] + b * x[n-1]``, ``y[0] = 0``.

Stateless ops (every non-neuron op and the rate neurons) run through the rate-mode
interpreter's kernels, vectorised over the batch; spiking neurons through
:data:`~snnc.sim.kernels.NEURON_KERNELS`. A node whose value cannot change over time (its
inputs reach it without synapses from the graph inputs, through stateless ops only) is
computed once, not every step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from snnc.errors import InputShapeError, IRError, SnncError
from snnc.ir import ops
from snnc.ir.graph import Graph
from snnc.ir.interpreter import KERNELS, as_input_list
from snnc.sim.kernels import NEURON_KERNELS, lowpass_coefficients, lowpass_step

logger = logging.getLogger(__name__)

BACKENDS = ("numba", "numpy")


@dataclass
class _Neurons:
    """One spiking neuron node: its step function, parameters and state (all ``(B, n)``)."""

    step: Callable
    gain: np.ndarray
    bias: np.ndarray
    states: list[np.ndarray]
    params: tuple[float, ...]

    def __call__(self, x: np.ndarray, dtype) -> np.ndarray:
        x2 = np.ascontiguousarray(x.reshape(x.shape[0], -1), dtype=dtype)
        out = np.empty_like(x2)
        self.step(x2, self.gain, self.bias, out, *self.states, *self.params)
        return out.reshape(x.shape)


@dataclass
class _Synapse:
    """The lowpass filter of every edge leaving ``src`` with time constant ``tau`` (edges
    that share both share one filter: the same numbers, computed once). ``state`` is what
    its edges deliver this step; each step replaces it with a new array."""

    src: str
    a: float
    b: float
    state: np.ndarray


def simulate(
    graph: Graph,
    x,
    steps: int = 50,
    *,
    backend: str = "numba",
    dtype=np.float64,
    return_all: bool = False,
):
    """Simulate ``graph`` in time, each sample presented for ``steps`` steps of ``graph.dt``.

    Matches ``nengo.Simulator`` on the network that ``snnc.codegen`` emits for the ``nengo``
    target (``compile_graph(graph, "nengo", pipeline="").run(x, steps)``): the same spikes,
    and outputs equal to ~1e-13 relative in float64 (nengo orders some floating-point sums
    differently, and its lowpass coefficients can be a few ulp off the exact ones).

    Args:
        graph: a lowered graph (any graph with interpreter kernels works; ``ann.*`` ops run
            as their rate functions).
        x: one array ``(batch, *input_shape)``, a list (one per input, in index order) or
            a dict keyed by input node name; held constant over the steps.
        steps: number of time steps (>= 1).
        backend: ``"numba"`` (compiled neuron kernels) or ``"numpy"`` (the reference twins);
            both give the same spikes.
        dtype: ``np.float64`` or ``np.float32``: precision in which node values and neuron
            and synapse states are *stored* (arithmetic is float64 either way).
        return_all: return every node's values (a dict by node name) instead of the outputs.

    Returns:
        ``(batch, steps, *output_shape)`` array of ``dtype`` (a list for several outputs),
        or with ``return_all`` a dict ``node -> (batch, steps, *shape)``. A spiking neuron's
        value is ``amplitude / dt`` times its spike count in the step, as in nengo.

    Raises:
        InputShapeError: ``x`` does not match the graph's inputs (the message names the
            expected shape) or the inputs have different batch sizes.
        SnncError: a bad ``steps``, ``backend`` or ``dtype``.
        IRError: an op without a kernel.
    """
    steps = _check_args(steps, backend, dtype)
    xs = as_input_list(graph, x)
    batch = _batch_size(graph, xs)
    dtype = np.dtype(dtype)
    start = time.perf_counter()

    order = graph.topo_order()
    in_edges = {n: graph.in_edges(n) for n in order}  # read once: the loop runs per step
    _check_kernels(graph, order)
    neurons = {
        n: _make_neurons(graph, n, batch, dtype, backend)
        for n in order
        if ops.is_spiking(graph.op(n))
    }
    synapses = {
        (src, syn): _make_synapse(graph, src, syn, batch, dtype)
        for n in order
        for src, _, syn in in_edges[n]
        if syn is not None
    }
    lowpass = lowpass_step if backend == "numpy" else _numba_lowpass()
    values: dict[str, np.ndarray] = {
        n: a.astype(dtype) for n, a in zip(graph.inputs, xs, strict=True)
    }

    def evaluate(n: str) -> np.ndarray:
        ins = [
            values[src] if syn is None else synapses[src, syn].state for src, _, syn in in_edges[n]
        ]
        if n in neurons:
            return neurons[n](ins[0], dtype)
        op = graph.op(n)
        return np.asarray(KERNELS[op.kind](op, ins), dtype=dtype)

    dynamic = _dynamic_nodes(order, in_edges, graph)
    for n in order:  # constant nodes once, before the first step
        if n not in values and n not in dynamic:
            values[n] = evaluate(n)
    record = order if return_all else graph.outputs
    traces = {n: np.empty((batch, steps) + graph.type(n).shape, dtype=dtype) for n in record}
    steppers = [n for n in order if n in dynamic]
    for t in range(steps):
        for n in steppers:
            values[n] = evaluate(n)
        for n, trace in traces.items():
            trace[:, t] = values[n]
        # synapses update after every node has read them: the one-step delay
        for s in synapses.values():
            s.state = lowpass(s.state.reshape(-1), values[s.src].reshape(-1), s.a, s.b).reshape(
                s.state.shape
            )

    logger.debug(
        "simulated @%s: %d samples x %d steps, %d of %d nodes per step, %d synapses, %s, %.3f s",
        graph.name,
        batch,
        steps,
        len(steppers),
        len(order),
        len(synapses),
        backend,
        time.perf_counter() - start,
    )
    if return_all:
        return traces
    outs = [traces[o] for o in graph.outputs]
    return outs[0] if len(outs) == 1 else outs


# =============================================================================== set-up


def _check_args(steps, backend: str, dtype) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise SnncError(f"simulate: steps must be an integer >= 1 (got {steps!r})")
    if backend not in BACKENDS:
        raise SnncError(
            f"simulate: unknown backend {backend!r} (expected one of {', '.join(BACKENDS)})"
        )
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise SnncError(f"simulate: dtype must be float32 or float64 (got {np.dtype(dtype)})")
    return int(steps)


def _batch_size(graph: Graph, xs: list[np.ndarray]) -> int:
    sizes = [a.shape[0] for a in xs]
    if len(set(sizes)) != 1:
        raise InputShapeError(
            f"graph @{graph.name}: inputs {graph.inputs} have different batch sizes {sizes} "
            "(expected one batch size)"
        )
    return sizes[0]


def _check_kernels(graph: Graph, order: list[str]) -> None:
    """Fail before simulating anything if some op has no kernel."""
    for n in order:
        op = graph.op(n)
        table = NEURON_KERNELS if ops.is_spiking(op) else KERNELS
        if op.kind not in table and op.kind != "nn.input":
            raise IRError(f"node '{n}': snnc.sim has no kernel for {op.kind}")


def _dynamic_nodes(order: list[str], in_edges: dict, graph: Graph) -> set[str]:
    """Nodes whose value changes over time: spiking neurons (they have state), nodes behind
    a synapse (a filter's output rises from zero), and everything downstream of those."""
    dynamic: set[str] = set()
    for n in order:
        if ops.is_spiking(graph.op(n)) or any(
            syn is not None or src in dynamic for src, _, syn in in_edges[n]
        ):
            dynamic.add(n)
    return dynamic


def _make_neurons(graph: Graph, n: str, batch: int, dtype, backend: str) -> _Neurons:
    op = graph.op(n)
    kernel = NEURON_KERNELS[op.kind]
    shape = graph.type(n).shape
    size = int(np.prod(shape))

    def per_neuron(p):  # scalar, per-channel or full parameter -> one value per neuron
        return np.ascontiguousarray(
            np.broadcast_to(np.asarray(p, dtype=np.float64), shape).reshape(size)
        )

    states = [np.zeros((batch, size), dtype=dtype) for _ in kernel.state]
    params = tuple(float(p) for p in kernel.params(op, graph.dt))
    return _Neurons(
        kernel.step_function(backend), per_neuron(op.gain), per_neuron(op.bias), states, params
    )


def _make_synapse(graph: Graph, src: str, tau: float, batch: int, dtype) -> _Synapse:
    a, b = lowpass_coefficients(tau, graph.dt)
    return _Synapse(src, a, b, np.zeros((batch,) + graph.type(src).shape, dtype=dtype))


def _numba_lowpass():
    from snnc.sim.numba_kernels import lowpass_step as compiled

    return compiled

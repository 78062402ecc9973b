"""Calibration data for data-driven passes: checking it, and the neuron input currents it
produces.

``normalize-rates`` (and any pass that learns from representative inputs) receives
``PassContext.calibration``: an array ``(batch, *input_shape)``, a list with one array per
graph input (in index order) or a dict keyed by input name. :func:`check_calibration`
turns it into checked float64 arrays or raises a :class:`~snnc.errors.PassError` that says
what is wrong (shape against the graph's input, non-finite values, an empty batch) and how
to fix it; it also warns (a pass note and a log warning) below :data:`MIN_SAMPLES` samples,
where a 99.9th percentile rests on a handful of values.

:func:`rate_walk` runs the graph in rate mode (the interpreter's kernels, one op at a
time, freeing each value once its users have read it) and hands each node's inputs to the
loop over it; :func:`neuron_currents` gives every requested neuron's input current
``J = gain * x + bias`` to a callback, so statistics are taken without keeping every
layer's activations of the whole calibration set in memory.

:func:`clip_caps` finds the rectified-linear pieces of a lowered clipped ReLU (see
``lower-activations``) and where their output stops mattering.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping

import numpy as np

from snnc.errors import PassError
from snnc.ir import Graph, ops
from snnc.ir import traits as T
from snnc.ir.interpreter import run_kernel

#: below this many calibration samples a pass notes that its statistics are noisy
MIN_SAMPLES = 100

_HINT = (
    "calibration data is a batch of representative model inputs, batch-first and channels-last "
    "like the training data: an array (batch, *input_shape), or one array per input "
    "(a list in input order, or a dict by input name; .npz for snnc --calibration)"
)


def check_calibration(
    graph: Graph, data, *, where: str = "calibration", logger: logging.Logger | None = None
) -> tuple[list[np.ndarray], list[str]]:
    """Check calibration ``data`` against ``graph``'s inputs.

    Args:
        graph: the graph whose inputs the data feeds.
        data: an array, a list (input order) or a dict (by input name); not None.
        where: prefix of error messages (the pass name).
        logger: where the small-sample warning is logged (besides the returned note).

    Returns:
        ``(arrays, notes)``: one float64 array per input, in input order, and notes for the
        pass result (a warning when there are fewer than :data:`MIN_SAMPLES` samples).

    Raises:
        PassError: the data does not fit: wrong number of arrays, a missing input, a shape
            that is not ``(batch, *input_shape)``, non-numeric or non-finite values, no
            samples, or inputs with different batch sizes.
    """
    names = graph.inputs
    if isinstance(data, Mapping):
        missing = [n for n in names if n not in data]
        extra = [k for k in data if k not in names]
        if missing or extra:
            raise PassError(
                f"{where}: calibration data is keyed by {sorted(map(str, data))} "
                f"(expected the graph's inputs {names})",
                hint=_HINT,
            )
        arrays = [data[n] for n in names]
    elif isinstance(data, list | tuple):
        arrays = list(data)
    else:
        arrays = [data]
    if len(arrays) != len(names):
        raise PassError(
            f"{where}: calibration data has {len(arrays)} array(s) "
            f"(expected {len(names)}, one per graph input: {', '.join(names)})",
            hint=_HINT,
        )
    out = []
    for name, a in zip(names, arrays, strict=True):
        try:
            a = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise PassError(
                f"{where}: calibration data for input '{name}' is not a numeric array ({e})",
                hint=_HINT,
            ) from None
        want = tuple(graph.type(name).shape)
        shape_text = f"[batch, {', '.join(map(str, want))}]" if want else "[batch]"
        if a.shape == want and want:
            raise PassError(
                f"{where}: calibration data for input '{name}' has shape {list(a.shape)}, one "
                f"sample without a batch axis (expected {shape_text})",
                hint="add the batch axis (x[None]), and better give ~100 or more samples",
            )
        if a.ndim != len(want) + 1 or a.shape[1:] != want:
            raise PassError(
                f"{where}: calibration data for input '{name}' has shape {list(a.shape)} "
                f"(expected {shape_text})",
                hint=_HINT,
            )
        if a.shape[0] == 0:
            raise PassError(
                f"{where}: calibration data for input '{name}' has no samples", hint=_HINT
            )
        bad = a.size - int(np.count_nonzero(np.isfinite(a)))
        if bad:
            raise PassError(
                f"{where}: calibration data for input '{name}' has {bad} non-finite value(s) "
                f"(NaN or inf) among {a.size} (expected finite numbers)",
                hint="clean the data (np.nan_to_num) or drop the samples holding them",
            )
        out.append(a)
    sizes = {a.shape[0] for a in out}
    if len(sizes) > 1:
        raise PassError(
            f"{where}: calibration inputs have different batch sizes "
            f"({', '.join(f'{n}: {a.shape[0]}' for n, a in zip(names, out, strict=True))})",
            hint="give the same samples for every input",
        )
    notes = []
    n = out[0].shape[0]
    if n < MIN_SAMPLES:
        note = (
            f"only {n} calibration sample(s): percentiles of so few activations are noisy "
            f"(give {MIN_SAMPLES} or more representative inputs)"
        )
        notes.append(note)
        if logger is not None:
            logger.warning("%s: %s", where, note)
    return out, notes


def rate_walk(graph: Graph, inputs: list[np.ndarray]) -> Iterator[tuple[str, list | None]]:
    """Evaluate ``graph`` in rate mode on checked ``inputs``, node by node: yields ``(n,
    input values)`` in topological order (``None`` for the graph inputs), then computes
    ``n`` with ``graph.op(n)`` as it is *after* the yield, so a pass may replace the op
    between (``quantize{rounding=gptq}`` rounds each layer on the values of the layers
    it already rounded). Values are dropped once no user needs them."""
    order = graph.topo_order()
    last_use: dict[str, int] = {}
    for i, n in enumerate(order):
        for s in graph.inputs_of(n):
            last_use[s] = i
    values: dict[str, np.ndarray] = dict(zip(graph.inputs, inputs, strict=True))
    for i, n in enumerate(order):
        if n in values:
            yield n, None
            continue
        xs = [values[s] for s in graph.inputs_of(n)]
        yield n, xs
        values[n] = run_kernel(graph.op(n), xs, graph.dt, n)
        for s in set(graph.inputs_of(n)):
            if last_use.get(s) == i:
                del values[s]


def neuron_currents(
    graph: Graph, inputs: list[np.ndarray], neurons, visit: Callable[[str, np.ndarray], None]
) -> None:
    """Evaluate ``graph`` in rate mode on checked ``inputs`` and call ``visit(n, J)`` with
    the input current ``J = gain * x + bias`` (float64, ``(batch, *shape)``) of every node
    ``n`` of ``neurons``, in topological order (:func:`rate_walk`)."""
    wanted = set(neurons)
    for n, xs in rate_walk(graph, inputs):
        if xs is not None and n in wanted:
            visit(n, graph.op(n).current(xs[0]))


def clip_caps(graph: Graph) -> dict[str, np.ndarray]:
    """The current above which each clipped ReLU's rising piece stops mattering.

    ``lower-activations`` writes ``min(relu(x), m)`` as ``relu(x) - relu(x - m)``: neurons
    ``P`` (``J_P = g_P x + b_P``) and ``S`` (``J_S = g_S x + b_S``, starting later) summed by
    an ``nn.add`` with opposite slopes in ``x`` (``c_P a_P g_P = -c_S a_S g_S``, with ``c``
    the add's coefficients and ``a`` the amplitudes). Once ``S`` fires the two cancel, so
    ``P``'s currents beyond ``J_P = b_P - g_P b_S / g_S`` (``m g_P`` right after lowering)
    carry no information. Found structurally (two ReLU-exact neurons reading the same value
    through the same synapse into one ``nn.add``), so it works on parsed text and after
    other passes, normalize-rates included (which scales the two pieces differently).

    Returns:
        ``{P: cap}``, the cap broadcastable to P's shape.
    """
    caps: dict[str, np.ndarray] = {}
    for a in graph.nodes_of(ops.Add):
        edges = graph.in_edges(a)
        coeffs = graph.op(a).coeffs
        for i, (p, _, syn_p) in enumerate(edges):
            for j, (s, _, syn_s) in enumerate(edges):
                if (
                    i == j
                    or syn_p != syn_s
                    or not (_relu_neuron(graph, p) and _relu_neuron(graph, s))
                ):
                    continue
                if graph.in_edges(p) != graph.in_edges(s):  # same value, same synapse
                    continue
                op_p, op_s = graph.op(p), graph.op(s)
                g_p, g_s = np.asarray(op_p.gain, np.float64), np.asarray(op_s.gain, np.float64)
                if np.any(g_p <= 0) or np.any(g_s <= 0):
                    continue
                slope_p = coeffs[i] * op_p.amplitude * g_p
                slope_s = coeffs[j] * op_s.amplitude * g_s
                if np.any(slope_p <= 0) or not np.allclose(slope_p, -slope_s, rtol=1e-5, atol=0):
                    continue
                b_p, b_s = np.asarray(op_p.bias, np.float64), np.asarray(op_s.bias, np.float64)
                cap = b_p - g_p * b_s / g_s
                if np.all(cap > 0):
                    caps[p] = cap
    return caps


def _relu_neuron(g: Graph, n: str) -> bool:
    return g.op(n).has(T.ReLUExact)

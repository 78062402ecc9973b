"""Emitters of host-side ops: nonlinearities no neuron computes (max pooling, softmax, elu,
...) and value rounding (``nn.quantize``) run as numpy functions in ``nengo.Node`` s.

Each op class has a :class:`HostFunction` in :data:`HOST_FUNCTIONS`: the numpy function
(from :mod:`snnc.codegen.host_functions`, copied into the generated module), its static
arguments given the op and the input shape, and an optional TensorFlow twin (from
:mod:`snnc.codegen.tf_functions`) that nengo-dl runs in a ``TensorNode`` instead. A plugin op
with the ``HostOnly`` trait registers its functions with :func:`register_host_function`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from snnc.codegen import host_functions as np_fns
from snnc.codegen import tf_functions as tf_fns
from snnc.codegen.emit.builder import NetworkBuilder
from snnc.codegen.emit.naming import literal
from snnc.codegen.emit.registry import emitter
from snnc.ir import ops
from snnc.ir import traits as T
from snnc.ir.graph import Graph
from snnc.ir.ops import Op, resolve_padding


@dataclass(frozen=True)
class HostFunction:
    """How a host-side op runs: ``numpy(x, *args(op, in_shape))`` on one flat sample, and
    optionally ``tensorflow(x, *args)`` on a minibatch ``(batch, size)``.

    Both functions are copied into the generated module with their source, so they must be
    self-contained (only ``np`` in scope; other imports inside their body).
    """

    numpy: Callable
    args: Callable[[Op, tuple], tuple]
    tensorflow: Callable | None = None

    def call_args(self, op: Op, shape) -> str:
        """The static arguments as source text (``", a, b"``)."""
        return "".join(f", {literal(a)}" for a in self.args(op, tuple(shape)))


#: op class -> its host function
HOST_FUNCTIONS: dict[type[Op], HostFunction] = {}


def register_host_function(op_class: type[Op], numpy: Callable, args=None, tensorflow=None) -> None:
    """Run ``op_class`` on the host with ``numpy`` (and ``tensorflow`` on nengo-dl);
    ``args(op, in_shape) -> tuple`` gives its static arguments (default: none)."""
    if op_class in HOST_FUNCTIONS:
        raise ValueError(f"a host function for {op_class.__name__} is already registered")
    HOST_FUNCTIONS[op_class] = HostFunction(numpy, args or (lambda op, shape: ()), tensorflow)


def host_function(op: Op) -> HostFunction | None:
    """The host function of ``op``'s class (or of a base class), or None."""
    for base in type(op).__mro__:
        if base in HOST_FUNCTIONS:
            return HOST_FUNCTIONS[base]
    return None


def helper_names() -> set[str]:
    """Names of every function that may be copied into a module (reserved for helpers)."""
    fns = [f for h in HOST_FUNCTIONS.values() for f in (h.numpy, h.tensorflow) if f is not None]
    return {f.__name__ for f in fns}


def _pool_args(op, shape) -> tuple:
    n = len(op.pool_size)
    spatial = shape[len(shape) - n - 1 : -1]
    pads = resolve_padding(op.padding, spatial, op.pool_size, op.strides, (1,) * n)
    return tuple(shape), tuple(op.pool_size), tuple(op.strides), pads


def _quantize_args(op, shape) -> tuple:
    lo, hi = op.dtype().int_range()
    return float(2.0**op.exp), float(lo), float(hi)


register_host_function(ops.MaxPool, np_fns.max_pool, _pool_args, tf_fns.tf_max_pool)
register_host_function(
    ops.GlobalMaxPool, np_fns.global_max_pool, lambda op, s: (s, op.n_spatial), tf_fns.tf_global_max_pool
)
register_host_function(ops.Softmax, np_fns.softmax, lambda op, s: (s, op.axis), tf_fns.tf_softmax)
register_host_function(ops.Elu, np_fns.elu, lambda op, s: (op.alpha,))
register_host_function(ops.Selu, np_fns.selu)
register_host_function(ops.Softplus, np_fns.softplus)
register_host_function(ops.Softsign, np_fns.softsign)
register_host_function(ops.Swish, np_fns.swish)
register_host_function(ops.Gelu, np_fns.gelu, lambda op, s: (op.approximate,))
register_host_function(ops.Exponential, np_fns.exponential)
register_host_function(ops.HardSigmoid, np_fns.hard_sigmoid, lambda op, s: (op.slope, op.offset))
register_host_function(ops.Quantize, np_fns.quantize, _quantize_args, tf_fns.tf_quantize)


def check_host(graph: Graph, node: str, target) -> str | None:
    """A host-side op needs a registered host function."""
    op = graph.op(node)
    if host_function(op) is None:
        return (
            f"{type(op).__name__} runs on the host but has no host function\n"
            "    hint: register one with snnc.codegen.emit.host.register_host_function"
        )
    return None


@emitter(T.HostOnly, T.Quantizer, check=check_host)
def emit_host_node(b: NetworkBuilder, node: str, op, ins):
    """A ``nengo.Node`` running the op's numpy function on the host, one sample per call
    (not neuromorphic: a loihi target refuses these)."""
    (value,) = ins
    fn = host_function(op)
    call = f"{b.helper(fn.numpy)}(x{fn.call_args(op, value.shape)})"
    return b.host_node(node, call, value, b.graph.type(node).shape, "host Node (numpy)")

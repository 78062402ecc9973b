"""The exact linear algebra behind the emitters (no nengo): op matrices, index maps, host
functions, each against the rate-mode interpreter."""

from __future__ import annotations

import numpy as np
import pytest
from graphs import CASES

from snnc.codegen import host_functions
from snnc.codegen.emit.host import HOST_FUNCTIONS, host_function
from snnc.codegen.linear import index_map, op_matrix
from snnc.ir import traits as T
from snnc.ir.interpreter import evaluate, run_kernel


def _nodes(match):
    """``(case, graph, node)`` for every node of the hand-built cases whose op ``match`` es."""
    for name, build in CASES.items():
        g, _ = build()
        for n in g.topo_order():
            if match(g.op(n)):
                yield pytest.param(g, n, id=f"{name}-{n}")


def kernel(op, xs):
    return run_kernel(op, xs, 0.001)


def _affine(op):
    return op.has(T.Linear) and not op.has(T.MovesValues) and op.arity == 1


@pytest.mark.parametrize("g, node", list(_nodes(_affine)))
def test_op_matrix_matches_kernel(g, node):
    op, in_type = g.op(node), g.in_types(node)[0]
    matrix, const = op_matrix(op, in_type.shape)
    x = np.random.default_rng(0).normal(size=(4, *in_type.shape))
    want = kernel(op, [x]).reshape(4, -1)
    got = x.reshape(4, -1) @ matrix.T + const
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("g, node", list(_nodes(lambda op: op.has(T.MovesValues))))
def test_index_map_matches_kernel(g, node):
    op = g.op(node)
    shapes = [t.shape for t in g.in_types(node)]
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(2, *s)) for s in shapes]
    flat = np.concatenate([x.reshape(2, -1) for x in xs], axis=1)
    g_map, fill = index_map(op, shapes)
    got = np.where(g_map >= 0, flat[:, np.maximum(g_map, 0)], fill)
    np.testing.assert_array_equal(got, kernel(op, xs).reshape(2, -1))


def test_index_map_finds_the_pad_value():
    from snnc.ir import ops

    g_map, fill = index_map(ops.Pad(pads=((1, 2),), value=0.25), [(3,)])
    np.testing.assert_array_equal(g_map, [-1, 0, 1, 2, -1, -1])
    np.testing.assert_array_equal(fill, [0.25, 0, 0, 0, 0.25, 0.25])


def _host(op):
    return host_function(op) is not None


@pytest.mark.parametrize("g, node", list(_nodes(_host)))
def test_host_functions_match_kernels(g, node):
    op, shape = g.op(node), g.in_types(node)[0].shape
    fn = host_function(op)
    x = np.random.default_rng(0).normal(size=(3, *shape))
    want = kernel(op, [x]).reshape(3, -1)
    got = np.stack([fn.numpy(s.reshape(-1), *fn.args(op, shape)) for s in x])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_every_host_only_op_has_a_host_function():
    from snnc.ir.ops import OPS

    missing = [k for k, cls in OPS.items() if (cls.has(T.HostOnly) or cls.has(T.Quantizer)) and cls not in HOST_FUNCTIONS]
    assert not missing


def test_quantize_host_function_matches_kernel():
    from snnc.ir import ops

    op = ops.Quantize(bits=4, exp=-2)
    fn = host_function(op)
    x = np.random.default_rng(0).normal(scale=3, size=(5, 7))
    got = np.stack([fn.numpy(s, *fn.args(op, (7,))) for s in x])
    np.testing.assert_array_equal(got, kernel(op, [x]))


def test_host_functions_are_self_contained():
    """They are copied into network.py, which has only ``np`` in scope."""
    import inspect

    for fn in (h.numpy for h in HOST_FUNCTIONS.values()):
        names = set(fn.__code__.co_names) - {"np"}
        assert fn.__module__ == host_functions.__name__
        assert not names & set(vars(host_functions)) - {"np"}, f"{fn.__name__} uses module globals"
        assert inspect.getsource(fn).startswith("def ")


def test_cases_are_valid():
    for build in CASES.values():
        g, x = build()
        evaluate(g, x)


def _tf(op):
    return _host(op) and host_function(op).tensorflow is not None


@pytest.mark.parametrize("g, node", list(_nodes(_tf)))
def test_tf_functions_match_kernels(g, node):
    """The nengo-dl TensorNode twins of the host functions (batched, in TensorFlow)."""
    import tensorflow as tf

    op, shape = g.op(node), g.in_types(node)[0].shape
    fn = host_function(op)
    x = np.random.default_rng(0).normal(size=(3, *shape))
    want = kernel(op, [x]).reshape(3, -1)
    got = fn.tensorflow(tf.constant(x.reshape(3, -1)), *fn.args(op, shape)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_tf_quantize_matches_kernel():
    import tensorflow as tf

    from snnc.ir import ops

    op = ops.Quantize(bits=3, exp=-1)
    fn = host_function(op)
    x = np.random.default_rng(1).normal(scale=3, size=(4, 6))
    got = fn.tensorflow(tf.constant(x), *fn.args(op, (6,))).numpy()
    np.testing.assert_array_equal(got, kernel(op, [x]))

"""The exact linear algebra behind the emitters (no nengo): op matrices, index maps, host
functions, each against the rate-mode interpreter."""

from __future__ import annotations

import numpy as np
import pytest
from graphs import CASES

from snnc.codegen import host_functions
from snnc.codegen.emit import HOST_OPS
from snnc.codegen.linear import AFFINE_KINDS, INDEX_MAP_KINDS, index_map, op_matrix
from snnc.ir.interpreter import KERNELS, evaluate


def _nodes(kinds):
    """``(case, graph, node)`` for every node of the hand-built cases whose kind is in ``kinds``."""
    for name, build in CASES.items():
        g, _ = build()
        for n in g.topo_order():
            if g.op(n).kind in kinds:
                yield pytest.param(g, n, id=f"{name}-{n}")


@pytest.mark.parametrize("g, node", list(_nodes(AFFINE_KINDS)))
def test_op_matrix_matches_kernel(g, node):
    op, in_type = g.op(node), g.in_types(node)[0]
    matrix, const = op_matrix(op, in_type.shape)
    x = np.random.default_rng(0).normal(size=(4, *in_type.shape))
    want = KERNELS[op.kind](op, [x]).reshape(4, -1)
    got = x.reshape(4, -1) @ matrix.T + const
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("g, node", list(_nodes(INDEX_MAP_KINDS)))
def test_index_map_matches_kernel(g, node):
    op = g.op(node)
    shapes = [t.shape for t in g.in_types(node)]
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(2, *s)) for s in shapes]
    flat = np.concatenate([x.reshape(2, -1) for x in xs], axis=1)
    g_map = index_map(op, shapes)
    fill = op.value if op.kind == "nn.pad" else 0.0
    got = np.where(g_map >= 0, flat[:, np.maximum(g_map, 0)], fill)
    np.testing.assert_array_equal(got, KERNELS[op.kind](op, xs).reshape(2, -1))


@pytest.mark.parametrize("g, node", list(_nodes(HOST_OPS)))
def test_host_functions_match_kernels(g, node):
    op, shape = g.op(node), g.in_types(node)[0].shape
    fn, args_of = HOST_OPS[op.kind]
    x = np.random.default_rng(0).normal(size=(3, *shape))
    want = KERNELS[op.kind](op, [x]).reshape(3, -1)
    got = np.stack([fn(s.reshape(-1), *args_of(op, shape)) for s in x])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_host_functions_are_self_contained():
    """They are copied into network.py, which has only ``np`` in scope."""
    import inspect

    for fn, _ in HOST_OPS.values():
        names = set(fn.__code__.co_names) - {"np"}
        assert fn.__module__ == host_functions.__name__
        assert not names & set(vars(host_functions)) - {"np"}, f"{fn.__name__} uses module globals"
        assert inspect.getsource(fn).startswith("def ")


def test_cases_are_valid():
    for build in CASES.values():
        g, x = build()
        evaluate(g, x)


@pytest.mark.parametrize("g, node", list(_nodes(("nn.max_pool", "nn.global_max_pool", "ann.softmax"))))
def test_tf_functions_match_kernels(g, node):
    """The nengo-dl TensorNode twins of the host functions (batched, in TensorFlow)."""
    import tensorflow as tf

    from snnc.codegen.nengo_dl_target import TF_OPS

    op, shape = g.op(node), g.in_types(node)[0].shape
    _, args_of = HOST_OPS[op.kind]
    x = np.random.default_rng(0).normal(size=(3, *shape))
    want = KERNELS[op.kind](op, [x]).reshape(3, -1)
    got = TF_OPS[op.kind](tf.constant(x.reshape(3, -1)), *args_of(op, shape)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)

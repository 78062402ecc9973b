"""Interpreter kernels against naive loop references (independent of TensorFlow; the
frontend tests check them against Keras too)."""

import itertools

import numpy as np
import pytest
from ir_graphs import cnn, mlp

from snnc.errors import InputShapeError
from snnc.ir import Graph, neurons, ops
from snnc.ir.interpreter import evaluate, missing_kernels, run_kernel
from snnc.ir.ops import resolve_padding

R = np.random.default_rng(0)


def run(op, *xs):
    return run_kernel(op, [np.asarray(x, dtype=np.float64) for x in xs], 0.001)


def naive_conv2d(x, w, strides, dilation, pads, groups):
    x = np.pad(x, [(0, 0), *pads, (0, 0)])
    b, h, wd, c = x.shape
    kh, kw, cg, cout = w.shape
    og = cout // groups
    oh = (h - (kh - 1) * dilation[0] - 1) // strides[0] + 1
    ow = (wd - (kw - 1) * dilation[1] - 1) // strides[1] + 1
    y = np.zeros((b, oh, ow, cout))
    for i, j, o in itertools.product(range(oh), range(ow), range(cout)):
        g = o // og
        for a, bb in itertools.product(range(kh), range(kw)):
            pix = x[:, i * strides[0] + a * dilation[0], j * strides[1] + bb * dilation[1], g * cg : (g + 1) * cg]
            y[:, i, j, o] += pix @ w[a, bb, :, o]
    return y


@pytest.mark.parametrize(
    "strides, dilation, padding, groups",
    [((1, 1), (1, 1), "valid", 1), ((2, 1), (1, 1), "same", 1), ((1, 1), (2, 2), "same", 2), ((2, 2), (1, 2), ((1, 0), (2, 1)), 2)],
)
def test_conv2d_matches_naive_loops(strides, dilation, padding, groups):
    x = R.normal(size=(2, 7, 6, 4))
    w = R.normal(size=(3, 2, 4 // groups, 6))
    b = R.normal(size=6)
    op = ops.Conv2D(weight=w, bias=b, strides=strides, padding=padding, dilation=dilation, groups=groups)
    pads = resolve_padding(padding, (7, 6), (3, 2), strides, dilation)
    ref = naive_conv2d(x, op.weight.astype(np.float64), strides, dilation, pads, groups) + op.bias
    np.testing.assert_allclose(run(op, x), ref, atol=1e-9)
    assert run(op, x).shape[1:] == op.infer_type([ops.TensorType(x.shape[1:])]).shape


def test_conv_with_time_distributed_leading_dims():
    x = R.normal(size=(2, 3, 5, 5, 1))
    op = ops.Conv2D(weight=R.normal(size=(3, 3, 1, 2)))
    y = run(op, x)
    assert y.shape == (2, 3, 3, 3, 2)
    np.testing.assert_allclose(y[:, 1], run(op, x[:, 1]))


def test_depthwise_is_per_channel_conv():
    x = R.normal(size=(2, 5, 5, 3))
    w = R.normal(size=(3, 3, 3, 2))
    y = run(ops.DepthwiseConv2D(weight=w, padding="same"), x)
    for c, m in itertools.product(range(3), range(2)):
        single = ops.Conv2D(weight=w[:, :, c : c + 1, m : m + 1], padding="same")
        np.testing.assert_allclose(y[..., c * 2 + m], run(single, x[..., c : c + 1])[..., 0], atol=1e-6)


def test_conv_transpose_is_the_scatter_of_conv():
    x = R.normal(size=(1, 3, 4, 2))
    w = R.normal(size=(3, 2, 2, 5))  # [kh, kw, in, out]
    s = (2, 3)
    op = ops.ConvTranspose2D(weight=w, strides=s, padding=((1, 0), (0, -1)))
    w64 = op.weight.astype(np.float64)
    full = np.zeros((1, (3 - 1) * 2 + 3, (4 - 1) * 3 + 2, 5))
    for i, j, a, b in itertools.product(range(3), range(4), range(3), range(2)):
        full[0, i * 2 + a, j * 3 + b] += x[0, i, j] @ w64[a, b]
    ref = np.pad(full, [(0, 0), (0, 0), (0, 1), (0, 0)])[:, 1:]
    np.testing.assert_allclose(run(op, x), ref, atol=1e-9)


def test_avg_pool_same_padding_excludes_padded_cells():
    x = np.arange(5.0).reshape(1, 5, 1)
    y = run(ops.AvgPool(pool_size=(2,), strides=(2,), padding="same"), x)
    np.testing.assert_allclose(y[0, :, 0], [0.5, 2.5, 4.0])
    ym = run(ops.MaxPool(pool_size=(3,), strides=(2,), padding="same"), -x)
    np.testing.assert_allclose(ym[0, :, 0], [0.0, -1.0, -3.0])


def test_shape_ops():
    x = R.normal(size=(2, 3, 4))
    np.testing.assert_array_equal(run(ops.Transpose(perm=(1, 0)), x), x.transpose(0, 2, 1))
    np.testing.assert_array_equal(run(ops.Crop(crops=((1, 0), (0, 2))), x), x[:, 1:, :2])
    np.testing.assert_array_equal(run(ops.Pad(pads=((0, 1), (0, 0))), x)[:, 3], 0)
    np.testing.assert_array_equal(run(ops.Upsample(scale=(2,)), x)[:, ::2], x)
    np.testing.assert_array_equal(run(ops.Flatten(), x), x.reshape(2, 12))
    np.testing.assert_array_equal(run(ops.Concat(axis=0), x, x), np.concatenate([x, x], 1))


@pytest.mark.parametrize(
    "op, x, y",
    [
        (ops.ReLU(), [-1.0, 0.5, 7.0], [0.0, 0.5, 7.0]),
        (ops.ReLU(max_value=6.0), [-1.0, 0.5, 7.0], [0.0, 0.5, 6.0]),
        (ops.ReLU(negative_slope=0.1), [-1.0, 0.5], [-0.1, 0.5]),
        (ops.ReLU(threshold=1.0), [0.5, 1.0, 2.0], [0.0, 0.0, 2.0]),
        (ops.ReLU(threshold=1.0, negative_slope=0.5), [0.0, 2.0], [-0.5, 2.0]),
        (ops.HardSigmoid(), [-3.0, 0.0, 3.0], [0.0, 0.5, 1.0]),
        (ops.Softmax(), [0.0, np.log(3.0)], [0.25, 0.75]),
        (ops.Elu(alpha=2.0), [-np.inf, 1.0], [-2.0, 1.0]),
        (neurons.IF(gain=2.0, bias=-1.0, amplitude=0.5), [0.0, 1.0], [0.0, 0.5]),
        (neurons.LIFRate(tau_rc=0.02, tau_ref=0.002), [1.0, 2.0], [0.0, 1 / (0.002 + 0.02 * np.log(2.0))]),
    ],
)
def test_activation_and_neuron_rates(op, x, y):
    np.testing.assert_allclose(run(op, [x])[0], y, rtol=1e-7)


def test_every_op_has_a_kernel():
    assert missing_kernels() == []


def test_evaluate_takes_arrays_lists_and_dicts():
    g = mlp()
    x = R.normal(size=(3, 4))
    y = evaluate(g, x)
    assert y.dtype == np.float32 and y.shape == (3, 3)
    np.testing.assert_array_equal(evaluate(g, [x]), y)
    np.testing.assert_array_equal(evaluate(g, {"input": x}), y)
    assert set(evaluate(g, x, return_all=True)) == set(g.nx)


def test_evaluate_rejects_wrong_shapes_naming_the_expected_one():
    with pytest.raises(InputShapeError, match=r"expected \[batch, 8, 8, 1\]"):
        evaluate(cnn(), np.zeros((2, 8, 8)))
    with pytest.raises(InputShapeError, match="1 input"):
        evaluate(mlp(), [np.zeros((1, 4))] * 2)


def test_multiple_outputs_come_in_index_order():
    g = Graph("two")
    g.add("input", ops.Input(shape=(2,)))
    g.add("neg", ops.Affine(scale=-1.0), ["input"])
    g.add("b", ops.Output(index=1), ["neg"])
    g.add("a", ops.Output(index=0), ["input"])
    ya, yb = evaluate(g, np.ones((1, 2)))
    assert ya.tolist() == [[1, 1]] and yb.tolist() == [[-1, -1]]

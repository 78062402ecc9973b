import numpy as np
import pytest

from snnc.ir import neurons, ops
from snnc.ir.ops import OpError, resolve_padding
from snnc.ir.types import SPIKE, TensorType


def T(*shape):
    return TensorType(shape)


def test_params_are_private_read_only_float32_copies():
    w = np.ones((2, 3))
    op = ops.Dense(weight=w)
    w[0, 0] = 5
    assert op.weight.dtype == np.float32 and op.weight[0, 0] == 1
    with pytest.raises(ValueError):
        op.weight[0, 0] = 2


def test_ops_are_immutable_and_compare_by_value():
    a = ops.Conv2D(weight=np.ones((3, 3, 1, 2)), strides=[2, 2])
    b = ops.Conv2D(weight=np.ones((3, 3, 1, 2)), strides=(2, 2))
    assert a == b and hash(a) == hash(b) and a.strides == (2, 2)
    assert a != a.replace(padding="same")
    with pytest.raises(AttributeError):
        a.groups = 2


@pytest.mark.parametrize(
    "op, in_shape, out_shape",
    [
        (ops.Dense(weight=np.ones((4, 3))), (5, 4), (5, 3)),
        (ops.Conv2D(weight=np.ones((3, 3, 2, 4)), padding="same", strides=(2, 2)), (7, 7, 2), (4, 4, 4)),
        (ops.Conv2D(weight=np.ones((3, 3, 1, 4)), groups=2), (6, 6, 2), (4, 4, 4)),
        (ops.Conv1D(weight=np.ones((3, 2, 4)), dilation=(2,)), (10, 2), (6, 4)),
        (ops.Conv3D(weight=np.ones((2, 2, 2, 1, 3))), (4, 4, 4, 1), (3, 3, 3, 3)),
        (ops.Conv2D(weight=np.ones((3, 3, 1, 2))), (5, 8, 8, 1), (5, 6, 6, 2)),  # TimeDistributed
        (ops.DepthwiseConv2D(weight=np.ones((3, 3, 2, 3))), (5, 5, 2), (3, 3, 6)),
        (ops.ConvTranspose2D(weight=np.ones((3, 3, 2, 4)), strides=(2, 2), padding=((0, 0), (1, 0))), (3, 3, 2), (7, 6, 4)),
        (ops.AvgPool(pool_size=(3,), strides=(2,), padding="same"), (7, 2), (4, 2)),
        (ops.MaxPool(pool_size=(2, 2), strides=(1, 1)), (4, 4, 3), (3, 3, 3)),
        (ops.GlobalAvgPool(), (4, 4, 3), (3,)),
        (ops.GlobalAvgPool(n_spatial=1, keepdims=True), (4, 3), (1, 3)),
        (ops.Flatten(), (2, 3, 4), (24,)),
        (ops.Reshape(shape=(6, 4)), (2, 3, 4), (6, 4)),
        (ops.Transpose(perm=(2, 0, 1)), (2, 3, 4), (4, 2, 3)),
        (ops.Pad(pads=((1, 2), (0, 0))), (3, 2), (6, 2)),
        (ops.Crop(crops=((1, 0), (0, 1))), (3, 2), (2, 1)),
        (ops.Upsample(scale=(2, 3)), (2, 2, 1), (4, 6, 1)),
        (ops.ReLU(max_value=6.0), (3,), (3,)),
    ],
)
def test_infer_type(op, in_shape, out_shape):
    assert op.infer_type([T(*in_shape)]) == T(*out_shape)


def test_multi_input_ops():
    assert ops.Add(coeffs=(1.0, -1.0)).infer_type([T(2, 3), T(2, 3)]) == T(2, 3)
    assert ops.Concat(axis=0).infer_type([T(2, 3), T(4, 3)]) == T(6, 3)
    with pytest.raises(OpError, match="different shapes"):
        ops.Add().infer_type([T(2), T(3)])
    with pytest.raises(OpError, match="outside the concat axis"):
        ops.Concat(axis=0).infer_type([T(2, 3), T(2, 4)])


def test_neurons_emit_spikes_or_rates():
    assert neurons.IF().infer_type([T(3)]).dtype == SPIKE
    assert neurons.LIF(bias=np.zeros(3)).infer_type([T(2, 3)]).dtype == SPIKE
    assert neurons.RateReLU().infer_type([T(3)]).dtype.kind == "f32"
    assert ops.is_spiking(neurons.LoihiLIF()) and not ops.is_spiking(neurons.LIFRate())
    with pytest.raises(OpError, match="tau_rc"):
        neurons.LIF(tau_rc=0.0).infer_type([T(3)])


@pytest.mark.parametrize(
    "op, in_shape, message",
    [
        (ops.Dense(weight=np.ones((4, 3))), (5,), "expected last dim 4"),
        (ops.Dense(weight=np.ones((4, 3)), bias=np.ones(4)), (4,), r"parameter 'bias' has shape \[4\] \(expected \[3\]\)"),
        (ops.Conv2D(weight=np.ones((5, 5, 1, 1))), (3, 3, 1), "does not fit"),
        (ops.Conv2D(weight=np.ones((3, 3, 2, 4))), (6, 6, 3), "input channels"),
        (ops.Conv2D(weight=np.ones((3, 3, 1, 1)), padding="full"), (6, 6, 1), "padding"),
        (ops.Reshape(shape=(5,)), (2, 3), "cannot reshape"),
        (ops.Transpose(perm=(0, 0)), (2, 3), "not a permutation"),
        (ops.Upsample(method="bilinear"), (2, 2, 1), "nearest"),
    ],
)
def test_infer_type_errors_say_what_is_expected(op, in_shape, message):
    with pytest.raises(OpError, match=message):
        op.infer_type([T(*in_shape)])


def test_same_padding_follows_tensorflow():
    # TF: total = max((ceil(n/s)-1)*s + k - n, 0), the extra pixel after
    assert resolve_padding("same", (7,), (4,), (1,), (1,)) == ((1, 2),)
    assert resolve_padding("same", (8,), (3,), (2,), (1,)) == ((0, 1),)
    assert resolve_padding("same", (5,), (3,), (1,), (2,)) == ((2, 2),)


def test_verify_rejects_non_finite_parameters():
    op = ops.Dense(weight=np.array([[np.nan, 1.0]]))
    with pytest.raises(OpError, match="non-finite"):
        op.verify([T(1)])


def test_batch_norm_scale_offset():
    bn = ops.BatchNorm(gamma=[2.0], beta=[1.0], mean=[3.0], var=[4.0], epsilon=0.0)
    scale, offset = bn.scale_offset()
    assert np.allclose(scale, [1.0]) and np.allclose(offset, [-2.0])


def test_output_readouts():
    raw = np.array([[[1.0], [3.0], [5.0], [7.0]]])  # (batch 1, 4 steps, 1 value)
    np.testing.assert_allclose(ops.Output().read(raw)[0, :, 0], [1, 2, 3, 4])
    np.testing.assert_allclose(ops.Output(readout="window", window=2).read(raw)[0, :, 0], [1, 2, 4, 6])
    np.testing.assert_allclose(ops.Output(readout="raw").read(raw), raw)
    with pytest.raises(ops.OpError, match="readout 'max'"):
        ops.Output(readout="max").infer_type([TensorType((1,))])

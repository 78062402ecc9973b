"""Layer options the zoo does not reach: transposed/1-D/3-D convolutions, channels_first
everywhere, every activation, Normalization, TimeDistributed over several layers, nested
models called twice, plus node naming and the IR that comes out.

Each model is checked like the zoo: in memory, and through ``.keras`` and ``.h5`` files.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import functools  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import zoo  # noqa: E402
from test_zoo_convert import assert_outputs_match  # noqa: E402

import snnc.frontend  # noqa: E402
from snnc.ir.verifier import verify  # noqa: E402

L = tf.keras.layers
CASES: dict[str, Callable[[], tf.keras.Model]] = {}


def case(fn):
    """Register a model factory; its weights are randomized with a fixed seed."""

    def build():
        tf.keras.backend.reset_uids()
        tf.keras.utils.set_random_seed(len(CASES) + 7)
        model = fn()
        zoo.randomize_weights(model, seed=len(fn.__name__))
        fix = getattr(fn, "fix_weights", None)
        if fix:
            fix(model)
        return model

    CASES[fn.__name__] = build
    return fn


def seq(shape, layers, name):
    return tf.keras.Sequential([tf.keras.Input(shape, name="input"), *layers], name=name)


# --------------------------------------------------------------------------- convolutions


@case
def conv1d_transpose():
    return seq(
        (10, 2),
        [
            L.Conv1DTranspose(3, 3, strides=2, padding="same", activation="relu"),
            L.Conv1DTranspose(2, 2, strides=3),  # stride > kernel: TF appends zeros
            L.Flatten(),
            L.Dense(2),
        ],
        "conv1d_transpose",
    )


@case
def conv2d_transpose_options():
    return seq(
        (5, 5, 2),
        [
            L.Conv2DTranspose(3, 3, strides=2, output_padding=1, activation="relu"),
            L.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1),
            L.Conv2DTranspose(2, 3, dilation_rate=2, padding="same", use_bias=False),
            L.Conv2DTranspose(2, (2, 3), strides=(3, 2)),
            L.Flatten(),
            L.Dense(2),
        ],
        "conv2d_transpose_options",
    )


@case
def depthwise_separable_1d():
    return seq(
        (12, 3),
        [
            L.DepthwiseConv1D(3, depth_multiplier=2, strides=2, padding="same", activation="relu"),
            L.SeparableConv1D(4, 3, padding="causal", dilation_rate=2, activation="relu"),
            L.SeparableConv1D(2, 2, depth_multiplier=2, use_bias=False),
            L.Flatten(),
            L.Dense(2),
        ],
        "depthwise_separable_1d",
    )


@case
def depthwise_dilated():
    return seq(
        (7, 7, 2),
        [
            L.DepthwiseConv2D(3, dilation_rate=2, padding="same", use_bias=False),
            L.SeparableConv2D(3, 3, strides=2, padding="same", activation="relu"),
            L.Flatten(),
            L.Dense(2),
        ],
        "depthwise_dilated",
    )


@case
def conv3d_pool3d():
    return seq(
        (4, 6, 6, 2),
        [
            L.ZeroPadding3D(((1, 0), (0, 1), (1, 1))),
            L.Conv3D(3, 2, padding="same", activation="relu"),
            L.AveragePooling3D(2, padding="same"),
            L.UpSampling3D((1, 2, 1)),
            L.Cropping3D(((0, 1), (1, 0), (0, 0))),
            L.MaxPooling3D(2, strides=1),
            L.GlobalMaxPooling3D(keepdims=True),
            L.Flatten(),
            L.Dense(2),
        ],
        "conv3d_pool3d",
    )


# --------------------------------------------------------------------------- channels_first


@case
def channels_first_2d():
    cf = {"data_format": "channels_first"}
    x = inp = tf.keras.Input((3, 6, 6), name="input")
    x = L.ZeroPadding2D(1, **cf)(x)
    x = L.Conv2D(4, 3, activation="relu", **cf)(x)
    x = L.UpSampling2D(2, **cf)(x)
    x = L.Cropping2D(((1, 0), (0, 1)), **cf)(x)
    x = L.MaxPooling2D(2, **cf)(x)
    a = L.Flatten(**cf)(x)  # channels moved last before flattening
    b = L.Flatten()(L.GlobalAveragePooling2D(keepdims=True, **cf)(x))
    c = L.GlobalMaxPooling2D(**cf)(x)
    return tf.keras.Model(inp, L.Dense(3)(L.Concatenate()([a, b, c])), name="channels_first_2d")


@case
def channels_first_1d_3d():
    cf = {"data_format": "channels_first"}
    x1 = inp1 = tf.keras.Input((3, 10), name="seq")
    x1 = L.Conv1D(4, 3, padding="causal", **cf)(x1)
    x1 = L.AveragePooling1D(2, **cf)(x1)
    x1 = L.GlobalAveragePooling1D(**cf)(x1)
    x2 = inp2 = tf.keras.Input((2, 4, 4, 4), name="vol")
    x2 = L.Conv3D(3, 2, activation="relu", **cf)(x2)
    x2 = L.MaxPooling3D(2, **cf)(x2)
    x2 = L.Flatten(**cf)(x2)
    out = L.Dense(2)(L.Concatenate()([x1, x2]))
    return tf.keras.Model([inp1, inp2], out, name="channels_first_1d_3d")


# --------------------------------------------------------------------------- activations


def _my_activation(x):
    return x


@case
def activation_functions():
    acts = [
        "selu",
        "elu",
        "gelu",
        "hard_sigmoid",
        "swish",
        "softplus",
        "softsign",
        tf.nn.relu6,
        tf.nn.leaky_relu,
        tf.nn.silu,
        tf.nn.gelu,
        tf.nn.softmax,
        "exponential",
        tf.math.exp,
        "sigmoid",
    ]
    return seq(
        (5,), [L.Dense(4, activation=a) for a in acts] + [L.Dense(2)], "activation_functions"
    )


@case
def activation_layers():
    return seq(
        (4, 5),
        [
            L.Dense(6),
            L.ELU(0.5),
            L.Dense(6),
            L.ThresholdedReLU(0.3),
            L.Dense(6),
            L.PReLU(name="prelu"),
            L.Dense(6),
            L.LeakyReLU(),
            L.Dense(6),
            L.ReLU(max_value=0.8, negative_slope=0.1, threshold=0.2),
            L.Softmax(axis=1),
            L.Flatten(),
            L.Dense(2),
        ],
        "activation_layers",
    )


activation_layers.fix_weights = lambda m: m.get_layer("prelu").set_weights(
    [np.full(w.shape, 0.25, np.float32) for w in m.get_layer("prelu").get_weights()]
)


# --------------------------------------------------------------------------- normalisation, identities


@case
def normalization():
    x = inp = tf.keras.Input((6, 6, 3), name="input")
    x = L.Normalization(name="norm_channels")(x)
    x = L.Conv2D(4, 3)(x)
    x = L.Normalization(mean=0.5, variance=4.0)(x)
    x = L.Normalization(axis=None, name="norm_scalar")(x)
    x = L.Normalization(mean=[1.0, 2.0, 3.0, 4.0], variance=[1.0, 0.5, 2.0, 0.25])(x)
    x = L.BatchNormalization(center=False)(x)
    x = L.BatchNormalization(scale=False, epsilon=0.01)(x)
    return tf.keras.Model(inp, L.Dense(2)(L.Flatten()(x)), name="normalization")


def _adapt(model):
    rng = np.random.default_rng(0)
    for name, shape in (("norm_channels", (3,)), ("norm_scalar", ())):
        layer = model.get_layer(name)
        layer.set_weights([rng.normal(0, 1, shape), rng.uniform(0.5, 2, shape), np.array(10)])


normalization.fix_weights = _adapt


@case
def identities_and_scaling():
    return seq(
        (6, 6, 3),
        [
            L.RandomFlip(),
            L.RandomRotation(0.2),
            L.RandomZoom(0.1),
            L.RandomTranslation(0.1, 0.1),
            L.RandomContrast(0.2),
            L.GaussianDropout(0.2),
            L.AlphaDropout(0.2),
            L.ActivityRegularization(l1=0.1),
            L.Rescaling(0.5, offset=0.25),
            L.Conv2D(3, 3, activation="relu"),
            L.SpatialDropout2D(0.5),
            L.Reshape((-1, 3)),
            L.SpatialDropout1D(0.2),
            L.Flatten(),
            L.Dense(2),
        ],
        "identities_and_scaling",
    )


@case
def rank3_axes():
    return seq(
        (4, 5),
        [
            L.Dense(6),
            L.BatchNormalization(axis=1),
            L.Permute((2, 1)),
            L.Reshape((3, -1)),
            L.Dense(2, activation="softmax"),
            L.Flatten(),
            L.Dense(2),
        ],
        "rank3_axes",
    )


# --------------------------------------------------------------------------- wrappers, nesting


@case
def time_distributed_layers():
    return seq(
        (3, 8, 2),
        [
            L.TimeDistributed(L.Conv1D(4, 3, padding="same", activation="relu")),
            L.TimeDistributed(L.MaxPooling1D(2)),
            L.TimeDistributed(L.BatchNormalization()),
            L.TimeDistributed(L.Reshape((2, 8))),
            L.TimeDistributed(L.Permute((2, 1))),
            L.TimeDistributed(L.ZeroPadding1D((1, 0))),
            L.TimeDistributed(L.Flatten()),
            L.TimeDistributed(L.Dense(3, activation="softmax")),
            L.Flatten(),
            L.Dense(2),
        ],
        "time_distributed_layers",
    )


@case
def nested_functional_twice():
    i = tf.keras.Input((5,))
    inner = tf.keras.Model(i, L.Add()([L.Dense(5, activation="relu")(i), i]), name="block")
    x = inp = tf.keras.Input((5,), name="input")
    y1 = inner(x)
    y2 = inner(L.Dense(5, name="mid")(y1))
    return tf.keras.Model(
        inp, L.Dense(2)(L.Concatenate()([y1, y2])), name="nested_functional_twice"
    )


@case
def nested_lazy_sequential_twice():
    inner = tf.keras.Sequential([L.Dense(3, activation="relu"), L.Dense(4)], name="lazy")
    x = inp = tf.keras.Input((4,), name="input")
    y = inner(L.Dense(4, name="pre")(inner(x)))
    return tf.keras.Model(inp, y, name="nested_lazy_sequential_twice")


@case
def nested_two_levels():
    core = seq((4,), [L.Dense(4, activation="relu")], "core")
    i = tf.keras.Input((4,))
    middle = tf.keras.Model(i, L.Subtract()([core(i), L.Dense(4)(i)]), name="middle")
    x = inp = tf.keras.Input((4,), name="input")
    return tf.keras.Model(inp, L.Dense(2)(middle(middle(x))), name="nested_two_levels")


@case
def sequential_built_later():
    model = tf.keras.Sequential([L.Dense(4, activation="relu"), L.Dense(2)], name="built_later")
    model.build((None, 5))
    return model


# --------------------------------------------------------------------------- the checks

VIAS = ("memory", "keras", "h5")


@functools.cache
def _built(name):
    model = CASES[name]()
    rng = np.random.default_rng(1)
    x = [rng.uniform(-1, 1, (3, *t.shape[1:])).astype(np.float32) for t in model.inputs]
    return model, x, zoo.reference_outputs(model, x)


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_case_matches_keras(name, via, tmp_path):
    model, x, ref = _built(name)
    source = model
    if via != "memory":
        source = tmp_path / f"{name}.{via}"
        model.save(source, save_format="keras_v3" if via == "keras" else "h5")
    g = snnc.frontend.load(source)
    verify(g)
    assert_outputs_match(g, x, ref)


def _graph(name):
    return snnc.frontend.load(_built(name)[0])


def test_activation_ops():
    g = _graph("activation_functions")
    kinds = [g.op(n) for n in g.nx if n.endswith(".act")]
    assert [op.kind for op in kinds] == [
        "ann.selu",
        "ann.elu",
        "ann.gelu",
        "ann.hard_sigmoid",
        "ann.swish",
        "ann.softplus",
        "ann.softsign",
        "ann.relu",
        "ann.relu",
        "ann.swish",
        "ann.gelu",
        "ann.softmax",
        "ann.exponential",
        "ann.exponential",
        "ann.sigmoid",
    ]
    assert kinds[3].slope == 0.2  # Keras 2's hard sigmoid
    assert kinds[7].max_value == 6.0 and kinds[8].negative_slope == 0.2


def test_conv_transpose_ir():
    g = _graph("conv2d_transpose_options")
    op = g.op("conv2d_transpose")
    assert op.kind == "nn.conv2d_transpose" and op.weight.shape == (3, 3, 2, 3)  # [kh, kw, in, out]
    assert g.op("conv2d_transpose_3").padding == ((0, -1), (0, 0))  # stride 3 > kernel 2
    g1 = _graph("conv1d_transpose")
    assert [
        g1.op(n).kind
        for n in ("conv1d_transpose.to_2d", "conv1d_transpose", "conv1d_transpose.to_1d")
    ] == ["nn.reshape", "nn.conv2d_transpose", "nn.reshape"]


def test_depthwise_1d_is_grouped_conv():
    g = _graph("depthwise_separable_1d")
    op = g.op("depthwise_conv1d")
    assert op.kind == "nn.conv1d" and op.groups == 3 and op.weight.shape == (3, 1, 6)
    assert g.op("separable_conv1d").padding == ((4, 0),)


def test_time_distributed_flatten_is_reshape():
    g = _graph("time_distributed_layers")
    assert g.op("time_distributed_6").kind == "nn.reshape"
    assert g.type("time_distributed_6").shape == (3, 18)
    assert g.op("time_distributed_2").axis == 2  # BatchNormalization's axis, one step deeper
    assert g.meta("time_distributed") == {
        "keras_layer": "time_distributed",
        "keras_class": "TimeDistributed(Conv1D)",
    }


def test_nested_names():
    g = _graph("nested_functional_twice")
    assert {"block/dense", "block/dense.act", "block/add", "block.call1/dense", "mid"} <= set(g.nx)
    g2 = _graph("nested_two_levels")
    assert {"middle/core/dense", "middle.call1/core/dense", "middle.call1/subtract"} <= set(g2.nx)
    assert g2.meta("middle.call1/core/dense")["keras_layer"] == "middle/core/dense"


def test_normalization_ir():
    g = _graph("normalization")
    assert g.op("norm_channels").kind == "nn.affine" and g.op("norm_channels").scale.shape == (3,)
    assert g.op("norm_scalar").scale.shape == ()
    bn = g.op("batch_normalization")  # center=False: no beta
    assert bn.beta is None and bn.gamma is not None and bn.axis == 2
    assert g.op("batch_normalization_1").gamma is None  # scale=False


def test_same_tensor_twice_as_output():
    x = inp = tf.keras.Input((3,), name="x")
    d = L.Dense(2, name="d")(x)
    g = snnc.frontend.load(tf.keras.Model(inp, [d, d, x], name="twice"))
    verify(g)
    assert g.outputs == ["d.output", "d.output.1", "x.output"]
    assert [g.op(o).index for o in g.outputs] == [0, 1, 2]


def test_graph_name_override():
    g = snnc.frontend.load(_built("conv1d_transpose")[0], name="renamed")
    assert g.name == "renamed"


def test_digits_example_matches_keras():
    """The trained example CNN (a Keras 2.12 .keras file) gives Keras's logits."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "examples" / "digits"
    spec = importlib.util.spec_from_file_location("digits_data", root / "data.py")
    data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(data)
    _, _, x_test, _ = data.load_split()
    x = x_test[:64]
    g = snnc.frontend.load(root / "digits_cnn.keras")
    verify(g)
    ref = tf.keras.models.load_model(root / "digits_cnn.keras")(x, training=False).numpy()
    assert_outputs_match(g, [x], [ref])

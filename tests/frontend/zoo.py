"""A zoo of tiny, deterministic ``tf.keras`` models for the snnc frontend tests.

Every entry of :data:`ZOO` is a :class:`ZooModel`: a name, a builder returning a freshly
built model with *all* weights randomized from a seeded numpy generator (nonzero biases,
random BatchNormalization statistics), the input shapes (without batch) and whether snnc
must convert it or refuse it (``convertible=False``; ``refuse_layer`` is then the name of the
one layer the error must name).

Shapes are tiny: 8x8x1 or 6x6x3 images (3x6x6 when channels_first), length-12 sequences
with 2 channels, 5-dim vectors. Layers get Keras' automatic names, made deterministic by
resetting Keras' name counters before every build; layers a test must refer to by name
(the refused ones) are named explicitly.

Single-input chains of layers are registered with :func:`_chain`, which by default yields a
Sequential (``<name>_seq``) and a functional (``<name>_func``) twin built from the same
layer factory. Graph-shaped models (merges, several inputs/outputs, nesting, shared layers)
are written as functions decorated with :func:`_functional`.

Tags: the style (``sequential``/``functional``), layer families (``dense``, ``conv1d``,
``conv2d``, ``conv3d``, ``conv2d_transpose``, ``depthwise``, ``separable``, ``pooling``,
``global_pooling``, ``max_pooling``, ``reshape``, ``padding``, ``cropping``, ``upsampling``,
``noise`` (inference-time identities), ``batchnorm``, ``activation``, ``merge``,
``time_distributed``), graph features (``multi_input``, ``multi_output``, ``nested``,
``shared``), ``non_relu`` (an activation other than (leaky/clipped) ReLU: sigmoid, tanh,
softmax), ``channels_first`` (see :func:`reference_outputs`) and ``refused``.

TF 2.12 CPU quirk (oneDNN, the default on x86): AvgPool/MaxPool primitives are cached by
*logical* shape, ignoring the data format, so a channels_first pooling and a channels_last
pooling whose tensors have the same logical (N, C, H, W) return wrong values for whichever
runs second in the process. With oneDNN off (``TF_ENABLE_ONEDNN_OPTS=0``) channels_first
pooling fails outright ("Default AvgPoolingOp only supports NHWC on device type CPU").
:func:`reference_outputs` therefore runs channels_first models through XLA.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import zlib  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

L = tf.keras.layers

IMG = (8, 8, 1)  #: grey image, channels_last
RGB = (6, 6, 3)  #: colour image, channels_last
RGB_CF = (3, 6, 6)  #: colour image, channels_first
SEQ = (12, 2)  #: sequence: 12 steps, 2 channels
VEC = (5,)  #: plain vector


@dataclass
class ZooModel:
    """One zoo entry. ``build()`` returns a new, built model with randomized weights."""

    name: str
    build: Callable[[], tf.keras.Model]
    input_shapes: list[tuple]
    convertible: bool = True
    refuse_layer: str | None = None
    tags: tuple = ()
    #: (low, high) of :func:`sample_inputs`' uniform distribution.
    input_range: tuple[float, float] = (-1.0, 1.0)
    #: Floor sampled inputs to integers (for index inputs such as Embedding's).
    integer_inputs: bool = False

    def __repr__(self) -> str:
        return f"ZooModel({self.name!r})"


ZOO: list[ZooModel] = []


# --------------------------------------------------------------------------- weights


def leaf_layers(layer: tf.keras.layers.Layer) -> Iterator[tf.keras.layers.Layer]:
    """Yield the non-container layers of ``layer``, descending into nested models and
    wrappers (TimeDistributed, Bidirectional); shared layers are yielded once."""
    seen: set[int] = set()

    def walk(lyr):
        if isinstance(lyr, tf.keras.Model):
            for sub in lyr.layers:
                yield from walk(sub)
        elif isinstance(lyr, L.Wrapper):
            yield from walk(lyr.layer)
        elif id(lyr) not in seen:
            seen.add(id(lyr))
            yield lyr

    yield from walk(layer)


def _weight_role(variable: tf.Variable) -> str:
    """``'dense/kernel:0'`` -> ``'kernel'``."""
    return variable.name.split("/")[-1].split(":")[0]


def _random_weight(role: str, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """A random value for a weight called ``role``, scaled to keep activations O(1)."""
    shape = tuple(shape)
    if role in ("gamma", "moving_variance"):  # positive, spread with variance > 0.1
        return rng.uniform(0.3, 1.8, shape)
    if role in ("beta", "moving_mean"):
        return rng.normal(0.0, 0.5, shape)
    if role == "bias":  # nonzero everywhere
        return rng.uniform(0.05, 0.5, shape) * rng.choice([-1.0, 1.0], shape)
    if role.endswith("kernel") and len(shape) >= 2:
        # depthwise kernels (kh, kw, cin, mult) mix only kh*kw inputs per output
        fan_in = int(np.prod(shape[:-2] if role == "depthwise_kernel" else shape[:-1]))
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    return rng.normal(0.0, 0.5, shape)  # embeddings, custom weights, ...


def randomize_weights(model: tf.keras.Model, seed: int) -> None:
    """Overwrite every weight of ``model`` (via ``layer.set_weights``) from ``seed``."""
    rng = np.random.default_rng(seed)
    for layer in leaf_layers(model):
        if layer.weights:
            layer.set_weights(
                [
                    _random_weight(_weight_role(w), w.shape, rng).astype(w.dtype.as_numpy_dtype)
                    for w in layer.weights
                ]
            )


# --------------------------------------------------------------------------- registration


def _seed(name: str) -> int:
    """A process-independent seed derived from the model name."""
    return zlib.crc32(name.encode())


def _register(
    name: str,
    input_shapes: Sequence[tuple],
    make: Callable[[str], tf.keras.Model],
    **fields,
) -> None:
    """Add ``make`` (``name -> unrandomized model``) to :data:`ZOO` under ``name``."""
    if any(zm.name == name for zm in ZOO):
        raise ValueError(f"duplicate zoo model name {name!r}")
    if not fields.get("convertible", True):
        fields["tags"] = (*fields.get("tags", ()), "refused")

    def build() -> tf.keras.Model:
        tf.keras.backend.reset_uids()  # deterministic automatic layer names
        tf.keras.utils.set_random_seed(_seed(name))
        model = make(name)
        randomize_weights(model, _seed(name))
        return model

    build.__doc__ = f"Build zoo model {name!r} with randomized weights."
    ZOO.append(ZooModel(name, build, [tuple(s) for s in input_shapes], **fields))


def _chain(
    name: str,
    input_shape: tuple,
    layers: Callable[[], list[tf.keras.layers.Layer]],
    *,
    styles: Sequence[str] = ("seq", "func"),
    tags: tuple = (),
    **fields,
) -> None:
    """Register the chain ``input -> layers()`` as a Sequential and/or functional model.

    With both styles the entries are ``<name>_seq`` and ``<name>_func``; with one style the
    entry is just ``name``.
    """

    def sequential(model_name):
        return tf.keras.Sequential(
            [tf.keras.Input(input_shape, name="input"), *layers()], name=model_name
        )

    def functional(model_name):
        x = inp = tf.keras.Input(input_shape, name="input")
        for layer in layers():
            x = layer(x)
        return tf.keras.Model(inp, x, name=model_name)

    makers = {"seq": (sequential, "sequential"), "func": (functional, "functional")}
    for style in styles:
        make, style_tag = makers[style]
        full_name = f"{name}_{style}" if len(styles) > 1 else name
        _register(full_name, [input_shape], make, tags=(style_tag, *tags), **fields)


def _functional(name: str, input_shapes: Sequence[tuple], *, tags: tuple = (), **fields):
    """Decorator registering ``fn(*input_tensors) -> output tensor(s)`` as a functional model."""

    def decorator(fn):
        def make(model_name):
            inputs = [
                tf.keras.Input(s, name="input" if len(input_shapes) == 1 else f"input_{i + 1}")
                for i, s in enumerate(input_shapes)
            ]
            outputs = fn(*inputs)
            return tf.keras.Model(
                inputs if len(inputs) > 1 else inputs[0], outputs, name=model_name
            )

        _register(name, input_shapes, make, tags=("functional", *tags), **fields)
        return fn

    return decorator


def _head(units: int = 3) -> list[tf.keras.layers.Layer]:
    """Flatten followed by a small linear Dense: the usual end of a chain."""
    return [L.Flatten(), L.Dense(units)]


# --------------------------------------------------------------------------- dense

_chain("dense", VEC, lambda: [L.Dense(8, activation="relu"), L.Dense(3)], tags=("dense",))
_chain("dense_rank3", (4, 5), lambda: [L.Dense(6, activation="relu"), L.Dense(2)], tags=("dense",))

# --------------------------------------------------------------------------- conv1d

_chain(
    "conv1d",
    SEQ,
    lambda: [L.Conv1D(4, 3, activation="relu"), L.Conv1D(3, 1), *_head()],
    tags=("conv1d",),
)
_chain(
    "conv1d_same_strided",
    SEQ,
    lambda: [L.Conv1D(4, 3, strides=2, padding="same", activation="relu"), *_head()],
    styles=("seq",),
    tags=("conv1d",),
)
_chain(
    "conv1d_causal_dilated",
    SEQ,
    lambda: [
        L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu"),
        L.Conv1D(2, 2, padding="causal"),
    ],
    styles=("func",),
    tags=("conv1d",),
)

# --------------------------------------------------------------------------- conv2d

_chain(
    "conv2d",
    IMG,
    lambda: [L.Conv2D(4, 3, activation="relu"), L.Conv2D(3, 3, strides=2), *_head()],
    tags=("conv2d",),
)
_chain(
    "conv2d_same_strided",  # even input + stride 2 + 'same': TF pads only bottom/right
    RGB,
    lambda: [
        L.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
        L.Conv2D(2, 3, padding="same"),
        *_head(),
    ],
    styles=("seq",),
    tags=("conv2d",),
)
_chain(
    "conv2d_dilated",
    IMG,
    lambda: [
        L.Conv2D(4, 3, dilation_rate=2, padding="same", activation="relu"),
        L.Conv2D(2, 3, dilation_rate=2),
        *_head(),
    ],
    styles=("func",),
    tags=("conv2d",),
)
_chain(
    "conv2d_channels_first",
    RGB_CF,
    lambda: [
        L.Conv2D(4, 3, data_format="channels_first", activation="relu"),
        L.Conv2D(2, 3, strides=2, padding="same", data_format="channels_first"),
        *_head(),
    ],
    styles=("seq",),
    tags=("conv2d", "channels_first"),
)
_chain(
    "conv2d_no_bias",
    RGB,
    lambda: [L.Conv2D(4, 3, use_bias=False, activation="relu"), *_head()],
    styles=("func",),
    tags=("conv2d",),
)
_chain(
    "conv2d_groups",
    RGB,
    lambda: [
        L.Conv2D(4, 1, activation="relu"),
        L.Conv2D(6, 3, groups=2, activation="relu"),
        *_head(),
    ],
    styles=("seq",),
    tags=("conv2d",),
)

# --------------------------------------------------------------------------- other convolutions

_chain(
    "conv3d",
    (4, 6, 6, 1),
    lambda: [L.Conv3D(3, 3, activation="relu"), *_head()],
    styles=("seq",),
    tags=("conv3d",),
)
_chain(
    "conv2d_transpose",
    RGB,
    lambda: [
        L.Conv2DTranspose(4, 3, strides=2, activation="relu"),
        L.Conv2D(2, 3, strides=2),
        *_head(),
    ],
    tags=("conv2d_transpose",),
)
_chain(
    "conv2d_transpose_same",
    RGB,
    lambda: [
        L.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu"),
        L.Conv2D(2, 3, strides=2),
        *_head(),
    ],
    styles=("seq",),
    tags=("conv2d_transpose",),
)
_chain(
    "depthwise",
    RGB,
    lambda: [L.DepthwiseConv2D(3, activation="relu"), *_head()],
    tags=("depthwise",),
)
_chain(
    "depthwise_multiplier2",
    RGB,
    lambda: [
        L.DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="same", activation="relu"),
        *_head(),
    ],
    styles=("seq",),
    tags=("depthwise",),
)
_chain(
    "separable",
    RGB,
    lambda: [
        L.SeparableConv2D(4, 3, activation="relu"),
        L.SeparableConv2D(2, 3, depth_multiplier=2),
        *_head(),
    ],
    tags=("separable",),
)

# --------------------------------------------------------------------------- pooling

_chain(
    "avgpool2d",
    IMG,
    lambda: [L.Conv2D(4, 3, padding="same", activation="relu"), L.AveragePooling2D(2), *_head()],
    tags=("pooling",),
)
_chain(
    "avgpool2d_valid_strided",
    IMG,
    lambda: [L.AveragePooling2D(3, strides=2), L.Conv2D(2, 2), *_head()],
    styles=("func",),
    tags=("pooling",),
)
_chain(  # TF's 'same' average pooling divides by the number of *unpadded* elements
    "avgpool2d_same_strided",
    IMG,
    lambda: [
        L.AveragePooling2D(3, strides=2, padding="same"),
        L.AveragePooling2D(2, strides=1, padding="same"),
        *_head(),
    ],
    styles=("seq",),
    tags=("pooling",),
)
_chain(
    "avgpool1d", SEQ, lambda: [L.AveragePooling1D(2), *_head()], styles=("seq",), tags=("pooling",)
)
_chain(
    "avgpool1d_same_strided",
    SEQ,
    lambda: [
        L.Conv1D(3, 3, activation="relu"),
        L.AveragePooling1D(3, strides=2, padding="same"),
        *_head(),
    ],
    styles=("func",),
    tags=("pooling",),
)
_chain(
    "maxpool2d",
    IMG,
    lambda: [L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(2), *_head()],
    tags=("pooling", "max_pooling"),
)
_chain(
    "maxpool2d_same_strided",
    RGB,
    lambda: [L.MaxPooling2D(3, strides=2, padding="same"), *_head()],
    styles=("func",),
    tags=("pooling", "max_pooling"),
)
_chain(
    "maxpool1d",
    SEQ,
    lambda: [L.MaxPooling1D(3, strides=2), *_head()],
    styles=("seq",),
    tags=("pooling", "max_pooling"),
)
_chain(
    "global_avgpool2d",
    RGB,
    lambda: [L.Conv2D(4, 3, activation="relu"), L.GlobalAveragePooling2D(), L.Dense(3)],
    tags=("global_pooling",),
)
_chain(
    "global_avgpool1d",
    SEQ,
    lambda: [L.Conv1D(4, 3, activation="relu"), L.GlobalAveragePooling1D(), L.Dense(3)],
    styles=("func",),
    tags=("global_pooling",),
)
_chain(
    "global_maxpool2d",
    IMG,
    lambda: [L.Conv2D(4, 3, activation="relu"), L.GlobalMaxPooling2D(), L.Dense(3)],
    styles=("seq",),
    tags=("global_pooling", "max_pooling"),
)
_chain(
    "pooling_channels_first",
    RGB_CF,
    lambda: [
        L.Conv2D(4, 3, padding="same", data_format="channels_first", activation="relu"),
        L.AveragePooling2D(2, data_format="channels_first"),
        L.MaxPooling2D(2, strides=1, data_format="channels_first"),
        L.GlobalAveragePooling2D(data_format="channels_first"),
        L.Dense(3),
    ],
    styles=("seq",),
    tags=("pooling", "max_pooling", "global_pooling", "channels_first"),
)

# --------------------------------------------------------------------------- shape manipulation

_chain(
    "reshape_permute",
    RGB,
    lambda: [
        L.Permute((2, 1, 3)),
        L.Reshape((9, 12)),
        L.Permute((2, 1)),
        L.Dense(4, activation="relu"),
        *_head(),
    ],
    tags=("reshape",),
)
_chain(
    "zeropad2d_asym",
    IMG,
    lambda: [L.ZeroPadding2D(((1, 0), (2, 1))), L.Conv2D(3, 3, activation="relu"), *_head()],
    styles=("seq",),
    tags=("padding",),
)
_chain(
    "zeropad1d_asym",
    SEQ,
    lambda: [L.ZeroPadding1D((2, 1)), L.Conv1D(3, 3, activation="relu"), *_head()],
    styles=("func",),
    tags=("padding",),
)
_chain(
    "cropping2d",
    RGB,
    lambda: [L.Conv2D(4, 1, activation="relu"), L.Cropping2D(((1, 0), (0, 2))), *_head()],
    styles=("seq",),
    tags=("cropping",),
)
_chain(
    "cropping1d",
    SEQ,
    lambda: [L.Cropping1D((1, 2)), L.Conv1D(3, 3, activation="relu"), *_head()],
    styles=("func",),
    tags=("cropping",),
)
_chain(
    "upsampling2d",
    RGB,
    lambda: [
        L.Conv2D(2, 3, activation="relu"),
        L.UpSampling2D((2, 3)),
        L.Conv2D(2, 3, strides=2),
        *_head(),
    ],
    styles=("seq",),
    tags=("upsampling",),
)
_chain(
    "upsampling1d",
    SEQ,
    lambda: [L.UpSampling1D(3), L.Conv1D(3, 3, strides=2, activation="relu"), *_head()],
    styles=("func",),
    tags=("upsampling",),
)

# --------------------------------------------------------------------------- inference-time identities, scaling

_chain(
    "dropout_noise",
    IMG,
    lambda: [
        L.Conv2D(4, 3, activation="relu"),
        L.SpatialDropout2D(0.3),
        L.Flatten(),
        L.Dropout(0.5),
        L.GaussianNoise(0.3),
        L.Dense(3),
    ],
    tags=("noise",),
)
_chain(
    "rescaling",
    IMG,
    lambda: [L.Rescaling(2.0, offset=-1.0), L.Conv2D(4, 3, activation="relu"), *_head()],
    styles=("seq",),
    tags=("rescaling",),
)

# --------------------------------------------------------------------------- batch normalization

_chain(
    "bn_after_conv",
    RGB,
    lambda: [L.Conv2D(4, 3), L.BatchNormalization(), L.ReLU(), *_head()],
    tags=("batchnorm",),
)
_chain(
    "bn_after_dense",
    VEC,
    lambda: [L.Dense(8), L.BatchNormalization(), L.Activation("relu"), L.Dense(3)],
    styles=("seq",),
    tags=("batchnorm", "dense"),
)
_chain(
    "bn_before_conv",
    RGB,
    lambda: [L.BatchNormalization(), L.Conv2D(4, 3, activation="relu"), *_head()],
    styles=("func",),
    tags=("batchnorm",),
)
_chain(
    "bn_channels_first",
    RGB_CF,
    lambda: [
        L.Conv2D(4, 3, data_format="channels_first"),
        L.BatchNormalization(axis=1),
        L.ReLU(),
        *_head(),
    ],
    styles=("seq",),
    tags=("batchnorm", "channels_first"),
)

# --------------------------------------------------------------------------- activations

_chain(
    "relu_spellings",  # the five ways of writing a ReLU
    VEC,
    lambda: [
        L.Dense(6, activation="relu"),
        L.Dense(6, activation=tf.nn.relu),
        L.Dense(6, activation=tf.keras.activations.relu),
        L.Dense(6),
        L.ReLU(),
        L.Dense(6),
        L.Activation("relu"),
        L.Dense(3),
    ],
    styles=("seq",),
    tags=("activation",),
)
_chain(
    "relu_max_value",
    VEC,
    lambda: [L.Dense(8), L.ReLU(max_value=0.5), L.Dense(3)],
    styles=("seq",),
    tags=("activation",),
)
_chain(
    "relu_negative_slope",
    VEC,
    lambda: [L.Dense(8), L.ReLU(negative_slope=0.1), L.Dense(3)],
    styles=("func",),
    tags=("activation",),
)
_chain(
    "relu_threshold",
    VEC,
    lambda: [L.Dense(8), L.ReLU(threshold=0.2), L.Dense(3)],
    styles=("seq",),
    tags=("activation",),
)
_chain(
    "leaky_relu",
    IMG,
    lambda: [L.Conv2D(4, 3), L.LeakyReLU(0.2), *_head()],
    styles=("func",),
    tags=("activation",),
)
_chain(
    "softmax",
    VEC,
    lambda: [L.Dense(6, activation="relu"), L.Dense(4), L.Softmax()],
    styles=("seq",),
    tags=("activation", "non_relu"),
)
_chain(
    "sigmoid_tanh",
    VEC,
    lambda: [
        L.Dense(6, activation="tanh"),
        L.Dense(6, activation="sigmoid"),
        L.Dense(6),
        L.Activation("tanh"),
        L.Dense(3),
    ],
    tags=("activation", "non_relu"),
)

# --------------------------------------------------------------------------- time distributed

_chain(
    "time_distributed_dense",
    (4, 5),
    lambda: [L.TimeDistributed(L.Dense(6, activation="relu")), *_head()],
    tags=("time_distributed", "dense"),
)
_chain(
    "time_distributed_conv2d",
    (3, 6, 6, 1),
    lambda: [
        L.TimeDistributed(L.Conv2D(2, 3, activation="relu")),
        L.TimeDistributed(L.Flatten()),
        L.Dense(3),
    ],
    styles=("seq",),
    tags=("time_distributed", "conv2d"),
)

# --------------------------------------------------------------------------- merges


@_functional("merge_add_residual", [RGB], tags=("merge",))
def _merge_add_residual(x):
    """A residual block: relu(conv3x3(x) + conv1x1(x))."""
    a = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    a = L.Conv2D(4, 3, padding="same")(a)
    b = L.Conv2D(4, 1)(x)
    return L.Dense(3)(L.Flatten()(L.ReLU()(L.Add()([a, b]))))


@_functional("merge_subtract_average", [VEC], tags=("merge", "dense"))
def _merge_subtract_average(x):
    """Subtract and a three-way Average of Dense branches."""
    a = L.Dense(6, activation="relu")(x)
    b = L.Dense(6)(x)
    c = L.Dense(6, activation="relu")(x)
    d = L.Subtract()([a, b])
    return L.Dense(3)(L.Average()([a, d, c]))


@_functional("concat_last_axis", [RGB], tags=("merge",))
def _concat_last_axis(x):
    """Concatenate two conv branches along channels."""
    a = L.Conv2D(3, 3, activation="relu")(x)
    b = L.Conv2D(2, 3)(x)
    return L.Dense(3)(L.Flatten()(L.Concatenate()([a, b])))


@_functional("concat_axis1_image", [RGB], tags=("merge",))
def _concat_axis1_image(x):
    """Concatenate two conv branches along the image height (axis 1)."""
    a = L.Conv2D(3, 3, activation="relu")(x)
    b = L.Conv2D(3, (1, 3), strides=(2, 1))(x)  # (3, 4, 3)
    return L.Dense(3)(L.Flatten()(L.Concatenate(axis=1)([a, b])))


@_functional("concat_time_axis", [SEQ], tags=("merge", "conv1d"))
def _concat_time_axis(x):
    """Concatenate a sequence with a strided conv of itself along time (axis -2)."""
    a = L.Conv1D(3, 3, activation="relu")(x)
    b = L.Conv1D(3, 2, strides=2)(x)
    return L.Dense(2)(L.Concatenate(axis=-2)([a, b]))


# --------------------------------------------------------------------------- graph features


@_functional("multi_input", [VEC, IMG], tags=("multi_input", "merge"))
def _multi_input(v, img):
    """A vector and an image, merged by concatenation."""
    a = L.Dense(6, activation="relu")(v)
    b = L.Conv2D(3, 3, strides=2, activation="relu")(img)
    b = L.Dense(6, activation="relu")(L.Flatten()(b))
    return L.Dense(3)(L.Concatenate()([a, b]))


@_functional("multi_input_add", [VEC, VEC, VEC], tags=("multi_input", "merge"))
def _multi_input_add(a, b, c):
    """Three raw inputs summed by one Add (one input reused in a second Add)."""
    s = L.Add()([a, b, c])
    return L.Dense(3)(L.Add()([L.Dense(5, activation="relu")(s), a]))


@_functional("multi_output", [IMG], tags=("multi_output",))
def _multi_output(x):
    """Two heads, plus an intermediate tensor that is both an output and consumed."""
    h = L.Flatten()(L.Conv2D(3, 3, strides=2, activation="relu")(x))
    hidden = L.Dense(6, activation="relu")(h)
    return [L.Dense(3)(hidden), L.Dense(2)(h), hidden]


@_functional("multi_input_output", [SEQ, VEC], tags=("multi_input", "multi_output"))
def _multi_input_output(seq, vec):
    """Two inputs, two outputs, each output depending on both inputs."""
    s = L.GlobalAveragePooling1D()(L.Conv1D(4, 3, activation="relu")(seq))
    v = L.Dense(4, activation="relu")(vec)
    both = L.Concatenate()([s, v])
    return [L.Dense(2)(both), L.Dense(3)(L.Add()([s, v]))]


def _inner_conv_model() -> tf.keras.Model:
    """A small Sequential conv feature extractor, used as a layer in the nested models."""
    return tf.keras.Sequential(
        [tf.keras.Input(RGB), L.Conv2D(4, 3, activation="relu"), L.Flatten()], name="inner"
    )


@_functional("nested_model", [RGB], tags=("nested",))
def _nested_model(x):
    """A Sequential sub-model called as a layer of a functional model."""
    return L.Dense(3)(_inner_conv_model()(x))


def _nested_in_sequential(name: str) -> tf.keras.Model:
    """A functional sub-model (with a residual Add) inside a Sequential model."""
    inp = tf.keras.Input(VEC)
    inner = tf.keras.Model(inp, L.Add()([L.Dense(5, activation="relu")(inp), inp]), name="inner")
    return tf.keras.Sequential([tf.keras.Input(VEC, name="input"), inner, L.Dense(3)], name=name)


_register("nested_model_seq", [VEC], _nested_in_sequential, tags=("sequential", "nested", "merge"))


@_functional("nested_model_shared", [RGB, RGB], tags=("nested", "shared", "multi_input", "merge"))
def _nested_model_shared(a, b):
    """One sub-model applied to two inputs (siamese)."""
    inner = _inner_conv_model()
    return L.Dense(3)(L.Subtract()([inner(a), inner(b)]))


@_functional("shared_layer", [VEC, VEC], tags=("shared", "multi_input", "merge"))
def _shared_layer(a, b):
    """One Dense layer called on two inputs."""
    dense = L.Dense(4, activation="relu")
    return L.Dense(2)(L.Add()([dense(a), dense(b)]))


@_functional("shared_layer_chain", [VEC], tags=("shared",))
def _shared_layer_chain(x):
    """One Dense layer called twice in a row: x -> d(x) -> d(d(x))."""
    dense = L.Dense(5, activation="relu")
    return L.Dense(3)(dense(dense(x)))


# --------------------------------------------------------------------------- models snnc must refuse


class ScaleShift(L.Layer):
    """A custom layer: ``x * scale + shift`` with per-channel weights (snnc cannot know it)."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")
        self.shift = self.add_weight(name="shift", shape=(input_shape[-1],), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        return inputs * self.scale + self.shift


# Registered (as "snnc_zoo>ScaleShift") so zoo models with it can be saved and reloaded;
# guarded because Keras refuses a second registration if this module is imported twice
# under different names.
if tf.keras.utils.get_registered_object("snnc_zoo>ScaleShift") is None:
    ScaleShift = tf.keras.utils.register_keras_serializable(package="snnc_zoo")(ScaleShift)


_chain(
    "refuse_lstm",
    SEQ,
    lambda: [L.LSTM(4, name="lstm"), L.Dense(3)],
    styles=("seq",),
    convertible=False,
    refuse_layer="lstm",
)
_chain(
    "refuse_lambda",
    VEC,
    lambda: [L.Dense(4, activation="relu"), L.Lambda(lambda t: 2.0 * t, name="double"), L.Dense(3)],
    styles=("func",),
    convertible=False,
    refuse_layer="double",
)
_chain(
    "refuse_custom_layer",
    VEC,
    lambda: [L.Dense(4, activation="relu"), ScaleShift(name="scale_shift"), L.Dense(3)],
    styles=("seq",),
    convertible=False,
    refuse_layer="scale_shift",
)
_chain(  # Keras pooling has no exotic options; bilinear resampling is the nearest analogue
    "refuse_upsampling_bilinear",
    RGB,
    lambda: [
        L.Conv2D(2, 1),
        L.UpSampling2D(2, interpolation="bilinear", name="upsample_bilinear"),
        *_head(),
    ],
    styles=("seq",),
    convertible=False,
    refuse_layer="upsample_bilinear",
)
_chain(
    "refuse_embedding",
    (6,),
    lambda: [L.Embedding(10, 3, name="embedding"), *_head()],
    styles=("seq",),
    convertible=False,
    refuse_layer="embedding",
    input_range=(0.0, 10.0),
    integer_inputs=True,
)


@_functional("refuse_multi_head_attention", [SEQ], convertible=False, refuse_layer="mha")
def _refuse_multi_head_attention(x):
    """Self-attention between two convertible layers."""
    h = L.Conv1D(4, 1)(x)
    h = L.MultiHeadAttention(num_heads=2, key_dim=2, name="mha")(h, h)
    return L.Dense(3)(L.GlobalAveragePooling1D()(h))


@_functional("refuse_attention", [SEQ], convertible=False, refuse_layer="dot_attention")
def _refuse_attention(x):
    """Dot-product attention (query/value from two Dense projections)."""
    q = L.Dense(4)(x)
    v = L.Dense(4)(x)
    return L.Dense(3)(L.Flatten()(L.Attention(name="dot_attention")([q, v])))


# --------------------------------------------------------------------------- lookup, inputs, references

ZOO_BY_NAME: dict[str, ZooModel] = {zm.name: zm for zm in ZOO}
CONVERTIBLE: list[ZooModel] = [zm for zm in ZOO if zm.convertible]
REFUSED: list[ZooModel] = [zm for zm in ZOO if not zm.convertible]


def get(name: str) -> ZooModel:
    """The zoo entry called ``name`` (KeyError if there is none)."""
    return ZOO_BY_NAME[name]


def sample_inputs(zm: ZooModel, batch: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Seeded float32 inputs, one array ``(batch, *shape)`` per model input, uniform in
    ``zm.input_range`` (``[-1, 1]`` unless the entry says otherwise)."""
    rng = np.random.default_rng(seed)
    low, high = zm.input_range
    arrays = [rng.uniform(low, high, (batch, *shape)) for shape in zm.input_shapes]
    if zm.integer_inputs:
        arrays = [np.floor(a) for a in arrays]
    return [a.astype(np.float32) for a in arrays]


def has_channels_first(model: tf.keras.Model) -> bool:
    """Whether any layer of ``model`` (nested ones included) uses ``data_format='channels_first'``."""
    return any(
        getattr(layer, "data_format", None) == "channels_first" for layer in leaf_layers(model)
    )


def reference_outputs(
    model: tf.keras.Model, inputs: Sequence[np.ndarray], *, jit: bool | None = None
) -> list[np.ndarray]:
    """The model's inference outputs on ``inputs`` as a list of numpy arrays (one per output).

    Runs ``model(x, training=False)`` eagerly, except for channels_first models (or with
    ``jit=True``), which run through ``tf.function(jit_compile=True)``: on TF 2.12 CPU
    channels_first pooling either fails (no oneDNN) or silently returns wrong values when a
    same-shaped channels_last pooling ran earlier in the process (oneDNN primitive cache).
    """
    if jit is None:
        jit = has_channels_first(model)
    x = list(inputs) if len(inputs) > 1 else inputs[0]
    fn = tf.function(model, jit_compile=True) if jit else model
    outputs = fn(x, training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [np.asarray(o) for o in outputs]

"""Activations: the ``activation=`` option of many layers, and the activation layers.

``activation="relu"``, ``activation=tf.nn.relu``, ``tf.keras.activations.relu``, a ``ReLU()``
layer and ``Activation("relu")`` all become ``ann.relu``: Keras serializes an activation
function by its ``__name__``, so every spelling arrives here as the string ``"relu"``.
"""

from __future__ import annotations

import numpy as np

from snnc.frontend.keras.context import LayerContext
from snnc.frontend.keras.layers.common import number, single_axis
from snnc.frontend.keras.registry import converter
from snnc.ir import ops

#: activations with one fixed meaning in Keras 2 and 3 (name -> op factory)
_FIXED = {
    "relu": lambda: ops.ReLU(),
    "relu6": lambda: ops.ReLU(max_value=6.0),  # tf.nn.relu6 / keras 3 relu6
    "leaky_relu": lambda: ops.ReLU(negative_slope=0.2),  # tf.nn.leaky_relu's default alpha
    "sigmoid": lambda: ops.Sigmoid(),
    "tanh": lambda: ops.Tanh(),
    "softmax": lambda: ops.Softmax(axis=-1),
    "elu": lambda: ops.Elu(alpha=1.0),
    "selu": lambda: ops.Selu(),
    "softplus": lambda: ops.Softplus(),
    "softsign": lambda: ops.Softsign(),
    "swish": lambda: ops.Swish(),
    "silu": lambda: ops.Swish(),
    "gelu": lambda: ops.Gelu(approximate=False),
    "exponential": lambda: ops.Exponential(),
    "exp": lambda: ops.Exponential(),  # tf.math.exp serializes as "exp"
}

SUPPORTED_ACTIVATIONS = sorted([*_FIXED, "linear", "hard_sigmoid"])


def activation_op(cx: LayerContext, spec) -> ops.Op | None:
    """The IR op of a serialized Keras activation; None for ``linear``.

    ``hard_sigmoid`` differs: Keras 2 computes ``clip(0.2 x + 0.5, 0, 1)``, Keras 3
    ``relu6(x + 3) / 6`` (slope 1/6), so the file's Keras version decides.
    """
    name = spec
    if isinstance(
        spec, dict
    ):  # Keras 3 form of a function: {"class_name": "function", "config": name}
        name = (
            spec.get("config") if spec.get("class_name") == "function" else spec.get("class_name")
        )
    if name is None or name == "linear":
        return None
    name = str(name)
    if name == "hard_sigmoid":
        return ops.HardSigmoid(slope=1.0 / 6.0 if cx.keras3 else 0.2, offset=0.5)
    if name in _FIXED:
        return _FIXED[name]()
    cx.refuse(
        f"activation '{name}' is not supported (supported: {', '.join(SUPPORTED_ACTIVATIONS)})"
    )


def apply_activation(cx: LayerContext, x: str, key: str = "activation") -> str:
    """Emit the layer's fused activation after ``x`` as ``<layer>.act`` (none if linear)."""
    op = activation_op(cx, cx.cfg.get(key, "linear"))
    return x if op is None else cx.emit(op, [x], "act")


@converter("Activation")
def activation(cx: LayerContext) -> str:
    op = activation_op(cx, cx.cfg["activation"])
    return cx.emit(op or ops.Identity(), [cx.input])


@converter("ReLU")
def relu(cx: LayerContext) -> str:
    cfg = cx.cfg
    max_value = cfg.get("max_value")
    op = ops.ReLU(
        max_value=None if max_value is None else number(max_value, "max_value"),
        negative_slope=number(cfg.get("negative_slope", 0.0) or 0.0, "negative_slope"),
        threshold=number(cfg.get("threshold", 0.0) or 0.0, "threshold"),
    )
    return cx.emit(op, [cx.input])


@converter("LeakyReLU")
def leaky_relu(cx: LayerContext) -> str:
    # Keras 2 calls the slope 'alpha' (default 0.3), Keras 3 'negative_slope' (default 0.3)
    cfg = cx.cfg
    slope = cfg["negative_slope"] if "negative_slope" in cfg else cfg.get("alpha", 0.3)
    return cx.emit(ops.ReLU(negative_slope=number(slope, "negative_slope")), [cx.input])


@converter("ThresholdedReLU")
def thresholded_relu(cx: LayerContext) -> str:
    # x if x > theta else 0: Keras relu semantics with a threshold
    return cx.emit(ops.ReLU(threshold=number(cx.cfg.get("theta", 1.0), "theta")), [cx.input])


@converter("Softmax")
def softmax(cx: LayerContext) -> str:
    return cx.emit(ops.Softmax(axis=single_axis(cx, cx.cfg.get("axis", -1))), [cx.input])


@converter("ELU")
def elu(cx: LayerContext) -> str:
    return cx.emit(ops.Elu(alpha=number(cx.cfg.get("alpha", 1.0), "alpha")), [cx.input])


@converter("PReLU")
def prelu(cx: LayerContext) -> str:
    # A PReLU with one slope everywhere is a leaky ReLU; learned per-unit slopes are not.
    cx.cfg.ignore("shared_axes")  # only shapes alpha, which is inspected directly
    (alpha,) = cx.weights("alpha")
    if alpha.size == 0 or not np.all(alpha == alpha.flat[0]):
        cx.refuse(
            "PReLU has learned per-unit slopes; the IR only has one negative slope "
            "per layer (use LeakyReLU)"
        )
    return cx.emit(ops.ReLU(negative_slope=float(alpha.flat[0])), [cx.input])

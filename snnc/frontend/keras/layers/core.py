"""Core layers: Dense, and the layers that are the identity at inference time."""

from __future__ import annotations

from snnc.frontend.keras.context import LayerContext
from snnc.frontend.keras.layers.activations import apply_activation
from snnc.frontend.keras.registry import converter
from snnc.ir import ops


@converter("Dense")
def dense(cx: LayerContext) -> str:
    # nn.dense acts on the last axis, so rank > 2 inputs work as in Keras
    cfg = cx.cfg
    cfg.ignore("units")  # the kernel's shape says it
    kernel, bias = cx.weights("kernel", "bias" if cfg.get("use_bias", True) else None)
    y = cx.emit(ops.Dense(weight=kernel, bias=bias), [cx.input])
    return apply_activation(cx, y)


# Noise, dropout and regularisation only act while training; data augmentation layers
# pass their input through unchanged at inference.
INFERENCE_IDENTITY = (
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Identity",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
)


@converter(*INFERENCE_IDENTITY)
def identity(cx: LayerContext) -> str:
    cx.cfg.ignore_all()  # rates, seeds, noise shapes, factors: training-time only
    return cx.emit(ops.Identity(), [cx.input])

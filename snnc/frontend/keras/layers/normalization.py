"""Normalisation with fixed statistics: BatchNormalization, Normalization, Rescaling."""

from __future__ import annotations

import numpy as np

from snnc.frontend.keras.context import LayerContext
from snnc.frontend.keras.layers.common import number, single_axis
from snnc.frontend.keras.registry import converter
from snnc.ir import ops

#: keras.backend.epsilon(): the floor of Normalization's standard deviation
KERAS_EPSILON = 1e-7


@converter("BatchNormalization")
def batch_norm(cx: LayerContext) -> str:
    cfg = cx.cfg
    if cfg.get("renorm", False):
        cx.refuse("batch renormalization (renorm=True) adds weights snnc does not read")
    cfg.ignore("renorm_clipping", "renorm_momentum")  # training-only
    axis = single_axis(cx, cfg.get("axis", -1))
    # without scale / center Keras has no gamma / beta and the later weights move up
    gamma, beta, mean, var = cx.weights(
        "gamma" if cfg.get("scale", True) else None,
        "beta" if cfg.get("center", True) else None,
        "moving_mean",
        "moving_variance",
    )
    op = ops.BatchNorm(
        gamma=gamma,
        beta=beta,
        mean=mean,
        var=var,
        epsilon=number(cfg.get("epsilon", 1e-3), "epsilon"),
        axis=axis,
    )
    return cx.emit(op, [cx.input])


@converter("Normalization")
def normalization(cx: LayerContext) -> str:
    """``(x - mean) / max(sqrt(var), eps)`` (or its inverse) as an affine map."""
    cfg = cx.cfg
    if cfg.get("mean") is not None:  # statistics given in the constructor: no weights
        mean, var = np.asarray(cfg["mean"], np.float64), np.asarray(cfg["variance"], np.float64)
        cx.weights()
    else:  # adapted statistics are weights (mean, variance, count)
        mean, var, _count = cx.weights("mean", "variance", "count")
        cfg.ignore("variance")
    axes = cfg.get("axis", -1)
    axes = [] if axes is None else [axes] if isinstance(axes, int) else list(axes)
    mean, var = np.asarray(mean, np.float64).reshape(-1), np.asarray(var, np.float64).reshape(-1)
    std = np.maximum(np.sqrt(var), KERAS_EPSILON)
    if cfg.get("invert", False):
        scale, offset = std, mean
    else:
        scale, offset = 1.0 / std, -mean / std
    if scale.size == 1:  # one statistic for everything
        return cx.emit(ops.Affine(scale=scale[0], offset=offset[0]), [cx.input])
    return cx.emit(ops.Affine(scale=scale, offset=offset, axis=single_axis(cx, axes)), [cx.input])


@converter("Rescaling")
def rescaling(cx: LayerContext) -> str:
    # a scalar, or (Keras 3) one value per channel
    scale = np.asarray(cx.cfg.get("scale", 1.0), np.float64).reshape(-1)
    offset = np.asarray(cx.cfg.get("offset", 0.0), np.float64).reshape(-1)
    op = ops.Affine(
        scale=scale[0] if scale.size == 1 else scale,
        offset=offset[0] if offset.size == 1 else offset,
        axis=-1,
    )
    return cx.emit(op, [cx.input])

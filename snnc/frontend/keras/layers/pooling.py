"""Pooling: average / max pooling (1-3 D) and their global versions."""

from __future__ import annotations

from snnc.frontend.keras.context import LayerContext
from snnc.frontend.keras.layers.common import in_channels_last, ints, padding_mode, spatial_dims
from snnc.frontend.keras.registry import converter
from snnc.ir import ops


def _names(*prefixes: str) -> list[str]:
    return [f"{p}{n}D" for p in prefixes for n in (1, 2, 3)]


@converter(*_names("AveragePooling", "AvgPool", "MaxPooling", "MaxPool"))
def pool(cx: LayerContext) -> str:
    cfg = cx.cfg
    n = spatial_dims(cx)
    size = ints(cfg["pool_size"], n, "pool_size")
    # Keras 3 may store strides=None, meaning "the pool size"
    strides = ints(cfg.get("strides") or size, n, "strides")
    padding = padding_mode(cx)
    kind = ops.MaxPool if "Max" in cx.layer.class_name else ops.AvgPool
    op = kind(pool_size=size, strides=strides, padding=padding)
    return in_channels_last(cx, cx.input, n, lambda x: cx.emit(op, [x]))


@converter(*_names("GlobalAveragePooling", "GlobalAvgPool", "GlobalMaxPooling", "GlobalMaxPool"))
def global_pool(cx: LayerContext) -> str:
    n = spatial_dims(cx)
    kind = ops.GlobalMaxPool if "Max" in cx.layer.class_name else ops.GlobalAvgPool
    op = kind(n_spatial=n, keepdims=bool(cx.cfg.get("keepdims", False)))
    return in_channels_last(cx, cx.input, n, lambda x: cx.emit(op, [x]))

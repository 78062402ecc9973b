"""Shape layers: Flatten, Reshape, Permute, ZeroPadding, Cropping, UpSampling.

Inside ``TimeDistributed`` (``cx.lead`` leading dims) each layer acts per time step, so the
leading dims are kept as they are.
"""

from __future__ import annotations

import math

from snnc.frontend.keras.context import LayerContext
from snnc.frontend.keras.layers.common import (
    channel_pads,
    data_format,
    in_channels_last,
    ints,
    pairs,
    spatial_dims,
    whole,
)
from snnc.frontend.keras.registry import converter
from snnc.ir import ops


@converter("Flatten")
def flatten(cx: LayerContext) -> str:
    x, lead = cx.input, cx.lead
    rank = cx.in_type.rank
    # Keras moves a channels_first input to channels-last before flattening, so that the
    # next Dense sees the same order in both layouts.
    if data_format(cx) == "channels_first" and rank - lead >= 2:
        perm = (*range(lead), *range(lead + 1, rank), lead)
        x = cx.emit(ops.Transpose(perm=perm), [x], "to_channels_last")
    if lead == 0:
        return cx.emit(ops.Flatten(), [x])
    shape = cx.type_of(x).shape
    return cx.emit(ops.Reshape(shape=shape[:lead] + (math.prod(shape[lead:]),)), [x])


@converter("Reshape")
def reshape(cx: LayerContext) -> str:
    shape = cx.in_type.shape
    lead, size = shape[: cx.lead], math.prod(shape[cx.lead :])
    raw = cx.cfg["target_shape"]
    if not isinstance(raw, list):
        raise ValueError(f"target_shape: expected a list of sizes, got {raw!r}")
    target = [whole(d, "target_shape", -1) for d in raw]
    if 0 in target:
        raise ValueError(f"target_shape: expected sizes >= 1 (or one -1), got {raw!r}")
    if target.count(-1) > 1:
        cx.refuse(f"target_shape {target} has more than one -1")
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        target[target.index(-1)] = size // known if known else 0
    return cx.emit(ops.Reshape(shape=lead + tuple(target)), [cx.input])


@converter("Permute")
def permute(cx: LayerContext) -> str:
    # Keras dims are 1-based sample axes
    raw = cx.cfg["dims"]
    if not isinstance(raw, list):
        raise ValueError(f"dims: expected a list of axes, got {raw!r}")
    dims = [whole(d, "dims", 1) for d in raw]
    perm = (*range(cx.lead), *(cx.lead + d - 1 for d in dims))
    return cx.emit(ops.Transpose(perm=perm), [cx.input])


@converter("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")
def zero_padding(cx: LayerContext) -> str:
    spatial = pairs(cx.cfg["padding"], spatial_dims(cx))
    return cx.emit(ops.Pad(pads=channel_pads(cx, spatial, data_format(cx))), [cx.input])


@converter("Cropping1D", "Cropping2D", "Cropping3D")
def cropping(cx: LayerContext) -> str:
    spatial = pairs(cx.cfg["cropping"], spatial_dims(cx), "cropping")
    return cx.emit(ops.Crop(crops=channel_pads(cx, spatial, data_format(cx))), [cx.input])


@converter("UpSampling1D", "UpSampling2D", "UpSampling3D")
def upsampling(cx: LayerContext) -> str:
    n = spatial_dims(cx)
    interpolation = cx.cfg.get("interpolation", "nearest")
    if interpolation != "nearest":
        cx.refuse(f"interpolation '{interpolation}' is not supported (only 'nearest')")
    op = ops.Upsample(scale=ints(cx.cfg.get("size", 2), n, "size"))
    return in_channels_last(cx, cx.input, n, lambda x: cx.emit(op, [x]))

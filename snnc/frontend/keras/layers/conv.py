"""Convolutions: Conv1D/2D/3D, transposed, depthwise and separable.

Conv weights stay in Keras layout ``[*kernel, in // groups, out]``; only Conv2DTranspose's
``[kh, kw, out, in]`` is swapped to the IR's ``[kh, kw, in, out]``. A depthwise 1-D conv is a
grouped conv1d (one group per input channel), since the IR has no depthwise_conv1d.
"""

from __future__ import annotations

import numpy as np

from snnc.frontend.keras.context import LayerContext
from snnc.frontend.keras.layers.activations import apply_activation
from snnc.frontend.keras.layers.common import (
    in_channels_last,
    ints,
    padding_mode,
    spatial_dims,
    whole,
    window_padding,
)
from snnc.frontend.keras.registry import converter
from snnc.ir import ops

_CONV_OPS = {1: ops.Conv1D, 2: ops.Conv2D, 3: ops.Conv3D}


def _geometry(cx: LayerContext):
    """Read kernel_size, strides and dilation_rate: ``(n_spatial, kernel_size, strides,
    dilation)``."""
    cfg = cx.cfg
    n = spatial_dims(cx)
    size = ints(cfg["kernel_size"], n, "kernel_size")
    strides = ints(cfg.get("strides", 1), n, "strides")
    dilation = ints(cfg.get("dilation_rate", 1), n, "dilation_rate")
    return n, size, strides, dilation


def _check_kernel(name: str, kernel: np.ndarray, size: tuple[int, ...]) -> None:
    """The weight must be a ``[*kernel_size, in, out]`` array: the config and the weights
    of a damaged or edited file may disagree, and the weights would silently win."""
    if kernel.ndim != len(size) + 2 or tuple(kernel.shape[: len(size)]) != size:
        raise ValueError(
            f"{name}: expected shape [{', '.join(map(str, size))}, in, out] "
            f"(kernel_size {list(size)}), got {list(kernel.shape)}"
        )


def _use_bias(cx: LayerContext) -> bool:
    return bool(cx.cfg.get("use_bias", True))


@converter("Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D")
def conv(cx: LayerContext) -> str:
    n, size, strides, dilation = _geometry(cx)
    cx.cfg.ignore("filters")  # the kernel's shape says it
    kernel, bias = cx.weights("kernel", "bias" if _use_bias(cx) else None)
    _check_kernel("kernel", kernel, size)
    groups = whole(cx.cfg.get("groups", 1), "groups", 1)
    padding = window_padding(cx, kernel.shape[:n], dilation)
    op = _CONV_OPS[n](
        weight=kernel, bias=bias, strides=strides, padding=padding, dilation=dilation, groups=groups
    )
    return in_channels_last(cx, cx.input, n, lambda x: apply_activation(cx, cx.emit(op, [x])))


def transpose_crops(n_in, kernel, strides, dilation, padding, output_padding):
    """Crop pairs that turn the IR's full transposed-conv output into TensorFlow's.

    The IR computes the full output, ``(n - 1) * s + k_eff`` long. Keras picks the output
    length (``deconv_output_length``) and TensorFlow's conv2d_transpose takes the window
    that the matching forward conv would see: it starts at that conv's ``pad_before``
    ("same": half the total padding, rounded down; "valid": 0). A negative 'after' crop
    appends zeros (when the stride exceeds the kernel).
    """
    crops = []
    for i, (size, k, s, d) in enumerate(zip(n_in, kernel, strides, dilation, strict=True)):
        k_eff = (k - 1) * d + 1
        full = (size - 1) * s + k_eff
        if output_padding is None:
            out = size * s + max(k_eff - s, 0) if padding == "valid" else size * s
        else:
            pad = k_eff // 2 if padding == "same" else 0
            out = (size - 1) * s + k_eff - 2 * pad + output_padding[i]
        before = max(full - out, 0) // 2 if padding == "same" else 0
        crops.append((before, full - out - before))
    return tuple(crops)


@converter("Conv2DTranspose", "Convolution2DTranspose", "Conv1DTranspose", "Convolution1DTranspose")
def conv_transpose(cx: LayerContext) -> str:
    """Conv2DTranspose; Conv1DTranspose runs as a 2-D one on a (length, 1) image."""
    cfg = cx.cfg
    n, size, strides, dilation = _geometry(cx)
    cfg.ignore("filters")
    if whole(cfg.get("groups", 1), "groups", 1) != 1:
        cx.refuse("grouped transposed convolutions are not supported")
    padding = padding_mode(cx)
    out_pad = cfg.get("output_padding")
    out_pad = None if out_pad is None else ints(out_pad, n, "output_padding", minimum=0)
    kernel, bias = cx.weights("kernel", "bias" if _use_bias(cx) else None)
    _check_kernel("kernel", kernel, size)
    weight = np.swapaxes(kernel, -1, -2)  # Keras [*k, out, in] -> IR [*k, in, out]

    def body(x: str) -> str:
        spatial = cx.type_of(x).shape[-n - 1 : -1]
        crops = transpose_crops(spatial, kernel.shape[:n], strides, dilation, padding, out_pad)
        if n == 2:
            op = ops.ConvTranspose2D(
                weight=weight, bias=bias, strides=strides, padding=crops, dilation=dilation
            )
            return apply_activation(cx, cx.emit(op, [x]))
        # 1-D: (..., L, C) -> (..., L, 1, C), a (k, 1) kernel, and back
        shape = cx.type_of(x).shape
        x2 = cx.emit(ops.Reshape(shape=shape[:-1] + (1, shape[-1])), [x], "to_2d")
        op = ops.ConvTranspose2D(
            weight=weight[:, None],
            bias=bias,
            strides=(strides[0], 1),
            padding=(crops[0], (0, 0)),
            dilation=(dilation[0], 1),
        )
        y2 = cx.emit(op, [x2])
        out = cx.type_of(y2).shape
        y = cx.emit(ops.Reshape(shape=out[:-3] + (out[-3], out[-1])), [y2], "to_1d")
        return apply_activation(cx, y)

    return in_channels_last(cx, cx.input, n, body)


def _depthwise_as_grouped(kernel: np.ndarray) -> np.ndarray:
    """A depthwise kernel ``[*k, in, mult]`` as a grouped-conv kernel ``[*k, 1, in * mult]``
    (groups = in; output channel ``c * mult + j``, as Keras orders them)."""
    *k, cin, mult = kernel.shape
    return kernel.reshape(*k, 1, cin * mult)


def _depthwise(cx, n, kernel, bias, strides, dilation, padding):
    """A function emitting the depthwise conv (node ``<layer>``) of its argument."""

    def body(x: str) -> str:
        if n == 2:
            op = ops.DepthwiseConv2D(
                weight=kernel, bias=bias, strides=strides, padding=padding, dilation=dilation
            )
        else:
            op = ops.Conv1D(
                weight=_depthwise_as_grouped(kernel),
                bias=bias,
                strides=strides,
                padding=padding,
                dilation=dilation,
                groups=kernel.shape[-2],
            )
        return cx.emit(op, [x])

    return body


@converter("DepthwiseConv2D", "DepthwiseConv1D")
def depthwise_conv(cx: LayerContext) -> str:
    n, size, strides, dilation = _geometry(cx)
    cx.cfg.ignore("depth_multiplier", "groups")  # the kernel's shape says the multiplier
    kernel, bias = cx.weights("depthwise_kernel", "bias" if _use_bias(cx) else None)
    _check_kernel("depthwise_kernel", kernel, size)
    padding = window_padding(cx, kernel.shape[:n], dilation)
    conv_fn = _depthwise(cx, n, kernel, bias, strides, dilation, padding)
    return in_channels_last(cx, cx.input, n, lambda x: apply_activation(cx, conv_fn(x)))


@converter("SeparableConv2D", "SeparableConv1D", "SeparableConvolution2D", "SeparableConvolution1D")
def separable_conv(cx: LayerContext) -> str:
    """A depthwise conv (node ``<layer>``) then a 1x1 pointwise conv (``<layer>.pointwise``)."""
    n, size, strides, dilation = _geometry(cx)
    cx.cfg.ignore("filters", "depth_multiplier")
    if whole(cx.cfg.get("groups", 1), "groups", 1) != 1:
        cx.refuse("grouped separable convolutions are not supported")
    dw, pw, bias = cx.weights(
        "depthwise_kernel", "pointwise_kernel", "bias" if _use_bias(cx) else None
    )
    _check_kernel("depthwise_kernel", dw, size)
    padding = window_padding(cx, dw.shape[:n], dilation)
    depthwise = _depthwise(cx, n, dw, None, strides, dilation, padding)

    def body(x: str) -> str:
        pointwise = _CONV_OPS[n](
            weight=pw, bias=bias, strides=(1,) * n, padding="valid", dilation=(1,) * n
        )
        y = cx.emit(pointwise, [depthwise(x)], "pointwise")
        return apply_activation(cx, y)

    return in_channels_last(cx, cx.input, n, body)

"""The converter registry: one function per Keras layer class.

A converter takes a :class:`~snnc.frontend.keras.context.LayerContext` and returns the IR
node name of the layer's output (or a list, one per output tensor)::

    @converter("Dense")
    def dense(cx):
        kernel, bias = cx.weights("kernel", "bias")
        y = cx.emit(ops.Dense(weight=kernel, bias=bias))
        return apply_activation(cx, y)

It reads options from ``cx.cfg`` (a tracked config: options it does not read are reported
unless harmless) and calls ``cx.refuse(reason)`` for what the IR cannot express.
Layer classes that can never be converted are listed in :data:`REFUSED` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable

#: Keras class name -> converter function
REGISTRY: dict[str, Callable] = {}

_RECURRENT = "recurrent layers keep state across time steps; snnc converts feed-forward models only"
_ATTENTION = "attention multiplies two activations, which has no spiking equivalent in snnc"
_PRODUCT = "it multiplies or compares two signals, which is nonlinear and has no spiking equivalent"
_CUSTOM_CODE = (
    "it runs arbitrary Python code, which snnc cannot translate; use built-in Keras layers"
)
_LAYERNORM = "per-sample normalisation divides by a data-dependent statistic, which spiking neurons cannot compute"

#: Keras classes snnc knows and refuses, with the reason shown to the user
REFUSED: dict[str, str] = {
    **{
        c: _RECURRENT
        for c in (
            "LSTM",
            "GRU",
            "SimpleRNN",
            "RNN",
            "Bidirectional",
            "ConvLSTM1D",
            "ConvLSTM2D",
            "ConvLSTM3D",
            "LSTMCell",
            "GRUCell",
            "SimpleRNNCell",
            "StackedRNNCells",
            "CuDNNLSTM",
            "CuDNNGRU",
        )
    },
    **{
        c: _ATTENTION
        for c in ("Attention", "AdditiveAttention", "MultiHeadAttention", "GroupQueryAttention")
    },
    **{c: _PRODUCT for c in ("Multiply", "Maximum", "Minimum", "Dot")},
    **{c: _CUSTOM_CODE for c in ("Lambda", "TFOpLambda", "SlicingOpLambda")},
    **{
        c: _LAYERNORM
        for c in (
            "LayerNormalization",
            "GroupNormalization",
            "UnitNormalization",
            "RMSNormalization",
        )
    },
    "Embedding": "an embedding is a table lookup on integer inputs, not a linear map of rates",
    "Masking": "masking depends on the input values (snnc has no masks)",
    "LocallyConnected1D": "locally connected layers (unshared weights) are not supported",
    "LocallyConnected2D": "locally connected layers (unshared weights) are not supported",
    "Conv3DTranspose": "the IR has no 3-D transposed convolution",
    "RepeatVector": "RepeatVector is not supported (the IR has no tile op)",
    "Resizing": "image resizing is not supported (use UpSampling2D with nearest interpolation)",
    "CenterCrop": "CenterCrop is not supported (use Cropping2D)",
    "EinsumDense": "EinsumDense is not supported (use Dense)",
    "Discretization": "Discretization bins values, which is not linear",
    "CategoryEncoding": "CategoryEncoding works on integer inputs",
    "Hashing": "Hashing works on integer or string inputs",
    "StringLookup": "StringLookup works on string inputs",
    "IntegerLookup": "IntegerLookup works on integer inputs",
    "TextVectorization": "TextVectorization works on string inputs",
}


def converter(*class_names: str):
    """Register the decorated function as the converter of the Keras ``class_names``."""

    def deco(fn: Callable) -> Callable:
        for name in class_names:
            if name in REGISTRY:
                raise ValueError(f"a converter for Keras class {name!r} is already registered")
            REGISTRY[name] = fn
        return fn

    return deco


def refusal_reason(class_name: str, module: str | None = None) -> str:
    """Why a layer class without a converter cannot be converted."""
    if module and ".ops." in f"{module}.":
        return (
            f"a raw keras.ops operation ('{class_name}' from {module}, e.g. `x + y` on "
            "Keras tensors) is not supported; use the equivalent keras.layers layer"
        )
    if class_name in REFUSED:
        return REFUSED[class_name]
    return (
        f"unknown layer class '{class_name}' (a custom layer?); snnc converts built-in "
        "Keras layers only"
    )


def lookup(class_name: str, module: str | None = None) -> Callable | None:
    """The converter of a Keras class, or None (then :func:`refusal_reason` says why)."""
    if module and ".ops." in f"{module}.":
        return None  # keras.ops operations share class names with layers (Add, ...)
    return REGISTRY.get(class_name)


def supported_layers() -> list[str]:
    """Sorted Keras class names that have a converter."""
    from snnc.frontend.keras import layers  # noqa: F401 - registers the converters

    return sorted(REGISTRY)

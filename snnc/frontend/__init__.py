"""Model frontends: read a trained model into snnc IR (:func:`load`)."""

from __future__ import annotations

from snnc.frontend.limits import DEFAULT_LIMITS, LimitError, Limits
from snnc.ir.graph import Graph


def load(source, *, name: str | None = None, limits: Limits | None = None) -> Graph:
    """Load a trained Keras model as an ANN-stage IR graph.

    Args:
        source: a path (``str`` or ``os.PathLike``) to a ``.keras`` zip (written by Keras
            2.12 with ``save_format="keras_v3"`` or by Keras 3) or a legacy HDF5 model file
            (any file name: the format is told by the file's first bytes), or an in-memory
            ``tf.keras.Model``. Reading a file never imports TensorFlow.
        name: the graph's name (default: the Keras model's name).
        limits: resource limits (file member sizes, config size and nesting, layers,
            weights, activations); default :data:`~snnc.frontend.limits.DEFAULT_LIMITS`.
            Raise them for a large model you trust, e.g. ``Limits(max_params=10**9)``.

    Returns:
        A :class:`snnc.ir.Graph` with ``dt = 0.001``: one ``nn.input`` per model input
        (named after its InputLayer), one node per layer (named after it; fused activations
        and other helper nodes get dotted suffixes such as ``conv1.act``) and one
        ``nn.output`` per model output (``<layer>.output``).

    Raises:
        snnc.errors.ModelFileError: the file is missing, not a Keras model, truncated, has
            broken JSON, misses weights, or has NaN/inf weights.
        snnc.errors.UnsupportedModelError: listing every layer (and option) snnc cannot
            convert, with the reason.
        snnc.frontend.LimitError: (a ModelFileError) the model exceeds one of ``limits``;
            the message names the limit and how to raise it.
    """
    from snnc.frontend.keras import load_keras

    return load_keras(source, name=name, limits=DEFAULT_LIMITS if limits is None else limits)


__all__ = ["DEFAULT_LIMITS", "LimitError", "Limits", "load"]

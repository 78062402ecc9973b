"""The Keras frontend: Keras 2.12 / Keras 3 models (files or in-memory) to snnc IR.

Pipeline: :mod:`.reader` (file formats -> :class:`.spec.ModelSpec`) ->
:mod:`.builder` (spec -> :class:`snnc.ir.Graph`, using the converters in :mod:`.layers`
registered in :mod:`.registry`).
"""

from __future__ import annotations

from snnc.frontend.limits import DEFAULT_LIMITS, Limits
from snnc.ir.graph import Graph


def load_keras(source, *, name: str | None = None, limits: Limits = DEFAULT_LIMITS) -> Graph:
    """Load a Keras model (path or in-memory ``tf.keras.Model``) as an IR graph.

    See :func:`snnc.frontend.load`.
    """
    from snnc.frontend.keras.builder import build_graph
    from snnc.frontend.keras.reader import read

    if not isinstance(limits, Limits):
        from snnc.errors import SnncError

        raise SnncError(
            f"limits: expected a snnc.frontend.Limits, got {type(limits).__name__}",
            hint="e.g. limits=snnc.frontend.Limits(max_params=10**9)",
        )
    spec, where = read(source, limits)
    return build_graph(spec, where, name=name, limits=limits)


def supported_layers() -> list[str]:
    """Keras layer classes snnc converts."""
    from snnc.frontend.keras.registry import supported_layers as _supported

    return _supported()


__all__ = ["load_keras", "supported_layers"]

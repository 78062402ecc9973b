"""Converter functions, one per Keras layer class, grouped by kind.

Importing this package registers them all in :data:`snnc.frontend.keras.registry.REGISTRY`.
"""

from snnc.frontend.keras.layers import (  # noqa: F401 - imported for registration
    activations,
    conv,
    core,
    merge,
    normalization,
    pooling,
    reshaping,
    wrappers,
)

"""Wrappers: TimeDistributed applies its inner layer to every step of axis 1.

IR conv / pooling / dense ops treat extra leading dims like a batch, so the inner layer's
own converter does the work, with ``cx.lead`` one higher (its axes shift by one).
"""

from __future__ import annotations

from snnc.frontend.keras.context import LayerContext
from snnc.frontend.keras.registry import converter, lookup, refusal_reason
from snnc.frontend.keras.spec import MODEL_CLASSES, LayerSpec


@converter("TimeDistributed")
def time_distributed(cx: LayerContext):
    entry = cx.cfg["layer"]
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ValueError(f"layer: expected a serialized layer with a class_name, got {entry!r:.80}")
    cls, config = entry["class_name"], entry.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(
            f"layer: expected the inner layer's config to be an object, got {config!r:.80}"
        )
    if cls in MODEL_CLASSES:
        cx.refuse("TimeDistributed over a nested model is not supported")
    # the wrapper's weights are its inner layer's
    inner = LayerSpec(
        config.get("name", cls), cls, config, entry.get("module"), weights=cx.layer.weights
    )
    fn = lookup(cls, inner.module)
    if fn is None:
        cx.refuse(f"its inner layer cannot be converted: {refusal_reason(cls, inner.module)}")
    return fn(cx.wrapped(inner))

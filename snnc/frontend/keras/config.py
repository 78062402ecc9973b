"""The tracked layer config: a read-only dict that remembers which keys a converter read.

A converter reads the options it understands. Whatever it did not read must be irrelevant
at inference time (names, initializers, regularizers, ...) or sit at its default value;
anything else is an option snnc would silently get wrong, so :meth:`TrackedConfig.leftovers`
reports it and the builder turns it into an "unsupported option" problem.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

#: keys that never change what a trained layer computes at inference time
IRRELEVANT_KEYS = frozenset(
    {
        "name",
        "trainable",
        "dtype",
        "autocast",
        "batch_input_shape",
        "batch_shape",
        "input_shape",
        "input_dim",
        "input_length",
        "build_config",
        "seed",
        "momentum",
        "synchronized",
        "shared_object_id",
    }
)
#: key suffixes of training-only options (initializers, regularizers, constraints)
IRRELEVANT_SUFFIXES = ("_initializer", "_regularizer", "_constraint")

#: options that are harmless while at these values (a converter need not read them)
DEFAULTS: dict[str, Any] = {
    "sparse": False,
    "ragged": False,
    "optional": False,
    "quantization_config": None,
    "lora_rank": None,
    "lora_alpha": None,
    "lora_enabled": False,
    "virtual_batch_size": None,
    "adjustment": None,
}


class TrackedConfig(Mapping):
    """A layer config that records every key read through ``[]``, ``get`` or ``in``."""

    def __init__(self, data: Mapping[str, Any]):
        self._data = dict(data)
        self._read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self._read.add(key)
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self._read.add(key)
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def ignore(self, *keys: str) -> None:
        """Mark ``keys`` as handled: they do not matter for this layer at inference."""
        self._read.update(keys)

    def ignore_all(self) -> None:
        """Mark every key as handled (layers that are the identity at inference)."""
        self._read.update(self._data)

    def leftovers(self) -> dict[str, Any]:
        """Options nobody read that may change the result: ``{key: value}``."""
        out = {}
        for key, value in self._data.items():
            if key in self._read or key in IRRELEVANT_KEYS or key.endswith(IRRELEVANT_SUFFIXES):
                continue
            if key in DEFAULTS and value == DEFAULTS[key]:
                continue
            out[key] = value
        return out

    def __repr__(self) -> str:
        return f"TrackedConfig({self._data!r})"

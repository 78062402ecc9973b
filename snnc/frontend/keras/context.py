"""What a converter sees of the model being built: :class:`LayerContext`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NoReturn

import numpy as np

from snnc.errors import ModelFileError
from snnc.frontend.keras.config import TrackedConfig
from snnc.frontend.keras.spec import LayerSpec
from snnc.ir.graph import Graph
from snnc.ir.ops import Op
from snnc.ir.types import TensorType


class Unsupported(Exception):
    """Raised by a converter: this layer (as configured) cannot be converted."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class LayerContext:
    """One call of one Keras layer, while it is being converted.

    Attributes:
        graph: the graph being built.
        name: base IR node name of this call (``conv1``, ``inner/conv1``, ``dense.call1``).
        path: the Keras layer path for messages (``inner/conv1``).
        layer: the layer's spec (class, weights, raw config).
        cfg: the tracked config (read options through it).
        inputs: IR node names of the call's input values.
        keras3: the model was written by Keras 3 (some defaults and semantics differ).
        lead: number of leading per-sample dims the layer treats like a batch (1 inside
            ``TimeDistributed``): Keras axes of the wrapped layer are shifted by it.
        source: the model file (for error messages).
    """

    def __init__(
        self,
        graph: Graph,
        name: str,
        path: str,
        layer: LayerSpec,
        inputs: Sequence[str],
        *,
        keras3: bool,
        source: str,
        lead: int = 0,
        configs: list[TrackedConfig] | None = None,
        keras_class: str | None = None,
        on_add: Callable[[str], None] | None = None,
    ):
        self.graph = graph
        self.name = name
        self.path = path
        self.layer = layer
        self.inputs = list(inputs)
        self.keras3 = keras3
        self.source = source
        self.lead = lead
        self.keras_class = keras_class or layer.class_name
        #: called with every node this call adds (the builder counts values against limits)
        self.on_add = on_add
        self.cfg = TrackedConfig(layer.config)
        #: every tracked config used for this call (a wrapper adds its inner layer's)
        self.configs = configs if configs is not None else []
        self.configs.append(self.cfg)

    # ------------------------------------------------------------------ inputs
    @property
    def input(self) -> str:
        """The single input node (refuses a layer called on several tensors)."""
        if len(self.inputs) != 1:
            self.refuse(f"expected one input tensor, got {len(self.inputs)}")
        return self.inputs[0]

    def type_of(self, node: str) -> TensorType:
        return self.graph.type(node)

    @property
    def in_type(self) -> TensorType:
        """Type of the single input."""
        return self.type_of(self.input)

    # ------------------------------------------------------------------ weights
    def weights(self, *names: str | None) -> list[np.ndarray | None]:
        """The layer's weight arrays in Keras order, one per name; a None name skips a slot
        that this configuration does not have and yields None.

        Raises ModelFileError when the file holds a different number of arrays or a
        parameter is not finite (naming the layer and the parameter).
        """
        present = [n for n in names if n is not None]
        found = self.layer.weights
        if len(found) != len(present):
            shapes = ", ".join(str(list(np.shape(w))) for w in found) or "none"
            raise ModelFileError(
                f"{self.source}: layer '{self.path}' ({self.layer.class_name}) should have "
                f"{len(present)} weight array(s) ({', '.join(present) or 'none'}), the model "
                f"holds {len(found)} ({shapes})",
                hint="the weights are missing or do not match the config; re-save the model",
            )
        arrays = iter(found)
        out: list[np.ndarray | None] = []
        for n in names:
            if n is None:
                out.append(None)
                continue
            with np.errstate(over="ignore"):  # beyond float32's range: inf, reported below
                a = np.asarray(next(arrays), dtype=np.float32)
            bad = a.size - int(np.count_nonzero(np.isfinite(a)))
            if bad:
                raise ModelFileError(
                    f"{self.source}: layer '{self.path}' ({self.layer.class_name}): parameter "
                    f"'{n}' has {bad} non-finite value(s) (NaN, inf, or beyond float32's range)",
                    hint="retrain or repair the weights; snnc cannot convert NaN/inf parameters",
                )
            out.append(a)
        return out

    # ------------------------------------------------------------------ building
    def emit(self, op: Op, inputs: Sequence[str] | None = None, suffix: str | None = None) -> str:
        """Add ``op`` as node ``<name>`` (or ``<name>.<suffix>``) fed by ``inputs`` (default:
        the layer's inputs). Returns the node name."""
        bad = _non_finite(op)
        if bad:
            # options come from the config as written (a stranger's file may hold NaN,
            # Infinity or 1e999); weights were checked when read
            self.refuse(f"its options make {op.kind} {bad} (expected finite numbers)")
        name = self.name if suffix is None else f"{self.name}.{suffix}"
        name = self.graph.unique_name(name)
        meta = {"keras_layer": self.path, "keras_class": self.keras_class}
        node = self.graph.add(name, op, self.inputs if inputs is None else list(inputs), meta=meta)
        if self.on_add is not None:
            self.on_add(node)
        return node

    def axis(self, keras_axis: int) -> int:
        """A Keras axis (which counts the batch) as an IR sample-axis index."""
        if isinstance(keras_axis, bool) or not isinstance(keras_axis, int):
            raise ValueError(f"axis: expected a whole number, got {keras_axis!r}")
        if keras_axis == 0:
            self.refuse("it acts along axis 0, the batch axis")
        return keras_axis if keras_axis < 0 else keras_axis - 1 + self.lead

    def refuse(self, reason: str) -> NoReturn:
        """Stop converting this layer: ``reason`` is reported to the user."""
        raise Unsupported(reason)

    def wrapped(self, inner: LayerSpec) -> LayerContext:
        """A context for the layer inside a wrapper (TimeDistributed): same node names and
        inputs, one more leading dim."""
        return LayerContext(
            self.graph,
            self.name,
            self.path,
            inner,
            self.inputs,
            keras3=self.keras3,
            source=self.source,
            lead=self.lead + 1,
            configs=self.configs,
            keras_class=f"{self.keras_class}({inner.class_name})",
            on_add=self.on_add,
        )


def _non_finite(op: Op) -> str | None:
    """What about ``op`` is not finite ("have epsilon=nan"), or None."""
    for key, value in op.attrs().items():
        stack = [value]
        while stack:
            v = stack.pop()
            if isinstance(v, (tuple, list)):
                stack.extend(v)
            elif isinstance(v, float) and not math.isfinite(v):
                return f"have {key}={value!r}"
    for key, a in op.param_arrays().items():
        if a.size and not np.all(np.isfinite(a)):
            return f"have non-finite values in '{key}'"
    return None

"""Walk a :class:`ModelSpec` and build the IR graph, collecting every problem first.

Node naming (documented in the README too):

- inputs are named after their InputLayer (``pixels``);
- a layer's main node is named after the layer (``conv1``); nodes a layer adds around it
  get dotted suffixes (``conv1.act`` for a fused activation, ``conv1.to_channels_last`` /
  ``conv1.to_channels_first`` for data-format transposes, ``sep.pointwise``);
- the k-th call (k >= 1) of a shared layer is ``<layer>.call<k>`` (``dense.call1``);
- layers of a nested model are prefixed with the nested model's call name
  (``inner/conv``, ``inner.call1/conv``);
- model outputs are ``nn.output`` nodes named ``<producing layer call>.output``
  (``dense_2.output``, ``inner.output``).

Every node's meta is ``{"keras_layer": <Keras layer path>, "keras_class": <class>}``.

Problems: the whole model is converted into a throw-away graph while problems are
collected; a layer that cannot be converted is replaced by a placeholder so the layers after
it are still checked (errors they raise only because of the placeholder are ignored). If
anything was found, one :class:`~snnc.errors.UnsupportedModelError` lists it all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from snnc.errors import IRError, ModelFileError, UnsupportedModelError
from snnc.frontend.keras import layers as _layers  # noqa: F401 - registers the converters
from snnc.frontend.keras.context import LayerContext, Unsupported
from snnc.frontend.keras.registry import lookup, refusal_reason
from snnc.frontend.keras.spec import LayerSpec, ModelSpec, TensorRef, input_shape
from snnc.ir import ops
from snnc.ir.graph import Graph

#: time step of the graphs the frontend makes (seconds)
DEFAULT_DT = 0.001


def build_graph(spec: ModelSpec, source: str, name: str | None = None) -> Graph:
    """Convert ``spec`` into an ANN-stage IR graph.

    Raises:
        UnsupportedModelError: listing every layer that cannot be converted, and why.
        ModelFileError: when the weights are missing, inconsistent or not finite.
    """
    return _Builder(spec, source, name).build()


def call_name(layer: str, call: int) -> str:
    """IR base name of the ``call``-th call of ``layer``."""
    return layer if call == 0 else f"{layer}.call{call}"


class _Builder:
    def __init__(self, spec: ModelSpec, source: str, name: str | None):
        self.spec = spec
        self.source = source
        self.g = Graph(name or spec.name, dt=DEFAULT_DT)
        self.problems: list[tuple[str, str, str]] = []
        self.poisoned: set[str] = set()  # nodes that stand in for a layer that failed

    def build(self) -> Graph:
        outputs = self._model(self.spec, "", "", bound=None)
        if self.problems:
            raise UnsupportedModelError(self.source, self.problems)
        for i, (ref, node) in enumerate(zip(self.spec.outputs, outputs, strict=True)):
            layer = self.spec.layer(ref.layer)
            name = self.g.unique_name(f"{call_name(ref.layer, ref.call)}.output")
            meta = {"keras_layer": layer.name, "keras_class": layer.class_name}
            self.g.add(name, ops.Output(index=i), [node], meta=meta)
        self.g.remove_dead()
        self.g.changes.clear()  # a fresh graph has no history
        return self.g

    # ------------------------------------------------------------------ problems
    def _problem(self, path: str, cls: str, reason: str) -> None:
        item = (path, cls, reason)
        if item not in self.problems:  # a nested model called twice reports once
            self.problems.append(item)

    def _placeholder(self, base: str, inputs: Sequence[str]) -> list[str]:
        name = self.g.unique_name(base)
        if inputs:
            self.g.add(name, ops.Identity(), [inputs[0]])
        else:
            self.g.add(name, ops.Input(shape=(1,), index=-1))
        self.poisoned.add(name)
        return [name]

    # ------------------------------------------------------------------ models
    def _model(self, spec: ModelSpec, prefix: str, kprefix: str, bound) -> list[str]:
        """Build one (possibly nested) model; ``bound`` are the outer nodes feeding a nested
        model's inputs (None at the top). Returns the output node names."""
        done: dict[tuple[str, int], list[str]] = {}
        for i, ref in enumerate(spec.inputs):
            layer = spec.layer(ref.layer)
            if bound is None:
                done[(ref.layer, 0)] = [self._input(layer, i, prefix + layer.name, kprefix)]
            elif i < len(bound):
                done[(ref.layer, 0)] = [bound[i]]
            else:
                self._problem(
                    kprefix.rstrip("/"),
                    spec.class_name,
                    f"called on {len(bound)} tensor(s), but it has {len(spec.inputs)} input(s)",
                )
                done[(ref.layer, 0)] = self._placeholder(prefix + layer.name, bound[:1])

        def value(ref: TensorRef) -> str:
            outs = done[(ref.layer, ref.call)]
            if ref.index < len(outs):
                return outs[ref.index]
            if outs[0] in self.poisoned:
                return outs[0]
            raise ModelFileError(
                f"{self.source}: layer '{kprefix}{ref.layer}' has no output {ref.index}"
            )

        # Layers are listed in config order, but a shared layer's later call may need a layer
        # listed after it: like Keras, sweep until every call has its inputs.
        pending = [(layer, k) for layer in spec.layers for k in range(len(layer.calls))]
        while pending:
            ready = [
                (lyr, k)
                for lyr, k in pending
                if all((r.layer, r.call) in done for r in lyr.calls[k])
            ]
            if not ready:
                stuck = ", ".join(sorted({lyr.name for lyr, _ in pending}))
                raise ModelFileError(
                    f"{self.source}: model '{spec.name}' has layers whose inputs never become "
                    f"available ({stuck}); the config is inconsistent",
                    hint="re-save the model",
                )
            for layer, k in ready:
                inputs = [value(r) for r in layer.calls[k]]
                done[(layer.name, k)] = self._call(spec, layer, k, inputs, prefix, kprefix)
            pending = [p for p in pending if p not in ready]
        return [value(r) for r in spec.outputs]

    def _input(self, layer: LayerSpec, index: int, name: str, kprefix: str) -> str:
        shape = input_shape(layer)
        meta = {"keras_layer": kprefix + layer.name, "keras_class": "InputLayer"}
        bad = None
        if shape is None:
            bad = (
                "its shape is unknown (the model was never built); start the model with "
                "keras.Input(shape=...) or call model.build(...) before saving"
            )
            shape = [1]
        elif layer.config.get("sparse") or layer.config.get("ragged"):
            bad = "sparse and ragged inputs are not supported (snnc needs dense arrays)"
        elif any(d is None for d in shape):
            bad = (
                f"its shape {[None, *shape]} has dimensions of unknown size; snnc needs a "
                "fixed per-sample shape (give keras.Input a full shape)"
            )
            shape = [1 if d is None else d for d in shape]
        node = self.g.add(
            name, ops.Input(shape=tuple(int(d) for d in shape), index=index), meta=meta
        )
        if bad:
            self._problem(kprefix + layer.name, "InputLayer", bad)
            self.poisoned.add(node)
        return node

    # ------------------------------------------------------------------ layers
    def _call(
        self,
        spec: ModelSpec,
        layer: LayerSpec,
        k: int,
        inputs: list[str],
        prefix: str,
        kprefix: str,
    ) -> list[str]:
        base = prefix + call_name(layer.name, k)
        path = kprefix + layer.name
        if layer.model is not None:
            return self._model(layer.model, base + "/", path + "/", bound=inputs)
        poisoned = any(i in self.poisoned for i in inputs)
        fn = lookup(layer.class_name, layer.module)
        if fn is None:
            self._problem(path, layer.class_name, refusal_reason(layer.class_name, layer.module))
            return self._placeholder(base, inputs)
        cx = LayerContext(self.g, base, path, layer, inputs, keras3=spec.keras3, source=self.source)
        try:
            outs = fn(cx)
        except Unsupported as e:
            self._problem(path, layer.class_name, e.reason)
            return self._placeholder(base, inputs)
        except ModelFileError:
            raise
        except Exception as e:  # noqa: BLE001 - see below
            # Behind a placeholder, shapes are made up and errors are expected: ignore them.
            if poisoned:
                return self._placeholder(base, inputs)
            if isinstance(e, IRError):
                reason = f"its output cannot be built: {e.message}"
            elif isinstance(e, (KeyError, TypeError, ValueError, IndexError)):
                reason = f"its config cannot be read ({type(e).__name__}: {e})"
            else:
                raise
            self._problem(path, layer.class_name, reason)
            return self._placeholder(base, inputs)
        for cfg in cx.configs:
            left = cfg.leftovers()
            if left:
                opts = ", ".join(f"{key}={json.dumps(v)}" for key, v in left.items())
                self._problem(path, layer.class_name, f"unsupported option(s): {opts}")
        outs = [outs] if isinstance(outs, str) else list(outs)
        if poisoned:  # built on made-up shapes: downstream errors are expected too
            self.poisoned.update(outs)
        return outs

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
from snnc.frontend.limits import DEFAULT_LIMITS, LimitError, Limits
from snnc.ir import ops
from snnc.ir.graph import Graph, check_name

#: errors a converter raises on a config value of the wrong type or range (a config from a
#: stranger may hold anything): they become a "config cannot be read" problem of the layer
_CONFIG_ERRORS = (KeyError, TypeError, ValueError, IndexError, ArithmeticError)

#: time step of the graphs the frontend makes (seconds)
DEFAULT_DT = 0.001


def build_graph(
    spec: ModelSpec, source: str, name: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> Graph:
    """Convert ``spec`` into an ANN-stage IR graph.

    Raises:
        UnsupportedModelError: listing every layer that cannot be converted, and why.
        ModelFileError: when the weights are missing, inconsistent or not finite.
        LimitError: when the graph's nodes produce more than ``limits.max_activations``
            values per sample.
    """
    return _Builder(spec, source, name, limits).build()


def call_name(layer: str, call: int) -> str:
    """IR base name of the ``call``-th call of ``layer``."""
    return layer if call == 0 else f"{layer}.call{call}"


class _Builder:
    def __init__(self, spec: ModelSpec, source: str, name: str | None, limits: Limits):
        self.spec = spec
        self.source = source
        self.limits = limits
        try:
            self.g = Graph(name or spec.name, dt=DEFAULT_DT)
        except IRError as e:  # a model name no file can hold (NUL, lone surrogate)
            raise ModelFileError(f"{source}: {e.message}", hint=e.hint) from None
        self.problems: list[tuple[str, str, str]] = []
        self.poisoned: set[str] = set()  # nodes that stand in for a layer that failed
        self.activations = 0  # values per sample of the nodes added so far

    def count_values(self, node: str, path: str) -> None:
        """Account for the values ``node`` produces (called after every node is added):
        shapes no weight constrains (UpSampling2D size, Input shape, padding) must not
        make a graph of unbounded size."""
        size = self.g.type(node).size
        self.activations += size
        if self.activations > self.limits.max_activations:
            raise LimitError(
                self.source,
                f"the number of values the layers produce per sample (layer '{path}' "
                f"produces {size:,})",
                self.activations,
                "max_activations",
                self.limits.max_activations,
            )

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

    def _bad_name(self, path: str, cls: str, name: str) -> bool:
        """Record a problem when a layer's name cannot be a node name (names are data: any
        text works, except NUL and lone surrogates, which no file can hold)."""
        try:
            check_name(name, "layer")
        except IRError as e:
            self._problem(_printable(path), cls, f"{e.message} ({e.hint})")
            return True
        return False

    def _placeholder(self, base: str, inputs: Sequence[str]) -> list[str]:
        name = self.g.unique_name(_printable(base))
        if inputs:
            self.g.add(name, ops.Identity(), [inputs[0]])
        else:
            self.g.add(name, ops.Input(shape=(1,), index=-1))
        self.count_values(name, base)
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
        # listed after it. Like Keras, build in sweeps: each sweep builds, in config order,
        # the calls whose inputs were all built before it started. A call waits on a count
        # of missing inputs, so the whole walk is linear in the number of calls.
        calls = [(layer, k) for layer in spec.layers for k in range(len(layer.calls))]
        missing = [0] * len(calls)
        waiting: dict[tuple[str, int], list[int]] = {}
        for i, (layer, k) in enumerate(calls):
            for key in {(r.layer, r.call) for r in layer.calls[k]} - done.keys():
                missing[i] += 1
                waiting.setdefault(key, []).append(i)
        sweep = [i for i in range(len(calls)) if missing[i] == 0]
        built = 0
        while sweep:
            after: list[int] = []
            for i in sweep:
                layer, k = calls[i]
                inputs = [value(r) for r in layer.calls[k]]
                done[(layer.name, k)] = self._call(spec, layer, k, inputs, prefix, kprefix)
                for j in waiting.pop((layer.name, k), ()):
                    missing[j] -= 1
                    if missing[j] == 0:
                        after.append(j)
            built += len(sweep)
            sweep = sorted(after)
        if built < len(calls):
            stuck = ", ".join(sorted({calls[i][0].name for i in range(len(calls)) if missing[i]}))
            raise ModelFileError(
                f"{self.source}: model '{spec.name}' has layers whose inputs never become "
                f"available ({stuck}); the config is inconsistent",
                hint="re-save the model",
            )
        for ref in spec.outputs:
            if (ref.layer, ref.call) not in done:
                raise ModelFileError(
                    f"{self.source}: model '{spec.name}' names output '{ref.layer}' (call "
                    f"{ref.call}), which is never computed; the config is inconsistent",
                    hint="re-save the model",
                )
        return [value(r) for r in spec.outputs]

    def _input(self, layer: LayerSpec, index: int, name: str, kprefix: str) -> str:
        meta = {"keras_layer": kprefix + layer.name, "keras_class": "InputLayer"}
        shape, bad = input_shape_problem(layer)
        bad = bad or input_dtype_problem(layer)
        if self._bad_name(kprefix + layer.name, "InputLayer", layer.name):
            name, bad = self.g.unique_name(_printable(name)), None
            self.poisoned.add(name)
        node = self.g.add(name, ops.Input(shape=tuple(shape), index=index), meta=meta)
        self.count_values(node, kprefix + layer.name)
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
        if self._bad_name(path, layer.class_name, layer.name):
            return self._placeholder(base, inputs)
        poisoned = any(i in self.poisoned for i in inputs)
        fn = lookup(layer.class_name, layer.module)
        if fn is None:
            self._problem(path, layer.class_name, refusal_reason(layer.class_name, layer.module))
            return self._placeholder(base, inputs)
        cx = LayerContext(
            self.g,
            base,
            path,
            layer,
            inputs,
            keras3=spec.keras3,
            source=self.source,
            on_add=lambda node: self.count_values(node, path),
        )
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
            elif isinstance(e, _CONFIG_ERRORS):
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


def input_shape_problem(layer: LayerSpec) -> tuple[list[int], str | None]:
    """The per-sample shape of an InputLayer, and what is wrong with it (or None).

    A shape that cannot be used is replaced by one that can (unknown dims become 1), so the
    layers after the input can still be checked.
    """
    shape = input_shape(layer)
    if shape is None:
        why = (
            "its shape is unknown (the model was never built); start the model with "
            "keras.Input(shape=...) or call model.build(...) before saving"
        )
        return [1], why
    if not isinstance(shape, list):
        why = f"its shape is not a list of sizes (expected e.g. [None, 8, 8, 1], got {shape!r})"
        return [1], why
    ones = [1] * len(shape)
    if layer.config.get("sparse") or layer.config.get("ragged"):
        return ones, "sparse and ragged inputs are not supported (snnc needs dense arrays)"
    if any(
        d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1) for d in shape
    ):
        why = (
            f"its shape {[None, *shape]} holds a size that is not a positive integer "
            "(expected None or a whole number >= 1 per dimension)"
        )
        return ones, why
    if any(d is None for d in shape):
        why = (
            f"its shape {[None, *shape]} has dimensions of unknown size; snnc needs a "
            "fixed per-sample shape (give keras.Input a full shape)"
        )
        return [1 if d is None else d for d in shape], why
    return shape, None


#: input dtypes whose values are not real numbers
_NON_NUMERIC_DTYPES = ("string", "complex", "variant", "resource", "object", "str")


def input_dtype_problem(layer: LayerSpec) -> str | None:
    """What is wrong with an InputLayer's dtype (None when it holds real numbers).

    Keras writes a dtype name (``"float32"``) or, in Keras 3, a DTypePolicy object; an
    input of strings or complex numbers would be fed floats by snnc without notice.
    """
    dtype = layer.config.get("dtype")
    if isinstance(dtype, dict):  # {"class_name": "DTypePolicy", "config": {"name": ...}}
        inner = dtype.get("config")
        dtype = inner.get("name") if isinstance(inner, dict) else None
    if dtype is None:
        return None
    if not isinstance(dtype, str):
        return f"its dtype {dtype!r} is not understood (expected a name such as 'float32')"
    if dtype.lower().startswith(_NON_NUMERIC_DTYPES):
        return f"its dtype is '{dtype}' (expected real numbers: a float, int or bool dtype)"
    return None


def _printable(name: str) -> str:
    """``name`` with what no file can hold (NUL, lone surrogates) escaped, for stand-in
    nodes and messages about such names."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")

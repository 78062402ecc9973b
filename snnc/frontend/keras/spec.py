"""A neutral description of a Keras model: layers, their calls, and their weights.

The readers (:mod:`snnc.frontend.keras.reader`) turn every supported source (a Keras 2.12
or Keras 3 ``.keras`` zip, a legacy HDF5 file, an in-memory ``tf.keras.Model``) into a
:class:`ModelSpec`; the builder only ever sees this form. :func:`parse_model_config` reads
the serialized model config in all its dialects:

- Sequential and Functional, Keras 2 (``batch_input_shape``, inbound nodes as nested lists
  ``[layer, node, tensor, kwargs]``) and Keras 3 (``batch_shape``, inbound nodes as
  ``{"args": [...], "kwargs": {...}}`` holding ``__keras_tensor__`` dicts);
- nested models (a Sequential / Functional used as a layer) become a :class:`LayerSpec`
  whose ``model`` is another :class:`ModelSpec`;
- a shared layer is one :class:`LayerSpec` with several ``calls``.

Tensor references are normalised to ``TensorRef(layer, call, index)`` where ``call`` is the
0-based index into that layer's ``calls`` (Keras counts a nested functional model's own
construction as node 0; that offset is removed here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.errors import ModelFileError

#: class names that mean "a nested model" in a config
MODEL_CLASSES = ("Sequential", "Functional", "Model")


@dataclass(frozen=True)
class TensorRef:
    """One output tensor of one call of a layer."""

    layer: str
    call: int = 0
    index: int = 0


@dataclass
class LayerSpec:
    """One Keras layer (a nested model is a layer too).

    Attributes:
        name: the Keras layer name (unique within its model).
        class_name: the Keras class, e.g. ``"Conv2D"``.
        config: the layer's ``get_config()`` dict (plain JSON values).
        module: the Keras 3 ``module`` field (``"keras.layers"``, ``"keras.src.ops.numpy"``,
            ...) or None.
        calls: one list of input tensors per call of the layer.
        weights: the layer's weights in ``layer.get_weights()`` order.
        model: for a nested Sequential / Functional, its own spec.
    """

    name: str
    class_name: str
    config: dict
    module: str | None = None
    calls: list[list[TensorRef]] = field(default_factory=list)
    weights: list[np.ndarray] = field(default_factory=list)
    model: ModelSpec | None = None

    @property
    def is_input(self) -> bool:
        return self.class_name == "InputLayer"


@dataclass
class ModelSpec:
    """A Sequential or Functional model: its layers (config order), inputs and outputs.

    For a Sequential model the layers are chained here (each layer gets one call on the
    previous layer's output) and ``inputs`` names its InputLayer, which is the first layer;
    ``synthetic_input`` says that InputLayer was made up from ``batch_input_shape`` /
    ``build_input_shape`` (Keras 2), so it has no weights group in a file.
    """

    name: str
    class_name: str
    layers: list[LayerSpec]
    inputs: list[TensorRef]
    outputs: list[TensorRef]
    keras_version: str = "2"
    synthetic_input: bool = False

    @property
    def keras3(self) -> bool:
        """True when the model was written by Keras 3 (some semantics differ)."""
        return _major(self.keras_version) >= 3

    def layer(self, name: str) -> LayerSpec:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def walk(self):
        """Every layer of this model and of its nested models (depth first)."""
        for layer in self.layers:
            yield layer
            if layer.model is not None:
                yield from layer.model.walk()


def _major(version: str) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return 2


# =============================================================================== parsing


class ConfigError(ValueError):
    """The model config is malformed; the reader wraps it in a ModelFileError."""


def parse_model_config(
    top: dict, keras_version: str = "2", *, max_layers: int | None = None, where: str = "model"
) -> ModelSpec:
    """Parse a serialized model (``{"class_name": ..., "config": ...}``) into a spec.

    Args:
        top: the serialized model (plain JSON values; tuples and numpy values are accepted).
        keras_version: the Keras version that wrote it (some semantics differ in Keras 3).
        max_layers: refuse models with more layers (nested models included) than this,
            before building their specs; ``where`` names the model in that error.

    Raises:
        ConfigError: when the config is not a well-formed Sequential / Functional config.
        snnc.frontend.limits.LimitError: when the model has more than ``max_layers`` layers.
    """
    if not isinstance(top, dict) or "class_name" not in top:
        raise ConfigError("the model config has no 'class_name' (is this a Keras model?)")
    top = plain(top)
    parser = _Parser(keras_version, max_layers, where)
    spec = parser.model(top["class_name"], top.get("config"))
    if spec is None:
        raise ConfigError(
            f"the top-level object is a {_show(top['class_name'])}, not a Sequential or "
            "functional model; subclassed models have no layer graph that snnc could read"
        )
    return spec


def _show(value, n: int = 80) -> str:
    """A short printable form of a config value for messages."""
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def _is_model(class_name, config) -> bool:
    if class_name in MODEL_CLASSES:
        return True
    # a functional model saved under a subclass name still has the functional config keys
    return isinstance(config, dict) and "layers" in config and "input_layers" in config


class _Parser:
    """Parses one model config; counts layers across nested models."""

    def __init__(self, keras_version: str, max_layers: int | None, where: str):
        self.keras_version = keras_version
        self.max_layers = max_layers
        self.where = where
        self.layers = 0

    def model(self, class_name, config) -> ModelSpec | None:
        if class_name == "Sequential":
            return _parse_sequential(self, config)
        if _is_model(class_name, config):
            return _parse_functional(self, config)
        return None

    def count(self, n: int) -> None:
        """Count ``n`` more layers, before their specs are built."""
        self.layers += n
        if self.max_layers is not None and self.layers > self.max_layers:
            from snnc.frontend.limits import LimitError

            raise LimitError(
                self.where, "the number of layers", self.layers, "max_layers", self.max_layers
            )

    def layer(self, entry) -> LayerSpec:
        if not isinstance(entry, dict) or "class_name" not in entry:
            raise ConfigError(f"a layer entry has no 'class_name': {_show(entry)}")
        cls = entry["class_name"]
        if not isinstance(cls, str):
            raise ConfigError(f"a layer's class_name is not a string: {_show(cls)}")
        config = entry.get("config") or {}
        if not isinstance(config, dict):
            raise ConfigError(
                f"layer of class {cls} has a config that is not an object (got {_show(config)})"
            )
        name = entry.get("name") or config.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a layer of class {cls} has no name (got {_show(name)})")
        module = entry.get("module")
        layer = LayerSpec(name, cls, config, module if isinstance(module, str) else None)
        if cls in MODEL_CLASSES or _is_model(cls, config):
            layer.model = self.model(cls, config)
        return layer

    def layers_of(self, config, kind: str) -> list[LayerSpec]:
        entries = config.get("layers") if isinstance(config, dict) else None
        if not isinstance(entries, list):
            raise ConfigError(f"{kind} config has no 'layers' list")
        self.count(len(entries))
        return [self.layer(e) for e in entries]


def _shape_key(config: dict):
    for key in ("batch_shape", "batch_input_shape"):
        if config.get(key) is not None:
            return config[key]
    return None


def _parse_sequential(parser: _Parser, config) -> ModelSpec:
    if isinstance(config, list):  # very old Keras: the config *is* the layer list
        config = {"name": "sequential", "layers": config}
    layers = parser.layers_of(config, "Sequential")
    name = config.get("name", "sequential")
    names = [layer.name for layer in layers]
    if len(set(names)) != len(names):
        raise ConfigError(f"Sequential model {_show(name)} has two layers with the same name")
    keras_version = parser.keras_version
    synthetic = False
    if not layers or not layers[0].is_input:
        # Keras 2 without an explicit Input: the first layer carries batch_input_shape, or
        # the model carries build_input_shape. Keras names this input '<first>_input'.
        shape = _shape_key(layers[0].config) if layers else None
        if shape is None:
            shape = config.get("build_input_shape")
        first = layers[0].name if layers else name
        inp = LayerSpec(f"{first}_input", "InputLayer", {"batch_input_shape": shape})
        layers.insert(0, inp)
        synthetic = True
    if any(layer.is_input for layer in layers[1:]):
        raise ConfigError(f"Sequential model '{name}' has an InputLayer after its first layer")
    for prev, layer in zip(layers, layers[1:], strict=False):
        layer.calls = [[TensorRef(prev.name)]]
    return ModelSpec(
        name=str(name),
        class_name="Sequential",
        layers=layers,
        inputs=[TensorRef(layers[0].name)],
        outputs=[TensorRef(layers[-1].name)],
        keras_version=keras_version,
        synthetic_input=synthetic,
    )


def _parse_functional(parser: _Parser, config) -> ModelSpec:
    layers = parser.layers_of(config, "functional model")
    keras_version = parser.keras_version
    name = str(config.get("name", "model"))
    by_name = {layer.name: layer for layer in layers}
    if len(by_name) != len(layers):
        raise ConfigError(f"model '{name}' has two layers with the same name")
    entries = config["layers"]
    inbound = []
    for layer, e in zip(layers, entries, strict=True):
        nodes = e.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise ConfigError(
                f"the inbound_nodes of layer '{layer.name}' are not a list (got {_show(nodes)})"
            )
        inbound.append(nodes)
    keras3_nodes = any(isinstance(node, dict) for nodes in inbound for node in nodes)

    def ref(raw) -> TensorRef:
        if (
            not isinstance(raw, list)
            or len(raw) < 3
            or not isinstance(raw[0], str)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw[1:3])
        ):
            raise ConfigError(
                f"model '{name}' has a tensor reference that is not [layer, node, tensor] "
                f"(got {_show(raw)})"
            )
        layer_name, node, tensor = raw[0], raw[1], raw[2]
        if layer_name not in by_name:
            raise ConfigError(f"model '{name}' refers to an unknown layer '{layer_name}'")
        if tensor < 0:
            raise ConfigError(f"model '{name}' refers to tensor {tensor} of '{layer_name}'")
        call = node - _node_offset(by_name[layer_name], keras3_nodes)
        return TensorRef(layer_name, call, tensor)

    for layer, nodes in zip(layers, inbound, strict=True):
        for node in nodes:
            layer.calls.append([ref(r) for r in _node_refs(node)])
    inputs = [ref(r) for r in _io_refs(config.get("input_layers"))]
    outputs = [ref(r) for r in _io_refs(config.get("output_layers"))]
    if not inputs or not outputs:
        raise ConfigError(f"model '{name}' has no inputs or no outputs")
    for r in inputs + outputs:
        layer = by_name[r.layer]
        n_calls = 1 if layer.is_input else len(layer.calls)
        if not 0 <= r.call < n_calls:
            raise ConfigError(f"model '{name}' refers to call {r.call} of layer '{r.layer}'")
    return ModelSpec(name, "Functional", layers, inputs, outputs, keras_version)


def _node_offset(layer: LayerSpec, keras3_nodes: bool) -> int:
    """How many calls Keras numbers before the ones in the config (0 or 1).

    A functional model built on its own Input has a node linking its input to its output;
    Keras leaves it out of the config but still counts it. Keras 2 also counts it for a
    Sequential whose config starts with an InputLayer; Keras 3's Sequential is no
    Functional, so it does not.
    """
    if layer.model is None:
        return 0
    if layer.model.class_name == "Functional":
        return 1
    return 0 if keras3_nodes else int(not layer.model.synthetic_input)


def _node_refs(node) -> list:
    """The input tensor references of one inbound node, in call order."""
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        found: list = []
        _find_keras_tensors(node.get("args", []), found)
        _find_keras_tensors(node.get("kwargs", {}), found)
        return found
    if isinstance(node, list):  # Keras 2: [[layer, node, tensor, kwargs], ...]
        return [r for r in node if isinstance(r, list) and len(r) >= 3 and isinstance(r[0], str)]
    raise ConfigError(f"inbound node in an unknown form: {str(node)[:80]}")


def _find_keras_tensors(obj, found: list) -> None:
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            config = obj.get("config")
            if not isinstance(config, dict) or "keras_history" not in config:
                raise ConfigError(f"a __keras_tensor__ has no keras_history: {_show(obj)}")
            found.append(config["keras_history"])
            return
        for v in obj.values():
            _find_keras_tensors(v, found)
    elif isinstance(obj, list):
        for v in obj:
            _find_keras_tensors(v, found)


def _io_refs(obj) -> list:
    """``input_layers`` / ``output_layers``: one flat ``[name, node, tensor]`` (Keras 3 with
    one tensor), a list of them, or a dict of them (Keras 3 dict inputs)."""
    if obj is None:
        return []
    if isinstance(obj, dict):
        return [r for v in obj.values() for r in _io_refs(v)]
    if isinstance(obj, list) and len(obj) == 3 and isinstance(obj[0], str):
        return [obj]
    if isinstance(obj, list):
        return [r for item in obj for r in _io_refs(item)]
    raise ConfigError(f"bad input/output list: {str(obj)[:80]}")


def input_shape(layer: LayerSpec):
    """The per-sample shape of an InputLayer (a list possibly holding None), or None; a
    malformed shape (not a list) is returned as it is, for the caller to report."""
    shape = _shape_key(layer.config)
    if isinstance(shape, (list, tuple)):
        return list(shape)[1:]
    return shape


#: how Keras's saving code wraps values JSON cannot hold: {"class_name": tag, "config": {"value": v}}
_WRAPPED_VALUES = ("__numpy__", "__tensor__", "__tuple__")


def plain(obj):
    """Recursively turn config values into plain JSON-like Python values: tuples become
    lists, numpy values Python ones (in-memory ``get_config()`` output holds both), and the
    ``{"class_name": "__numpy__", "config": {"value": ...}}`` wrappers of the ``.keras``
    format their value."""
    if isinstance(obj, dict):
        if obj.get("class_name") in _WRAPPED_VALUES and isinstance(obj.get("config"), dict):
            return plain(obj["config"].get("value"))
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def config_error(source: str, err: Exception) -> ModelFileError:
    """A ModelFileError for a malformed config."""
    return ModelFileError(
        f"{source}: the model config cannot be read ({err})",
        hint="re-save the model with model.save('model.keras') from Keras 2.12+ or Keras 3",
    )

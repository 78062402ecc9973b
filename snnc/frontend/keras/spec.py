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


def parse_model_config(top: dict, keras_version: str = "2") -> ModelSpec:
    """Parse a serialized model (``{"class_name": ..., "config": ...}``) into a spec.

    Raises:
        ConfigError: when the config is not a Sequential / Functional model config.
    """
    if not isinstance(top, dict) or "class_name" not in top:
        raise ConfigError("the model config has no 'class_name' (is this a Keras model?)")
    top = plain(top)
    spec = _parse_model(top["class_name"], top.get("config"), keras_version)
    if spec is None:
        raise ConfigError(
            f"the top-level object is a '{top['class_name']}', not a Sequential or functional "
            "model; subclassed models have no layer graph that snnc could read"
        )
    return spec


def _is_model(class_name: str, config) -> bool:
    if class_name in MODEL_CLASSES:
        return True
    # a functional model saved under a subclass name still has the functional config keys
    return isinstance(config, dict) and "layers" in config and "input_layers" in config


def _parse_model(class_name, config, keras_version) -> ModelSpec | None:
    if class_name == "Sequential":
        return _parse_sequential(config, keras_version)
    if _is_model(class_name, config):
        return _parse_functional(config, keras_version)
    return None


def _layer_from_entry(entry: dict, keras_version: str) -> LayerSpec:
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ConfigError(f"a layer entry has no 'class_name': {str(entry)[:80]}")
    cls = entry["class_name"]
    config = entry.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(f"layer of class {cls} has a non-dict config")
    name = entry.get("name") or config.get("name")
    if not name:
        raise ConfigError(f"a layer of class {cls} has no name")
    layer = LayerSpec(str(name), str(cls), config, entry.get("module"))
    if cls in MODEL_CLASSES or _is_model(cls, config):
        layer.model = _parse_model(cls, config, keras_version)
    return layer


def _shape_key(config: dict):
    for key in ("batch_shape", "batch_input_shape"):
        if config.get(key) is not None:
            return config[key]
    return None


def _parse_sequential(config, keras_version) -> ModelSpec:
    if isinstance(config, list):  # very old Keras: the config *is* the layer list
        config = {"name": "sequential", "layers": config}
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ConfigError("Sequential config has no 'layers' list")
    name = config.get("name", "sequential")
    layers = [_layer_from_entry(e, keras_version) for e in config["layers"]]
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


def _parse_functional(config, keras_version) -> ModelSpec:
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ConfigError("functional model config has no 'layers' list")
    name = str(config.get("name", "model"))
    layers = [_layer_from_entry(e, keras_version) for e in config["layers"]]
    by_name = {layer.name: layer for layer in layers}
    if len(by_name) != len(layers):
        raise ConfigError(f"model '{name}' has two layers with the same name")
    entries = config["layers"]
    keras3_nodes = any(
        isinstance(node, dict) for e in entries for node in (e.get("inbound_nodes") or [])
    )

    def ref(raw) -> TensorRef:
        layer_name, node, tensor = raw[0], int(raw[1]), int(raw[2])
        if layer_name not in by_name:
            raise ConfigError(f"model '{name}' refers to an unknown layer '{layer_name}'")
        call = node - _node_offset(by_name[layer_name], keras3_nodes)
        return TensorRef(str(layer_name), call, tensor)

    for layer, entry in zip(layers, entries, strict=True):
        for node in entry.get("inbound_nodes") or []:
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
            found.append(obj["config"]["keras_history"])
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
    """The per-sample shape of an InputLayer (a list possibly holding None), or None."""
    shape = _shape_key(layer.config)
    return None if shape is None else list(shape)[1:]


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

"""Read Keras model sources into a :class:`~snnc.frontend.keras.spec.ModelSpec`.

Three sources, told apart by content, never by file name:

- a ``.keras`` zip (first bytes ``PK\\x03\\x04``): ``config.json`` + ``model.weights.h5``,
  written by Keras 2.12 (``save_format="keras_v3"``) or Keras 3;
- a legacy HDF5 file (first bytes ``\\x89HDF\\r\\n\\x1a\\n``): the ``model_config`` attribute
  + ``model_weights/<layer>/...`` groups;
- an in-memory ``tf.keras.Model`` (``get_config()`` + ``get_weights()`` per layer).

Files are read with ``zipfile``, ``json`` and ``h5py`` only: TensorFlow is never imported.

Where the weights live in a ``.keras`` file: groups are named after the layer *class*
(snake case) with a per-class counter inside each container, never after the layer name.

- Keras 3: ``layers/<class>[_n]/vars/<i>``; nested models have their own ``layers/``.
- Keras 2.12: ``_layer_checkpoint_dependencies/<class>[_n]/vars/<i>``. The container is the
  model's ``_layer_checkpoint_dependencies`` dict, which lists a layer *twice* when it has
  weights (as ``layer_with_weights-i`` and ``layer-j``), so such a layer uses up two counter
  values (``dense``, then ``dense_2`` for the next Dense).
- Both: a Sequential's container leaves out its InputLayer, a Functional's includes them;
  a wrapper (TimeDistributed) keeps the inner layer's variables in ``<group>/layer/vars``.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

from snnc.errors import ModelFileError, UnsupportedModelError
from snnc.frontend.keras.spec import (
    ConfigError,
    ModelSpec,
    config_error,
    parse_model_config,
)

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_RESAVE_HINT = "re-save the model with model.save('model.keras') (Keras 2.12+ or Keras 3)"


def is_keras_model(obj) -> bool:
    """Duck-typed check for an in-memory Keras model (without importing TensorFlow)."""
    return all(hasattr(obj, a) for a in ("get_config", "get_layer", "layers", "get_weights"))


def read(source) -> tuple[ModelSpec, str]:
    """Read a path or an in-memory model; returns the spec and a display name for messages."""
    if is_keras_model(source):
        return read_model_object(source), f"<in-memory model '{source.name}'>"
    if not isinstance(source, (str, os.PathLike)):
        raise ModelFileError(
            f"cannot load a {type(source).__name__} object",
            hint="pass a path to a .keras or .h5 file, or a tf.keras.Model",
        )
    return read_file(source), os.fspath(source)


def read_file(path) -> ModelSpec:
    """Read a ``.keras`` zip or a legacy HDF5 model file (format detected by content)."""
    where = os.fspath(path)
    p = Path(path)
    if not p.exists():
        raise ModelFileError(
            f"{where}: no such file",
            hint="check the path; snnc reads .keras (zip) and legacy .h5 Keras model files",
        )
    if p.is_dir():
        raise ModelFileError(
            f"{where}: is a directory, not a model file (a TensorFlow SavedModel?)",
            hint=_RESAVE_HINT,
        )
    try:
        with open(p, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ModelFileError(f"{where}: cannot be read ({e.strerror})") from None
    if head.startswith(ZIP_MAGIC):
        return _read_keras_zip(p, where)
    if head == HDF5_MAGIC:
        return _read_legacy_h5(p, where)
    found = "the file is empty" if not head else f"the file starts with {head!r}"
    raise ModelFileError(
        f"{where}: not a Keras model file (expected a .keras zip or an HDF5 .h5 file; {found})",
        hint=_RESAVE_HINT,
    )


# =============================================================================== .keras zip


def _read_keras_zip(p: Path, where: str) -> ModelSpec:
    try:
        with zipfile.ZipFile(p) as zf:
            names = set(zf.namelist())
            if "config.json" not in names:
                raise ModelFileError(
                    f"{where}: the zip has no config.json, so it is not a Keras .keras file "
                    f"(it holds {sorted(names)[:5]})",
                    hint=_RESAVE_HINT,
                )
            config = _json_member(zf, "config.json", where)
            meta = _json_member(zf, "metadata.json", where) if "metadata.json" in names else {}
            if "model.weights.h5" not in names:
                raise ModelFileError(
                    f"{where}: the .keras file has no model.weights.h5 (the weights are missing)",
                    hint=_RESAVE_HINT,
                )
            weights = zf.read("model.weights.h5")
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise ModelFileError(
            f"{where}: the .keras file is not a readable zip archive (truncated or corrupted?): {e}",
            hint=_RESAVE_HINT,
        ) from None
    version = str(meta.get("keras_version", "2")) if isinstance(meta, dict) else "2"
    try:
        spec = parse_model_config(config, version)
    except ConfigError as e:
        raise config_error(where, e) from None
    import h5py

    try:
        with h5py.File(io.BytesIO(weights), "r") as f:
            _attach_v3(spec, f)
    except OSError as e:
        raise ModelFileError(
            f"{where}: model.weights.h5 inside the .keras file cannot be read ({e})",
            hint=_RESAVE_HINT,
        ) from None
    return spec


def _json_member(zf: zipfile.ZipFile, member: str, where: str):
    try:
        return json.loads(zf.read(member).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(
            f"{where}: {member} inside the .keras file is not valid JSON ({e})",
            hint=_RESAVE_HINT,
        ) from None


def snake_case(class_name: str, keras3: bool) -> str:
    """Keras's ``to_snake_case`` (the two versions differ slightly in their first regex)."""
    if keras3:
        name = re.sub(r"\W+", "", class_name)
        name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
        return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    name = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", class_name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name if name[0] != "_" else "private" + name


def _attach_v3(spec: ModelSpec, root) -> None:
    # Keras 2.12 and Keras 3 name the container differently; tell them apart by content
    keras3 = "_layer_checkpoint_dependencies" not in root
    container = root.get("layers" if keras3 else "_layer_checkpoint_dependencies")
    used: dict[str, int] = {}

    def next_name(base: str) -> str:
        n = used.get(base, -1) + 1
        used[base] = n
        return base if n == 0 else f"{base}_{n}"

    for layer in spec.layers:
        if layer.is_input and spec.class_name == "Sequential":
            continue  # a Sequential's model.layers leaves out its InputLayer
        base = snake_case(layer.class_name, keras3)
        group = container.get(next_name(base)) if container is not None else None
        if keras3:
            group = _by_name_attr(container, group, layer.name)
        elif group is not None and _has_datasets(group):
            next_name(base)  # listed twice, see the module docstring
        if group is None:
            continue  # the converter reports missing weights if the layer needs any
        if layer.model is not None:
            _attach_v3(layer.model, group)
        else:
            layer.weights = _vars(group)


def _by_name_attr(container, group, layer_name: str):
    """Keras >= 3.4 writes the layer name as a ``name`` attribute of each ``vars`` group:
    when present and different, trust it over the counter rule."""
    if group is None or "vars" not in group or "name" not in group["vars"].attrs:
        return group
    if _attr_str(group["vars"].attrs["name"]) == layer_name:
        return group
    for candidate in container.values():
        if "vars" in candidate and _attr_str(candidate["vars"].attrs.get("name", "")) == layer_name:
            return candidate
    return group


def _attr_str(v) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _has_datasets(group) -> bool:
    import h5py

    found = []
    group.visititems(lambda _n, o: found.append(1) if isinstance(o, h5py.Dataset) else None)
    return bool(found)


def _vars(group) -> list[np.ndarray]:
    """The datasets ``vars/0``, ``vars/1``, ... of a layer group (a wrapper's are in
    ``layer/vars``)."""
    v = group.get("vars")
    keys = sorted((k for k in v.keys() if k.isdigit()), key=int) if v is not None else []
    if not keys and "layer" in group:
        return _vars(group["layer"])
    return [np.asarray(v[k][()]) for k in keys]


# =============================================================================== legacy HDF5


def _read_legacy_h5(p: Path, where: str) -> ModelSpec:
    import h5py

    try:
        f = h5py.File(p, "r")
    except OSError as e:
        raise ModelFileError(
            f"{where}: the HDF5 file cannot be opened (truncated or corrupted?): {e}",
            hint=_RESAVE_HINT,
        ) from None
    with f:
        if "model_config" not in f.attrs:
            what = (
                "it holds only weights (saved with save_weights), not a model"
                if "layer_names" in f.attrs
                else "it has no 'model_config' attribute, so it is not a Keras model file"
            )
            raise ModelFileError(
                f"{where}: {what}", hint="save the whole model with model.save(...)"
            )
        raw = f.attrs["model_config"]
        try:
            config = json.loads(_attr_str(raw))
        except json.JSONDecodeError as e:
            raise ModelFileError(
                f"{where}: the model_config attribute is not valid JSON ({e})", hint=_RESAVE_HINT
            ) from None
        version = _attr_str(f.attrs.get("keras_version", "2"))
        try:
            spec = parse_model_config(config, version)
        except ConfigError as e:
            raise config_error(where, e) from None
        if "model_weights" not in f:
            raise ModelFileError(
                f"{where}: the HDF5 file has no model_weights group (the weights are missing)",
                hint=_RESAVE_HINT,
            )
        try:
            _attach_h5(spec, f["model_weights"])
        except (OSError, KeyError) as e:
            raise ModelFileError(
                f"{where}: the weights in the HDF5 file cannot be read ({e})", hint=_RESAVE_HINT
            ) from None
    return spec


def _weight_names(group) -> list[str]:
    return [_attr_str(n) for n in group.attrs.get("weight_names", [])]


def _attach_h5(spec: ModelSpec, root) -> None:
    for layer in spec.layers:
        if layer.is_input or layer.name not in root:
            continue
        group = root[layer.name]
        pairs = [(n, np.asarray(group[n][()])) for n in _weight_names(group)]
        if layer.model is not None:
            _distribute(layer.model, pairs)
        else:
            layer.weights = [a for _, a in pairs]


def _distribute(model: ModelSpec, pairs: list[tuple[str, np.ndarray]]) -> None:
    """A nested model's weights are one flat list named ``<layer>/<var>:0`` (trainable ones
    first); give each inner layer the ones named after it, in order."""
    for layer in model.layers:
        if layer.model is not None:
            _distribute(layer.model, pairs)
        elif not layer.is_input:
            owners = {layer.name}
            inner = layer.config.get("layer")
            if isinstance(inner, dict) and isinstance(inner.get("config"), dict):
                owners.add(inner["config"].get("name"))  # a wrapper's variables
            layer.weights = [a for n, a in pairs if _owner(n) in owners]


def _owner(weight_name: str) -> str:
    parts = weight_name.split("/")
    return parts[-2] if len(parts) >= 2 else ""


# =============================================================================== in-memory


def read_model_object(model) -> ModelSpec:
    """Read an in-memory Keras model: ``get_config()`` plus each layer's ``get_weights()``."""
    cls = type(model).__name__
    where = f"<in-memory model '{model.name}'>"
    try:
        config = model.get_config()
    except NotImplementedError:
        config = None
    if not isinstance(config, (dict, list)):
        raise _subclassed(where, model.name, cls)
    top_cls = "Sequential" if cls == "Sequential" else "Functional"
    root = type(model).__module__.split(".")[0]
    version = str(getattr(sys.modules.get(root), "__version__", "2"))
    try:
        spec = parse_model_config({"class_name": top_cls, "config": config}, version)
    except ConfigError:
        raise _subclassed(where, model.name, cls) from None
    _attach_objects(spec, model)
    return spec


def _subclassed(where: str, name: str, cls: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        where,
        [
            (
                name,
                cls,
                "subclassed models have no layer graph in their config; build the "
                "model with the Sequential or functional API",
            )
        ],
    )


def _attach_objects(spec: ModelSpec, model) -> None:
    for layer in spec.layers:
        if layer.is_input:
            continue
        obj = model.get_layer(layer.name)
        if layer.model is not None:
            _attach_objects(layer.model, obj)
        else:
            layer.weights = [np.asarray(w) for w in obj.get_weights()]

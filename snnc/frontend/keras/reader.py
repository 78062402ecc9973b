"""Read Keras model sources into a :class:`~snnc.frontend.keras.spec.ModelSpec`.

Three sources, told apart by content, never by file name:

- a ``.keras`` zip (first bytes ``PK\\x03\\x04``): ``config.json`` + ``model.weights.h5``,
  written by Keras 2.12 (``save_format="keras_v3"``) or Keras 3;
- a legacy HDF5 file (first bytes ``\\x89HDF\\r\\n\\x1a\\n``): the ``model_config`` attribute
  + ``model_weights/<layer>/...`` groups;
- an in-memory ``tf.keras.Model`` (``get_config()`` + ``get_weights()`` per layer).

Files are read with ``zipfile``, ``json`` and ``h5py`` only: TensorFlow is never imported.

Model files come from strangers, so reading is defensive (see :mod:`snnc.frontend.limits`):
sizes, JSON nesting, layer and weight counts are checked against :class:`Limits` before
they are paid for, and an HDF5 file must be self-contained: soft and external links,
virtual datasets and datasets with external storage are refused (Keras never writes them;
they could pull another file's data into the model or loop forever). Every malformed input
ends in a :class:`~snnc.errors.ModelFileError` naming the file.

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
import lzma
import mmap
import os
import re
import struct
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
from snnc.frontend.limits import (
    DEFAULT_LIMITS,
    LimitError,
    Limits,
    check,
    check_json_text,
    check_object_depth,
)

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_RESAVE_HINT = "re-save the model with model.save('model.keras') (Keras 2.12+ or Keras 3)"

#: what zipfile raises on a damaged archive (besides BadZipFile): a bad deflate / bzip2 /
#: lzma stream, an unknown compression method or an encrypted member (both can be a bit
#: flip in a header), a short read, a bad header struct
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    NotImplementedError,
    RuntimeError,
    OSError,
    ValueError,
    struct.error,
)
#: what h5py raises on a damaged file or an object of the wrong kind: HDF5 errors arrive as
#: OSError / KeyError / ValueError / RuntimeError, offsets beyond C's range as OverflowError,
#: and an HDF5 error inside an h5py iteration callback as SystemError
_H5_ERRORS = (
    OSError,
    KeyError,
    ValueError,
    TypeError,
    RuntimeError,
    IndexError,
    OverflowError,
    SystemError,
)
#: HDF5 objects (groups, datasets) a weights file may hold per allowed layer; bounds the
#: time spent scanning a file with millions of empty groups
_OBJECTS_PER_LAYER = 100
#: bytes inflated per read of a zip member
_CHUNK = 1 << 20
#: how deep wrappers may nest (TimeDistributed(TimeDistributed(...)) keeps ``layer/layer``)
_MAX_WRAPPER_DEPTH = 16


def is_keras_model(obj) -> bool:
    """Duck-typed check for an in-memory Keras model (without importing TensorFlow)."""
    return all(hasattr(obj, a) for a in ("get_config", "get_layer", "layers", "get_weights"))


def read(source, limits: Limits = DEFAULT_LIMITS) -> tuple[ModelSpec, str]:
    """Read a path or an in-memory model; returns the spec and a display name for messages."""
    if is_keras_model(source):
        return read_model_object(source, limits), f"<in-memory model '{source.name}'>"
    if not isinstance(source, (str, os.PathLike)):
        raise ModelFileError(
            f"cannot load a {type(source).__name__} object",
            hint="pass a path to a .keras or .h5 file, or a tf.keras.Model",
        )
    return read_file(source, limits), os.fspath(source)


def read_file(path, limits: Limits = DEFAULT_LIMITS) -> ModelSpec:
    """Read a ``.keras`` zip or a legacy HDF5 model file (format detected by content)."""
    where = os.fspath(path)
    p = Path(path)
    try:
        exists, is_dir, is_file = p.exists(), p.is_dir(), p.is_file()
    except (OSError, ValueError) as e:  # a NUL in the path, a name too long, ...
        raise ModelFileError(f"{where!r}: not a usable path ({e})") from None
    if not exists:
        raise ModelFileError(
            f"{where}: no such file",
            hint="check the path; snnc reads .keras (zip) and legacy .h5 Keras model files",
        )
    if is_dir:
        raise ModelFileError(
            f"{where}: is a directory, not a model file (a TensorFlow SavedModel?)",
            hint=_RESAVE_HINT,
        )
    if not is_file:  # reading a FIFO or a device could block forever or never end
        raise ModelFileError(
            f"{where}: not a regular file (a device, FIFO or socket); expected a model file",
            hint="save the model to a file and pass its path",
        )
    try:
        with open(p, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ModelFileError(f"{where}: cannot be read ({e.strerror})") from None
    if head.startswith(ZIP_MAGIC):
        return _read_keras_zip(p, where, limits)
    if head == HDF5_MAGIC:
        return _read_legacy_h5(p, where, limits)
    found = "the file is empty" if not head else f"the file starts with {head!r}"
    raise ModelFileError(
        f"{where}: not a Keras model file (expected a .keras zip or an HDF5 .h5 file; {found})",
        hint=_RESAVE_HINT,
    )


def _parse(config, version: str, where: str, limits: Limits) -> ModelSpec:
    """``parse_model_config`` with every way a malformed config can fail as a
    ModelFileError (the parser checks the common cases itself; a wrong type deep inside
    the config may still surface as a TypeError and the like)."""
    try:
        return parse_model_config(config, version, max_layers=limits.max_layers, where=where)
    except ConfigError as e:
        raise config_error(where, e) from None
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise config_error(where, f"{type(e).__name__}: {e}") from None


def _json(data: bytes, where: str, what: str, limits: Limits):
    """Parse a JSON document after the size and nesting checks."""
    check_json_text(where, what, data, limits)
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError, huge ints
        raise ModelFileError(
            f"{where}: {what} is not valid JSON ({e})", hint=_RESAVE_HINT
        ) from None


# =============================================================================== .keras zip


def _read_keras_zip(p: Path, where: str, limits: Limits) -> ModelSpec:
    try:
        with zipfile.ZipFile(p) as zf:
            names = set(zf.namelist())
            if "config.json" not in names:
                raise ModelFileError(
                    f"{where}: the zip has no config.json, so it is not a Keras .keras file "
                    f"(it holds {sorted(names)[:5]})",
                    hint=_RESAVE_HINT,
                )
            config_raw = _member(zf, "config.json", where, limits, "max_config_bytes")
            meta_raw = (
                _member(zf, "metadata.json", where, limits, "max_config_bytes")
                if "metadata.json" in names
                else b"{}"
            )
            if "model.weights.h5" not in names:
                raise ModelFileError(
                    f"{where}: the .keras file has no model.weights.h5 (the weights are missing)",
                    hint=_RESAVE_HINT,
                )
            weights = _member(zf, "model.weights.h5", where, limits, "max_member_bytes")
    except _ZIP_ERRORS as e:
        raise ModelFileError(
            f"{where}: the .keras file is not a readable zip archive (truncated or corrupted?): "
            f"{type(e).__name__}: {e}",
            hint=_RESAVE_HINT,
        ) from None
    config = _json(config_raw, where, "config.json inside the .keras file", limits)
    meta = _json(meta_raw, where, "metadata.json inside the .keras file", limits)
    version = meta.get("keras_version", "2") if isinstance(meta, dict) else "2"
    spec = _parse(config, str(version), where, limits)
    import h5py

    what = "model.weights.h5 inside the .keras file"
    _check_global_heaps(weights, where, what)
    try:
        with h5py.File(io.BytesIO(weights), "r") as f:
            weights_reader = _WeightReader(where, what, limits)
            weights_reader.refuse_links(f)
            _attach_v3(spec, f, weights_reader)
    except _H5_ERRORS as e:
        raise ModelFileError(
            f"{where}: {what} cannot be read ({type(e).__name__}: {e})", hint=_RESAVE_HINT
        ) from None
    return spec


def _member(zf: zipfile.ZipFile, member: str, where: str, limits: Limits, limit: str) -> bytes:
    """A zip member's bytes, read only up to the limit: the size in the zip header is
    checked first, and the read is capped in case the header lies (a zip bomb)."""
    info = zf.getinfo(member)
    cap = getattr(limits, limit)
    what = f"the decompressed size of {member} inside the .keras file"
    check(where, what, info.file_size, limits, limit)
    data = bytearray()
    with zf.open(info) as f:
        # in chunks: one big read() may inflate far more than it returns
        while len(data) <= cap:
            chunk = f.read(min(_CHUNK, cap + 1 - len(data)))
            if not chunk:
                break
            data += chunk
    if len(data) > cap:
        raise LimitError(where, what, len(data), limit, cap)
    return bytes(data)


def snake_case(class_name: str, keras3: bool) -> str:
    """Keras's ``to_snake_case`` (the two versions differ slightly in their first regex)."""
    if keras3:
        name = re.sub(r"\W+", "", class_name)
        name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
        return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    name = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", class_name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name if name[:1] != "_" else "private" + name


def _attach_v3(spec: ModelSpec, root, reader: _WeightReader) -> None:
    # Keras 2.12 and Keras 3 name the container differently; tell them apart by content
    keras3 = "_layer_checkpoint_dependencies" not in root
    container = _group(root.get("layers" if keras3 else "_layer_checkpoint_dependencies"))
    used: dict[str, int] = {}
    by_name: dict[str, object] | None = None  # Keras >= 3.4 'name' attributes, built lazily

    def next_name(base: str) -> str:
        n = used.get(base, -1) + 1
        used[base] = n
        return base if n == 0 else f"{base}_{n}"

    for layer in spec.layers:
        if layer.is_input and spec.class_name == "Sequential":
            continue  # a Sequential's model.layers leaves out its InputLayer
        base = snake_case(layer.class_name, keras3)
        group = _group(container.get(next_name(base))) if container is not None else None
        if keras3 and group is not None:
            # Keras >= 3.4 writes the layer name as a 'name' attribute of each 'vars'
            # group: when present and different, trust it over the counter rule
            name = _vars_name(group)
            if name is not None and name != layer.name:
                if by_name is None:
                    by_name = _index_by_name(container)
                group = by_name.get(layer.name, group)
        elif group is not None and _has_datasets(group):
            next_name(base)  # listed twice, see the module docstring
        if group is None:
            continue  # the converter reports missing weights if the layer needs any
        if layer.model is not None:
            _attach_v3(layer.model, group, reader)
        else:
            layer.weights = reader.vars(group, layer.name)


def _group(obj):
    """``obj`` if it is an HDF5 group, else None (a dataset where a group belongs)."""
    import h5py

    return obj if isinstance(obj, h5py.Group) else None


def _vars_name(group) -> str | None:
    v = _group(group.get("vars"))
    if v is None or "name" not in v.attrs:
        return None
    return _attr_str(v.attrs["name"])


def _index_by_name(container) -> dict[str, object]:
    """``name`` attribute -> layer group, over one container (one pass, not one per layer)."""
    out: dict[str, object] = {}
    for candidate in container.values():
        candidate = _group(candidate)
        if candidate is not None:
            name = _vars_name(candidate)
            if name is not None:
                out.setdefault(name, candidate)
    return out


def _attr_str(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, np.ndarray) and v.size == 1:
        return _attr_str(v.reshape(-1)[0])
    return str(v)


def _has_datasets(group) -> bool:
    from h5py import h5o

    # the low-level visit hands over each object's type without opening it (opening a
    # damaged object inside the callback would fail inside h5py's iteration); it stops at
    # the first result that is not None
    found = h5o.visit(
        group.id, lambda _n, info: True if info.type == h5o.TYPE_DATASET else None, info=True
    )
    return found is True


class _WeightReader:
    """Reads weight arrays out of one HDF5 file, within the limits.

    ``where`` names the model file, ``what`` the HDF5 file inside it (for messages).
    """

    def __init__(self, where: str, what: str, limits: Limits):
        self.where = where
        self.what = what
        self.limits = limits
        self.params = 0  # weight values read so far

    def refuse_links(self, root) -> None:
        """Refuse a file holding soft, external or user-defined links (anywhere, before any
        data is read): Keras writes only hard links; an external link reads another file
        from disk and soft links can form loops. Also bounds the number of objects."""
        from h5py import h5l

        budget = self.limits.max_layers * _OBJECTS_PER_LAYER
        count = 0
        bad: list[str] = []

        def visit(name: bytes, info):
            # the link's type comes with the visit: nothing is resolved or opened here
            nonlocal count
            count += 1
            if info.type != h5l.TYPE_HARD:
                bad.append(name.decode("utf-8", errors="replace"))
                return True
            return True if count > budget else None

        root.id.links.visit(visit, info=True)
        if bad:
            name = bad[0]
            raise ModelFileError(
                f"{self.where}: {self.what} holds an HDF5 {_describe_link(root, name)} at '/{name}'; "
                "snnc reads only self-contained model files (expected hard links only)",
                hint="Keras never writes links; re-save the model from the original Keras "
                "model, or copy the linked data into the file",
            )
        if count > budget:
            raise LimitError(
                self.where,
                f"the number of HDF5 objects in {self.what} ({_OBJECTS_PER_LAYER} per allowed layer)",
                count,
                "max_layers",
                budget,
            )

    def array(self, ds, label: str) -> np.ndarray:
        """One weight array (``label`` names it in messages), checked before it is read."""
        import h5py

        where = f"{self.where}: {self.what}: '{label}'"
        if not isinstance(ds, h5py.Dataset):
            raise ModelFileError(
                f"{where} is a {type(ds).__name__}, not a weight array", hint=_RESAVE_HINT
            )
        if ds.is_virtual or ds.external:
            kind = "a virtual dataset" if ds.is_virtual else "a dataset stored in external files"
            raise ModelFileError(
                f"{where} is {kind}, which reads data from other files (expected data stored "
                "in the model file)",
                hint="re-save the model with Keras",
            )
        if ds.dtype.kind not in "biuf" or ds.shape is None:
            raise ModelFileError(
                f"{where} does not hold numbers (expected a numeric array, got dtype "
                f"{ds.dtype}{'' if ds.shape is not None else ' with no shape'})",
                hint=_RESAVE_HINT,
            )
        size = int(np.prod(ds.shape, dtype=object))
        check(
            self.where,
            f"the size of weight array '{label}' in bytes",
            size * ds.dtype.itemsize,
            self.limits,
            "max_member_bytes",
        )
        self.params += size
        check(self.where, "the number of weight values", self.params, self.limits, "max_params")
        return np.asarray(ds[()])

    def vars(self, group, label: str) -> list[np.ndarray]:
        """The datasets ``vars/0``, ``vars/1``, ... of a layer group (a wrapper's are in
        ``layer/vars``, possibly several wrappers deep)."""
        for _ in range(_MAX_WRAPPER_DEPTH):
            v = _group(group.get("vars"))
            keys = sorted((k for k in v.keys() if re.fullmatch("[0-9]+", k)), key=int) if v else []
            if keys:
                return [self.array(v[k], f"{label}/vars/{k}") for k in keys]
            group = _group(group.get("layer"))
            if group is None:
                return []
        return []


def _describe_link(root, name: str) -> str:
    """What kind of link ``name`` is, and where it points (without following it)."""
    import h5py

    try:
        link = root.get(name, getlink=True)
    except _H5_ERRORS:
        return "link that is not a hard link"
    if isinstance(link, h5py.ExternalLink):
        return f"external link to '{link.path}' in file '{link.filename}'"
    if isinstance(link, h5py.SoftLink):
        return f"soft link to '{link.path}'"
    return f"link of an unknown kind ({type(link).__name__})"


def _check_global_heaps(buf, where: str, what: str) -> None:
    """Refuse an HDF5 file whose global heap would send HDF5 into an endless loop.

    Variable-length strings (every attribute Keras writes) live in global heap collections
    (``GCOL``). HDF5 walks a collection object by object and advances by each object's
    size: a free-space object of size 0 (or a size that wraps around) makes it loop
    forever while reading the first attribute (seen with HDF5 2.0 on damaged files). This
    walks every collection the same way first, on the raw bytes (``buf``: bytes or mmap).
    A ``GCOL`` that is not a plausible collection header is not one and is skipped.
    """
    pos = buf.find(b"GCOL")
    while pos >= 0:
        header = buf[pos : pos + 16]
        size = int.from_bytes(header[8:16], "little") if len(header) == 16 else 0
        # version 1, reserved zeros, at least HDF5's minimum collection size, inside the file
        if header[4:8] == b"\x01\x00\x00\x00" and 4096 <= size <= len(buf) - pos:
            p, end = pos + 16, pos + size
            while p + 16 <= end:
                index = int.from_bytes(buf[p : p + 2], "little")
                obj = int.from_bytes(buf[p + 8 : p + 16], "little")
                step = obj if index == 0 else (16 + (obj + 7) // 8 * 8) % (1 << 64)
                if step == 0 or step >= 1 << 63:
                    raise ModelFileError(
                        f"{where}: {what} is damaged: the global heap at byte {pos} holds "
                        f"object {index} of size {obj}, which HDF5 would loop on forever "
                        "(expected a size that moves on to the next object)",
                        hint=_RESAVE_HINT,
                    )
                p += step
        pos = buf.find(b"GCOL", pos + 1)


# =============================================================================== legacy HDF5


def _read_legacy_h5(p: Path, where: str, limits: Limits) -> ModelSpec:
    import h5py

    try:
        with open(p, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            _check_global_heaps(buf, where, "the HDF5 file")
    except (OSError, ValueError) as e:  # unreadable, or empty (nothing to map)
        raise ModelFileError(f"{where}: the HDF5 file cannot be read ({e})") from None
    try:
        f = h5py.File(p, "r")
    except _H5_ERRORS as e:
        raise ModelFileError(
            f"{where}: the HDF5 file cannot be opened (truncated or corrupted?): {e}",
            hint=_RESAVE_HINT,
        ) from None
    try:
        with f:
            return _read_legacy_open(f, where, limits)
    except _H5_ERRORS as e:
        raise ModelFileError(
            f"{where}: the HDF5 file cannot be read ({type(e).__name__}: {e})", hint=_RESAVE_HINT
        ) from None


def _read_legacy_open(f, where: str, limits: Limits) -> ModelSpec:
    reader = _WeightReader(where, "the HDF5 file", limits)
    reader.refuse_links(f)
    if "model_config" not in f.attrs:
        what = (
            "it holds only weights (saved with save_weights), not a model"
            if "layer_names" in f.attrs
            else "it has no 'model_config' attribute, so it is not a Keras model file"
        )
        raise ModelFileError(f"{where}: {what}", hint="save the whole model with model.save(...)")
    # the attribute's size is known before it is read
    size = f.attrs.get_id("model_config").get_storage_size()
    check(where, "the size of the model_config attribute", size, limits, "max_config_bytes")
    raw = f.attrs["model_config"]
    if isinstance(raw, np.ndarray) and raw.size == 1:
        raw = raw.reshape(-1)[0]
    if not isinstance(raw, (bytes, str)):
        raise ModelFileError(
            f"{where}: the model_config attribute is not text (expected a JSON string, got "
            f"{type(raw).__name__})",
            hint=_RESAVE_HINT,
        )
    text = raw if isinstance(raw, bytes) else raw.encode("utf-8", errors="surrogatepass")
    config = _json(text, where, "the model_config attribute", limits)
    version = _attr_str(f.attrs.get("keras_version", "2"))
    spec = _parse(config, version, where, limits)
    root = _group(f.get("model_weights"))
    if root is None:
        raise ModelFileError(
            f"{where}: the HDF5 file has no model_weights group (the weights are missing)",
            hint=_RESAVE_HINT,
        )
    _attach_h5(spec, root, reader)
    return spec


def _weight_names(group, where: str) -> list[str]:
    raw = group.attrs.get("weight_names", [])
    names = np.atleast_1d(np.asarray(raw, dtype=object)).reshape(-1)
    out = []
    for n in names:
        if not isinstance(n, (bytes, str)):
            raise ModelFileError(
                f"{where}: the weight_names of group '{group.name}' are not text (expected "
                f"names, got {type(n).__name__})",
                hint=_RESAVE_HINT,
            )
        out.append(_attr_str(n))
    return out


def _attach_h5(spec: ModelSpec, root, reader: _WeightReader) -> None:
    for layer in spec.layers:
        if layer.is_input or layer.name not in root:
            continue
        group = _group(root[layer.name])
        if group is None:
            raise ModelFileError(
                f"{reader.where}: model_weights/{layer.name} is not a group of weights",
                hint=_RESAVE_HINT,
            )
        pairs = []
        for n in _weight_names(group, reader.where):
            if n not in group:
                raise ModelFileError(
                    f"{reader.where}: weight '{n}' of layer '{layer.name}' is listed in "
                    "weight_names but missing from the file",
                    hint=_RESAVE_HINT,
                )
            pairs.append((n, reader.array(group[n], f"model_weights/{layer.name}/{n}")))
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


def read_model_object(model, limits: Limits = DEFAULT_LIMITS) -> ModelSpec:
    """Read an in-memory Keras model: ``get_config()`` plus each layer's ``get_weights()``."""
    cls = type(model).__name__
    where = f"<in-memory model '{model.name}'>"
    try:
        config = model.get_config()
    except NotImplementedError:
        config = None
    if not isinstance(config, (dict, list)):
        raise _subclassed(where, model.name, cls)
    check_object_depth(where, "the model config", config, limits)
    top_cls = "Sequential" if cls == "Sequential" else "Functional"
    root = type(model).__module__.split(".")[0]
    version = str(getattr(sys.modules.get(root), "__version__", "2"))
    try:
        spec = parse_model_config(
            {"class_name": top_cls, "config": config},
            version,
            max_layers=limits.max_layers,
            where=where,
        )
    except ConfigError:
        raise _subclassed(where, model.name, cls) from None
    params = [0]
    _attach_objects(spec, model, where, limits, params)
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


def _attach_objects(spec: ModelSpec, model, where: str, limits: Limits, params: list[int]) -> None:
    for layer in spec.layers:
        if layer.is_input:
            continue
        obj = model.get_layer(layer.name)
        if layer.model is not None:
            _attach_objects(layer.model, obj, where, limits, params)
        else:
            layer.weights = [np.asarray(w) for w in obj.get_weights()]
            params[0] += sum(int(w.size) for w in layer.weights)
            check(where, "the number of weight values", params[0], limits, "max_params")

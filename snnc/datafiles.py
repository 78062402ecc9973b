"""Reading and checking data arrays: model inputs, calibration data and class labels.

Every command that takes arrays (``--input``, ``--labels``, ``--calibration``, ``--data``)
and the API functions that run a model (``Compiled.run``, ``snnc.simulate``,
``snnc.verify``, ``snnc.sweep.run_sweep``, calibration of ``snnc.compile``) use the one set
of checks here, so a bad array is refused the same way everywhere: an
:class:`~snnc.errors.SnncError` (exit code 2 from the CLI) naming the file and the array.

Files are data, never code: ``.npy`` / ``.npz`` only, no pickles; an array header is read
and checked before numpy allocates the array: against the bytes the file holds (a corrupt
header cannot ask for terabytes) and against a cap on the bytes of one array,
``max_member_bytes`` (default the model readers' ``Limits.max_member_bytes``, 512 MiB;
``--max-member-bytes`` on the command line), so a few megabytes of ``np.savez_compressed``
zeros cannot inflate into gigabytes.

What is accepted:

- inputs and calibration data: batch-first arrays ``(samples, *input_shape)`` of integers,
  floats or booleans (booleans count as 0 / 1: binary images are ordinary inputs; they are
  returned as float32), at least one sample, every value finite. Text, complex numbers,
  dates and time spans, Python objects and structured records are refused;
- labels: integer class indices ``(samples,)``, or floats holding whole numbers, or one-hot
  rows; booleans are refused (a label is a class index, and ``True`` / ``False`` usually
  means a mask or a mistake), as are negative values.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from snnc.errors import InputShapeError, ModelFileError, SnncError
from snnc.ir.interpreter import split_inputs

_HINT = "save the data with np.savez(path, x=inputs, y=integer_labels)"
_ARRAY_HINT = "give a .npy array (np.save) or a .npz with one array per model input (np.savez)"
_LABEL_HINT = "give a .npy array of integer class indices, shape (samples,)"
_LIMIT_HINT = (
    "if you trust the file, raise the limit: --max-member-bytes N on the command line; from "
    "Python, max_member_bytes=N (snnc.datafiles) or limits=Limits(max_member_bytes=N) "
    "(snnc.compile, snnc.verify, snnc.sweep.run_sweep)"
)

#: what a refused dtype kind holds, for messages
_REFUSED_KINDS = {
    "U": "text",
    "S": "bytes",
    "c": "complex numbers",
    "M": "dates",
    "m": "time spans",
    "O": "Python objects",
    "V": "structured records",
}
#: exceptions of reading a damaged .npy / .npz (numpy, zipfile and zlib raise all of these)
_READ_ERRORS = (
    OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
    RuntimeError,  # an encrypted zip member
)


# =============================================================================== reading files


class ArrayLimitError(ModelFileError):
    """An array larger than the ``max_member_bytes`` cap (the file may be fine)."""



def read_arrays(
    path: str | os.PathLike, what: str = "input data", *, max_member_bytes: int | None = None
) -> list[tuple[str, np.ndarray]]:
    """``(name, array)`` for every array in the ``.npy`` (one array, named ``""``) or
    ``.npz`` (in file order) at ``path``; not checked beyond being readable numbers.

    ``max_member_bytes`` caps the data of each array, as its header declares it, before
    anything is allocated or decompressed (None: ``DEFAULT_LIMITS.max_member_bytes`` of
    :mod:`snnc.frontend.limits`, 512 MiB).

    Raises:
        ModelFileError: a missing file, a file that is neither ``.npy`` nor ``.npz`` (a
            pickle), a truncated or corrupt file, an array of Python objects, an array
            larger than ``max_member_bytes``; the message names the file (and the array).
    """
    if max_member_bytes is None:
        from snnc.frontend.limits import DEFAULT_LIMITS  # the cap model zip members have

        max_member_bytes = DEFAULT_LIMITS.max_member_bytes
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"{path}: {'not a file' if path.exists() else 'no such file'} (expected a .npy or .npz file of {what})",
            hint=_ARRAY_HINT,
        )
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(0)
            if head.startswith(b"\x93NUMPY"):
                return [("", _read_npy(f, os.fstat(f.fileno()).st_size, str(path), max_member_bytes))]
            if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
                return _read_npz(f, str(path), what, max_member_bytes)
    except SnncError:
        raise
    except _READ_ERRORS as e:
        raise ModelFileError(
            f"{path}: cannot read {what} ({type(e).__name__}: {e})", hint=_ARRAY_HINT
        ) from None
    raise ModelFileError(
        f"{path}: cannot read {what}: not a .npy or .npz file (it starts with {head[:8]!r}; "
        "data is read only from numpy's array formats, never unpickled)",
        hint=_ARRAY_HINT,
    )


def _read_npz(f, where: str, what: str, cap: int) -> list[tuple[str, np.ndarray]]:
    out = []
    with zipfile.ZipFile(f) as z:
        for info in z.infolist():
            if info.is_dir():
                continue
            name = info.filename.removesuffix(".npy")
            if name == info.filename:
                raise ModelFileError(
                    f"{where}: member {info.filename!r} is not a .npy array (expected a .npz "
                    f"written by np.savez holding {what})",
                    hint=_ARRAY_HINT,
                )
            with z.open(info) as member:
                where_array = f"{where}: array '{name}'"
                out.append((name, _read_npy(member, info.file_size, where_array, cap)))
    if not out:
        raise ModelFileError(f"{where}: the .npz holds no arrays (expected {what})", hint=_ARRAY_HINT)
    return out


def _read_npy(f, size: int, where: str, cap: int) -> np.ndarray:
    """One array from the open ``.npy`` stream ``f`` of ``size`` bytes. The header is
    checked first: no object dtype (that would need unpickling), no more data than the
    stream holds, so a damaged header cannot make numpy allocate what is not there, and
    no more than ``cap`` bytes."""
    fmt = np.lib.format
    version = fmt.read_magic(f)
    read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
    if read_header is None:
        raise ModelFileError(
            f"{where}: .npy format version {version[0]}.{version[1]} (expected 1.0 or 2.0)",
            hint="save the array with np.save",
        )
    shape, _, dtype = read_header(f)
    if dtype.hasobject:
        raise ModelFileError(
            f"{where}: an array of Python objects (dtype {dtype}); snnc does not unpickle "
            "data files (expected numbers)",
            hint="save a numeric array, e.g. np.save(path, x.astype(np.float32))",
        )
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    available = size - f.tell()
    if declared > available:
        raise ModelFileError(
            f"{where}: truncated or corrupt (its header declares {declared:,} bytes of data, "
            f"the file holds {max(available, 0):,})",
            hint="save the array again",
        )
    # for a .npz member the size above is what the zip directory says it inflates to, not
    # what it takes on disk: a few MB of np.savez_compressed zeros can declare gigabytes
    if declared > cap:
        raise ArrayLimitError(
            f"{where}: the array (shape {list(shape)}, dtype {dtype}) declares {declared:,} "
            f"bytes of data (expected at most {cap:,} bytes per array; limit max_member_bytes)",
            hint=_LIMIT_HINT,
        )
    f.seek(0)
    return fmt.read_array(f, allow_pickle=False)


def read_inputs(path, what: str = "input data", graph=None, *, max_member_bytes: int | None = None):
    """The arrays of a ``.npy`` / ``.npz`` file of model inputs or calibration data, checked.

    Returns None for no path, else one array (one model input) or a list (one per input,
    in the file's order). Every array passes :func:`check_array`; with ``graph``, the
    arrays also match its inputs (:func:`check_inputs`). ``max_member_bytes`` caps each
    array (see :func:`read_arrays`).

    Raises:
        ModelFileError / InputShapeError: naming the file and the array.
    """
    if path is None:
        return None
    named = read_arrays(path, what, max_member_bytes=max_member_bytes)
    arrays = [check_array(a, _where(path, name), what) for name, a in named]
    if graph is not None:
        arrays = check_inputs(graph, arrays, str(path), what, names=[n for n, _ in named])
    return arrays[0] if len(arrays) == 1 else arrays


def read_labels(path, what: str = "labels", *, max_member_bytes: int | None = None) -> np.ndarray:
    """Integer class labels from a ``.npy`` (or a ``.npz`` holding one array), checked
    by :func:`check_labels`; int64 ``(samples,)``. ``max_member_bytes`` caps the array
    (see :func:`read_arrays`).

    Raises:
        ModelFileError / SnncError: naming the file.
    """
    named = read_arrays(path, what, max_member_bytes=max_member_bytes)
    if len(named) != 1:
        raise ModelFileError(
            f"{path}: holds {len(named)} arrays ({', '.join(n for n, _ in named)}) "
            f"(expected one array of {what})",
            hint=_LABEL_HINT,
        )
    return check_labels(named[0][1], str(path))


def read_xy_npz(
    path: str | os.PathLike, what: str = "data", *, max_member_bytes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The arrays ``x`` and ``y`` of the ``.npz`` at ``path``, read safely but not checked
    (:func:`labelled_data` checks them against a model). ``max_member_bytes`` caps each
    array (see :func:`read_arrays`).

    Raises:
        ModelFileError: a missing or unreadable file, a single ``.npy`` array, or no ``x`` /
            ``y`` in it (the message lists the arrays it has); ``what`` names the data.
    """
    path = Path(path)
    if path.is_file():
        with open(path, "rb") as f:
            if f.read(6) == b"\x93NUMPY":
                raise ModelFileError(
                    f"{path}: a single array, not a .npz archive with x and y",
                    hint=_HINT + ", or pass --input x.npy --labels y.npy",
                )
    try:
        arrays = dict(read_arrays(path, what, max_member_bytes=max_member_bytes))
    except ArrayLimitError:  # the file is fine, the limit is what to change
        raise
    except ModelFileError as e:
        raise ModelFileError(e.message, hint=_HINT) from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise ModelFileError(
            f"{path}: no array {' or '.join(repr(k) for k in missing)} "
            f"(it has: {', '.join(arrays) or 'nothing'})",
            hint=_HINT,
        )
    return arrays["x"], arrays["y"]


def _where(path, name: str) -> str:
    return f"{path}: array '{name}'" if name else str(path)


# =============================================================================== checks


def check_array(a, where: str, what: str = "input data") -> np.ndarray:
    """One array of inputs or calibration data: batch-first real numbers, at least one
    sample, all finite. Returns it (booleans as float32 0 / 1).

    Raises:
        SnncError: naming ``where`` (a file, an array of a file, or an argument).
    """
    try:
        a = np.asarray(a)
    except Exception as e:  # noqa: BLE001 - ragged lists and the like: bad input, not a bug
        raise SnncError(f"{where}: {what} is not an array ({type(e).__name__}: {e})") from None
    kind = a.dtype.kind
    if kind in _REFUSED_KINDS or a.dtype.fields is not None:
        raise SnncError(
            f"{where}: {what} holds {_REFUSED_KINDS.get(kind, 'structured records')} (expected "
            f"real numbers: integers, floats or booleans; got dtype {a.dtype})",
            hint="convert it to numbers, e.g. x.astype(np.float32)",
        )
    if a.ndim < 2:
        raise SnncError(
            f"{where}: {what} has {'no axes (a single number)' if a.ndim == 0 else f'shape {list(a.shape)}'} "
            "(expected (samples, *input_shape): a batch-first array)",
            hint="a single sample needs a batch axis too: x[None]",
        )
    if a.size == 0:
        raise SnncError(
            f"{where}: {what} is empty (expected at least one sample with values, got shape "
            f"{list(a.shape)})"
        )
    if kind == "b":
        a = a.astype(np.float32)
    elif kind == "f":
        bad = a.size - int(np.count_nonzero(np.isfinite(a)))
        if bad:
            raise SnncError(
                f"{where}: {what} holds {bad:,} NaN or infinite value(s) of {a.size:,} "
                "(expected finite numbers)",
                hint="replace or drop the samples with missing values (e.g. np.nan_to_num)",
            )
    return a


def check_inputs(graph, x, where: str = "x", what: str = "input data", names=None) -> list[np.ndarray]:
    """Inputs (or calibration data) for ``graph``: one array, a list in input order or a
    mapping by input name, each checked by :func:`check_array` and against the shape of its
    model input; all with the same number of samples. Returns one array per graph input.

    ``names`` are the arrays' names in a ``.npz`` (for messages).

    Raises:
        InputShapeError: a missing array, a count or a shape that does not match the model
            (the message gives the expected and the actual shape); SnncError: bad values.
    """
    inputs = list(graph.inputs)
    arrays, wheres = split_inputs(x, inputs, where)
    if names is not None and len(names) == len(arrays):
        wheres = [_where(where, n) for n in names]
    if len(arrays) != len(inputs):
        raise InputShapeError(
            f"{where}: {len(arrays)} array(s) of {what} for a model with {len(inputs)} "
            f"input(s) ({', '.join(map(repr, inputs))}) (expected one array per input, in "
            "input order)",
            hint="a .npz holds one array per model input, in order (np.savez(path, a, b))",
        )
    out = []
    for name, a, w in zip(inputs, arrays, wheres, strict=True):
        a = check_array(a, w, what)
        want = tuple(graph.type(name).shape)
        if a.shape[1:] != want:
            if a.shape == want:
                hint = f"a single sample needs a batch axis: save x[None], shape [1, {', '.join(map(str, want))}]"
            elif int(np.prod(a.shape[1:])) == int(np.prod(want)):
                hint = f"reshape it: x.reshape(-1, {', '.join(map(str, want))})"
            else:
                hint = "inputs are batch-first and channels-last, without a time axis"
            raise InputShapeError(
                f"{w}: {what} has shape {list(a.shape)}, samples of shape {list(a.shape[1:])} "
                f"(expected [batch, {', '.join(map(str, want))}] for the model's input '{name}')",
                hint=hint,
            )
        out.append(a)
    sizes = [len(a) for a in out]
    if len(set(sizes)) > 1:
        raise InputShapeError(
            f"{where}: the arrays of {what} hold different numbers of samples "
            f"({', '.join(f'{w}: {s}' for w, s in zip(wheres, sizes, strict=True))}) "
            "(expected the same for every input)"
        )
    return out


def check_labels(y, where: str = "labels") -> np.ndarray:
    """Integer class labels as int64 ``(samples,)``; one-hot rows become their argmax and
    a ``(samples, 1)`` column its values.

    Raises:
        SnncError: not 1-D integers (floats must be whole numbers; booleans, text and other
            kinds are refused), empty, or negative; or 2-D rows that are not one-hot.
    """
    try:
        y = np.asarray(y)
    except Exception as e:  # noqa: BLE001 - anything that is not an array is bad input
        raise SnncError(f"{where}: labels are not an array ({type(e).__name__}: {e})") from None
    if y.ndim == 2 and y.shape[1] > 1 and y.dtype.kind in "iubf":
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise SnncError(
                f"{where}: labels have shape {list(y.shape)} but are not one-hot rows "
                "(expected one integer class label per sample, shape (samples,))",
                hint="for scores or probabilities save y=scores.argmax(-1)",
            )
        return y.argmax(axis=1).astype(np.int64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise SnncError(
            f"{where}: labels have shape {list(y.shape)} (expected one integer class label "
            "per sample, shape (samples,))"
        )
    if len(y) == 0:
        raise SnncError(f"{where}: no labels (expected one integer class label per sample)")
    if y.dtype.kind in "iu":
        out = y.astype(np.int64)
    elif y.dtype.kind == "f":
        whole = np.isfinite(y) & (y == np.round(y))
        if not whole.all():
            bad = y[~whole][:3].tolist()
            raise SnncError(
                f"{where}: labels must be integer class indices (got dtype {y.dtype} with "
                f"values that are not whole numbers, e.g. {bad})",
                hint="give integer labels (0..classes-1), not scores",
            )
        out = y.astype(np.int64)
    else:
        raise SnncError(
            f"{where}: labels must be integer class indices (got dtype {y.dtype}, e.g. "
            f"{y[:3].tolist()})",
            hint="give integer labels (0..classes-1), not booleans, text or scores",
        )
    if out.min() < 0:
        raise SnncError(f"{where}: negative label {int(out.min())} (expected class indices >= 0)")
    return out


def check_label_fit(y: np.ndarray, samples: int, where: str, inputs_where: str, graph=None) -> None:
    """Labels fit the inputs and the model: one per sample and, with ``graph``, each a
    class of its first output (the output that is scored: ``0 .. size - 1``).

    Raises:
        InputShapeError: a count that differs; SnncError: a label out of range.
    """
    if len(y) != samples:
        raise InputShapeError(
            f"{where}: {len(y)} labels for {samples} samples in {inputs_where} (expected one "
            "label per sample)"
        )
    if graph is not None:
        output = graph.outputs[0]
        classes = graph.type(output).size
        if int(y.max()) >= classes:
            raise SnncError(
                f"{where}: label {int(y.max())} but the model's output '{output}' has {classes} "
                f"values (expected labels 0..{classes - 1})"
            )


def labelled_data(
    data, graph, *, max_member_bytes: int | None = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Inputs and labels for ``graph``, checked: ``data`` is ``(x, y)`` (each an array or
    the path of a ``.npy`` / ``.npz``; ``x`` may be a list or mapping of arrays), a mapping
    with ``x`` and ``y``, or the path of a ``.npz`` holding arrays ``x`` and ``y``. Labels
    are classes of the graph's first output (see :func:`check_label_fit`). Files are read
    with ``max_member_bytes`` as the cap of each array (see :func:`read_arrays`).

    Returns:
        ``(one array per graph input, int64 labels)``.

    Raises:
        SnncError (ModelFileError, InputShapeError): naming the file or argument.
    """
    if isinstance(data, (str, os.PathLike)):
        x, y = read_xy_npz(data, max_member_bytes=max_member_bytes)
        where_x, where_y = _where(data, "x"), _where(data, "y")
    elif isinstance(data, Mapping):
        if "x" not in data or "y" not in data:
            raise SnncError(f"data: a mapping needs keys 'x' and 'y' (got {', '.join(map(repr, data))})")
        x, y, where_x, where_y = data["x"], data["y"], "data['x']", "data['y']"
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        (x, y), where_x, where_y = data, "x", "y"
    else:
        raise SnncError(
            "data: expected (x, y), a mapping with x and y, or the path of a .npz (got "
            f"{type(data).__name__})"
        )
    names = None
    if isinstance(x, (str, os.PathLike)):
        where_x = str(x)
        named = read_arrays(x, "input data", max_member_bytes=max_member_bytes)
        names = [n for n, _ in named]
        x = [a for _, a in named]
    if isinstance(y, (str, os.PathLike)):
        where_y = str(y)
        y = read_labels(y, max_member_bytes=max_member_bytes)
    xs = check_inputs(graph, x, where_x, "input data", names=names)
    y = check_labels(y, where_y)
    check_label_fit(y, len(xs[0]), where_y, where_x, graph)
    return xs, y


__all__ = [
    "ArrayLimitError",
    "check_array",
    "check_inputs",
    "check_label_fit",
    "check_labels",
    "labelled_data",
    "read_arrays",
    "read_inputs",
    "read_labels",
    "read_xy_npz",
]

"""Reading labelled data sets: a ``.npz`` with arrays ``x`` (inputs) and ``y`` (labels).

Shared by ``snnc verify`` and ``snnc sweep``, which take the same ``--data DATA.npz``; each
checks the arrays' contents its own way.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from snnc.errors import ModelFileError

_HINT = "save the data with np.savez(path, x=inputs, y=integer_labels)"


def read_xy_npz(path: str | os.PathLike, what: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """The arrays ``x`` and ``y`` of the ``.npz`` at ``path`` (not pickled, not checked).

    Raises:
        ModelFileError: a missing or unreadable file, a single ``.npy`` array, or no ``x`` /
            ``y`` in it (the message lists the arrays it has); ``what`` names the data.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file", hint=_HINT)
    try:
        f = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path}: cannot read {what} ({e})", hint=_HINT) from None
    if isinstance(f, np.ndarray):
        raise ModelFileError(
            f"{path}: a single array, not a .npz archive with x and y",
            hint=_HINT + ", or pass --input x.npy --labels y.npy",
        )
    with f:
        missing = [k for k in ("x", "y") if k not in f.files]
        if missing:
            raise ModelFileError(
                f"{path}: no array {' or '.join(repr(k) for k in missing)} "
                f"(it has: {', '.join(f.files) or 'nothing'})",
                hint=_HINT,
            )
        try:
            return f["x"], f["y"]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # corrupt or pickled
            raise ModelFileError(f"{path}: cannot read x / y ({e})") from None

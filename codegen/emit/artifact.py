"""The artifact of the nengo-family targets: a generated module and its weights.

:class:`NengoNetwork` holds the *source* of ``network.py`` and the arrays of
``weights.npz``. Its network is made by executing that very source in-process
(:meth:`NengoNetwork.build`), so the files written by ``snnc compile`` and the network run by
``snnc run`` cannot differ; and because ``snnc run`` regenerates the source from
``model.snnc`` and compares (:meth:`NengoNetwork.differences`), a ``network.py`` edited after
compiling is refused rather than run.
"""

from __future__ import annotations

import types
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from snnc.codegen.target import Artifact, NodeRecord, read_file, sha256_hex
from snnc.errors import ModelFileError

MODULE_FILE = "network.py"
WEIGHTS_FILE = "weights.npz"


class NengoNetwork(Artifact):
    """Generated ``network.py`` source + ``weights.npz`` arrays.

    Attributes:
        source: the module text; ``weights``: its arrays by key; ``records``: what each IR
            node became; ``imports``: backend modules the module imports.
    """

    def __init__(
        self,
        source: str,
        weights: dict[str, np.ndarray],
        records: dict[str, NodeRecord] | None = None,
        imports: tuple[str, ...] = (),
    ):
        self.source = source
        self.weights = weights
        self.records = records or {}
        self.imports = tuple(imports)
        self._module: types.ModuleType | None = None

    @property
    def files(self) -> tuple[str, ...]:
        return (MODULE_FILE, WEIGHTS_FILE)

    @property
    def sha256(self) -> str:
        """SHA-256 of the module source (``network_sha256`` in the manifest)."""
        return sha256_hex(self.source.encode("utf-8"))

    def manifest(self) -> dict:
        return {"network_sha256": self.sha256}

    # ------------------------------------------------------------------ files
    def write(self, folder: Path) -> None:
        folder = Path(folder)
        (folder / MODULE_FILE).write_bytes(self.source.encode("utf-8"))
        np.savez(folder / WEIGHTS_FILE, **self.weights)

    def differences(self, folder: Path, manifest: Mapping) -> list[str]:
        folder = Path(folder)
        out = []
        path = folder / MODULE_FILE
        if not path.is_file():
            return [f"{MODULE_FILE} is missing"]
        on_disk = read_file(path)
        if on_disk != self.source.encode("utf-8"):
            out.append(f"{MODULE_FILE} differs from what snnc generates from model.snnc ({_first_difference(on_disk, self.source)})")
        if manifest.get("network_sha256") != sha256_hex(on_disk):
            out.append(f"manifest.json's network_sha256 does not match {MODULE_FILE}")
        if not (folder / WEIGHTS_FILE).is_file():
            return [*out, f"{WEIGHTS_FILE} is missing"]
        theirs = read_weights(folder / WEIGHTS_FILE)
        differ = sorted(
            k
            for k in set(theirs) | set(self.weights)
            if k not in theirs
            or k not in self.weights
            or theirs[k].dtype != self.weights[k].dtype
            or theirs[k].shape != self.weights[k].shape
            or not np.array_equal(theirs[k], self.weights[k])
        )
        if differ:
            out.append(f"{WEIGHTS_FILE} differs from model.snnc's parameters (arrays {', '.join(differ[:5])})")
        return out

    @classmethod
    def read(cls, folder: Path) -> NengoNetwork:
        """The files of ``folder`` as they are (``--trust-code``): what runs is its
        ``network.py``, whatever it holds."""
        folder = Path(folder)
        try:
            source = read_file(folder / MODULE_FILE).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ModelFileError(f"{folder / MODULE_FILE}: not UTF-8 text ({e})") from None
        return cls(source, read_weights(folder / WEIGHTS_FILE))

    # ------------------------------------------------------------------ the network
    @property
    def module(self) -> types.ModuleType:
        """The generated module, executed in-process (imports the backend)."""
        if self._module is None:
            module = types.ModuleType("snnc_generated_network")
            module.__file__ = "<snnc network>"
            # the source is what snnc generated from model.snnc, or trusted by the user
            exec(compile(self.source, module.__file__, "exec"), module.__dict__)  # noqa: S102
            self._module = module
        return self._module

    def build(self):
        """A fresh ``(network, inputs, probes)`` from the module's ``build``."""
        return self.module.build(self.weights)


def read_weights(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a ``weights.npz`` (no pickles); ModelFileError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path}: cannot read the weights ({type(e).__name__}: {e})") from None


def _first_difference(on_disk: bytes, source: str) -> str:
    theirs = on_disk.decode("utf-8", errors="replace").splitlines()
    ours = source.splitlines()
    for i, (a, b) in enumerate(zip(theirs, ours, strict=False), start=1):
        if a != b:
            return f"first at line {i}"
    return f"{len(theirs)} lines instead of {len(ours)}"

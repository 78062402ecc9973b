"""Files the fuzzer (test_fuzz_files.py) found that once escaped as something other than an
SnncError, or never finished loading; each is kept here and must now be refused with an
SnncError, quickly.

- ``h5_link_visit_callback_error.keras``: a damaged link message in model.weights.h5;
  h5py's ``visititems_links`` resolves each link inside its callback, the RuntimeError
  there surfaced as a ``SystemError`` (now: a low-level visit that opens nothing).
- ``h5_superblock_offset_overflow.keras``: a damaged HDF5 superblock makes h5py's in-memory
  file driver compute an offset beyond C's range: ``OverflowError``.
- ``h5_damaged_link_message.h5``: a legacy .h5 whose root link message is damaged
  (``RuntimeError`` from a link-existence check).
- ``h5_global_heap_endless_loop.h5``: a free-space object of size 0 in a global heap
  collection: HDF5 2.0 loops forever reading the model_config attribute (now refused by
  a walk of the collections before HDF5 opens the file).
- ``snnir_not_utf8.snnir``: a ``.snnir`` fixture whose first byte became 0x80 (the byte
  fuzz of snnc's own files): ``UnicodeDecodeError`` from the text reader, a traceback at
  ``snnc compile`` (now an IRParseError saying the file is not UTF-8 text).
- ``snnir_unknown_dtype.snnir``, ``snnir_unknown_param_dtype.snnir``: one bit flip turned
  a node's type ``f32[2,2]`` (or a parameter literal's ``<f32[3,2] ...>``) into ``g32``: the
  type parser's ``ValueError`` escaped the .snnir parser (now an IRParseError naming the
  line and column).
- ``snnc_damaged_deflate.snnc``: a ``model.snnc`` with one byte of a member's deflate
  stream zeroed: ``zlib.error`` escaped the model.snnc reader (now a ModelFileError).
- ``snnc_zip_version_too_new.snnc``, ``keras_zip_version_too_new.keras``: a damaged
  "version needed to extract" field in the zip's central directory: ``snnc.load``'s check
  whether a zip is a model.snnc let zipfile's ``NotImplementedError`` through, for every
  zip (now the model.snnc or Keras reader refuses it).

Each file is loaded in a child process with a timeout, so a regression into an endless
loop fails the test instead of hanging the suite. Config-level findings are table cases in
tests/frontend/test_malformed.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FILES = sorted((Path(__file__).parent / "regressions").iterdir())
#: the Keras files among them (the others are snnc's own formats, read by snnc.load)
KERAS_FILES = [p for p in FILES if p.suffix in (".keras", ".h5")]

_LOAD = """
import sys
import {module}
from snnc.errors import SnncError
try:
    {module}.load(sys.argv[1])
except SnncError as e:
    print("SnncError:", str(e).splitlines()[0])
else:
    print("loaded")
"""


def _load_in_child(module: str, path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _LOAD.format(module=module), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_there_are_regression_files():
    assert len(KERAS_FILES) >= 5 and len(FILES) >= 10


@pytest.mark.parametrize("path", KERAS_FILES, ids=lambda p: p.name)
def test_frontend_refuses_cleanly(path):
    out = _load_in_child("snnc.frontend", path)
    assert out.startswith(f"SnncError: {path}: ")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_public_load_refuses_cleanly(path):
    """``snnc.load`` first asks the other readers (model.snnc, .snnir, NIR) whether the
    file is theirs: those checks must not fail on a damaged file either."""
    assert _load_in_child("snnc", path).startswith(f"SnncError: {path}: ")

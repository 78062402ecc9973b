"""The ``nir`` target: snnc compile writes model.nir through the codegen seam."""

import subprocess
import sys

import nir
import numpy as np
import pytest

import snnc
from snnc.codegen import Compiled, compile_graph, get_target
from snnc.errors import ModelFileError

DIGITS = "examples/digits/digits_cnn.keras"


@pytest.fixture(scope="module")
def compiled():
    x = np.random.default_rng(0).uniform(0, 1, size=(40, 8, 8, 1))
    return compile_graph(snnc.load(DIGITS), "nir", calibration=x), x


def test_compile_for_nir_writes_a_nir_file_that_imports_back(compiled, tmp_path):
    c, x = compiled
    out = c.save(tmp_path / "out")
    assert (out / "model.nir").is_file() and "approximation allowed: rectified-current" in c.report
    g = nir.read(out / "model.nir")
    assert any(isinstance(n, nir.IF) for n in g.nodes.values())
    back = snnc.load(out / "model.nir", approximate="rectified-current")
    assert back.structurally_equal(c.graph)
    np.testing.assert_allclose(snnc.evaluate(back, x), snnc.evaluate(c.graph, x), rtol=1e-6, atol=1e-6)
    assert Compiled.load(out).artifact.contents == c.artifact.contents
    (out / "model.nir").write_bytes(b"edited")
    with pytest.raises(ModelFileError, match="model.nir differs"):
        Compiled.load(out)


def test_nir_target_is_listed_and_cannot_run(compiled):
    assert "nir" in [t.name for t in snnc.codegen.all_targets()]
    assert get_target("nir").session is None
    c, x = compiled
    with pytest.raises(snnc.errors.SnncError, match="has no simulator"):
        c.run(x[:1], steps=1)


def test_cli_compile_target_nir(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "snnc", "compile", DIGITS, "--target", "nir", "-o", str(tmp_path / "o")],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o" / "model.nir").is_file()

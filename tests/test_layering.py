"""Architecture rules: import direction between the layers, and a light `import snnc`."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# installed name -> source folder
LAYERS = {
    "snnc.ir": ROOT / "ir",
    "snnc.passes": ROOT / "passes",
    "snnc.codegen": ROOT / "codegen",
    "snnc.sim": ROOT / "snnc" / "sim",
    "snnc.frontend": ROOT / "snnc" / "frontend",
    "snnc.nir": ROOT / "snnc" / "nir",
}
# what each layer may import from snnc (besides itself); snnc.ir imports nothing above it
ALLOWED = {
    "snnc.ir": set(),
    "snnc.passes": {"snnc.errors", "snnc.ir", "snnc"},
    # the nir target writes files with snnc.nir's translation; Compiled.run checks its
    # inputs (snnc.datafiles) and its cost (snnc.runcost) as every runner does
    "snnc.codegen": {
        "snnc.errors", "snnc.ir", "snnc.passes", "snnc", "snnc.nir", "snnc.datafiles",
        "snnc.runcost",
    },
    "snnc.sim": {"snnc.errors", "snnc.ir", "snnc", "snnc.runcost"},
    "snnc.frontend": {"snnc.errors", "snnc.ir", "snnc"},
    # NIR files are read with the frontend's size limits
    "snnc.nir": {"snnc.errors", "snnc.ir", "snnc", "snnc.frontend"},
}


def snnc_imports(path: Path) -> set[str]:
    """Every snnc module a file imports, at any depth (function-local imports too);
    ``from snnc import codegen`` counts as importing ``snnc.codegen``."""
    mods = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            mods |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module)
            if node.module == "snnc":  # `from snnc import codegen` names a subpackage
                mods |= {f"snnc.{a.name}" for a in node.names if a.name in SUBPACKAGES}
                if any(a.name not in SUBPACKAGES for a in node.names):
                    mods.add("snnc")
    return {m for m in mods if m == "snnc" or m.startswith("snnc.")}


SUBPACKAGES = {"ir", "passes", "codegen", "sim", "frontend", "errors", "api", "cli", "commands", "nir", "verify"}


def test_from_imports_of_subpackages_are_seen(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from snnc import codegen, load\n")
    assert snnc_imports(f) == {"snnc.codegen", "snnc"}


def layer_of(module: str) -> str:
    for name in sorted(ALLOWED, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    return module if module in ("snnc", "snnc.errors") else ".".join(module.split(".")[:2])


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_import_direction(layer):
    bad = []
    for path in sorted(LAYERS[layer].rglob("*.py")):
        for mod in snnc_imports(path):
            target = layer_of(mod)
            if target != layer and target not in ALLOWED[layer]:
                bad.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert not bad, "\n".join(bad)


def test_no_bare_layer_imports():
    """Code imports snnc.ir / snnc.passes / snnc.codegen, never the bare folder names."""
    bad = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        if ".venv" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            bad += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in ("ir", "passes", "codegen")]
    assert not bad, "\n".join(bad)


def test_import_snnc_and_help_are_light():
    code = (
        "import sys, snnc, snnc.cli; snnc.cli.build_parser();"
        "heavy = [m for m in ('tensorflow', 'nengo', 'numba', 'nengo_dl', 'keras') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_public_api_name_exists():
    import snnc
    from snnc import api

    for name in snnc._API:
        assert callable(getattr(api, name)), name


def test_test_module_names_are_unique():
    """pytest imports test files by basename (no packages under tests/): two files with one
    name make the whole run stop at collection."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})

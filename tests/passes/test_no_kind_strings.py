"""The passes ask op traits and classes, never op-kind strings (issue 7): a misspelt kind
string never matches and fails silently, a trait or class name fails loudly.

Scans every module of ``passes/`` and ``snnc/commands/passes.py`` for string constants
that are an op kind (``"nn.dense"``, ``"snn.if"``, or anything shaped like one) or a
dialect name (``"ann"``, used as ``op.dialect != "ann"``). Docstrings are prose and exempt;
messages that mention a kind inside a sentence are not a full match and pass.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from snnc.ir.ops import OPS

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "passes").glob("*.py")) + [ROOT / "snnc" / "commands" / "passes.py"]
_KIND_SHAPE = re.compile(r"^(nn|ann|snn)(\.[A-Za-z0-9_]+)?$")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def kind_strings(source: str) -> list[tuple[int, str]]:
    """``(line, text)`` of every non-docstring string constant that names an op kind or a
    dialect."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and (node.value in OPS or _KIND_SHAPE.match(node.value))
    ]


def test_the_scan_finds_kind_strings():
    source = 'def f(op):\n    """About nn.dense."""\n    return op.kind == "nn.dense" or op.dialect != "ann"\n'
    assert kind_strings(source) == [(3, "nn.dense"), (3, "ann")]
    assert kind_strings('x = f"kept as {a}: nn.affine"\n') == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_op_kind_strings_in_the_passes(path):
    found = kind_strings(path.read_text())
    assert not found, (
        f"{path.relative_to(ROOT)}: op-kind strings {found} (use traits or op classes)"
    )

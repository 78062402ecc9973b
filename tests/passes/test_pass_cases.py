"""Text-in / text-out pass tests: every ``cases/<pass>/*.snnir`` file is one test.

Case file format (directives are ``//`` comments, so the whole file parses as the input)::

    // RUN: canonicalize,fold-batchnorm          the pipeline
    // VERIFY: off                               optional: do not verify the input graph
    // CALIBRATION: [[0.5, -1.0], [2.0, 0.1]]    optional: calibration batch (one input)
    // NOTE: kept as nn.affine                   optional, repeatable: a note must contain it
    graph @case(dt=0.001) { ... the input ... }
    // CHECK:
    // graph @case(dt=0.001) {                   the expected output, weights printed in full
    // ...

or, instead of ``// CHECK:``, ``// ERROR: <substring of the error message>``.
``UPDATE_CASES=1 pytest tests/passes/test_pass_cases.py`` rewrites the CHECK blocks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from snnc.errors import SnncError
from snnc.ir import parse_graph, print_graph, verify
from snnc.passes import PassContext, run_pipeline

CASES = sorted((Path(__file__).parent / "cases").glob("*/*.snnir"))


def _directive(line: str) -> tuple[str, str] | None:
    body = line.strip().removeprefix("//").strip()
    key, sep, value = body.partition(":")
    if line.lstrip().startswith("//") and sep and key.isupper():
        return key, value.strip()
    return None


def _parse_case(text: str) -> dict:
    lines = text.splitlines()
    case = {
        "run": None,
        "verify": True,
        "calibration": None,
        "notes": [],
        "error": None,
        "check": None,
    }
    for i, line in enumerate(lines):
        d = _directive(line)
        if d is None:
            continue
        key, value = d
        if key == "RUN":
            case["run"] = value
        elif key == "VERIFY":
            case["verify"] = value != "off"
        elif key == "CALIBRATION":
            case["calibration"] = np.array(json.loads(value), dtype=np.float32)
        elif key == "NOTE":
            case["notes"].append(value)
        elif key == "ERROR":
            case["error"] = value
        elif key == "CHECK":
            case["head"] = "\n".join(lines[: i + 1]) + "\n"
            case["check"] = "".join(
                ln.strip().removeprefix("//").removeprefix(" ") + "\n" for ln in lines[i + 1 :]
            )
            break
    assert case["run"] is not None, "a case needs a '// RUN: <pipeline>' line"
    assert (case["error"] is None) != (case["check"] is None), (
        "a case needs exactly one of CHECK / ERROR"
    )
    return case


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_case(path: Path):
    text = path.read_text()
    case = _parse_case(text)
    graph = parse_graph(text)
    ctx = PassContext.default(calibration=case["calibration"])
    if case["error"] is not None:
        with pytest.raises(SnncError) as info:
            run_pipeline(graph, case["run"], ctx, verify=case["verify"])
        assert case["error"] in str(info.value)
        return
    out, report = run_pipeline(graph, case["run"], ctx, verify=case["verify"])
    verify(out)
    actual = print_graph(out, weights="full")
    for note in case["notes"]:
        assert any(note in n for n in report.notes), f"no note contains {note!r}: {report.notes}"
    if os.environ.get("UPDATE_CASES") == "1":
        path.write_text(case["head"] + "".join(f"// {ln}\n" for ln in actual.splitlines()))
        return
    assert actual == case["check"]


def test_there_are_cases_for_every_builtin_pass():
    folders = {p.parent.name for p in CASES}
    assert {
        "canonicalize",
        "fold_batchnorm",
        "lower_activations",
        "fuse_bias",
        "normalize_rates",
    } <= folders
    assert any(_parse_case(p.read_text())["error"] for p in CASES), "error cases exist"

"""Text and file round trips on every convertible model of the Keras test zoo."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "frontend"))
import zoo  # noqa: E402

import snnc  # noqa: E402
from snnc.ir import parse_graph, print_graph  # noqa: E402
from snnc.ir.serialize import graph_weights, load, save  # noqa: E402


@pytest.fixture(scope="module")
def graphs():
    return {zm.name: snnc.load(zm.build()) for zm in zoo.CONVERTIBLE}


@pytest.mark.parametrize("name", [zm.name for zm in zoo.CONVERTIBLE])
def test_print_parse_print_and_save_load(graphs, name, tmp_path):
    g = graphs[name]
    for weights in ("hash", "full"):
        text = print_graph(g, weights=weights, meta=True)
        g2 = parse_graph(text, graph_weights(g))
        assert print_graph(g2, weights=weights, meta=True) == text
        assert g2.structurally_equal(g)
    g3, _ = load(save(g, tmp_path / "m.snnc"))
    assert g3.structurally_equal(g) and g3.fingerprint() == g.fingerprint()

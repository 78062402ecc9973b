import json
import zipfile

import pytest
from ir_graphs import cnn, mlp

from snnc.errors import ModelFileError
from snnc.ir.serialize import load, save, to_dot, to_json


@pytest.mark.parametrize("make", [mlp, cnn])
def test_save_load_gives_a_structurally_equal_graph(tmp_path, make):
    g = make()
    g.set_meta("dense", keras_layer="dense", keras_class="Dense")
    path = save(g, tmp_path / "model.snnc", {"pipeline": "canonicalize", "target": "nengo"})
    g2, manifest = load(path)
    assert g2.structurally_equal(g) and g2.meta("dense")["keras_class"] == "Dense"
    assert manifest["pipeline"] == "canonicalize" and manifest["fingerprint"] == g.fingerprint()
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["graph.snnir", "manifest.json", "weights.npz"]


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    save(mlp(), tmp_path / "m.snnc")
    save(cnn(), tmp_path / "m.snnc")  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["m.snnc"]
    assert load(tmp_path / "m.snnc")[0].name == "cnn"


def test_corrupt_files_give_model_file_errors(tmp_path):
    bad = tmp_path / "bad.snnc"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelFileError, match="bad.snnc"):
        load(bad)
    partial = tmp_path / "partial.snnc"
    with zipfile.ZipFile(partial, "w") as z:
        z.writestr("graph.snnir", "graph @g {\n}")
    with pytest.raises(ModelFileError, match="missing manifest.json, weights.npz"):
        load(partial)


def test_json_view_lists_nodes_in_order():
    doc = to_json(cnn(), weights="stats")
    json.dumps(doc)  # serialisable
    names = [n["name"] for n in doc["nodes"]]
    assert names[0] == "input" and names[-1] == "output" and doc["stage"] == "snn"
    pool = next(n for n in doc["nodes"] if n["name"] == "pool")
    assert pool["inputs"] == [{"node": "conv1.act", "port": 0, "synapse": 0.005}]
    assert set(doc["nodes"][1]["params"]["weight"]) >= {"shape", "hash", "min", "std"}


def test_dot_view():
    dot = to_dot(cnn())
    assert dot.startswith('digraph "cnn" {') and '"conv1.act" -> "pool"' in dot and "τ=0.005" in dot

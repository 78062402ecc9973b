"""``snnc.verify`` on the digits example: tier 1 passes, a sign-flipped layer is found,
tier 2's numbers are consistent, and the report's JSON holds what it prints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import KERAS3, LAYERS, MODEL

import snnc
from snnc.verify import verify


@pytest.fixture(scope="module")
def report(digits, tmp_path_factory):
    x_train, _, x_test, y_test = digits
    plots = tmp_path_factory.mktemp("plots")
    return verify(
        MODEL,
        (x_test, y_test),
        "nengo",
        steps=30,
        calibration=x_train[:200],
        plots=plots,
        progress=False,
    )


def test_tier1_passes_on_the_digits_example(report):
    t1 = report.tier1
    assert report.passed and report.exit_code == 0 and t1["passed"]
    assert t1["reference"] == "keras"  # TensorFlow 2.12 reads the Keras 2.12 file
    assert t1["worst_layer"] in LAYERS
    assert t1["max_abs_error"] < 1e-4
    assert [r["layer"] for r in t1["layers"]] == list(LAYERS)
    assert set(t1["checks"]) == {"keras_vs_ir", "pipeline_rate", "compiled_graph", "network"}
    for row in t1["layers"]:
        assert set(row["errors"]) == {"keras_vs_ir", "pipeline_rate", "compiled_graph"}
        assert row["max_rel_error"] < t1["tolerance"]
    net = t1["checks"]["network"]
    assert net["argmax_agreement"] == 1.0 and net["max_abs_error"] < 1e-6


def test_tier2_numbers_are_consistent(report, digits):
    t2 = report.tier2
    n = len(digits[3])
    assert t2["samples"] == n and t2["steps"] == 30 and t2["neurons"] == ["iaf"]
    # the README's Keras accuracy on these 450 images: 96.00% (432/450)
    assert t2["ann_correct"] == 432 and t2["ann_accuracy"] == pytest.approx(432 / 450)
    assert 0.5 < t2["snn_accuracy"] <= 1.0
    for key in ("ann", "snn"):
        lo, hi = t2[f"{key}_accuracy_ci"]
        assert lo <= t2[f"{key}_accuracy"] <= hi
    curve = t2["accuracy_vs_steps"]
    assert [c["steps"] for c in curve] == list(range(1, 31))
    assert curve[-1]["accuracy"] == t2["snn_accuracy"]
    m = t2["mcnemar"]
    assert m["ann_only_correct"] - m["snn_only_correct"] == t2["ann_correct"] - t2["snn_correct"]
    assert 0.0 <= m["p_value"] <= 1.0
    rows = {r["node"]: r for r in t2["layers"]}
    assert set(rows) == {"conv1.act", "conv2.act", "logits"} and rows["logits"]["readout"]
    for node in ("conv1.act", "conv2.act"):
        r = rows[node]
        assert 0 < r["mean_rate_hz"] <= r["max_rate_hz"]
        assert 0 <= r["fraction_silent"] < 1 and 0 <= r["fraction_saturated"] <= 1
        assert r["synops_per_inference"] == pytest.approx(
            r["spikes_per_inference"] * r["fan_out_mean"], rel=0.5
        )  # same order: spikes x fan-out (exact only if every neuron had the mean fan-out)
        assert 0 < r["error"]["rel_l2"] < 1
    s = t2["synops"]
    assert s["per_inference"] == pytest.approx(
        sum(rows[k]["synops_per_inference"] for k in ("conv1.act", "conv2.act"))
    )
    assert s["ann_macs"] == 36 * 72 + 4 * 1152 + 640
    e = t2["energy"]
    assert e["ann_pj"] == pytest.approx(s["ann_macs"] * 4.6)
    assert e["snn_pj"] == pytest.approx(s["per_inference"] * 0.9 + s["snn_static_macs"] * 4.6)
    assert "Horowitz" in e["source"]


def test_snn_accuracy_matches_snnc_simulate(report, digits):
    """Tier 2's accuracy is the public simulator's (readout convention: running mean)."""
    x_train, _, x_test, y_test = digits
    c = snnc.compile(MODEL, "nengo", calibration=x_train[:200])
    ys = snnc.simulate(c.graph, x_test, 30)
    assert np.mean(ys[:, -1].argmax(-1) == y_test) == pytest.approx(report.tier2["snn_accuracy"])


def test_loihi_tier2_is_loihi_mode_accuracy(digits):
    """For the loihi target, tier 2 runs the chip's integer semantics (Loihi mode), whose
    accuracy at few steps is well below nengo's float semantics of the same graph."""
    x_train, _, x_test, y_test = digits
    x, y = x_test[:200], y_test[:200]
    r = verify(
        MODEL, (x, y), "loihi", steps=8, calibration=x_train[:200], tiers=(2,), progress=False
    )
    t2 = r.tier2
    assert t2["mode"] == "loihi" and "Loihi integer mode" in t2["simulator"]
    g = snnc.compile(MODEL, "loihi", calibration=x_train[:200]).graph
    by_mode = {
        m: np.mean(snnc.simulate(g, x, 8, mode=m)[:, -1].argmax(-1) == y)
        for m in ("loihi", "nengo")
    }
    assert t2["snn_accuracy"] == pytest.approx(by_mode["loihi"])
    assert by_mode["loihi"] < by_mode["nengo"] - 0.02  # the difference the mode makes


def _wide_model():
    """A conv layer of 12 x 12 x 8 = 1152 neurons: above one core, split into blocks."""
    import tensorflow as tf

    tf.random.set_seed(0)
    inp = tf.keras.Input((12, 12, 1))
    h = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    out = tf.keras.layers.Dense(3)(tf.keras.layers.Flatten()(h))
    model = tf.keras.Model(inp, out)
    x = np.random.default_rng(0).random((40, 12, 12, 1)).astype(np.float32)
    return model, x, model.predict(x, verbose=0).argmax(-1)


def test_loihi_tier2_runs_layers_split_over_cores_in_loihi_mode():
    model, x, y = _wide_model()
    r = verify(model, (x, y), "loihi", steps=8, calibration=x, tiers=(2,), progress=False)
    assert r.tier2["mode"] == "loihi" and not r.tier2["notes"]


def test_loihi_tier2_falls_back_to_nengo_mode_with_a_note(monkeypatch):
    """A graph Loihi mode refuses: tier 2 still runs, in nengo's float semantics, and says
    so (here Loihi mode is made to refuse)."""
    from snnc.errors import SnncError
    from snnc.sim import loihi

    def refuse(self, *args, **kwargs):
        raise SnncError("loihi mode: not emulated (test)")

    monkeypatch.setattr(loihi.LoihiPlan, "__init__", refuse)
    model, x, y = _wide_model()
    r = verify(model, (x, y), "loihi", steps=8, calibration=x, tiers=(2,), progress=False)
    t2 = r.tier2
    assert t2["mode"] == "nengo" and "Loihi integer mode" not in t2["simulator"]
    assert any("not simulated in Loihi mode" in n and "(test)" in n for n in t2["notes"])
    assert "note: not simulated in Loihi mode" in str(r)


def test_json_holds_every_printed_number(report, tmp_path):
    path = report.save_json(tmp_path / "report.json")
    data = json.loads(path.read_text())
    assert data["tier1"]["passed"] is True
    for key in ("max_abs_error", "worst_layer"):
        assert key in data["tier1"]
    for key in ("ann_accuracy", "snn_accuracy", "layers", "synops"):
        assert key in data["tier2"]
    text = str(report)
    # every percentage printed is a JSON number (accuracies, CIs, fractions, agreements)
    numbers = _json_numbers(data)
    for pct in re.findall(r"(\d+\.\d+)%", text):
        assert any(abs(100 * v - float(pct)) < 0.006 for v in numbers), pct
    for sci in re.findall(r"\d\.\d+e[+-]\d+", text):
        # printed with 2-3 significant digits: within half a unit of the second digit
        assert float(sci) == 0 or any(
            abs(v - float(sci)) <= 0.05 * abs(float(sci)) for v in numbers
        ), sci


def _json_numbers(v) -> list[float]:
    if isinstance(v, dict):
        return [x for item in v.values() for x in _json_numbers(item)]
    if isinstance(v, list):
        return [x for item in v for x in _json_numbers(item)]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return [float(v)]
    return []


def test_plots_are_pngs(report):
    assert [Path(p).name for p in report.plots] == ["accuracy_vs_steps.png", "layers.png"]
    for p in report.plots:
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("layer", ["conv1", "conv2", "logits"])
def test_a_sign_flipped_layer_fails_tier1_and_is_named(layer, flipped, digits_artifact, digits):
    """The artifact was compiled from the original model; verified against a copy with one
    layer's kernel negated, tier 1 fails and names that layer, not the layers after it."""
    _, _, x_test, y_test = digits
    r = verify(
        flipped(layer), (x_test, y_test), artifact=digits_artifact, tiers=(1,), progress=False
    )
    t1 = r.tier1
    assert not r.passed and r.exit_code == 1
    assert t1["worst_layer"] == layer
    bad = [row["layer"] for row in t1["layers"] if not row["passed"]]
    assert bad == [layer]
    assert t1["checks"]["artifact_files"]["ok"]
    assert (
        t1["checks"]["keras_vs_ir"]["max_rel_error"] < 1e-5
    )  # the modified model itself is read right


def test_the_artifact_against_its_own_model_passes(digits_artifact, digits):
    _, _, x_test, y_test = digits
    r = verify(MODEL, (x_test, y_test), artifact=digits_artifact, tiers=(1,), progress=False)
    assert r.passed and r.tier1["checks"]["artifact_files"]["ok"]


def test_an_edited_artifact_fails_tier1(digits_artifact, digits, tmp_path):
    import shutil

    out = tmp_path / "edited"
    shutil.copytree(digits_artifact, out)
    with np.load(out / "weights.npz") as f:
        weights = {k: f[k] for k in f.files}
    key = sorted(weights)[0]
    weights[key] = weights[key] * 2
    np.savez(out / "weights.npz", **weights)
    r = verify(MODEL, (digits[2], digits[3]), artifact=out, tiers=(1,), progress=False)
    assert not r.passed
    files = r.tier1["checks"]["artifact_files"]
    assert not files["ok"] and "weights.npz" in files["reason"]


def test_keras3_file_falls_back_to_the_snnc_reference():
    """TensorFlow 2.12 cannot read a Keras 3 file: the reference is snnc's evaluation, and
    the report says so."""
    data = np.load(KERAS3 / "cnn.npz")
    x = data["x"]
    y = snnc.evaluate(snnc.load(KERAS3 / "cnn.keras"), x).reshape(len(x), -1).argmax(1)
    r = verify(KERAS3 / "cnn.keras", (x, y), steps=10, progress=False)
    assert r.passed
    assert r.tier1["reference"] == "snnc-ir" and "keras_vs_ir" not in r.tier1["checks"]
    assert any("cannot load" in n for n in r.tier1["notes"])
    assert r.tier2["ann_source"] == "snnc-ir" and r.tier2["agreement"] >= 0


def test_tier2_alone(digits):
    _, _, x_test, y_test = digits
    r = verify(MODEL, (x_test[:40], y_test[:40]), steps=5, tiers=(2,), progress=False)
    assert r.tier1 is None and r.passed and r.tier2["steps"] == 5
    assert r.tier2["ann_source"] == "keras"


def test_snnc_verify_is_callable_after_importing_the_module(digits):
    """Importing the submodule binds ``snnc.verify`` to the module; it must still be the
    public function (DESIGN.md: ``r = snnc.verify(model, (x, y), ...)``)."""
    import snnc.verify  # noqa: F401 - the import under test

    _, _, x_test, y_test = digits
    r = snnc.verify(MODEL, (x_test[:20], y_test[:20]), tiers=(1,), progress=False)
    assert r.passed and r.samples == 20

"""Sweeps of the digits CNN on a few held-out digits: numbers that agree with a direct
simulation, the cache, Dask, the command line."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import snnc
from snnc.errors import SnncError
from snnc.sweep import FLOAT_BITS, run_sweep, sweep_pipeline

ACT = (1, 4, 32)
STEPS = (2, 8, 16)


@pytest.fixture(scope="module")
def in_process(small, model_path, tmp_path_factory):
    """One sweep run in this process (no Dask), cached in a fresh folder."""
    x, y, cal = small
    cache = tmp_path_factory.mktemp("cache")
    result = run_sweep(
        model_path, x, y, act_bits=ACT, steps=STEPS, calibration=cal, workers=0,
        cache_dir=cache, progress=False, chunk_size=8,
    )
    return result, cache


def test_grid_points(in_process):
    result, _ = in_process
    assert [(p["act_bits"], p["steps"]) for p in result.points] == [(a, s) for a in ACT for s in STEPS]
    for p in result.points:
        assert set(p) >= {"weight_bits", "act_bits", "steps", "accuracy", "ci_low", "ci_high", "synops"}
        assert p["weight_bits"] == FLOAT_BITS and p["samples"] == 20
        assert p["ci_low"] <= p["accuracy"] <= p["ci_high"]
        assert p["accuracy"] == p["correct"] / 20
    # 20 samples in chunks of 8: three tasks per (weight bits, act bits)
    assert result.meta["tasks"] == 3 * len(ACT)


def test_accuracy_is_the_running_mean_readout_of_one_simulation(in_process, small, model_path):
    """Every point equals ``argmax ys[:, t-1]`` of snnc.simulate on the same compiled graph."""
    result, _ = in_process
    x, y, cal = small
    base = snnc.codegen.get_target("nengo").default_pipeline
    for a in ACT:
        g = snnc.optimize(model_path, sweep_pipeline(base, FLOAT_BITS, a), calibration=cal, target="nengo")
        ys = snnc.simulate(g, x, steps=max(STEPS), dtype=np.float32)
        for s in STEPS:
            hits = int(np.sum(ys[:, s - 1].argmax(-1) == y))
            assert result.point(FLOAT_BITS, a, s)["correct"] == hits, (a, s)


def test_rate_neurons_score_the_ann_at_every_step(in_process):
    """32-bit activations are rate neurons without synapses: the readout is the ANN's
    output from the first step on."""
    result, _ = in_process
    for s in STEPS:
        assert result.point(FLOAT_BITS, 32, s)["accuracy"] == result.ann_accuracy


def test_synops_grow_with_steps(in_process):
    result, _ = in_process
    for a in ACT:
        counts = [result.point(FLOAT_BITS, a, s)["synops"] for s in STEPS]
        assert all(c is not None for c in counts)
        assert counts == sorted(counts) and counts[-1] > 0
        events = [result.point(FLOAT_BITS, a, s)["events"] for s in STEPS]
        # a graded spike of n counts n synaptic operations but one message
        assert all(e <= c + 1e-9 for e, c in zip(events, counts, strict=True))
    binary = [result.point(FLOAT_BITS, 1, s) for s in STEPS]
    assert all(p["synops"] == pytest.approx(p["events"]) for p in binary)


def test_cache_serves_repeats_and_shorter_runs(in_process, small, model_path):
    result, cache = in_process
    x, y, cal = small
    kw = dict(act_bits=ACT, calibration=cal, workers=0, cache_dir=cache, progress=False, chunk_size=8)
    again = run_sweep(model_path, x, y, steps=STEPS, **kw)
    assert again.meta["tasks_cached"] == again.meta["tasks"]
    assert again.points == result.points
    shorter = run_sweep(model_path, x, y, steps=(2, 8), **kw)
    assert shorter.meta["tasks_cached"] == shorter.meta["tasks"]
    assert shorter.points == [p for p in result.points if p["steps"] in (2, 8)]
    longer = run_sweep(model_path, x, y, steps=(2, 20), **kw)  # beyond the cached 16 steps
    assert longer.meta["tasks_cached"] == 0
    assert longer.point(FLOAT_BITS, 1, 2) == result.point(FLOAT_BITS, 1, 2)


def test_local_dask_cluster_gives_the_same_numbers(in_process, small, model_path):
    result, _ = in_process
    x, y, cal = small
    on_dask = run_sweep(
        model_path, x, y, act_bits=ACT, steps=STEPS, calibration=cal, workers=1,
        cache_dir=None, progress=False, chunk_size=8,
    )
    assert on_dask.meta["tasks_cached"] == 0
    assert on_dask.points == result.points


def test_model_and_data_must_fit(small, model_path):
    x, y, _ = small
    with pytest.raises(SnncError, match=r"samples of shape \[64\]"):
        run_sweep(model_path, x.reshape(20, 64), y, workers=0, cache_dir=None)
    with pytest.raises(SnncError, match="label 10 but the model's output"):
        run_sweep(model_path, x, np.full(20, 10), workers=0, cache_dir=None)


def test_weight_bits(small, model_path):
    """Needs the quantize pass: fails (does not skip) while it is missing."""
    x, y, cal = small
    result = run_sweep(
        model_path, x, y, weight_bits=(4, 8, 32), act_bits=(2,), steps=(16,), calibration=cal,
        workers=0, cache_dir=None, progress=False,
    )
    prints = {c["weight_bits"]: c for c in result.configs}
    assert "quantize{weight_bits=8}" in prints[8]["pipeline"]
    assert len({c["fingerprint"] for c in result.configs}) == 3
    base = snnc.codegen.get_target("nengo").default_pipeline
    g8 = snnc.optimize(model_path, sweep_pipeline(base, 8, 2), calibration=cal, target="nengo")
    weighted = [n for n in g8.topo_order() if "weight" in g8.op(n).param_arrays()]
    assert weighted and all(g8.op(n).qtype("weight").is_quantized for n in weighted)
    for w in (4, 8):
        assert 0 <= result.point(w, 2, 16)["accuracy"] <= 1


# ------------------------------------------------------------------ command line


def test_command_is_registered():
    from snnc.cli import COMMANDS

    assert "sweep" in COMMANDS


def test_cli_sweep(tmp_path, model_path, data_npz, calibration_npy, capsys):
    from snnc.cli import main

    out_json, out_png = tmp_path / "s.json", tmp_path / "s.png"
    code = main([
        "sweep", model_path, "--data", data_npz, "--calibration", calibration_npy,
        "--act-bits", "1,32", "--steps", "4,8", "--workers", "0", "--no-cache", "-q",
        "--json", str(out_json), "--plot", str(out_png),
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "accuracy % [Wilson 95% interval]" in captured.out
    assert "synaptic operations per inference" in captured.out
    doc = json.loads(out_json.read_text())
    assert len(doc["points"]) == 4
    assert {"weight_bits", "act_bits", "steps", "accuracy", "ci_low", "ci_high", "synops"} <= set(doc["points"][0])
    assert doc["ann_accuracy"] is not None
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((4, 8, 8, 1))}, "no array 'y'"),
        ({"x": np.zeros((4, 8, 8, 1)), "y": np.array([0, 1, 2.5, 3])}, "not whole numbers"),
        ({"x": np.zeros((4, 8, 8)), "y": np.arange(4)}, r"samples of shape \[8, 8\]"),
    ],
)
def test_cli_bad_data_exits_2(tmp_path, model_path, capsys, arrays, message):
    from snnc.cli import main

    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    code = main(["sweep", model_path, "--data", str(path), "--workers", "0", "--no-cache", "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert "snnc sweep: error:" in err and "Traceback" not in err
    assert re.search(message, err), err


def test_cli_bad_bits_exit_2(model_path, data_npz, capsys):
    from snnc.cli import main

    assert main(["sweep", model_path, "--data", data_npz, "--act-bits", "1,20"]) == 2
    assert "activation bits 20 out of range" in capsys.readouterr().err


# ------------------------------------------------------------------ an existing cluster


@pytest.mark.slow
def test_existing_scheduler(small, model_path, in_process):
    from distributed import LocalCluster

    result, _ = in_process
    x, y, cal = small
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        remote = run_sweep(
            model_path, x, y, act_bits=ACT, steps=STEPS, calibration=cal,
            scheduler=cluster.scheduler_address, cache_dir=None, progress=False, chunk_size=8,
        )
    assert remote.points == result.points


@pytest.mark.slow
def test_unreachable_scheduler_is_a_user_error(small, model_path):
    x, y, cal = small
    with pytest.raises(SnncError, match="cannot connect to scheduler tcp://127.0.0.1:9"):
        run_sweep(
            model_path, x, y, act_bits=(1,), steps=(2,), scheduler="tcp://127.0.0.1:9",
            cache_dir=None, progress=False,
        )


def test_large_probes_get_smaller_tasks(in_process, small, model_path, monkeypatch):
    """Probe memory is bounded by shrinking the chunk; the numbers do not change."""
    import snnc.sweep as sweep

    result, _ = in_process
    x, y, cal = small
    monkeypatch.setattr(sweep, "PROBE_BYTES", 1)
    tiny = run_sweep(
        model_path, x, y, act_bits=(1,), steps=(2, 16), calibration=cal, workers=0,
        cache_dir=None, progress=False, chunk_size=8,
    )
    assert tiny.meta["tasks"] == 20  # one sample per task
    assert tiny.points == [p for p in result.points if p["act_bits"] == 1 and p["steps"] in (2, 16)]

"""The sweep's pieces without simulating a model: the pipeline of each grid point, data
checks, Wilson intervals, and synaptic operation counts against a brute-force count."""

from __future__ import annotations

import math

import numpy as np
import pytest

from snnc.errors import ModelFileError, SnncError
from snnc.ir import Graph, neurons, ops
from snnc.sweep import (
    check_data,
    check_pipeline,
    load_data,
    parse_bits,
    sweep_pipeline,
    synop_counter,
    wilson_interval,
)

BASE = "canonicalize,fold-batchnorm,lower-activations{neuron=if},fuse-bias,normalize-rates"


# ------------------------------------------------------------------ pipelines


@pytest.mark.parametrize(
    "w, a, expected",
    [
        (32, 1, "canonicalize,fold-batchnorm,lower-activations{neuron=graded-if,bits=1},fuse-bias,normalize-rates"),
        (32, 4, "canonicalize,fold-batchnorm,lower-activations{neuron=graded-if,bits=4},fuse-bias,normalize-rates"),
        (32, 32, "canonicalize,fold-batchnorm,lower-activations{neuron=rate-relu},fuse-bias,normalize-rates"),
        (8, 2, "canonicalize,fold-batchnorm,lower-activations{neuron=graded-if,bits=2},fuse-bias,normalize-rates,quantize{weight_bits=8}"),
        (4, 32, "canonicalize,fold-batchnorm,lower-activations{neuron=rate-relu},fuse-bias,normalize-rates,quantize{weight_bits=4}"),
    ],
)
def test_pipeline_mapping(w, a, expected):
    assert sweep_pipeline(BASE, w, a) == expected


def test_pipeline_keeps_other_lowering_options_and_drops_bits_for_rates():
    base = "lower-activations{neuron=loihi-if,synapse=none,bits=3},normalize-rates{percentile=99.0}"
    assert sweep_pipeline(base, 32, 2) == (
        "lower-activations{neuron=graded-if,synapse=none,bits=2},normalize-rates{percentile=99.0}"
    )
    assert sweep_pipeline(base, 32, 32) == (
        "lower-activations{neuron=rate-relu,synapse=none},normalize-rates{percentile=99.0}"
    )


def test_quantize_goes_before_legalize_or_reuses_the_pipelines_own():
    base = "lower-activations{neuron=loihi-if},normalize-rates,legalize{target=loihi}"
    assert sweep_pipeline(base, 8, 1) == (
        "lower-activations{neuron=graded-if,bits=1},normalize-rates,quantize{weight_bits=8},"
        "legalize{target=loihi}"
    )
    own = "lower-activations,normalize-rates,quantize{weight_bits=8,per_channel=true}"
    assert sweep_pipeline(own, 4, 1).endswith("quantize{weight_bits=4,per_channel=true}")
    # 32-bit weights leave the target's own quantization alone
    assert sweep_pipeline(own, 32, 1).endswith("quantize{weight_bits=8,per_channel=true}")


@pytest.mark.parametrize("w, a", [(0, 1), (33, 1), (32, 0), (32, 17), (32, 31)])
def test_pipeline_rejects_bits_out_of_range(w, a):
    with pytest.raises(SnncError, match="out of range"):
        sweep_pipeline(BASE, w, a)


def test_pipeline_needs_a_lowering_pass():
    with pytest.raises(SnncError, match="no lower-activations"):
        sweep_pipeline("canonicalize,normalize-rates", 32, 1)


def test_act_bit_pipelines_parse():
    for a in (1, 2, 8, 16, 32):
        check_pipeline(sweep_pipeline(BASE, 32, a), 32, a)


def test_weight_bits_without_quantize_pass_fail_clearly(monkeypatch):
    from snnc.passes import base

    monkeypatch.delitem(base.PASSES, "quantize", raising=False)
    with pytest.raises(SnncError, match="weight_bits=4 needs the 'quantize' pass"):
        check_pipeline(sweep_pipeline(BASE, 4, 1), 4, 1)


def test_quantize_pass_exists():
    """The weight-bits half of the sweep needs the quantize pass (issue 9, item 2)."""
    from snnc.passes import PASSES

    assert "quantize" in PASSES, "the quantize pass is not registered: weight_bits < 32 cannot run"
    for w in (2, 4, 8):
        check_pipeline(sweep_pipeline(BASE, w, 1), w, 1)


def test_parse_bits():
    assert parse_bits("8, 2,4,2", "--act-bits") == (2, 4, 8)
    for bad in ("", "2,x", "0", "-1"):
        with pytest.raises(SnncError):
            parse_bits(bad, "--act-bits")


# ------------------------------------------------------------------ data


def test_load_data(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.zeros((3, 8, 8, 1)), y=np.array([0.0, 1.0, 9.0]))
    x, y = load_data(p)
    assert x.dtype == np.float32 and x.shape == (3, 8, 8, 1)
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 9]


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((3, 4))}, r"no array 'y' \(it has: x\)"),
        ({"inputs": np.zeros((3, 4)), "labels": np.zeros(3)}, "no array 'x' or 'y'"),
        ({"x": np.zeros((3, 4)), "y": np.zeros(2)}, "2 labels for 3 samples"),
        ({"x": np.zeros((3, 4)), "y": np.zeros((3, 10))}, "one integer class label per sample"),
        ({"x": np.zeros((3, 4)), "y": np.array([0.5, 1, 2])}, "not whole numbers"),
        ({"x": np.zeros((3, 4)), "y": np.array([-1, 1, 2])}, "class indices >= 0"),
        ({"x": np.zeros((3, 4)), "y": np.array([True, False, True])}, "dtype bool"),
        ({"x": np.zeros(3), "y": np.zeros(3)}, "expected \\(samples"),
        ({"x": np.full((3, 4), np.nan), "y": np.zeros(3)}, "NaN"),
    ],
)
def test_load_data_refuses(tmp_path, arrays, message):
    p = tmp_path / "d.npz"
    np.savez(p, **arrays)
    with pytest.raises(ModelFileError, match=message) as e:
        load_data(p)
    assert str(p) in str(e.value)


def test_load_data_unreadable(tmp_path):
    p = tmp_path / "d.npz"
    p.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="cannot read sweep data"):
        load_data(p)
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(ModelFileError, match="single array"):
        load_data(tmp_path / "a.npy")


def test_check_data_accepts_integer_labels():
    x, y = check_data(np.ones((2, 3), np.float64), np.array([1, 2], np.int32))
    assert x.dtype == np.float32 and y.dtype == np.int64


# ------------------------------------------------------------------ Wilson


def test_wilson_known_values():
    # textbook values (Wilson 1927; e.g. Newcombe 1998, table I): 8/10, 0/10, 10/10
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=5e-5)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=5e-5)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=5e-5)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_contains_the_estimate_and_narrows():
    for n in (20, 450, 10000):
        for k in (0, n // 3, n):
            lo, hi = wilson_interval(k, n)
            assert 0 <= lo <= k / n <= hi <= 1
    assert math.isclose(sum(wilson_interval(45, 90)), 1.0)  # symmetric at p = 1/2
    assert (lambda a, b: b - a)(*wilson_interval(900, 1000)) < (lambda a, b: b - a)(*wilson_interval(9, 10))


# ------------------------------------------------------------------ synaptic operations


def _graph():
    """A neuron whose spikes reach every kind of consumer the counter knows: a strided
    'same' conv with zero weights, an average pool with border windows, flatten -> dense,
    a sum, a concat (moves values) -> conv, and a graph output; plus a rate neuron."""
    rng = np.random.default_rng(0)
    g = Graph("fanout")
    g.add("x", ops.Input(shape=(5, 5, 2)))
    g.add("c0", ops.Conv2D(weight=rng.normal(size=(3, 3, 2, 3)), padding="same"), ["x"])
    g.add("n1", neurons.GradedIF(bits=2, amplitude=0.5), ["c0"])
    w = rng.normal(size=(3, 3, 3, 4))
    w[0, :, 1, :] = 0.0  # zero weights are not synapses
    g.add("cb", ops.Conv2D(weight=w, strides=(2, 2), padding="same"), ["n1"], synapses=[0.005])
    g.add("pool", ops.AvgPool(pool_size=(3, 3), strides=(2, 2), padding="same"), ["n1"])
    g.add("flat", ops.Flatten(), ["n1"])
    g.add("d", ops.Dense(weight=rng.normal(size=(75, 6))), ["flat"])
    g.add("sum", ops.Add(coeffs=(1.0, -0.5)), ["n1", "c0"])
    g.add("cat", ops.Concat(axis=-1), ["c0", "n1"])
    g.add("cc", ops.Conv2D(weight=rng.normal(size=(1, 1, 6, 2))), ["cat"])
    g.add("r", neurons.RateReLU(), ["d"])
    g.add("d2", ops.Dense(weight=rng.normal(size=(6, 3))), ["r"])
    for i, n in enumerate(["cb", "pool", "d2", "sum", "cc", "n1"]):
        g.add(f"out{i}", ops.Output(index=i), [n])
    return g


def _brute_fanout(g, node):
    """Fan-out of each element of ``node``: perturb it alone and count the non-zero values
    it causes at the first combining op of every path (a different method from the
    counter's summed indicator weights)."""
    from snnc.ir.interpreter import run_kernel

    shape = g.type(node).shape
    size = int(np.prod(shape))
    fan = np.zeros(size)
    basis = np.eye(size).reshape(size, *shape)

    def walk(name, values):
        total = np.zeros(size)
        for dst, port in g.users(name):
            op = g.op(dst)
            if isinstance(op, ops.Output):
                continue
            ins = [np.zeros((size, *g.type(s).shape)) for s in g.inputs_of(dst)]
            ins[port] = values
            if isinstance(op, ops.Flatten | ops.Concat):
                total += walk(dst, np.asarray(run_kernel(op, ins, g.dt, dst)))
                continue
            if op.has(neurons.Neuron):
                y = values
            else:
                y = np.asarray(run_kernel(op, ins, g.dt, dst))
            total += (np.abs(y.reshape(size, -1)) > 1e-12).sum(axis=1)
        return total

    fan += walk(node, basis)
    return fan.reshape(shape)


def test_synops_match_a_brute_force_count():
    g = _graph()
    count = synop_counter(g)
    assert count.neurons == ["n1", "r"]
    rng = np.random.default_rng(1)
    batch, steps = 3, 4
    spikes = rng.integers(0, 4, size=(batch, steps, 5, 5, 3))  # graded: 0..3 per step
    rates = rng.uniform(0, 2, size=(batch, steps, 6)) * (rng.random((batch, steps, 6)) < 0.5)
    traces = {"n1": spikes * (0.5 / g.dt), "r": rates}
    synops, events = count(traces, steps)
    fan1, fan_r = _brute_fanout(g, "n1"), _brute_fanout(g, "r")
    assert fan_r.tolist() == [3.0] * 6
    # some border elements of the strided conv and the pool reach fewer outputs
    assert len(set(fan1.ravel().tolist())) > 1
    want_synops = (spikes * fan1).reshape(batch, steps, -1).sum(axis=(0, 2)) + (
        (rates != 0) * fan_r
    ).sum(axis=(0, 2))
    want_events = ((spikes != 0) * fan1).reshape(batch, steps, -1).sum(axis=(0, 2)) + (
        (rates != 0) * fan_r
    ).sum(axis=(0, 2))
    np.testing.assert_allclose(synops, want_synops)
    np.testing.assert_allclose(events, want_events)


def test_synops_refuse_ops_without_a_rule():
    g = Graph("maxpool")
    g.add("x", ops.Input(shape=(4, 4, 1)))
    g.add("n", neurons.IF(), ["x"])
    g.add("p", ops.MaxPool(pool_size=(2, 2), strides=(2, 2)), ["n"])
    g.add("o", ops.Output(), ["p"])
    with pytest.raises(SnncError, match="no fan-out rule"):
        synop_counter(g)


def test_table_and_heat_map_of_several_weight_widths(tmp_path):
    """Layout only: a result with two weight panels prints and plots (numbers made up)."""
    from snnc.sweep import SweepResult

    points = [
        {"weight_bits": w, "act_bits": a, "steps": s, "accuracy": 0.5, "ci_low": 0.4,
         "ci_high": 0.6, "synops": None if a == 32 else 1234.0}
        for w in (8, 32) for a in (1, 32) for s in (4, 8)
    ]
    r = SweepResult("m.keras", "nengo", 10, (8, 32), (1, 32), (4, 8), points, [], ann_accuracy=0.9)
    text = r.format_table()
    assert "  8   1 |" in text and " 32  32 |" in text and "1.23k" in text and "n/a" in text
    r.plot(tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"

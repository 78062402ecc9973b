"""The statistics and bookkeeping of ``snnc.verify``, checked against scipy and by hand."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from conftest import MODEL

import snnc
from snnc.errors import SnncError
from snnc.ir import Graph, neurons, ops
from snnc.verify import ann_macs, check_labels, fan_out, mcnemar, wilson_interval


@pytest.mark.parametrize("k, n", [(0, 10), (8, 10), (10, 10), (432, 450), (1, 3)])
def test_wilson_interval_matches_the_formula_and_brackets_p(k, n):
    lo, hi = wilson_interval(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    # the Wilson interval is where the score test does not reject: |p_hat - p| = z sqrt(p(1-p)/n)
    z = scipy.stats.norm.ppf(0.975)
    for p in (lo, hi):
        if 0 < p < 1:
            assert abs(k / n - p) == pytest.approx(z * np.sqrt(p * (1 - p) / n), rel=1e-9)


def test_wilson_known_value():
    lo, hi = wilson_interval(8, 10)  # textbook: (0.490, 0.943)
    assert (round(lo, 3), round(hi, 3)) == (0.490, 0.943)


@pytest.mark.parametrize("b, c", [(1, 6), (0, 5), (3, 5), (12, 12), (0, 24)])
def test_mcnemar_exact_matches_scipy_binomtest(b, c):
    r = mcnemar(b, c)
    assert r["test"] == "exact binomial"
    assert r["p_value"] == pytest.approx(scipy.stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-12)


def test_mcnemar_chi_square_for_many_discordant_pairs():
    r = mcnemar(10, 30)
    assert r["test"].startswith("chi-square")
    assert r["statistic"] == pytest.approx((20 - 1) ** 2 / 40)
    assert r["p_value"] == pytest.approx(scipy.stats.chi2.sf(r["statistic"], 1), rel=1e-12)


def test_mcnemar_without_discordant_pairs():
    assert mcnemar(0, 0)["p_value"] == 1.0


def test_check_labels_accepts_integers_whole_floats_and_one_hot():
    assert check_labels(np.array([0, 2, 1], np.int32)).tolist() == [0, 2, 1]
    assert check_labels(np.array([0.0, 2.0])).dtype == np.int64
    assert check_labels(np.eye(3)[[2, 0]]).tolist() == [2, 0]
    assert check_labels(np.array([[1], [0]])).tolist() == [1, 0]


@pytest.mark.parametrize(
    "labels, words",
    [
        (np.array([0.5, 1.0]), "integer class indices"),
        (np.array(["a", "b"]), "integer class indices"),
        (np.array([-1, 0]), "negative label"),
        (np.full((2, 3), 0.5), "not one-hot"),
        (np.zeros((2, 2, 2)), "shape"),
        (np.array([np.nan, 1.0]), "integer class indices"),
    ],
)
def test_check_labels_refuses_non_integer_labels(labels, words):
    with pytest.raises(SnncError, match=words):
        check_labels(labels)


def _spiking_dense_graph(weight: np.ndarray) -> Graph:
    g = Graph("fan")
    g.add("x", ops.Input(shape=(weight.shape[0],)))
    g.add("n", neurons.IF(gain=np.float32(1.0), bias=np.zeros(weight.shape[0], np.float32)), ["x"])
    g.add(
        "d",
        ops.Dense(weight=weight.astype(np.float32), bias=np.ones(weight.shape[1], np.float32)),
        ["n"],
        synapses=[0.005],
    )
    g.add("d.output", ops.Output(), ["d"])
    return g


def test_fan_out_counts_non_zero_weights_per_neuron():
    w = np.arange(1, 13, dtype=np.float32).reshape(4, 3)
    w[0, 1] = 0.0  # a pruned synapse carries no events
    w[2, :] = 0.0
    assert fan_out(_spiking_dense_graph(w), "n").tolist() == [2, 3, 0, 3]


def test_fan_out_of_a_strided_conv_matches_its_windows(tmp_path):
    g = snnc.compile(MODEL, "nengo").graph
    fan = fan_out(g, "conv1.act").reshape(6, 6, 8)
    w = np.asarray(g.op("conv2").weight)  # [3, 3, 8, 16], stride 2, valid: 2x2 outputs
    want = np.zeros((6, 6, 8), np.int64)
    for oy in range(2):
        for ox in range(2):
            for ky in range(3):
                for kx in range(3):
                    want[2 * oy + ky, 2 * ox + kx] += np.count_nonzero(w[ky, kx], axis=1)
    np.testing.assert_array_equal(fan, want)
    # the readout: every conv2 neuron reaches all 10 logits through flatten + dense
    w_out = np.asarray(g.op("logits").weight)
    np.testing.assert_array_equal(fan_out(g, "conv2.act"), np.count_nonzero(w_out, axis=1))


def test_ann_macs_of_the_digits_cnn():
    # conv1: 6*6 positions x (3*3*1*8); conv2: 2*2 x (3*3*8*16); logits: 64*10
    assert ann_macs(snnc.load(MODEL)) == 36 * 72 + 4 * 1152 + 640

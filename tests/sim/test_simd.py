"""The eight-lane vector intrinsics: loads, stores and broadcasts move the right elements,
``vfma`` rounds once, exactly as the NumPy twin ``fma32`` (round to odd) says, and
``vnonzero`` + ``vput8`` + ``popcount`` list the non-zero lanes."""

from __future__ import annotations

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from snnc.sim.kernels import fma32  # noqa: E402
from snnc.sim.simd import (  # noqa: E402
    popcount,
    vbcast,
    vfma,
    vload,
    vnonzero,
    vput8,
    vstore,
    vzero,
)


@numba.njit
def _fma_lanes(x, w, acc, out):
    for i in range(0, x.shape[0], 8):
        vstore(out, i, vfma(vload(x, i), vload(w, i), vload(acc, i)))


@numba.njit
def _moves(a, out):
    # out[0:8] = a[8:16]; out[8:16] = a[3] in every lane; out[16:24] = 0
    vstore(out, 0, vload(a, 8))
    vstore(out, 8, vbcast(a, 3))
    vstore(out, 16, vzero())


def test_loads_stores_and_broadcasts():
    a = np.arange(24, dtype=np.float32)
    out = np.full(24, np.nan, np.float32)
    _moves(a, out)
    np.testing.assert_array_equal(out[:8], a[8:16])
    np.testing.assert_array_equal(out[8:16], np.full(8, 3.0))
    np.testing.assert_array_equal(out[16:], np.zeros(8))


def test_double_rounding_case():
    """8 (1 + 2^-23) x 8 (1 - 2^-23) + (2^30 + 2^7): the exact value lies 2^-40 below a
    float32 midpoint. Rounding through float64 lands on the midpoint and then rounds to even
    (2^30 + 2^8); the fused operation, and fma32, give 2^30 + 2^7."""
    x = np.full(8, 8 * (1 + 2.0**-23), np.float32)
    w = np.full(8, 8 * (1 - 2.0**-23), np.float32)
    acc = np.full(8, 2.0**30 + 2.0**7, np.float32)
    out = np.empty(8, np.float32)
    _fma_lanes(x, w, acc, out)
    assert out[0] == 2.0**30 + 2.0**7
    assert fma32(x, w, acc)[0] == out[0]
    assert (x.astype(np.float64) * w + acc).astype(np.float32)[0] == 2.0**30 + 2.0**8


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e6])
def test_fma32_is_the_fused_instruction(scale):
    """Random triples, a quarter of them cancelling (the result is the product's rounding
    error): fma32 == the instruction bit for bit; x * w + acc in float32 is not."""
    rng = np.random.default_rng(3)
    n = 8 * 20_000
    x = rng.standard_normal(n).astype(np.float32)
    w = rng.standard_normal(n).astype(np.float32)
    acc = (rng.standard_normal(n) * scale).astype(np.float32)
    acc[: n // 4] = -(x[: n // 4].astype(np.float64) * w[: n // 4]).astype(np.float32)
    out = np.empty(n, np.float32)
    _fma_lanes(x, w, acc, out)
    np.testing.assert_array_equal(fma32(x, w, acc).view(np.int32), out.view(np.int32))
    assert not np.array_equal(x * w + acc, out)


@numba.njit
def _list_nonzero(a, table, out):
    # the indices of a's non-zero entries (len(a) % 8 == 0), and the masks seen
    n = 0
    masks = np.empty(a.shape[0] // 8, np.int64)
    for i in range(0, a.shape[0], 8):
        m = vnonzero(a, i)
        masks[i // 8] = m
        vput8(out, n, table, m, i + 100)
        n += popcount(m)
    return n, masks


def test_nonzero_lanes_are_listed():
    """Every 8-lane pattern (256 blocks): ``vnonzero`` sets bit k for lane k (a NaN and -0.0:
    NaN is non-zero, -0.0 is zero), and ``vput8`` with the lane table stores each block's
    non-zero indices plus the base; ``popcount`` counts them, so the list equals
    ``np.flatnonzero``."""
    from snnc.sim.numba_kernels import _LANE_TABLE

    bits = (np.arange(256)[:, None] >> np.arange(8)) & 1
    a = np.where(bits, np.float32(2.5), np.float32(0)).astype(np.float32).reshape(-1)
    a[8 * 3 + 1] = np.nan  # pattern 3 has lane 1 set: NaN stays "non-zero"
    a[8 * 4 + 0] = -0.0  # pattern 4 has lane 0 clear: -0.0 is zero
    out = np.full(a.size + 8, -1, np.int32)
    n, masks = _list_nonzero(a, _LANE_TABLE, out)
    np.testing.assert_array_equal(masks, np.arange(256))
    assert n == 1024
    np.testing.assert_array_equal(out[:n], np.flatnonzero(a != 0) + 100)

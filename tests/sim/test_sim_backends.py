"""The two backends agree bit for bit; stateless graphs reproduce the rate interpreter; the
kernel registry is complete; numba is imported only when used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sim_graphs import CASES, probe_spikes

import snnc
from snnc.ir import neurons, ops
from snnc.sim import simulate

CODEGEN_TESTS = Path(__file__).resolve().parents[1] / "codegen"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_numba_equals_numpy(name, dtype):
    """Every node's value at every step, spikes included, is identical on both backends
    (the numpy backend has no event-driven path, so neither uses it here)."""
    g, x = CASES[name]()
    ours = simulate(g, x, 200, backend="numba", dtype=dtype, return_all=True, event="never")
    ref = simulate(g, x, 200, backend="numpy", dtype=dtype, return_all=True)
    assert ours.keys() == ref.keys() == set(g.topo_order())
    for n in ref:
        assert ours[n].dtype == dtype
        np.testing.assert_array_equal(ours[n], ref[n], err_msg=f"node {n}")
    assert all(np.count_nonzero(ref[n]) for n in g.topo_order() if ops.is_spiking(g.op(n)))


def test_float32_stores_what_float64_computes():
    """float32 only rounds the stored values: spike trains barely move."""
    g, x = CASES["dense_if"]()
    g = probe_spikes(g)
    s64 = simulate(g, x, 300, dtype=np.float64, readout="raw")[1]
    s32 = simulate(g, x, 300, dtype=np.float32, readout="raw")[1]
    assert np.mean((s64 > 0) != (s32 > 0)) < 1e-3


def test_every_spiking_neuron_has_both_steps():
    """The simulator reads the catalogue: every spiking neuron declares a NumPy step, an
    element loop for numba, and the state it keeps."""
    spiking = [cls for cls in neurons.NEURONS.values() if cls.spiking]
    assert spiking
    for cls in spiking:
        assert callable(cls.step) and callable(cls.step_loop) and cls.state, cls.__name__


def _codegen_cases():
    """The codegen's hand-built graphs (every op kind, rate neurons only)."""
    sys.path.insert(0, str(CODEGEN_TESTS))
    try:
        from graphs import CASES as codegen_cases
    finally:
        sys.path.remove(str(CODEGEN_TESTS))
    return codegen_cases


@pytest.mark.parametrize("name", sorted(_codegen_cases()))
def test_stateless_graph_is_the_interpreter_at_every_step(name):
    """Without spiking neurons or synapses nothing changes over time: every step is the
    rate-mode interpreter's output (the codegen tests show that nengo agrees with it)."""
    g, x = _codegen_cases()[name]()
    ys = simulate(g, x, 3, backend="numpy", readout="raw")
    ref = snnc.evaluate(g, x)
    for y, r in zip(
        ys if isinstance(ys, list) else [ys], ref if isinstance(ref, list) else [ref], strict=True
    ):
        assert y.shape == (r.shape[0], 3) + r.shape[1:]
        for t in range(3):
            np.testing.assert_allclose(y[:, t], r, rtol=1e-6, atol=1e-6)


def test_numba_is_imported_only_when_used():
    script = (
        "import sys, numpy as np\n"
        "import snnc, snnc.sim\n"
        "from snnc.ir import Graph, ops, neurons\n"
        "assert 'numba' not in sys.modules, 'import snnc.sim imported numba'\n"
        "g = Graph('g'); g.add('x', ops.Input(shape=(2,))); g.add('s', neurons.IF(), ['x'])\n"
        "g.add('y', ops.Output(), ['s'])\n"
        "snnc.sim.simulate(g, np.ones((1, 2)), 2, backend='numpy')\n"
        "assert 'numba' not in sys.modules, 'the numpy backend imported numba'\n"
        "snnc.sim.simulate(g, np.ones((1, 2)), 2)\n"
        "assert 'numba' in sys.modules\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]

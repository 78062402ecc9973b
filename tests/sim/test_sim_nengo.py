"""snnc.sim matches nengo: its kernels against nengo's own neuron and synapse code, and whole
graphs against ``nengo.Simulator`` running the network the codegen emits for them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import nengo
import numpy as np
import pytest
from sim_graphs import CASES, probe_spikes, raw_outputs

from snnc.codegen import compile_graph
from snnc.ir import neurons
from snnc.sim import lowpass_coefficients, neuron_step, simulate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DT = 0.001
STEPS = 150


def assert_matches_nengo(ours, theirs, spikes_from: int):
    """Outputs to 1e-12 relative (nengo orders float sums differently and its lowpass
    coefficients are a few ulp off); spike trains (outputs ``spikes_from`` on) exactly."""
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a.shape == b.shape
        if i >= spikes_from:
            assert np.count_nonzero(a) > 0, f"output {i} never spikes: a weak test"
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())


@pytest.mark.parametrize("name", [n for n in CASES if n != "loihi_neurons"])
def test_graph_matches_nengo_simulator(name):
    g, x = CASES[name]()
    n_outputs = len(g.outputs)
    g = raw_outputs(probe_spikes(g))
    with compile_graph(g, "nengo", pipeline="") as c:
        theirs = c.run(x, steps=STEPS, progress=False)
    for backend in ("numba", "numpy"):
        ours = simulate(g, x, STEPS, backend=backend, dtype=np.float64, readout="raw")
        assert_matches_nengo(ours, theirs, n_outputs)


# nengo-loihi imports TensorFlow (8 s) for its nengo-dl builders, which the reference
# simulator does not use: import it with TensorFlow blocked, in a child process so that the
# TensorFlow-less nengo_loihi modules cannot leak into other tests.
_LOIHI_SCRIPT = """
import sys
sys.modules["tensorflow"] = None
sys.path.insert(0, {here!r})
import nengo_loihi  # noqa: F401
from sim_graphs import CASES, probe_spikes, raw_outputs
import numpy as np
from snnc.codegen import compile_graph
from snnc.sim import simulate
from test_sim_nengo import assert_matches_nengo

g, x = CASES["loihi_neurons"]()
n_outputs = len(g.outputs)
g = raw_outputs(probe_spikes(g))
with compile_graph(g, "nengo", pipeline="") as c:
    theirs = c.run(x, steps=300, progress=False)
for backend in ("numba", "numpy"):
    ours = simulate(g, x, 300, backend=backend, dtype=np.float64, readout="raw")
    assert_matches_nengo(ours, theirs, n_outputs)
print("ok")
"""


def test_loihi_neurons_match_nengo_loihi():
    script = textwrap.dedent(_LOIHI_SCRIPT.format(here=str(HERE)))
    r = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


#: spiking kind -> (the IR op, the nengo neuron type it stands for)
_NEURON_PAIRS = {
    "snn.if": (neurons.IF(amplitude=0.5), nengo.SpikingRectifiedLinear(amplitude=0.5)),
    "snn.lif": (
        neurons.LIF(amplitude=0.5, min_voltage=-0.3),
        nengo.LIF(tau_rc=0.02, tau_ref=0.002, min_voltage=-0.3, amplitude=0.5),
    ),
}


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("kind", sorted(_NEURON_PAIRS))
def test_kernel_matches_nengo_step_function(kind, backend):
    """Drive a kernel and nengo's ``NeuronType.step`` with the same random, time-varying
    currents (negative, sub- and supra-threshold, up to several spikes per step) from rest:
    same outputs, same states."""
    op, neuron = _NEURON_PAIRS[kind]
    cls = type(op)
    step, params = neuron_step(cls, backend), op.step_params(DT)
    rng = np.random.default_rng(0)
    n = 300
    scale = rng.choice([1.0, 10.0, 3000.0], size=n)
    theirs = {s: np.zeros(n) for s in cls.state}
    ours = [np.zeros((1, n)) for _ in cls.state]
    ones, zeros = np.ones(n), np.zeros(n)
    most = 0.0
    for _ in range(400):
        j = rng.uniform(-5, 1.3, size=n) * scale
        expected, out = np.zeros(n), np.zeros((1, n))
        neuron.step(DT, j.copy(), expected, **theirs)
        step(j[None], ones, zeros, out, *ours, *params)
        np.testing.assert_array_equal(out[0], expected)
        for name, mine in zip(cls.state, ours, strict=True):
            np.testing.assert_allclose(mine[0], theirs[name], rtol=1e-13, atol=1e-15)
        most = max(most, out.max() * DT / op.amplitude)
    assert most >= (3 if kind == "snn.if" else 1)  # the IF kernel emitted 3+ spikes in a step


def test_lowpass_coefficients_match_nengo():
    """The closed forms agree with nengo's Pade-approximated matrix exponential to a few ulp
    (nengo's own values are off the exact ones by up to ~10 ulp)."""
    for tau in np.geomspace(1e-4, 1.0, 50):
        for dt in (1e-4, 5e-4, 1e-3, 2e-3):
            A, B, C, _ = nengo.Lowpass(tau)._get_ss(dt)
            a, b = lowpass_coefficients(tau, dt)
            np.testing.assert_allclose([a, b], [A.item(), C.item() * B.item()], rtol=1e-14, atol=0)

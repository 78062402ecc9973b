"""``simulate``'s contract: timing, shapes and input forms, long-run rates equal the rate
interpreter's, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sim_graphs import CASES

import snnc
from snnc.errors import InputShapeError, SnncError
from snnc.ir import Graph, neurons, ops
from snnc.sim import lowpass_coefficients, simulate

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "examples" / "digits"


def chain(neuron, synapse=None, n_in=5, n=8, seed=0):
    """input -> dense -> neuron -> (synapse) -> dense -> output, firing at 50-400 Hz."""
    rng = np.random.default_rng(seed)
    g = Graph("chain")
    g.add("x", ops.Input(shape=(n_in,)))
    g.add("h", ops.Dense(weight=rng.uniform(0, 1, (n_in, n)) / n_in, bias=None), ["x"])
    g.add("s", neuron, ["h"])
    g.add("y", ops.Dense(weight=rng.normal(size=(n, 3))), ["s"], synapses=[synapse])
    g.add("out", ops.Output(), ["y"])
    return g, rng.uniform(0, 1, size=(4, n_in))


def test_timing_of_neurons_and_synapses():
    """Same-step propagation through the neuron; one step of delay through a synapse."""
    g = Graph("timing")
    g.add("x", ops.Input(shape=(1,)))
    g.add("s", neurons.IF(gain=1000.0), ["x"])  # J * dt = x: one spike per step for x = 1
    g.add("out", ops.Output(), ["s"], synapses=[0.01])
    g.add("spikes", ops.Output(index=1), ["s"])
    y, spikes = simulate(g, np.ones((1, 1)), 4, dtype=np.float64, readout="raw")
    np.testing.assert_array_equal(spikes[0, :, 0], [1000.0] * 4)  # a spike from the first step
    a, b = lowpass_coefficients(0.01, 0.001)
    np.testing.assert_allclose(
        y[0, :, 0], [0.0, 1000 * b, 1000 * (a * b + b), 1000 * (a * (a * b + b) + b)]
    )


def test_shapes_and_input_forms():
    g, x = CASES["two_inputs"]()
    y = simulate(g, x, 7)
    assert y.shape == (3, 7, 3) and y.dtype == np.float32  # float32 by default
    np.testing.assert_array_equal(simulate(g, {"in0": x[0], "in1": x[1]}, 7), y)
    everything = simulate(g, x, 7, return_all=True)
    assert set(everything) == set(g.topo_order())
    assert everything["in1"].shape == (3, 7, 2, 3)
    # return_all records raw values (the outputs' readouts are a view of them)
    np.testing.assert_array_equal(everything["out0"], simulate(g, x, 7, readout="raw"))
    g2, x2 = CASES["layered"]()
    outs = simulate(g2, x2, 5, dtype=np.float64)
    assert isinstance(outs, list) and [o.shape for o in outs] == [(3, 5, 4), (3, 5, 4, 4, 3)]
    assert all(o.dtype == np.float64 for o in outs)


@pytest.mark.parametrize(
    "neuron",
    [
        neurons.IF(gain=400.0, bias=50.0, amplitude=0.01),
        neurons.LIF(gain=6.0, bias=1.2, amplitude=0.01),
    ],
    ids=["if", "lif"],
)
def test_long_run_rate_is_the_interpreter_rate(neuron):
    """Averaged over 2000 steps (2 s: the default running-mean readout's last step), the
    spiking output is the rate-mode output within 1%."""
    g, x = chain(neuron, synapse=0.005)
    rates = snnc.evaluate(g, x, return_all=True)["s"]
    assert (
        40 < rates.min() / neuron.amplitude and rates.max() / neuron.amplitude < 500
    )  # a fair range
    y = simulate(g, x, 2000, dtype=np.float64)[:, -1]
    ref = snnc.evaluate(g, x)
    assert np.abs(y - ref).max() < 0.01 * np.abs(ref).max()


def test_input_errors_name_the_expected_shape():
    g, x = CASES["dense_if"]()
    with pytest.raises(InputShapeError, match=r"expected \[batch, 6\]"):
        simulate(g, np.zeros((3, 5)), 2)
    with pytest.raises(InputShapeError, match=r"expected \[batch, 6\]"):
        simulate(g, np.zeros(6), 2)  # no batch axis
    with pytest.raises(InputShapeError, match="1 input"):
        simulate(g, [x, x], 2)
    g2, (a, b) = CASES["two_inputs"]()
    with pytest.raises(InputShapeError, match="different batch sizes"):
        simulate(g2, [a, b[:2]], 2)
    with pytest.raises(InputShapeError, match="missing"):
        simulate(g2, {"in0": a}, 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"steps": 2.5}, "steps must be an integer >= 1"),
        ({"backend": "cuda"}, "unknown backend 'cuda'"),
        ({"dtype": np.int32}, "dtype must be float32 or float64"),
        ({"readout": "max"}, "unknown readout 'max'"),
        ({"readout": "lowpass", "readout_tau": 0}, "readout_tau must be"),
        ({"event": "sometimes"}, "unknown event mode"),
        ({"probes": ["nope"]}, r"probes \['nope'\] are not nodes"),
    ],
)
def test_bad_arguments(kwargs, message):
    g, x = CASES["dense_if"]()
    with pytest.raises(SnncError, match=message):
        simulate(g, x, **{"steps": 3, **kwargs})


def test_digits_spiking_accuracy_and_nengo_parity(digits_split):
    """The digits CNN lowered to IF neurons: simulate() classifies the 450 held-out images
    (what took minutes in nengo takes well under a second) and agrees with nengo on a few
    (float64, raw readout)."""
    from snnc.codegen import compile_graph
    from snnc.passes import PassContext, run_pipeline

    x_train, _, x_test, y_test = digits_split
    ctx = PassContext.default(target="nengo", calibration=x_train[:200])
    g, _ = run_pipeline(
        snnc.load(DIGITS / "digits_cnn.keras"),
        "canonicalize,lower-activations{neuron=if},fuse-bias,normalize-rates",
        ctx,
    )
    y = simulate(g, x_test, 50)  # float32, running-mean readout
    acc = np.mean(y[:, -1].argmax(axis=1) == y_test)
    assert acc > 0.9
    # the readout convention on both sides: the running mean of the output (nn.output's)
    ours = simulate(g, x_test[:4], 50, dtype=np.float64)
    with compile_graph(g, "nengo", pipeline="") as c:
        theirs = c.run(x_test[:4], 50, progress=False)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12 * np.abs(theirs).max())

"""The catalogue's integrate-and-fire variants: their steps, loop twins and nengo types agree."""

import numpy as np
import pytest

from snnc.ir import neurons

DT = 0.001


def _run(step, op, currents, v0):
    out, v = np.zeros((1, currents.shape[1])), np.full((1, currents.shape[1]), v0)
    spikes = []
    for j in currents:
        step(j[None], np.ones(j.size), np.zeros(j.size), out, v, *op.step_params(DT))
        spikes.append(out[0] * DT / op.amplitude)
    return np.array(spikes)


CURRENTS = np.array([[300.0, -200.0, 1500.0, 2600.0]] * 3 + [[-300.0, 800.0, 0.0, 900.0]] * 4)


@pytest.mark.parametrize("cls", [neurons.IAF, neurons.GradedIF])
@pytest.mark.parametrize("bits", [1, 2])
def test_numpy_step_loop_twin_and_nengo_type_agree(cls, bits):
    import nengo

    op = cls(bits=bits, v_init=0.5)
    ref = _run(op.step, op, CURRENTS, 0.5)
    np.testing.assert_array_equal(_run(op.step_loop, op, CURRENTS, 0.5), ref)
    assert ref.max() <= 2**bits - 1
    ns = {"nengo": nengo, "np": np}
    exec(op.nengo_source, ns)  # noqa: S102 - snnc's own, trusted source text
    neuron_type = eval(op.nengo(), ns)  # noqa: S307 - snnc's own, trusted source text
    with nengo.Network() as net:
        stim = nengo.Node(lambda t: CURRENTS[min(int(round(t / DT)) - 1, len(CURRENTS) - 1)])
        ens = nengo.Ensemble(4, 1, neuron_type=neuron_type, gain=np.ones(4), bias=np.zeros(4))
        nengo.Connection(stim, ens.neurons, synapse=None)
        probe = nengo.Probe(ens.neurons)
    with nengo.Simulator(net, dt=DT, progress_bar=False) as sim:
        sim.run_steps(len(CURRENTS))
    np.testing.assert_array_equal(sim.data[probe] * DT, ref)


def test_iaf_integrates_the_sign_of_the_current_and_graded_if_does_not():
    iaf = _run(neurons.IAF.step, neurons.IAF(bits=1), CURRENTS, 0.0)
    graded = _run(neurons.GradedIF.step, neurons.GradedIF(bits=1), CURRENTS, 0.0)
    # column 1: -200 for 3 steps then +800: the signed neuron first pays back the deficit
    assert iaf[:, 1].sum() < graded[:, 1].sum()
    # both are binary and fire every step on a current of at least 1/dt
    assert iaf[:, 2].tolist()[:3] == [1.0, 1.0, 1.0] and graded.max() == 1.0


@pytest.mark.parametrize("rate", [5.0, 50.0, 250.0, 499.0])
def test_lif_current_for_inverts_its_rate_curve(rate):
    """``normalize-rates`` maps a percentile to ``current_for(rate)``: for LIF the current
    that fires at that rate (its curve inverted), not ``J = rate``."""
    op = neurons.LIF()
    j = op.current_for(rate, DT)
    assert j > 1 and j != rate
    np.testing.assert_allclose(op.rate(np.array([j]), DT), [rate], rtol=1e-9)


def test_full_rate_is_lifs_knee_and_the_maximum_elsewhere():
    """``rate=max``: LIF only approaches 1/tau_ref, so its knee 1/(2 tau_ref), where it fires
    at half its maximum (Loihi's LIF with its discretised constant); bounded ReLU-like
    neurons their maximum; ``if`` has none (the pass then takes 1/dt)."""
    lif = neurons.LIF(tau_ref=0.002)
    assert lif.full_rate(DT) == pytest.approx(250.0)
    assert lif.rate(np.array([lif.current_for(lif.full_rate(DT), DT)]), DT) == pytest.approx(250)
    loihi = neurons.LoihiLIF(tau_ref=0.002)
    assert loihi.full_rate(DT) == pytest.approx(0.5 / neurons.loihi_tau_ref(0.002, DT))
    assert neurons.IF().full_rate(DT) is None and neurons.IF().current_for(300.0, DT) == 300.0
    graded = neurons.GradedIF(bits=2)
    assert graded.full_rate(DT) == graded.max_rate(DT) == pytest.approx(3000.0)
    # a rate LIF never reaches keeps J = rate (and tau_ref = 0 has no bound at all)
    assert lif.current_for(600.0, DT) == 600.0
    # a rate near zero: a current just over the threshold 1 (no overflow in expm1)
    assert lif.current_for(1e-300, DT) == 1.0 and 1 < lif.current_for(2.0, DT) < 1 + 1e-9
    assert neurons.LIF(tau_ref=0.0).full_rate(DT) is None

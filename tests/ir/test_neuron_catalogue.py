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

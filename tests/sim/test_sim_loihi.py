"""Loihi mode: the integer semantics of nengo-loihi's emulator, spike for spike against
``nengo_loihi.Simulator(target="sim")`` on the network the ``loihi`` target emits."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sim_graphs import CASES, SYN, _Net, probe_spikes

from snnc.errors import SnncError
from snnc.ir import neurons, ops
from snnc.sim import Simulator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

# nengo-loihi imports TensorFlow (slow) for its nengo-dl builders, which its emulator does not
# use: import it with TensorFlow blocked, in a child process (see test_sim_nengo.py)
_PRELUDE = """
import sys
sys.modules["tensorflow"] = None
sys.path.insert(0, {here!r})
sys.path.insert(0, {digits!r})
import numpy as np
import nengo_loihi  # noqa: F401
from sim_graphs import CASES, probe_spikes, raw_outputs
from snnc.codegen import compile_graph
from snnc.sim import Simulator


def check(g, x, steps, n_outputs, pipeline="legalize-loihi"):
    g = raw_outputs(probe_spikes(g))  # per-step values on both sides
    with compile_graph(g, "loihi", pipeline=pipeline) as c:
        theirs = c.run(x, steps=steps, progress=False)
        placed = c.graph
    for backend, event in (("numba", "auto"), ("numba", "always"), ("numpy", "never")):
        sim = Simulator(placed, mode="loihi", backend=backend, event=event)
        ours = sim.run(x, steps)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            if i >= n_outputs:  # spike trains: identical
                assert np.count_nonzero(a) > 0, f"output {{i}} never spikes: a weak test"
                assert np.array_equal(a != 0, b != 0), (backend, event, i, np.argwhere((a != 0) != (b != 0))[:5])
            else:
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
"""


def _run(body: str) -> None:
    script = textwrap.dedent(
        _PRELUDE.format(here=str(HERE), digits=str(ROOT / "examples" / "digits"))
    )
    script += textwrap.dedent(body) + '\nprint("ok")\n'
    r = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=900
    )
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


@pytest.mark.parametrize("pipeline", ["legalize-loihi", "legalize-loihi{input=host-layer}"])
def test_loihi_neurons_match_the_emulator(pipeline):
    """Input spike encoders (or, host-layer, the LoihiIF layer) on the host in nengo's float
    semantics, the rest on the chip in integers, outputs through a chip -> host connection
    and direct probes: 300 steps, every spike equal."""
    _run(
        f"""
        g, x = CASES["loihi_neurons"]()
        check(g, x, 300, len(g.outputs), {pipeline!r})
        """
    )


def test_digits_cnn_matches_the_emulator():
    """The digits CNN compiled for loihi (conv on the chip, 8-bit discretised): the same
    spikes on the host and chip layers and the same logits as nengo-loihi, 8 images."""
    _run(
        """
        import snnc
        from data import load_split

        x_train, _, x_test, _ = load_split()
        c = snnc.compile(
            {model!r}, target="loihi", calibration=x_train[:200]
        )
        check(c.graph, x_test[:8], 60, len(c.graph.outputs))
        """.format(model=str(ROOT / "examples" / "digits" / "digits_cnn.keras"))
    )


def test_layers_split_over_cores_match_the_emulator():
    """A convolution (split in space) and a dense layer (split in neurons, the halves'
    weights differing by 1.5x) above one core: with the compile's block shapes each block
    is discretized on its own, as nengo-loihi does, and every spike is the emulator's; as
    one block the dense layer's spikes differ."""
    _run(
        """
        from snnc.ir import Graph, ops
        from snnc.sim import loihi_blocks
        import snnc.sim.loihi as L

        rng = np.random.default_rng(3)
        g = Graph("split")
        g.add("input", ops.Input(shape=(16, 16, 1)))
        g.add("conv", ops.Conv2D(weight=rng.normal(size=(3, 3, 1, 8)),
                                 bias=rng.normal(size=8) * 0.1, padding="same"), ["input"])
        g.add("conv.act", ops.ReLU(), ["conv"])
        g.add("conv2", ops.Conv2D(weight=rng.normal(size=(3, 3, 8, 4)) * 0.3, strides=(2, 2)),
              ["conv.act"])
        g.add("conv2.act", ops.ReLU(), ["conv2"])
        g.add("flat", ops.Flatten(), ["conv2.act"])
        w = rng.normal(size=(196, 1100)) * 0.1
        w[:, 550:] *= 1.5
        g.add("dense", ops.Dense(weight=w), ["flat"])
        g.add("dense.act", ops.ReLU(), ["dense"])
        g.add("dense2", ops.Dense(weight=rng.normal(size=(1100, 3)) * 0.1), ["dense.act"])
        g.add("output", ops.Output(), ["dense2"])
        x = rng.uniform(0, 1, (3, 16, 16, 1))
        lowered = compile_graph(g, "loihi", calibration=rng.uniform(0, 1, (100, 16, 16, 1)))
        g = raw_outputs(probe_spikes(lowered.graph))
        c = compile_graph(g, "loihi", pipeline="legalize-loihi")
        blocks = loihi_blocks(c.manifest)
        assert blocks == {"conv.act": (8, 16, 8), "dense.act": (550,)}, blocks
        theirs = c.run(x, steps=40, progress=False)
        for backend, event in (("numba", "auto"), ("numba", "always"), ("numpy", "never")):
            ours = Simulator(c.graph, mode="loihi", blocks=blocks, backend=backend, event=event)
            ours = ours.run(x, 40)
            np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12, atol=1e-12)
            for a, b in zip(ours[1:], theirs[1:]):
                assert np.count_nonzero(b) > 0 and np.array_equal(a != 0, b != 0), backend
        L.MAX_COMPARTMENTS = 10**6  # the dense layer as one block: other spikes
        one = Simulator(c.graph, mode="loihi").run(x, 40)
        assert not np.array_equal(one[-1] != 0, theirs[-1] != 0)
        """
    )


def test_discretization_matches_nengo_loihi():
    """decay_magnitude and the weight discretization against nengo-loihi's own functions,
    over every weight exponent."""
    _run(
        """
        from nengo_loihi.block import SynapseConfig
        from nengo_loihi.builder import discretize as d
        from snnc.sim import loihi

        for decay in (1, 17, 264, 741, 4000):
            for off in (0, 1):
                np.testing.assert_array_equal(
                    loihi.decay_magnitude(np.array([decay]), offset=off),
                    d.decay_magnitude(np.array([decay]), offset=off),
                )
        rng = np.random.default_rng(0)
        w = (rng.normal(size=500) * 120).astype(np.float32)
        for exp in range(-7, 2):
            cfg = SynapseConfig(weight_exp=exp, weight_bits=7, fanout_type=1)
            with np.errstate(all="ignore"):
                import warnings
                warnings.simplefilter("ignore")
                assert np.array_equal(loihi.discretize_weights(w, exp), d.discretize_weights(cfg, w))
        """
    )


def test_integer_dynamics_are_bit_identical_on_both_backends():
    """numba and NumPy, event-driven or not, any blocking: the same values everywhere."""
    g, x = CASES["loihi_neurons"]()
    g = probe_spikes(g)
    probes = [n for n in g.topo_order() if n not in ("dense3", "dense5")]
    ref = Simulator(g, mode="loihi", readout="raw", backend="numpy", probes=probes)
    ref.run(x, 150)
    for kw in (dict(event="always"), dict(event="never", block_bytes=1, threads=1)):
        ours = Simulator(g, mode="loihi", readout="raw", probes=probes, **kw)
        ours.run(x, 150)
        for n, v in ref.probe_data.items():
            if ops.is_spiking(g.op(n)):
                np.testing.assert_array_equal(ours.probe_data[n], v, err_msg=n)
            else:
                np.testing.assert_allclose(ours.probe_data[n], v, rtol=1e-12, err_msg=n)


def test_loihi_mode_refuses_what_it_does_not_emulate():
    g, x = CASES["dense_if"]()  # one neuron layer, fed by the input: nothing on the chip
    with pytest.raises(SnncError, match="no neuron .* runs on the chip"):
        Simulator(g, mode="loihi")
    net = _Net("if_on_chip", (4,))
    a = net.add(neurons.LoihiIF(gain=300.0, amplitude=0.01), net.inputs[0])
    b = net.add(neurons.IF(gain=300.0, amplitude=0.01), net.dense(a, 3, synapse=SYN))
    net.output(b)
    g, _ = net.done()  # snn.if fed by neurons: on the chip, which cannot run it
    with pytest.raises(SnncError, match="IF, which cannot run on the chip"):
        Simulator(g, mode="loihi")
    net = _Net("big", (40, 40, 1))
    a = net.add(neurons.LoihiIF(gain=300.0, amplitude=0.01), net.inputs[0])
    c = net.conv(a, (3, 3), 2, synapse=SYN)
    b = net.add(neurons.LoihiIF(gain=300.0, amplitude=0.01), c)  # 38 * 38 * 2 > 1024 neurons
    net.output(b)
    g, _ = net.done()
    with pytest.raises(SnncError, match="more than a core's 1024.*blocks="):
        Simulator(g, mode="loihi")
    with pytest.raises(SnncError, match="more than a core's 1024"):  # blocks still too big
        Simulator(g, mode="loihi", blocks={b: (38, 38, 1)})
    with pytest.raises(SnncError, match="must be 3 positive integers"):
        Simulator(g, mode="loihi", blocks={b: (19, 38)})
    with pytest.raises(SnncError, match="not a node"):
        Simulator(g, mode="loihi", blocks={"nope": (19, 38, 2)})
    with pytest.raises(SnncError, match="mode='loihi' only"):
        Simulator(g, blocks={b: (19, 38, 2)})
    Simulator(g, mode="loihi", blocks={b: (19, 19, 2)})  # 722 neurons a core: accepted
    g, x = CASES["loihi_neurons"]()
    with pytest.raises(SnncError, match="inside a chip connection"):
        Simulator(g, mode="loihi", probes=["dense3"])
    with pytest.raises(SnncError, match="unknown mode"):
        Simulator(g, mode="spinnaker")


def test_loihi_mode_runs_in_float64_whatever_the_dtype():
    g, x = CASES["loihi_neurons"]()
    y = Simulator(g, mode="loihi", dtype=np.float32).run(x, 20)
    assert y.dtype == np.float64
    assert isinstance(g.op("out0"), ops.Output)


@pytest.mark.slow
def test_digits_cnn_matches_the_emulator_on_more_images():
    """As above on 64 images x 100 steps (about a minute of nengo-loihi)."""
    _run(
        """
        import snnc
        from data import load_split

        x_train, _, x_test, _ = load_split()
        c = snnc.compile({model!r}, target="loihi", calibration=x_train[:200])
        check(c.graph, x_test[:64], 100, len(c.graph.outputs))
        """.format(model=str(ROOT / "examples" / "digits" / "digits_cnn.keras"))
    )


def test_loihi_blocks_reads_a_manifest_and_skips_malformed_entries():
    from snnc.sim import loihi_blocks

    layers = [
        {"node": "a", "block_shape": [8, 16, 8], "blocks": 2},
        {"node": "b", "block_shape": [4], "blocks": 1},  # one core: nothing to split
        {"node": 3, "block_shape": [2], "blocks": 2},
        "not a layer",
        {"node": "c", "block_shape": "8x8", "blocks": 2},
        {"node": "d", "block_shape": [2], "blocks": "2"},
    ]
    assert loihi_blocks({"loihi": {"layers": layers}}) == {"a": (8, 16, 8)}
    for manifest in ({}, {"loihi": []}, {"loihi": {"layers": "x"}}, []):
        assert loihi_blocks(manifest) == {}

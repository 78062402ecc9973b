"""The neuron-plugin acceptance test, end to end (issue 7): a neuron defined in one file
(``tests/passes/plugins/neuron_plugin.py``, loaded like a custom pass) lowers, simulates in
snnc's kernel (numpy and numba) and compiles for nengo, spike for spike, with no other edit.
In a fresh process: plugins register globally."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_DRIVER = r"""
import numpy as np
import snnc
from snnc.ir import Graph, ops
from snnc.passes import load_pass_file

load_pass_file(PLUGIN)
rng = np.random.default_rng(0)
g = Graph("plugged")
g.add("x", ops.Input(shape=(6,)))
g.add("d1", ops.Dense(weight=rng.normal(size=(6, 5)), bias=rng.normal(size=5) * 0.1), ["x"])
g.add("r1", ops.ReLU(), ["d1"])
g.add("d2", ops.Dense(weight=rng.normal(size=(5, 3))), ["r1"])
g.add("y", ops.Output(), ["d2"])
x = rng.uniform(0, 1, size=(4, 6))
lowered = snnc.optimize(g, "lower-activations{neuron=test-relu-if},normalize-rates", calibration=x)
assert lowered.op("r1").kind == "snn.test_if", lowered.op("r1").kind
ref = snnc.simulate(lowered, x, steps=30, backend="numpy", dtype=np.float64, readout="raw")
fast = snnc.simulate(lowered, x, steps=30, dtype=np.float64, readout="raw")
np.testing.assert_array_equal(fast, ref)
c = snnc.codegen.compile_graph(lowered, "nengo", pipeline="")
ys = c.run(x, steps=30, progress=False, readout="raw")
np.testing.assert_allclose(ys, ref, rtol=1e-9, atol=1e-9)
assert np.abs(ref).sum() > 0
# float32: the plugin's neurons run inside the 16-channel convolution that reads them
g = Graph("plugged_conv")
g.add("x", ops.Input(shape=(6, 6, 2)))
g.add("c1", ops.Conv2D(weight=rng.normal(size=(3, 3, 2, 4))), ["x"])
g.add("r1", ops.ReLU(), ["c1"])
g.add("c2", ops.Conv2D(weight=rng.normal(size=(3, 3, 4, 16))), ["r1"])
g.add("y", ops.Output(), ["c2"])
x = rng.uniform(0, 1, size=(7, 6, 6, 2))
lowered = snnc.optimize(g, "lower-activations{neuron=test-relu-if},normalize-rates", calibration=x)
sim = snnc.sim.Simulator(lowered, readout="raw")
assert [i.feeder.node for i in sim.plan.instrs if getattr(i, "feeder", None)] == ["r1"]
ref = snnc.simulate(lowered, x, steps=30, backend="numpy", readout="raw")
np.testing.assert_array_equal(sim.run(x, 30), ref)
print("ok")
"""

#: a fresh process after the plugin's: numba's on-disk cache must not refer to the plugin
_AFTER = r"""
import numpy as np
import snnc
from snnc.ir import Graph, neurons, ops

rng = np.random.default_rng(0)
g = Graph("after")
g.add("x", ops.Input(shape=(6, 6, 2)))
g.add("c1", ops.Conv2D(weight=rng.normal(size=(3, 3, 2, 4))), ["x"])
g.add("a1", neurons.IF(gain=50.0, amplitude=0.01), ["c1"])
g.add("c2", ops.Conv2D(weight=rng.normal(size=(3, 3, 4, 16))), ["a1"])
g.add("a2", neurons.IF(gain=50.0, amplitude=0.01), ["c2"])
g.add("y", ops.Output(), ["a2"])
x = rng.uniform(0, 1, size=(7, 6, 6, 2))
y = snnc.simulate(g, x, steps=30, readout="raw")
assert np.abs(y).sum() > 0
print("ok")
"""


def test_plugin_neuron_lowers_simulates_and_compiles_for_nengo():
    plugin = ROOT / "tests" / "passes" / "plugins" / "neuron_plugin.py"
    code = f"PLUGIN = {str(plugin)!r}\n" + _DRIVER
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().endswith("ok")
    r = subprocess.run([sys.executable, "-c", _AFTER], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().endswith("ok")

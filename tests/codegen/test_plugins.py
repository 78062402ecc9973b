"""Emitters found by class or trait: every op has an emitter or a refusal on every target,
no op-kind strings in codegen, and plugin ops and neurons (one file each) compile for nengo
with no edit of snnc."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

from snnc.codegen import get_target
from snnc.codegen.emit import EMITTERS
from snnc.ir import traits as T
from snnc.ir.ops import OPS

NENGO_FAMILY = ["nengo", "nengo-dl", "loihi"]


@pytest.mark.parametrize("target", NENGO_FAMILY)
def test_every_op_has_an_emitter_or_a_refusal(target):
    t = get_target(target)
    missing = []
    for kind, cls in OPS.items():
        emitter = (t.emitters.find(cls) if t.emitters else None) or EMITTERS.find(cls)
        neuron_elsewhere = cls.has(T.Neuron) and target not in cls.targets
        # ANN activations without an emitter are lowered by the pipeline, and say so
        lowered = cls.has(T.Activation) and emitter is None
        if emitter is None and t.refusal(cls) is None and not neuron_elsewhere and not lowered:
            missing.append(kind)
    assert not missing, f"{target}: no emitter and no refusal for {missing}"


def test_no_op_kind_literals_in_codegen():
    """Codegen asks traits and classes; an op-kind string would silently never match."""
    kind = re.compile(r"(nn|ann|snn)\.[a-z0-9_]+")
    found = []
    for path in sorted((ROOT / "codegen").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and kind.fullmatch(node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not found, "\n".join(found)


_PLUGIN_OP = '''
"""A plugin op in one file: an element-wise cube, its traits, kernel and host function."""
from typing import ClassVar

import numpy as np

from snnc.codegen import register_host_function
from snnc.ir import traits as T
from snnc.ir.interpreter import kernel
from snnc.ir.ops import Op, register_op
from snnc.ir.types import F32, TensorType


@register_op
class Cube(Op):
    kind: ClassVar[str] = "plugin.cube"
    traits: ClassVar = frozenset({T.HostOnly})

    def infer_type(self, in_types):
        return TensorType(in_types[0].shape, F32)


@kernel(Cube)
def _cube(op, xs):
    return xs[0] ** 3


def cube(x):
    """x ** 3 on one flat sample."""
    return x**3


register_host_function(Cube, cube)
'''

_PLUGIN_NEURON = '''
"""A plugin neuron in one file: a rate neuron outputting 2 * amplitude * max(J, 0)."""
from typing import ClassVar

import numpy as np

from snnc.ir.neurons import NeuronOp, register_neuron


@register_neuron
class DoubleReLU(NeuronOp):
    kind: ClassVar[str] = "snn.double_relu"
    option: ClassVar[str] = "double-relu"
    summary: ClassVar[str] = "rate neuron, twice a ReLU"
    spiking: ClassVar[bool] = False

    def rate(self, j, dt):
        return 2.0 * np.maximum(j, 0.0)

    def nengo(self):
        return f"nengo.RectifiedLinear(amplitude={2.0 * self.amplitude!r})"
'''

_DRIVER = '''
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import plugin

from snnc.codegen import compile_graph
from snnc.errors import CodegenError
from snnc.ir import Graph, ops
from snnc.ir.interpreter import evaluate

rng = np.random.default_rng(0)
g = Graph("plugged")
g.add("input", ops.Input(shape=(5,)))
g.add("dense", ops.Dense(weight=rng.normal(size=(5, 4))), ["input"])
g.add("plug", plugin.OP(), ["dense"])
g.add("output", ops.Output(), ["plug"])
x = rng.normal(size=(3, 5))
for target in sys.argv[2:]:
    with compile_graph(g, target, pipeline="") as c:
        y = c.run(x, steps=1, progress=False)[:, -1]
        np.testing.assert_allclose(y, evaluate(g, x), rtol=1e-5, atol=1e-5)
try:
    compile_graph(g, "loihi", pipeline="")
except CodegenError as e:
    print("loihi:", e.message.splitlines()[1])
print("ok")
'''


@pytest.mark.parametrize("plugin, op, targets, refusal", [
    # a host op without a TensorFlow twin: a numpy Node on nengo-dl too
    (_PLUGIN_OP, "Cube", ["nengo", "nengo-dl"], "plugin.cube is not supported by target 'loihi'"),
    (_PLUGIN_NEURON, "DoubleReLU", ["nengo"], "neuron 'double-relu' does not run on target 'loihi'"),
])
def test_plugins_compile_with_no_edit(tmp_path, plugin, op, targets, refusal):
    """In a fresh process (plugins register globally): the plugin runs on the targets like
    the interpreter says, and loihi refuses it by trait / by the catalogue."""
    (tmp_path / "plugin.py").write_text(textwrap.dedent(plugin) + f"\nOP = {op}\n")
    cmd = [sys.executable, "-c", _DRIVER, str(tmp_path), *targets]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().endswith("ok") and refusal in r.stdout, r.stdout

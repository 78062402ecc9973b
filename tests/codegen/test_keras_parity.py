"""Rate parity against Keras: every convertible zoo model, lowered to rate-ReLU neurons and
compiled for each target, matches the Keras model's output after one step within 1e-4.

(``zoo.reference_outputs`` is ``model(x, training=False)``, i.e. ``model.predict``.)
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import ROOT

from snnc.codegen import compile_graph
from snnc.errors import PassError

sys.path.insert(0, str(ROOT / "tests" / "frontend"))
zoo = pytest.importorskip("zoo", reason="the Keras model zoo (tests/frontend/zoo.py) is missing")
frontend = pytest.importorskip("snnc.frontend")

TOL = 1e-4
#: rate-ReLU neurons (exact ReLUs), no synapses, and the softmax readout kept (predict has it)
PIPELINE = "canonicalize,fold-batchnorm,lower-activations{neuron=rate-relu,drop_softmax=false},fuse-bias"
#: for models without ReLUs (nothing to lower): their activations are emitted directly
ANN_PIPELINE = "canonicalize,fold-batchnorm"

@pytest.mark.parametrize("zm", zoo.CONVERTIBLE, ids=lambda zm: zm.name)
def test_keras_rate_parity(zm, target):
    model = zm.build()
    x = zoo.sample_inputs(zm, batch=3)
    want = zoo.reference_outputs(model, x)
    g = frontend.load(model)
    pipeline = PIPELINE if g.nodes_of("ann.relu") else ANN_PIPELINE
    try:
        c = compile_graph(g, target, pipeline)
    except PassError as e:
        if "cannot lower" in e.message:  # e.g. ThresholdedReLU: no neuron equivalent
            pytest.skip(f"lower-activations refuses it: {e.message.splitlines()[-1].strip()}")
        raise
    with c:
        ys = c.run(x if len(x) > 1 else x[0], steps=1, progress=False)
    ys = ys if isinstance(ys, list) else [ys]
    assert len(ys) == len(want)
    for y, ref in zip(ys, want, strict=True):
        np.testing.assert_allclose(y[:, 0], ref, rtol=TOL, atol=TOL)

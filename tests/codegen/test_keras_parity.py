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
import zoo  # noqa: E402

from snnc import frontend  # noqa: E402

TOL = 1e-4
#: rate-ReLU neurons (exact ReLUs), no synapses, and the softmax readout kept (predict has it)
PIPELINE = "canonicalize,fold-batchnorm,lower-activations{neuron=rate-relu,drop_softmax=false},fuse-bias"
#: for models without ReLUs (nothing to lower): their activations are emitted directly
ANN_PIPELINE = "canonicalize,fold-batchnorm"
#: ThresholdedReLU jumps from 0 to the threshold: no neuron computes it, lowering refuses it
REFUSED_BY_LOWERING = {"relu_threshold"}

@pytest.mark.parametrize("zm", zoo.CONVERTIBLE, ids=lambda zm: zm.name)
def test_keras_rate_parity(zm, target):
    model = zm.build()
    x = zoo.sample_inputs(zm, batch=3)
    want = zoo.reference_outputs(model, x)
    g = frontend.load(model)
    pipeline = PIPELINE if g.nodes_of("ann.relu") else ANN_PIPELINE
    if zm.name in REFUSED_BY_LOWERING:
        with pytest.raises(PassError, match="cannot lower"):
            compile_graph(g, target, pipeline)
        return
    c = compile_graph(g, target, pipeline)
    with c:
        ys = c.run(x if len(x) > 1 else x[0], steps=1, progress=False)
    ys = ys if isinstance(ys, list) else [ys]
    assert len(ys) == len(want)
    for y, ref in zip(ys, want, strict=True):
        np.testing.assert_allclose(y[:, 0], ref, rtol=TOL, atol=TOL)

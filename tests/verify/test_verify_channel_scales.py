"""``snnc verify`` on graphs normalized per channel (``normalize-rates{granularity=channel}``,
the nengo, nengo-dl and loihi defaults): a scaled neuron's value differs from the model's by
a factor per channel that its consumer undoes, so tier 1 compares and forces those values
through the scale; a sign-flipped layer is still the one named. Per layer is checked too."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LAYERS, MODEL

import snnc
from snnc.verify import verify

LOWER = "canonicalize,fold-batchnorm,lower-activations{neuron=iaf,bits=1,v_init=0.5},fuse-bias,"
PER_CHANNEL = LOWER + "normalize-rates{granularity=channel}"
PER_LAYER = LOWER + "normalize-rates{granularity=layer}"


@pytest.fixture(scope="module")
def channel_artifact(digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("artifact") / "digits.channel"
    snnc.compile(MODEL, "nengo", calibration=digits[0][:200], pipeline=PER_CHANNEL).save(out)
    return out


def test_the_compiled_graph_records_its_channel_scales(channel_artifact):
    from snnc.codegen import Compiled

    g = Compiled.load(channel_artifact).graph
    scaled = {n: g.meta(n)["channel_scale"] for n in g.topo_order() if "channel_scale" in g.meta(n)}
    assert set(scaled) == {"conv1.act", "conv2.act"}  # the logits are the readout: unscaled
    for n, r in scaled.items():
        assert len(r) == g.type(n).shape[-1]
        assert not np.allclose(r, 1.0)  # a real per-channel spread, or the test proves nothing


@pytest.mark.parametrize(
    "target, pipeline", [("nengo", PER_CHANNEL), ("nengo", PER_LAYER), ("loihi", None)]
)
def test_tier1_passes_per_channel_and_per_layer(target, pipeline, digits):
    x_train, _, x_test, y_test = digits
    r = verify(
        MODEL,
        (x_test[:120], y_test[:120]),
        target,
        calibration=x_train[:200],
        pipeline=pipeline,
        tiers=(1,),
        progress=False,
    )
    t1 = r.tier1
    assert r.passed, t1["failures"]
    assert [row["layer"] for row in t1["layers"]] == list(LAYERS)
    assert t1["max_rel_error"] < 1e-5
    scaled_note = any("per-channel rate scales" in n for n in t1["notes"])
    assert scaled_note == (pipeline != PER_LAYER)
    net = t1["checks"]["network"]
    # loihi: the rate-relu twin is run on nengo, with a rate input encoder
    assert net["argmax_agreement"] == 1.0 and net["max_rel_error"] < 1e-6


@pytest.mark.parametrize("layer", ["conv1", "conv2", "logits"])
def test_a_sign_flipped_layer_is_named_through_channel_scales(
    layer, flipped, channel_artifact, digits
):
    _, _, x_test, y_test = digits
    r = verify(
        flipped(layer), (x_test[:120], y_test[:120]), artifact=channel_artifact, tiers=(1,),
        progress=False,
    )
    t1 = r.tier1
    assert not r.passed and r.exit_code == 1
    assert t1["worst_layer"] == layer
    assert [row["layer"] for row in t1["layers"] if not row["passed"]] == [layer]

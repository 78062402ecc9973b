"""Property tests on random graphs: the passes keep rate-mode outputs (``snnc.evaluate``)
unchanged where they promise exactness, keep the graph verifying, and canonicalize is
idempotent."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import snnc
from snnc.ir import Stage, ops, verify
from snnc.ir import traits as T
from snnc.passes import PassContext, run_pipeline
from tests.passes.strategies import graphs, sample_inputs

ATOL = 1e-5
SETTINGS = settings(max_examples=60, deadline=None)


def _outputs(g, x) -> list[np.ndarray]:
    y = snnc.evaluate(g, x)
    return y if isinstance(y, list) else [y]


def assert_same_outputs(before, after, x, atol: float = ATOL):
    for a, b in zip(_outputs(before, x), _outputs(after, x), strict=True):
        err = float(np.max(np.abs(a - b), initial=0.0))
        assert err <= atol, f"max abs error {err:.3g} > {atol}"


@given(graphs())
@SETTINGS
def test_canonicalize_is_exact_and_idempotent(g):
    x = sample_inputs(g)
    once, report = run_pipeline(g, "canonicalize")
    verify(once)
    assert_same_outputs(g, once, x)
    assert not once.nodes_of("nn.identity")
    twice, report2 = run_pipeline(once, "canonicalize")
    assert twice.structurally_equal(once)
    assert not report2.changed and report2.stats["canonicalize"] == {}


@given(graphs())
@SETTINGS
def test_fold_batchnorm_is_exact(g):
    x = sample_inputs(g)
    out, report = run_pipeline(g, "fold-batchnorm", PassContext.default(calibration=x))
    assert_same_outputs(g, out, x)
    assert not out.nodes_of("nn.batch_norm")
    stats = report.stats["fold-batchnorm"]
    if stats["batch_norms"]:
        assert stats["max_abs_drift"] <= ATOL
        assert (
            stats["batch_norms"]
            == stats["folded_into_producer"]
            + stats["folded_into_consumer"]
            + stats["kept_as_affine"]
        )


@given(graphs(softmax=False))
@SETTINGS
def test_lower_activations_rate_relu_is_exact(g):
    x = sample_inputs(g)
    out, report = run_pipeline(g, "lower-activations{neuron=rate-relu}")
    assert_same_outputs(g, out, x)
    assert not out.nodes_of("ann")
    relus = len(g.nodes_of("ann.relu"))
    assert report.stats["lower-activations"]["lowered"] == relus
    assert out.stage is (Stage.SNN if relus else Stage.ANN)


@given(graphs())
@SETTINGS
def test_lowering_to_spiking_neurons_is_rate_exact_and_fully_spiking(g):
    x = sample_inputs(g)
    out, _ = run_pipeline(g, "lower-activations{neuron=if,drop_softmax=false,v_init=0.5}")
    assert_same_outputs(g, out, x)
    neurons = [n for n in out.topo_order() if ops.is_neuron(out.op(n))]
    assert all(ops.is_spiking(out.op(n)) for n in neurons)
    assert all(out.op(n).v_init == 0.5 for n in neurons)
    # low latency by default: no synapse anywhere (spikes arrive in the step they leave)
    assert all(syn is None for n in out.topo_order() for _, _, syn in out.in_edges(n))


@given(graphs(), st.sampled_from([0.001, 0.005]))
@SETTINGS
def test_lowering_puts_the_synapse_asked_for_on_every_spiking_edge(g, tau):
    out, _ = run_pipeline(g, f"lower-activations{{neuron=if,synapse={tau}}}")
    for n in out.topo_order():
        for d, p in out.users(n):
            want = tau if ops.is_spiking(out.op(n)) else None
            assert out.synapse(n, d, p) == want


@given(graphs())
@SETTINGS
def test_snn_passes_are_rate_exact(g):
    """fuse-bias and normalize-rates (data and fixed) keep IF rate-mode outputs."""
    x = sample_inputs(g, batch=8)
    lowered, _ = run_pipeline(
        g, "canonicalize,fold-batchnorm,lower-activations{drop_softmax=false}"
    )
    ctx = PassContext.default(calibration=x)
    for pipeline in (
        "fuse-bias",
        "fuse-bias,normalize-rates{mode=data}",
        "fuse-bias,normalize-rates{mode=data,granularity=channel,percentile=99}",
        "normalize-rates{mode=data,granularity=channel}",
        "normalize-rates{mode=fixed,scale=37}",
    ):
        out, _ = run_pipeline(lowered, pipeline, ctx)
        assert_same_outputs(g, out, x, atol=1e-4)


@given(graphs())
@SETTINGS
def test_fuse_bias_leaves_no_bias_before_a_neuron(g):
    lowered, _ = run_pipeline(g, "canonicalize,lower-activations,fuse-bias")
    for n in lowered.topo_order():
        users = lowered.users(n)
        if lowered.op(n).has(T.HasWeights) and all(ops.is_neuron(lowered.op(d)) for d, _ in users):
            assert lowered.op(n).bias is None


@given(graphs())
@SETTINGS
def test_default_pipeline_keeps_the_decision(g):
    x = sample_inputs(g, batch=8)
    out, report = run_pipeline(
        g,
        "canonicalize,fold-batchnorm,lower-activations,fuse-bias,normalize-rates",
        PassContext.default(calibration=x),
    )
    verify(out)
    a, b = _outputs(g, x)[0], _outputs(out, x)[0]
    if g.nodes_of("ann.softmax"):
        assert report.stats["lower-activations"]["softmax_removed"] == 1
        a = snnc.evaluate(g, x, return_all=True)[g.inputs_of(g.nodes_of("ann.softmax")[0])[0]]
    np.testing.assert_allclose(b, a, atol=1e-4, rtol=1e-5)

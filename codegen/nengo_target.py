"""The ``nengo`` target: nengo's NumPy reference simulator.

Samples run one at a time: the input Nodes read the current sample, and the simulator is
reset between samples, so no state leaks from one sample to the next. The simulator is
built once per session and reused for every sample.
"""

from __future__ import annotations

from snnc.codegen.nengo_family import NengoTarget, ReferenceSession
from snnc.codegen.target import register_target
from snnc.errors import SnncError


def _session(compiled, batch: int | None, **options) -> ReferenceSession:
    if options:
        raise SnncError(f"target 'nengo' takes no simulator options (got {', '.join(options)})")
    return ReferenceSession(compiled)  # the reference simulator has no minibatches


NENGO = register_target(
    NengoTarget(
        name="nengo",
        description="nengo reference simulator (NumPy, CPU); one sample at a time",
        # ReLU -> integrate-and-fire (exact in rate mode), biases into the neurons, rates
        # scaled to the neurons' range
        # binary signed integrate-and-fire from half threshold, each channel's 99.9th
        # percentile at one spike per step, the remainder undone by the next layer's
        # weights (README: accuracy after t steps; per layer: granularity=layer)
        default_pipeline="canonicalize,fold-batchnorm,lower-activations{neuron=iaf,bits=1,v_init=0.5},fuse-bias,normalize-rates{granularity=channel}",
        backend="nengo",
        session=_session,
    )
)

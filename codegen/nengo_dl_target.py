"""The ``nengo-dl`` target: nengo-dl's TensorFlow simulator with minibatches.

A whole minibatch runs at once (``minibatch_size``); every call starts from the initial
state (``stateful=False``), so samples never share state, as with the reference target.
The last minibatch is padded with zeros and the padding dropped from the results.
The generated network is the one of the ``nengo`` target except for the host-side ops,
which run in TensorFlow (``nengo_dl.TensorNode``) instead of numpy Nodes.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from snnc.codegen.emit import EmitterTable, NetworkBuilder, emitter
from snnc.codegen.emit.host import check_host, host_function
from snnc.codegen.emit.naming import literal
from snnc.codegen.emit.values import object_value
from snnc.codegen.nengo_family import NengoTarget
from snnc.codegen.target import progress_bar, quiet_build, register_target
from snnc.errors import SnncError
from snnc.ir import traits as T

logger = logging.getLogger(__name__)


class MinibatchSession:
    """Runs a compiled network with ``nengo_dl.Simulator(minibatch_size=batch)``.

    ``dtype`` is nengo-dl's float type: ``"float32"`` (its default, fast) or ``"float64"``
    (the reference simulator's precision: then the two produce identical spikes; in float32
    a membrane voltage that rounds across the threshold can move a spike by one step).
    """

    def __init__(self, compiled, batch: int, dtype: str = "float32"):
        if dtype not in ("float32", "float64"):
            raise SnncError(f"nengo-dl dtype {dtype!r} is not supported (expected float32 or float64)")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No GPU support detected")
            import nengo_dl

            network, inputs, probes = compiled.build()
            with network:
                # inference only: no gradients, no state kept between calls
                nengo_dl.configure_settings(stateful=False, inference_only=True, dtype=dtype)
            with quiet_build():
                self.sim = nengo_dl.Simulator(
                    network, dt=compiled.graph.dt, minibatch_size=batch, progress_bar=False
                )
        self.batch = batch
        self.dtype = np.dtype(dtype)
        self.nodes = list(inputs.values())
        self.probes = list(probes.values())

    def run(self, xs: list[np.ndarray], steps: int, progress: bool | None = None) -> list[np.ndarray]:
        """Run all samples, ``batch`` at a time; same contract as ``ReferenceSession.run``."""
        n, b = xs[0].shape[0], self.batch
        outs = [np.empty((n, steps, p.size_in)) for p in self.probes]
        starts = range(0, n, b)
        for start in progress_bar(starts, total=len(starts), enabled=progress, unit="batch"):
            stop = min(start + b, n)
            data = {}
            for node, x in zip(self.nodes, xs, strict=True):
                chunk = np.zeros((b, steps, x.shape[1]), dtype=self.dtype)
                chunk[: stop - start] = x[start:stop, None, :]  # constant over the steps
                data[node] = chunk
            result = self.sim.predict_on_batch(data, n_steps=steps)
            for out, probe in zip(outs, self.probes, strict=True):
                out[start:stop] = result[probe][: stop - start]
        return outs

    def close(self) -> None:
        self.sim.close()


# =============================================================================== emitters

#: nengo-dl's overrides of the shared emitters
EMITTERS = EmitterTable()


@emitter(T.HostOnly, T.Quantizer, check=check_host, table=EMITTERS)
def emit_tensor_node(b: NetworkBuilder, node: str, op, ins):
    """A ``nengo_dl.TensorNode`` when the op has a TensorFlow twin: it runs inside the
    TensorFlow graph on the whole minibatch, where a plain ``nengo.Node`` would call numpy
    once per sample and step. Ops without a twin keep the numpy Node."""
    (value,) = ins
    fn = host_function(op)
    out_shape = b.graph.type(node).shape
    args = fn.call_args(op, value.shape)
    if fn.tensorflow is None:
        call = f"{b.helper(fn.numpy)}(x{args})"
        return b.host_node(node, call, value, out_shape, "host Node (numpy)")
    b.require("nengo_dl")
    out_size = b.graph.type(node).size
    name = b.var(node)
    b.emit(
        f"{name} = nengo_dl.TensorNode(lambda x: {b.helper(fn.tensorflow)}(x{args}), "
        f"shape_in=({value.size},), shape_out=({out_size},), pass_time=False, "
        f"label={literal(node)})"
    )
    b.connect_value(node, value, name)
    b.note(node, "nengo_dl.TensorNode")
    return object_value(name, out_shape)


def _session(compiled, batch: int | None, **options) -> MinibatchSession:
    return MinibatchSession(compiled, batch, **options)


NENGO_DL = register_target(
    NengoTarget(
        name="nengo-dl",
        description="nengo-dl (TensorFlow, CPU/GPU); whole minibatches at once",
        # the same network as the nengo target's, so the same pipeline
        # binary signed integrate-and-fire from half threshold, each channel's 99.9th
        # percentile at one spike per step, the remainder undone by the next layer's
        # weights (README: accuracy after t steps; per layer: granularity=layer)
        default_pipeline="canonicalize,fold-batchnorm,lower-activations{neuron=iaf,bits=1,v_init=0.5},fuse-bias,normalize-rates{granularity=channel}",
        backend="nengo_dl",
        session=_session,
        emitters=EMITTERS,
        # large enough to amortise TF's per-call overhead, small enough that the
        # (batch, steps, size) probe data stays modest
        default_batch=32,
    )
)

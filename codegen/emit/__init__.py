"""The nengo emitters: IR ops -> the Python source of a nengo network (plus its weights).

One emitter set serves every nengo-family target (``nengo``, ``nengo-dl``, ``loihi``);
a target may override emitters per op. The package is split along its concerns:

============== ===============================================================================
``values``     :class:`Value` / :class:`Term` / :class:`Transform` and the value algebra
               (how linear ops rewrite pending connections instead of creating objects)
``naming``     names are data: fresh identifiers (:class:`Namespace`), escaped literals
``builder``    :class:`NetworkBuilder`, the state of one emission (lines, weights, objects)
``module``     the template of the generated ``network.py``
``native``     which native nengo transform computes an affine op exactly (else a matrix)
``registry``   emitters by op class or trait (:func:`emitter`, :data:`EMITTERS`)
``io``         inputs and outputs; ``affine``: linear ops; ``neurons``: the neuron
               catalogue and nengo's rate sigmoid/tanh; ``host``: host-side numpy Nodes
``generate``   the driver: graph -> :class:`NengoNetwork` (``artifact``)
============== ===============================================================================

Objects appear only where the IR computes something nonlinear: a neuron op becomes
``nengo.Ensemble(...).neurons`` with gain and bias set directly, and the constant offsets
reaching it fold into its bias (biases are neuron biases, not relay nodes); a host-side op
becomes a ``nengo.Node`` running a numpy function; an output becomes a ``nengo.Probe``.
"""

from snnc.codegen.emit import affine, host, io, neurons  # noqa: F401 - register the emitters
from snnc.codegen.emit.artifact import MODULE_FILE, WEIGHTS_FILE, NengoNetwork
from snnc.codegen.emit.builder import NetworkBuilder
from snnc.codegen.emit.generate import generate
from snnc.codegen.emit.host import HOST_FUNCTIONS, HostFunction, register_host_function
from snnc.codegen.emit.naming import Namespace, literal
from snnc.codegen.emit.registry import EMITTERS, Emitter, EmitterTable, emitter, find_emitter
from snnc.codegen.emit.values import Term, Transform, Value

__all__ = [
    "EMITTERS", "HOST_FUNCTIONS", "MODULE_FILE", "WEIGHTS_FILE", "Emitter", "EmitterTable",
    "HostFunction", "Namespace", "NengoNetwork", "NetworkBuilder", "Term", "Transform", "Value",
    "emitter", "find_emitter", "generate", "literal", "register_host_function",
]

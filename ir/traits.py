"""Op traits: what an op *is*, declared on its class and asked by every consumer.

Passes, the verifier, codegen and the simulator never compare op-kind strings; they ask
``op.has(Linear)`` or test a class (``isinstance(op, ops.Output)``). A new op declares its
traits once and every consumer treats it right (xDSL's ``OpTrait``, MLIR's op traits)::

    @register_op
    class AvgPool(_PoolBase):
        kind: ClassVar[str] = "nn.avg_pool"
        traits: ClassVar = frozenset({Linear, Affine})

Traits are plain marker classes (no instances). Their meanings are contracts the tests
check op by op (e.g. every ``Linear`` op's interpreter kernel is linear in its inputs).
"""

from __future__ import annotations


class Trait:
    """Base of all traits (a marker class: never instantiated)."""


class Linear(Trait):
    """The output is affine in the inputs: ``y = A x + b`` with ``A``, ``b`` fixed by the op.

    Such ops compose into connection matrices at codegen, and scaling passes may push a
    factor through them (``A (k x) + b``). Every value-moving op is Linear too.
    """


class HasWeights(Trait):
    """A learned ``weight`` whose last axis is the output-channel axis, plus an optional
    ``bias`` per output channel (dense, convolutions): biases fold into neurons, affine maps
    fold into the weight's channels, quantization acts per output channel."""


class ChannelAffine(Trait):
    """A per-channel ``y = x * scale + offset`` along ``op.axis`` (batch norm, affine);
    :meth:`channel_affine` of the op returns ``(scale, offset)``."""


class MovesValues(Trait):
    """Only moves values: each output element is one input element, or a constant fill
    (reshape, flatten, transpose, crop, pad, upsample, concat, identity). Codegen turns
    them into index maps instead of matrices."""


class PreservesDtype(Trait):
    """The output dtype is the input's: spikes pass through (flatten of spikes is spikes)."""


class ShapeOnly(Trait):
    """Reinterprets the shape of its input without reordering (reshape, flatten)."""


class Activation(Trait):
    """An element-wise ANN activation (``ann.*``): the thing lower-activations replaces."""


class ReLULike(Trait):
    """An activation that a sum of rectified-linear neurons computes exactly (ReLU with
    clipping and leak); other activations have no spiking equivalent."""


class Readout(Trait):
    """Only shapes the readout (linear, softmax): lower-activations removes it or keeps it by
    its own option (``drop_softmax``), never as a rate neuron or a hidden layer."""


class Increasing(Trait):
    """Strictly increasing in its input (an ``ann.elu`` only for ``alpha > 0``): removing it
    from an output keeps every argmax."""


class HostOnly(Trait):
    """A nonlinearity no neuron computes (max pooling, softmax, elu, ...): runs on a host
    Node on the nengo targets and has no place on a neuromorphic chip."""


class Neuron(Trait):
    """A neuron op from the catalogue (:mod:`snnc.ir.neurons`): ``J = gain * x + bias``."""


class Spiking(Trait):
    """A neuron that emits spikes (its output dtype is ``spike``)."""


class ReLUExact(Trait):
    """A neuron whose rate-mode output is exactly ``amplitude * max(J, 0)``, so lowering a
    ReLU to it keeps rate-mode outputs unchanged and rate scaling is exact."""


class GraphIO(Trait):
    """A graph boundary (``nn.input``, ``nn.output``)."""


class Quantizer(Trait):
    """Rounds values to a fixed-point grid; its output has a ``QInt`` dtype."""


#: every built-in trait, for help texts and tests
ALL_TRAITS: tuple[type[Trait], ...] = (
    Linear,
    HasWeights,
    ChannelAffine,
    MovesValues,
    PreservesDtype,
    ShapeOnly,
    Activation,
    ReLULike,
    Readout,
    Increasing,
    HostOnly,
    Neuron,
    Spiking,
    ReLUExact,
    GraphIO,
    Quantizer,
)

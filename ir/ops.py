"""IR operations: one frozen dataclass per op kind, found through :data:`OPS`.

An op holds hyper-parameters (ints, floats, strings, tuples) and read-only float32 numpy
parameters (the fields named in ``params``). ``infer_type(in_types)`` checks the inputs and
parameters and returns the output type; it raises :class:`OpError` with a message and hint.

Conventions (shared by the interpreter, passes and codegen):
- shapes exclude batch and time, and are channels-last;
- spatial ops (conv, pooling, upsampling) act on the dims just before the channel axis; any
  extra *leading* dims (from ``TimeDistributed``) are independent, like a batch;
- ``padding`` is ``"valid"``, ``"same"`` (TensorFlow's rule: the extra pixel goes after) or
  explicit ``((before, after), ...)`` per spatial dim;
- conv weights are ``[*kernel, in_channels // groups, out_channels]`` (Keras layout);
- neuron ops (``snn.*``) compute ``J = gain * x + bias`` and follow nengo's neuron models;
  ``amplitude`` scales their output, as in nengo.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from snnc.ir import traits as T
from snnc.ir.types import F32, DType, TensorType

OPS: dict[str, type[Op]] = {}
#: values of ``Op.place``
PLACES = (None, "host", "chip")


class OpError(ValueError):
    """An op's inputs or parameters are inconsistent. ``hint`` says what would work."""

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message)


def register_op(cls):
    """Class decorator: make ``cls`` a frozen op dataclass and register it under ``cls.kind``.

    ``cls.traits`` must hold :class:`~snnc.ir.traits.Trait` subclasses; a kind is
    ``<dialect>.<name>`` and registered once.
    """
    if cls.kind in OPS:
        raise ValueError(f"op kind {cls.kind!r} registered twice")
    if "." not in cls.kind:
        raise ValueError(f"op kind {cls.kind!r} needs a dialect prefix (e.g. 'nn.{cls.kind}')")
    bad = [t for t in cls.traits if not (isinstance(t, type) and issubclass(t, T.Trait))]
    if bad:
        raise ValueError(f"op {cls.kind}: traits {bad} are not Trait classes")
    cls.traits = frozenset(cls.traits)
    cls = dataclass(frozen=True, eq=False)(cls)
    OPS[cls.kind] = cls
    return cls


def array_hash(a: np.ndarray) -> str:
    """Short content hash of an array (dtype, shape and bytes): what the printer shows."""
    h = hashlib.sha256()
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:8]


def _freeze(value):
    """Normalise an attribute value: lists become tuples (hashable, printable)."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _normalize_quant(value) -> tuple:
    """``quant`` as a tuple of ``(param, QInt)`` pairs sorted by name (a dict works too)."""
    items = value.items() if isinstance(value, dict) else value
    out = []
    for name, dt in items:
        if not isinstance(dt, DType) or not dt.is_quantized:
            raise OpError(f"quant entry for '{name}' is {dt!r} (expected a QInt dtype)")
        out.append((str(name), dt))
    return tuple(sorted(out))


def _check_quantized(op: Op, name: str, dt: DType) -> None:
    """A quantized parameter: exists, its exponents fit its shape, and every value is an
    in-range integer times ``2**exp``."""
    if name not in op.params:
        raise OpError(f"quant names '{name}', which is not a parameter of {op.kind}")
    a = getattr(op, name)
    if a is None:
        raise OpError(f"quant names parameter '{name}', which is not set")
    if dt.per_channel and (a.ndim == 0 or a.shape[-1] != len(dt.exp)):
        raise OpError(
            f"parameter '{name}' {list(a.shape)} has {len(dt.exp)} per-channel exponents "
            f"(expected one per element of its last axis)"
        )
    m = np.asarray(a, np.float64) / dt.scale()
    lo, hi = dt.int_range()
    if not np.all(np.isfinite(m)) or np.any(m != np.rint(m)) or m.min(initial=0) < lo or m.max(initial=0) > hi:
        raise OpError(
            f"parameter '{name}' holds values that are not {dt.bits}-bit integers times 2**exp "
            f"(dtype {dt})",
            "quantize with snnc.ir.quant.quantize_param, which rounds and clips",
        )


def _frozen_array(value) -> np.ndarray | None:
    if value is None:
        return None
    a = np.array(value, dtype=np.float32)  # always a private copy
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Op:
    """Base class of all IR ops. Subclasses are frozen dataclasses made by :func:`register_op`.

    ``quant`` (keyword-only, on every op) says which numpy parameters are fixed point:
    ``((param, QInt dtype), ...)``. A quantized parameter's array holds the exact
    dequantized values ``mantissa * 2**exp`` (so every float consumer computes the exact
    quantized semantics); :meth:`mantissa` gives the integers, which is what the serializer
    stores and a chip receives. The printer shows the q-type in the parameter's literal
    (``weight=<q8e-7[3,3,1,16] #hash>``) instead of printing ``quant``.

    ``place`` (keyword-only, on every op) is the op's placement on targets with a host and a
    neuromorphic chip: ``"host"``, ``"chip"`` or None (not placed yet).
    """

    kind: ClassVar[str] = ""
    #: what the op is (see :mod:`snnc.ir.traits`); consumers ask :meth:`has`
    traits: ClassVar[frozenset] = frozenset()
    #: number of inputs; None means variadic (at least ``min_inputs``)
    arity: ClassVar[int | None] = 1
    min_inputs: ClassVar[int] = 1
    #: names of fields holding numpy parameters (float32, read-only, may be None)
    params: ClassVar[tuple[str, ...]] = ()
    #: fields the printer leaves out because the type annotation already says them
    type_fields: ClassVar[tuple[str, ...]] = ()
    #: fields the printer leaves out while they hold their default value
    quiet_fields: ClassVar[tuple[str, ...]] = ()

    quant: tuple = dataclasses.field(default=(), kw_only=True)
    #: where the op runs on a target with a host and a chip (``"host"``, ``"chip"``), set by
    #: a target's legalization; None: not placed (printed only when set)
    place: str | None = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in self.params:
                object.__setattr__(self, f.name, _frozen_array(v))
            elif f.name == "quant":
                object.__setattr__(self, f.name, _normalize_quant(v))
            else:
                object.__setattr__(self, f.name, _freeze(v))

    @classmethod
    def has(cls, trait: type[T.Trait]) -> bool:
        """True when the op declares ``trait``."""
        return trait in cls.traits

    # ----------------------------------------------------------------- introspection
    @property
    def dialect(self) -> str:
        """``nn``, ``ann`` or ``snn``."""
        return self.kind.split(".", 1)[0]

    def attrs(self) -> dict[str, Any]:
        """Hyper-parameters (everything but the numpy parameters), in field order."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in self.params
        }

    def param_arrays(self) -> dict[str, np.ndarray]:
        """The numpy parameters that are set (None ones are left out)."""
        return {p: getattr(self, p) for p in self.params if getattr(self, p) is not None}

    def replace(self, **changes) -> Op:
        """A copy with some fields changed (ops are immutable)."""
        return dataclasses.replace(self, **changes)

    def num_inputs_ok(self, n: int) -> bool:
        return n == self.arity if self.arity is not None else n >= self.min_inputs

    # ----------------------------------------------------------------- quantization
    def qtype(self, name: str) -> DType:
        """The dtype of parameter ``name``: its QInt when quantized, else f32."""
        return dict(self.quant).get(name, F32)

    def mantissa(self, name: str) -> np.ndarray:
        """The integer mantissas of quantized parameter ``name`` (int64)."""
        dt = self.qtype(name)
        if not dt.is_quantized:
            raise ValueError(f"{self.kind}: parameter '{name}' is not quantized")
        return np.rint(np.asarray(getattr(self, name), np.float64) / dt.scale()).astype(np.int64)

    @property
    def is_quantized(self) -> bool:
        """Every numpy parameter that is set is fixed point (and there is at least one)."""
        arrays = self.param_arrays()
        return bool(arrays) and all(self.qtype(p).is_quantized for p in arrays)

    # ----------------------------------------------------------------- semantics
    def infer_type(self, in_types: list[TensorType]) -> TensorType:
        """Check the inputs and parameters, return the output type (raise OpError)."""
        raise NotImplementedError

    def verify(self, in_types: list[TensorType]) -> TensorType:
        """Full check: parameter hygiene (finite, read-only, quantized values on their grid)
        plus :meth:`infer_type`. Returns the inferred type."""
        if self.place not in PLACES:
            raise OpError(
                f"place {self.place!r} is not a placement (expected one of "
                f"{', '.join(repr(p) for p in PLACES)})"
            )
        for name, dt in self.quant:
            _check_quantized(self, name, dt)
        for name, a in self.param_arrays().items():
            if a.flags.writeable:
                raise OpError(f"parameter '{name}' is writeable", "ops copy parameters on creation")
            if not np.all(np.isfinite(a)):
                bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
                raise OpError(
                    f"parameter '{name}' has {bad} non-finite value(s) (NaN or inf)",
                    "retrain or fix the weights; snnc cannot convert NaN/inf parameters",
                )
        return self.infer_type(in_types)

    # ----------------------------------------------------------------- equality
    def __eq__(self, other):
        if type(self) is not type(other) or self.attrs() != other.attrs():
            return False
        for p in self.params:
            a, b = getattr(self, p), getattr(other, p)
            if (a is None) != (b is None):
                return False
            if a is not None and (a.shape != b.shape or not np.array_equal(a, b)):
                return False
        return True

    def __hash__(self):
        arrays = tuple(array_hash(a) for a in self.param_arrays().values())
        return hash((self.kind, tuple(self.attrs().items()), arrays))


# =============================================================================== helpers


def _one(in_types: list[TensorType]) -> TensorType:
    return in_types[0]


def _check_param(op: Op, name: str, shape: tuple[int, ...]) -> None:
    a = getattr(op, name)
    if a is not None and a.shape != tuple(shape):
        raise OpError(f"parameter '{name}' has shape {list(a.shape)} (expected {list(shape)})")


def _check_broadcast(op: Op, name: str, shape: tuple[int, ...]) -> None:
    """Scalar or full per-element shape, or per-channel (last axis)."""
    a = getattr(op, name)
    if a is None or a.shape in ((), tuple(shape)) or (shape and a.shape == (shape[-1],)):
        return
    raise OpError(
        f"parameter '{name}' has shape {list(a.shape)} "
        f"(expected [], [{shape[-1] if shape else ''}] or {list(shape)})"
    )


def _tuple_of(value, n: int, what: str) -> tuple[int, ...]:
    t = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(t) != n:
        raise OpError(f"{what} has {len(t)} entries (expected {n})")
    return t


def resolve_padding(padding, in_sizes, kernel, strides, dilation) -> tuple[tuple[int, int], ...]:
    """Explicit ``((before, after), ...)`` padding for ``"valid"``, ``"same"`` or explicit pairs.

    ``"same"`` follows TensorFlow: total = max((ceil(n/s) - 1)*s + k_eff - n, 0), the odd
    pixel goes after.
    """
    n = len(in_sizes)
    if padding == "valid":
        return ((0, 0),) * n
    if padding == "same":
        pads = []
        for size, k, s, d in zip(in_sizes, kernel, strides, dilation, strict=True):
            k_eff = (k - 1) * d + 1
            total = max((math.ceil(size / s) - 1) * s + k_eff - size, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    if isinstance(padding, tuple) and len(padding) == n and all(len(p) == 2 for p in padding):
        return tuple((int(a), int(b)) for a, b in padding)
    raise OpError(
        f"padding {padding!r} is not understood",
        f'use "valid", "same" or {n} (before, after) pairs',
    )


def window_out_sizes(in_sizes, kernel, strides, dilation, padding) -> tuple[int, ...]:
    """Output spatial sizes of a sliding-window op (conv or pooling)."""
    pads = resolve_padding(padding, in_sizes, kernel, strides, dilation)
    out = []
    for size, k, s, d, (pb, pa) in zip(in_sizes, kernel, strides, dilation, pads, strict=True):
        k_eff = (k - 1) * d + 1
        o = (size + pb + pa - k_eff) // s + 1
        if o <= 0:
            raise OpError(
                f"window {k} (dilation {d}) does not fit input size {size} with padding "
                f"({pb}, {pa})",
                'use padding="same" or a smaller kernel',
            )
        out.append(o)
    return tuple(out)


def _split_spatial(t: TensorType, n_spatial: int, what: str):
    """Split a shape into (leading dims, spatial dims, channels)."""
    if t.rank < n_spatial + 1:
        raise OpError(
            f"{what} needs an input of rank >= {n_spatial + 1} (spatial dims + channels), got {t}"
        )
    s = t.shape
    return s[: t.rank - n_spatial - 1], s[t.rank - n_spatial - 1 : -1], s[-1]


# =============================================================================== graph I/O


@register_op
class Input(Op):
    """A model input. ``index`` orders several inputs; the shape comes from the type."""

    kind: ClassVar[str] = "nn.input"
    traits: ClassVar = frozenset({T.GraphIO})
    arity: ClassVar[int] = 0
    type_fields: ClassVar[tuple[str, ...]] = ("shape",)
    quiet_fields: ClassVar[tuple[str, ...]] = ("index",)
    shape: tuple[int, ...] = ()
    index: int = 0

    def infer_type(self, in_types):
        return TensorType(self.shape, F32)


@register_op
class Output(Op):
    """A model output (identity in rate mode). ``index`` orders several outputs.

    Over time, ``readout`` says what the output's value at step ``t`` is (the readout
    convention shared by ``snnc.simulate``, ``Compiled.run`` and ``snnc run``):

    - ``"mean"`` (default): the running mean of the per-step values over steps 1..t, so
      ``ys[:, t-1].argmax(-1)`` is the prediction after ``t`` steps (a non-spiking readout
      accumulating the last layer's input current);
    - ``"window"``: the mean over the last ``window`` steps (nengo-dl's recipe averages the
      final steps of a lowpass-filtered output);
    - ``"raw"``: the per-step value itself (with a synapse on the output edge: a lowpass).
    """

    kind: ClassVar[str] = "nn.output"
    traits: ClassVar = frozenset({T.GraphIO, T.PreservesDtype})
    quiet_fields: ClassVar[tuple[str, ...]] = ("index", "readout", "window")
    index: int = 0
    readout: str = "mean"
    window: int = 1

    def infer_type(self, in_types):
        if self.readout not in READOUTS:
            raise OpError(
                f"readout {self.readout!r} is not known (expected one of {', '.join(READOUTS)})"
            )
        if not (isinstance(self.window, int) and self.window >= 1):
            raise OpError(f"window {self.window!r} must be an int >= 1")
        return _one(in_types)

    def read(self, steps: np.ndarray) -> np.ndarray:
        """Apply the readout to per-step values ``(batch, steps, ...)``: the output's value at
        every step, same shape."""
        steps = np.asarray(steps)
        if self.readout == "raw" or steps.shape[1] == 0:
            return steps
        csum = np.cumsum(steps, axis=1, dtype=np.float64)
        t = np.arange(1, steps.shape[1] + 1).reshape((1, -1) + (1,) * (steps.ndim - 2))
        if self.readout == "mean":
            return (csum / t).astype(steps.dtype, copy=False)
        w = self.window
        lagged = np.zeros_like(csum)
        lagged[:, w:] = csum[:, :-w]
        return ((csum - lagged) / np.minimum(t, w)).astype(steps.dtype, copy=False)


#: values of ``nn.output``'s ``readout``
READOUTS = ("mean", "window", "raw")


# =============================================================================== linear ops


@register_op
class Dense(Op):
    """``y = x @ weight + bias`` on the last axis (leading axes are independent)."""

    kind: ClassVar[str] = "nn.dense"
    traits: ClassVar = frozenset({T.Linear, T.HasWeights})
    params: ClassVar[tuple[str, ...]] = ("weight", "bias")
    weight: Any = None
    bias: Any = None

    def infer_type(self, in_types):
        t = _one(in_types)
        if self.weight is None or self.weight.ndim != 2:
            raise OpError("weight must be a 2-D [in, out] matrix")
        n_in, n_out = self.weight.shape
        if t.rank < 1 or t.shape[-1] != n_in:
            raise OpError(
                f"input {t} does not match weight [{n_in},{n_out}] (expected last dim {n_in})"
            )
        _check_param(self, "bias", (n_out,))
        return TensorType(t.shape[:-1] + (n_out,), F32)


class _ConvBase(Op):
    """Shared geometry of the N-d convolutions."""

    traits: ClassVar = frozenset({T.Linear, T.HasWeights})
    n_spatial: ClassVar[int] = 2
    params: ClassVar[tuple[str, ...]] = ("weight", "bias")

    def _geometry(self, t: TensorType):
        n = self.n_spatial
        lead, spatial, cin = _split_spatial(t, n, self.kind)
        if self.weight is None or self.weight.ndim != n + 2:
            raise OpError(f"weight must have rank {n + 2} ([*kernel, in/groups, out])")
        kernel = self.weight.shape[:n]
        strides = _tuple_of(self.strides, n, "strides")
        dilation = _tuple_of(self.dilation, n, "dilation")
        if min(strides) < 1 or min(dilation) < 1:
            raise OpError("strides and dilation must be >= 1")
        return lead, spatial, cin, kernel, strides, dilation


@register_op
class Conv2D(_ConvBase):
    """2-D convolution (cross-correlation, as Keras), channels-last, with groups."""

    kind: ClassVar[str] = "nn.conv2d"
    n_spatial: ClassVar[int] = 2
    weight: Any = None
    bias: Any = None
    strides: tuple[int, ...] = (1, 1)
    padding: Any = "valid"
    dilation: tuple[int, ...] = (1, 1)
    groups: int = 1

    def infer_type(self, in_types):
        lead, spatial, cin, kernel, strides, dilation = self._geometry(_one(in_types))
        w_in, cout = self.weight.shape[-2:]
        if self.groups < 1 or cin % self.groups or cout % self.groups:
            raise OpError(f"groups={self.groups} must divide in ({cin}) and out ({cout}) channels")
        if w_in * self.groups != cin:
            raise OpError(f"weight expects {w_in * self.groups} input channels, input has {cin}")
        _check_param(self, "bias", (cout,))
        out = window_out_sizes(spatial, kernel, strides, dilation, self.padding)
        return TensorType(lead + out + (cout,), F32)


@register_op
class Conv1D(Conv2D):
    """1-D convolution (Conv1D; causal padding arrives as explicit pairs)."""

    kind: ClassVar[str] = "nn.conv1d"
    n_spatial: ClassVar[int] = 1
    strides: tuple[int, ...] = (1,)
    dilation: tuple[int, ...] = (1,)


@register_op
class Conv3D(Conv2D):
    """3-D convolution."""

    kind: ClassVar[str] = "nn.conv3d"
    n_spatial: ClassVar[int] = 3
    strides: tuple[int, ...] = (1, 1, 1)
    dilation: tuple[int, ...] = (1, 1, 1)


@register_op
class ConvTranspose2D(_ConvBase):
    """Transposed 2-D convolution (Conv2DTranspose), weight ``[kh, kw, in, out]``.

    The full output has size ``(n - 1) * s + (k - 1) * d + 1`` per dim; ``padding`` pairs
    crop it (a negative ``after`` appends zeros), matching TensorFlow's conv2d_transpose.
    """

    kind: ClassVar[str] = "nn.conv2d_transpose"
    n_spatial: ClassVar[int] = 2
    weight: Any = None
    bias: Any = None
    strides: tuple[int, ...] = (1, 1)
    padding: tuple[tuple[int, int], ...] = ((0, 0), (0, 0))
    dilation: tuple[int, ...] = (1, 1)

    def infer_type(self, in_types):
        lead, spatial, cin, kernel, strides, dilation = self._geometry(_one(in_types))
        w_in, cout = self.weight.shape[-2:]
        if w_in != cin:
            raise OpError(f"weight expects {w_in} input channels, input has {cin}")
        _check_param(self, "bias", (cout,))
        pads = resolve_padding(self.padding, spatial, kernel, strides, dilation)
        out = []
        for n, k, s, d, (pb, pa) in zip(spatial, kernel, strides, dilation, pads, strict=True):
            o = (n - 1) * s + (k - 1) * d + 1 - pb - pa
            if o <= 0 or pb < 0:
                raise OpError(f"transposed conv crop ({pb}, {pa}) leaves no output")
            out.append(o)
        return TensorType(lead + tuple(out) + (cout,), F32)


@register_op
class DepthwiseConv2D(_ConvBase):
    """Depthwise 2-D convolution, weight ``[kh, kw, in, multiplier]``; out channel c*m + j."""

    kind: ClassVar[str] = "nn.depthwise_conv2d"
    n_spatial: ClassVar[int] = 2
    weight: Any = None
    bias: Any = None
    strides: tuple[int, ...] = (1, 1)
    padding: Any = "valid"
    dilation: tuple[int, ...] = (1, 1)

    def infer_type(self, in_types):
        lead, spatial, cin, kernel, strides, dilation = self._geometry(_one(in_types))
        w_in, mult = self.weight.shape[-2:]
        if w_in != cin:
            raise OpError(f"weight expects {w_in} channels, input has {cin}")
        _check_param(self, "bias", (cin * mult,))
        out = window_out_sizes(spatial, kernel, strides, dilation, self.padding)
        return TensorType(lead + out + (cin * mult,), F32)


@register_op
class BatchNorm(Op):
    """Inference-mode batch normalisation along ``axis`` (an index into the sample shape)."""

    kind: ClassVar[str] = "nn.batch_norm"
    traits: ClassVar = frozenset({T.Linear, T.ChannelAffine})
    params: ClassVar[tuple[str, ...]] = ("gamma", "beta", "mean", "var")
    gamma: Any = None
    beta: Any = None
    mean: Any = None
    var: Any = None
    epsilon: float = 1e-3
    axis: int = -1

    def infer_type(self, in_types):
        t = _one(in_types)
        if not -t.rank <= self.axis < t.rank:
            raise OpError(f"axis {self.axis} out of range for {t}")
        c = t.shape[self.axis]
        for p in self.params:
            _check_param(self, p, (c,))
        if self.mean is None or self.var is None:
            raise OpError("mean and var are required")
        if np.any(self.var + self.epsilon <= 0):
            raise OpError("var + epsilon must be positive")
        return TensorType(t.shape, F32)

    def scale_offset(self) -> tuple[np.ndarray, np.ndarray]:
        """The equivalent per-channel affine map ``y = x * scale + offset`` (float64)."""
        gamma = np.ones_like(self.mean) if self.gamma is None else self.gamma
        beta = np.zeros_like(self.mean) if self.beta is None else self.beta
        scale = gamma.astype(np.float64) / np.sqrt(self.var.astype(np.float64) + self.epsilon)
        return scale, beta - self.mean * scale


@register_op
class Affine(Op):
    """``y = x * scale + offset``; scale/offset are scalars or per-element along ``axis``."""

    kind: ClassVar[str] = "nn.affine"
    traits: ClassVar = frozenset({T.Linear, T.ChannelAffine})
    params: ClassVar[tuple[str, ...]] = ("scale", "offset")
    scale: Any = 1.0
    offset: Any = 0.0
    axis: int = -1

    def infer_type(self, in_types):
        t = _one(in_types)
        if not -t.rank <= self.axis < t.rank:
            raise OpError(f"axis {self.axis} out of range for {t}")
        for p in self.params:
            a = getattr(self, p)
            if a is not None and a.shape not in ((), (t.shape[self.axis],)):
                raise OpError(
                    f"parameter '{p}' has shape {list(a.shape)} "
                    f"(expected [] or [{t.shape[self.axis]}])"
                )
        return TensorType(t.shape, F32)


@register_op
class Add(Op):
    """Weighted sum of equally shaped inputs: ``sum(c_i * x_i)`` (Add, Subtract, Average)."""

    kind: ClassVar[str] = "nn.add"
    traits: ClassVar = frozenset({T.Linear})
    arity: ClassVar[None] = None
    min_inputs: ClassVar[int] = 2
    coeffs: tuple[float, ...] = (1.0, 1.0)

    def infer_type(self, in_types):
        if len(self.coeffs) != len(in_types):
            raise OpError(f"{len(self.coeffs)} coeffs for {len(in_types)} inputs")
        shapes = {t.shape for t in in_types}
        if len(shapes) != 1:
            raise OpError(
                "inputs have different shapes: " + ", ".join(str(t) for t in in_types),
                "all inputs of nn.add must have the same shape",
            )
        return TensorType(in_types[0].shape, F32)


@register_op
class Concat(Op):
    """Concatenate along ``axis`` (an index into the sample shape)."""

    kind: ClassVar[str] = "nn.concat"
    traits: ClassVar = frozenset({T.Linear, T.MovesValues})
    arity: ClassVar[None] = None
    min_inputs: ClassVar[int] = 1
    axis: int = -1

    def infer_type(self, in_types):
        r = in_types[0].rank
        if not -r <= self.axis < r:
            raise OpError(f"axis {self.axis} out of range for rank {r}")
        ax = self.axis % r
        rest = {t.shape[:ax] + t.shape[ax + 1 :] for t in in_types}
        if len(rest) != 1 or any(t.rank != r for t in in_types):
            raise OpError(
                "inputs differ outside the concat axis: " + ", ".join(str(t) for t in in_types)
            )
        shape = list(in_types[0].shape)
        shape[ax] = sum(t.shape[ax] for t in in_types)
        return TensorType(tuple(shape), F32)


# =============================================================================== pooling


@dataclass(frozen=True, eq=False)
class _PoolBase(Op):
    """Average / max pooling over the spatial dims (their number = len(pool_size))."""

    pool_size: tuple[int, ...] = (2, 2)
    strides: tuple[int, ...] = (2, 2)
    padding: Any = "valid"

    def infer_type(self, in_types):
        n = len(self.pool_size)
        lead, spatial, c = _split_spatial(_one(in_types), n, self.kind)
        strides = _tuple_of(self.strides, n, "strides")
        out = window_out_sizes(spatial, self.pool_size, strides, (1,) * n, self.padding)
        return TensorType(lead + out + (c,), F32)


@register_op
class AvgPool(_PoolBase):
    """Average pooling; padded cells are not counted (TensorFlow's rule)."""

    kind: ClassVar[str] = "nn.avg_pool"
    traits: ClassVar = frozenset({T.Linear})


@register_op
class MaxPool(_PoolBase):
    """Max pooling (padded cells never win)."""

    kind: ClassVar[str] = "nn.max_pool"
    traits: ClassVar = frozenset({T.HostOnly})


@dataclass(frozen=True, eq=False)
class _GlobalPoolBase(Op):
    """Pool over all dims between the first (if ``n_spatial`` says so) and the channel axis."""

    n_spatial: int = 2
    keepdims: bool = False

    def infer_type(self, in_types):
        lead, spatial, c = _split_spatial(_one(in_types), self.n_spatial, self.kind)
        if self.keepdims:
            return TensorType(lead + (1,) * self.n_spatial + (c,), F32)
        return TensorType(lead + (c,), F32)


@register_op
class GlobalAvgPool(_GlobalPoolBase):
    """Mean over the spatial dims."""

    kind: ClassVar[str] = "nn.global_avg_pool"
    traits: ClassVar = frozenset({T.Linear})


@register_op
class GlobalMaxPool(_GlobalPoolBase):
    """Max over the spatial dims."""

    kind: ClassVar[str] = "nn.global_max_pool"
    traits: ClassVar = frozenset({T.HostOnly})


# =============================================================================== shape ops


@register_op
class Flatten(Op):
    """Row-major flatten of the sample (channels-last order, as Keras)."""

    kind: ClassVar[str] = "nn.flatten"
    traits: ClassVar = frozenset({T.Linear, T.MovesValues, T.PreservesDtype, T.ShapeOnly})

    def infer_type(self, in_types):
        t = _one(in_types)
        return TensorType((t.size,), t.dtype)


@register_op
class Reshape(Op):
    """Row-major reshape of the sample to ``shape``."""

    kind: ClassVar[str] = "nn.reshape"
    traits: ClassVar = frozenset({T.Linear, T.MovesValues, T.PreservesDtype, T.ShapeOnly})
    shape: tuple[int, ...] = ()

    def infer_type(self, in_types):
        t = _one(in_types)
        if math.prod(self.shape) != t.size:
            raise OpError(f"cannot reshape {t} ({t.size} values) to {list(self.shape)}")
        return TensorType(self.shape, t.dtype)


@register_op
class Transpose(Op):
    """Permute the sample axes: output axis i is input axis ``perm[i]`` (Permute, layouts)."""

    kind: ClassVar[str] = "nn.transpose"
    traits: ClassVar = frozenset({T.Linear, T.MovesValues, T.PreservesDtype})
    perm: tuple[int, ...] = ()

    def infer_type(self, in_types):
        t = _one(in_types)
        if sorted(self.perm) != list(range(t.rank)):
            raise OpError(f"perm {list(self.perm)} is not a permutation of {t.rank} axes")
        return TensorType(tuple(t.shape[p] for p in self.perm), t.dtype)


@register_op
class Pad(Op):
    """Constant padding: one ``(before, after)`` pair per sample axis."""

    kind: ClassVar[str] = "nn.pad"
    traits: ClassVar = frozenset({T.Linear, T.MovesValues})
    pads: tuple[tuple[int, int], ...] = ()
    value: float = 0.0

    def infer_type(self, in_types):
        t = _one(in_types)
        if len(self.pads) != t.rank or any(min(p) < 0 for p in self.pads):
            raise OpError(f"pads {self.pads} need {t.rank} non-negative pairs for {t}")
        return TensorType(
            tuple(d + a + b for d, (a, b) in zip(t.shape, self.pads, strict=True)), F32
        )


@register_op
class Crop(Op):
    """Cropping: one ``(before, after)`` pair per sample axis."""

    kind: ClassVar[str] = "nn.crop"
    traits: ClassVar = frozenset({T.Linear, T.MovesValues, T.PreservesDtype})
    crops: tuple[tuple[int, int], ...] = ()

    def infer_type(self, in_types):
        t = _one(in_types)
        if len(self.crops) != t.rank or any(min(p) < 0 for p in self.crops):
            raise OpError(f"crops {self.crops} need {t.rank} non-negative pairs for {t}")
        shape = tuple(d - a - b for d, (a, b) in zip(t.shape, self.crops, strict=True))
        if min(shape, default=1) <= 0:
            raise OpError(f"crops {self.crops} remove all of {t}")
        return TensorType(shape, t.dtype)


@register_op
class Upsample(Op):
    """Nearest-neighbour upsampling of the spatial dims (the ``len(scale)`` before channels)."""

    kind: ClassVar[str] = "nn.upsample"
    traits: ClassVar = frozenset({T.Linear, T.MovesValues})
    scale: tuple[int, ...] = (2, 2)
    method: str = "nearest"

    def infer_type(self, in_types):
        if self.method != "nearest":
            raise OpError(f'method "{self.method}" is not supported (expected "nearest")')
        lead, spatial, c = _split_spatial(_one(in_types), len(self.scale), self.kind)
        return TensorType(
            lead + tuple(s * k for s, k in zip(spatial, self.scale, strict=True)) + (c,), F32
        )


@register_op
class Identity(Op):
    """No-op (Dropout, GaussianNoise and friends at inference)."""

    kind: ClassVar[str] = "nn.identity"
    traits: ClassVar = frozenset({T.Linear, T.MovesValues, T.PreservesDtype})

    def infer_type(self, in_types):
        return _one(in_types)


# =============================================================================== ANN activations


@register_op
class ReLU(Op):
    """Keras ReLU: ``x >= threshold ? min(x, max_value) : negative_slope * (x - threshold)``."""

    kind: ClassVar[str] = "ann.relu"
    traits: ClassVar = frozenset({T.Activation, T.ReLULike})
    max_value: float | None = None
    negative_slope: float = 0.0
    threshold: float = 0.0

    def infer_type(self, in_types):
        if self.max_value is not None and self.max_value < 0:
            raise OpError(f"max_value {self.max_value} must be >= 0")
        return TensorType(_one(in_types).shape, F32)


@register_op
class Softmax(Op):
    """Softmax along ``axis``."""

    kind: ClassVar[str] = "ann.softmax"
    traits: ClassVar = frozenset({T.Activation, T.Readout, T.HostOnly})
    axis: int = -1

    def infer_type(self, in_types):
        return TensorType(_one(in_types).shape, F32)


@register_op
class Elu(Op):
    """ELU with ``alpha``."""

    kind: ClassVar[str] = "ann.elu"
    traits: ClassVar = frozenset({T.Activation, T.HostOnly, T.Increasing})
    alpha: float = 1.0

    def infer_type(self, in_types):
        return TensorType(_one(in_types).shape, F32)


@register_op
class HardSigmoid(Op):
    """``clip(slope * x + offset, 0, 1)``: Keras 2 uses slope 0.2, Keras 3 slope 1/6."""

    kind: ClassVar[str] = "ann.hard_sigmoid"
    traits: ClassVar = frozenset({T.Activation, T.HostOnly})
    slope: float = 0.2
    offset: float = 0.5

    def infer_type(self, in_types):
        return TensorType(_one(in_types).shape, F32)


@register_op
class Gelu(Op):
    """GELU: exact (erf) form, or the tanh approximation."""

    kind: ClassVar[str] = "ann.gelu"
    traits: ClassVar = frozenset({T.Activation, T.HostOnly})
    approximate: bool = False

    def infer_type(self, in_types):
        return TensorType(_one(in_types).shape, F32)


def _simple_activation(name: str, doc: str, traits=(T.Activation, T.HostOnly)):
    cls = type(
        name.capitalize(),
        (Op,),
        {
            "__doc__": doc,
            "__module__": __name__,
            "__annotations__": {"kind": "ClassVar[str]"},
            "kind": f"ann.{name}",
            "traits": frozenset(traits),
            "infer_type": lambda self, in_types: TensorType(_one(in_types).shape, F32),
        },
    )
    return register_op(cls)


Linear = _simple_activation(
    "linear",
    "Identity activation (explicit, so readouts are visible).",
    (T.Activation, T.Readout, T.Linear, T.MovesValues),
)
# nengo has exact rate neurons for these two (Sigmoid, Tanh), so they are not host-only
_INCREASING_HOST = (T.Activation, T.HostOnly, T.Increasing)
Sigmoid = _simple_activation("sigmoid", "Logistic sigmoid.", (T.Activation, T.Increasing))
Tanh = _simple_activation("tanh", "Hyperbolic tangent.", (T.Activation, T.Increasing))
Selu = _simple_activation("selu", "SELU.", _INCREASING_HOST)
Softplus = _simple_activation("softplus", "log(1 + exp(x)).", _INCREASING_HOST)
Softsign = _simple_activation("softsign", "x / (1 + |x|).", _INCREASING_HOST)
Swish = _simple_activation("swish", "x * sigmoid(x) (also called silu).")
Exponential = _simple_activation("exponential", "exp(x).", _INCREASING_HOST)


# =============================================================================== quantization


@register_op
class Quantize(Op):
    """Round values to a fixed-point grid: ``clip(round(x / 2**exp), lo, hi) * 2**exp`` with
    ``bits``-bit signed integers (``lo, hi`` from :meth:`DType.int_range`). The output type
    is ``q<bits>e<exp>``: a quantized activation value."""

    kind: ClassVar[str] = "nn.quantize"
    traits: ClassVar = frozenset({T.Quantizer})
    bits: int = 8
    exp: int = 0

    def dtype(self) -> DType:
        from snnc.ir.types import QInt

        return QInt(self.bits, self.exp)

    def infer_type(self, in_types):
        if not (isinstance(self.bits, int) and 1 <= self.bits <= 32):
            raise OpError(f"bits {self.bits!r} must be an int in 1..32")
        return TensorType(_one(in_types).shape, self.dtype())


# =============================================================================== trait queries


def is_neuron(op: Op) -> bool:
    """True for every neuron op of the catalogue (spiking or rate)."""
    return op.has(T.Neuron)


def is_spiking(op: Op) -> bool:
    """True for neuron ops that emit spikes."""
    return op.has(T.Spiking)

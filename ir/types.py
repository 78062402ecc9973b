"""IR value types: a shape (without batch and time, channels-last) and a dtype.

Text forms: ``f32[8,8,1]``, ``spike[576]``, ``q8e-4[10]`` (8-bit integers times 2**-4) and
``f32[]`` for scalars.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class DType:
    """Element type of a value.

    ``kind`` is ``"f32"`` (real values, rates), ``"spike"`` (spike trains: ``n * amplitude/dt``
    per step; ``bits`` > 0 bounds ``n`` to ``0 .. 2**bits - 1``, the graded spikes of a
    k-bit neuron; 0 means unbounded, as nengo's IF) or ``"qint"`` (fixed point: ``bits``-bit
    signed integers scaled by ``2**exp``; ``exp`` is one int, or a tuple with one exponent
    per element of the last axis: per-channel scales).
    """

    kind: str
    bits: int = 0
    exp: int | tuple[int, ...] = 0

    def __post_init__(self):
        if self.kind not in ("f32", "spike", "qint"):
            raise ValueError(f"unknown dtype kind {self.kind!r}")
        if self.kind == "qint" and not 1 <= self.bits <= 32:
            raise ValueError(f"QInt bits must be in 1..32, got {self.bits}")
        if self.kind == "spike" and not 0 <= self.bits <= 32:
            raise ValueError(f"spike bits must be in 0..32, got {self.bits}")
        if isinstance(self.exp, (list, tuple)):
            object.__setattr__(self, "exp", tuple(int(e) for e in self.exp))
        else:
            object.__setattr__(self, "exp", int(self.exp))

    def __str__(self) -> str:
        if self.kind == "qint":
            if isinstance(self.exp, tuple):
                return f"q{self.bits}e({','.join(str(e) for e in self.exp)})"
            return f"q{self.bits}e{self.exp}"
        if self.kind == "spike" and self.bits:
            return f"spike{self.bits}"
        return self.kind

    @property
    def per_channel(self) -> bool:
        """A QInt with one exponent per element of the last axis."""
        return isinstance(self.exp, tuple)

    def scale(self):
        """``2**exp`` as a float64 scalar or per-channel vector (QInt only)."""
        import numpy as np

        return np.exp2(np.asarray(self.exp, dtype=np.float64))

    def int_range(self) -> tuple[int, int]:
        """The mantissa range of a QInt: ``-(2**(bits-1)) .. 2**(bits-1) - 1`` (1 bit: 0..1)."""
        if self.bits == 1:
            return 0, 1
        return -(2 ** (self.bits - 1)), 2 ** (self.bits - 1) - 1

    @property
    def is_spike(self) -> bool:
        return self.kind == "spike"

    @property
    def is_quantized(self) -> bool:
        return self.kind == "qint"

    @property
    def is_real(self) -> bool:
        """Real-valued (f32 or fixed point): not spikes."""
        return self.kind != "spike"


F32 = DType("f32")
SPIKE = DType("spike")


def QInt(bits: int, exp: int | tuple[int, ...] = 0) -> DType:  # noqa: N802 - reads like a type constructor
    """A fixed-point dtype: ``bits``-bit signed integers scaled by ``2**exp`` (one exponent,
    or a tuple of per-channel exponents along the last axis)."""
    return DType("qint", bits, exp)


def Spike(bits: int = 0) -> DType:  # noqa: N802 - reads like a type constructor
    """Spike trains; ``bits`` > 0: graded spikes, ``0 .. 2**bits - 1`` per step."""
    return DType("spike", bits)


_DTYPE_RE = re.compile(r"^(?:(f32)|spike(\d*)|q(\d+)e(-?\d+|\((?:\s*-?\d+\s*,?)*\)))$")


def parse_dtype(text: str) -> DType:
    """Parse ``f32``, ``spike``, ``spike<bits>``, ``q<bits>e<exp>`` or ``q<bits>e(<exp>,...)``."""
    m = _DTYPE_RE.match(text)
    if not m:
        raise ValueError(
            f"unknown dtype {text!r} (expected f32, spike, spike<bits>, q<bits>e<exp> or "
            "q<bits>e(<exp>,...))"
        )
    if m.group(1):
        return F32
    if m.group(3) is not None:
        exp = m.group(4)
        if exp.startswith("("):
            return QInt(int(m.group(3)), tuple(int(e) for e in exp[1:-1].split(",") if e.strip()))
        return QInt(int(m.group(3)), int(exp))
    return Spike(int(m.group(2) or 0))


@dataclass(frozen=True)
class TensorType:
    """Type of one value flowing along an edge: per-sample shape plus dtype."""

    shape: tuple[int, ...]
    dtype: DType = F32

    def __post_init__(self):
        shape = tuple(int(d) for d in self.shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"negative dimension in shape {shape}")
        object.__setattr__(self, "shape", shape)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(self.shape, dtype)

    def with_shape(self, shape) -> TensorType:
        return TensorType(tuple(shape), self.dtype)

    def __str__(self) -> str:
        return f"{self.dtype}[{','.join(str(d) for d in self.shape)}]"


_TYPE_RE = re.compile(r"^([a-z0-9\-(),\s]+?)\[([0-9,\s]*)\]$")


def parse_type(text: str) -> TensorType:
    """Parse the text form of a :class:`TensorType`, e.g. ``f32[6,6,16]``."""
    m = _TYPE_RE.match(text.strip())
    if not m:
        raise ValueError(f"bad type {text!r} (expected e.g. f32[8,8,1])")
    dims = [d.strip() for d in m.group(2).split(",") if d.strip()]
    return TensorType(tuple(int(d) for d in dims), parse_dtype(m.group(1)))

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

    ``kind`` is ``"f32"`` (real values, rates), ``"spike"`` (spike trains: 0 or amplitude/dt
    per step) or ``"qint"`` (fixed point: ``bits``-bit signed integers scaled by ``2**exp``).
    """

    kind: str
    bits: int = 0
    exp: int = 0

    def __post_init__(self):
        if self.kind not in ("f32", "spike", "qint"):
            raise ValueError(f"unknown dtype kind {self.kind!r}")
        if self.kind == "qint" and not 1 <= self.bits <= 32:
            raise ValueError(f"QInt bits must be in 1..32, got {self.bits}")

    def __str__(self) -> str:
        if self.kind == "qint":
            return f"q{self.bits}e{self.exp}"
        return self.kind

    @property
    def is_spike(self) -> bool:
        return self.kind == "spike"

    @property
    def is_quantized(self) -> bool:
        return self.kind == "qint"


F32 = DType("f32")
SPIKE = DType("spike")


def QInt(bits: int, exp: int = 0) -> DType:  # noqa: N802 - reads like a type constructor
    """A fixed-point dtype: ``bits``-bit signed integers scaled by ``2**exp``."""
    return DType("qint", bits, exp)


_DTYPE_RE = re.compile(r"^(f32|spike|q(\d+)e(-?\d+))$")


def parse_dtype(text: str) -> DType:
    """Parse ``f32``, ``spike`` or ``q<bits>e<exp>``."""
    m = _DTYPE_RE.match(text)
    if not m:
        raise ValueError(f"unknown dtype {text!r} (expected f32, spike or q<bits>e<exp>)")
    if m.group(2) is not None:
        return QInt(int(m.group(2)), int(m.group(3)))
    return DType(text)


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


_TYPE_RE = re.compile(r"^([a-z0-9\-]+)\[([0-9,\s]*)\]$")


def parse_type(text: str) -> TensorType:
    """Parse the text form of a :class:`TensorType`, e.g. ``f32[6,6,16]``."""
    m = _TYPE_RE.match(text.strip())
    if not m:
        raise ValueError(f"bad type {text!r} (expected e.g. f32[8,8,1])")
    dims = [d.strip() for d in m.group(2).split(",") if d.strip()]
    return TensorType(tuple(int(d) for d in dims), parse_dtype(m.group(1)))

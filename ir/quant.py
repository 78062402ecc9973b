"""Fixed-point helpers: how a parameter becomes a quantized one (``QInt`` bits + exponent).

Where bit widths live in the IR:

- **parameters**: an op's ``quant`` maps parameter names to ``q<bits>e<exp>`` dtypes (one
  power-of-two exponent, or one per output channel: ``q8e(-7,-6,...)``). The array holds
  the exact dequantized values ``mantissa * 2**exp`` (every float consumer, the interpreter
  first, computes the quantized semantics exactly); ``op.mantissa(name)`` gives the integers,
  which ``model.snnc`` stores and a chip receives. Power-of-two scales are what Loihi's
  weight exponents express.
- **activations**: a value type may be ``q<bits>e<exp>`` (an ``nn.quantize`` op rounds a value
  onto that grid), and graded-spike neurons carry ``spike<bits>`` (at most ``2**bits - 1``
  spikes per step).
"""

from __future__ import annotations

import math

import numpy as np

from snnc.ir.ops import Op
from snnc.ir.types import DType, QInt


def choose_exp(a: np.ndarray, bits: int, per_channel: bool = False) -> int | tuple[int, ...]:
    """The smallest power-of-two exponent(s) whose ``bits``-bit grid holds ``max |a|``
    (per tensor, or per element of the last axis)."""
    hi = max(1, 2 ** (bits - 1) - 1) if bits > 1 else 1
    a = np.abs(np.asarray(a, np.float64))

    def one(m: float) -> int:
        if m == 0 or not math.isfinite(m):
            return 0
        return int(math.ceil(math.log2(m / hi)))

    if per_channel and a.ndim >= 1:
        flat = a.reshape(-1, a.shape[-1])
        return tuple(one(float(m)) for m in flat.max(axis=0))
    return one(float(a.max(initial=0.0)))


def quantize_array(a: np.ndarray, dtype: DType) -> np.ndarray:
    """``a`` rounded (half to even) and clipped onto the grid of ``dtype``, as float32."""
    lo, hi = dtype.int_range()
    scale = dtype.scale()
    m = np.clip(np.rint(np.asarray(a, np.float64) / scale), lo, hi)
    # + 0.0 turns -0.0 into 0.0: the parser rebuilds values from integer mantissas, which
    # have no negative zero, and the content hash must agree
    return (m * scale + 0.0).astype(np.float32)


def quantize_param(
    op: Op, name: str, bits: int, exp=None, *, per_channel: bool = False
) -> tuple[Op, DType]:
    """``op`` with parameter ``name`` quantized to ``bits`` bits (exponent chosen by
    :func:`choose_exp` unless given); returns the new op and the dtype used."""
    a = getattr(op, name)
    if a is None:
        raise ValueError(f"{op.kind}: parameter '{name}' is not set")
    if exp is None:
        exp = choose_exp(a, bits, per_channel)
    dtype = QInt(bits, exp)
    quant = dict(op.quant)
    quant[name] = dtype
    return op.replace(**{name: quantize_array(a, dtype)}, quant=quant), dtype


def sqnr_db(reference: np.ndarray, quantized: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB (inf when exact)."""
    ref = np.asarray(reference, np.float64)
    noise = ref - np.asarray(quantized, np.float64)
    p_noise = float(np.sum(noise**2))
    if p_noise == 0:
        return math.inf
    return 10.0 * math.log10(max(float(np.sum(ref**2)), 1e-300) / p_noise)

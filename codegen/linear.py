"""Exact linear algebra of IR ops, derived from the rate-mode interpreter.

Two generic, always-correct tools the emitters fall back on when nengo has no native
transform for an op:

- :func:`op_matrix`: the sparse matrix ``M`` and constant ``c`` of an affine op
  (``y = M @ x + c`` on flat C-order samples), found by running the op's interpreter kernel
  on identity basis vectors (in chunks, so memory stays bounded);
- :func:`index_map`: for ops that only move values (flatten, transpose, crop, pad,
  upsample, concat, ...), the input position each output position reads, found by running
  the kernel on ``arange``; ``-1`` marks a position that reads no input (padding).

Because both come from :data:`snnc.ir.interpreter.KERNELS`, they cannot disagree with the
oracle the tests compare against.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from snnc.ir.interpreter import KERNELS
from snnc.ir.ops import Op

#: elements of float64 basis probed per chunk (keeps the fallback under ~100 MB)
_CHUNK_ELEMENTS = 1 << 22


def affine_constant(op: Op, in_shapes: list[tuple[int, ...]]) -> np.ndarray:
    """``op`` applied to all-zero inputs, flat: the constant part of an affine op."""
    zeros = [np.zeros((1,) + tuple(s)) for s in in_shapes]
    return KERNELS[op.kind](op, zeros).reshape(-1)


def apply_linear(op: Op, x: np.ndarray, in_shape: tuple[int, ...]) -> np.ndarray:
    """The linear part of the one-input affine ``op`` applied to the flat vector ``x``."""
    fn = KERNELS[op.kind]
    y = fn(op, [np.asarray(x, dtype=np.float64).reshape((1,) + tuple(in_shape))])
    return y.reshape(-1) - affine_constant(op, [in_shape])


def op_matrix(op: Op, in_shape: tuple[int, ...]) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    """``(M, c)`` with ``op(x) == M @ x + c`` for every flat sample ``x`` of ``in_shape``.

    ``M`` has shape ``(out_size, in_size)`` and holds exactly the non-zero coefficients.
    """
    fn = KERNELS[op.kind]
    n = int(np.prod(in_shape))
    const = affine_constant(op, [in_shape])
    m = const.size
    chunk = max(1, min(n, _CHUNK_ELEMENTS // max(n, m, 1)))
    rows, cols, vals = [], [], []
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        basis = np.zeros((k, n))
        basis[np.arange(k), start + np.arange(k)] = 1.0
        y = fn(op, [basis.reshape((k,) + tuple(in_shape))]).reshape(k, m) - const
        r, c = np.nonzero(y)
        rows.append(c)
        cols.append(start + r)
        vals.append(y[r, c])
    matrix = scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, n)
    )
    matrix.sort_indices()
    return matrix, const


def index_map(op: Op, in_shapes: list[tuple[int, ...]]) -> np.ndarray:
    """For a value-moving op, the flat input position each flat output position reads.

    Several inputs (concat) are numbered as one vector: input ``k`` starts after the sizes
    of inputs ``0..k-1``. ``-1`` marks output positions that read no input (padding).
    """
    if op.kind == "nn.pad":
        op = op.replace(value=-1.0)  # padded cells become -1; the caller adds the pad value
    arrays, offset = [], 0
    for shape in in_shapes:
        size = int(np.prod(shape))
        arrays.append(np.arange(offset, offset + size, dtype=np.float64).reshape((1,) + tuple(shape)))
        offset += size
    out = KERNELS[op.kind](op, arrays)
    return np.rint(out).astype(np.int64).reshape(-1)


#: op kinds that only move values: emitted as index maps (pre/post slices of connections)
INDEX_MAP_KINDS = (
    "nn.identity", "nn.flatten", "nn.reshape", "nn.transpose", "nn.crop", "nn.pad",
    "nn.upsample", "nn.concat", "ann.linear",
)

#: affine op kinds: emitted as native nengo transforms where exact, else via op_matrix
AFFINE_KINDS = (
    "nn.dense", "nn.conv1d", "nn.conv2d", "nn.conv3d", "nn.conv2d_transpose",
    "nn.depthwise_conv2d", "nn.avg_pool", "nn.global_avg_pool", "nn.batch_norm", "nn.affine",
)

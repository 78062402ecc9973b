"""Exact linear algebra of IR ops, derived from the rate-mode interpreter.

Two generic, always-correct tools the emitters fall back on when nengo has no native
transform for an op:

- :func:`op_matrix`: the sparse matrix ``M`` and constant ``c`` of an affine op
  (``y = M @ x + c`` on flat C-order samples), found by running the op's interpreter kernel
  on identity basis vectors (in chunks, so memory stays bounded);
- :func:`index_map`: for ops that only move values (the ``MovesValues`` trait: flatten,
  transpose, crop, pad, upsample, concat, ...), the input position each output position
  reads and the constant of the positions that read none (padding), found by running the
  kernel on numbered inputs.

Because both come from :func:`snnc.ir.interpreter.run_kernel`, they cannot disagree with the
oracle the tests compare against, and a new op with a kernel needs nothing here.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from snnc.ir.interpreter import run_kernel
from snnc.ir.ops import Op

#: elements of float64 basis probed per chunk (keeps the fallback under ~100 MB)
_CHUNK_ELEMENTS = 1 << 22
#: the time step passed to kernels: linear and value-moving ops do not depend on it
_DT = 1.0


def _kernel(op: Op, xs: list[np.ndarray]) -> np.ndarray:
    return run_kernel(op, xs, _DT, node=type(op).__name__)


def affine_constant(op: Op, in_shapes: list[tuple[int, ...]]) -> np.ndarray:
    """``op`` applied to all-zero inputs, flat: the constant part of an affine op."""
    zeros = [np.zeros((1,) + tuple(s)) for s in in_shapes]
    return _kernel(op, zeros).reshape(-1)


def apply_linear(op: Op, x: np.ndarray, in_shape: tuple[int, ...]) -> np.ndarray:
    """The linear part of the one-input affine ``op`` applied to the flat vector ``x``."""
    y = _kernel(op, [np.asarray(x, dtype=np.float64).reshape((1,) + tuple(in_shape))])
    return y.reshape(-1) - affine_constant(op, [in_shape])


def op_matrix(op: Op, in_shape: tuple[int, ...]) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    """``(M, c)`` with ``op(x) == M @ x + c`` for every flat sample ``x`` of ``in_shape``.

    ``M`` has shape ``(out_size, in_size)`` and holds exactly the non-zero coefficients.
    """
    n = int(np.prod(in_shape))
    const = affine_constant(op, [in_shape])
    m = const.size
    chunk = max(1, min(n, _CHUNK_ELEMENTS // max(n, m, 1)))
    rows, cols, vals = [], [], []
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        basis = np.zeros((k, n))
        basis[np.arange(k), start + np.arange(k)] = 1.0
        y = _kernel(op, [basis.reshape((k,) + tuple(in_shape))]).reshape(k, m) - const
        r, c = np.nonzero(y)
        rows.append(c)
        cols.append(start + r)
        vals.append(y[r, c])
    matrix = scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, n)
    )
    matrix.sort_indices()
    return matrix, const


def index_map(op: Op, in_shapes: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """For a value-moving op, ``(g, fill)``: the flat input position each flat output
    position reads (``g[j]``), and the constant output where it reads none (``g[j] == -1``,
    e.g. padding; ``fill`` is 0 elsewhere).

    Several inputs (concat) are numbered as one vector: input ``k`` starts after the sizes
    of inputs ``0..k-1``. The op runs three times, on zeros (the constants), on the 1-based
    positions ``p`` and on ``2 p``: an output that moved a value doubles, a constant does
    not, and the value read is its position.
    """
    numbered, offset = [], 0
    for shape in in_shapes:
        size = int(np.prod(shape))
        numbered.append(np.arange(offset + 1, offset + size + 1, dtype=np.float64).reshape((1,) + tuple(shape)))
        offset += size
    const = _kernel(op, [np.zeros_like(a) for a in numbered]).reshape(-1)
    once = _kernel(op, numbered).reshape(-1)
    twice = _kernel(op, [2.0 * a for a in numbered]).reshape(-1)
    moved = twice != once
    g = np.where(moved, np.rint(once).astype(np.int64) - 1, -1)
    return g, np.where(moved, 0.0, const)

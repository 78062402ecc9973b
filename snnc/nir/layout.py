"""Layout conversions between snnc (channels-last, Keras weights) and NIR (channels-first,
PyTorch weights).

=================  ===================================  =====================================
value / weight     snnc                                 NIR
=================  ===================================  =====================================
image value        ``[*spatial, C]`` (``[H, W, C]``)     ``[C, *spatial]`` (``[C, H, W]``)
vector value       ``[n]``                              ``[n]``, possibly in another order
dense weight       ``[in, out]``, ``y = x @ W + b``     ``[out, in]``, ``y = W x + b``
conv weight        ``[*k, C_in/groups, C_out]``          ``[C_out, C_in/groups, *k]``
depthwise weight   ``[kh, kw, C_in, mult]``             ``[C_in*mult, 1, kh, kw]``, groups=C_in
=================  ===================================  =====================================

Flatten order: snnc flattens ``[H, W, C]`` row-major (channels fastest, as Keras), NIR
flattens ``[C, H, W]`` (width fastest, as PyTorch). The two vectors hold the same values in
different orders; :func:`flatten_perm` gives the permutation ``p`` with
``nir_vector[i] == snnc_vector[p[i]]``. Exporter and importer carry ``p`` along the vector
(elementwise nodes keep it, their parameters are permuted with it) until a dense layer
absorbs it into its weight columns, so no reordering node is needed: the weights are exact
permutations of snnc's, never recomputed.
"""

from __future__ import annotations

import numpy as np


def nir_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """NIR shape of an snnc value shape: channels move first (rank >= 2)."""
    shape = tuple(int(d) for d in shape)
    return shape if len(shape) < 2 else (shape[-1], *shape[:-1])


def snnc_shape(shape) -> tuple[int, ...]:
    """snnc shape of a NIR value shape: channels move last (rank >= 2)."""
    shape = tuple(int(d) for d in shape)
    return shape if len(shape) < 2 else (*shape[1:], shape[0])


def flatten_perm(shape: tuple[int, ...]) -> np.ndarray | None:
    """``p`` with ``nir_flat[i] == snnc_flat[p[i]]`` for a value of snnc ``shape``; None when
    both orders agree (rank < 2, or shapes such as ``[1, 1, C]`` and ``[H, W, 1]``)."""
    if len(shape) < 2:
        return None
    p = np.arange(int(np.prod(shape))).reshape(shape)
    p = np.moveaxis(p, -1, 0).ravel()
    return None if np.array_equal(p, np.arange(p.size)) else p


def to_nir_array(a, shape: tuple[int, ...], perm: np.ndarray | None, dtype=np.float32):
    """An elementwise parameter (scalar, per-channel ``[C]`` or full ``shape``, snnc layout)
    broadcast to the full NIR layout of a value of snnc ``shape`` (moved/permuted)."""
    full = np.broadcast_to(np.asarray(a, dtype=dtype), shape)
    if len(shape) >= 2:
        full = np.moveaxis(full, -1, 0)
    elif perm is not None:
        full = full[perm]
    return np.ascontiguousarray(full, dtype=dtype)


def from_nir_array(a, shape: tuple[int, ...], perm: np.ndarray | None) -> np.ndarray:
    """Inverse of :func:`to_nir_array`: a full NIR-layout array to a full snnc-layout one."""
    a = np.asarray(a)
    if len(shape) >= 2:
        return np.ascontiguousarray(np.moveaxis(a.reshape(nir_shape(shape)), 0, -1))
    a = a.reshape(shape)
    if perm is None:
        return a
    out = np.empty_like(a)
    out[perm] = a
    return out


def _broadcast_part(full: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """The slice of ``full`` that broadcasts to it with ``shape`` (None if shape cannot)."""
    k = full.ndim - len(shape)
    if k < 0:
        return None
    idx = [0] * k
    for s, d in zip(shape, full.shape[k:], strict=True):
        if s == d:
            idx.append(slice(None))
        elif s == 1:
            idx.append(slice(0, 1))
        else:
            return None
    return full[tuple(idx)]


def reduce_param(full, want=None) -> np.ndarray:
    """The smallest snnc broadcast form of a full snnc-layout parameter: ``want`` (a shape
    from a hint) when the values really are a broadcast of that shape, else a scalar when
    uniform, per-channel ``[C]`` when constant over every axis but the last, else ``full``.
    Values are taken from ``full`` itself, so the result broadcasts back to it exactly."""
    full = np.asarray(full)
    shapes = [tuple(int(d) for d in want)] if want is not None else []
    shapes += [(), (full.shape[-1],)] if full.ndim else [()]
    for shape in shapes:
        part = _broadcast_part(full, shape)
        if part is not None and np.array_equal(np.broadcast_to(part, full.shape), full):
            return np.array(part)
    return full


def dense_to_nir(weight: np.ndarray, perm: np.ndarray | None) -> np.ndarray:
    """snnc ``[in, out]`` (input in snnc order) -> NIR ``[out, in]`` (input in NIR order)."""
    w = np.asarray(weight).T
    return np.ascontiguousarray(w if perm is None else w[:, perm])


def dense_from_nir(weight: np.ndarray, perm: np.ndarray | None) -> np.ndarray:
    """NIR ``[out, in]`` -> snnc ``[in, out]``: row ``perm[i]`` takes NIR column ``i``."""
    w = np.asarray(weight).T
    if perm is None:
        return np.ascontiguousarray(w)
    out = np.empty_like(w)
    out[perm] = w
    return out


def conv_to_nir(weight: np.ndarray) -> np.ndarray:
    """snnc ``[*k, C_in/g, C_out]`` -> NIR ``[C_out, C_in/g, *k]``."""
    n = weight.ndim - 2
    return np.ascontiguousarray(np.transpose(weight, (n + 1, n, *range(n))))


def conv_from_nir(weight: np.ndarray) -> np.ndarray:
    """NIR ``[C_out, C_in/g, *k]`` -> snnc ``[*k, C_in/g, C_out]``."""
    n = weight.ndim - 2
    return np.ascontiguousarray(np.transpose(weight, (*range(2, n + 2), 1, 0)))


def depthwise_to_nir(weight: np.ndarray) -> np.ndarray:
    """snnc depthwise ``[kh, kw, C_in, mult]`` -> NIR grouped ``[C_in*mult, 1, kh, kw]``
    (output channel ``c*mult + j``, as both frameworks number them)."""
    kh, kw, cin, mult = weight.shape
    return np.ascontiguousarray(weight.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None])


def depthwise_from_nir(weight: np.ndarray, cin: int) -> np.ndarray:
    """NIR grouped ``[C_in*mult, 1, kh, kw]`` -> snnc depthwise ``[kh, kw, C_in, mult]``."""
    cout, _, kh, kw = weight.shape
    return np.ascontiguousarray(weight[:, 0].transpose(1, 2, 0).reshape(kh, kw, cin, cout // cin))


def ungroup(weight: np.ndarray, groups: int) -> np.ndarray:
    """NIR grouped conv weight ``[C_out, C_in/groups, *k]`` -> the equivalent ungrouped
    ``[C_out, C_in, *k]``: block diagonal, zero between groups. (nir 1.0 types a conv's input
    as ``weight.shape[1]`` channels, so only ungrouped convolutions pass its type check.)"""
    if groups == 1:
        return weight
    cout, cpg = weight.shape[:2]
    opg = cout // groups
    full = np.zeros((cout, cpg * groups, *weight.shape[2:]), dtype=weight.dtype)
    for gi in range(groups):
        full[gi * opg : (gi + 1) * opg, gi * cpg : (gi + 1) * cpg] = weight[
            gi * opg : (gi + 1) * opg
        ]
    return full


def regroup(weight: np.ndarray, groups: int) -> np.ndarray:
    """snnc ungrouped conv weight ``[*k, C_in, C_out]`` -> the grouped ``[*k, C_in/groups,
    C_out]`` (the diagonal blocks; inverse of :func:`ungroup` in snnc's layout)."""
    if groups == 1:
        return weight
    cin, cout = weight.shape[-2:]
    cpg, opg = cin // groups, cout // groups
    blocks = [
        weight[..., gi * cpg : (gi + 1) * cpg, gi * opg : (gi + 1) * opg] for gi in range(groups)
    ]
    return np.ascontiguousarray(np.concatenate(blocks, axis=-1))


def is_block_diagonal(weight: np.ndarray, groups: int) -> bool:
    """True when the snnc conv weight ``[*k, C_in, C_out]`` is zero outside the diagonal
    blocks of ``groups`` groups (so :func:`regroup` loses nothing)."""
    cin, cout = weight.shape[-2:]
    if groups < 1 or cin % groups or cout % groups:
        return False
    cpg, opg = cin // groups, cout // groups
    mask = np.zeros((cin, cout), bool)
    for gi in range(groups):
        mask[gi * cpg : (gi + 1) * cpg, gi * opg : (gi + 1) * opg] = True
    return not np.any(weight[..., ~mask])


def pool_counts(spatial, kernel, strides, pads) -> np.ndarray:
    """Number of real (not padding) cells in each window of a padded pooling:
    ``[*out_spatial]``, float64. snnc's average pooling divides by it (TensorFlow's rule)."""
    ones = np.pad(np.ones(tuple(spatial)), [tuple(p) for p in pads])
    h, w = ones.shape
    (kh, kw), (sh, sw) = kernel, strides
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.empty((oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = ones[i * sh : i * sh + kh, j * sw : j * sw + kw].sum()
    return out

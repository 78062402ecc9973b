"""Native transform choice: which nengo transform computes an affine op's linear part.

nengo has native transforms for dense layers (``nengo.Dense``), 1-D/2-D convolutions
(``nengo.Convolution``) and 2-D transposed convolutions
(``nengo.transforms.ConvolutionTranspose``); they are fast on every simulator and keep the
generated module readable. They are used only where they compute the op *exactly*; every
other linear op gets its exact sparse matrix (:func:`matrix_transform`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from snnc.codegen.emit.naming import literal
from snnc.codegen.emit.values import Transform
from snnc.codegen.linear import op_matrix
from snnc.ir import ops
from snnc.ir.ops import Op, resolve_padding
from snnc.ir.types import TensorType

if TYPE_CHECKING:
    from snnc.codegen.emit.builder import NetworkBuilder

#: the convolutions nengo.Convolution computes (Conv3D derives from Conv2D: exact classes)
_NENGO_CONVOLUTIONS = (ops.Conv1D, ops.Conv2D)


def native_conv_padding(op: Op, in_type: TensorType) -> str | None:
    """``"valid"``/``"same"`` when ``nengo.Convolution`` computes ``op`` exactly, else None.

    nengo's convolution (reference and nengo-dl) is 1-D or 2-D, ungrouped, undilated,
    without leading (TimeDistributed) dims, and pads like TensorFlow (the odd pixel after).
    """
    if type(op) not in _NENGO_CONVOLUTIONS or op.groups != 1:
        return None
    n = op.n_spatial
    if any(d != 1 for d in op.dilation) or in_type.rank != n + 1:
        return None
    spatial, kernel = in_type.shape[:-1], op.weight.shape[:n]
    pads = resolve_padding(op.padding, spatial, kernel, op.strides, op.dilation)
    for mode in ("valid", "same"):
        if pads == resolve_padding(mode, spatial, kernel, op.strides, op.dilation):
            return mode
    return None


def native_conv_transpose_padding(op: Op, in_type: TensorType, out_type: TensorType) -> str | None:
    """``"valid"``/``"same"`` when ``nengo.transforms.ConvolutionTranspose`` (the transpose
    of the nengo Convolution from the output shape back to the input shape) computes ``op``
    exactly, else None.

    The IR crops the full output ``(n - 1) * s + k`` by its padding pairs. That is nengo's
    "valid" when nothing is cropped, and its "same" when the crop is the forward "same"
    padding of a convolution from the output size ``m``: ``P = max((n - 1) * s + k - m, 0)``
    split ``(P // 2, rest)``, as TensorFlow's conv2d_transpose does.
    """
    if not isinstance(op, ops.ConvTranspose2D) or any(d != 1 for d in op.dilation):
        return None
    if in_type.rank != 3:
        return None
    sizes = zip(in_type.shape[:-1], out_type.shape[:-1], op.weight.shape[:2], op.strides, strict=True)
    pads = resolve_padding(op.padding, in_type.shape[:-1], op.weight.shape[:2], op.strides, op.dilation)
    if all(p == (0, 0) for p in pads):
        return "valid"
    same = []
    for n, m, k, s in sizes:
        full, total = (n - 1) * s + k, max((n - 1) * s + k - m, 0)
        same.append((total // 2, full - m - total // 2))
    return "same" if tuple(same) == tuple(pads) else None


def is_native(op: Op, in_type: TensorType, out_type: TensorType) -> bool:
    """Whether a native nengo transform (Dense, Convolution, ConvolutionTranspose) computes
    ``op`` exactly."""
    dense = type(op) is ops.Dense and in_type.rank == 1  # leading dims: block-diagonal
    return (
        dense
        or native_conv_padding(op, in_type) is not None
        or native_conv_transpose_padding(op, in_type, out_type) is not None
    )


def native_transform(
    b: NetworkBuilder, node: str, op: Op, in_type: TensorType, out_type: TensorType
) -> Transform | None:
    """A native nengo transform computing the linear part of ``op`` exactly, or None."""
    if not is_native(op, in_type, out_type):
        return None
    if isinstance(op, ops.Dense):
        n_in, n_out = op.weight.shape
        init = b.weight(node, "weight", op.weight) + ".T"
        template = f"nengo.Dense(({n_out}, {n_in}), init={{init}})"
        return Transform(n_in, n_out, template, init, "nengo.Dense")
    kernel = tuple(op.weight.shape[: op.n_spatial])
    init = b.weight(node, "weight", op.weight)
    common = f"kernel_size={literal(kernel)}, strides={literal(tuple(op.strides))}"
    if isinstance(op, ops.ConvTranspose2D):
        what = "nengo.transforms.ConvolutionTranspose"
        padding = native_conv_transpose_padding(op, in_type, out_type)
        common = f"output_shape={literal(out_type.shape)}, {common}"
    else:
        what, padding = "nengo.Convolution", native_conv_padding(op, in_type)
    template = (
        f"{what}({op.weight.shape[-1]}, {literal(in_type.shape)}, {common}, "
        f"padding={literal(padding)}, init={{init}})"
    )
    return Transform(in_type.size, out_type.size, template, init, what)


def matrix_transform(b: NetworkBuilder, node: str, op: Op, in_type: TensorType) -> Transform | None:
    """The exact sparse matrix of ``op`` (see :func:`~snnc.codegen.linear.op_matrix`) as a
    ``nengo.Sparse`` transform; None if the linear part is zero."""
    matrix, _ = op_matrix(op, in_type.shape)
    if matrix.nnz == 0:
        return None
    coo = matrix.tocoo()
    indices = b.weight(node, "indices", np.stack([coo.row, coo.col], axis=1).astype(np.int64))
    init = b.weight(node, "data", coo.data)
    m, n = matrix.shape
    template = f"nengo.Sparse(({m}, {n}), indices={indices}, init={{init}})"
    return Transform(n, m, template, init, "nengo.Sparse (matrix)")

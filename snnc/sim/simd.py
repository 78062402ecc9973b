"""Eight-lane float32 vectors for numba kernels: the LLVM type ``<8 x float>`` (one AVX
register) and the intrinsics a register-blocked kernel needs.

numba vectorises loops on its own, but it cannot keep a block of outputs in registers across a
reduction loop: its arrays live in memory. With these, a kernel holds its accumulators in
local variables of type :data:`f32x8`, which LLVM allocates to vector registers
(:func:`snnc.sim.numba_kernels.conv_fma` keeps 12 of them).

==================== ===================================================================
``vzero()``          a vector of zeros
``vload(a, i)``      ``a[i : i + 8]`` of a float32 array, as a vector (no bounds check)
``vstore(a, i, v)``  ``a[i : i + 8] = v``
``vbcast(a, i)``     ``a[i]`` in all eight lanes
``vfma(x, w, acc)``  ``x * w + acc`` rounded once (``llvm.fma.v8f32``: fused multiply-add)
``vnonzero(a, i)``   the lanes of ``a[i : i + 8]`` that are not zero, as a bit mask (0..255)
``vput8(d, n, t, m, b)`` ``d[n : n + 8] = t[8 m : 8 m + 8] + b`` (int32 arrays): with a table
                     of each mask's lane numbers, the non-zero lanes' indices in one store
``popcount(m)``      the number of set bits of an integer (``llvm.ctpop``: one instruction)
==================== ===================================================================

Indices are flat element offsets into the array's buffer (C-contiguous arrays only) and must be
in range: these intrinsics skip numba's bounds and negative-index handling, which is the point.
On a machine without FMA instructions LLVM expands ``llvm.fma`` into a correctly rounded
library call: the results stay the same, only slower.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

_LANES = 8
_VEC = ir.VectorType(ir.FloatType(), _LANES)
_I32 = ir.IntType(32)
_IVEC = ir.VectorType(_I32, _LANES)


class F32x8(types.Type):
    """numba type of an ``<8 x float>`` LLVM vector value."""

    def __init__(self):
        super().__init__(name="f32x8")


#: the numba type of an eight-lane float32 vector
f32x8 = F32x8()


@register_model(F32x8)
class _F32x8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VEC)


def _is_f32_array(a) -> bool:
    return isinstance(a, types.Array) and a.dtype == types.float32 and a.layout == "C"


def _is_i32_array(a) -> bool:
    return isinstance(a, types.Array) and a.dtype == types.int32 and a.layout == "C"


def _element_ptr(context, builder, arr_ty, arr, idx_ty, idx):
    data = context.make_array(arr_ty)(context, builder, arr).data
    return builder.gep(data, [context.cast(builder, idx, idx_ty, types.intp)])


def _load8(context, builder, arr_ty, arr, idx_ty, idx, vec=_VEC):
    # the 8 elements at flat offset idx of arr, as one vector of type vec
    ptr = _element_ptr(context, builder, arr_ty, arr, idx_ty, idx)
    return builder.load(builder.bitcast(ptr, vec.as_pointer()), align=4)


def _splat(builder, scalar, vec=_VEC):
    v = builder.insert_element(ir.Constant(vec, ir.Undefined), scalar, ir.Constant(_I32, 0))
    zeros = ir.Constant(_IVEC, [0] * _LANES)
    return builder.shuffle_vector(v, ir.Constant(vec, ir.Undefined), zeros)


@intrinsic
def vzero(typingctx):
    """A vector of eight zeros."""

    def codegen(context, builder, sig, args):
        return ir.Constant(_VEC, None)

    return f32x8(), codegen


@intrinsic
def vload(typingctx, arr, i):
    """``arr[i : i + 8]`` (flat offset ``i`` of a C-contiguous float32 array)."""
    if not (_is_f32_array(arr) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        return _load8(context, builder, sig.args[0], args[0], sig.args[1], args[1])

    return f32x8(arr, i), codegen


@intrinsic
def vstore(typingctx, arr, i, v):
    """``arr[i : i + 8] = v``."""
    if not (_is_f32_array(arr) and isinstance(i, types.Integer) and v == f32x8):
        return None

    def codegen(context, builder, sig, args):
        ptr = _element_ptr(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        builder.store(args[2], builder.bitcast(ptr, _VEC.as_pointer()), align=4)
        return context.get_dummy_value()

    return types.void(arr, i, v), codegen


@intrinsic
def vbcast(typingctx, arr, i):
    """``arr[i]`` in all eight lanes."""
    if not (_is_f32_array(arr) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        ptr = _element_ptr(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        return _splat(builder, builder.load(ptr, align=4))

    return f32x8(arr, i), codegen


@intrinsic
def vfma(typingctx, x, w, acc):
    """``x * w + acc`` lane by lane, rounded once (a fused multiply-add)."""
    if not (x == f32x8 and w == f32x8 and acc == f32x8):
        return None

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(_VEC, [_VEC] * 3)
        fma = cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.v8f32")
        return builder.call(fma, list(args))

    return f32x8(x, w, acc), codegen


@intrinsic
def vnonzero(typingctx, arr, i):
    """Bit ``k`` set when ``arr[i + k] != 0`` (NaN counts as non-zero), for ``k < 8``."""
    if not (_is_f32_array(arr) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        v = _load8(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        lanes = builder.fcmp_unordered("!=", v, ir.Constant(_VEC, None))
        return builder.zext(builder.bitcast(lanes, ir.IntType(_LANES)), ir.IntType(64))

    return types.int64(arr, i), codegen


@intrinsic
def vput8(typingctx, dst, n, table, m, base):
    """``dst[n : n + 8] = table[8 m : 8 m + 8] + base`` (C-contiguous int32 arrays). With
    ``table`` row ``m`` listing the set bits of ``m``, this writes the indices of a
    :func:`vnonzero` mask's lanes in one vector store; the count to keep is the mask's
    popcount (the lanes past it are scratch: ``dst`` needs 8 spare elements at its end)."""
    ints = all(isinstance(a, types.Integer) for a in (n, m, base))
    if not (ints and _is_i32_array(dst) and _is_i32_array(table)):
        return None

    def codegen(context, builder, sig, args):
        d_ty, n_ty, t_ty, m_ty, b_ty = sig.args
        m = context.cast(builder, args[3], m_ty, types.intp)
        row = builder.mul(m, ir.Constant(m.type, _LANES))
        v = _load8(context, builder, t_ty, args[2], types.intp, row, _IVEC)
        b8 = _splat(builder, context.cast(builder, args[4], b_ty, types.int32), _IVEC)
        ptr = _element_ptr(context, builder, d_ty, args[0], n_ty, args[1])
        builder.store(builder.add(v, b8), builder.bitcast(ptr, _IVEC.as_pointer()), align=4)
        return context.get_dummy_value()

    return types.void(dst, n, table, m, base), codegen


@intrinsic
def popcount(typingctx, m):
    """The number of set bits of ``m`` (an int64)."""
    if not isinstance(m, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        v = context.cast(builder, args[0], sig.args[0], types.int64)
        fnty = ir.FunctionType(i64, [i64])
        ctpop = cgutils.get_or_insert_function(builder.module, fnty, "llvm.ctpop.i64")
        return builder.call(ctpop, [v])

    return types.int64(m), codegen

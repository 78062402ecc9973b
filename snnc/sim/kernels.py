"""Kernels of :mod:`snnc.sim`: the NumPy reference twins, and how a backend is chosen.

A backend is a namespace of kernels with the same names and the same arithmetic:
:class:`NumpyKernels` here (the reference) and :mod:`snnc.sim.numba_kernels` (compiled, the
default). The plan (:mod:`snnc.sim.plan`) calls only these names, so both backends run the
very same schedule and agree bit for bit (see the tests); the event-driven path is the numba
backend's only (the NumPy twins of its kernels exist to test them).

========================= =====================================================================
``neuron_step(cls)``      a spiking neuron class's step (the catalogue, :mod:`snnc.ir.neurons`):
                          ``step(x, gain, bias, out, *state, *op.step_params(dt))`` on ``(B, n)``
``neuron_window(cls)``    its steps over a window in one call: ``run(x3, tstride, gain, bias,
                          out, *state, *params)``, ``out (T, B, n)``, step ``t`` reading
                          ``x3[t * tstride]`` (``tstride`` 0: a constant input, which runs the
                          class's ``const_loop`` when it has one)
``add_bias``              ``u (M, C) += bias (C,)`` (float64), rounded once to ``u``'s dtype
``lowpass_scan``          nengo's ``Lowpass`` over a window of steps, with the bias added
``gemm``                  ``out = x @ w`` by scipy's BLAS (the library numba's ``np.dot`` calls)
``conv_gemm``             a 2-D convolution: ``im2col2d`` in L2-sized row blocks, each a ``gemm``
``conv_fma``              a 2-D float32 convolution by fused multiply-adds, without im2col: each
                          output sums its window's products in im2col order, rounding once
                          per product-and-add (the numba kernel keeps the sums in registers)
``neuron_conv_fma(cls)``  its steps inside the ``conv_fma`` convolution that is their only
                          reader (a dense layer: a 1x1 convolution of 1x1 images), 6 samples
                          at a time, step by step: ``run(x3, tstride, gain, bias, state,
                          params, s4, w, u5, mode, kh, kw, sy, sx, dy, dx, pt, pl)``; the
                          product over every input or over the non-zero ones (``mode``)
``im2col2d``              the windows of a 2-D convolution as GEMM rows (no padding copies)
``count_nonzero``         how many entries are non-zero (the event-driven path's density test)
``gather_dense``          ``x @ w`` visiting only the non-zero entries of ``x`` (spikes)
``gather_conv2d``         a 2-D convolution of a sparse ``x``: each output sums the weights of
                          the non-zero inputs in its window
``loihi_compartments``    nengo-loihi's integer compartment update (Loihi mode)
========================= =====================================================================

Element-wise arithmetic is float64 whatever the storage dtype (values are loaded, computed
in float64, then stored), so float32 only rounds what is stored; the matrix products run in
the storage dtype (float32 by default: twice the BLAS rate of float64).

Rate neurons (``spiking = False``) have no state; their nengo step function *is* their rate
function, so the simulator runs them through :func:`snnc.ir.interpreter.run_kernel` like any
other stateless op.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

F64 = np.float64

#: output channels per register block of ``conv_fma`` (two 8-lane vectors): the kernel runs
#: convolutions whose output channels are a multiple of it
FMA_COLS = 16
#: batch rows per register block of ``conv_fma``: 6 rows x 16 columns are 12 accumulators of
#: 8 lanes, which with two weight vectors and a broadcast fill the 16 AVX registers
FMA_ROWS = 6
#: how ``neuron_conv_fma`` computes its product: ``conv_fma``'s blocks over every input, the
#: same multiply-adds over the non-zero inputs only, or the cheaper of the two per block of
#: rows (the same sums bit for bit whichever runs: skipped zeros would add exact zeros)
FUSED_DENSE, FUSED_EVENTS, FUSED_AUTO = 0, 1, 2


def lowpass_coefficients(tau: float, dt: float) -> tuple[float, float]:
    """``(a, b)`` of nengo's ``Lowpass(tau)`` discretised by zero-order hold:
    ``a = exp(-dt / tau)``, ``b = 1 - a``.

    nengo computes them with a Pade-approximated matrix exponential, whose results can be
    a few ulp off (relative <= 1e-15, tested): outputs then differ at that level, and a
    spike only if a voltage lands that close to its threshold.
    """
    return float(np.exp(-dt / tau)), float(-np.expm1(-dt / tau))


def neuron_step(cls: type, backend: str) -> Callable:
    """The step function of spiking neuron class ``cls`` for ``backend`` (``"numpy"`` or
    ``"numba"``). numba is imported only when the numba step is asked for."""
    return get_kernels(backend).neuron_step(cls)


def get_kernels(backend: str):
    """The kernel namespace of ``backend``: :class:`NumpyKernels` or
    :mod:`snnc.sim.numba_kernels` (imports numba, about a second, only when asked for)."""
    if backend == "numpy":
        return NumpyKernels
    from snnc.sim import numba_kernels

    return numba_kernels


def fma32(x: np.ndarray, w: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """``x * w + acc`` for float32 arrays, rounded once to float32, as a fused multiply-add
    instruction does (NumPy has none).

    The product of two float32 is exact in float64. The float64 sum ``s`` is then made to
    round to odd: TwoSum gives its exact error, and an inexact ``s`` with an even last bit
    moves one ulp toward the exact sum. Rounding a value rounded to odd with >= 2 extra bits
    (53 >= 24 + 2) to float32 gives the correctly rounded result (Boldo & Melquiond, "When
    double rounding is odd", 2005), so the final cast equals the fused operation bit for bit.
    """
    p = x.astype(F64) * w.astype(F64)
    c = np.broadcast_to(acc, p.shape).astype(F64)
    s = p + c
    bb = s - p
    err = (p - (s - bb)) + (c - bb)  # Knuth's TwoSum: s + err == p + c exactly
    fix = (err != 0) & ((s.view(np.int64) & 1) == 0)
    s = np.where(fix, np.nextafter(s, np.copysign(np.inf, err)), s)
    return s.astype(np.float32)


def _step_over_window(step: Callable) -> Callable:
    """A neuron ``step`` run once per step of ``out (T, B, n)``, step ``t`` on
    ``x3[t * tstride]``."""

    def run(x3, tstride, gain, bias, out, *args):
        for t in range(out.shape[0]):
            step(x3[t * tstride], gain, bias, out[t], *args)

    return run


class NumpyKernels:
    """The NumPy reference kernels (static methods; the numba module has the same names)."""

    name = "numpy"

    @staticmethod
    def neuron_step(cls: type) -> Callable:
        """The class's NumPy ``step`` (it transcribes nengo's step function)."""
        return cls.step

    @staticmethod
    def neuron_window(cls: type) -> Callable:
        """``T`` calls of the class's NumPy ``step`` (the reference for its ``const_loop``)."""
        return _step_over_window(cls.step)

    @staticmethod
    def add_bias(u, bias):
        """``u += bias`` in place: float64 sums stored in ``u``'s dtype."""
        u += bias

    @staticmethod
    def lowpass_scan(u, f, out, bias, a, b):
        """A lowpass filter over ``T`` steps, delivering its state *before* each update.

        ``u``: ``(T, M)`` filter inputs; ``f``: ``(M,)`` state, updated in place; ``out``:
        ``(T, M)``, receives ``f + bias`` (``bias``: ``(C,)`` float64, repeated along ``M``,
        or empty for none) before ``f = a f + b u[t]``. That order is nengo's one-step synaptic
        delay. ``out`` may be ``u`` (the scan then runs in place).
        """
        nb = bias.shape[0]
        for t in range(u.shape[0]):
            x = u[t].astype(F64)  # a copy: out[t] may be u[t]
            fv = f.astype(F64)
            if nb:
                out[t] = (fv.reshape(-1, nb) + bias).reshape(-1)
            else:
                out[t] = fv
            f[...] = a * fv + b * x

    @staticmethod
    def im2col2d(x, cols, sy, sx, dy, dx, pt, pl):
        """Copy the ``(KH, KW, C)`` windows of ``x (R, H, W, C)`` into ``cols (R, OH, OW,
        KH, KW, C)``; window cells outside ``x`` (padding) are zero."""
        r, h, w, c = x.shape
        _, oh, ow, kh, kw, _ = cols.shape
        # pad only as much as the windows reach (never np.pad of the whole tensor per step)
        need_h = (oh - 1) * sy + (kh - 1) * dy + 1
        need_w = (ow - 1) * sx + (kw - 1) * dx + 1
        pb, pr = max(need_h - h - pt, 0), max(need_w - w - pl, 0)
        if pt or pl or pb or pr:
            xp = np.zeros((r, h + pt + pb, w + pl + pr, c), x.dtype)
            xp[:, pt : pt + h, pl : pl + w] = x
        else:
            xp = x
        win = sliding_window_view(xp, ((kh - 1) * dy + 1, (kw - 1) * dx + 1), axis=(1, 2))
        win = win[:, : (oh - 1) * sy + 1 : sy, : (ow - 1) * sx + 1 : sx, :, ::dy, ::dx]
        cols[...] = win.transpose(0, 1, 2, 4, 5, 3)  # (R, OH, OW, C, KH, KW) -> (.., KH, KW, C)

    @staticmethod
    def gemm(x, w, out):
        """``out = x @ w`` (2-D, C-contiguous) by scipy's BLAS with the very calls numba's
        ``np.dot(x, w, out)`` makes (numpy's own BLAS differs in the last bit on some
        shapes): a dot product when ``out`` is 1x1, a matrix-vector product when it has one
        row or one column, else a GEMM, ``out.T = w.T @ x.T`` in column-major terms."""
        from scipy.linalg.blas import get_blas_funcs  # ~0.1 s: only when a GEMM runs

        m, n = out.shape
        if x.shape[1] == 0:
            out[...] = 0
        elif m == 1 and n == 1:
            out[0, 0] = get_blas_funcs("dot", (x, w))(x[0], w[:, 0])
        elif n == 1:  # gemv, transposed, on x seen column-major
            out[:, 0] = get_blas_funcs("gemv", (x, w))(1.0, x.T, w[:, 0], trans=1)
        elif m == 1:  # gemv on w seen column-major
            out[0] = get_blas_funcs("gemv", (x, w))(1.0, w.T, x[0], trans=0)
        else:
            gemm = get_blas_funcs("gemm", (x, w))
            res = gemm(1.0, w.T, x.T, c=out.T, overwrite_c=True)
            if not np.shares_memory(res, out):  # BLAS copied (never for contiguous arrays)
                out[...] = res.T

    @staticmethod
    def conv_gemm(x4, w, u4, buf, block, kh, kw, sy, sx, dy, dx, pt, pl):
        """A 2-D convolution by im2col + GEMM: ``u4 (R, OH, OW, O) = conv(x4 (R, H, W, C))``
        with ``w (KH * KW * C, O)``, ``block`` input rows at a time through the flat
        scratch ``buf`` (im2col blocks sized to stay in a core's L2 cache)."""
        c = x4.shape[-1]
        _, oh, ow, o = u4.shape
        k = kh * kw * c
        for r0 in range(0, x4.shape[0], block):
            r1 = min(r0 + block, x4.shape[0])
            m = (r1 - r0) * oh * ow
            cols = buf[: m * k].reshape((r1 - r0, oh, ow, kh, kw, c))
            NumpyKernels.im2col2d(x4[r0:r1], cols, sy, sx, dy, dx, pt, pl)
            NumpyKernels.gemm(cols.reshape(m, k), w, u4[r0:r1].reshape(m, o))

    @staticmethod
    def conv_fma(x4, w, u4, kh, kw, sy, sx, dy, dx, pt, pl):
        """``u4 (R, OH, OW, O) = conv(x4 (R, H, W, C))`` with ``w (KH * KW * C, O)``, all
        float32: per output, ``acc = fma(x_k, w_k, acc)`` from ``acc = 0`` over the window's
        im2col order ``k = (ky, kx, c)``. Taps in the padding are skipped by the numba kernel
        and multiply zeros here: both leave ``acc`` unchanged (it is never ``-0``)."""
        r, _, _, c = x4.shape
        _, oh, ow, o = u4.shape
        cols = np.empty((r, oh, ow, kh, kw, c), np.float32)
        NumpyKernels.im2col2d(x4, cols, sy, sx, dy, dx, pt, pl)
        cols = cols.reshape(-1, kh * kw * c)
        acc = np.zeros((cols.shape[0], o), np.float32)
        for k in range(cols.shape[1]):
            acc = fma32(cols[:, k, None], w[k], acc)
        u4[...] = acc.reshape(u4.shape)

    @staticmethod
    def neuron_conv_fma(cls: type) -> Callable:
        """The class's NumPy steps over the window, then ``conv_fma`` of their spikes:
        ``x3 (T or 1, R, n)`` is the neurons' input (``tstride`` 1, or 0 for a constant one),
        ``state (R, n)`` their one state array, ``u5 (T, R, OH, OW, O)`` the convolution's
        output. ``s4 (6, H, W, C)`` is the numba kernel's spike buffer (unused here: neurons and
        outputs are independent per sample, so one pass over all samples gives the same
        values). ``mode`` (:data:`FUSED_DENSE`, ...) changes the numba kernel's speed only. Returns
        how many blocks of 6 samples x 1 step ran event-driven (the numba kernel's count)."""
        window = _step_over_window(cls.step)

        def run(x3, tstride, gain, bias, state, params, s4, w, u5, mode, *geometry):
            steps, rows = u5.shape[:2]
            spikes = np.empty((steps, rows, state.shape[1]), s4.dtype)
            window(x3, tstride, gain, bias, spikes, state, *params)
            x4 = spikes.reshape(steps * rows, *s4.shape[1:])
            NumpyKernels.conv_fma(x4, w, u5.reshape(steps * rows, *u5.shape[2:]), *geometry)
            return 0  # blocks whose product ran over the non-zero spikes only: none here

        return run

    @staticmethod
    def count_nonzero(x) -> int:
        """The number of non-zero entries of ``x``."""
        return int(np.count_nonzero(x))

    @staticmethod
    def gather_dense(x, w, out):
        """``out = x @ w`` for a sparse ``x (R, K)``, summing the rows of ``w`` in ascending
        ``k`` (NumPy twin of the numba kernel, in its order: zero inputs add exact zeros)."""
        acc = np.zeros(out.shape, out.dtype)
        for k in range(w.shape[0]):
            acc += x[:, k, None] * w[k]
        out[...] = acc

    @staticmethod
    def gather_conv2d(x, w, out, sy, sx, dy, dx, pt, pl):
        """A 2-D convolution of a sparse ``x (R, H, W, C)`` by ``w (KH, KW, C, O)`` into
        ``out (R, OH, OW, O)`` (strides, dilation, padding before), summing, for each output
        pixel, the weight rows of the non-zero inputs in its window: taps in ``(ky, kx)``
        order, channels ascending (NumPy twin of the numba kernel, in its order; for tests).
        Zero inputs and padding add exact zeros, so the sums equal the kernel's bit for bit."""
        _, h, w_, c = x.shape
        kh, kw, _, o = w.shape
        _, oh, ow, _ = out.shape
        acc = np.zeros(out.shape, out.dtype)
        for ky in range(kh):
            iy = np.arange(oh) * sy - pt + ky * dy
            for kx in range(kw):
                ix = np.arange(ow) * sx - pl + kx * dx
                oky, okx = (iy >= 0) & (iy < h), (ix >= 0) & (ix < w_)
                patch = x[:, iy[oky]][:, :, ix[okx]]  # (R, oh', ow', C)
                sub = acc[:, oky][:, :, okx]
                for ci in range(c):
                    sub += patch[..., ci, None] * w[ky, kx, ci]
                acc[np.ix_(np.arange(len(x)), np.flatnonzero(oky), np.flatnonzero(okx))] = sub
        out[...] = acc

    @staticmethod
    def loihi_compartments(
        q, current, voltage, refractory, du_r, dv_r, bias, vth, vmin, vmax, refract, out, scale
    ):
        """nengo-loihi's ``CompartmentState.update`` (integer, no noise) over ``T`` steps:
        ``q (T, M)`` synaptic input; ``current``, ``voltage``, ``refractory`` ``(M,)``
        (integers in float64 arrays), updated in place; per-neuron ``(n,)`` decay factors
        ``du_r = 4095 - du``, ``dv_r = 4096 - dv``, ``bias``, ``vth``, ``refract``; ``out``
        ``(T, M)`` gets ``scale`` per spike."""
        reps = q.shape[1] // bias.shape[0]
        du_r, dv_r, bias, vth, refract = (
            np.tile(a, reps) for a in (du_r, dv_r, bias, vth, refract)
        )

        def wrap(x, bits):
            smask = np.int64(1) << bits
            return (x & (smask - 1)) - (x & smask)

        def decay(x, r):
            return np.sign(x) * ((np.abs(x) * r) >> 12)

        c = current.astype(np.int64)
        v = voltage.astype(np.int64)
        r = refractory.astype(np.int64)
        for t in range(q.shape[0]):
            c = wrap(decay(c, du_r) + wrap(q[t].astype(np.int64), 21), 23)
            v = np.clip(decay(v, dv_r) + wrap(c + bias, 23), vmin, vmax)
            v[r > 0] = 0
            spiked = v > vth
            out[t] = np.where(spiked, scale, 0.0)
            v[spiked] = 0
            r[spiked] = refract[spiked]
            r = np.maximum(r - 1, 0)
        current[...] = c
        voltage[...] = v
        refractory[...] = r

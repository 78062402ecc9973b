"""The compiled kernels of :mod:`snnc.sim` (the default ``numba`` backend).

Same names and same arithmetic as :class:`snnc.sim.kernels.NumpyKernels` (see there for
each contract): every kernel loads, computes in float64 and stores, in the NumPy twin's order,
so both backends agree bit for bit. One exception: ``expm1`` and ``log1p`` (LIF neurons) come
from the C library here and from NumPy's SIMD routines there, which can differ in the last
bit; spikes still agree unless a voltage lands within ~1e-16 of the threshold.

Neuron steps come from the catalogue: a spiking neuron class declares ``step_loop``, a
plain-Python element loop with the same operations as its NumPy ``step``
(:mod:`snnc.ir.neurons`; ``ir`` imports no numba), and may declare ``const_loop`` (its steps
over a window of constant input); :func:`neuron_step` and :func:`neuron_window` compile them
once per class and keep them in :data:`_COMPILED`.

All kernels are single-threaded and release the GIL (``nogil``): the simulator runs them
on one worker thread per core, each on its own rows of the batch, which scales better than
threading inside each small kernel. ``cache=True`` keeps the machine code between processes.
This module imports numba (about a second): only when a simulation asks for it.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

from snnc.sim.kernels import FMA_COLS, FMA_ROWS
from snnc.sim.simd import vbcast, vfma, vload, vstore, vzero

name = "numba"

_jit = numba.njit(cache=True, nogil=True)

#: the fewest steps a window needs for a class's ``const_loop``: it makes two more passes
#: over the neurons than the steps (the drive, the voltage in and out), paid off over steps
CONST_MIN_STEPS = 4

#: (neuron op class, loop name) -> the compiled loop
_COMPILED: dict[tuple[type, str], Callable] = {}


def _compiled(cls: type, name: str) -> Callable:
    fn = _COMPILED.get((cls, name))
    if fn is None:
        loop = getattr(cls, name)
        try:
            fn = numba.njit(cache=True, nogil=True)(loop)
        except RuntimeError:  # "cannot cache function ...: no locator" (a plugin from exec)
            fn = numba.njit(nogil=True)(loop)
        _COMPILED[cls, name] = fn
    return fn


def neuron_step(cls: type) -> Callable:
    """``cls.step_loop`` compiled with numba (compiled once per class, then cached)."""
    return _compiled(cls, "step_loop")


def neuron_window(cls: type) -> Callable:
    """The class's steps over a window in one call (see :mod:`snnc.sim.kernels`): its
    compiled ``const_loop`` for a constant input when it has one, else its compiled step
    called from a compiled loop over the steps (no Python call per step)."""
    step = neuron_step(cls)
    const = None if cls.const_loop is None else _compiled(cls, "const_loop")
    k = len(cls.state)
    window = _for_class(cls, _window)

    def run(x3, tstride, gain, bias, out, *args):
        if tstride == 0 and const is not None and out.shape[0] >= CONST_MIN_STEPS:
            const(x3[0], gain, bias, out, *args)
        else:
            window(step, x3, tstride, gain, bias, out, args[:k], args[k:])

    return run


def neuron_conv_fma(cls: type) -> Callable:
    """The class's steps inside the ``conv_fma`` convolution that reads them (see
    :mod:`snnc.sim.kernels`), with its compiled step bound."""
    step = neuron_step(cls)
    kernel = _for_class(cls, _neurons_conv_fma)

    def run(*args):
        kernel(step, *args)

    return run


#: kernel -> its copy compiled without the on-disk cache (see :func:`_for_class`)
_UNCACHED: dict[Callable, Callable] = {}


def _for_class(cls: type, kernel: Callable) -> Callable:
    """``kernel`` (which takes a neuron class's compiled step as an argument) to call with
    ``cls``'s step. numba's cache index records the argument types, the step's class among
    them, and a process that cannot import that class's module fails to read the index
    at all; so a class from outside snnc (a plugin, which a later process may not load) gets
    a copy of the kernel compiled without the cache."""
    if cls.__module__.split(".")[0] == "snnc":
        return kernel
    fn = _UNCACHED.get(kernel)
    if fn is None:
        fn = _UNCACHED[kernel] = numba.njit(nogil=True)(kernel.py_func)
    return fn


@_jit
def _window(step, x3, tstride, gain, bias, out, state, params):
    for t in range(out.shape[0]):
        step(x3[t * tstride], gain, bias, out[t], *state, *params)


#: elements per block of the element-wise scans: a block's state stays in L1 over the window's
#: steps (element by element the order of the steps is the NumPy twin's; elements are
#: independent, so blocking changes no result)
_BLOCK = 512


@_jit
def lowpass_scan(u, f, out, bias, a, b):
    # blocks of whole rows of `width` (the bias's period): no i % width per element
    m = u.shape[1]
    nb = bias.shape[0]
    width = nb if nb else min(m, _BLOCK)
    per = max(1, _BLOCK // width) * width
    for i0 in range(0, m, per):
        i1 = min(i0 + per, m)
        for t in range(u.shape[0]):
            for r0 in range(i0, i1, width):
                for j in range(min(width, i1 - r0)):
                    i = r0 + j
                    x = np.float64(u[t, i])  # read before out[t, i] (which may be u[t, i])
                    fi = np.float64(f[i])
                    if nb:
                        out[t, i] = fi + bias[j]
                    else:
                        out[t, i] = fi
                    f[i] = a * fi + b * x


@_jit
def add_bias(u, bias):
    # NumPy's float32 += float64 goes through its casting loop at ~4 ns an element (measured:
    # as long as the GEMM before it on A's layers); the same sums, stored the same way
    for i in range(u.shape[0]):
        for j in range(u.shape[1]):
            u[i, j] = u[i, j] + bias[j]


@_jit
def im2col2d(x, cols, sy, sx, dy, dx, pt, pl):
    r_, h, w, c = x.shape
    oh, ow, kh, kw = cols.shape[1], cols.shape[2], cols.shape[3], cols.shape[4]
    for r in range(r_):
        for oy in range(oh):
            for ox in range(ow):
                for ky in range(kh):
                    iy = oy * sy - pt + ky * dy
                    for kx in range(kw):
                        ix = ox * sx - pl + kx * dx
                        if 0 <= iy < h and 0 <= ix < w:
                            for ci in range(c):
                                cols[r, oy, ox, ky, kx, ci] = x[r, iy, ix, ci]
                        else:
                            for ci in range(c):
                                cols[r, oy, ox, ky, kx, ci] = 0


@_jit
def gemm(x, w, out):
    # numba's np.dot calls scipy's BLAS (its wheel's OpenBLAS: 0.3.28 here), 15-30% faster
    # than numpy's (0.3.21) on the narrow shapes of convolutions (N = 32..64, one core,
    # measured); inside a nogil function the call holds no GIL
    np.dot(x, w, out)


@_jit
def conv_gemm(x4, w, u4, buf, block, kh, kw, sy, sx, dy, dx, pt, pl):
    # im2col of `block` input rows at a time into `buf` (sized to stay in L2), then a GEMM
    r_, _, _, c = x4.shape
    _, oh, ow, o = u4.shape
    k = kh * kw * c
    for r0 in range(0, r_, block):
        r1 = min(r0 + block, r_)
        m = (r1 - r0) * oh * ow
        cols = buf[: m * k].reshape((r1 - r0, oh, ow, kh, kw, c))
        im2col2d(x4[r0:r1], cols, sy, sx, dy, dx, pt, pl)
        np.dot(cols.reshape((m, k)), w, u4[r0:r1].reshape((m, o)))


@_jit
def conv_fma(x4, w, u4, kh, kw, sy, sx, dy, dx, pt, pl):
    # no im2col and no packing: each block of 6 batch rows x 16 output channels at one output
    # pixel keeps its sums in registers while it reads the window's taps in place (the GEMM
    # spent as long packing these narrow shapes as multiplying)
    _fma_check(w, u4.shape[3])
    taps = _fma_taps(x4.shape[1:], u4.shape[1:], kh, kw, sy, sx, dy, dx, pt, pl)
    xf, wf, uf = x4.reshape(-1), w.reshape(-1), u4.reshape(-1)
    _fma_rows(xf, wf, uf, 0, x4.shape[0], x4[0].size, x4.shape[3], u4.shape[3], *taps)


@_jit
def _neurons_conv_fma(step, x3, tstride, gain, bias, state, params, s4, w, u5,
                     kh, kw, sy, sx, dy, dx, pt, pl):
    # 6 batch rows at a time, step by step: the neurons' spikes go to the small buffer s4
    # (FMA_ROWS, H, W, C), which conv_fma's blocks read from L1, instead of a whole window's
    # spike tensor written out and read back (the neurons' only user is this convolution)
    _fma_check(w, u5.shape[4])
    taps = _fma_taps(s4.shape[1:], u5.shape[2:], kh, kw, sy, sx, dy, dx, pt, pl)
    steps, rows = u5.shape[0], u5.shape[1]
    img, oimg, c, o = s4[0].size, u5[0, 0].size, s4.shape[3], u5.shape[4]
    s2 = s4.reshape((s4.shape[0], img))
    sf, wf, uf = s4.reshape(-1), w.reshape(-1), u5.reshape(-1)
    for r0 in range(0, rows, FMA_ROWS):
        r1 = min(r0 + FMA_ROWS, rows)
        for t in range(steps):
            step(x3[t * tstride, r0:r1], gain, bias, s2[: r1 - r0], state[r0:r1], *params)
            _fma_rows(sf, wf, uf, (t * rows + r0) * oimg, r1 - r0, img, c, o, *taps)


@_jit
def _fma_check(w, o):
    # the vector loads and stores check no bounds: whole 16-column blocks only
    if o % FMA_COLS or w.shape[1] != o:
        raise ValueError("conv_fma: output channels must be a multiple of 16 and match w")


@_jit
def _fma_taps(in3, out3, kh, kw, sy, sx, dy, dx, pt, pl):
    # per output pixel, its taps inside the input (those in the padding are skipped: they
    # add zeros): offset in the image and row offset in w
    h, wd, c = in3
    oh, ow, o = out3
    xoff = np.empty((oh * ow, kh * kw), np.int64)
    woff = np.empty((oh * ow, kh * kw), np.int64)
    ntap = np.zeros(oh * ow, np.int64)
    for oy in range(oh):
        for ox in range(ow):
            px = oy * ow + ox
            for ky in range(kh):
                iy = oy * sy - pt + ky * dy
                for kx in range(kw):
                    ix = ox * sx - pl + kx * dx
                    if 0 <= iy < h and 0 <= ix < wd:
                        xoff[px, ntap[px]] = (iy * wd + ix) * c
                        woff[px, ntap[px]] = (ky * kw + kx) * c * o
                        ntap[px] += 1
    return xoff, woff, ntap


@_jit
def _fma_rows(xf, wf, uf, u0, rows, img, c, o, xoff, woff, ntap):
    # images xf[r * img ...] -> outputs uf[u0 + r * oimg ...]; rows of a block share the
    # pixel, so they share its taps; a block's 6 input images (and the 16 columns of w) stay
    # in L1 over its pixels
    pixels = ntap.shape[0]
    oimg = pixels * o
    for r in range(0, rows, FMA_ROWS):
        for px in range(pixels):
            xo, wo, n = xoff[px], woff[px], ntap[px]
            for j in range(0, o, FMA_COLS):
                ub = u0 + r * oimg + px * o + j
                if r + FMA_ROWS <= rows:
                    _fma_6x16(xf, wf, uf, xo, wo, n, c, o, r * img, img, ub, oimg, j)
                else:
                    for i in range(r, rows):
                        _fma_1x16(xf, wf, uf, xo, wo, n, c, o, i * img, ub + (i - r) * oimg, j)


@_jit
def _fma_6x16(xf, wf, uf, xoff, woff, n, c, o, xb, img, ub, oimg, j):
    a0, a1, b0, b1, c0, c1 = vzero(), vzero(), vzero(), vzero(), vzero(), vzero()
    d0, d1, e0, e1, f0, f1 = vzero(), vzero(), vzero(), vzero(), vzero(), vzero()
    for t in range(n):
        p = xb + xoff[t]
        q = woff[t] + j
        for ci in range(c):
            w0, w1 = vload(wf, q), vload(wf, q + 8)
            x = vbcast(xf, p + ci)
            a0, a1 = vfma(x, w0, a0), vfma(x, w1, a1)
            x = vbcast(xf, p + img + ci)
            b0, b1 = vfma(x, w0, b0), vfma(x, w1, b1)
            x = vbcast(xf, p + 2 * img + ci)
            c0, c1 = vfma(x, w0, c0), vfma(x, w1, c1)
            x = vbcast(xf, p + 3 * img + ci)
            d0, d1 = vfma(x, w0, d0), vfma(x, w1, d1)
            x = vbcast(xf, p + 4 * img + ci)
            e0, e1 = vfma(x, w0, e0), vfma(x, w1, e1)
            x = vbcast(xf, p + 5 * img + ci)
            f0, f1 = vfma(x, w0, f0), vfma(x, w1, f1)
            q += o
    for i, (lo, hi) in enumerate(((a0, a1), (b0, b1), (c0, c1), (d0, d1), (e0, e1), (f0, f1))):
        vstore(uf, ub + i * oimg, lo)
        vstore(uf, ub + i * oimg + 8, hi)


@_jit
def _fma_1x16(xf, wf, uf, xoff, woff, n, c, o, xb, ub, j):
    a0, a1 = vzero(), vzero()
    for t in range(n):
        p = xb + xoff[t]
        q = woff[t] + j
        for ci in range(c):
            x = vbcast(xf, p + ci)
            a0, a1 = vfma(x, vload(wf, q), a0), vfma(x, vload(wf, q + 8), a1)
            q += o
    vstore(uf, ub, a0)
    vstore(uf, ub + 8, a1)


@_jit
def count_nonzero(x):
    # np.count_nonzero of a float array is not vectorised in NumPy 1.24 (~2 ns/element)
    xf = x.reshape(-1)
    c = 0
    for i in range(xf.shape[0]):
        c += xf[i] != 0
    return c


@_jit
def gather_dense(x, w, out):
    # per row: list the non-zero inputs (branch-free), then sum their weight rows into an
    # accumulator that stays in L1 and store it once (scattering into the output row
    # instead, and zeroing it first, was 4-6x slower at 2% density, measured)
    k_, o = w.shape
    idx = np.empty(k_, np.int64)
    acc = np.empty(o, out.dtype)
    for r in range(x.shape[0]):
        xr = x[r]
        n = 0
        for k in range(k_):
            idx[n] = k
            n += xr[k] != 0
        acc[:] = 0
        for e in range(n):
            s = xr[idx[e]]
            src = w[idx[e]]
            for j in range(o):
                acc[j] += s * src[j]
        dst = out[r]
        for j in range(o):
            dst[j] = acc[j]


@_jit
def gather_conv2d(x, w, out, sy, sx, dy, dx, pt, pl):
    # gather_dense per output pixel: each sample's non-zero inputs are listed once per
    # pixel (a pixel is in several windows), then every output pixel sums the weight rows of
    # the non-zero inputs in its window (scattering each spike's weights into the outputs
    # was 1.7x slower on workload B); skipped zeros would add exact zeros
    r_, h, w_, c = x.shape
    kh, kw, _, o = w.shape
    oh, ow = out.shape[1], out.shape[2]
    wf = w.reshape(kh * kw * c, o)
    cidx = np.empty(h * w_ * c, np.int64)
    cval = np.empty(h * w_ * c, x.dtype)
    cnt = np.empty(h * w_, np.int64)
    acc = np.empty(o, out.dtype)
    for r in range(r_):
        for iy in range(h):
            for ix in range(w_):
                p = iy * w_ + ix
                base = p * c
                n = 0
                for ci in range(c):  # branch-free compaction: write always, advance if non-zero
                    v = x[r, iy, ix, ci]
                    cidx[base + n] = ci
                    cval[base + n] = v
                    n += v != 0
                cnt[p] = n
        for oy in range(oh):
            for ox in range(ow):
                acc[:] = 0
                for ky in range(kh):
                    iy = oy * sy - pt + ky * dy
                    if iy < 0 or iy >= h:
                        continue
                    for kx in range(kw):
                        ix = ox * sx - pl + kx * dx
                        if ix < 0 or ix >= w_:
                            continue
                        p = iy * w_ + ix
                        base = p * c
                        tap = (ky * kw + kx) * c
                        for e in range(cnt[p]):
                            s = cval[base + e]
                            src = wf[tap + cidx[base + e]]
                            for j in range(o):
                                acc[j] += s * src[j]
                dst = out[r, oy, ox]
                for j in range(o):
                    dst[j] = acc[j]


@_jit
def _wrap(x, bits):
    # nengo-loihi's overflow_signed: keep `bits` bits plus the sign, two's complement
    smask = np.int64(1) << bits
    return (x & (smask - 1)) - (x & smask)


@_jit
def _decay(x, r):
    # nengo-loihi's decay_int: sign(x) * ((|x| * r) >> 12)
    m = (abs(x) * r) >> 12
    return -m if x < 0 else m


@_jit
def loihi_compartments(
    q, current, voltage, refractory, du_r, dv_r, bias, vth, vmin, vmax, refract, out, scale
):
    n = bias.shape[0]
    m = q.shape[1]
    per = max(1, _BLOCK // n) * n  # blocks of whole rows of n neurons
    for i0 in range(0, m, per):
        i1 = min(i0 + per, m)
        for t in range(q.shape[0]):
            for r0 in range(i0, i1, n):
                for j in range(n):
                    i = r0 + j
                    c = _wrap(
                        _decay(np.int64(current[i]), du_r[j]) + _wrap(np.int64(q[t, i]), 21), 23
                    )
                    u2 = _wrap(c + bias[j], 23)
                    v = _decay(np.int64(voltage[i]), dv_r[j]) + u2
                    v = min(max(v, vmin), vmax)
                    r = np.int64(refractory[i])
                    if r > 0:
                        v = 0
                    if v > vth[j]:
                        out[t, i] = scale
                        v = 0
                        r = refract[j]
                    else:
                        out[t, i] = 0.0
                    current[i] = c
                    voltage[i] = v
                    refractory[i] = max(r - 1, 0)

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

from snnc.sim.kernels import FMA_COLS, FMA_ROWS, FUSED_AUTO, FUSED_EVENTS
from snnc.sim.simd import popcount, vbcast, vfma, vload, vnonzero, vput8, vstore, vzero

name = "numba"

_jit = numba.njit(cache=True, nogil=True)
#: for the small helpers of the fused kernel's event-driven product: inlined where they are
#: called, so numba drops the reference counting of their array arguments (an atomic add and
#: subtract per array and call: measured ~100 ns per image on workload A's dense layer)
_jit_inline = numba.njit(cache=True, nogil=True, inline="always")

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
        return kernel(step, *args)

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
    xoff, woff, ntap = _fma_taps(x4.shape[1:], u4.shape[1:], kh, kw, sy, sx, dy, dx, pt, pl)
    xf, wf, uf = x4.reshape(-1), w.reshape(-1), u4.reshape(-1)
    _fma_rows(xf, wf, uf, 0, x4.shape[0], x4[0].size, x4.shape[3], u4.shape[3], xoff, woff, ntap)


@_jit
def _neurons_conv_fma(step, x3, tstride, gain, bias, state, params, s4, w, u5, mode,
                     kh, kw, sy, sx, dy, dx, pt, pl):
    # 6 batch rows at a time, step by step: the neurons' spikes go to the small buffer s4
    # (FMA_ROWS, H, W, C), which the product reads from L1, instead of a whole window's
    # spike tensor written out and read back (the neurons' only user is this convolution).
    # The product: conv_fma's register blocks over every input, or the same fused
    # multiply-adds over each window's non-zero inputs only (_window_list, _gather); skipped
    # zeros would add exact zeros in the same order, so both give the same sums bit for bit,
    # and `mode` (FUSED_DENSE / FUSED_EVENTS / FUSED_AUTO) picks by speed alone. Neurons are
    # independent per sample, so stepping one row or six at a time gives the same spikes
    _fma_check(w, u5.shape[4])
    xoff, woff, ntap = _fma_taps(s4.shape[1:], u5.shape[2:], kh, kw, sy, sx, dy, dx, pt, pl)
    steps, rows = u5.shape[0], u5.shape[1]
    img, oimg, c, o = s4[0].size, u5[0, 0].size, s4.shape[3], u5.shape[4]
    wrow = woff // o  # per tap, the weight row of its channel 0
    # cost model per image (ns, see _EVENT_NS_PER_BLOCK): the register blocks' multiply-adds
    # against listing each window's spikes and summing their weights (per spike listed in a
    # window, or per spike counted in the image: in its windows, on average)
    tap_sum = np.sum(ntap)
    dense_ns = tap_sum * c * o * _DENSE_NS_PER_MAC
    list_ns = tap_sum * (c / 8) * _EVENT_NS_PER_BLOCK
    use_ns = gather_passes(o) * _EVENT_NS_PER_USE
    spike_ns = tap_sum / (img / c) * use_ns
    lx = np.empty(kh * kw * c + 8, np.int32)  # one window's list (8 spare: vput8 writes 8)
    lw = np.empty(kh * kw * c + 8, np.int32)
    s2 = s4.reshape((s4.shape[0], img))
    sf, wf, uf = s4.reshape(-1), w.reshape(-1), u5.reshape(-1)
    # FUSED_AUTO counts the spikes of the first block and of every (_AUTO_SKIP + 1)-th dense
    # one to choose their product; an event-driven block checks its listed spikes after
    events = mode == FUSED_EVENTS
    count = mode == FUSED_AUTO
    # event-driven, large images are stepped one at a time, so each one's spikes are still
    # in L1 / L2 when listed (6 rows of workload B's first layer are 519 KB)
    per_row = img * s4.itemsize > _ROW_STEP_BYTES
    skip = 0
    n_events = 0
    for r0 in range(0, rows, FMA_ROWS):
        r1 = min(r0 + FMA_ROWS, rows)
        nr = r1 - r0
        for t in range(steps):
            x = x3[t * tstride]
            ub = (t * rows + r0) * oimg
            # the whole block is stepped, unless its spikes are listed image by image
            stepped = not (events and per_row) or count
            if stepped:
                step(x[r0:r1], gain, bias, s2[:nr], state[r0:r1], *params)
            if count:
                spikes = count_nonzero(sf[: nr * img])
                events = nr * list_ns + spikes * spike_ns < nr * dense_ns
                count, skip = False, _AUTO_SKIP
            if not events:
                _fma_rows(sf, wf, uf, ub, nr, img, c, o, xoff, woff, ntap)
                skip -= 1
                count = mode == FUSED_AUTO and skip < 0
                continue
            uses = 0
            for i in range(nr):
                base = i * img
                if not stepped:
                    r = r0 + i
                    step(x[r : r + 1], gain, bias, s2[:1], state[r : r + 1], *params)
                    base = 0
                u = ub + i * oimg
                uses += _gather_image(sf, base, wf, uf, u, xoff, wrow, ntap, lx, lw, c, o)
            n_events += 1
            if mode == FUSED_AUTO and nr * list_ns + uses * use_ns > nr * dense_ns:
                events, skip = False, _AUTO_SKIP
    return n_events


#: the bytes of one image's spikes above which the event-driven product steps the neurons
#: one image at a time (not 6): a block of 6 no longer stays in L2 beside the weights
_ROW_STEP_BYTES = 64 << 10


@_jit_inline
def _gather_image(sf, base, wf, uf, ub, xoff, wrow, ntap, lx, lw, c, o):
    # the event-driven product of the image sf[base ...]: each window's listed spikes, summed
    # into its outputs uf[ub + px * o ...]; returns how many were listed (no *args in the
    # calls: numba cannot inline a call with them)
    uses = 0
    for px in range(ntap.shape[0]):
        n = _window_list(sf, base, c, xoff[px], wrow[px], ntap[px], lx, lw)
        _gather(sf, base, wf, uf, ub + px * o, lx, lw, n, o)
        uses += n
    return uses


#: the fused kernel's cost model, ns on AVX2 (EPYC, 2.45 GHz, one core), fitted by
#: benchmarks/fused_cost.py on the layer shapes of benchmarks/kernel_speed.py's workloads at
#: 5-30% spike density: per multiply-add of the register blocks; per 8 inputs of a window
#: listed; per listed input and pass of _gather (up to 64 output columns). The two event
#: terms are correlated (fits of different runs trade one for the other, and single
#: predictions are off by up to 1.6x), but the product they pick was the faster one
#: measured at 22 of 24 points; at the other two (20-30% density) both were within 10%
_DENSE_NS_PER_MAC = 0.036
_EVENT_NS_PER_BLOCK = 4.6
_EVENT_NS_PER_USE = 4.8
#: after a block run dense, this many more run dense before the spikes are counted again
#: (density changes slowly from step to step)
_AUTO_SKIP = 7

#: row m: the numbers of the set bits of m, ascending (then zeros)
_LANE_TABLE = np.array(
    [[b for b in range(8) if m >> b & 1] + [0] * (8 - bin(m).count("1")) for m in range(256)],
    np.int32,
)


@_jit_inline
def _window_list(sf, base, c, xoff, wrow, ntap, lx, lw):
    # the non-zero inputs of one window of the image sf[base ...], taps in order, channels
    # ascending: their offsets in the image (lx) and weight rows (lw). Eight at a time without
    # a branch: the mask of the non-zero lanes selects a table row of their lane numbers,
    # stored in one vector and kept up to the mask's popcount
    n = 0
    for t in range(ntap):
        xo, wr = xoff[t], wrow[t]
        for k in range(0, c - 7, 8):
            m = vnonzero(sf, base + xo + k)
            vput8(lx, n, _LANE_TABLE, m, xo + k)
            vput8(lw, n, _LANE_TABLE, m, wr + k)
            n += popcount(m)
        for k in range(c - c % 8, c):
            lx[n] = xo + k
            lw[n] = wr + k
            n += sf[base + xo + k] != 0
    return n


@_jit
def gather_passes(o):
    """How many passes ``_gather`` makes over a window's list for ``o`` output columns: 64,
    then 32, then 16 at a time (the cost model counts each listed input once per pass)."""
    return o // 64 + (o % 64) // 32 + (o % 32 > 0)


@_jit_inline
def _gather(sf, base, wf, uf, u, lx, lw, n, o):
    # one window's outputs uf[u : u + o] from its n listed inputs: the sums stay in
    # registers, 64 (then 32, then 16) columns at a time
    for j in range(0, o - 63, 64):
        _gather_64(sf, base, wf, uf, u + j, lx, lw, n, o, j)
    for j in range(o - o % 64, o - 31, 32):
        _gather_32(sf, base, wf, uf, u + j, lx, lw, n, o, j)
    if o % 32:
        _gather_16(sf, base, wf, uf, u + o - 16, lx, lw, n, o, o - 16)


# three widths written out: each accumulator is a scalar vector variable so that LLVM keeps it
# in a register (numba has no fixed-size register arrays; a tuple of vectors is not mutable)
@_jit
def _gather_64(sf, base, wf, uf, u, lx, lw, n, o, j):
    a0, a1, a2, a3 = vzero(), vzero(), vzero(), vzero()
    a4, a5, a6, a7 = vzero(), vzero(), vzero(), vzero()
    for e in range(n):
        x = vbcast(sf, base + lx[e])
        q = lw[e] * o + j
        a0, a1 = vfma(x, vload(wf, q), a0), vfma(x, vload(wf, q + 8), a1)
        a2, a3 = vfma(x, vload(wf, q + 16), a2), vfma(x, vload(wf, q + 24), a3)
        a4, a5 = vfma(x, vload(wf, q + 32), a4), vfma(x, vload(wf, q + 40), a5)
        a6, a7 = vfma(x, vload(wf, q + 48), a6), vfma(x, vload(wf, q + 56), a7)
    for i, v in enumerate((a0, a1, a2, a3, a4, a5, a6, a7)):
        vstore(uf, u + 8 * i, v)


@_jit
def _gather_32(sf, base, wf, uf, u, lx, lw, n, o, j):
    a0, a1, a2, a3 = vzero(), vzero(), vzero(), vzero()
    for e in range(n):
        x = vbcast(sf, base + lx[e])
        q = lw[e] * o + j
        a0, a1 = vfma(x, vload(wf, q), a0), vfma(x, vload(wf, q + 8), a1)
        a2, a3 = vfma(x, vload(wf, q + 16), a2), vfma(x, vload(wf, q + 24), a3)
    for i, v in enumerate((a0, a1, a2, a3)):
        vstore(uf, u + 8 * i, v)


@_jit
def _gather_16(sf, base, wf, uf, u, lx, lw, n, o, j):
    a0, a1 = vzero(), vzero()
    for e in range(n):
        x = vbcast(sf, base + lx[e])
        q = lw[e] * o + j
        a0, a1 = vfma(x, vload(wf, q), a0), vfma(x, vload(wf, q + 8), a1)
    vstore(uf, u, a0)
    vstore(uf, u + 8, a1)


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


@_jit_inline
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


@_jit_inline
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


@_jit_inline
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

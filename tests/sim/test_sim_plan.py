"""The compiled plan and the reusable Simulator: continuation, chunking and threads change
nothing, the event-driven path and the filter moved after the weights compute the IR's
values, readouts follow the convention, the kernels match their NumPy twins."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from sim_graphs import CASES, SYN, _Net, probe_spikes

from snnc.ir import neurons, ops
from snnc.ir.interpreter import run_kernel
from snnc.sim import Simulator, lowpass_coefficients, simulate
from snnc.sim.kernels import NumpyKernels
from snnc.sim.plan import EVENT_MODES

ROOT = Path(__file__).resolve().parents[2]
SIM_SRC = ROOT / "snnc" / "sim"
DIGITS = ROOT / "examples" / "digits"


def as_list(y):
    return y if isinstance(y, list) else [y]


def assert_same_values(g, ours: dict, ref: dict) -> None:
    """Spike trains identical; real values equal up to BLAS rounding (a GEMM's summation
    order can depend on its row count, i.e. on how the batch and time were blocked)."""
    for n, r in ref.items():
        if n in g and ops.is_spiking(g.op(n)):
            np.testing.assert_array_equal(ours[n], r, err_msg=n)
        else:
            np.testing.assert_allclose(
                ours[n], r, rtol=1e-12, atol=1e-12 * np.abs(r).max(), err_msg=n
            )


@pytest.mark.parametrize("readout", ["mean", "raw", "lowpass"])
@pytest.mark.parametrize("name", ["layered", "conv_lif", "series_synapses"])
def test_run_steps_continues_where_it_stopped(name, readout):
    """reset + run_steps(37) + run_steps(63) == one run of 100 steps: outputs, readouts and
    probes (every node; up to BLAS rounding); a second reset starts over."""
    g, x = CASES[name]()
    probes = g.topo_order()
    one = Simulator(g, dtype=np.float64, readout=readout, probes=probes)
    whole = as_list(one.run(x, 100))
    sim = Simulator(g, dtype=np.float64, readout=readout, probes=probes)
    sim.reset(x)
    a, b = as_list(sim.run_steps(37)), as_list(sim.run_steps(63))
    assert sim.t == 100
    for i, (w, p, q) in enumerate(zip(whole, a, b, strict=True)):
        assert_same_values(g, {i: np.concatenate([p, q], axis=1)}, {i: w})
    assert_same_values(g, sim.probe_data, one.probe_data)
    for w, again in zip(whole, as_list(sim.run(x, 100)), strict=True):
        np.testing.assert_array_equal(again, w)


@pytest.mark.parametrize("event", ["never", "always"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_chunks_windows_and_threads_change_nothing(name, event):
    """One sample and one step per window on one thread, or the default blocking on two
    threads: the same spikes and values at every node."""
    g, x = CASES[name]()
    kw = dict(dtype=np.float64, event=event, return_all=True)
    tiny = simulate(g, x, 60, threads=1, block_bytes=1, **kw)
    default = simulate(g, x, 60, threads=2, **kw)
    assert_same_values(g, tiny, default)


@pytest.mark.parametrize("name", sorted(CASES))
def test_event_driven_path_matches_dense(name):
    """Scattering spikes gives the GEMM's values up to summation order: the same spikes."""
    g, x = CASES[name]()
    g = probe_spikes(g)
    n_out = len(CASES[name]()[0].outputs)
    ev = as_list(simulate(g, x, 200, dtype=np.float64, readout="raw", event="always"))
    de = as_list(simulate(g, x, 200, dtype=np.float64, readout="raw", event="never"))
    for i, (a, b) in enumerate(zip(ev, de, strict=True)):
        if i >= n_out:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())


def test_event_mode_auto_chooses_by_density():
    """'auto' runs event-driven on sparse spike inputs and multiplies dense ones (the cost
    model of plan.events_pay); real-valued inputs never take the event path."""
    net = _Net("density", (400,))
    quiet = net.add(neurons.IF(gain=30.0, amplitude=0.01), net.inputs[0])  # ~2% firing
    busy = net.add(neurons.IF(gain=3000.0, amplitude=0.01), net.inputs[0])  # fires every step
    a = net.dense(quiet, 64, synapse=SYN)
    b = net.dense(busy, 64, synapse=SYN)
    c = net.dense(net.inputs[0], 64, synapse=SYN)  # a static, real-valued input
    net.output(net.add(ops.Add(coeffs=(1.0, 1.0, 1.0)), a, b, c))
    g, x = net.done(0.5, 1.0)
    sim = Simulator(g, event="auto")
    sim.run(x, 50)
    assert sim.modes[a][0] > 0 and sim.modes[a][1] == 0
    assert sim.modes[b][0] == 0 and sim.modes[b][1] > 0
    assert c not in sim.modes


def _lowpass(x: np.ndarray, tau: float, dt: float) -> np.ndarray:
    """nengo's Lowpass with its one-step delay, along axis 1 (float64)."""
    a, b = lowpass_coefficients(tau, dt)
    y = np.zeros_like(x, dtype=np.float64)
    for t in range(1, x.shape[1]):
        y[:, t] = a * y[:, t - 1] + b * x[:, t - 1]
    return y


def test_filter_moved_after_weights_computes_the_ir_values():
    """IF -> synapse -> flatten -> dense: the plan filters the dense layer's output, and the
    flatten's probe still shows the filtered spikes (the IR's value of that node)."""
    net = _Net("moved", (4, 4, 2))
    s = net.add(neurons.IF(gain=net.rng.uniform(100, 900, size=2), amplitude=0.01), net.inputs[0])
    f = net.add(ops.Flatten(), s, synapse=SYN)
    d = net.dense(f, 6)
    net.output(d)
    g, x = net.done()
    sim = Simulator(g, dtype=np.float64, readout="raw", probes=[s, f, d])
    sim.run(x, 80)
    assert sim.plan.moved == {f: SYN}
    spikes = sim.probe_data[s].reshape(3, 80, -1)
    filtered = _lowpass(spikes, SYN, g.dt)
    np.testing.assert_allclose(sim.probe_data[f], filtered, rtol=1e-12, atol=1e-12)
    expected = run_kernel(g.op(d), [filtered.reshape(-1, 32)], g.dt).reshape(3, 80, 6)
    np.testing.assert_allclose(sim.probe_data[d], expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "conv",
    [
        dict(kind=ops.Conv2D, k=(3, 3), strides=(2, 1), padding="same", dilation=(1, 1)),
        dict(kind=ops.Conv2D, k=(2, 3), strides=(1, 1), padding="valid", dilation=(2, 1)),
        dict(kind=ops.Conv2D, k=(1, 1), strides=(1, 1), padding="valid", dilation=(1, 1)),
        dict(kind=ops.Conv1D, k=(3,), strides=(2,), padding="same", dilation=(1,)),
    ],
    ids=["same-stride", "dilated", "pointwise", "conv1d"],
)
@pytest.mark.parametrize("event", ["never", "always"])
def test_weighted_convolutions_compute_the_interpreter_conv(conv, event):
    """Spikes -> synapse -> convolution (im2col GEMM or event-driven, filter after the weights):
    the interpreter's conv applied to the filtered spikes."""
    shape = (7, 6, 3) if conv["kind"] is ops.Conv2D else (9, 3)
    net = _Net("conv", shape)
    s = net.add(neurons.IF(gain=net.rng.uniform(200, 900, size=3), amplitude=0.01), net.inputs[0])
    w = net.w(*conv["k"], 3, 5)
    c = net.add(
        conv["kind"](
            weight=w,
            bias=net.w(5),
            strides=conv["strides"],
            padding=conv["padding"],
            dilation=conv["dilation"],
        ),
        s,
        synapse=SYN,
    )
    net.output(c)
    g, x = net.done()
    sim = Simulator(g, dtype=np.float64, readout="raw", probes=[s, c], event=event)
    sim.run(x, 40)
    spikes = sim.probe_data[s]
    filtered = _lowpass(spikes.reshape(3, 40, -1), SYN, g.dt).reshape(spikes.shape)
    expected = run_kernel(g.op(c), [filtered.reshape(-1, *shape)], g.dt)
    np.testing.assert_allclose(
        sim.probe_data[c], expected.reshape(sim.probe_data[c].shape), rtol=1e-10, atol=1e-10
    )


def test_readouts():
    """mean and window: nn.output's own readout arithmetic (Output.read), whatever the
    windows and run_steps calls; lowpass: y[t] = a y[t-1] + b raw[t]."""
    g, x = CASES["dense_if"]()
    raw = simulate(g, x, 120, dtype=np.float64, readout="raw")
    mean = simulate(g, x, 120, dtype=np.float64)
    steps = np.arange(1, 121).reshape(1, -1, 1)
    np.testing.assert_allclose(mean, np.cumsum(raw, axis=1) / steps, rtol=1e-12)
    for readout, window in (("mean", 1), ("window", 7), ("window", 300)):
        out = ops.Output(readout=readout, window=window)
        np.testing.assert_array_equal(
            simulate(g, x, 120, dtype=np.float64, readout=readout, window=window, block_bytes=1),
            out.read(raw),
        )
        sim = Simulator(g, dtype=np.float64, readout=readout, window=window)
        sim.reset(x)
        parts = [sim.run_steps(k) for k in (5, 1, 50, 64)]
        np.testing.assert_array_equal(np.concatenate(parts, axis=1), out.read(raw))
    low = simulate(g, x, 120, dtype=np.float64, readout="lowpass", readout_tau=0.02)
    a, b = lowpass_coefficients(0.02, g.dt)
    y = np.zeros_like(raw[:, 0])
    for t in range(120):
        y = a * y + b * raw[:, t]
        np.testing.assert_allclose(low[:, t], y, rtol=1e-12, atol=1e-15)


def test_the_graph_declares_the_readout():
    """Without ``readout=``, each output reads out as its nn.output op says."""
    g, x = CASES["series_synapses"]()
    g.replace_op("out0", ops.Output(index=0, readout="raw"))
    g.replace_op("out1", ops.Output(index=1, readout="window", window=4))
    ours = simulate(g, x, 50, dtype=np.float64)
    raw = simulate(g, x, 50, dtype=np.float64, readout="raw")
    np.testing.assert_array_equal(ours[0], raw[0])
    np.testing.assert_array_equal(ours[1], g.op("out1").read(raw[1]))


def test_neurons_start_from_their_initial_state():
    """IF(v_init=0.5) starts half-way to the threshold: a neuron integrating 0.5 per step
    fires on the first step, not the second."""
    net = _Net("v_init", (1,))
    a = net.add(neurons.IF(gain=500.0, amplitude=0.001, v_init=0.5), net.inputs[0])
    b = net.add(neurons.IF(gain=500.0, amplitude=0.001), net.inputs[0])
    net.output(a)
    net.output(b, 1)
    g, _ = net.done()
    ya, yb = simulate(g, np.ones((1, 1)), 4, dtype=np.float64, readout="raw")
    np.testing.assert_array_equal(ya[0, :, 0], [1.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(yb[0, :, 0], [0.0, 1.0, 0.0, 1.0])


def test_reset_with_a_new_batch_size():
    g, x = CASES["conv_lif"]()
    sim = Simulator(g, dtype=np.float64)
    big = np.concatenate([x, x[::-1], x])
    np.testing.assert_array_equal(sim.run(big, 30)[:3], sim.run(x, 30))
    np.testing.assert_array_equal(sim.run(x[:1], 30), simulate(g, x[:1], 30, dtype=np.float64))


def test_float32_agrees_with_float64_on_the_digits_cnn(digits_split):
    """float32 (the default) on the digits CNN: spike counts within one of float64's per
    neuron over 100 steps, the same predictions at every 10th step, readouts within 1%."""
    import snnc
    from snnc.passes import PassContext, run_pipeline

    x_train, _, x_test, _ = digits_split
    ctx = PassContext.default(target="nengo", calibration=x_train[:200])
    g, _ = run_pipeline(
        snnc.load(DIGITS / "digits_cnn.keras"),
        "canonicalize,lower-activations{neuron=lif},fuse-bias,normalize-rates",
        ctx,
    )
    spiking = [n for n in g.topo_order() if ops.is_spiking(g.op(n))]
    runs = {}
    for dt in (np.float64, np.float32):
        sim = Simulator(g, dtype=dt, probes=spiking)
        runs[dt] = sim.run(x_test, 100), sim.probe_data
    (y64, p64), (y32, p32) = runs[np.float64], runs[np.float32]
    for n in spiking:
        counts = [np.sum(p[n], axis=1) * g.dt / g.op(n).amplitude for p in (p64, p32)]
        assert np.abs(counts[0] - counts[1]).max() <= 1.0 + 1e-3, n
    for t in range(9, 100, 10):
        assert np.array_equal(y64[:, t].argmax(-1), y32[:, t].argmax(-1))
    assert np.abs(y64[:, -1] - y32[:, -1]).max() < 0.01 * np.abs(y64[:, -1]).max()


# ------------------------------------------------------------------ kernels


def _sparse(rng, shape, density=0.05):
    return (rng.uniform(size=shape) < density) * rng.integers(1, 3, size=shape) * 10.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "geom", [(1, 1, 1, 1, 0, 0), (2, 2, 1, 1, 1, 1), (1, 2, 2, 1, 2, 0), (3, 1, 1, 2, 0, 1)]
)
def test_conv_kernels_match_their_numpy_twins(geom, dtype):
    """im2col (with padding, strides, dilation) and the event-driven gather: numba == NumPy
    twin bit for bit, and both equal the GEMM of the im2col matrix up to rounding."""
    from snnc.sim import numba_kernels as nk

    sy, sx, dy, dx, pt, pl = geom
    rng = np.random.default_rng(sum(geom))
    x = _sparse(rng, (4, 9, 8, 3)).astype(dtype)
    w = rng.normal(size=(3, 2, 3, 5)).astype(dtype)
    oh = (9 + 2 * pt - (3 - 1) * dy - 1) // sy + 1
    ow = (8 + 2 * pl - (2 - 1) * dx - 1) // sx + 1
    cols = [np.full((4, oh, ow, 3, 2, 3), np.nan, dtype) for _ in range(2)]
    nk.im2col2d(x, cols[0], sy, sx, dy, dx, pt, pl)
    NumpyKernels.im2col2d(x, cols[1], sy, sx, dy, dx, pt, pl)
    np.testing.assert_array_equal(cols[0], cols[1])
    outs = [np.full((4, oh, ow, 5), np.nan, dtype) for _ in range(2)]
    nk.gather_conv2d(x, w, outs[0], *geom)
    NumpyKernels.gather_conv2d(x, w, outs[1], *geom)
    np.testing.assert_array_equal(outs[0], outs[1])
    gemm = cols[0].reshape(-1, 18) @ w.reshape(18, 5)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(outs[0], gemm.reshape(outs[0].shape), rtol=tol, atol=tol * 100)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_kernels_match_their_numpy_twins(dtype):
    """The dense path: numba's ``gemm`` / ``conv_gemm`` == the NumPy twins bit for bit, on
    shapes where numpy's own BLAS rounds differently (1000x1600x256 in float32 and
    300x4000x10 in float64 did, measured) and on those where numba calls a matrix-vector
    product or a dot product instead of a GEMM (one row or one column: a batch of one, a
    one-unit dense layer), and both ~= the exact product; ``conv_gemm``'s row blocks (here
    3 rows, not dividing 10) change nothing."""
    from snnc.sim import numba_kernels as nk

    rng = np.random.default_rng(7)
    shapes = ((1000, 1600, 256), (300, 4000, 10), (5, 3, 2), (500, 3000, 1), (1, 3000, 64))
    for m, k, n in (*shapes, (1, 3000, 1), (4, 0, 3)):
        x, w = rng.normal(size=(m, k)).astype(dtype), rng.normal(size=(k, n)).astype(dtype)
        outs = [np.full((m, n), np.nan, dtype) for _ in range(2)]
        nk.gemm(x, w, outs[0])
        NumpyKernels.gemm(x, w, outs[1])
        np.testing.assert_array_equal(outs[0], outs[1])
        exact = x.astype(np.float64) @ w.astype(np.float64)
        tol = 1e-3 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(outs[0], exact, rtol=tol, atol=tol * 10)
    x = _sparse(rng, (10, 9, 8, 3)).astype(dtype)
    w = rng.normal(size=(3, 2, 3, 5)).astype(dtype)
    geom = (2, 1, 1, 2, 1, 0)  # strides, dilation, padding before
    outs = [np.full((10, 5, 6, 5), np.nan, dtype) for _ in range(3)]
    buf = np.full(3 * 5 * 6 * 18, np.nan, dtype)
    nk.conv_gemm(x, w.reshape(18, 5), outs[0], buf, 3, 3, 2, *geom)
    NumpyKernels.conv_gemm(x, w.reshape(18, 5), outs[1], buf.copy(), 3, 3, 2, *geom)
    nk.gather_conv2d(x, w, outs[2], *geom)
    np.testing.assert_array_equal(outs[0], outs[1])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(outs[0], outs[2], rtol=tol, atol=tol * 100)


@pytest.mark.parametrize(
    "geom", [(1, 1, 1, 1, 0, 0), (2, 2, 1, 1, 1, 1), (1, 2, 2, 1, 2, 0), (2, 1, 1, 2, 0, 1)]
)
@pytest.mark.parametrize("rows,cout", [(13, 16), (6, 48), (2, 32)])
def test_conv_fma_matches_its_numpy_twin(geom, rows, cout):
    """The register kernel (6-row blocks and the rows left over, taps in the padding
    skipped): numba == the NumPy twin (fma32 in im2col order) bit for bit, and both ~= the
    float64 convolution."""
    from snnc.sim import numba_kernels as nk

    sy, sx, dy, dx, pt, pl = geom
    rng = np.random.default_rng(rows + cout + sum(geom))
    x = _sparse(rng, (rows, 9, 8, 5), density=0.3).astype(np.float32)
    w = rng.normal(size=(3, 2, 5, cout)).astype(np.float32)
    oh = (9 + 2 * pt - (3 - 1) * dy - 1) // sy + 1
    ow = (8 + 2 * pl - (2 - 1) * dx - 1) // sx + 1
    outs = [np.full((rows, oh, ow, cout), np.nan, np.float32) for _ in range(2)]
    nk.conv_fma(x, w.reshape(30, cout), outs[0], 3, 2, *geom)
    NumpyKernels.conv_fma(x, w.reshape(30, cout), outs[1], 3, 2, *geom)
    np.testing.assert_array_equal(outs[0].view(np.int32), outs[1].view(np.int32))
    exact = np.zeros((rows, oh, ow, cout))
    NumpyKernels.gather_conv2d(x.astype(np.float64), w.astype(np.float64), exact, *geom)
    np.testing.assert_allclose(outs[0], exact, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_bias_matches_numpy(dtype):
    """The numba bias add == NumPy's ``u += bias`` (float64 sums stored in u's dtype)."""
    from snnc.sim import numba_kernels as nk

    rng = np.random.default_rng(9)
    u = (rng.normal(size=(37, 24)) * 1e3).astype(dtype)
    bias = rng.normal(size=24) * 1e-3
    ours, ref = u.copy(), u.copy()
    nk.add_bias(ours, bias)
    NumpyKernels.add_bias(ref, bias)
    np.testing.assert_array_equal(ours, ref)
    assert not np.array_equal(ours, u)


def test_conv_fma_refuses_partial_register_blocks():
    """Its vector stores check no bounds, so output channels that are not whole 16-column
    blocks are refused rather than written past the array."""
    from snnc.sim import numba_kernels as nk

    x = np.zeros((2, 5, 5, 3), np.float32)
    w, u = np.zeros((27, 8), np.float32), np.zeros((2, 3, 3, 8), np.float32)
    with pytest.raises(ValueError, match="multiple of 16"):
        nk.conv_fma(x, w, u, 3, 3, 1, 1, 1, 1, 0, 0)


def test_conv_fma_is_chosen_for_short_float32_windows():
    """conv_fma runs float32 convolutions with O % 16 == 0 and KH * KW * C <= FMA_MAX_K;
    float64, other widths and long windows keep im2col + GEMM (and its scratch buffer)."""
    from snnc.sim.plan import FMA_MAX_K, Weighted

    def weighted(cin, cout, dtype):
        net = _Net("fma", (6, 6, cin))
        s = net.add(neurons.IF(gain=300.0, amplitude=0.01), net.inputs[0])
        net.output(net.add(ops.Conv2D(weight=net.w(3, 3, cin, cout), strides=(2, 2)), s))
        g, _ = net.done()
        plan = Simulator(g, dtype=dtype).plan
        (ins,) = [i for i in plan.instrs if isinstance(i, Weighted)]
        return ins, plan

    def cols(plan):
        return [k for k in plan.fixed_sizes() if k.endswith(":cols")]

    ins, plan = weighted(16, 32, np.float32)
    assert ins.fma and not cols(plan)
    assert not weighted(16, 32, np.float64)[0].fma
    assert not weighted(16, 24, np.float32)[0].fma
    ins, plan = weighted(FMA_MAX_K // 9 + 1, 32, np.float32)
    assert not ins.fma and cols(plan)


def _conv_chain():
    """input -> conv -> IF (constant input) -> conv16 -> IF (changing input) -> conv16 ->
    IF -> synapse -> flatten -> dense: both IF layers before a 16-channel conv can be fused."""
    net = _Net("chain", (7, 7, 2))
    c1 = net.conv(net.inputs[0], (3, 3), 6, padding="same")
    a1 = net.add(neurons.IF(gain=net.rng.uniform(100, 400, size=6), bias=60.0, amplitude=0.01), c1)
    c2 = net.conv(a1, (3, 3), 16, strides=(2, 2), padding="same")
    a2 = net.add(neurons.IF(gain=net.rng.uniform(5, 20, size=16), bias=50.0, amplitude=0.01), c2)
    c3 = net.conv(a2, (3, 3), 16, padding="valid")
    a3 = net.add(neurons.IF(gain=net.rng.uniform(5, 20, size=16), bias=50.0, amplitude=0.01), c3)
    f = net.add(ops.Flatten(), a3, synapse=SYN)
    net.output(net.dense(f, 4))
    g, x = net.done()
    return g, x, (a1, a2), (c2, c3)


@pytest.mark.parametrize("event", EVENT_MODES)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_neurons_read_only_by_conv_fma_are_fused(backend, event):
    """In float32, each IF layer whose only reader is a convolution runs inside it (constant
    and changing inputs), in every event mode: the convolutions' values equal the unfused
    plan's (the IF layers probed, conv_fma over every spike) bit for bit, on both backends;
    float64 fuses nothing."""
    from snnc.sim.plan import Neurons, Weighted

    g, x, nrns, convs = _conv_chain()
    fused = Simulator(
        g, dtype=np.float32, probes=list(convs), readout="raw", backend=backend, event=event
    )
    feeders = {i.node: i.feeder.node for i in fused.plan.instrs if getattr(i, "feeder", None)}
    assert feeders == dict(zip(convs, nrns, strict=True))
    assert not any(isinstance(i, Neurons) and i.node in nrns for i in fused.plan.instrs)
    probes = [*convs, *nrns]
    plain = Simulator(
        g, dtype=np.float32, probes=probes, readout="raw", backend=backend, event="never"
    )
    assert not any(getattr(i, "feeder", None) for i in plain.plan.instrs)
    f64 = Simulator(g, dtype=np.float64, backend=backend)
    assert not any(isinstance(i, Weighted) and i.feeder for i in f64.plan.instrs)
    fused.run(x, 150)
    plain.run(x, 150)
    for c in convs:
        np.testing.assert_array_equal(fused.probe_data[c], plain.probe_data[c], err_msg=c)
    assert np.count_nonzero(plain.probe_data[nrns[1]]) > 0
    if backend == "numpy":
        ref = Simulator(g, dtype=np.float32, probes=list(convs), readout="raw")
        ref.run(x, 150)
        for c in convs:
            np.testing.assert_array_equal(fused.probe_data[c], ref.probe_data[c], err_msg=c)


@pytest.mark.parametrize("synapse", [None, SYN])
def test_dense_absorbs_neurons_through_a_flatten(synapse):
    """IF (3x3x4) -> flatten (with or without a synapse, which moves after the weights) ->
    dense with 16 units: the dense layer runs the IF layer inside its fused kernel as a 1x1
    convolution, in every event mode. Its values equal the unfused plan's (IF probed) up to
    the GEMM's rounding; the event modes (the product over the listed spikes, over every
    spike, or either per block) and the numba and NumPy backends agree bit for bit."""
    net = _Net("flat", (3, 3, 2))
    c = net.conv(net.inputs[0], (1, 1), 4)
    a = net.add(neurons.IF(gain=net.rng.uniform(100, 400, size=4), bias=60.0, amplitude=0.01), c)
    f = net.add(ops.Flatten(), a, synapse=synapse)
    d = net.dense(f, 16)
    net.output(d)
    g, x = net.done()
    runs = {}
    for event in EVENT_MODES:
        for backend in ("numba", "numpy"):
            sim = Simulator(
                g, dtype=np.float32, probes=[d], readout="raw", backend=backend, event=event
            )
            feeders = [i.feeder.node for i in sim.plan.instrs if getattr(i, "feeder", None)]
            assert feeders == [a]
            sim.run(x, 120)
            runs[event, backend] = sim.probe_data[d]
            if backend == "numba" and event == "always":
                assert sim.modes[d][1] == 0 and sim.modes[d][0] > 0
    plain = Simulator(g, dtype=np.float32, probes=[d, a], readout="raw", event="never")
    assert not any(getattr(i, "feeder", None) for i in plain.plan.instrs)
    plain.run(x, 120)
    for key, run in runs.items():
        np.testing.assert_array_equal(run, runs["never", "numba"], err_msg=str(key))
    np.testing.assert_allclose(runs["never", "numba"], plain.probe_data[d], rtol=1e-5, atol=1e-4)
    assert np.abs(plain.probe_data[d]).max() > 1


_FUSED_GEOMETRIES = [
    # (H, W, C), (KH, KW), (sy, sx, dy, dx, pt, pl), O: channels with an 8-lane tail, 64- /
    # 32- / 16-column passes, padding, a dense layer as a 1x1 convolution of a 1x1 image
    ((6, 6, 16), (3, 3), (2, 2, 1, 1, 0, 0), 32),
    ((5, 4, 5), (3, 2), (1, 2, 2, 1, 2, 0), 48),
    ((7, 7, 3), (3, 3), (1, 1, 1, 1, 1, 1), 80),
    ((1, 1, 131), (1, 1), (1, 1, 1, 1, 0, 0), 64),
    ((1, 1, 40), (1, 1), (1, 1, 1, 1, 0, 0), 144),
    # an image over 64 KB: stepped one sample at a time when event-driven
    ((64, 64, 5), (3, 3), (2, 2, 1, 1, 1, 0), 16),
]


@pytest.mark.parametrize("geom", _FUSED_GEOMETRIES)
@pytest.mark.parametrize("rate", [0.02, 0.3, 1.5])
def test_fused_kernel_modes_agree(geom, rate):
    """``neuron_conv_fma`` over a changing input, 13 samples (two 6-row blocks and one row
    left), 9 steps: the product over every spike (FUSED_DENSE), over the listed non-zero
    spikes (FUSED_EVENTS) and the per-block choice (FUSED_AUTO) give the same outputs and
    voltages bit for bit, equal to the NumPy twin's; at ``rate`` 1.5 some neurons spike more
    than once a step. FUSED_EVENTS counts every block as event-driven, FUSED_DENSE none;
    on a dense layer (a 1x1 image) FUSED_AUTO lists sparse spikes and multiplies saturated
    ones."""
    from snnc.sim import numba_kernels as nk
    from snnc.sim.kernels import FUSED_AUTO, FUSED_DENSE, FUSED_EVENTS

    (h, w_, c), (kh, kw), conv, o = geom
    sy, sx, dy, dx, pt, pl = conv
    oh = (h + 2 * pt - (kh - 1) * dy - 1) // sy + 1
    ow = (w_ + 2 * pl - (kw - 1) * dx - 1) // sx + 1
    rows, steps, n = 13, 9, h * w_ * c
    rng = np.random.default_rng(o + c)
    x3 = rng.random((steps, rows, n)).astype(np.float32)
    gain = rng.uniform(0, 2 * rate / 1e-3, n)  # mean drive `rate` spikes per step
    bias = np.zeros(n)
    w = rng.normal(size=(kh * kw * c, o)).astype(np.float32)
    params = (1e-3, 0.01)  # dt, amplitude
    v0 = rng.random((rows, n)).astype(np.float32)
    runs = {}
    for name, kernels, mode in (
        ("dense", nk, FUSED_DENSE),
        ("events", nk, FUSED_EVENTS),
        ("auto", nk, FUSED_AUTO),
        ("numpy", NumpyKernels, FUSED_DENSE),
    ):
        v = v0.copy()
        u5 = np.full((steps, rows, oh, ow, o), np.nan, np.float32)
        s4 = np.zeros((6, h, w_, c), np.float32)
        fused = kernels.neuron_conv_fma(neurons.IF)
        count = fused(x3, 1, gain, bias, v, params, s4, w, u5, mode, kh, kw, *conv)
        runs[name] = u5, v, count
    blocks = 3 * steps
    assert runs["events"][2] == blocks and runs["dense"][2] == 0
    if (h, w_) == (1, 1) and rate != 0.3:
        assert runs["auto"][2] == (blocks if rate < 0.1 else 0)
    for name, (u5, v, _) in runs.items():
        np.testing.assert_array_equal(u5.view(np.int32), runs["dense"][0].view(np.int32), name)
        np.testing.assert_array_equal(v, runs["dense"][1], name)
    assert np.abs(runs["dense"][0]).max() > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("constant", [True, False])
def test_neuron_window_equals_its_steps(dtype, backend, constant):
    """``neuron_window`` (one call per window: IF's const_loop, with the drive hoisted and
    blocks of neurons over the steps, or a compiled loop over the class's step) == T calls
    of the step: outputs and the voltage left, bit for bit, in both state dtypes."""
    from snnc.sim.kernels import get_kernels

    kern = get_kernels(backend)
    rng = np.random.default_rng(5)
    b, n, t = 3, 1500, 40  # 4500 neurons: blocks of 4096 and a partial one
    x3 = rng.uniform(-0.2, 1, size=(1 if constant else t, b, n)).astype(dtype)
    gain, bias = rng.uniform(10, 3000, size=n), rng.uniform(-5, 5, size=n)
    for cls in (neurons.IF, neurons.LoihiIF, neurons.LIF):
        op = cls(gain=1.0, amplitude=0.01)
        params = op.step_params(0.001)
        outs = [np.full((t, b, n), np.nan, dtype) for _ in range(2)]
        start = {"voltage": 0.5}  # refractory time etc. at 0
        states = [[np.full((b, n), start.get(k, 0.0), dtype) for k in cls.state] for _ in "ab"]
        kern.neuron_window(cls)(x3, 0 if constant else 1, gain, bias, outs[0], *states[0], *params)
        step = kern.neuron_step(cls)
        for k in range(t):
            step(x3[0 if constant else k], gain, bias, outs[1][k], *states[1], *params)
        np.testing.assert_array_equal(outs[0], outs[1], err_msg=cls.__name__)
        for a, b_ in zip(*states, strict=True):
            np.testing.assert_array_equal(a, b_, err_msg=cls.__name__)
        assert np.count_nonzero(outs[0]) > outs[0].size // 20, cls.__name__


@pytest.mark.parametrize(
    "geom",
    [
        ((9, 8), (3, 2), (1, 1), (1, 1), (0, 0)),
        ((6, 6), (3, 3), (2, 2), (1, 1), (0, 0)),
        ((7, 5), (3, 3), (1, 2), (2, 1), (2, 1)),
        ((4, 4), (1, 1), (1, 1), (1, 1), (0, 0)),
    ],
)
def test_window_uses_counts_the_windows_of_each_pixel(geom):
    """The event path's cost model: windows per input pixel, against a brute-force count."""
    from snnc.sim.plan import window_uses

    (h, w), (kh, kw), (sy, sx), (dy, dx), (pt, pl) = geom
    oh = (h + 2 * pt - (kh - 1) * dy - 1) // sy + 1
    ow = (w + 2 * pl - (kw - 1) * dx - 1) // sx + 1
    pairs = sum(
        0 <= oy * sy - pt + ky * dy < h and 0 <= ox * sx - pl + kx * dx < w
        for oy in range(oh)
        for ox in range(ow)
        for ky in range(kh)
        for kx in range(kw)
    )
    got = window_uses((h, w), (oh, ow), (kh, kw), (sy, sx), (dy, dx), (pt, pl))
    assert got == pytest.approx(pairs / (h * w))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_gather_and_count(dtype):
    """The event-driven dense product: numba == NumPy twin bit for bit, both ~= x @ w."""
    from snnc.sim import numba_kernels as nk

    rng = np.random.default_rng(0)
    x = _sparse(rng, (7, 50)).astype(dtype)
    w = rng.normal(size=(50, 9)).astype(dtype)
    outs = [np.full((7, 9), np.nan, dtype) for _ in range(2)]
    nk.gather_dense(x, w, outs[0])
    NumpyKernels.gather_dense(x, w, outs[1])
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[0], x @ w, rtol=1e-5, atol=1e-4)
    assert nk.count_nonzero(x) == NumpyKernels.count_nonzero(x) == np.count_nonzero(x)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_lowpass_scan_in_place_with_bias(backend):
    from snnc.sim.kernels import get_kernels

    k = get_kernels(backend)
    rng = np.random.default_rng(1)
    u = rng.normal(size=(6, 8))
    f = rng.normal(size=8)
    a, b = lowpass_coefficients(0.005, 0.001)
    bias = np.array([1.0, -2.0])
    expected, state = np.empty_like(u), f.copy()
    for t in range(6):
        expected[t] = state + np.tile(bias, 4)
        state = a * state + b * u[t]
    k.lowpass_scan(u, f, u, bias, a, b)
    np.testing.assert_array_equal(u, expected)
    np.testing.assert_array_equal(f, state)


def test_no_op_kind_strings_in_the_simulator():
    """snnc/sim asks traits and classes; it never names an op kind."""
    pattern = re.compile(r"""["'](nn|snn|ann)\.[a-z_0-9]+["']""")
    bad = [
        f"{p.name}:{i}: {line.strip()}"
        for p in sorted(SIM_SRC.glob("*.py"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not bad, "\n".join(bad)


def test_density_estimate_of_large_windows():
    """The event-driven choice estimates the density of a large window from contiguous
    runs of inputs spread over it (whole pixels, so a spiking channel pattern does not
    alias); small windows are counted exactly."""
    from snnc.sim import numba_kernels as nk
    from snnc.sim.plan import SAMPLE_MIN, estimate_nonzero

    rng = np.random.default_rng(3)
    small = _sparse(rng, (50, 40)).astype(np.float32)
    assert estimate_nonzero(nk, small) == np.count_nonzero(small)
    big = np.zeros((SAMPLE_MIN // 32 + 7, 32), np.float32)
    big[:, ::4] = 1.0  # every 4th channel spikes: 25%
    est = estimate_nonzero(nk, big)
    assert abs(est / big.size - 0.25) < 0.01

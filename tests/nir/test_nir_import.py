"""NIR graphs written with nir's own API (not by snnc) import into snnc and run with the
outputs computed by hand from NIR's equations; what snnc cannot express is refused by
name; files are checked before nir reads them."""

from __future__ import annotations

import math

import h5py
import nir
import numpy as np
import pytest

import snnc
import snnc.nir as snir
from snnc.errors import ModelFileError
from snnc.ir import neurons, ops

DT = 0.001


def graph(nodes: dict, edges: list, **kw) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, **kw)


def inp(*shape):
    return nir.Input(input_type={"input": np.array(shape)})


def out(*shape):
    return nir.Output(output_type={"output": np.array(shape)})


def lowpass_by_hand(x: np.ndarray, tau: float) -> np.ndarray:
    """nengo's Lowpass(tau) with zero-order hold, applied after each step (so a step's
    input shows one step later): y_t = s_{t-1}, s_t = a s_{t-1} + (1 - a) x_t."""
    a = math.exp(-DT / tau)
    s, ys = 0.0, []
    for v in x:
        ys.append(s)
        s = a * s + (1 - a) * v
    return np.array(ys)


def conv2d_chw_by_hand(x, w, b, stride, pad):
    """PyTorch's conv2d on one [C, H, W] sample (cross-correlation, zero padding)."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    cout, cin, kh, kw = w.shape
    oh, ow = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    y = np.zeros((cout, oh, ow))
    for o in range(cout):
        for i in range(oh):
            for j in range(ow):
                win = x[:, i * stride : i * stride + kh, j * stride : j * stride + kw]
                y[o, i, j] = np.sum(win * w[o]) + b[o]
    return y


def test_if_neuron_spikes_as_computed_by_hand():
    # J = (R / theta) (W x + b) = (3 / 1.5) (100 + 2 * 50 + 50) = 500 per second: v gains
    # 0.5 per step of 1 ms, so the neuron spikes every second step; NIR spikes are unit
    # impulses, area 1, i.e. 1/dt for one step
    ng = graph(
        {
            "x": inp(2),
            "fc": nir.Affine(weight=np.array([[100.0, 50.0]]), bias=np.array([50.0])),
            "if": nir.IF(r=np.array([3.0]), v_threshold=np.array([1.5]), v_reset=np.array([0.0])),
            "amp": nir.Scale(scale=np.array([0.002])),
            "syn": nir.LI(tau=np.array([0.01]), r=np.array([1.0]), v_leak=np.array([0.0])),
            "spikes": out(1),
            "filtered": out(1),
        },
        [
            ("x", "fc"),
            ("fc", "if"),
            ("if", "spikes"),
            ("if", "amp"),
            ("amp", "syn"),
            ("syn", "filtered"),
        ],
    )
    g = snir.from_nir(ng, approximate="rectified-current")
    assert g.nodes_of(neurons.IF) == ["if"]
    x = np.array([[1.0, 2.0]])
    spikes, filtered = snnc.simulate(g, x, steps=12, readout="raw")
    want = np.tile([0.0, 1 / DT], 6)
    np.testing.assert_allclose(spikes[0, :, 0], want)
    np.testing.assert_allclose(filtered[0, :, 0], lowpass_by_hand(0.002 * want, 0.01), rtol=1e-6)
    rates = snnc.evaluate(g, x)
    np.testing.assert_allclose(rates[0], [[500.0]])  # max(J, 0) spikes per second


def test_lif_neuron_fires_at_the_rate_of_its_equation():
    # tau dv/dt = v_leak - v + R I with v_leak = 4, threshold 2, no input: v -> 4, crossing 2
    # after tau ln 2 each time (reset to 0): 1 / (0.02 ln 2) = 72.13 Hz
    tau = 0.02
    ng = graph(
        {
            "x": inp(1),
            "lif": nir.LIF(
                tau=np.array([tau]),
                r=np.array([1.0]),
                v_leak=np.array([4.0]),
                v_threshold=np.array([2.0]),
                v_reset=np.array([0.0]),
            ),
            "y": out(1),
        },
        [("x", "lif"), ("lif", "y")],
    )
    g = snir.from_nir(ng)  # exact: snnc's LIF without refractory period or voltage floor
    op = g.op("lif")
    assert (op.tau_rc, op.tau_ref, op.min_voltage) == (tau, 0.0, -math.inf)
    y = snnc.simulate(g, np.zeros((1, 1)), steps=1000, readout="raw")[0, :, 0]
    period = tau * math.log(2)
    # discretised as nengo does: the first crossing falls in step ceil(period / dt), and
    # the voltage restarts from 0 at the next step, so spikes come every ceil(period / dt)
    # steps (71.4 Hz here: the gap to 72.1 Hz closes as dt -> 0)
    steps = math.ceil(period / DT)
    np.testing.assert_array_equal(np.flatnonzero(y), np.arange(steps - 1, 1000, steps))
    assert abs(len(np.flatnonzero(y)) - 1 / period) < 1.5
    np.testing.assert_allclose(snnc.evaluate(g, np.zeros((1, 1)))[0, 0], 1 / period, rtol=1e-6)


def test_cuba_lif_rate_is_its_equation_at_steady_state():
    # the current settles at w_in * (W x), the voltage then follows the LIF equation
    ng = graph(
        {
            "x": inp(3),
            "fc": nir.Linear(weight=np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]])),
            "cuba": nir.CubaLIF(
                tau_syn=np.full(2, 0.005),
                tau_mem=np.full(2, 0.02),
                r=np.array([2.0, 1.0]),
                v_leak=np.array([0.5, 0.0]),
                v_threshold=np.array([1.0, 1.0]),
                w_in=np.array([1.5, 1.0]),
            ),
            "y": out(2),
        },
        [("x", "fc"), ("fc", "cuba"), ("cuba", "y")],
    )
    g = snir.from_nir(ng)
    x = np.array([[0.2, 0.1, 0.3]])
    current = np.array([1.5, 1.0]) * (np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]]) @ x[0])
    j = np.array([2.0, 1.0]) * current + np.array([0.5, 0.0])
    want = np.where(j > 1, 1 / (0.02 * np.log1p(1 / np.maximum(j - 1, 1e-300))), 0.0)
    np.testing.assert_allclose(snnc.evaluate(g, x)[0], want, rtol=1e-6)
    # the current filter is a synapse, w_in a scaling node behind it
    ((scaling, _, syn),) = g.in_edges("cuba")
    assert syn is None and isinstance(g.op(scaling), ops.Affine)
    assert [s for _, _, s in g.in_edges(scaling)] == [0.005]


def test_conv_flatten_affine_in_channels_first_layout():
    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    w2, b2 = rng.normal(size=(5, 3 * 4 * 4)), rng.normal(size=5)
    ng = graph(
        {
            "x": inp(2, 4, 4),
            "conv": nir.Conv2d(
                input_shape=(4, 4), weight=w1, stride=1, padding=1, dilation=1, groups=1, bias=b1
            ),
            "flat": nir.Flatten(input_type={"input": np.array([3, 4, 4])}, start_dim=0),
            "fc": nir.Affine(weight=w2, bias=b2),
            "conv_out": out(48),
            "y": out(5),
        },
        [("x", "conv"), ("conv", "flat"), ("flat", "fc"), ("fc", "y"), ("flat", "conv_out")],
    )
    g = snir.from_nir(ng)
    x_chw = rng.normal(size=(2, 2, 4, 4))
    feature = np.stack([conv2d_chw_by_hand(s, w1, b1, 1, 1) for s in x_chw])
    flat_want = feature.reshape(2, -1)  # PyTorch's flatten: [C, H, W] order
    y_want = flat_want @ w2.T + b2
    # snnc's inputs are channels-last
    ys = dict(zip(g.outputs, snnc.evaluate(g, np.moveaxis(x_chw, 1, -1)), strict=True))
    np.testing.assert_allclose(ys["y"], y_want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ys["conv_out"], flat_want, rtol=1e-5, atol=1e-5)


def test_padded_pools_count_the_padding_as_nir_does():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 5))  # one [C, H, W] sample
    ng = graph(
        {
            "x": inp(2, 5, 5),
            "sum": nir.SumPool2d(
                kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([1, 1])
            ),
            "avg": nir.AvgPool2d(
                kernel_size=np.array([3, 3]), stride=np.array([2, 2]), padding=np.array([1, 1])
            ),
            "s": out(2, 3, 3),
            "a": out(2, 3, 3),
        },
        [("x", "sum"), ("sum", "s"), ("x", "avg"), ("avg", "a")],
    )
    g = snir.from_nir(ng)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    sums = np.array(
        [
            [
                [xp[c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].sum() for j in range(3)]
                for i in range(3)
            ]
            for c in range(2)
        ]
    )
    avgs = np.array(
        [
            [
                [xp[c, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].sum() / 9 for j in range(3)]
                for i in range(3)
            ]
            for c in range(2)
        ]
    )
    ys = dict(zip(g.outputs, snnc.evaluate(g, np.moveaxis(x, 0, -1)[None]), strict=True))
    np.testing.assert_allclose(ys["s"][0], np.moveaxis(sums, 0, -1), rtol=1e-6)
    np.testing.assert_allclose(ys["a"][0], np.moveaxis(avgs, 0, -1), rtol=1e-6)


def test_edges_into_one_node_are_summed():
    ng = graph(
        {
            "x": inp(2),
            "a": nir.Linear(weight=np.array([[100.0, 0.0]])),
            "b": nir.Linear(weight=np.array([[0.0, 300.0]])),
            "half": nir.Scale(scale=np.array([0.5])),
            "if": nir.IF(r=np.array([1.0]), v_threshold=np.array([1.0]), v_reset=np.array([0.0])),
            "y": out(1),
        },
        [("x", "a"), ("x", "b"), ("a", "if"), ("b", "half"), ("half", "if"), ("if", "y")],
    )
    g = snir.from_nir(ng, approximate="rectified-current")
    (add,) = g.nodes_of(ops.Add)
    assert g.op(add).coeffs == (1.0, 0.5)
    x = np.array([[1.0, 1.0]])  # J = 100 + 0.5 * 300 = 250 per second
    np.testing.assert_allclose(snnc.evaluate(g, x), [[250.0]])
    y = snnc.simulate(g, x, steps=8, readout="raw")[0, :, 0]
    np.testing.assert_allclose(y, [0, 0, 0, 1 / DT] * 2)


def test_grouped_convolution_from_a_file_nir_cannot_type_check(tmp_path):
    # nir 1.0 types a conv's input as weight.shape[1] channels: a grouped conv fails its
    # check on reading, snnc reads the file without it and checks shapes itself
    w = np.array([1.0, 2.0]).reshape(2, 1, 1, 1)  # two groups of one channel: x0 * 1, x1 * 2
    ng = graph(
        {
            "x": inp(2, 3, 3),
            "conv": nir.Conv2d(
                input_shape=(3, 3),
                weight=w,
                stride=1,
                padding=0,
                dilation=1,
                groups=2,
                bias=np.array([0.5, -0.5]),
            ),
            "y": out(2, 3, 3),
        },
        [("x", "conv"), ("conv", "y")],
        type_check=False,
    )
    nir.write(tmp_path / "grouped.nir", ng)
    g = snir.from_nir(tmp_path / "grouped.nir")
    x = np.random.default_rng(2).normal(size=(1, 3, 3, 2))
    np.testing.assert_allclose(snnc.evaluate(g, x), x * [1.0, 2.0] + [0.5, -0.5], rtol=1e-6)


# =============================================================================== refusals


def _if(n=1, **kw):
    args = dict(r=np.ones(n), v_threshold=np.ones(n), v_reset=np.zeros(n))
    args.update(kw)
    return nir.IF(**args)


@pytest.mark.parametrize(
    ("node", "approximate", "words"),
    [
        (_if(), None, ["'n'", "rectified-current"]),
        (_if(v_reset=np.array([0.5])), "all", ["'n'", "v_reset"]),
        (
            nir.LIF(
                tau=np.array([0.02]),
                r=np.ones(1),
                v_leak=np.zeros(1),
                v_threshold=np.ones(1),
                v_reset=-np.ones(1),
            ),
            None,
            ["'n'", "v_reset"],
        ),
        (nir.LI(tau=np.array([0.01]), r=np.ones(1), v_leak=np.ones(1)), None, ["'n'", "v_leak"]),
        (nir.Delay(delay=np.array([0.01])), None, ["'n'", "Delay"]),
        (nir.Threshold(threshold=np.array([1.0])), None, ["'n'", "Threshold"]),
        (nir.I(r=np.ones(1)), None, ["'n'", "integrator"]),
    ],
)
def test_unsupported_nodes_are_refused_by_name(node, approximate, words):
    ng = graph({"x": inp(1), "n": node, "y": out(1)}, [("x", "n"), ("n", "y")])
    with pytest.raises(snir.NIRImportError) as e:
        snir.from_nir(ng, approximate=approximate)
    for w in words:
        assert w in str(e.value)


def test_per_neuron_time_constants_are_refused():
    lif = nir.LIF(
        tau=np.array([0.01, 0.02]),
        r=np.ones(2),
        v_leak=np.zeros(2),
        v_threshold=np.ones(2),
        v_reset=np.zeros(2),
    )
    ng = graph({"x": inp(2), "lif": lif, "y": out(2)}, [("x", "lif"), ("lif", "y")])
    with pytest.raises(snir.NIRImportError, match="'lif'.*time constants differ"):
        snir.from_nir(ng)


def test_recurrent_graph_is_refused():
    ng = graph(
        {"x": inp(1), "a": nir.Linear(weight=np.ones((1, 1))), "n": _if(), "y": out(1)},
        [("x", "n"), ("n", "a"), ("a", "n"), ("n", "y")],
        type_check=False,
    )
    with pytest.raises(snir.NIRImportError, match="recurrent"):
        snir.from_nir(ng, approximate="all")


def test_all_refused_nodes_are_reported_at_once():
    ng = graph(
        {
            "x": inp(1),
            "d": nir.Delay(delay=np.array([0.01])),
            "t": nir.Threshold(threshold=np.ones(1)),
            "y": out(1),
            "z": out(1),
        },
        [("x", "d"), ("d", "y"), ("x", "t"), ("t", "z")],
    )
    with pytest.raises(snir.NIRImportError, match="2 NIR node") as e:
        snir.from_nir(ng)
    assert "'d'" in str(e.value) and "'t'" in str(e.value)


# =============================================================================== files


def _simple_file(path):
    ng = graph(
        {"x": inp(2), "fc": nir.Linear(weight=np.ones((3, 2))), "y": out(3)},
        [("x", "fc"), ("fc", "y")],
    )
    nir.write(path, ng)
    return path


def test_links_in_the_file_are_refused(tmp_path):
    path = _simple_file(tmp_path / "m.nir")
    with h5py.File(path, "a") as f:
        f["node/nodes/fc/extra"] = h5py.ExternalLink("elsewhere.h5", "/data")
    with pytest.raises(ModelFileError, match="ExternalLink"):
        snir.read(path)


def test_size_limits_apply_before_reading(tmp_path):
    from snnc.frontend.limits import LimitError, Limits

    path = _simple_file(tmp_path / "m.nir")
    with pytest.raises(LimitError, match="max_params"):
        snir.read(path, limits=Limits(max_params=4))
    with pytest.raises(LimitError, match="max_depth"):
        snir.read(path, limits=Limits(max_depth=2))
    with pytest.raises(LimitError, match="max_layers"):
        snir.read(path, limits=Limits(max_layers=2))
    assert isinstance(snir.read(path), nir.NIRGraph)


def test_bad_files_are_model_file_errors(tmp_path):
    (tmp_path / "text.nir").write_text("not hdf5")
    with pytest.raises(ModelFileError, match="not an HDF5 file"):
        snir.read(tmp_path / "text.nir")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["weights"] = np.ones(3)
    with pytest.raises(ModelFileError, match="no 'node' group"):
        snir.read(tmp_path / "other.h5")
    with pytest.raises(ModelFileError, match="no such file"):
        snir.from_nir(tmp_path / "missing.nir")
    assert not snir.is_nir_file(tmp_path / "other.h5")
    assert not snir.is_nir_file(tmp_path / "text.nir")
    assert snir.is_nir_file(_simple_file(tmp_path / "m.nir"))

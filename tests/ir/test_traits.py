"""Op traits are declared on op classes and are what consumers ask; their contracts hold."""

import ast
from pathlib import Path

import numpy as np
import pytest

from snnc.ir import OPS, neurons, ops
from snnc.ir import traits as T
from snnc.ir.interpreter import run_kernel
from snnc.ir.types import TensorType

ROOT = Path(__file__).resolve().parents[2]


def test_every_op_declares_only_trait_classes():
    for kind, cls in OPS.items():
        assert all(issubclass(t, T.Trait) for t in cls.traits), kind
        assert isinstance(cls.traits, frozenset)


def test_register_op_rejects_non_traits_and_bare_kinds():
    with pytest.raises(ValueError, match="not Trait classes"):
        ops.register_op(type("Bad", (ops.Op,), {"kind": "test.bad_trait", "traits": frozenset({int})}))
    with pytest.raises(ValueError, match="dialect prefix"):
        ops.register_op(type("Bad2", (ops.Op,), {"kind": "nodialect"}))


def _sample_input(cls):
    """An op instance of ``cls`` and a small input shape it accepts (for contract checks)."""
    rng = np.random.default_rng(0)
    table = {
        ops.Dense: (ops.Dense(weight=rng.normal(size=(3, 2)), bias=rng.normal(size=2)), [(3,)]),
        ops.Conv2D: (ops.Conv2D(weight=rng.normal(size=(2, 2, 1, 2))), [(4, 4, 1)]),
        ops.AvgPool: (ops.AvgPool(pool_size=(2, 2), strides=(2, 2)), [(4, 4, 2)]),
        ops.GlobalAvgPool: (ops.GlobalAvgPool(), [(3, 3, 2)]),
        ops.BatchNorm: (ops.BatchNorm(mean=np.ones(2), var=np.ones(2) * 2), [(3, 2)]),
        ops.Add: (ops.Add(coeffs=(0.5, -1.0)), [(3,), (3,)]),
        ops.Concat: (ops.Concat(axis=-1), [(2, 1), (2, 3)]),
        ops.Flatten: (ops.Flatten(), [(2, 3)]),
        ops.Transpose: (ops.Transpose(perm=(1, 0)), [(2, 3)]),
        ops.Pad: (ops.Pad(pads=((1, 0), (0, 2))), [(2, 3)]),
        ops.Upsample: (ops.Upsample(scale=(2,)), [(3, 2)]),
        ops.Crop: (ops.Crop(crops=((1, 0), (0, 1))), [(3, 3)]),
    }
    return table.get(cls)


@pytest.mark.parametrize("cls", [c for c in OPS.values() if c.has(T.Linear)], ids=lambda c: c.kind)
def test_linear_ops_are_affine_in_their_inputs(cls):
    sample = _sample_input(cls)
    if sample is None:
        pytest.skip(f"{cls.kind}: covered by the zoo parity tests")
    op, shapes = sample
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(1, *s)) for s in shapes]
    ys = [rng.normal(size=(1, *s)) for s in shapes]
    zero = run_kernel(op, [np.zeros_like(x) for x in xs], 0.001)

    def f(a):
        return run_kernel(op, a, 0.001) - zero  # the linear part

    lhs = f([2 * x - 3 * y for x, y in zip(xs, ys, strict=True)])
    np.testing.assert_allclose(lhs, 2 * f(xs) - 3 * f(ys), atol=1e-9)


@pytest.mark.parametrize("cls", [c for c in OPS.values() if c.has(T.MovesValues)], ids=lambda c: c.kind)
def test_value_moving_ops_output_only_input_values_or_fill(cls):
    sample = _sample_input(cls)
    if sample is None:
        pytest.skip(f"{cls.kind}: no sample")
    op, shapes = sample
    xs = [np.arange(1, 1 + int(np.prod(s))).reshape(1, *s) * 10.0 + i for i, s in enumerate(shapes)]
    y = run_kernel(op, xs, 0.001)
    allowed = set(np.concatenate([x.ravel() for x in xs])) | {0.0}
    assert set(y.ravel()) <= allowed


def test_neurons_derive_their_traits_from_the_catalogue():
    for option, cls in neurons.NEURONS.items():
        assert cls.option == option and cls.has(T.Neuron)
        assert cls.has(T.Spiking) == cls.spiking
        assert cls.has(T.ReLUExact) == cls.relu_exact
        if cls.spiking:
            assert cls.state and cls.step is not None and cls.step_loop is not None


@pytest.mark.parametrize("cls", [c for c in neurons.NEURONS.values() if c.relu_exact], ids=lambda c: c.option)
def test_relu_exact_neurons_are_relu_in_rate_mode(cls):
    x = np.linspace(-3, 3, 13)[None]
    np.testing.assert_allclose(run_kernel(cls(), [x], 0.001), np.maximum(x, 0))


def test_loihi_if_rate_is_nengo_loihis():
    # nengo_loihi.neurons.loihi_spikingrectifiedlinear_rates: (1/dt) / ceil((1/J) / dt)
    j = np.array([[0.0, 100.0, 300.0, 999.0, 5000.0]])
    got = run_kernel(neurons.LoihiIF(), [j], 0.001)
    want = np.where(j > 0, 1000.0 / np.ceil((1.0 / np.maximum(j, 1e-12)) / 0.001), 0.0)
    np.testing.assert_allclose(got, want)
    assert got.max() <= 1000.0


def test_spike_dtype_only_from_spiking_or_dtype_preserving_ops():
    t = TensorType((3,))
    for kind, cls in OPS.items():
        if cls.has(T.Neuron):
            assert (cls().infer_type([t]).dtype.is_spike) == cls.spiking, kind


def _kind_literals_in_comparisons(path: Path) -> list[str]:
    """Op-kind string literals ("nn.dense", "snn.if", ...) a module compares against or keeps
    in a table: every string constant that names a registered op kind."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in OPS:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    return found


def test_no_op_kind_literals_outside_ir():
    """Passes, the verifier, codegen and the simulator ask traits or use classes: a misspelt
    kind string would never match, silently."""
    found = []
    for folder in ("passes", "codegen", "snnc/sim", "ir/verifier.py"):
        base = ROOT / folder
        files = [base] if base.is_file() else sorted(base.rglob("*.py"))
        for f in files:
            found += _kind_literals_in_comparisons(f)
    assert not found, "op-kind literals outside ir/:\n" + "\n".join(found)

"""Hypothesis strategies for random, valid IR graphs (reusable by other test suites).

``graphs()`` draws a chain of layers on a vector or a small image: dense, conv,
depthwise conv, batch norm, affine, ReLU variants, identity, no-op reshapes, average
pooling, and residual ``nn.add`` / ``nn.concat`` joins with a parallel branch; then a dense
head, an optional softmax and the output. Weights are small and seeded from the drawn
seed, so a failing example shrinks and replays. Every graph verifies.

Import as ``from tests.passes.strategies import graphs, sample_inputs`` (the repository
root is on ``sys.path`` under pytest) or, from a sibling test folder, put this folder on
``sys.path``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from snnc.ir import Graph, ops, verify

#: ReLU variants ``graphs(activations=...)`` may draw, by name
RELUS = {
    "relu": {},
    "clipped": {"max_value": 1.5},
    "relu6": {"max_value": 6.0},
    "leaky": {"negative_slope": 0.2},
    "clipped-leaky": {"max_value": 2.0, "negative_slope": 0.1},
}

_VECTOR_LAYERS = ("dense", "batchnorm", "affine", "relu", "identity", "reshape", "add", "concat")
_IMAGE_LAYERS = (*_VECTOR_LAYERS, "conv", "depthwise", "pool", "flatten")


class _Builder:
    """Adds layers to a graph with weights from a seeded generator."""

    def __init__(self, g: Graph, rng: np.random.Generator):
        self.g, self.rng, self.i = g, rng, 0

    def name(self, base: str) -> str:
        self.i += 1
        return f"{base}{self.i}"

    def w(self, *shape, scale: float = 0.5) -> np.ndarray:
        return self.rng.uniform(-scale, scale, shape)

    def add(self, base: str, op, inputs) -> str:
        return self.g.add(self.name(base), op, inputs)

    def dense(self, x: str, units: int, bias: bool = True) -> str:
        c = self.g.type(x).shape[-1]
        return self.add(
            "dense", ops.Dense(weight=self.w(c, units), bias=self.w(units) if bias else None), [x]
        )

    def conv(self, x: str, cout: int, kernel: int, padding: str, strides: int, bias: bool) -> str:
        cin = self.g.type(x).shape[-1]
        op = ops.Conv2D(
            weight=self.w(kernel, kernel, cin, cout),
            bias=self.w(cout) if bias else None,
            strides=(strides, strides),
            padding=padding,
        )
        return self.add("conv", op, [x])

    def batchnorm(self, x: str) -> str:
        c = self.g.type(x).shape[-1]
        u = self.rng.uniform
        op = ops.BatchNorm(
            gamma=u(0.5, 1.5, c), beta=u(-0.5, 0.5, c), mean=u(-0.5, 0.5, c), var=u(0.5, 2.0, c)
        )
        return self.add("bn", op, [x])


@st.composite
def graphs(
    draw,
    *,
    activations: tuple[str, ...] = ("relu", "clipped", "leaky", "clipped-leaky"),
    max_layers: int = 6,
    image: bool | None = None,
    softmax: bool | None = None,
    batchnorm: bool = True,
) -> Graph:
    """A random valid graph; see the module docstring. ``activations`` names :data:`RELUS`
    entries (empty: no activation); ``image``/``softmax`` force a choice when not None."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    image = draw(st.booleans()) if image is None else image
    g = Graph("random")
    b = _Builder(g, rng)
    if image:
        shape = (draw(st.integers(3, 6)), draw(st.integers(3, 6)), draw(st.integers(1, 3)))
    else:
        shape = (draw(st.integers(1, 6)),)
    x = g.add("input", ops.Input(shape=shape))
    kinds = [k for k in (_IMAGE_LAYERS if image else _VECTOR_LAYERS) if activations or k != "relu"]
    if not batchnorm:
        kinds.remove("batchnorm")
    for _ in range(draw(st.integers(1, max_layers))):
        spatial = g.type(x).rank == 3
        kind = draw(
            st.sampled_from(
                [k for k in kinds if spatial or k not in ("conv", "depthwise", "pool", "flatten")]
            )
        )
        x = _layer(draw, b, x, kind, activations)
    if g.type(x).rank > 1:
        x = b.add("flatten", ops.Flatten(), [x])
    x = b.dense(x, draw(st.integers(1, 4)))
    if draw(st.booleans()) if softmax is None else softmax:
        x = b.add("softmax", ops.Softmax(), [x])
    g.add("output", ops.Output(), [x])
    verify(g)
    return g


def _layer(draw, b: _Builder, x: str, kind: str, activations) -> str:
    g = b.g
    t = g.type(x)
    c = t.shape[-1]
    if kind == "dense":
        return b.dense(x, draw(st.integers(1, 5)), bias=draw(st.booleans()))
    if kind == "conv":
        k = draw(st.integers(1, min(3, *t.shape[:2])))
        padding = draw(st.sampled_from(["valid", "same"]))
        return b.conv(
            x, draw(st.integers(1, 4)), k, padding, draw(st.integers(1, 2)), draw(st.booleans())
        )
    if kind == "depthwise":
        k = draw(st.integers(1, min(3, *t.shape[:2])))
        mult = draw(st.integers(1, 2))
        op = ops.DepthwiseConv2D(
            weight=b.w(k, k, c, mult),
            bias=b.w(c * mult),
            padding=draw(st.sampled_from(["valid", "same"])),
        )
        return b.add("dwconv", op, [x])
    if kind == "batchnorm":
        return b.batchnorm(x)
    if kind == "affine":
        per_channel = draw(st.booleans())
        shape = (c,) if per_channel else ()
        return b.add(
            "affine", ops.Affine(scale=b.rng.uniform(0.5, 1.5, shape), offset=b.w(*shape)), [x]
        )
    if kind == "relu":
        return b.add("relu", ops.ReLU(**RELUS[draw(st.sampled_from(activations))]), [x])
    if kind == "identity":
        return b.add("dropout", ops.Identity(), [x])
    if kind == "reshape":
        return b.add("reshape", ops.Reshape(shape=t.shape), [x])
    if kind == "flatten":
        return b.add("flatten", ops.Flatten(), [x])
    if kind == "pool":
        if min(t.shape[:2]) < 2:
            return x
        return b.add("pool", ops.AvgPool(pool_size=(2, 2), strides=(2, 2)), [x])
    # joins: a parallel branch from x, then add (same shape) or concat (last axis)
    branch = draw(st.sampled_from(["self", "linear", "bn"]))
    if kind == "add":
        y = (
            x
            if branch == "self"
            else (b.batchnorm(x) if branch == "bn" else _same_shape_linear(b, x))
        )
        coeffs = tuple(draw(st.sampled_from([1.0, -1.0, 0.5])) for _ in range(2))
        return b.add("add", ops.Add(coeffs=coeffs), [x, y])
    y = b.dense(x, draw(st.integers(1, 3))) if branch != "self" else x
    return b.add("concat", ops.Concat(axis=-1), [x, y])


def _same_shape_linear(b: _Builder, x: str) -> str:
    t = b.g.type(x)
    if t.rank == 3:
        return b.conv(x, t.shape[-1], 3 if min(t.shape[:2]) >= 3 else 1, "same", 1, True)
    return b.dense(x, t.shape[-1])


def sample_inputs(g: Graph, batch: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Seeded uniform [-1, 1] inputs, one array per graph input."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, (batch, *g.type(n).shape)).astype(np.float32) for n in g.inputs]

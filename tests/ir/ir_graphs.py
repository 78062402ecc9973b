"""Small hand-built graphs for IR tests."""

import numpy as np

from snnc.ir import Graph, neurons, ops


def rng(seed=0):
    return np.random.default_rng(seed)


def mlp(seed=0, n_in=4, n_hidden=5, n_out=3) -> Graph:
    """input -> dense -> relu -> dense -> output."""
    r = rng(seed)
    g = Graph("mlp")
    g.add("input", ops.Input(shape=(n_in,)))
    g.add("dense", ops.Dense(weight=r.normal(size=(n_in, n_hidden)), bias=r.normal(size=n_hidden)), ["input"])
    g.add("dense.act", ops.ReLU(), ["dense"])
    g.add("out", ops.Dense(weight=r.normal(size=(n_hidden, n_out)), bias=None), ["dense.act"])
    g.add("output", ops.Output(), ["out"])
    return g


def cnn(seed=0) -> Graph:
    """A small CNN touching most op kinds, spiking after its first conv."""
    r = rng(seed)
    g = Graph("cnn", dt=0.001)
    g.add("input", ops.Input(shape=(8, 8, 1)))
    g.add("conv1", ops.Conv2D(weight=r.normal(size=(3, 3, 1, 4)), bias=r.normal(size=4), padding="same"), ["input"])
    g.add("conv1.act", neurons.IF(amplitude=0.01, gain=100.0, bias=r.normal(size=4)), ["conv1"])
    g.add("pool", ops.AvgPool(pool_size=(2, 2), strides=(2, 2)), ["conv1.act"], synapses=[0.005])
    g.add("flatten", ops.Flatten(), ["pool"])
    g.add("dense", ops.Dense(weight=r.normal(size=(64, 10)), bias=r.normal(size=10)), ["flatten"])
    g.add("output", ops.Output(), ["dense"])
    return g

"""Merge layers: Add, Subtract, Average (weighted sums) and Concatenate.

Multiply, Maximum, Minimum and Dot are refused (see the registry): they are nonlinear in
their inputs, which a spiking network cannot compute.
"""

from __future__ import annotations

from snnc.frontend.keras.context import LayerContext
from snnc.frontend.keras.layers.common import single_axis
from snnc.frontend.keras.registry import converter
from snnc.ir import ops


def _weighted_sum(cx: LayerContext, coeffs: tuple[float, ...]) -> str:
    return cx.emit(ops.Add(coeffs=coeffs))


@converter("Add")
def add(cx: LayerContext) -> str:
    return _weighted_sum(cx, (1.0,) * len(cx.inputs))


@converter("Subtract")
def subtract(cx: LayerContext) -> str:
    if len(cx.inputs) != 2:
        cx.refuse(f"Subtract takes exactly 2 inputs, got {len(cx.inputs)}")
    return _weighted_sum(cx, (1.0, -1.0))


@converter("Average")
def average(cx: LayerContext) -> str:
    n = len(cx.inputs)
    return _weighted_sum(cx, (1.0 / n,) * n)


@converter("Concatenate")
def concatenate(cx: LayerContext) -> str:
    return cx.emit(ops.Concat(axis=single_axis(cx, cx.cfg.get("axis", -1))))

"""``quantize``: fixed-point parameters (power-of-two scales) made explicit in the IR.

Generic mode (default, ``target=none``)
---------------------------------------
Every selected parameter becomes a symmetric signed ``bits``-bit integer mantissa times a
power of two: ``w ~ m * 2**e`` with ``|m| <= 2**(bits-1) - 1``. The op keeps the exact
dequantized float32 values and records ``q<bits>e<exp>`` in its ``quant`` entry (see
:mod:`snnc.ir.quant`), so the interpreter, the simulator and codegen compute the quantized
network with no change, and ``op.mantissa(name)`` gives the integers a chip receives.

- The exponent is :func:`snnc.ir.quant.choose_exp`'s: the smallest power-of-two grid that
  holds ``max |w|`` (no value clips). With ``clip_percentile=p`` it holds the ``p``-th
  percentile of ``|w|`` instead: a finer grid for the bulk of the weights, the few larger
  ones clip to the largest mantissa (their count is in the stats).
- The mantissa range is symmetric (``-(2**(bits-1) - 1) .. 2**(bits-1) - 1``; the most
  negative two's-complement value is not used), so a weight and its negation quantize to
  negated values and the grid has no bias.
- ``per_channel=true`` gives each output channel of a weight its own exponent (the QInt's
  per-channel exponents run along the weight's last axis, the output channels of dense,
  conv and transposed conv). A depthwise conv's last weight axis is the depth multiplier,
  not the output channel, so it keeps one exponent (a note says so).

Which parameters (``scope``):

- ``weights`` (default): the weight and bias of every op with the ``HasWeights`` trait
  (dense, convolutions, depthwise, transposed conv). Weights take ``weight_bits``, biases
  ``bias_bits`` (default 16: a bias adds to the sum of many products, so it needs more
  range; Loihi's compartment biases are a 13-bit signed mantissa with a 3-bit exponent).
- ``all``: additionally every other numpy parameter of every op (neuron gains and biases,
  channel-affine scales and offsets, batch-norm statistics), each with ``bias_bits`` and
  one exponent: the graph reaches ``Stage.QUANTIZED`` when it is lowered.

Rounding (``rounding``):

- ``auto`` (default): ``gptq`` when the pass has calibration data, else ``nearest``.
- ``nearest``: each weight to its nearest grid point (half to even).
- ``gptq``: error-compensating rounding (GPTQ, Frantar et al. 2023, "GPTQ: Accurate
  Post-Training Quantization for Generative Pre-trained Transformers", ICLR; after Optimal
  Brain Quantization). Per dense / 2-D convolution, on the grid nearest rounding would use
  (same exponents, so the same ``quant`` entry), the rows of the weight (its inputs: a conv's
  im2col columns) are rounded one after the other, and each row's rounding error is
  spread over the rows not yet rounded through the inverse of ``H = X^T X``, ``X`` the op's
  inputs on the calibration data (``ctx.calibration``, required): the op's *output* error
  on that data is what shrinks, not each weight's. Layers are taken in topological order on
  the partly quantized graph, so a layer also compensates what the layers before it lost.
  ``H`` gets 1% of its mean diagonal added (the paper's dampening). Measured on the digits
  CNN (450 test images, rate mode, 500 training images to calibrate): 4-bit weights per
  tensor 96.0 -> 94.0% nearest, 95.6% gptq; per channel 91.1% nearest, 96.0% gptq; 3-bit per
  channel 86.7% / 95.1%. Grouped, depthwise, 1-D and transposed convolutions, and layers of
  more than ``GPTQ_MAX_INPUTS`` inputs, are rounded to nearest (a note names them).

``weight_bits=32`` means float32 weights: the pass does nothing (and says so); a
``bias_bits`` of 32 keeps biases and the other parameters float. The QInt of 1 bit is the
unsigned ``0..1``, which cannot hold a signed weight: the smallest symmetric signed grid
is 2 bits (ternary ``-1, 0, 1``), so both options take 2..32.

Stats (``PassResult.stats``): ``layers`` maps every quantized node to its parameters, each
with ``bits``, ``exp`` (an int, or a list per channel), ``step`` (the largest ``2**exp``),
``max_abs_error``, ``sqnr_db`` (None when exact) and ``clipped`` (values beyond the grid);
plus the counts ``quantized`` and ``float`` (parameters left float32), and a summary note.

Loihi mode (``target=loihi``)
-----------------------------
nengo-loihi 1.1 quantizes a network itself when it builds for the chip or its emulator
(``nengo_loihi/builder/discretize.py``). For every on-chip block (a chip ensemble: one
neuron node here) it

1. takes the float synapse weights of every connection into the block: the loihi codegen
   folds the post neuron's gain into the transform (its ensembles have gain 1), and
   nengo-loihi scales it by the spike height, ``P = W * gain * amp / dt`` (``amp``: the pre
   neuron's amplitude; ``builder/connection.py``);
2. maps the block's largest ``|P|`` to 255 (``w_scale = 255 / w_max``) and rounds to an
   8-bit weight with the LSB dropped (``round(P * w_scale / 2)`` clipped to +-127, times 2:
   ``discretize_weights`` with 8 weight bits, mixed fan-out, so ``shift_bits = 1``);
3. picks the weight exponent ``w_exp`` (0, -1, ... -7) at which the threshold and the
   biases, scaled by the same ``v_scale = w_scale * 2**(6 + w_exp) / (u_factor *
   v_factor)``, fit their registers (17-bit threshold mantissa times ``2**6``, 12-bit bias
   mantissa times ``2**0..7``); ``u_factor``/``v_factor`` undo the integral of the current
   and voltage decays;
4. rounds the threshold ``vth * v_scale`` to a multiple of 64 and each bias ``b * v_scale *
   v_factor`` to a 12-bit mantissa with a power-of-two exponent.

The emulator then runs integers. Divided by its threshold, everything is the float network
with three roundings: weights, threshold, biases. ``quantize{target=loihi}`` writes exactly
those into the IR for every chip block fed by one connection whose chain holds one weight
op (dense, conv, grouped / 1-D / depthwise conv) and otherwise only value-moving ops and
the +-1 input decoder of ``legalize-loihi``:

- the weight op's weight becomes ``q8e<e>`` whose mantissas are **exactly the chip's 8-bit
  weight mantissas** (``chip weight = mantissa * 2**(7 + weight_exp)``, with
  ``discretize_weights``' lossy shift when ``weight_exp < -1``); ``e`` is the generic
  per-tensor exponent of the float weights, so magnitudes stay familiar. Behind the input
  decoder the chip holds each mantissa and its negation (the "on" and "off" encoder
  neurons);
- the post neuron's gain becomes one scalar, ``2**(1 + weight_exp - w_exp) / (w_scale *
  theta) * dt / (amp * 2**e)``: the chip's weight per mantissa unit relative to its rounded
  threshold (``theta`` = rounded threshold / exact scaled threshold), in the IR's units. A
  per-channel gain is absorbed into the mantissas, as the codegen folds it into the
  synapse weights;
- the post neuron's bias becomes the chip's rounded bias relative to the rounded threshold
  (float32: ``bias_mantissa * 2**bias_exp / (v_scale * v_factor * theta)``, not a power of
  two); a bias of the weight op moves into it first, as the codegen folds it.

The pass reads the placement ``legalize-loihi`` writes (``place`` of each neuron), so it runs
after it; with the input encoders in place the first layer is a chip connection too. The
arithmetic mirrors nengo-loihi's operation by operation (same dtypes and order: a kernel
emitted as ``nengo.Convolution`` is divided by ``dt``, a matrix multiplied by ``1/dt``).

Stats: ``layers[weight op]["weight"]`` has the generic entry (its error compares the
effective weight, mantissas times the new gain over the old, with the float weight) plus
``loihi``: per block ``w_exp``, ``weight_exp``, ``vth`` (the chip threshold),
``threshold_rounding`` (``theta - 1``) and ``gain``; ``skipped`` maps each unmatched chip
neuron to the reason.

Tested against nengo-loihi's own ``Model.build(..., discretize=True)`` of the network the
loihi target emits (``tests/passes/test_quantize.py``: dense and conv chains, the first
layer behind the encoder and decoder, loihi-if and loihi-lif, with and without a synapse,
per-neuron and per-channel gains, valid / same / strided convs, tiny weights that force
weight exponents -5 and -6 and the lossy shift): the chip weight mantissas, weight
exponents, thresholds and biases agree exactly. **Not matched** (the pass leaves those
weights float and a note names them): blocks fed by more than one connection (an add or
concat before the neuron: nengo-loihi scales all of a block's synapses by the largest),
chains with other linear ops (pooling, padding, affines, two weight ops: the chip holds
their product), transposed convolutions, a weight op feeding anything besides its chip
neurons or blocks that round it differently, blocks of more than 1024 neurons (the loihi
target splits them over cores and each part gets its own scale; splits it makes for axon or
synapse-memory limits are not predicted either), host-side weight ops (the readout: it runs
in float on the host and stays float), and neurons other than ``loihi-if`` / ``loihi-lif``.
The emulator's integer dynamics themselves (the floor in its current and voltage decays)
are not expressed: the IR holds the rounded parameters, the interpreter and kernels run
them in float.

``weight_bits`` below 8 with ``target=loihi`` first rounds every weight to that grid
(generic mode: ``per_channel`` and ``clip_percentile`` apply, biases stay float), then
writes the chip's 8-bit discretization of those values (so a sweep over weight bits runs
on Loihi too); ``weight_bits=32`` adds no rounding to the chip's own. Other options would
change what nengo-loihi fixes and are refused.

Running the quantized graph through nengo-loihi again reproduces the same weight mantissas
(a block's largest mantissa is 127, which maps back to 127), but nengo-loihi rescales the
block once more: its largest weight is again mapped to 255 and capped at 254, so the
emulator's effective gain of the emitted quantized graph is about ``254/255`` of the IR's
(measured: its threshold comes out ``255/254`` higher, within one threshold step).
Emitting on-chip weights times ``255/254`` (``127.5 / 127``) makes nengo-loihi rebuild
exactly the IR's mantissas, threshold and biases (tested for blocks without the lossy
shift, ``weight_exp >= -1``; with it the largest mantissa may be 112 or -128 and the
rebuild is not guaranteed). That factor belongs to the loihi codegen.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from snnc.errors import PassError
from snnc.ir import Graph, QInt
from snnc.ir import traits as T
from snnc.ir.interpreter import windows
from snnc.ir.neurons import (  # Loihi's fixed-point ranges (nengo-loihi 1.1)
    BIAS_MAN_MAX,
    BIAS_MAX,
    DECAY_SCALE_TH,
    MAX_DECAY,
    VTH_EXP,
    VTH_MAX,
    LoihiIF,
    LoihiLIF,
    decay_magnitude,
)
from snnc.ir.ops import (
    Conv1D,
    Conv2D,
    ConvTranspose2D,
    Dense,
    DepthwiseConv2D,
    Identity,
    Op,
    OpError,
    resolve_padding,
)
from snnc.ir.quant import choose_exp, sqnr_db
from snnc.passes.base import Pass, PassContext, PassResult, option, register_pass
from snnc.passes.calibration import check_calibration, rate_walk
from snnc.passes.folding import replace_params


def _bits_ok(v: int) -> bool:
    return 2 <= v <= 32


@register_pass
@dataclass(frozen=True)
class Quantize(Pass):
    """Quantize parameters to signed fixed point with power-of-two scales (or Loihi's 8 bits)."""

    name: ClassVar[str] = "quantize"
    stage: ClassVar = None  # weights exist at every stage; re-quantizing is allowed
    weight_bits: int = option(
        8,
        "bits of a weight mantissa (sign included); 32 keeps float32 weights (no-op)",
        check=_bits_ok,
        expect="an int in 2..32",
    )
    bias_bits: int = option(
        16,
        "bits of biases (and, with scope=all, of every other parameter); 32 keeps them float",
        check=_bits_ok,
        expect="an int in 2..32",
    )
    per_channel: bool = option(
        False, "one exponent per output channel of each weight (else one per tensor)"
    )
    scope: Literal["weights", "all"] = option(
        "weights",
        "weights: weights and biases of dense/conv ops; all: also neuron gains/biases, "
        "affine and batch-norm parameters (reaches stage quantized)",
    )
    clip_percentile: float | None = option(
        None,
        "size the weight grid for this percentile of |w| (larger weights clip); none: max |w|",
        check=lambda v: v is None or 0 < v <= 100,
        expect="a float in (0, 100] or none",
    )
    rounding: Literal["auto", "nearest", "gptq"] = option(
        "auto",
        "nearest: each weight to its nearest grid point; gptq: error-compensating rounding "
        "of dense/conv weights on the calibration data (needs calibration); auto: gptq when "
        "there is calibration data, else nearest",
    )
    target: Literal["loihi"] | None = option(
        None,
        "loihi: write nengo-loihi's own 8-bit discretization of chip blocks into the IR "
        "(weight_bits<8 rounds the weights to that grid first)",
    )

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        if self.target == "loihi":
            return self._run_loihi(graph, ctx)
        if self.weight_bits == 32:
            return PassResult(
                changed=False,
                stats={"layers": {}, "quantized": 0, "float": 0},
                notes=["weight_bits=32: float32 weights are already 32-bit; nothing to do"],
            )
        return self._run_generic(graph, ctx)

    # ------------------------------------------------------------------ generic mode
    def _plan(self, op: Op) -> list[tuple[str, int, bool, float | None]]:
        """``(param, bits, per_channel, percentile)`` for each parameter of ``op`` to
        quantize (parameters with 32 bits stay float)."""
        arrays = op.param_arrays()
        plan = []
        for name in arrays:
            if op.has(T.HasWeights) and name == "weight":
                per_channel = self.per_channel and not isinstance(op, DepthwiseConv2D)
                plan.append((name, self.weight_bits, per_channel, self.clip_percentile))
            elif op.has(T.HasWeights) or self.scope == "all":
                plan.append((name, self.bias_bits, False, None))
        return [p for p in plan if p[1] < 32]

    def _run_generic(self, graph: Graph, ctx: PassContext) -> PassResult:
        layers: dict[str, dict] = {}
        left_float: list[str] = []
        depthwise: list[str] = []
        invalid: list[str] = []
        nearest: list[str] = []  # weight ops gptq cannot take
        changed = False
        walk, notes = self._walk(graph, ctx)
        for n, xs in walk:
            op = graph.op(n)
            plan = self._plan(op)
            planned = {p[0] for p in plan}
            left_float += [f"%{n}.{p}" for p in op.param_arrays() if p not in planned]
            if not plan:
                continue
            if self.per_channel and isinstance(op, DepthwiseConv2D):
                depthwise.append(n)
            new, entries = op, {}
            rounds_weight = xs is not None and "weight" in planned
            gptq = rounds_weight and gptq_ok(op)
            if rounds_weight and not gptq:
                nearest.append(f"%{n}")
            for name, bits, per_channel, pct in plan:
                inputs = xs[0] if gptq and name == "weight" else None
                new, entries[name] = quantize_one(new, name, bits, per_channel, pct, inputs)
            try:
                new.verify(graph.in_types(n))
            except OpError as e:
                # e.g. a batch-norm variance rounded to 0 with epsilon 0: keep the op float
                left_float += [f"%{n}.{p}" for p in planned]
                invalid.append(f"%{n} ({e})")
                continue
            layers[n] = entries
            if new != op:
                graph.replace_op(n, new)
                changed = True
        notes.insert(0, self._summary(layers) if layers else "no parameter to quantize")
        if nearest:
            notes.append(
                f"{', '.join(nearest)}: rounded to nearest (gptq takes dense layers and "
                f"ungrouped 2-D convolutions of at most {GPTQ_MAX_INPUTS} inputs)"
            )
        if depthwise:
            notes.append(
                f"{', '.join('%' + n for n in depthwise)}: one exponent per tensor (a depthwise "
                "weight's last axis is the depth multiplier, not the output channel)"
            )
        if invalid:
            notes.append(
                f"kept float, its quantized parameters would be invalid: {'; '.join(invalid)}"
            )
        if left_float:
            shown = ", ".join(left_float[:6]) + (", ..." if len(left_float) > 6 else "")
            hint = ": scope=all quantizes them too" if self.scope == "weights" else ""
            notes.append(f"{len(left_float)} parameter(s) stay float32 ({shown}){hint}")
        if ctx.target == "loihi":
            notes.append(
                "nengo-loihi rounds the chip's weights to its own 8-bit grid again when it "
                "builds: quantize{target=loihi} (after legalize-loihi) writes that rounding "
                "into the IR"
            )
        stats = {
            "layers": layers,
            "quantized": sum(len(v) for v in layers.values()),
            "float": len(left_float),
        }
        return PassResult(changed=changed, stats=stats, notes=notes)

    def _walk(self, graph: Graph, ctx: PassContext):
        """``(iterator of (node, input values or None), notes)``: the nodes in topological
        order; with ``rounding=gptq`` each comes with its inputs on the calibration data,
        computed in rate mode by the graph as quantized so far (:func:`rate_walk`)."""
        gptq = self.rounding == "gptq" or (
            self.rounding == "auto" and ctx.calibration is not None
        )
        if not gptq:
            return ((n, None) for n in graph.topo_order()), []
        if ctx.calibration is None:
            raise PassError(
                "rounding=gptq needs calibration data: it compensates each layer's rounding "
                "on representative inputs",
                hint="pass calibration data (snnc --calibration FILE, or "
                "PassContext(calibration=...)), or use rounding=nearest",
            )
        inputs, notes = check_calibration(graph, ctx.calibration, where=self.name)
        notes.append(
            f"rounding={'auto (gptq)' if self.rounding == 'auto' else 'gptq'}: weights "
            "rounded with error compensation on "
            f"{len(inputs[0])} calibration sample(s)"
        )
        return rate_walk(graph, inputs), notes

    def _summary(self, layers: dict[str, dict]) -> str:
        entries = [(f"%{n}.{p}", s) for n, ps in layers.items() for p, s in ps.items()]
        others = f"biases{' and other parameters' if self.scope == 'all' else ''}"
        text = (
            f"quantized {len(entries)} parameter(s) of {len(layers)} node(s): weights "
            f"{self.weight_bits}-bit {'per channel' if self.per_channel else 'per tensor'}, "
            + (f"{others} {self.bias_bits}-bit" if self.bias_bits < 32 else f"{others} float32")
        )
        weights = [(k, s) for k, s in entries if k.endswith(".weight")] or entries
        noisy = [(k, s) for k, s in weights if s["sqnr_db"] is not None]
        if noisy:
            k, s = min(noisy, key=lambda e: e[1]["sqnr_db"])
            text += f"; lowest weight SQNR {s['sqnr_db']:.1f} dB ({k})"
        k, s = max(entries, key=lambda e: e[1]["max_abs_error"])
        text += f"; largest error {s['max_abs_error']:.3g} ({k})"
        clipped = sum(s["clipped"] for _, s in entries)
        if clipped:
            # beyond the grid: cut by clip_percentile, or pushed there by gptq's compensation
            why = (
                f"clip_percentile={self.clip_percentile:g}"
                if self.clip_percentile is not None
                else "error compensation beyond the grid's range"
            )
            text += f"; {clipped} value(s) clipped ({why})"
        return text

    # ------------------------------------------------------------------ loihi mode
    def _run_loihi(self, graph: Graph, ctx: PassContext) -> PassResult:
        """nengo-loihi's discretization; with ``weight_bits < 8`` the weights are first
        rounded to that many bits (generic mode, weights only) and the chip then holds the
        8-bit mantissas of those values: what a sweep of weight bits on Loihi means."""
        self._check_loihi_options()
        original = {n: graph.op(n).weight for n in graph.nodes_of(T.HasWeights)}
        notes = []
        if self.weight_bits < 8:
            pre = dataclasses.replace(self, target=None, bias_bits=32)
            first = pre._run_generic(graph, ctx)
            notes.append(
                f"weights first rounded to {self.weight_bits} bits (generic grid), then to "
                "the chip's 8 bits"
            )
        result = LoihiQuantizer(graph, original).run()
        if self.weight_bits == 32:
            result.notes.insert(0, "weight_bits=32: no rounding besides the chip's own 8 bits")
        result.notes[:0] = notes
        if self.weight_bits < 8:
            result.changed = result.changed or first.changed
        return result

    def _check_loihi_options(self) -> None:
        wrong = {
            k: v
            for k, v in self.option_values().items()
            if k not in ("target", "weight_bits", "per_channel", "clip_percentile", "rounding")
        }
        if 8 < self.weight_bits < 32:
            wrong["weight_bits"] = self.weight_bits
        if self.weight_bits >= 8:  # per_channel / clip_percentile shape a pre-rounding only
            wrong.update(
                {
                    k: v
                    for k, v in self.option_values().items()
                    if k in ("per_channel", "clip_percentile", "rounding")
                }
            )
        if wrong:
            text = ", ".join(f"{k}={v}" for k, v in wrong.items())
            raise PassError(
                f"target=loihi reproduces nengo-loihi's own 8-bit discretization, which fixes "
                f"what these options choose (got {text})",
                hint="use quantize{target=loihi} (the chip's 8 bits, one scale per block), or "
                "weight_bits<8 (with per_channel / clip_percentile / rounding) to round the "
                "weights first",
            )


# =============================================================================== generic helpers


def grid_exp(a: np.ndarray, bits: int, per_channel: bool, percentile: float | None):
    """The exponent(s) of ``a``'s grid: :func:`~snnc.ir.quant.choose_exp` on ``max |a|``, or
    on the ``percentile`` of ``|a|`` (per element of the last axis with ``per_channel``)."""
    per_channel = per_channel and a.ndim >= 1
    if percentile is None or percentile >= 100:
        return choose_exp(a, bits, per_channel)
    mag = np.abs(np.asarray(a, np.float64))
    if per_channel:
        m = np.percentile(mag.reshape(-1, mag.shape[-1]), percentile, axis=0)
        return choose_exp(m.reshape(1, -1), bits, per_channel=True)
    return choose_exp(np.asarray([np.percentile(mag, percentile)]), bits)


def on_grid(a: np.ndarray, bits: int, exp) -> tuple[np.ndarray, int]:
    """``a`` rounded (half to even) onto the symmetric ``bits``-bit grid of ``2**exp``, as
    float32, and how many values were clipped to the largest mantissa."""
    dtype = QInt(bits, exp)
    hi = 2 ** (bits - 1) - 1
    scale = dtype.scale()
    a = np.asarray(a, np.float64)
    m = np.rint(a / scale)
    clipped = int(np.count_nonzero(np.abs(m) > hi))
    # + 0.0 turns the -0.0 of small negative values into 0.0: the mantissa 0 dequantizes to
    # +0.0, and the content hash of the array must not depend on the sign of zero
    q = (np.clip(m, -hi, hi) * scale + 0.0).astype(np.float32)
    if bits > 24:
        # float32 keeps 24 significant bits: a mantissa near 2**(bits-1) can round up past
        # the largest one; step it back (still an integer multiple of the scale)
        over = np.abs(q.astype(np.float64) / scale) > hi
        if np.any(over):
            q = np.where(over, np.nextafter(q, np.float32(0)), q).astype(np.float32)
    return q, clipped


def quantize_one(
    op: Op,
    name: str,
    bits: int,
    per_channel: bool = False,
    percentile: float | None = None,
    inputs: np.ndarray | None = None,
) -> tuple[Op, dict]:
    """``op`` with parameter ``name`` on a symmetric ``bits``-bit power-of-two grid, and its
    stats entry (``bits``, ``exp``, ``step``, ``max_abs_error``, ``sqnr_db``, ``clipped``).
    Each value goes to its nearest grid point; given the op's ``inputs`` (calibration
    values; the weight of a :func:`gptq_ok` op), the weight is rounded by
    :func:`gptq_round` instead, and the entry says ``rounding: "gptq"`` (its errors are
    then the weights', no longer each the smallest)."""
    a = np.asarray(getattr(op, name), np.float64)
    exp = grid_exp(a, bits, per_channel, percentile)
    if inputs is None:
        q, clipped = on_grid(a, bits, exp)
    else:
        q, clipped = gptq_round(a.reshape(-1, a.shape[-1]), input_hessian(op, inputs), bits, exp)
        q = q.reshape(a.shape)
    quant = dict(op.quant)
    quant[name] = QInt(bits, exp)
    stats = error_stats(a, q, bits, exp, clipped)
    if inputs is not None:
        stats["rounding"] = "gptq"
    return op.replace(**{name: q}, quant=quant), stats


#: the most weight rows (inputs: a conv's ``KH * KW * C``) gptq takes: ``X^T X`` is
#: ``K x K`` float64 (128 MiB here) and the rounding loop costs ``K**2 * O`` multiply-adds
GPTQ_MAX_INPUTS = 4096


def gptq_ok(op: Op) -> bool:
    """Can :func:`gptq_round` round ``op``'s weight (a dense layer or an ungrouped 2-D
    convolution, of at most :data:`GPTQ_MAX_INPUTS` inputs)?"""
    if not (isinstance(op, Dense) or (type(op) is Conv2D and op.groups == 1 and op.n_spatial == 2)):
        return False
    return math.prod(op.weight.shape[:-1]) <= GPTQ_MAX_INPUTS


#: the im2col rows of one chunk of samples when accumulating ``X^T X`` (bounds the memory)
GPTQ_CHUNK_ROWS = 1 << 16
#: dampening of ``X^T X``: this fraction of its mean diagonal is added to the diagonal
GPTQ_DAMP = 0.01


def weight_inputs(op: Op, x: np.ndarray) -> np.ndarray:
    """The rows ``op``'s weight (reshaped ``(K, O)``) multiplies, for inputs ``x``: ``x``
    itself for a dense layer, the im2col patches ``(N * OH * OW, KH * KW * C)`` of a 2-D
    convolution (taps in ``(ky, kx, c)`` order, zeros where padded)."""
    if isinstance(op, Dense):
        return x.reshape(-1, x.shape[-1])
    kernel = op.weight.shape[:2]
    pads = resolve_padding(op.padding, x.shape[-3:-1], kernel, op.strides, op.dilation)
    x = x.reshape(-1, *x.shape[-3:])
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    # the interpreter's windows (B, OH, OW, C, KH, KW), taps moved before the channel
    win = windows(xp, kernel, op.strides, op.dilation)
    return np.moveaxis(win, 3, -1).reshape(-1, math.prod(kernel) * x.shape[-1])


def input_hessian(op: Op, x: np.ndarray) -> np.ndarray:
    """``X^T X`` of :func:`weight_inputs` (float64), accumulated over chunks of samples."""
    k = int(np.prod(op.weight.shape[:-1]))
    h = np.zeros((k, k))
    per = max(1, len(weight_inputs(op, x[:1])))
    step = max(1, GPTQ_CHUNK_ROWS // per)
    for i in range(0, len(x), step):
        cols = weight_inputs(op, np.asarray(x[i : i + step], np.float64))
        h += cols.T @ cols
    return h


def gptq_round(w: np.ndarray, h: np.ndarray, bits: int, exp) -> tuple[np.ndarray, int]:
    """GPTQ: the rows of ``w (K, O)`` rounded in order onto the ``bits``-bit grid of
    ``2**exp`` (:func:`on_grid`), each row's error spread over the later rows through the
    inverse of ``h = X^T X`` (dampened here); float32 values and the clipped count."""
    h = h.copy()
    h[np.diag_indices_from(h)] += GPTQ_DAMP * max(float(np.mean(np.diag(h))), 1e-12)
    # the upper Cholesky factor of H^-1: row k says how row k's error moves the later rows
    u = np.linalg.cholesky(np.linalg.inv(h)).T
    w = np.array(w, np.float64)
    q = np.empty(w.shape, np.float32)
    clipped = 0
    for k in range(len(w)):
        q[k], c = on_grid(w[k], bits, exp)
        clipped += c
        err = (w[k] - q[k]) / u[k, k]
        w[k + 1 :] -= np.outer(u[k, k + 1 :], err)
    return q, clipped


def error_stats(reference, quantized, bits: int, exp, clipped: int = 0) -> dict:
    """The stats entry of one quantized parameter (JSON-ready: lists, None for no error)."""
    ref = np.asarray(reference, np.float64)
    err = np.abs(ref - np.asarray(quantized, np.float64))
    sqnr = sqnr_db(ref, quantized)
    return {
        "bits": int(bits),
        "exp": list(exp) if isinstance(exp, tuple) else int(exp),
        "step": float(np.max(QInt(bits, exp).scale())),
        "max_abs_error": float(err.max(initial=0.0)),
        "sqnr_db": None if math.isinf(sqnr) else round(float(sqnr), 3),
        "clipped": int(clipped),
    }


# =============================================================================== loihi mode

# nengo_loihi/builder/discretize.py and block.py (nengo-loihi 1.1), mirrored operation by
# operation (same dtypes, same order) so that ties round as nengo-loihi rounds them
#: compartments per core: a larger block is split, and each part gets its own scale
MAX_COMPARTMENTS = 1024
#: 8 weight bits with mixed fan-out drop one bit: ``SynapseConfig.shift_bits``
SHIFT_BITS = 1
#: the largest weight mantissa, ``2**(8 - shift_bits) - 1``
WEIGHT_MAN_MAX = 2 ** (8 - SHIFT_BITS) - 1


def bias_to_manexp(bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 12-bit mantissa and 0..7 exponent per bias (``discretize.bias_to_manexp``)."""
    r = np.maximum(np.abs(bias) / BIAS_MAN_MAX, 1)
    exp = np.ceil(np.log2(r)).astype(np.int32)
    man = np.round(bias / 2**exp).astype(np.int32)
    return man, exp


def discretize_weights(w: np.ndarray, weight_exp: int) -> np.ndarray:
    """The chip's weight mantissas of float32 weights ``w`` scaled to +-255: the chip weight
    is ``mantissa * 2**(7 + weight_exp)`` (``discretize.discretize_weights`` with 8 weight
    bits and mixed fan-out, lossy shift included).

    Mantissas are -127..127, except after the lossy shift (``weight_exp < -1``): its right
    shift floors, so a mantissa clipped to 127 loses its low bits (127 -> 112 for a 4-bit
    shift) and -127 becomes -128.
    """
    m = np.round(w / 2.0**SHIFT_BITS).clip(-WEIGHT_MAN_MAX, WEIGHT_MAN_MAX).astype(np.int32)
    s2 = SHIFT_BITS + weight_exp
    if s2 < 0:
        # nengo-loihi rounds before the right shift that drops -s2 more bits
        m = (np.round(m * 2.0**s2) / 2**s2).clip(-WEIGHT_MAN_MAX, WEIGHT_MAN_MAX).astype(np.int32)
        chip = np.left_shift(np.right_shift(m, -s2), 6)
    else:
        chip = np.left_shift(np.left_shift(m, s2), 6)
    # chip = mantissa * 2**(6 + s2), exactly (a power-of-two multiple of an integer)
    return _mantissa(chip, s2)


def _mantissa(chip: np.ndarray, s2: int) -> np.ndarray:
    """``chip / 2**(6 + s2)`` as integers (exact: the chip weight is such a multiple)."""
    chip = chip.astype(np.int64)
    shift = 6 + s2
    return chip >> shift if shift >= 0 else chip << -shift


@dataclass
class LoihiBlock:
    """What nengo-loihi's discretization does to one block with one input connection.

    Attributes:
        mantissas: the chip's weight mantissas, shaped like the IR weight.
        w_exp: the block's weight exponent (``discretize_compartment``).
        weight_exp: the synapse's (``discretize_synapse``; equal for one synapse, at -6
            at least).
        v_scale: float units -> chip units of the threshold; ``vth``: the chip threshold.
        theta: chip threshold / exact scaled threshold (its rounding).
        bias: the chip biases (``mantissa * 2**exp``), shaped like the float bias.
        gain: the IR gain giving ``mantissa * 2**e * gain`` = the chip's weight relative to
            its threshold, in the neuron's units (``e`` is the IR weight exponent).
        new_bias: the IR neuron bias equivalent to the chip's.
    """

    mantissas: np.ndarray
    w_exp: int
    weight_exp: int
    v_scale: float
    vth: int
    theta: float
    bias: np.ndarray
    gain: float
    new_bias: np.ndarray


def loihi_discretize(
    weight: np.ndarray,
    out_gain: np.ndarray,
    amplitude: float,
    conv: bool,
    bias: np.ndarray,
    neuron: Op,
    tau_s: float,
    dt: float,
    exp: int,
) -> LoihiBlock:
    """nengo-loihi 1.1's discretization of a block fed by one connection.

    Args:
        weight: the IR weight (float32); ``out_gain``: the post neuron's gain per weight
            element (broadcastable to ``weight``); ``amplitude``: the pre neuron's.
        conv: the codegen emits a ``nengo.Convolution`` (its kernel is divided by ``dt``;
            a Dense / Sparse matrix is multiplied by ``1/dt``, as nengo-loihi does).
        bias: the compartment biases (float64, what codegen emits).
        neuron: the post neuron op (LoihiIF or LoihiLIF); ``tau_s``: the synapse (0: none).
        exp: the IR exponent the mantissas are written with.
    """
    # the loihi codegen folds the post gain into the weights (its ensembles have gain 1);
    # nengo-loihi then scales by the spike height: a kernel divided by dt, a matrix times 1/dt
    folded = np.asarray(weight, np.float64) * out_gain
    if conv:
        p = (folded / dt) * amplitude
    else:
        p = (folded * (1.0 / dt)) * amplitude
    p = p.astype(np.float32)  # Synapse weights are float32
    w_max = np.abs(p).max()

    # compartment: decays (float32 arrays in nengo-loihi), then their integer forms
    decay_u64 = 1.0 if tau_s == 0 else float(-np.expm1(-dt / tau_s))
    scale_u = decay_u64 > DECAY_SCALE_TH  # configure_filter compares before storing
    decay_u = np.float32(decay_u64)
    # integers from here on, as array_to_int leaves them (decay_magnitude then divides
    # integers, in float64)
    decay_u_int = int(np.round(np.clip(decay_u * MAX_DECAY - 1, 0, MAX_DECAY)))
    if isinstance(neuron, LoihiLIF):
        decay_v = np.float32(-np.expm1(-dt / neuron.tau_rc))
        scale_v = bool(decay_v > DECAY_SCALE_TH)
        vth_float = np.float32(1.0)  # build_lif: configure_lif's default threshold
    else:
        decay_v, scale_v = np.float32(0.0), False
        vth_float = np.float32(1.0 / dt)  # build_relu: input 1 -> 1 spike a second
    decay_v_int = int(np.round(decay_v * MAX_DECAY))
    u_infactor = (
        1.0 / decay_magnitude(np.int64(decay_u_int), x0=2097152, offset=1) if scale_u else 1.0
    )
    v_infactor = 1.0 / decay_magnitude(np.int64(decay_v_int), x0=2097152) if scale_v else 1.0

    # float32 compartment biases; nengo-loihi multiplies them by a float64 *array* scale,
    # so the product is float64
    bias32 = np.asarray(bias, np.float64).astype(np.float32).astype(np.float64)
    w_scale = 255.0 / w_max
    s_scale = 1.0 / (u_infactor * v_infactor)
    for w_exp in range(0, -8, -1):
        v_scale = s_scale * w_scale * 2 ** (6 + w_exp)
        b_scale = v_scale * v_infactor
        vth = np.round(vth_float * v_scale)
        b = np.round(bias32 * b_scale)
        if vth <= VTH_MAX and np.all(np.abs(b) <= BIAS_MAX):
            break
    else:
        raise ValueError(
            "no weight exponent fits its threshold and biases (nengo-loihi's build fails: "
            "'Could not find appropriate weight exponent')"
        )
    vth_man = int(np.round(vth / 2**VTH_EXP))
    bias_man, bias_exp = bias_to_manexp(b)
    chip_bias = bias_man * 2.0**bias_exp

    # discretize_synapse: the block's only synapse holds w_max, so dw_exp = 0 and its
    # weight_exp is the block's w_exp (never below -6); ``w * ws * 2**dw_exp`` in float32
    weight_exp = max(w_exp, -6)
    mantissas = discretize_weights(p * w_scale, weight_exp)

    chip_vth = vth_man * 2**VTH_EXP
    theta = chip_vth / (float(vth_float) * float(v_scale))
    # chip weight mantissa * 2**(7 + weight_exp) is P * w_scale * 2**(6 + w_exp) in float
    # units; relative to the rounded threshold, P_eff = m * per_unit
    per_unit = 2.0 ** (1 + weight_exp - w_exp) / (float(w_scale) * theta)
    gain = per_unit * dt / (amplitude * 2.0**exp)
    new_bias = chip_bias / (float(b_scale) * theta)
    return LoihiBlock(
        mantissas=mantissas,
        w_exp=w_exp,
        weight_exp=weight_exp,
        v_scale=float(v_scale),
        vth=int(chip_vth),
        theta=float(theta),
        bias=chip_bias,
        gain=float(gain),
        new_bias=new_bias,
    )


@dataclass
class _Connection:
    """One chip connection as codegen emits it: pre neuron -> (value moves, the input
    decoder) -> weight op -> (value moves) -> post neuron."""

    pre: str
    weights: str
    post: str
    tau_s: float
    conv: bool  # emitted as a nengo.Convolution (else a Dense / Sparse matrix)


class LoihiQuantizer:
    """``quantize{target=loihi}`` on one graph (see the module docstring)."""

    def __init__(self, graph: Graph, original: dict[str, np.ndarray] | None = None):
        self.g = graph
        #: the float weights before any rounding (stats compare the chip's to these)
        self.original = original or {}
        #: chip neuron -> why its input weights are not matched
        self.skipped: dict[str, str] = {}
        #: weight ops of the connections into those neurons
        self.skipped_weights: set[str] = set()

    def _skip(self, conns: list[_Connection], why: str) -> dict:
        for c in conns:
            self.skipped[c.post] = why
            self.skipped_weights.add(c.weights)
        return {}

    def _forward_ends(self, w: str) -> set[str]:
        """Every node that reads weight op ``w``'s value once it has passed value-moving ops
        (the neurons its connections reach, or whatever else uses it)."""
        ends, todo = set(), [w]
        while todo:
            for dst, _ in self.g.users(todo.pop()):
                op = self.g.op(dst)
                if (
                    op.has(T.MovesValues)
                    and not op.has(T.Neuron)
                    and len(self.g.inputs_of(dst)) == 1
                ):
                    todo.append(dst)
                else:
                    ends.add(dst)
        return ends

    # ------------------------------------------------------------------ connections
    def _sign_selection(self, op: Op) -> bool:
        """A dense op whose every input feeds at most one output with weight +-1 (the input
        decoder ``on - off`` legalize-loihi inserts): composed with the weights after it,
        each chip weight is exactly one of those weights or its negation."""
        if not isinstance(op, Dense) or op.bias is not None:
            return False
        w = np.asarray(op.weight)
        return bool(
            np.all(np.isin(w, (-1.0, 0.0, 1.0))) and np.all(np.count_nonzero(w, axis=1) <= 1)
        )

    def _walk_up(self, node: str, synapses: list, path: list, selections: bool) -> str | None:
        """Walk up from ``node`` (exclusive) over single-input value-moving ops (and, with
        ``selections``, sign-selection dense ops); returns the first other node, collecting
        edge synapses and the nodes passed. None when a join is met."""
        while True:
            ((src, _, syn),) = self.g.in_edges(node)
            synapses.append(syn)
            op = self.g.op(src)
            passable = op.has(T.MovesValues) or (selections and self._sign_selection(op))
            if op.has(T.Neuron) or not passable:
                return src
            if len(self.g.in_edges(src)) != 1:
                return None
            path.append(src)
            node = src

    def connection(self, post: str) -> _Connection | str:
        """The one connection into chip neuron ``post``, or why it is not one."""
        synapses: list = []
        after: list = []
        w = self._walk_up(post, synapses, after, selections=False)
        if w is None or not self.g.op(w).has(T.HasWeights):
            return "its input is not one weight op (a join, or other ops, before the neuron)"
        if isinstance(self.g.op(w), ConvTranspose2D):
            return f"%{w} is a transposed convolution (its emission is not mirrored here)"
        before: list = []
        pre = self._walk_up(w, synapses, before, selections=True)
        if pre is None or not self.g.op(pre).has(T.Spiking):
            return f"%{w} is not fed by spiking neurons through value-moving ops only"
        taus = [s for s in synapses if s is not None]
        if len(taus) > 1:
            return "more than one synapse between the neurons"
        conv = self._conv_path(w, before, after)
        return _Connection(pre, w, post, float(taus[0]) if taus else 0.0, conv)

    def _conv_path(self, w: str, before: list[str], after: list[str]) -> bool:
        """Whether the loihi codegen emits this chain as a ``nengo.Convolution`` (its
        ``conv_of`` rule: one undilated conv or depthwise conv whose padding nengo
        reproduces, with only reshapes and channel mixes around it). nengo-loihi divides a
        kernel by ``dt`` but multiplies a matrix by ``1/dt``: they round differently, so the
        mirror must know which."""
        op = self.g.op(w)
        (t,) = self.g.in_types(w)
        if type(op) in (Conv2D, Conv1D) and op.n_spatial == t.rank - 1:
            kernel = op.weight.shape[: op.n_spatial]
        elif isinstance(op, DepthwiseConv2D) and t.rank == 3:
            kernel = op.weight.shape[:2]
        else:
            return False
        if any(d != 1 for d in op.dilation):
            return False
        ones = (1,) * len(kernel)
        pads = resolve_padding(op.padding, t.shape[:-1], kernel, op.strides, ones)
        modes = [
            resolve_padding(m, t.shape[:-1], kernel, op.strides, ones) for m in ("valid", "same")
        ]
        if pads not in modes:
            return False

        def reshape(n: str) -> bool:
            return self.g.op(n).has(T.ShapeOnly) or isinstance(self.g.op(n), Identity)

        def channel_mix(n: str) -> bool:  # the decoder: a dense on an image's channels
            return isinstance(self.g.op(n), Dense) and self.g.in_types(n)[0].rank >= 2

        return all(reshape(n) for n in after) and all(reshape(n) or channel_mix(n) for n in before)

    def _out_gain(self, w: str, neuron: Op, post: str) -> np.ndarray | str:
        """The post neuron's gain for each weight element (broadcastable to the weight), or
        why it cannot be one (a gain varying within an output channel)."""
        wop = self.g.op(w)
        shape = self.g.type(post).shape
        gain = np.broadcast_to(np.asarray(neuron.gain, np.float64), shape)
        flat = gain.reshape(-1, shape[-1]) if shape else gain.reshape(1, 1)
        if not np.all(flat == flat[:1]):
            return "its neurons' gain varies within a channel"
        per_channel = flat[0]
        if shape != self.g.type(w).shape:
            # value moves between the weights and the neurons: only one gain maps simply
            if np.any(per_channel != per_channel[0]):
                return "its neurons' gain varies and values move between weights and neurons"
            per_channel = np.full(wop.weight.shape[-1], per_channel[0])
        if isinstance(wop, DepthwiseConv2D):
            return per_channel.reshape(wop.weight.shape[-2:])  # out channel c*m + j
        if per_channel.size != wop.weight.shape[-1]:
            return "its neurons' channels are not the weight's output channels"
        return per_channel

    # ------------------------------------------------------------------ the pass
    def run(self) -> PassResult:
        g = self.g
        neuron_nodes = g.nodes_of(T.Neuron)
        if neuron_nodes and all(g.op(n).place is None for n in neuron_nodes):
            raise PassError(
                "quantize{target=loihi} needs the host/chip placement of the neurons (none is "
                "placed)",
                hint="run it after legalize-loihi, which places every op (and puts the input "
                "encoders in front of the first layer, whose weights then go on the chip too)",
            )
        chip = [n for n in neuron_nodes if g.op(n).place == "chip"]
        by_weights: dict[str, list[_Connection]] = {}
        for post in chip:
            op = g.op(post)
            if not isinstance(op, (LoihiIF, LoihiLIF)):
                self.skipped[post] = f"{op.kind} is not a Loihi neuron (loihi-if, loihi-lif)"
                continue
            if int(np.prod(g.type(post).shape)) > MAX_COMPARTMENTS:
                self.skipped[post] = (
                    f"{int(np.prod(g.type(post).shape))} neurons: nengo-loihi splits the block, "
                    "each part with its own scale"
                )
                continue
            conn = self.connection(post)
            if isinstance(conn, str):
                self.skipped[post] = conn
                continue
            by_weights.setdefault(conn.weights, []).append(conn)
        layers: dict[str, dict] = {}
        for w, conns in by_weights.items():
            ends = self._forward_ends(w)
            if ends != {c.post for c in conns}:
                others = sorted(ends - {c.post for c in conns})
                self._skip(
                    conns,
                    f"%{w} also feeds {', '.join('%' + n for n in others)} (not a chip block it alone feeds)",
                )
                continue
            layers.update(self._quantize(w, conns))
        left = [n for n in g.nodes_of(T.HasWeights) if n not in layers]
        decoders = [n for n in left if g.op(n).place == "chip" and self._sign_selection(g.op(n))]
        host = [n for n in left if n not in self.skipped_weights and n not in decoders]
        notes = []
        if layers:
            worst = min(
                (s["weight"]["sqnr_db"] for s in layers.values() if s["weight"]["sqnr_db"]),
                default=None,
            )
            notes.append(
                f"wrote nengo-loihi's 8-bit discretization into {len(layers)} weight op(s) "
                f"({', '.join('%' + n for n in layers)})"
                + (f"; lowest SQNR {worst:.1f} dB" if worst is not None else "")
                + "; their neurons' gain and bias hold the chip's rounded threshold and biases"
            )
        if self.skipped:
            text = "; ".join(f"%{n}: {why}" for n, why in self.skipped.items())
            notes.append(f"not matched, left float: {text}")
        if host:
            notes.append(
                f"{', '.join('%' + n for n in host)}: not on a chip connection (host side: "
                "they stay float32)"
            )
        if decoders:
            notes.append(
                f"{', '.join('%' + n for n in decoders)}: +-1 input decoders, composed exactly "
                "into the next layer's chip weights"
            )
        stats = {
            "layers": layers,
            "quantized": len(layers),
            "skipped": dict(self.skipped),
        }
        return PassResult(changed=bool(layers), stats=stats, notes=notes)

    def _quantize(self, w: str, conns: list[_Connection]) -> dict[str, dict]:
        g = self.g
        wop = g.op(w)
        weight = np.asarray(wop.weight, np.float64)
        conv = conns[0].conv
        exp = choose_exp(weight, 8)
        blocks, gains = [], []
        for c in conns:
            nop = g.op(c.post)
            out_gain = self._out_gain(w, nop, c.post)
            if isinstance(out_gain, str):
                return self._skip(conns, out_gain)
            # the compartment bias codegen emits: the weight op's constant folded in
            b = np.asarray(nop.bias, np.float64)
            if wop.bias is not None:
                if g.type(c.post).shape != g.type(w).shape:
                    return self._skip(conns, f"values move between %{w}'s bias and the neurons")
                b = b + np.asarray(nop.gain, np.float64) * np.asarray(wop.bias, np.float64)
            if not np.any(weight):
                return self._skip(conns, f"%{w} is all zero (nengo-loihi then scales by the bias)")
            amp = float(g.op(c.pre).amplitude)
            try:
                block = loihi_discretize(
                    wop.weight, out_gain, amp, conv, b, nop, c.tau_s, g.dt, exp
                )
            except ValueError as e:  # nengo-loihi's build fails on this block too
                return self._skip(conns, str(e))
            blocks.append((c, block, amp))
            gains.append(out_gain)
        first = blocks[0][1].mantissas
        if any(not np.array_equal(b.mantissas, first) for _, b, _ in blocks[1:]):
            return self._skip(conns, f"%{w} feeds blocks that round it differently")
        q = (first.astype(np.float64) * 2.0**exp + 0.0).astype(np.float32)
        dtype = QInt(8, exp)
        new_w = replace_params(wop, weight=q, bias=None)
        quant = dict(new_w.quant)
        quant["weight"] = dtype
        g.replace_op(w, new_w.replace(quant=quant))
        loihi = {}
        for c, block, _ in blocks:
            nop = g.op(c.post)
            g.replace_op(
                c.post, replace_params(nop, gain=np.float32(block.gain), bias=block.new_bias)
            )
            loihi[c.post] = {
                "w_exp": block.w_exp,
                "weight_exp": block.weight_exp,
                "vth": block.vth,
                "threshold_rounding": block.theta - 1.0,
                "gain": block.gain,
            }
        # error in the original weight's units: the effective weight the chip applies,
        # divided back by the original gain
        c, block, amp = blocks[0]
        effective = q.astype(np.float64) * block.gain / gains[0]
        entry = error_stats(self.original.get(w, weight), effective, 8, exp)
        entry["loihi"] = loihi
        return {w: {"weight": entry}}

"""The neuron catalogue: one op class per neuron model, declaring everything about it once.

A neuron op computes ``J = gain * x + bias`` from its input and outputs ``amplitude * f(J)``
(a rate, or spikes of height ``amplitude / dt``), as nengo's neuron types do. Each class
declares, in one place:

============== =================================================================================
``option``     its name in ``lower-activations{neuron=...}`` and ``--neuron``
``summary``    one line for help texts
``spiking``    emits spikes (dtype ``spike``) or rates (``f32``)
``relu_exact`` its rate-mode output is exactly ``amplitude * max(J, 0)`` (a ReLU lowers to it
               with no change, and rate scaling through it is exact)
``targets``    the targets that run it (others refuse it, naming this catalogue)
``lowering``   fields the lowering pass fills from its options of the same name (``tau_rc``)
``state``      per-neuron state arrays of the spiking step, all starting at 0 (at rest)
``rate``       the rate-mode function (what the interpreter evaluates and ``normalize-rates``
               scales with; nengo-loihi's formulas for the Loihi neurons)
``max_rate``   the highest rate it can reach at a given ``dt`` (None: unbounded)
``step``       the spiking step in NumPy; ``step_loop``: the same maths as an element loop that
               :mod:`snnc.sim` compiles with numba (plain Python here: ``ir`` imports no numba)
``const_loop`` optional: ``step_loop`` over the ``T`` steps of a window for an input that does
               not change (``out``: ``(T, B, n)``), with the same operations as ``T`` calls
               (the simulator uses it for windows of several steps)
``nengo``      the nengo neuron type it emits (source text) and the module that defines it
============== =================================================================================

Lowering, rate normalization, the interpreter, the simulator, the emitters, help texts and
target refusals all read these fields. A new neuron is one file that defines a subclass with
``@register_neuron`` (load it like a custom pass: ``--load-pass FILE`` or the ``snnc.passes``
entry points).

Step functions advance ``n`` neurons of ``B`` samples one step in place::

    step(x, gain, bias, out, *state, *params)   # x, out, state: (B, n); gain, bias: (n,)

``params`` is :meth:`NeuronOp.step_params` ``(dt)``. ``out`` receives ``amplitude / dt`` per
spike. A ``const_loop`` has the signature of ``step_loop`` with ``out`` of shape ``(T, B, n)``;
it may hoist what the steps share but must round exactly as ``T`` steps do (its state is
stored in its arrays' dtype after every step, like theirs). The NumPy steps transcribe
nengo's (``nengo/neurons.py`` 3.2, ``nengo_loihi/neurons.py`` 1.1) operation by operation in
float64, so they round exactly as nengo does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from snnc.ir.ops import Op, OpError, _check_broadcast, _one, register_op
from snnc.ir.traits import Neuron, ReLUExact, Spiking
from snnc.ir.types import F32, SPIKE, DType, Spike, TensorType

#: lowering option name -> neuron op class (filled by :func:`register_neuron`)
NEURONS: dict[str, type[NeuronOp]] = {}


def register_neuron(cls):
    """Class decorator: register a neuron op (as an op, and in :data:`NEURONS` under its
    ``option``); adds the ``Neuron``/``Spiking``/``ReLUExact`` traits its fields imply."""
    if not cls.option:
        raise ValueError(f"neuron {cls.__name__} declares no lowering 'option'")
    if cls.option in NEURONS:
        raise ValueError(f"neuron option {cls.option!r} registered twice")
    traits = set(cls.traits) | {Neuron}
    if cls.spiking:
        traits.add(Spiking)
    if cls.relu_exact:
        traits.add(ReLUExact)
    cls.traits = frozenset(traits)
    if cls.spiking and (cls.step is None or cls.step_loop is None):
        raise ValueError(f"spiking neuron {cls.__name__} needs 'step' and 'step_loop'")
    cls = register_op(cls)
    NEURONS[cls.option] = cls
    return cls


def neuron_options() -> list[str]:
    """The lowering names of every registered neuron."""
    return list(NEURONS)


def get_neuron(option: str) -> type[NeuronOp]:
    """The neuron class called ``option``; ValueError lists the known ones."""
    try:
        return NEURONS[option]
    except KeyError:
        raise ValueError(
            f"unknown neuron '{option}' (expected one of {', '.join(NEURONS)})"
        ) from None


@dataclass(frozen=True, eq=False)
class NeuronOp(Op):
    """Base of all neuron ops (see the module docstring for the declared fields)."""

    params: ClassVar[tuple[str, ...]] = ("gain", "bias")
    traits: ClassVar[frozenset] = frozenset({Neuron})
    option: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    spiking: ClassVar[bool] = True
    relu_exact: ClassVar[bool] = False
    targets: ClassVar[tuple[str, ...]] = ("nengo", "nengo-dl")
    lowering: ClassVar[tuple[str, ...]] = ()
    state: ClassVar[tuple[str, ...]] = ()
    nengo_module: ClassVar[str] = "nengo"
    #: Python source of extra definitions the emitted network needs (a custom nengo neuron
    #: type class); codegen pastes it into the generated module. Trusted snnc text only.
    nengo_source: ClassVar[str] = ""
    step: ClassVar[Any] = None
    step_loop: ClassVar[Any] = None
    const_loop: ClassVar[Any] = None

    gain: Any = 1.0
    bias: Any = 0.0
    amplitude: float = 1.0

    # ------------------------------------------------------------------ typing
    def infer_type(self, in_types):
        t = _one(in_types)
        _check_broadcast(self, "gain", t.shape)
        _check_broadcast(self, "bias", t.shape)
        if not (isinstance(self.amplitude, float | int) and math.isfinite(self.amplitude)):
            raise OpError(f"amplitude {num(self.amplitude)} must be a finite number")
        if self.amplitude <= 0:
            raise OpError(f"amplitude {self.amplitude} must be > 0")
        self.check()
        return TensorType(t.shape, self.out_dtype())

    def check(self) -> None:
        """Raise OpError on bad neuron-specific fields (subclasses extend)."""

    def out_dtype(self) -> DType:
        """``spike`` for spiking neurons, ``f32`` for rate neurons."""
        return SPIKE if self.spiking else F32

    # ------------------------------------------------------------------ semantics
    def current(self, x: np.ndarray) -> np.ndarray:
        """``J = gain * x + bias`` in float64."""
        return np.asarray(self.gain, np.float64) * x + np.asarray(self.bias, np.float64)

    def rate(self, j: np.ndarray, dt: float) -> np.ndarray:
        """Steady-state output per unit amplitude for input current ``j`` (float64)."""
        raise NotImplementedError

    def output(self, x: np.ndarray, dt: float) -> np.ndarray:
        """Rate-mode output ``amplitude * rate(gain * x + bias)``: the interpreter's kernel."""
        return self.amplitude * self.rate(self.current(x), dt)

    def max_rate(self, dt: float) -> float | None:
        """The highest ``rate`` this neuron reaches at ``dt`` (None: unbounded)."""
        return None

    def full_rate(self, dt: float) -> float | None:
        """The rate ``normalize-rates{rate=max}`` maps a layer's percentile to: by default
        :meth:`max_rate` (None: unbounded, and the pass takes one spike per step)."""
        return self.max_rate(dt)

    def current_for(self, rate: float, dt: float) -> float:
        """The input current ``J`` at which this neuron fires at ``rate`` (Hz), which
        ``normalize-rates`` maps a layer's percentile to. By default ``rate`` itself: exact
        for the neurons whose rate is ``J`` up to their maximum (``if``, ``graded-if``), and
        the approximation a ReLU-like neuron makes otherwise."""
        return rate

    def step_params(self, dt: float) -> tuple:
        """The floats passed to the step functions after the state arrays."""
        return (dt, self.amplitude)

    def initial_state(self) -> dict[str, float]:
        """The value every state array starts from (default: 0, at rest)."""
        return {name: 0.0 for name in self.state}

    def nengo(self) -> str:
        """Source text of the nengo neuron type this op emits (numbers only, no names)."""
        raise NotImplementedError


def num(x: float) -> str:
    """A float as Python source that evaluates back to it (``float("-inf")`` for infinities,
    which ``repr`` would print as a bare name)."""
    x = float(x)
    return repr(x) if math.isfinite(x) else f'float("{x!r}")'


#: spiking types start at rest (voltage 0) as in the IR semantics, snnc.sim and Loihi,
#: not at nengo's random initial voltage
AT_REST = 'initial_state={"voltage": nengo.dists.Choice([0.0])}'


# =============================================================================== rectified linear


def _relu_rate(self, j, dt):
    return np.maximum(j, 0.0)


@register_neuron
class RateReLU(NeuronOp):
    """Non-spiking rectified linear (nengo ``RectifiedLinear``): ``amplitude * max(J, 0)``."""

    kind: ClassVar[str] = "snn.rate_relu"
    option: ClassVar[str] = "rate-relu"
    summary: ClassVar[str] = "nengo RectifiedLinear (non-spiking, exact ReLU)"
    spiking: ClassVar[bool] = False
    relu_exact: ClassVar[bool] = True
    rate = _relu_rate

    def nengo(self):
        return f"nengo.RectifiedLinear(amplitude={num(self.amplitude)})"


def if_step(x, gain, bias, out, voltage, dt, amplitude):
    """nengo ``SpikingRectifiedLinear``: several spikes per step, subtractive reset."""
    j = gain * x + bias
    v = voltage + np.maximum(j, 0) * dt
    n_spikes = np.floor(v)
    out[...] = (amplitude / dt) * n_spikes
    voltage[...] = v - n_spikes


def if_step_loop(x, gain, bias, out, voltage, dt, amplitude):
    scale = amplitude / dt
    for b in range(x.shape[0]):
        for i in range(x.shape[1]):
            j = gain[i] * x[b, i] + bias[i]
            v = voltage[b, i] + max(j, 0.0) * dt
            n_spikes = np.floor(v)
            out[b, i] = scale * n_spikes
            voltage[b, i] = v - n_spikes


#: neurons per block of ``if_const_loop``: a block's voltages and drives stay in L1/L2 over
#: the window's steps, and each step writes the block's outputs contiguously
_CONST_BLOCK = 4096


def if_const_loop(x, gain, bias, out, voltage, dt, amplitude):
    # the drive max(J, 0) dt is the same every step, so it is computed once per neuron; the
    # voltage goes through a buffer of voltage's dtype, rounded as the per-step state is
    scale = amplitude / dt
    n = x.shape[1]
    drive = np.empty(min(n, _CONST_BLOCK))
    v = np.empty(min(n, _CONST_BLOCK), voltage.dtype)
    for b in range(x.shape[0]):
        for i0 in range(0, n, _CONST_BLOCK):
            m = min(_CONST_BLOCK, n - i0)
            for j in range(m):
                drive[j] = max(gain[i0 + j] * x[b, i0 + j] + bias[i0 + j], 0.0) * dt
                v[j] = voltage[b, i0 + j]
            for t in range(out.shape[0]):
                o = out[t, b, i0 : i0 + m]
                for j in range(m):
                    vj = v[j] + drive[j]
                    n_spikes = np.floor(vj)
                    o[j] = scale * n_spikes
                    v[j] = vj - n_spikes
            voltage[b, i0 : i0 + m] = v[:m]


@register_neuron
class IF(NeuronOp):
    """Integrate-and-fire with subtractive reset (nengo ``SpikingRectifiedLinear``).

    Each step ``v += max(J, 0) * dt``; ``n = floor(v)`` spikes of height ``amplitude / dt``
    are emitted and ``v -= n``. Its rate is ``amplitude * max(J, 0)``.
    """

    kind: ClassVar[str] = "snn.if"
    option: ClassVar[str] = "if"
    summary: ClassVar[str] = "integrate-and-fire, subtractive reset (nengo SpikingRectifiedLinear)"
    relu_exact: ClassVar[bool] = True
    lowering: ClassVar[tuple[str, ...]] = ("v_init",)
    state: ClassVar[tuple[str, ...]] = ("voltage",)
    quiet_fields: ClassVar[tuple[str, ...]] = ("v_init",)
    step = staticmethod(if_step)
    step_loop = staticmethod(if_step_loop)
    const_loop = staticmethod(if_const_loop)
    rate = _relu_rate
    #: initial membrane voltage as a fraction of the threshold (0.5: half-threshold start,
    #: which centres the rounding error of the spike count; Rueckauer et al. 2017)
    v_init: float = 0.0

    def check(self):
        if not (isinstance(self.v_init, float | int) and 0.0 <= self.v_init < 1.0):
            raise OpError(f"v_init {self.v_init!r} must be in [0, 1) (a fraction of the threshold)")

    def initial_state(self):
        return {"voltage": float(self.v_init)}

    def nengo(self):
        init = f'initial_state={{"voltage": nengo.dists.Choice([{num(self.v_init)}])}}'
        return f"nengo.SpikingRectifiedLinear(amplitude={num(self.amplitude)}, {init})"


def loihi_if_step(x, gain, bias, out, voltage, dt, amplitude):
    """nengo-loihi ``LoihiSpikingRectifiedLinear``: at most one spike per step (strict
    threshold), reset to zero, negative voltages clipped to zero."""
    j = gain * x + bias
    v = voltage + j * dt
    spiked = v > 1
    out[...] = spiked * (amplitude / dt)
    v[v < 0] = 0
    v[spiked] = 0
    voltage[...] = v


def loihi_if_step_loop(x, gain, bias, out, voltage, dt, amplitude):
    scale = amplitude / dt
    for b in range(x.shape[0]):
        for i in range(x.shape[1]):
            j = gain[i] * x[b, i] + bias[i]
            v = voltage[b, i] + j * dt
            if v > 1:
                out[b, i] = scale
                v = 0.0
            else:
                out[b, i] = 0.0
                if v < 0:
                    v = 0.0
            voltage[b, i] = v


@register_neuron
class LoihiIF(NeuronOp):
    """Loihi's spiking rectified linear (nengo-loihi ``LoihiSpikingRectifiedLinear``).

    Its rate is nengo-loihi's: ``(1/dt) / ceil(period/dt)`` with ``period = 1/J``: at most
    one spike per step, and rates quantized to ``1/(k dt)``. Not ReLU-exact.
    """

    kind: ClassVar[str] = "snn.loihi_if"
    option: ClassVar[str] = "loihi-if"
    summary: ClassVar[str] = "Loihi integrate-and-fire, <= 1 spike/step (nengo-loihi)"
    targets: ClassVar[tuple[str, ...]] = ("nengo", "nengo-dl", "loihi")
    state: ClassVar[tuple[str, ...]] = ("voltage",)
    nengo_module: ClassVar[str] = "nengo_loihi"
    step = staticmethod(loihi_if_step)
    step_loop = staticmethod(loihi_if_step_loop)

    def rate(self, j, dt):
        # nengo_loihi.neurons.loihi_spikingrectifiedlinear_rates
        out = np.zeros_like(j, dtype=np.float64)
        pos = j > 0
        period = 1.0 / j[pos]
        out[pos] = (1.0 / dt) / np.ceil(period / dt)
        return out

    def max_rate(self, dt):
        return 1.0 / dt

    def nengo(self):
        return f"nengo_loihi.neurons.LoihiSpikingRectifiedLinear(amplitude={num(self.amplitude)})"


def graded_if_step(x, gain, bias, out, voltage, dt, amplitude, max_spikes, signed):
    """Graded integrate-and-fire: ``n = clip(floor(v), 0, max_spikes)`` spikes per step,
    subtractive reset (the voltage keeps what was not emitted). ``signed`` (1.0): the voltage
    integrates ``J`` with its sign (``iaf``); 0.0: only ``max(J, 0)`` (``graded-if``)."""
    j = gain * x + bias
    v = voltage + (j if signed else np.maximum(j, 0)) * dt
    n_spikes = np.clip(np.floor(v), 0, max_spikes)
    out[...] = (amplitude / dt) * n_spikes
    voltage[...] = v - n_spikes


def graded_if_step_loop(x, gain, bias, out, voltage, dt, amplitude, max_spikes, signed):
    scale = amplitude / dt
    for b in range(x.shape[0]):
        for i in range(x.shape[1]):
            j = gain[i] * x[b, i] + bias[i]
            v = voltage[b, i] + (j if signed else max(j, 0.0)) * dt
            n_spikes = min(max(np.floor(v), 0.0), max_spikes)
            out[b, i] = scale * n_spikes
            voltage[b, i] = v - n_spikes


_GRADED_IF_SOURCE = '''
class GradedIF(nengo.neurons.NeuronType):
    """k-bit integrate-and-fire (snnc ``snn.graded_if``): at most 2**bits - 1 spikes per step,
    subtractive reset."""

    state = {"voltage": nengo.dists.Choice([0.0])}
    spiking = True
    bits = nengo.params.IntParam("bits", low=1)
    amplitude = nengo.params.NumberParam("amplitude", low=0, low_open=True)

    def __init__(self, bits=1, amplitude=1.0, initial_state=None):
        super().__init__(initial_state=initial_state)
        self.bits = bits
        self.amplitude = amplitude

    def rates(self, x, gain, bias, dt=0.001):
        j = self.current(x, gain, bias)
        return self.amplitude * np.clip(j, 0, (2**self.bits - 1) / dt)

    def step(self, dt, J, output, voltage):
        voltage += np.maximum(J, 0) * dt
        n_spikes = np.minimum(np.floor(voltage), 2**self.bits - 1)
        output[...] = (self.amplitude / dt) * n_spikes
        voltage -= n_spikes
'''


@register_neuron
class GradedIF(NeuronOp):
    """k-bit integrate-and-fire: graded spikes, ``0 .. 2**bits - 1`` per step.

    The gradient between rates and spikes: ``bits=1`` is binary spiking (at most one spike a
    step), large ``bits`` approaches the rate network. Its rate is
    ``amplitude * min(max(J, 0), (2**bits - 1) / dt)``: ReLU-exact below the saturation, which
    ``normalize-rates`` keeps the calibration percentile under (``max_rate``). Output dtype
    ``spike<bits>``.
    """

    kind: ClassVar[str] = "snn.graded_if"
    option: ClassVar[str] = "graded-if"
    summary: ClassVar[str] = "k-bit integrate-and-fire: 0..2**bits-1 spikes/step (bits option)"
    lowering: ClassVar[tuple[str, ...]] = ("bits", "v_init")
    state: ClassVar[tuple[str, ...]] = ("voltage",)
    quiet_fields: ClassVar[tuple[str, ...]] = ("v_init",)
    nengo_source: ClassVar[str] = _GRADED_IF_SOURCE
    step = staticmethod(graded_if_step)
    step_loop = staticmethod(graded_if_step_loop)
    bits: int = 1
    v_init: float = 0.0

    def check(self):
        if not (isinstance(self.bits, int) and not isinstance(self.bits, bool) and 1 <= self.bits <= 16):
            raise OpError(f"bits {self.bits!r} must be an int in 1..16")
        if not (isinstance(self.v_init, float | int) and 0.0 <= self.v_init < 1.0):
            raise OpError(f"v_init {self.v_init!r} must be in [0, 1) (a fraction of the threshold)")

    def out_dtype(self):
        return Spike(self.bits)

    def rate(self, j, dt):
        return np.clip(j, 0.0, (2**self.bits - 1) / dt)

    def max_rate(self, dt):
        return (2**self.bits - 1) / dt

    #: the voltage integrates J with its sign (``iaf``) or only its positive part
    signed: ClassVar[bool] = False

    def step_params(self, dt):
        return (dt, self.amplitude, float(2**self.bits - 1), float(self.signed))

    def initial_state(self):
        return {"voltage": float(self.v_init)}

    def nengo(self):
        init = f'initial_state={{"voltage": nengo.dists.Choice([{num(self.v_init)}])}}'
        return f"GradedIF(bits={self.bits!r}, amplitude={num(self.amplitude)}, {init})"


_IAF_SOURCE = _GRADED_IF_SOURCE.replace("class GradedIF(", "class SignedIAF(").replace(
    "k-bit integrate-and-fire (snnc ``snn.graded_if``)", "signed integrate-and-fire (snnc ``snn.iaf``)"
).replace(
    """        voltage += np.maximum(J, 0) * dt
        n_spikes = np.minimum(np.floor(voltage), 2**self.bits - 1)""",
    """        voltage += J * dt
        n_spikes = np.clip(np.floor(voltage), 0, 2**self.bits - 1)""",
)


@register_neuron
class IAF(GradedIF):
    """Signed integrate-and-fire, the neuron of the ANN-to-SNN conversion literature (sinabs
    ``IAF``, Rueckauer et al. 2017): the voltage integrates the input current *with its sign*,
    so a layer fed by spikes whose mean current is negative stays silent (nengo's IF drops
    each step's negative current and fires anyway); ``0 .. 2**bits - 1`` spikes per step
    (``bits=1``: binary), subtractive reset. Steady-state rate as ``graded-if``:
    ``amplitude * min(max(J, 0), (2**bits - 1) / dt)``.
    """

    kind: ClassVar[str] = "snn.iaf"
    option: ClassVar[str] = "iaf"
    summary: ClassVar[str] = "signed integrate-and-fire, 0..2**bits-1 spikes/step (sinabs IAF)"
    nengo_source: ClassVar[str] = _IAF_SOURCE
    signed: ClassVar[bool] = True

    def nengo(self):
        return super().nengo().replace("GradedIF(", "SignedIAF(", 1)


# =============================================================================== Loihi hardware

# Loihi's fixed-point ranges, as nengo-loihi 1.1 discretizes them (builder/discretize.py,
# block.py): shared by the quantize pass's Loihi mode and the simulator's Loihi mode, which
# both mirror nengo-loihi's arithmetic.
VTH_MAN_MAX = 2**17 - 1  # threshold mantissa
VTH_EXP = 6
VTH_MAX = VTH_MAN_MAX * 2**VTH_EXP
BIAS_MAN_MAX = 2**12 - 1  # bias mantissa
BIAS_EXP_MAX = 2**3 - 1
BIAS_MAX = BIAS_MAN_MAX * 2**BIAS_EXP_MAX
Q_BITS = 21  # synapse accumulator
U_BITS = 23  # compartment input
MAX_DECAY = 2**12 - 1
DECAY_SCALE_TH = 0.5 / 2**12


def decay_magnitude(decay, x0=2**21, bits=12, offset=0):
    """nengo-loihi's estimate of the sum of the rounded integer decays of ``x0``
    (``discretize.py``): the quantize pass and the simulator's Loihi mode scale inputs by it
    so that a filtered spike integrates to the same total."""
    q = 0.494
    r = (2**bits - offset - np.asarray(decay)) / 2**bits
    n = -(np.log1p(x0 * (1 - r) / q)) / np.log(r)
    principal_sum = (1 - r ** (n + 1)) / (1 - r)
    loss_sum = q / ((1 - r) * x0) * (n + 1 - (1 - r ** (n + 1)) / (1 - r))
    return principal_sum - loss_sum


# =============================================================================== LIF family


def loihi_tau_rc(tau_rc: float, dt: float) -> float:
    """nengo-loihi's ``discretize_tau_rc``: the decay Loihi can represent (12 bits)."""
    decay_rc = -np.expm1(-dt / tau_rc)
    decay_rc = np.round(decay_rc * (2**12 - 1)) / (2**12 - 1)
    return float(-dt / np.log1p(-decay_rc))


def loihi_tau_ref(tau_ref: float, dt: float) -> float:
    """nengo-loihi's ``discretize_tau_ref``: a whole number of steps."""
    return float(dt * np.round(tau_ref / dt))


def lif_step(
    x, gain, bias, out, voltage, refractory_time, dt, amplitude, tau_rc, tau_ref, min_voltage,
    interpolate,
):
    """nengo ``LIF`` (``interpolate``: the refractory period starts at the spike time within
    the step) and nengo-loihi ``LoihiLIF`` (discretised constants, counted from the step's
    end): exact RC integration, refractory period, reset to zero."""
    j = gain * x + bias
    rt = refractory_time.astype(np.float64, copy=False) - dt
    # a refractory period ending mid-step leaves a partial step to integrate
    delta_t = np.clip(dt - rt, 0, dt)
    v = voltage - (j - voltage) * np.expm1(-delta_t / tau_rc)
    spiked = v > 1
    out[...] = spiked * (amplitude / dt)
    if interpolate:
        # v crossed 1 within the step (J constant over the step): find when
        t_spike = dt + tau_rc * np.log1p(-(v[spiked] - 1) / (j[spiked] - 1))
    else:
        t_spike = dt
    v[v < min_voltage] = min_voltage
    v[spiked] = 0
    rt[spiked] = tau_ref + t_spike
    voltage[...] = v
    refractory_time[...] = rt


def lif_step_loop(
    x, gain, bias, out, voltage, refractory_time, dt, amplitude, tau_rc, tau_ref, min_voltage,
    interpolate,
):
    scale = amplitude / dt
    # most steps are whole (delta_t == dt): one expm1 for them all, the very same number
    full_step = math.expm1(-dt / tau_rc)
    for b in range(x.shape[0]):
        for i in range(x.shape[1]):
            j = gain[i] * x[b, i] + bias[i]
            rt = refractory_time[b, i] - dt
            delta_t = min(max(dt - rt, 0.0), dt)
            v = v0 = voltage[b, i]
            if delta_t == dt:
                v = v0 - (j - v0) * full_step
            elif delta_t > 0:
                v = v0 - (j - v0) * math.expm1(-delta_t / tau_rc)
            # else refractory all step: nengo's v - (J - v) * expm1(-0) is v exactly
            if v > 1:
                out[b, i] = scale
                t_spike = dt + tau_rc * math.log1p(-(v - 1) / (j - 1)) if interpolate else dt
                rt = tau_ref + t_spike
                v = 0.0
            else:
                out[b, i] = 0.0
                if v < min_voltage:
                    v = min_voltage
            voltage[b, i] = v
            refractory_time[b, i] = rt


def lif_rate(j, tau_rc, tau_ref):
    """nengo ``LIFRate.rates`` per unit amplitude: ``1 / (tau_ref + tau_rc log1p(1/(J-1))``."""
    j = j - 1.0
    out = np.zeros_like(j, dtype=np.float64)
    pos = j > 0
    out[pos] = 1.0 / (tau_ref + tau_rc * np.log1p(1.0 / j[pos]))
    return out


@dataclass(frozen=True, eq=False)
class _LIFBase(NeuronOp):
    """Shared fields of the LIF family: membrane and refractory time constants (s)."""

    lowering: ClassVar[tuple[str, ...]] = ("tau_rc", "tau_ref")
    tau_rc: float = 0.02
    tau_ref: float = 0.002

    def check(self):
        if not (self.tau_rc > 0 and self.tau_ref >= 0):
            raise OpError(f"tau_rc {self.tau_rc} must be > 0 and tau_ref {self.tau_ref} >= 0")

    def rate(self, j, dt):
        return lif_rate(j, self.tau_rc, self.tau_ref)

    def max_rate(self, dt):
        return 1.0 / self.tau_ref if self.tau_ref > 0 else None

    def time_constants(self, dt: float) -> tuple[float, float]:
        """``(tau_rc, tau_ref)`` as the neuron runs them at ``dt``."""
        return self.tau_rc, self.tau_ref

    def full_rate(self, dt):
        # LIF only approaches 1/tau_ref, as its current grows without bound: the percentile
        # goes to the knee of its curve, 1/(2 tau_ref), where a spike's interval is half
        # refractory period and half integration; above it the curve flattens, and mapping
        # to the maximum itself squeezed every strong input to about the same rate (digits
        # CNN: 60% against 96% at 100 steps, README)
        tau_ref = self.time_constants(dt)[1]
        return 0.5 / tau_ref if tau_ref > 0 else None

    def current_for(self, rate, dt):
        # the inverse of 1 / (tau_ref + tau_rc log1p(1 / (J - 1))); a rate the curve never
        # reaches (at or above 1/tau_ref) keeps J = rate
        tau_rc, tau_ref = self.time_constants(dt)
        if rate <= 0 or 1.0 / rate <= tau_ref:
            return rate
        x = (1.0 / rate - tau_ref) / tau_rc
        # 1 / expm1(x) = exp(-x) to double precision from x = 37 on (expm1 overflows at 710)
        return 1.0 + (1.0 / math.expm1(x) if x < 37 else math.exp(-x))

    def _lif_args(self) -> str:
        return f"tau_rc={num(self.tau_rc)}, tau_ref={num(self.tau_ref)}"


@register_neuron
class LIF(_LIFBase):
    """Leaky integrate-and-fire (nengo ``LIF``)."""

    kind: ClassVar[str] = "snn.lif"
    option: ClassVar[str] = "lif"
    summary: ClassVar[str] = "leaky integrate-and-fire (nengo LIF; not ReLU-exact)"
    state: ClassVar[tuple[str, ...]] = ("voltage", "refractory_time")
    step = staticmethod(lif_step)
    step_loop = staticmethod(lif_step_loop)
    min_voltage: float = 0.0

    def step_params(self, dt):
        # the refractory period starts at the spike time interpolated within the step
        return (dt, self.amplitude, self.tau_rc, self.tau_ref, self.min_voltage, True)

    def nengo(self):
        return (
            f"nengo.LIF({self._lif_args()}, min_voltage={num(self.min_voltage)}, "
            f"amplitude={num(self.amplitude)}, {AT_REST})"
        )


@register_neuron
class LIFRate(_LIFBase):
    """Rate version of LIF (nengo ``LIFRate``)."""

    kind: ClassVar[str] = "snn.lif_rate"
    option: ClassVar[str] = "lif-rate"
    summary: ClassVar[str] = "nengo LIFRate (non-spiking LIF curve)"
    spiking: ClassVar[bool] = False

    def nengo(self):
        return f"nengo.LIFRate({self._lif_args()}, amplitude={num(self.amplitude)})"


@register_neuron
class LoihiLIF(_LIFBase):
    """Loihi's LIF (nengo-loihi ``LoihiLIF``: discretised refractory period and decay).

    Its rate is nengo-loihi's ``loihi_lif_rates``: ``(1/dt) / ceil(period/dt)`` with the
    discretised time constants.
    """

    kind: ClassVar[str] = "snn.loihi_lif"
    option: ClassVar[str] = "loihi-lif"
    summary: ClassVar[str] = "Loihi LIF, discretised constants (nengo-loihi)"
    targets: ClassVar[tuple[str, ...]] = ("nengo", "nengo-dl", "loihi")
    state: ClassVar[tuple[str, ...]] = ("voltage", "refractory_time")
    nengo_module: ClassVar[str] = "nengo_loihi"
    step = staticmethod(lif_step)
    step_loop = staticmethod(lif_step_loop)

    def time_constants(self, dt):
        return loihi_tau_rc(self.tau_rc, dt), loihi_tau_ref(self.tau_ref, dt)

    def rate(self, j, dt):
        # nengo_loihi.neurons.loihi_lif_rates
        tau_rc, tau_ref = self.time_constants(dt)
        jm = j - 1.0
        out = np.zeros_like(jm, dtype=np.float64)
        pos = jm > 0
        period = tau_ref + tau_rc * np.log1p(1.0 / jm[pos])
        out[pos] = (1.0 / dt) / np.ceil(period / dt)
        return out

    def max_rate(self, dt):
        return 1.0 / dt

    def step_params(self, dt):
        # discretised time constants, refractory period counted from the step's end
        return (dt, self.amplitude, *self.time_constants(dt), 0.0, False)

    def nengo(self):
        return f"nengo_loihi.neurons.LoihiLIF({self._lif_args()}, amplitude={num(self.amplitude)})"

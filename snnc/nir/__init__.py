r"""NIR interop: write snnc graphs as NIR (the Neuromorphic Intermediate Representation,
``nir`` 1.0) and read NIR graphs as snnc graphs.

::

    import snnc, snnc.nir
    g = snnc.optimize("model.keras", "canonicalize,fold-batchnorm,lower-activations{neuron=lif},"
                      "fuse-bias,normalize-rates", calibration=x)
    snnc.nir.export_graph(g, "model.nir", approximate="voltage-floor,refractory")
    ng = snnc.nir.to_nir(g, approximate="all")   # a nir.NIRGraph, types checked by nir
    g2 = snnc.nir.from_nir("model.nir", approximate="all")   # == g (structurally)
    y = snnc.simulate(g2, x, steps=50)

Continuous time and dt
======================

NIR describes networks in continuous time; snnc (like nengo) steps them with a fixed ``dt``.
snnc's value types are read as signals:

- a real value ``x`` (f32) is a signal ``x(t)``, held constant over each step;
- a spike train is a sum of impulses: a neuron that emits ``n`` spikes in a step outputs
  ``n * amplitude / dt`` for that step, so each spike carries area ``amplitude``: the
  impulse ``amplitude * delta(t - t_k)``. NIR's neurons emit unit impulses ``delta(t - t_k)``,
  hence a ``Scale(amplitude)`` after every snnc neuron with ``amplitude != 1``.

Neurons (snnc: ``J = gain * x + bias``, threshold 1, state starts at 0). Per step ``dt``:

=========================  =======================================  ==============================
snnc                       discrete update (dt)                     continuous (NIR)
=========================  =======================================  ==============================
``snn.if``                 ``v += max(J, 0) dt``; ``n = floor(v)``  ``dv/dt = R I`` (NIR ``IF``),
                           spikes, ``v -= n`` (subtractive reset)   spike at ``v = 1``, ``v = 0``
``snn.lif`` (nengo LIF)    ``v -= (J - v) expm1(-dt/tau_rc)``,      ``tau dv/dt = v_leak - v + R I``
                           spike at ``v > 1``, ``v = 0``, refractory (NIR ``LIF``), ``v = v_reset``
                           ``tau_ref``, ``v >= min_voltage``
lowpass synapse ``tau``    ``y += (1 - e^{-dt/tau}) (x - y)``       ``tau dv/dt = -v + R I``
                           (after the step: one step of delay)      (NIR ``LI``, ``R = 1``)
=========================  =======================================  ==============================

so ``R = gain``, ``v_threshold = 1``, ``v_reset = 0``, ``tau = tau_rc`` and the LIF's
``v_leak = bias``; NIR's ``IF`` has no leak, so an IF's bias becomes an input offset:
``R (x + bias / gain)``, folded into the bias of the dense / conv node feeding it (or a bias
node ``<neuron>.bias``: ``Affine(I, b)`` on vectors, a 1x1 identity ``Conv`` on images).
The discrete updates
converge to the continuous ones as ``dt -> 0``. Subtracting the threshold and resetting to 0
coincide in continuous time (the voltage never overshoots the threshold there), several
spikes in one step are spikes close together, the synapse's one-step delay vanishes,
and nengo-loihi's discretised constants and one-spike-per-step limit of ``snn.loihi_if`` /
``snn.loihi_lif`` are properties of the discretisation; they export as ``IF`` / ``LIF`` with
the declared constants. Importing reads NIR's parameters back the same way, scaling a
threshold ``theta != 1`` out (``gain = R / theta``, ``bias = v_leak / theta``).

What differs in continuous time too is named, and refused unless allowed
(``approximate=``, CLI ``--approximate``; :data:`APPROXIMATIONS`):

- ``rectified-current``: snnc's IF integrates ``max(J, 0)``; NIR's IF integrates ``J``, so
  inhibition lowers its voltage below 0 and delays later spikes. Needed by every ``snn.if``
  export and every NIR ``IF`` import.
- ``voltage-floor``: snnc's LIF clips ``v`` at ``min_voltage`` (0 by default; ``-inf`` has no
  floor and is what a NIR ``LIF`` imports as), the Loihi neurons at 0.
- ``refractory``: nengo's LIF is silent for ``tau_ref`` after a spike; NIR's LIF never is.
- ``initial-voltage``: snnc's IF may start at ``v_init`` (a fraction of the threshold); NIR
  has no initial state (its neurons start at rest).

Mapping
=======

==============================  =============================================================
snnc op                         NIR
==============================  =============================================================
``nn.input`` / ``nn.output``    ``Input`` / ``Output``; images ``[H, W, C]`` are ``[C, H, W]``;
                                a flattened image reaching an output gets a permutation
                                ``Linear`` (``<output>.order``) back to snnc's element order
``nn.dense``                    ``Affine`` (bias) / ``Linear`` (none); weight ``W.T``, columns
                                permuted when the input was flattened from an image
``nn.conv1d`` / ``nn.conv2d``   ``Conv1d`` / ``Conv2d`` (weight ``[out, in, *k]``); symmetric
                                padding as ints, TensorFlow's asymmetric "same" as ``"same"``
                                at stride 1, other asymmetric padding refused. Grouped
                                convolutions are written ungrouped (block-diagonal weight):
                                nir 1.0's type check takes ``weight.shape[1]`` as the input
                                channel count, so only ``groups=1`` passes it
``nn.depthwise_conv2d``         ``Conv2d``, the ``groups = C_in`` convolution written ungrouped
``nn.avg_pool`` (2-D)           ``AvgPool2d`` unpadded; padded: ``SumPool2d`` + ``Scale`` by
                                1/(real cells per window) (``<node>.count``), as TensorFlow
``nn.global_avg_pool`` (2-D)    ``AvgPool2d`` over the image (+ ``Flatten``)
``nn.flatten``                  ``Flatten(start_dim=0)``; the [C, H, W] vs [H, W, C] element
                                order is absorbed by the next dense layer's weights
``nn.add``                      ``Scale(1)`` summing its input edges; coefficients ``!= 1``
                                as ``Scale`` nodes (``<node>.coeff<i>``)
``nn.affine`` (per channel)     ``Scale`` (+ bias node for the offset)
``snn.if``, ``snn.loihi_if``    ``IF(r=gain, v_threshold=1, v_reset=0)`` (+ bias, amplitude)
``snn.lif``, ``snn.loihi_lif``  ``LIF(tau=tau_rc, r=gain, v_leak=bias, v_threshold=1,
                                v_reset=0)`` (+ amplitude)
edge synapse ``tau``            ``LI(tau, r=1, v_leak=0)`` (``<source>.lowpass``, shared by
                                the edges leaving one node with one ``tau``)
spike ``amplitude != 1``        ``Scale(amplitude)`` (``<neuron>.amplitude``)
quantized parameters            their exact dequantized values; the bit widths (NIR has no
                                field for them) in the node's ``snnc`` metadata
==============================  =============================================================

Refused (each refused node is named, all at once): max pooling, concat, reshape, transpose,
pad, crop, upsample, 3-D and transposed convolutions, 1-D pooling, dense on non-vectors,
leading (TimeDistributed) axes, rate neurons (``snn.rate_relu``, ``snn.lif_rate``: NIR's
neurons spike), graded k-bit spikes (``snn.graded_if``, ``spike<k>``: NIR's spikes are
single events),
quantizers (``nn.quantize``), ANN activations left in the graph. Import refuses NIR's
``Delay``, ``Threshold``, ``I``, nested graphs, recurrent graphs, per-neuron time
constants, ``v_reset != 0`` and LI / CubaLI with ``v_leak != 0``.

Import also reads ``CubaLIF`` (its current filter becomes a synapse on the LIF's input
edge, ``w_in`` a scaling), ``CubaLI`` (two synapses), NIR's zero-counting padded
``AvgPool2d`` (``nn.pad`` + unpadded average), ``SumPool2d``, grouped convolutions (from
files nir cannot type-check), identity ``Affine`` / 1x1 ``Conv`` nodes as ``nn.affine``
offsets, and numbers inputs and outputs in the NIR graph's node order (NIR names them; a
file lists them alphabetically). How snnc's metadata hints make IR -> NIR -> IR exact is
described in :mod:`snnc.nir.common` and :mod:`snnc.nir.importer`.
"""

from snnc.nir.common import APPROXIMATIONS, NIRExportError, NIRImportError
from snnc.nir.export import export_graph, to_nir
from snnc.nir.importer import from_nir, is_nir_file, read

__all__ = [
    "APPROXIMATIONS",
    "NIRExportError",
    "NIRImportError",
    "export_graph",
    "from_nir",
    "is_nir_file",
    "read",
    "to_nir",
]

"""NIR -> snnc IR: :func:`from_nir` (a ``nir.NIRGraph`` or a file) and :func:`read` (a file,
checked before ``nir`` reads it).

Import runs in two steps:

1. **Translate** the NIR graph by its semantics alone (metadata ignored) into an SNN-stage
   snnc graph: one snnc node per NIR node that computes something, in snnc's layouts.
   ``LI`` nodes become edge synapses, a ``Scale`` after a spiking neuron its ``amplitude``,
   a ``Scale`` on an edge into a sum the sum's coefficient, a node with several incoming edges
   an ``nn.add`` feeding it (NIR sums the edges entering a node), ``SumPool2d`` + the
   ``Scale`` of real-cell counts an average pooling with padding.
2. **Apply snnc's hints** (``metadata["snnc"]``, written by :mod:`snnc.nir.export`): node
   names, op kinds NIR merges (``snn.loihi_if`` -> ``IF``, depthwise -> grouped conv), attrs,
   parameter shapes and the exact biases export folded into neighbours. The result is
   exported again and compared with the NIR graph that was read; only if they agree is it
   returned, else (a tool edited the graph but kept the metadata) the translation of step
   1 is, with a warning.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnc.ir import Graph, neurons, ops
from snnc.ir.ops import OPS
from snnc.nir.common import (
    APPROXIMATIONS,
    HINT_KEY,
    NIRImportError,
    Refuse,
    hint_of,
    hint_str,
    load_attrs,
    neuron_approximations,
    parse_approximations,
)
from snnc.nir.layout import (
    conv_from_nir,
    dense_from_nir,
    flatten_perm,
    from_nir_array,
    is_block_diagonal,
    pool_counts,
    reduce_param,
    regroup,
    snnc_shape,
    ungroup,
)

log = logging.getLogger(__name__)

#: dt of an imported graph when neither the caller nor snnc's hints say (NIR is continuous)
DEFAULT_DT = 0.001


@dataclass(frozen=True)
class _Val:
    """A NIR node's output in the snnc graph: the snnc node holding it and what is pending
    on the way to its users (a synapse, a sum coefficient), plus the element order of a
    vector (NIR index -> snnc index; ``perm_shape`` the image it was flattened from)."""

    node: str
    perm: np.ndarray | None = None
    perm_shape: tuple[int, ...] | None = None
    synapse: float | None = None
    coeff: float | None = None


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _uniform(a: np.ndarray) -> float | None:
    a = np.asarray(a).ravel()
    return float(a[0]) if a.size and np.all(a == a[0]) else None


def _ints(x, n: int) -> tuple[int, ...]:
    a = np.asarray(x).ravel()
    if a.size == 1:
        return (int(a[0]),) * n
    if a.size != n:
        raise Refuse(f"has {a.size} values where {n} are expected ({x!r})")
    return tuple(int(v) for v in a)


def _nir_types():
    """The ``nir`` package, imported on first use (``snnc --help`` imports this module)."""
    import nir

    return nir


class _Translator:
    """Step 1: the NIR graph's semantics as an snnc graph."""

    def __init__(self, ng, allowed: frozenset[str], names: dict[str, str], name: str, dt: float):
        self.ng = ng
        self.allowed = allowed
        self.names = names
        self.reserved = set(names.values())
        self.g = Graph(name, dt)
        self.vals: dict[str, _Val] = {}
        self.preds: dict[str, list[str]] = {k: [] for k in ng.nodes}
        self.succs: dict[str, list[str]] = {k: [] for k in ng.nodes}
        self.neuron_keys: set[str] = set()
        self.skip: set[str] = set()
        self.problems: list[tuple[str, str, str, str | None]] = []
        # NIR names its inputs and outputs; snnc numbers them, in the NIR graph's node order
        # (a NIR file lists nodes alphabetically); snnc's hints restore the exported numbers
        nir = _nir_types()
        self.index = {}
        for cls in (nir.Input, nir.Output):
            keys = [k for k, n in ng.nodes.items() if type(n) is cls]
            self.index.update({k: i for i, k in enumerate(keys)})

    # ------------------------------------------------------------------ plumbing
    def run(self) -> Graph:
        for a, b in self.ng.edges:
            a, b = str(a), str(b)
            for k in (a, b):
                if k not in self.ng.nodes:
                    raise NIRImportError(f"NIR edge ({a!r}, {b!r}) names the unknown node {k!r}")
            self.preds[b].append(a)
            self.succs[a].append(b)
        for key in self._topo_order():
            if key in self.skip:
                continue
            node = self.ng.nodes[key]
            if any(p not in self.vals for p in self.preds[key]):
                continue  # an input was refused: reported already
            try:
                self._translate(key, node, [self.vals[p] for p in self.preds[key]])
            except Refuse as e:
                self.problems.append((key, type(node).__name__, e.reason, e.hint))
        if self.problems:
            lines = [
                f"  - node '{k}' ({t}): {why}" + (f" ({hint})" if hint else "")
                for k, t, why, hint in self.problems
            ]
            wanted = sorted(
                {a for _, _, why, _ in self.problems for a in APPROXIMATIONS if a in why}
            )
            raise NIRImportError(
                f"cannot import {len(self.problems)} NIR node(s):\n" + "\n".join(lines),
                hint=(
                    f"allow the approximation(s) with approximate={wanted!r} "
                    f"(--approximate {','.join(wanted)}); "
                    if wanted
                    else ""
                )
                + "see `snnc.nir` for the NIR primitives snnc reads",
            )
        self.g.remove_dead()
        return self.g

    def _topo_order(self) -> list[str]:
        order, indeg = [], {k: len(v) for k, v in self.preds.items()}
        ready = [k for k in self.ng.nodes if indeg[k] == 0]
        while ready:
            k = ready.pop(0)
            order.append(k)
            for s in self.succs[k]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    ready.append(s)
        if len(order) != len(self.ng.nodes):
            cyc = sorted(k for k in self.ng.nodes if indeg[k] > 0)
            raise NIRImportError(
                f"the NIR graph is recurrent (nodes on or after a cycle: {', '.join(cyc)}); snnc "
                "graphs are feed-forward",
                hint="only feed-forward NIR graphs can be imported",
            )
        return order

    def _fresh(self, base: str) -> str:
        """An unused name for a helper node: not a node yet, nor the name of a NIR node."""
        name, i = base, 1
        while name in self.g or name in self.reserved:
            name = f"{base}.{i}"
            i += 1
        return name

    def _shape(self, v: _Val) -> tuple[int, ...]:
        return self.g.type(v.node).shape

    def _add(self, name: str, op, v: _Val | None = None) -> str:
        """Add ``name = op(v)``; a pending coefficient becomes a scaling node first."""
        if v is None:
            return self.g.add(name, op)
        v = self._settle(v, name, keep_synapse=True)
        return self.g.add(name, op, [v.node], synapses=[v.synapse])

    def _settle(self, v: _Val, base: str, keep_synapse: bool = False) -> _Val:
        """``v`` with nothing pending (or only its synapse, with ``keep_synapse``): a pending
        coefficient becomes an ``nn.affine``; a pending synapse an ``nn.identity`` holding it
        (two filters in series need a node between them)."""
        if v.coeff is None and (keep_synapse or v.synapse is None):
            return v
        if v.coeff is not None:
            op = ops.Affine(scale=v.coeff, offset=0.0)
            node = self.g.add(self._fresh(f"{base}.coeff"), op, [v.node], synapses=[v.synapse])
        else:
            node = self.g.add(
                self._fresh(f"{base}.in"), ops.Identity(), [v.node], synapses=[v.synapse]
            )
        return _Val(node, v.perm, v.perm_shape)

    def _one(self, key: str, ins: list[_Val]) -> _Val:
        """The single input of a node: NIR sums the edges entering a node."""
        if not ins:
            raise Refuse("it has no input edge")
        if len(ins) == 1:
            return ins[0]
        return self._sum(self._fresh(f"{self.names[key]}.sum"), ins)

    def _sum(self, name: str, ins: list[_Val]) -> _Val:
        perm, perm_shape = ins[0].perm, ins[0].perm_shape
        for v in ins[1:]:
            if (v.perm is None) != (perm is None) or (
                perm is not None and not np.array_equal(v.perm, perm)
            ):
                raise Refuse(
                    "its inputs are vectors in different element orders (flattened "
                    "from different shapes)"
                )
        shapes = {self._shape(v) for v in ins}
        if len(shapes) != 1:
            raise Refuse(f"its input edges carry different shapes {sorted(shapes)}")
        coeffs = tuple(1.0 if v.coeff is None else v.coeff for v in ins)
        node = self.g.add(
            name, ops.Add(coeffs=coeffs), [v.node for v in ins], synapses=[v.synapse for v in ins]
        )
        return _Val(node, perm, perm_shape)

    def _params(self, a, v: _Val, what: str) -> np.ndarray:
        """A NIR elementwise parameter of the value ``v`` as a full snnc-layout array."""
        shape = self._shape(v)
        a = _arr(a)
        nshape = shape if len(shape) < 2 else (shape[-1], *shape[:-1])
        if a.size == 1:
            a = np.full(nshape, a.ravel()[0])
        if a.size != int(np.prod(nshape)):
            raise Refuse(f"its {what} has {a.size} values for an input of {int(np.prod(nshape))}")
        return from_nir_array(a, shape, v.perm)

    # ------------------------------------------------------------------ nodes
    def _translate(self, key: str, node, ins: list[_Val]) -> None:
        nir = _nir_types()
        name = self.names[key]
        t = type(node)
        if t is nir.Input:
            return self._input(key, node, name)
        if t is nir.Output:
            return self._output(key, node, name, ins)
        if t in (nir.Affine, nir.Linear):
            return self._affine(key, node, name, ins)
        if t in (nir.Conv1d, nir.Conv2d):
            return self._conv(key, node, name, ins, 1 if t is nir.Conv1d else 2)
        if t in (nir.AvgPool2d, nir.SumPool2d):
            return self._pool(key, node, name, ins)
        if t is nir.Flatten:
            return self._flatten(key, node, name, ins)
        if t is nir.Scale:
            return self._scale(key, node, name, ins)
        if t is nir.LI:
            x = self._one(key, ins)
            self._check_zero(node.v_leak, "v_leak", "an LI leaking towards v_leak != 0")
            self.vals[key] = self._filter(x, node.tau, node.r, name, primary=True)
            return None
        if t is nir.CubaLI:
            x = self._one(key, ins)
            self._check_zero(node.v_leak, "v_leak", "an LI leaking towards v_leak != 0")
            current = self._filter(x, node.tau_syn, node.w_in, f"{name}.current")
            self.vals[key] = self._filter(current, node.tau_mem, node.r, name, primary=True)
            return None
        if t is nir.IF:
            return self._if(key, node, name, ins)
        if t in (nir.LIF, nir.CubaLIF):
            return self._lif(key, node, name, ins)
        if t is nir.NIRGraph:
            raise Refuse("a nested NIR graph", "flatten the subgraph into the top-level graph")
        what = {
            "Delay": "NIR's Delay (snnc has no transmission delays)",
            "Threshold": "a bare Threshold (snnc has spiking neurons, not threshold units)",
            "I": "a bare integrator I (snnc has no non-spiking integrator)",
        }.get(t.__name__, f"NIR's {t.__name__}")
        raise Refuse(f"snnc has no equivalent of {what}")

    def _input(self, key, node, name):
        shape = snnc_shape(np.asarray(node.input_type["input"]).ravel())
        self.g.add(name, ops.Input(shape=shape, index=self.index[key]))
        self.vals[key] = _Val(name)

    def _output(self, key, node, name, ins):
        x = self._one(key, ins)
        if x.perm is not None:
            # NIR's vector is in [C, H, W] order: rebuild that order in snnc
            x = self._settle(x, name, keep_synapse=True)
            shape = x.perm_shape
            r = self.g.add(
                self._fresh(f"{name}.order"),
                ops.Reshape(shape=shape),
                [x.node],
                synapses=[x.synapse],
            )
            tr = self.g.add(
                self._fresh(f"{name}.order.chw"),
                ops.Transpose(perm=(len(shape) - 1, *range(len(shape) - 1))),
                [r],
            )
            x = _Val(self.g.add(self._fresh(f"{name}.order.flat"), ops.Flatten(), [tr]))
        self._add(name, ops.Output(index=self.index[key]), x)
        self.vals[key] = _Val(name)

    def _affine(self, key, node, name, ins):
        nir = _nir_types()
        x = self._one(key, ins)
        shape = self._shape(x)
        w = _arr(node.weight)
        if w.ndim != 2:
            raise Refuse(f"its weight has {w.ndim} dimensions (snnc reads [out, in] matrices)")
        if len(shape) != 1 or w.shape[1] != shape[0]:
            raise Refuse(f"its weight {list(w.shape)} does not take the input {list(shape)}")
        weight = dense_from_nir(w, x.perm)
        bias = _arr(node.bias).reshape(-1) if type(node) is nir.Affine else None
        if bias is not None and bias.size != w.shape[0]:
            raise Refuse(f"its bias has {bias.size} values for {w.shape[0]} outputs")
        if w.shape[0] == w.shape[1] and np.array_equal(w, np.eye(w.shape[0])):
            # identity in NIR's element order (e.g. snnc's bias node): elementwise, the
            # vector keeps its order
            offset = None if bias is None else self._params(bias, x, "bias")
            self.vals[key] = self._offset(name, x, offset)
            return
        if w.shape[0] == w.shape[1] and bias is None and np.array_equal(weight, np.eye(w.shape[0])):
            # a permutation back to snnc's order (snnc's reordering before an output)
            self.vals[key] = dataclasses.replace(x, perm=None, perm_shape=None)
            return
        self.vals[key] = _Val(self._add(name, ops.Dense(weight=weight, bias=bias), x))

    def _offset(self, name: str, x: _Val, offset) -> _Val:
        """``x + offset`` (snnc layout, broadcastable; None or zeros: nothing to compute) as
        an ``nn.affine`` (scalar or per-channel offsets only)."""
        if offset is None or not np.any(offset):
            return x
        offset = reduce_param(offset)
        shape = self._shape(x)
        if offset.ndim and offset.shape != (shape[-1],):
            raise Refuse(
                "its bias differs between positions of an image; snnc adds offsets per channel"
            )
        return _Val(self._add(name, ops.Affine(scale=1.0, offset=offset), x), x.perm, x.perm_shape)

    def _conv(self, key, node, name, ins, ns):
        x = self._one(key, ins)
        shape = self._shape(x)
        if len(shape) != ns + 1:
            raise Refuse(f"its input {list(shape)} is not a {ns}-D [*spatial, C] value")
        w = _arr(node.weight)
        groups = int(np.asarray(node.groups).ravel()[0])
        if w.ndim != ns + 2 or groups < 1 or w.shape[1] * groups != shape[-1]:
            raise Refuse(
                f"its weight {list(w.shape)} (groups={groups}) does not take "
                f"{shape[-1]} input channels"
            )
        strides, dilation = _ints(node.stride, ns), _ints(node.dilation, ns)
        padding = node.padding
        if isinstance(padding, bytes):
            padding = padding.decode()
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise Refuse(f"padding {padding!r} is not 'same', 'valid' or integers")
            if padding == "same" and any(s != 1 for s in strides):
                raise Refuse(
                    "padding 'same' with a stride > 1 (PyTorch forbids it; its meaning "
                    "is not defined)"
                )
        else:
            pads = _ints(padding, ns)
            padding = "valid" if not any(pads) else tuple((p, p) for p in pads)
        bias = _arr(node.bias).reshape(-1)
        if padding == "valid" and all(st == 1 for st in strides) and _is_identity_conv(w, groups):
            # a 1x1 identity convolution (e.g. snnc's bias node on images): a channel offset
            self.vals[key] = self._offset(name, x, bias)
            return
        cls = ops.Conv1D if ns == 1 else ops.Conv2D
        op = cls(
            weight=conv_from_nir(w),
            bias=bias if np.any(bias) else None,
            strides=strides,
            padding=padding,
            dilation=dilation,
            groups=groups,
        )
        self.vals[key] = _Val(self._add(name, op, x))

    def _pool(self, key, node, name, ins):
        nir = _nir_types()
        x = self._one(key, ins)
        shape = self._shape(x)
        if len(shape) != 3:
            raise Refuse(f"its input {list(shape)} is not a [C, H, W] image")
        kernel, strides = _ints(node.kernel_size, 2), _ints(node.stride, 2)
        pads = _ints(node.padding, 2)
        pairs = tuple((p, p) for p in pads)
        if type(node) is nir.SumPool2d and any(pads):
            count = self._count_scale(key, shape, kernel, strides, pairs)
            if count is not None:
                # snnc's padded average pooling, as its exporter writes it
                op = ops.AvgPool(pool_size=kernel, strides=strides, padding=pairs)
                self.vals[key] = self.vals[count] = _Val(self._add(name, op, x))
                self.skip.add(count)
                return
        last = name if type(node) is nir.AvgPool2d else self._fresh(f"{name}.avg")
        if any(pads):
            # NIR pads with zeros that count (PyTorch's default count_include_pad)
            pad = ops.Pad(pads=(*pairs, (0, 0)))
            x = _Val(self._add(self._fresh(f"{name}.pad"), pad, x))
        avg = _Val(
            self._add(last, ops.AvgPool(pool_size=kernel, strides=strides, padding="valid"), x)
        )
        if type(node) is nir.SumPool2d:
            avg = _Val(
                self._add(name, ops.Affine(scale=float(kernel[0] * kernel[1]), offset=0.0), avg)
            )
        self.vals[key] = avg

    def _count_scale(self, key, shape, kernel, strides, pairs) -> str | None:
        """The NIR key of a Scale after a SumPool2d that divides by the number of real cells
        per window (so the two are snnc's average pooling), or None."""
        nir = _nir_types()
        succ = self.succs[key]
        if (
            len(succ) != 1
            or type(self.ng.nodes[succ[0]]) is not nir.Scale
            or self.preds[succ[0]] != [key]
        ):
            return None
        counts = pool_counts(shape[:2], kernel, strides, pairs)
        want = np.broadcast_to(1.0 / counts, (shape[-1], *counts.shape))
        got = _arr(self.ng.nodes[succ[0]].scale)
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-6, atol=0):
            return None
        return succ[0]

    def _flatten(self, key, node, name, ins):
        x = self._one(key, ins)
        shape = self._shape(x)
        if len(shape) < 2:
            self.vals[key] = _Val(self._add(name, ops.Flatten(), x), x.perm, x.perm_shape)
            return
        start, end = int(np.asarray(node.start_dim)), int(np.asarray(node.end_dim))
        if start != 0 or end not in (-1, len(shape) - 1):
            raise Refuse(
                f"it flattens axes {start}..{end} of a rank-{len(shape)} value; snnc "
                "flattens all axes (NIR counts start_dim from the first non-batch axis)"
            )
        flat = self._add(name, ops.Flatten(), x)
        self.vals[key] = _Val(flat, flatten_perm(shape), shape)

    def _scale(self, key, node, name, ins):
        s = _arr(node.scale)
        if len(ins) > 1 and np.all(s == 1.0):
            self.vals[key] = self._sum(name, ins)  # a pure sum node: snnc's nn.add
            return
        x = self._one(key, ins)
        u = _uniform(s)
        pred = self.preds[key][0] if len(self.preds[key]) == 1 else None
        if (
            u is not None
            and u > 0
            and pred in self.neuron_keys
            and self.succs[pred] == [key]
            and x.coeff is None
            and x.synapse is None
        ):
            # NIR spikes are unit impulses: a Scale on them is snnc's spike amplitude
            op = self.g.op(x.node)
            self.g.replace_op(x.node, op.replace(amplitude=op.amplitude * u))
            self.vals[key] = x
            return
        succ = self.succs[key]
        if u is not None and len(succ) == 1 and len(self.preds[succ[0]]) > 1:
            # a coefficient on an edge into a sum
            self.vals[key] = dataclasses.replace(x, coeff=u * (1.0 if x.coeff is None else x.coeff))
            return
        full = self._params(s, x, "scale")
        scale = reduce_param(full)
        if scale.ndim and scale.shape != (full.shape[-1],):
            raise Refuse(
                f"it scales each of the {list(full.shape)} elements of an image "
                "separately; snnc scales per channel"
            )
        self.vals[key] = _Val(
            self._add(name, ops.Affine(scale=scale, offset=0.0), x), x.perm, x.perm_shape
        )

    def _filter(self, x: _Val, tau, r, name: str, primary: bool = False) -> _Val:
        """A lowpass ``tau dv/dt = -v + r I``: ``r`` times snnc's synapse ``tau`` (seconds).
        ``r != 1`` needs a scaling node (called ``name`` when it is the NIR node's own)."""
        t = _uniform(_arr(tau))
        if t is None or not (t > 0 and math.isfinite(t)):
            raise Refuse(
                "its time constants differ between neurons (or are not > 0); an snnc "
                "synapse has one time constant"
            )
        x = self._settle(x, name)
        gain = _uniform(_arr(r))
        if gain == 1.0:
            return dataclasses.replace(x, synapse=t)
        full = self._params(r, x, "r")
        scale = reduce_param(full)
        if scale.ndim and scale.shape != (full.shape[-1],):
            raise Refuse("its r differs between elements of an image; snnc scales per channel")
        node = self.g.add(
            name if primary else self._fresh(name),
            ops.Affine(scale=scale, offset=0.0),
            [x.node],
            synapses=[t],
        )
        return _Val(node, x.perm, x.perm_shape)

    @staticmethod
    def _check_zero(a, what: str, desc: str) -> None:
        if np.any(_arr(a) != 0):
            raise Refuse(
                f"{desc}: snnc's neurons reset to 0 and its synapses have no offset "
                f"({what} must be 0)"
            )

    def _threshold(self, node) -> np.ndarray:
        theta = _arr(node.v_threshold)
        if np.any(theta <= 0):
            raise Refuse("a threshold <= 0 (snnc scales voltages so that the threshold is 1)")
        reset = getattr(node, "v_reset", None)
        if reset is not None:
            self._check_zero(reset, "v_reset", "it resets to v_reset != 0")
        return theta

    def _need(self, op) -> None:
        missing = [a for a in neuron_approximations(op) if a not in self.allowed]
        if missing:
            raise Refuse(
                f"snnc's {op.kind} differs from it; needs the approximation(s) "
                + "; ".join(f"{a}: {APPROXIMATIONS[a]}" for a in missing)
            )

    def _if(self, key, node, name, ins):
        x = self._one(key, ins)
        theta = self._threshold(node)
        # v' = R I, spike at v = theta, reset to 0  ==  snnc v' = (R/theta) I, threshold 1
        gain = reduce_param(self._params(_arr(node.r) / theta, x, "r"))
        op = neurons.IF(gain=gain, bias=0.0, amplitude=1.0)
        self._need(op)
        self.vals[key] = _Val(self._add(name, op, x), x.perm, x.perm_shape)
        self.neuron_keys.add(key)

    def _lif(self, key, node, name, ins):
        nir = _nir_types()
        x = self._one(key, ins)
        theta = self._threshold(node)
        if type(node) is nir.CubaLIF:
            x = self._filter(x, node.tau_syn, node.w_in, f"{name}.current")
            tau = node.tau_mem
        else:
            tau = node.tau
        tau_rc = _uniform(_arr(tau))
        if tau_rc is None or not tau_rc > 0:
            raise Refuse(
                "its membrane time constants differ between neurons (or are not > 0); "
                "snnc's LIF has one tau_rc"
            )
        # tau v' = v_leak - v + R I with threshold theta  ==  v/theta with R/theta, v_leak/theta
        gain = reduce_param(self._params(_arr(node.r) / theta, x, "r"))
        bias = reduce_param(self._params(_arr(node.v_leak) / theta, x, "v_leak"))
        op = neurons.LIF(
            gain=gain, bias=bias, amplitude=1.0, tau_rc=tau_rc, tau_ref=0.0, min_voltage=-math.inf
        )
        self.vals[key] = _Val(self._add(name, op, x), x.perm, x.perm_shape)
        self.neuron_keys.add(key)


# =============================================================================== hints


def _is_identity_conv(w: np.ndarray, groups: int) -> bool:
    """A NIR conv weight ``[C, C/groups, 1, ...]`` that passes every channel through."""
    if any(k != 1 for k in w.shape[2:]) or w.shape[0] != w.shape[1] * groups:
        return False
    full = ungroup(w, groups).reshape(w.shape[0], w.shape[0])
    return np.array_equal(full, np.eye(w.shape[0]))


class _HintError(Exception):
    pass


def _snnc_names(ng, hints: bool) -> dict[str, str]:
    """snnc node name per NIR key: the hint's original name when every hinted name is unique
    and no other key uses it, else the key itself."""
    names = {str(k): str(k) for k in ng.nodes}
    if not hints:
        return names
    hinted = {k: hint_str(hint_of(n), "node") for k, n in ng.nodes.items()}
    proposal = {k: (h or k) for k, h in hinted.items()}
    if len(set(proposal.values())) == len(proposal):
        return proposal
    log.warning("snnc hints give several NIR nodes the same name; keeping the NIR names")
    return names


def _apply_hints(canonical: Graph, ng, names: dict[str, str], allowed) -> Graph:
    """Step 2: rewrite the translated graph into the snnc graph the hints describe."""
    g = canonical.copy()
    by_role: dict[tuple[str, str], str] = {}
    for key, node in ng.nodes.items():
        h = hint_of(node)
        role, of = hint_str(h, "role"), hint_str(h, "of")
        if role and of:
            by_role[(role, of)] = names[key]
    for key, node in ng.nodes.items():
        h = hint_of(node)
        kind = hint_str(h, "op")
        n = names[key]
        if kind is None or n not in g:
            continue
        cls = OPS.get(kind)
        if cls is None:
            raise _HintError(f"unknown op {kind!r}")
        attrs = load_attrs(h.get("attrs", "{}"))
        quant = {}
        if hint_str(h, "quant"):
            from snnc.ir.types import parse_dtype

            quant = {p: parse_dtype(t) for p, t in load_attrs(h["quant"]).items()}
        shapes = load_attrs(h["shapes"]) if hint_str(h, "shapes") else {}
        op = _hinted_op(g, n, cls, attrs, quant, shapes, h, allowed)
        if op is not None:
            g.replace_op(n, op)
    for (role, of), aux in by_role.items():
        if role in ("bias", "part") and aux in g and of in g:
            g.bypass(aux)
    return g


def _own_bias(canon, h: dict, cout: int):
    """The bias a dense / conv node had before export folded an IF neuron's bias into it."""
    if "own_bias" in h:
        return np.asarray(h["own_bias"])
    if not int(h.get("has_bias", 1)):
        return None
    return canon.bias if canon.bias is not None else np.zeros(cout, np.float32)


def _hinted_op(g: Graph, n: str, cls, attrs, quant, shapes, h, allowed):
    """The op the hint ``h`` describes for node ``n`` (its canonical op's parameters in the
    hinted op's form), or None to keep the canonical op."""
    canon = g.op(n)
    shape = g.type(n).shape
    if cls in (ops.Input, ops.Output, ops.Flatten, ops.AvgPool, ops.GlobalAvgPool, ops.Add):
        return cls(**attrs, quant=quant)
    if cls is ops.Dense:
        return cls(weight=canon.weight, bias=_own_bias(canon, h, shape[-1]), quant=quant)
    if cls in (ops.Conv1D, ops.Conv2D, ops.DepthwiseConv2D):
        # export wrote grouped convolutions ungrouped (block diagonal): take the blocks back
        bias = _own_bias(canon, h, shape[-1])
        cin = g.type(g.inputs_of(n)[0]).shape[-1]
        groups = cin if cls is ops.DepthwiseConv2D else int(attrs.get("groups", 1))
        if canon.groups != 1 or not is_block_diagonal(canon.weight, groups):
            raise _HintError(f"%{n}: the weight is not {groups} groups")
        weight = regroup(canon.weight, groups)
        if cls is ops.DepthwiseConv2D:
            kh, kw, _, cout = weight.shape
            weight = weight.reshape(kh, kw, cin, cout // cin)
        return cls(weight=weight, bias=bias, quant=quant, **attrs)
    if cls is ops.Affine:
        scale = None
        if "scale" in shapes:
            scale = reduce_param(np.broadcast_to(np.asarray(canon.scale), shape), shapes["scale"])
        offset = None
        if "bias" in h:
            offset = np.asarray(h["bias"]).reshape(shapes.get("offset", -1))
        elif "offset" in shapes:
            offset = np.zeros(shapes["offset"], np.float32)
        return cls(scale=scale, offset=offset, quant=quant, **attrs)
    if issubclass(cls, neurons.NeuronOp):
        gain = reduce_param(np.broadcast_to(np.asarray(canon.gain), shape), shapes.get("gain"))
        if "bias" in h:
            bias = np.asarray(h["bias"]).reshape(shapes.get("bias", -1))
        elif issubclass(cls, (neurons.IF, neurons.LoihiIF)):
            bias = np.zeros(shapes.get("bias", []), np.float32)
        else:
            bias = reduce_param(np.broadcast_to(np.asarray(canon.bias), shape), shapes.get("bias"))
        op = cls(gain=gain, bias=bias, quant=quant, **attrs)
        needed = neuron_approximations(op) or []
        if any(a not in allowed for a in needed):
            log.info(
                "NIR import: %%%s stays %s (the hinted %s needs approximation(s) %s)",
                n,
                canon.kind,
                cls.kind,
                ", ".join(a for a in needed if a not in allowed),
            )
            if issubclass(cls, (neurons.IF, neurons.LoihiIF)) and "bias" in h:
                raise _HintError("the hinted IF needs an approximation that is not allowed")
            return None
        return op
    raise _HintError(f"no hint rule for {cls.kind}")


def _same_nir(a, b) -> str | None:
    """None when NIR graphs ``a`` and ``b`` have the same nodes, parameters and edges
    (arrays within float rounding), else the first difference."""
    if set(a.nodes) != set(b.nodes):
        return f"nodes {sorted(set(a.nodes) ^ set(b.nodes))} are in one graph only"
    if sorted(map(tuple, a.edges)) != sorted((str(x), str(y)) for x, y in b.edges):
        return "the edges differ"
    skip = {"input_type", "output_type", "metadata"}
    for k, na in a.nodes.items():
        nb = b.nodes[k]
        if type(na) is not type(nb):
            return (
                f"node '{k}' is a {type(na).__name__} in one and a {type(nb).__name__} in the other"
            )
        for io in ("input_type", "output_type"):
            ta, tb = getattr(na, io, None) or {}, getattr(nb, io, None) or {}
            for port in set(ta) & set(tb):
                if (
                    ta[port] is not None
                    and tb[port] is not None
                    and not np.array_equal(
                        np.asarray(ta[port]).ravel(), np.asarray(tb[port]).ravel()
                    )
                ):
                    return f"node '{k}' differs in {io}"
        for f in dataclasses.fields(na):
            if f.name in skip:
                continue
            va, vb = getattr(na, f.name), getattr(nb, f.name, None)
            if isinstance(va, str) or isinstance(vb, str | bytes):
                vb = vb.decode() if isinstance(vb, bytes) else vb
                same = va == vb
            elif va is None or vb is None:
                same = va is None and vb is None
            else:
                xa, xb = np.asarray(va, np.float64), np.asarray(vb, np.float64)
                same = xa.size == xb.size and np.allclose(
                    xa.ravel(), xb.ravel(), rtol=1e-6, atol=1e-12
                )
            if not same:
                return f"node '{k}' differs in {f.name}"
    return None


# =============================================================================== public


def read(path, *, limits=None):
    """Read a NIR file (HDF5) into a ``nir.NIRGraph`` after checking it: HDF5 links are
    refused, and array sizes, the parameter count, the node count and the group depth are
    bounded by ``limits`` (a :class:`snnc.frontend.limits.Limits`; its ``max_member_bytes``,
    ``max_params``, ``max_layers`` and ``max_depth`` apply) before anything is decompressed.

    Raises:
        snnc.errors.ModelFileError: missing, not HDF5, not a NIR file, over a limit.
    """
    import h5py
    import nir

    from snnc.errors import ModelFileError
    from snnc.frontend.limits import DEFAULT_LIMITS, LimitError, check, effective_depth

    limits = limits or DEFAULT_LIMITS
    p = Path(path)
    where = str(p)
    if not p.is_file():
        raise ModelFileError(f"{where}: no such file", hint="give a .nir file written by nir.write")
    try:
        f = h5py.File(p, "r")
    except OSError as e:
        raise ModelFileError(f"{where}: not an HDF5 file, so not a NIR file ({e})") from None
    with f:
        if "node" not in f or not isinstance(f.get("node", getlink=True), h5py.HardLink):
            raise ModelFileError(
                f"{where}: an HDF5 file without a NIR graph (no 'node' group)",
                hint="NIR files are written by nir.write",
            )
        totals = {"params": 0, "nodes": 0}

        def walk(group, depth: int, label: str) -> None:
            if depth > effective_depth(limits):
                raise LimitError(
                    where,
                    "the nesting depth of the NIR file's groups",
                    depth,
                    "max_depth",
                    limits.max_depth,
                )
            for name in group:
                link = group.get(name, getlink=True)
                if not isinstance(link, h5py.HardLink):
                    raise ModelFileError(
                        f"{where}: '{label}/{name}' is an HDF5 {type(link).__name__}; "
                        "snnc refuses links in model files"
                    )
                item = group[name]
                if isinstance(item, h5py.Group):
                    if name == "nodes":
                        totals["nodes"] += len(item)
                        check(
                            where, "the number of NIR nodes", totals["nodes"], limits, "max_layers"
                        )
                    walk(item, depth + 1, f"{label}/{name}")
                elif isinstance(item, h5py.Dataset):
                    size = int(np.prod(item.shape, dtype=object)) if item.shape else 1
                    check(
                        where,
                        f"the size of '{label}/{name}' in bytes",
                        size * item.dtype.itemsize,
                        limits,
                        "max_member_bytes",
                    )
                    if item.dtype.kind in "fiub":
                        totals["params"] += size
                        check(
                            where,
                            "the number of parameter values",
                            totals["params"],
                            limits,
                            "max_params",
                        )

        walk(f, 0, "")
    try:
        return nir.read(p)
    except Exception as e:  # noqa: BLE001 - nir raises many kinds on a malformed file
        first = e
    try:
        # nir 1.0's type check rejects valid graphs (grouped convolutions: it takes
        # weight.shape[1] as the input channel count); snnc infers and checks shapes itself
        graph = nir.read(p, type_check=False)
    except Exception:  # noqa: BLE001
        raise ModelFileError(
            f"{where}: nir cannot read the graph ({type(first).__name__}: {first})",
            hint="the file is not a valid NIR graph for nir " + nir.version,
        ) from None
    log.warning("%s: nir's type check failed (%s); reading without it", where, first)
    return graph


def is_nir_file(path) -> bool:
    """True when ``path`` is an HDF5 file holding a NIR graph (a ``node`` group and a
    ``version``): what :func:`snnc.load` can test before choosing this reader."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            if fh.read(8) != b"\x89HDF\r\n\x1a\n":
                return False
        import h5py

        with h5py.File(p, "r") as f:
            return "node" in f and "version" in f
    # a damaged HDF5 file makes h5py raise more than OSError: it is not a NIR file then
    except (OSError, RuntimeError, ValueError, KeyError, OverflowError, SystemError):
        return False


def from_nir(
    source,
    *,
    approximate=None,
    hints: bool = True,
    dt: float | None = None,
    name: str | None = None,
    limits=None,
) -> Graph:
    """Import a NIR graph as an snnc graph (SNN stage), runnable by :func:`snnc.evaluate`,
    :func:`snnc.simulate` and every target.

    Args:
        source: a ``nir.NIRGraph``, or the path of a NIR file (read with :func:`read`).
        approximate: approximations to allow (see :data:`snnc.nir.APPROXIMATIONS`): NIR's IF
            becomes snnc's IF only with ``rectified-current``; snnc's hints restore a LIF's
            refractory period and voltage floor only when those are allowed.
        hints: use snnc's metadata hints to rebuild the exact graph snnc exported (checked
            against the NIR graph; see the module docstring). False reads the graph as any
            NIR graph.
        dt: the time step of the snnc graph (default: the exported graph's, else 0.001 s).
        name: the graph's name (default: the exported graph's, else the file stem or "nir").
        limits: resource limits for reading a file (:func:`read`).

    Raises:
        NIRImportError: naming every NIR node snnc cannot express, and why.
        snnc.errors.ModelFileError: the file cannot be read.
    """
    import nir

    from snnc.ir import verify

    allowed = parse_approximations(approximate)
    default_name = "nir"
    if not isinstance(source, nir.NIRGraph):
        if not isinstance(source, str | Path) and not hasattr(source, "__fspath__"):
            raise NIRImportError(
                f"from_nir takes a nir.NIRGraph or a path (got {type(source).__name__})"
            )
        default_name = Path(source).stem or default_name
        source = read(source, limits=limits)
    gmeta = source.metadata.get(HINT_KEY) if isinstance(source.metadata, dict) else None
    gmeta = gmeta if (hints and isinstance(gmeta, dict)) else {}
    if dt is None:
        dt = float(gmeta["dt"]) if "dt" in gmeta else DEFAULT_DT
    graph_name = name or hint_str(gmeta, "name") or default_name
    names = _snnc_names(source, hints)
    canonical = _Translator(source, allowed, names, graph_name, float(dt)).run()
    verify(canonical)
    if not hints or not any(hint_str(hint_of(n), "op") for n in source.nodes.values()):
        return canonical
    try:
        hinted = _apply_hints(canonical, source, names, allowed)
        verify(hinted)
        from snnc.nir.export import to_nir

        diff = _same_nir(to_nir(hinted, approximate="all", hints=False), source)
    except Exception as e:  # noqa: BLE001 - any failure means the hints do not describe the graph
        diff = f"{type(e).__name__}: {e}"
    if diff is not None:
        log.warning(
            "NIR import: snnc's hints do not match the NIR graph (%s); the graph is "
            "imported from its NIR semantics alone",
            diff,
        )
        return canonical
    return hinted

"""Folding per-channel affine maps into neighbouring linear ops (shared by canonicalize and
fold-batchnorm), plus small graph-rewrite helpers the passes share.

An affine map ``y = x * scale + offset`` on the channel axis (ops with the
:class:`~snnc.ir.traits.ChannelAffine` trait: ``nn.batch_norm``, ``nn.affine``) folds
exactly

- *after* a producer with weights (:class:`~snnc.ir.traits.HasWeights`: dense, conv,
  depthwise, transposed conv) or another affine on the same axis: the producer's output
  channels are scaled and its bias shifted;
- *before* a consumer with weights (dense, conv, depthwise): the consumer's input channels
  are scaled and the offset pushed through its weights into its bias. With zero padding
  this is exact only when the offset is 0 (a padded pixel would see 0 instead of
  ``offset``); a transposed conv takes only a pure scale for the same reason (its border
  pixels sum fewer taps).

The math runs in float64 and the results are rounded once to float32 by the op. A folded
parameter that was quantized is not on its grid any more: it loses its ``quant`` entry
(see :func:`replace_params`) and the passes say so in a note.
"""

from __future__ import annotations

import numpy as np

from snnc.ir import Graph
from snnc.ir import traits as T
from snnc.ir.ops import Affine, BatchNorm, ConvTranspose2D, Dense, DepthwiseConv2D, Op


class NotFoldable(Exception):
    """The fold would not be exact; ``str(e)`` says why (it ends up in a pass note)."""


# =============================================================================== parameters


def replace_params(op: Op, **params) -> Op:
    """``op.replace(**params)`` that keeps quantization honest.

    A quantized parameter (an entry of ``op.quant``) keeps its entry only when its new value
    is the very same array; a changed or removed one becomes a plain float32 parameter, as
    its values are in general off the fixed-point grid (folding a batch norm scale into a
    q8 weight gives a float weight, not another q8 one). Re-run quantization to get it back.
    """
    quant = dict(op.quant)
    for name, value in params.items():
        if name not in quant:
            continue
        old = getattr(op, name)
        new = None if value is None else np.asarray(value, np.float32)
        if new is None or old is None or new.shape != old.shape or not np.array_equal(new, old):
            del quant[name]
    return op.replace(**params, quant=tuple(quant.items()))


def lost_quant(before: Op, after: Op) -> list[str]:
    """Parameters quantized in ``before`` that are not in ``after``."""
    kept = dict(after.quant)
    return [name for name, _ in before.quant if name not in kept]


def quant_note(lost: list[str], why: str) -> str:
    """The note a pass gives when parameters lost their quantization."""
    return (
        f"{', '.join(lost)}: no longer quantized ({why}; the new values are float32, not "
        "rounded to a fixed-point grid): quantize after this pass"
    )


# =============================================================================== folding


def is_fold_producer(op: Op) -> bool:
    """Can a channel affine after ``op`` fold into it? (weights, or an affine to merge with;
    a batch norm is not one: fold-batchnorm turns it into an affine first)."""
    return isinstance(op, Affine) or op.has(T.HasWeights)


def channel_affine(op: Op, rank: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``(scale, offset, axis)`` of a batch norm or affine op on a value of ``rank``;
    scale and offset are float64, scalars or per-channel vectors; ``axis`` is normalised."""
    if isinstance(op, BatchNorm):
        scale, offset = op.scale_offset()
    elif isinstance(op, Affine):
        scale = np.zeros((), np.float64) + (1.0 if op.scale is None else op.scale)
        offset = np.zeros((), np.float64) + (0.0 if op.offset is None else op.offset)
    else:
        raise TypeError(f"{op.kind} is not a channel affine op")
    return np.asarray(scale, np.float64), np.asarray(offset, np.float64), op.axis % rank


def _f64(a) -> np.ndarray | None:
    return None if a is None else np.asarray(a, np.float64)


def fold_into_producer(op: Op, scale: np.ndarray, offset: np.ndarray, axis: int, rank: int) -> Op:
    """The op computing ``affine(op(x))``, for an affine on ``op``'s output ``axis``."""
    if isinstance(op, Affine):
        if op.axis % rank != axis:
            raise NotFoldable(
                f"it acts on axis {axis}, %producer's affine on axis {op.axis % rank}"
            )
        s1, o1, _ = channel_affine(op, rank)
        return replace_params(op, scale=s1 * scale, offset=o1 * scale + offset)
    if not op.has(T.HasWeights):
        raise NotFoldable(f"{op.kind} has no weights to fold into")
    if axis != rank - 1:
        raise NotFoldable(
            f"it acts on axis {axis}, not on the channel axis {rank - 1} of {op.kind}"
        )
    w = _f64(op.weight)
    cout = _out_channels(op)
    s = np.broadcast_to(scale, (cout,))
    if isinstance(op, DepthwiseConv2D):
        # output channel c*m + j is weight[..., c, j]
        w = w * s.reshape(w.shape[-2:])
    else:
        w = w * s
    bias = 0.0 if op.bias is None else _f64(op.bias)
    return replace_params(op, weight=w, bias=np.broadcast_to(bias * s + offset, (cout,)))


def fold_into_consumer(op: Op, scale: np.ndarray, offset: np.ndarray, axis: int, rank: int) -> Op:
    """The op computing ``op(affine(x))``, for an affine on ``op``'s input ``axis``."""
    if not op.has(T.HasWeights):
        raise NotFoldable(f"{op.kind} has no weights to fold into")
    if axis != rank - 1:
        raise NotFoldable(
            f"it acts on axis {axis}, not on the input channel axis {rank - 1} of {op.kind}"
        )
    w = _f64(op.weight)
    has_offset = bool(np.any(offset != 0))
    if has_offset and not isinstance(op, Dense) and not _unpadded(op):
        raise NotFoldable(f"{op.kind} pads its input with zeros, which would not see the offset")
    bias = np.zeros(_out_channels(op)) if op.bias is None else _f64(op.bias)
    if isinstance(op, Dense):
        cin = w.shape[0]
        s, o = np.broadcast_to(scale, (cin,)), np.broadcast_to(offset, (cin,))
        return replace_params(op, weight=w * s[:, None], bias=bias + o @ w)
    n = w.ndim - 2  # spatial dims of the kernel
    kernel_axes = tuple(range(n))
    if isinstance(op, DepthwiseConv2D):
        cin, mult = w.shape[-2:]
        s = np.broadcast_to(scale, (cin,))[:, None]
        o = np.broadcast_to(offset, (cin,))[:, None]
        return replace_params(
            op, weight=w * s, bias=bias + (w * o).sum(axis=kernel_axes).reshape(cin * mult)
        )
    if isinstance(op, ConvTranspose2D):
        s = np.broadcast_to(scale, (w.shape[-2],))[:, None]
        return replace_params(op, weight=w * s, bias=bias)  # offset is 0 here (checked above)
    # grouped conv: output channel co reads input channels g*cg .. g*cg+cg-1, g = its group
    cg, cout = w.shape[-2:]
    groups = op.groups
    group_of = np.arange(cout) // (cout // groups)
    s = np.broadcast_to(scale, (groups * cg,)).reshape(groups, cg)[group_of].T  # [cg, cout]
    o = np.broadcast_to(offset, (groups * cg,)).reshape(groups, cg)[group_of].T
    return replace_params(op, weight=w * s, bias=bias + (w * o).sum(axis=kernel_axes).sum(axis=0))


def _out_channels(op: Op) -> int:
    if isinstance(op, DepthwiseConv2D):
        return op.weight.shape[-2] * op.weight.shape[-1]
    return op.weight.shape[-1]


def _unpadded(op: Op) -> bool:
    if isinstance(op, ConvTranspose2D):
        return False
    pad = op.padding
    return pad == "valid" or (isinstance(pad, tuple) and all(p == (0, 0) for p in pad))


# =============================================================================== graph helpers


def single_input(g: Graph, name: str) -> tuple[str, float | None]:
    """``(source, synapse)`` of a one-input node."""
    ((src, _, syn),) = g.in_edges(name)
    return src, syn


def sole_user(g: Graph, name: str) -> str | None:
    """The only user of ``name`` (one edge, no synapse on it), else None."""
    users = g.users(name)
    if len(users) != 1:
        return None
    dst, port = users[0]
    return dst if g.synapse(name, dst, port) is None else None


def fuse_into(g: Graph, name: str, op: Op, absorbed: str) -> list[str]:
    """Replace ``name``'s op by ``op`` that now also computes its one-input neighbour
    ``absorbed`` (its sole producer or sole user), and erase ``absorbed``.

    When ``absorbed`` is the producer, ``name`` takes over its input; when it is the user,
    its users move to ``name``. Types are re-inferred along the way (by the Graph methods).

    Returns:
        The quantized parameters the fusion turned into floats, as ``node.param``: those
        of ``name`` whose values changed, and every one of ``absorbed``, whose values now
        live, folded, in ``name``'s float parameters.
    """
    before, gone = g.op(name), g.op(absorbed)
    lost = [f"%{name}.{p}" for p in lost_quant(before, op)]
    lost += [f"%{absorbed}.{p}" for p, _ in gone.quant]
    if absorbed in g.inputs_of(name):  # absorbed producer: name reads what it read
        src, syn = single_input(g, absorbed)
        # inputs and op change together: the new input may only suit the new op
        g.set_inputs(name, [src], synapses=[syn], op=op)
        g.erase(absorbed)
    else:  # absorbed user: its users read name
        g.replace_op(name, op)
        g.bypass(absorbed)
    g.set_meta(name, absorbed=[*g.meta(name).get("absorbed", []), absorbed])
    return lost

"""Shared by the NIR exporter and importer: errors, named approximations, the ``snnc`` metadata
hints, NIR node names.

Hints: every NIR node snnc writes carries ``metadata["snnc"]``, a small dict saying which snnc
node it came from and what NIR cannot hold exactly (the op kind when several snnc ops share
one NIR primitive, attributes such as ``padding="same"`` or ``tau_ref``, the broadcast shape
of neuron parameters, and the exact biases that the export had to fold into a neighbour).
NIR says no backend may *rely* on metadata, and snnc does not: the graph alone defines the
network, and the importer builds an equivalent snnc graph from it. Hints only pick, among the
snnc graphs equivalent to the NIR graph, the one that was exported (so IR -> NIR -> IR is the
identity), and the importer proves that pick by exporting it again and comparing with the
NIR graph it read (:func:`snnc.nir.importer.from_nir`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import numpy as np

from snnc.errors import CodegenError, SnncError

#: metadata key of snnc's hints on NIR nodes and on the NIR graph
HINT_KEY = "snnc"
#: version of the hint layout (written to the graph's metadata)
HINT_FORMAT = 1

#: named approximations: what snnc and NIR neurons do differently, and what allowing it means.
#: Nothing is approximated unless its name is passed (``approximate=...``, ``--approximate``).
APPROXIMATIONS: dict[str, str] = {
    "rectified-current": (
        "snnc's IF (nengo SpikingRectifiedLinear) integrates max(J, 0): a negative input "
        "current never lowers its voltage; NIR's IF integrates J as it is"
    ),
    "voltage-floor": (
        "snnc's LIF (min_voltage) and the Loihi neurons clip their voltage from below; NIR's "
        "neurons have no floor"
    ),
    "refractory": (
        "nengo's LIF holds its voltage at 0 for tau_ref after a spike; NIR's LIF has no "
        "refractory period (exported without it; imported with it only from snnc's hint)"
    ),
    "initial-voltage": (
        "snnc's IF can start at v_init (a fraction of the threshold); NIR's neurons have no "
        "initial state and start at rest (exported from 0; imported with v_init only from "
        "snnc's hint)"
    ),
}


class NIRExportError(CodegenError):
    """The graph (a node of it) cannot be written as NIR, or an option is bad."""


class NIRImportError(SnncError):
    """A NIR graph (a node of it) has no snnc equivalent, or the file cannot be read."""


def parse_approximations(value) -> frozenset[str]:
    """The set of allowed approximations from ``None``, ``"all"``, a comma-separated string or
    an iterable of names; unknown names raise :class:`SnncError` listing the known ones."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        names = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, Iterable):
        names = [str(v).strip() for v in value]
    else:
        raise SnncError(
            f"approximate={value!r} (expected a name, a comma-separated list or a list)"
        )
    if "all" in names:
        return frozenset(APPROXIMATIONS)
    unknown = [n for n in names if n not in APPROXIMATIONS]
    if unknown:
        raise SnncError(
            f"unknown approximation(s) {', '.join(unknown)} "
            f"(expected some of {', '.join(APPROXIMATIONS)}, or all)"
        )
    return frozenset(names)


def neuron_approximations(op) -> list[str] | None:
    """The approximations needed to write neuron ``op`` as a NIR IF / LIF (or to read one as
    ``op``); None when NIR has no such neuron at all (rate neurons, plugin neurons)."""
    from snnc.ir import neurons

    kind = type(op)
    if kind is neurons.IF:
        return ["rectified-current"] + (["initial-voltage"] if getattr(op, "v_init", 0.0) else [])
    if kind is neurons.LoihiIF:
        return ["voltage-floor"]
    if kind is neurons.LIF:
        return (["voltage-floor"] if op.min_voltage > -math.inf else []) + (
            ["refractory"] if op.tau_ref > 0 else []
        )
    if kind is neurons.LoihiLIF:
        return ["voltage-floor"] + (["refractory"] if op.tau_ref > 0 else [])
    return None


# --------------------------------------------------------------------------- hint values


def _jsonable(value):
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def dump_attrs(attrs: dict) -> str:
    """JSON text of an op's non-array fields (tuples become lists; inf stays inf)."""
    return json.dumps({k: _jsonable(v) for k, v in attrs.items()}, sort_keys=True)


def load_attrs(text) -> dict:
    """Inverse of :func:`dump_attrs` (ops turn lists back into tuples themselves)."""
    value = json.loads(str(text))
    if not isinstance(value, dict):
        raise ValueError("attrs hint is not a JSON object")
    return value


def hint_of(node) -> dict:
    """The ``snnc`` hint dict of a NIR node ({} when it has none)."""
    meta = getattr(node, "metadata", None)
    if not isinstance(meta, dict):
        return {}
    hint = meta.get(HINT_KEY)
    return hint if isinstance(hint, dict) else {}


def hint_str(hint: dict, key: str) -> str | None:
    v = hint.get(key)
    if isinstance(v, bytes):
        v = v.decode("utf-8")
    return v if isinstance(v, str) else None


# --------------------------------------------------------------------------- names


def nir_key(name: str, taken: set[str]) -> str:
    """A NIR node key for snnc node ``name``: NIR files are HDF5, whose group names cannot
    contain ``/`` nor be ``.``; such names are replaced (the hint keeps the original) and the
    result is made unique among ``taken`` (which it joins)."""
    key = name.replace("/", "|") if name not in (".", "..") else f"node{name}"
    key = key or "node"
    base, i = key, 1
    while key in taken:
        key = f"{base}.{i}"
        i += 1
    taken.add(key)
    return key


class Refuse(Exception):
    """One node cannot be translated (export or import): ``reason`` and an optional ``hint``;
    the translator collects them and raises one error naming every node."""

    def __init__(self, reason: str, hint: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.hint = hint

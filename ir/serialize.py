"""On-disk and tool views of a graph.

``model.snnc`` is a zip of ``graph.snnir`` (text, weights as hashes, with provenance),
``weights.npz`` (``"<node>.<param>"`` -> array) and ``manifest.json`` (format version, snnc
version, source sha256, pipeline, target, fingerprint). Writes are atomic: a temporary file
in the same folder is renamed into place (:mod:`snnc.ir.output_files`, which also refuses
links and special files). ``to_json`` and ``to_dot`` are views for tools.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from snnc.ir.errors import IRError, ModelFileError
from snnc.ir.graph import Graph
from snnc.ir.ops import array_hash
from snnc.ir.output_files import atomic_write_bytes as atomic_write_bytes  # re-exported
from snnc.ir.parser import parse_graph
from snnc.ir.printer import format_array, print_graph
from snnc.ir.traits import Neuron

FORMAT_VERSION = 1


def graph_weights(g: Graph, mantissas: bool = False) -> dict[str, np.ndarray]:
    """Every parameter of ``g`` as ``"<node>.<param>" -> array``.

    With ``mantissas`` a quantized parameter is stored as its integer mantissas (the
    smallest signed integer type that holds them): what ``weights.npz`` of a ``model.snnc``
    holds, so the file says exactly what a chip gets. The parser dequantizes them."""
    out = {}
    for n in g.topo_order():
        op = g.op(n)
        for k, a in op.param_arrays().items():
            if mantissas and op.qtype(k).is_quantized:
                m = op.mantissa(k)
                a = m.astype(np.min_scalar_type(-max(1, int(np.abs(m).max(initial=0)))))
            out[f"{n}.{k}"] = a
    return out


def snnc_version() -> str:
    """The installed snnc version (read from the package metadata: ``snnc.ir`` imports
    nothing above itself)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("snnc")
    except PackageNotFoundError:
        return "unknown"


def to_snnc_bytes(g: Graph, manifest: dict | None = None) -> bytes:
    """The bytes of a ``model.snnc`` zip for ``g``."""
    npz = io.BytesIO()
    np.savez(npz, **graph_weights(g, mantissas=True))
    man = {
        "format_version": FORMAT_VERSION,
        "snnc_version": snnc_version(),
        "graph": g.name,
        "fingerprint": g.fingerprint(),
        "stage": g.stage.value,
        **(manifest or {}),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("graph.snnir", print_graph(g, weights="hash", meta=True))
        z.writestr("weights.npz", npz.getvalue())
        z.writestr("manifest.json", json.dumps(man, indent=2, sort_keys=True))
    return buf.getvalue()


def save(g: Graph, path: str | os.PathLike, manifest: dict | None = None) -> Path:
    """Write ``g`` to ``path`` (a ``model.snnc`` zip), atomically. Returns the path."""
    atomic_write_bytes(path, to_snnc_bytes(g, manifest))
    return Path(path)


#: default bound on the decompressed size of one ``model.snnc`` member, and of one array in
#: its ``weights.npz`` (the same default as ``snnc.frontend.Limits.max_member_bytes``)
MAX_MEMBER_BYTES = 512 << 20


def _read_member(z: zipfile.ZipFile, name: str, cap: int, where: str) -> bytes:
    """A zip member's bytes, refused beyond ``cap`` bytes (the header's size is checked
    first; the read is capped too, in case the header lies: a zip bomb)."""
    size = z.getinfo(name).file_size
    data = bytearray()
    if size <= cap:
        with z.open(name) as f:  # in chunks: one big read() may inflate far more than it returns
            while len(data) <= cap and (chunk := f.read(min(1 << 20, cap + 1 - len(data)))):
                data += chunk
    if size > cap or len(data) > cap:
        raise ModelFileError(
            f"{where}: {name} decompresses to more than the limit (expected at most {cap:,} "
            f"bytes, got {max(size, len(data)):,}; limit max_member_bytes)",
            hint="if you trust this file, raise the limit (--max-member-bytes N, or "
            "snnc.ir.serialize.load(path, max_member_bytes=N))",
        )
    return bytes(data)


def _load_npz(data: bytes, cap: int, where: str) -> dict[str, np.ndarray]:
    """The arrays of ``weights.npz``; each array's header (shape, dtype) is read and
    bounded before numpy allocates it."""
    out = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            raw = _read_member(z, name, cap, f"{where}: weights.npz")
            f = io.BytesIO(raw)
            version = np.lib.format.read_magic(f)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read_header is None:
                raise ValueError(f"array {name} has .npy format version {version} (expected 1.0 or 2.0)")
            shape, _, dtype = read_header(f)
            nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if nbytes > cap:
                raise ModelFileError(
                    f"{where}: weights.npz: array {name} declares {nbytes:,} bytes (expected at "
                    f"most {cap:,}; limit max_member_bytes)",
                    hint="if you trust this file, raise the limit (--max-member-bytes N)",
                )
            f.seek(0)
            out[name.removesuffix(".npy")] = np.lib.format.read_array(f, allow_pickle=False)
    return out


def load(path: str | os.PathLike, *, max_member_bytes: int = MAX_MEMBER_BYTES) -> tuple[Graph, dict]:
    """Read a ``model.snnc`` file: returns ``(graph, manifest)``. Members (and weight
    arrays) larger than ``max_member_bytes`` once decompressed are refused."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            missing = {"graph.snnir", "weights.npz", "manifest.json"} - names
            if missing:
                raise ModelFileError(
                    f"{path}: not a complete model.snnc (missing {', '.join(sorted(missing))})",
                    hint="write it with snnc.ir.serialize.save or `snnc compile`",
                )
            manifest = json.loads(_read_member(z, "manifest.json", max_member_bytes, str(path)))
            weights = _load_npz(
                _read_member(z, "weights.npz", max_member_bytes, str(path)), max_member_bytes, str(path)
            )
            text = _read_member(z, "graph.snnir", max_member_bytes, str(path)).decode("utf-8")
    except (
        zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError, NotImplementedError,
        RuntimeError,  # RecursionError (JSON nested too deep) is a RuntimeError
        zlib.error,  # a damaged deflate stream in a member
    ) as e:
        raise ModelFileError(f"{path}: cannot read model.snnc ({type(e).__name__}: {e})") from None
    version = manifest.get("format_version", 0) if isinstance(manifest, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(
            f"{path}: manifest.json is not a JSON object with an integer format_version",
            hint="write it with snnc.ir.serialize.save or `snnc compile`",
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format version {manifest['format_version']} is newer than this snnc "
            f"reads (expected <= {FORMAT_VERSION})",
            hint="upgrade snnc",
        )
    try:
        g = parse_graph(text, weights)
    except IRError as e:
        raise ModelFileError(f"{path}: graph.snnir: {e.message}", hint=e.hint) from None
    return g, manifest


# =============================================================================== views


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v


def to_json(g: Graph, weights: str = "hash") -> dict:
    """A JSON-ready dict: graph attributes and one entry per node in topological order."""
    nodes = []
    for n in g.topo_order():
        op = g.op(n)
        params = {}
        for k, a in op.param_arrays().items():
            entry = {"shape": list(a.shape), "dtype": str(op.qtype(k)), "hash": array_hash(a)}
            if weights == "full":
                entry["data"] = a.tolist()
            elif weights == "stats" and a.size:
                entry.update(min=float(a.min()), max=float(a.max()), mean=float(a.mean()), std=float(a.std()))
            params[k] = entry
        nodes.append(
            {
                "name": n,
                "op": op.kind,
                "attrs": {k: _jsonable(v) for k, v in op.attrs().items() if k != "quant"},
                "params": params,
                "type": str(g.type(n)),
                "inputs": [{"node": s, "port": p, "synapse": syn} for s, p, syn in g.in_edges(n)],
                "meta": g.meta(n),
            }
        )
    return {"name": g.name, "dt": g.dt, "stage": g.stage.value, "fingerprint": g.fingerprint(), "nodes": nodes}


def to_dot(g: Graph) -> str:
    """Graphviz DOT text: one box per node (name, op, type), edges labelled by synapse."""

    def q(s: str) -> str:
        return json.dumps(s, ensure_ascii=False)

    lines = [f"digraph {q(g.name)} {{", "  rankdir=TB;", '  node [shape=box, fontname="monospace"];']
    for n in g.topo_order():
        op = g.op(n)
        params = " ".join(format_array(a, dtype=op.qtype(k)) for k, a in op.param_arrays().items())
        label = f"{n}\\n{op.kind}\\n{g.type(n)}" + (f"\\n{params}" if params else "")
        style = ', style=filled, fillcolor="#ffe0b0"' if op.has(Neuron) else ""
        lines.append(f"  {q(n)} [label={q(label).replace(chr(92) * 2, chr(92))}{style}];")
    for n in g.topo_order():
        for src, port, syn in g.in_edges(n):
            label = f"{port}" + (f" τ={syn}" if syn is not None else "")
            lines.append(f"  {q(src)} -> {q(n)} [label={q(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"

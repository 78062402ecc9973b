"""The compile report: one table row per IR node, then the pipeline that ran.

Node and graph names print as in IR text (:func:`~snnc.ir.lexer.format_name`: bare when
plain, else an escaped JSON string), so a name cannot break a line of the table or carry
characters a terminal or a UTF-8 file cannot take.
"""

from __future__ import annotations

from snnc.codegen.target import NodeRecord
from snnc.ir.graph import Graph
from snnc.ir.lexer import format_name

COLUMNS = ("node", "op", "type", "neurons", "synapse", "params", "emitted as")


def _synapses(graph: Graph, node: str) -> str:
    taus = [syn for _, _, syn in graph.in_edges(node)]
    if all(t is None for t in taus):
        return "-"
    return ",".join("-" if t is None else f"{t:g}" for t in taus)


def node_table(graph: Graph, records: dict, target, pipeline: str, pass_report=None) -> str:
    """The report text: a fixed-width table (node, op, type, neurons, input synapses,
    parameter count, what the target made of it), totals, and the pipeline. ``records``
    maps a node to its :class:`~snnc.codegen.target.NodeRecord` (missing: nothing to say)."""
    rows = []
    for n in graph.topo_order():
        rec = records.get(n, NodeRecord())
        params = sum(a.size for a in graph.op(n).param_arrays().values())
        rows.append((
            format_name(n),
            graph.op(n).kind,
            str(graph.type(n)),
            str(rec.neurons) if rec.neurons else "-",
            _synapses(graph, n),
            str(params) if params else "-",
            ", ".join(rec.emitted) or "-",
        ))
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    neurons = sum(r.neurons for r in records.values())
    params = sum(a.size for n in graph.topo_order() for a in graph.op(n).param_arrays().values())
    out = [f"graph @{format_name(graph.name)} compiled for target '{target.name}' (dt={graph.dt:g} s)", ""]
    out += [line(COLUMNS), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out += ["", f"total: {len(rows)} nodes, {neurons} neurons, {params} parameters"]
    out += [f"pipeline: {pipeline or '(none)'}"]
    if pass_report is not None:
        out += [f"  {note}" for note in pass_report.notes]
    return "\n".join(out) + "\n"

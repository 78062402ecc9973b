"""The compile report: one table row per IR node, then the pipeline that ran."""

from __future__ import annotations

from snnc.ir.graph import Graph

COLUMNS = ("node", "op", "type", "neurons", "synapse", "params", "emitted as")


def _synapses(graph: Graph, node: str) -> str:
    taus = [syn for _, _, syn in graph.in_edges(node)]
    if all(t is None for t in taus):
        return "-"
    return ",".join("-" if t is None else f"{t:g}" for t in taus)


def node_table(graph: Graph, records: dict, target, pipeline: str, pass_report=None) -> str:
    """The report text: a fixed-width table (node, op, type, neurons, input synapses,
    parameter count, what nengo objects it became), totals, and the pipeline."""
    rows = []
    for n in graph.topo_order():
        rec = records[n]
        params = sum(a.size for a in graph.op(n).param_arrays().values())
        rows.append((
            n,
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
    out = [f"graph @{graph.name} compiled for target '{target.name}' (dt={graph.dt:g} s)", ""]
    out += [line(COLUMNS), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out += ["", f"total: {len(rows)} nodes, {neurons} neurons, {params} parameters"]
    out += [f"pipeline: {pipeline or '(none)'}"]
    if pass_report is not None:
        out += [f"  {note}" for note in pass_report.notes]
    return "\n".join(out) + "\n"

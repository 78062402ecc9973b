"""The pass manager: runs a pipeline on a copy of a graph, with instruments.

Instruments (all optional but verification):

- verify the input and the graph after every pass (default on);
- dump the IR after every pass (``dump_after="all"``) or after the passes of one name,
  into ``dump_dir`` as ``00_input.snnir``, ``01_canonicalize.snnir``, ... or to ``stream``;
  parameters print as ``dump_weights`` says (``hash``, ``stats`` or ``full``); files in
  ``dump_dir`` default to ``full``, so each parses back on its own (``snnc opt
  dumps/02_fold-batchnorm.snnir`` resumes from there), while stream dumps and diffs
  default to ``hash`` to stay readable;
- print a unified diff of the IR text per pass (``print_diff``);
- with ``print_changed_only``, dumps and diffs skip passes that changed nothing;
- a timing table (``time_passes``).

Whether a pass changed the graph is read from the graph's change log (every mutation goes
through a :class:`~snnc.ir.Graph` method, which appends to ``graph.changes``): counting log
entries costs nothing, where hashing every parameter before and after each pass cost a
pass over all the weights twice per pass.

Text instruments write to ``stream`` when one is given (the CLI passes stderr), otherwise
they log at INFO level. Every pass failure is re-raised with the pass, its position and the
passes already run.
"""

from __future__ import annotations

import difflib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from snnc.errors import PassError, SnncError
from snnc.ir import Graph, print_graph, verify
from snnc.ir.printer import WEIGHT_MODES
from snnc.passes.base import Pass, PassContext, PassResult
from snnc.passes.pipeline import as_passes, format_pipeline

log = logging.getLogger("snnc.passes")


@dataclass
class PassRecord:
    """What happened in one pass of a pipeline run."""

    index: int  # 1-based position in the pipeline
    name: str
    text: str  # the pass as pipeline text, options included
    result: PassResult
    seconds: float
    verify_seconds: float
    changed: bool
    mutations: int = 0  # graph mutations the pass made (entries of graph.changes)
    diff: str | None = None
    dump: Path | None = None


@dataclass
class PipelineReport:
    """The outcome of a pipeline run: one :class:`PassRecord` per pass."""

    pipeline: str
    records: list[PassRecord] = field(default_factory=list)
    input_fingerprint: str = ""
    output_fingerprint: str = ""

    @property
    def changed(self) -> bool:
        return any(r.changed for r in self.records)

    @property
    def total_seconds(self) -> float:
        return sum(r.seconds + r.verify_seconds for r in self.records)

    @property
    def notes(self) -> list[str]:
        """Every pass note, prefixed with the pass name."""
        return [f"{r.name}: {note}" for r in self.records for note in r.result.notes]

    @property
    def stats(self) -> dict[str, dict]:
        """Stats by pass name (a pass that runs twice appears as ``name#2``)."""
        out: dict[str, dict] = {}
        for r in self.records:
            key = r.name if r.name not in out else f"{r.name}#{r.index}"
            out[key] = r.result.stats
        return out

    def timing_table(self) -> str:
        """A fixed-width table: pass, run time, verify time, share of the total, changed."""
        total = self.total_seconds or 1e-12
        width = max([len("pass"), *(len(f"{r.index:02d} {r.name}") for r in self.records)])
        lines = [f"{'pass':<{width}}  {'run ms':>9}  {'verify ms':>9}  {'share':>6}  changed"]
        for r in self.records:
            share = 100.0 * (r.seconds + r.verify_seconds) / total
            label = f"{r.index:02d} {r.name}"
            lines.append(
                f"{label:<{width}}  {r.seconds * 1e3:9.2f}  {r.verify_seconds * 1e3:9.2f}  "
                f"{share:5.1f}%  {'yes' if r.changed else 'no'}"
            )
        lines.append(f"{'total':<{width}}  {self.total_seconds * 1e3:9.2f}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-ready summary."""
        return {
            "pipeline": self.pipeline,
            "input_fingerprint": self.input_fingerprint,
            "output_fingerprint": self.output_fingerprint,
            "passes": [
                {
                    "name": r.name,
                    "pass": r.text,
                    "changed": r.changed,
                    "mutations": r.mutations,
                    "seconds": r.seconds,
                    "verify_seconds": r.verify_seconds,
                    "stats": r.result.stats,
                    "notes": r.result.notes,
                }
                for r in self.records
            ],
        }


class PassManager:
    """Runs passes in order on a copy of a graph.

    Args:
        passes: a pipeline string or a list of Pass instances.
        verify: verify the input graph and the graph after every pass.
        dump_dir: folder receiving ``NN_<pass>.snnir`` dumps (created if needed); implies
            ``dump_after="all"`` unless ``dump_after`` says otherwise.
        dump_after: ``None``, ``"all"`` or a pass name: after which passes to dump the IR
            (to ``dump_dir``, else to ``stream`` / the log).
        print_diff: emit a unified diff of the IR text for every pass.
        time_passes: emit the timing table at the end.
        print_changed_only: dumps and diffs skip passes that did not change the graph.
        dump_weights: how dumps and diffs print parameters: ``hash``, ``stats`` or
            ``full``; None (default) means ``full`` for files in ``dump_dir`` (they parse
            back without a weights file) and ``hash`` for the stream and diffs.
        stream: where text instruments write; None logs them at INFO level.
    """

    def __init__(
        self,
        passes: str | list[Pass],
        *,
        verify: bool = True,
        dump_dir: str | Path | None = None,
        dump_after: str | None = None,
        print_diff: bool = False,
        time_passes: bool = False,
        print_changed_only: bool = False,
        dump_weights: str | None = None,
        stream: TextIO | None = None,
    ):
        self.passes = as_passes(passes)
        self.verify = verify
        self.dump_dir = Path(dump_dir) if dump_dir is not None else None
        self.dump_after = dump_after if dump_after is not None or dump_dir is None else "all"
        if self.dump_after not in (None, "all") and not any(
            p.name == self.dump_after for p in self.passes
        ):
            raise PassError(
                f"dump_after='{self.dump_after}' names no pass of the pipeline",
                hint="use 'all' or one of: " + ", ".join(p.name for p in self.passes),
            )
        self.print_diff = print_diff
        self.time_passes = time_passes
        self.print_changed_only = print_changed_only
        if dump_weights is not None and dump_weights not in WEIGHT_MODES:
            raise PassError(
                f"dump_weights={dump_weights!r} is not a weights mode",
                hint="use one of " + ", ".join(WEIGHT_MODES),
            )
        self.dump_weights = dump_weights
        self.stream = stream

    @property
    def pipeline(self) -> str:
        return format_pipeline(self.passes)

    def run(self, graph: Graph, ctx: PassContext | None = None) -> tuple[Graph, PipelineReport]:
        """Run the pipeline on a copy of ``graph``; returns ``(new_graph, report)``."""
        ctx = ctx if ctx is not None else PassContext.default()
        g = graph.copy()
        report = PipelineReport(self.pipeline, input_fingerprint=g.fingerprint())
        if self.verify:
            try:
                verify(g)
            except SnncError as e:
                raise PassError(
                    f"the input graph of pipeline '{self.pipeline}' is invalid: {e.message}",
                    hint=e.hint,
                ) from e
        if self.dump_after == "all":
            self._dump(g, "00_input")
        text_before = self._text(g) if self.print_diff else None
        for index, p in enumerate(self.passes, 1):
            record = self._run_one(g, p, index, ctx, report)
            report.records.append(record)
            show = record.changed or not self.print_changed_only
            if show and self.dump_after in ("all", p.name):
                record.dump = self._dump(g, f"{index:02d}_{p.name}")
            if self.print_diff:
                text_after = self._text(g)
                if show:
                    record.diff = (
                        "".join(
                            difflib.unified_diff(
                                text_before.splitlines(keepends=True),
                                text_after.splitlines(keepends=True),
                                fromfile=f"before {index:02d}_{p.name}",
                                tofile=f"after {index:02d}_{p.name}",
                            )
                        )
                        or f"(no change in {index:02d}_{p.name})\n"
                    )
                    self._emit(record.diff)
                text_before = text_after
        report.output_fingerprint = g.fingerprint()
        if self.time_passes:
            self._emit(report.timing_table() + "\n")
        return g, report

    # ------------------------------------------------------------------ one pass
    def _run_one(
        self, g: Graph, p: Pass, index: int, ctx: PassContext, report: PipelineReport
    ) -> PassRecord:
        done = [r.text for r in report.records]
        where = f"pass '{p.name}' (#{index} of pipeline '{self.pipeline}'"
        where += f", after {', '.join(done)})" if done else ", the first)"
        log_before = len(g.changes)
        t0 = time.perf_counter()
        try:
            p.check_stage(g)
            result = p.run(g, ctx)
        except SnncError as e:
            err = PassError(f"{where}: {e.message}", hint=e.hint)
            err.pass_name, err.passes_run = p.name, done
            raise err from e
        except Exception as e:
            e.add_note(f"snnc: raised in {where}")
            raise
        seconds = time.perf_counter() - t0
        if not isinstance(result, PassResult):
            raise PassError(
                f"{where}: run() returned {type(result).__name__} (expected PassResult)"
            )
        mutations = len(g.changes) - log_before
        if mutations and not result.changed:
            log.warning(
                "pass '%s' reported no change but mutated the graph %d time(s)", p.name, mutations
            )
        t1 = time.perf_counter()
        if self.verify:
            try:
                verify(g)
            except SnncError as e:
                err = PassError(f"{where}: left an invalid graph: {e.message}", hint=e.hint)
                err.pass_name, err.passes_run = p.name, done
                raise err from e
        for note in result.notes:
            ctx.logger.info("%s: %s", p.name, note)
        return PassRecord(
            index,
            p.name,
            p.to_text(),
            result,
            seconds,
            time.perf_counter() - t1,
            bool(mutations) or result.changed,
            mutations,
        )

    # ------------------------------------------------------------------ instruments
    def _text(self, g: Graph, default: str = "hash") -> str:
        return print_graph(g, weights=self.dump_weights or default)

    def _dump(self, g: Graph, stem: str) -> Path | None:
        if self.dump_dir is None:
            # a '//' line is a comment to the parser: the dump still parses when cut out
            self._emit(f"// ----- IR after {stem}\n{self._text(g)}")
            return None
        from snnc.ir.serialize import atomic_write_bytes

        path = self.dump_dir / f"{stem}.snnir"
        atomic_write_bytes(path, self._text(g, default="full").encode("utf-8"))
        return path

    def _emit(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(text)
            self.stream.flush()
        else:
            log.info("%s", text.rstrip("\n"))


def run_pipeline(
    graph: Graph, pipeline: str | list[Pass], ctx: PassContext | None = None, **manager_options
) -> tuple[Graph, PipelineReport]:
    """Run ``pipeline`` on a copy of ``graph``; ``manager_options`` go to :class:`PassManager`.

    Returns ``(new_graph, report)``; ``graph`` itself is not modified.
    """
    return PassManager(pipeline, **manager_options).run(graph, ctx)

"""The pass API: registration, typed options, pipeline strings, the PassManager and its
instruments, custom passes from files and entry points."""

from __future__ import annotations

import io
import logging
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnc.errors import PassError, PipelineError
from snnc.ir import Graph, Stage, neurons, ops, parse_file, parse_graph, print_graph, verify
from snnc.ir.serialize import graph_weights
from snnc.passes import (
    PASSES,
    NeuronSpec,
    Pass,
    PassContext,
    PassManager,
    PassResult,
    format_pipeline,
    get_pass,
    load_pass_file,
    load_plugins,
    option,
    parse_pipeline,
    register_pass,
    run_pipeline,
    with_options,
)

ROOT = Path(__file__).resolve().parents[2]

MLP = """
graph @mlp(dt=0.001) {
  %x = nn.input() : f32[2]
  %d1 = nn.dense(%x) {weight=<f32[2,2] [[1.0,-1.0],[0.5,2.0]]>, bias=<f32[2] [0.5,0.25]>} : f32[2]
  %drop = nn.identity(%d1) : f32[2]
  %act = ann.relu(%drop) : f32[2]
  %d2 = nn.dense(%act) {weight=<f32[2,1] [[1.0],[2.0]]>} : f32[1]
  %out = nn.output(%d2) : f32[1]
}
"""


@pytest.fixture
def mlp() -> Graph:
    return parse_graph(MLP)


# =============================================================================== registration


def _make_pass(**attrs):
    """A pass class built from keyword attributes (annotations included)."""
    annotations = attrs.pop("__annotations__", {})
    ns = {
        "__annotations__": {"name": ClassVar[str], **annotations},
        "__module__": __name__,
        **attrs,
    }
    ns.setdefault("run", lambda self, graph, ctx: PassResult(changed=False))
    return type("TmpPass", (Pass,), ns)


def test_register_builtin_names():
    assert {
        "canonicalize",
        "fold-batchnorm",
        "lower-activations",
        "fuse-bias",
        "normalize-rates",
    } <= set(PASSES)


def test_register_rejects_duplicates(clean_registry):
    with pytest.raises(PassError, match="already registered"):
        register_pass(_make_pass(name="canonicalize", stage=None))


def test_register_makes_frozen_dataclass(clean_registry):
    cls = register_pass(
        _make_pass(name="tmp-pass", stage=Stage.ANN, __annotations__={"k": int}, k=3)
    )
    p = cls(k=4)
    with pytest.raises(AttributeError):
        p.k = 5
    assert get_pass("tmp-pass") is cls and p.to_text() == "tmp-pass{k=4}"


@pytest.mark.parametrize(
    "attrs, message",
    [
        ({"name": "Bad_Name", "stage": None}, "kebab-case"),
        ({"name": "no-stage"}, "declare the stage"),
        ({"name": "bad-stage", "stage": "later"}, "is not a Stage"),
        ({"name": "no-default", "stage": None, "__annotations__": {"k": int}}, "needs a default"),
        (
            {"name": "bad-type", "stage": None, "__annotations__": {"k": list}, "k": None},
            "unsupported type",
        ),
        ({"name": "no-run", "stage": None, "run": Pass.run}, "define run"),
    ],
)
def test_register_rejects_bad_classes(clean_registry, attrs, message):
    with pytest.raises(PassError, match=message):
        register_pass(_make_pass(**attrs))


def test_register_rejects_mutable_dataclass(clean_registry):
    cls = dataclass(_make_pass(name="mutable", stage=None))
    with pytest.raises(PassError, match="frozen"):
        register_pass(cls)


# =============================================================================== options


@dataclass(frozen=True)
class _AllTypes(Pass):
    """Test pass with one option of every supported type."""

    name: ClassVar[str] = "test-all-types"
    stage: ClassVar = None
    flag: bool = option(False, "a bool")
    count: int = option(1, "an int", check=lambda v: v >= 0, expect="an int >= 0")
    ratio: float = option(0.5, "a float")
    label: str = option("a", "a str")
    mode: Literal["x", "y"] = option("x", "an enum")
    tau: float | None = option(None, "optional float")
    neuron: NeuronSpec = option("if", "a neuron spec")

    def run(self, graph, ctx):
        return PassResult(changed=False)


@pytest.fixture
def all_types(clean_registry):
    """Register the test pass with options of every type for one test."""
    return register_pass(_AllTypes)


def test_option_parsing_and_printing_round_trip(all_types):
    text = 'test-all-types{flag=true,count=3,ratio=0.25,label="a b",mode=y,tau=0.01,neuron={conv*:lif,dense:if}}'
    (p,) = parse_pipeline(text)
    assert (p.flag, p.count, p.ratio, p.label, p.mode, p.tau) == (True, 3, 0.25, "a b", "y", 0.01)
    assert p.neuron == NeuronSpec((("conv*", "lif"), ("dense", "if")))
    assert format_pipeline([p]) == text
    assert parse_pipeline(format_pipeline([p])) == [p]


def test_option_keys_accept_dashes_and_python_values(all_types):
    (p,) = parse_pipeline("test-all-types{ratio=1, tau=none}")
    assert p.ratio == 1.0 and isinstance(p.ratio, float) and p.tau is None
    q = _AllTypes(count=np.int64(2), neuron={"dense": "lif"})
    assert q.count == 2 and str(q.neuron) == "{dense:lif}"
    (r,) = parse_pipeline("lower-activations{drop-softmax=false}")
    assert r.drop_softmax is False


@pytest.mark.parametrize(
    "text, message",
    [
        ("test-all-types{flag=maybe}", "option 'flag': expected bool, got 'maybe'"),
        ("test-all-types{count=1.5}", "option 'count': expected an int >= 0, got '1.5'"),
        ("test-all-types{count=-1}", "option 'count': expected an int >= 0, got -1"),
        ("test-all-types{ratio=none}", "option 'ratio': expected float, got 'none'"),
        ("test-all-types{mode=z}", "option 'mode': expected one of x|y, got 'z'"),
        ("test-all-types{neuron={a}}", "option 'neuron': mapping entry 'a' is not key:value"),
        ("test-all-types{ratio=1x}", "option 'ratio': expected float, got '1x'"),
        ('test-all-types{label="a" b}', "option 'label': expected str, got"),
        ("test-all-types{nope=1}", "pass 'test-all-types' has no option 'nope'"),
        ("test-all-types{count=1,count=2}", "option 'count' of pass 'test-all-types' given twice"),
        ("unknown-pass", "unknown pass 'unknown-pass'"),
        ("canonicalize fold-batchnorm", "bad pipeline, column 14: expected ',' between passes"),
        ("canonicalize,", "bad pipeline, column 14: expected a pass name"),
        ("lower-activations{neuron={a:if}", "expected ',' or '}'"),
        ('test-all-types{label="open}', 'column 22: unterminated value (missing ")'),
        ("test-all-types{count)=1}", "expected '=' after option 'count'"),
        ("test-all-types{count=}", "column 22: expected an option value"),
    ],
)
def test_bad_pipelines(all_types, text, message):
    with pytest.raises(PipelineError) as info:
        parse_pipeline(text)
    assert message in str(info.value)


def test_pipeline_errors_list_known_passes_or_options():
    with pytest.raises(PipelineError) as info:
        parse_pipeline("canonicalise")
    assert "known passes: canonicalize, fold-batchnorm" in str(info.value)
    with pytest.raises(PipelineError) as info:
        parse_pipeline("normalize-rates{rat=1}")
    assert (
        "options of 'normalize-rates': mode (one of auto|data|fixed), percentile (a percentile "
        "in (0, 100] or {key:value,...})" in str(info.value)
    )


def test_python_values_are_checked():
    with pytest.raises(PipelineError, match="option 'synapse': expected a time constant > 0"):
        get_pass("lower-activations")(synapse=-1.0)
    with pytest.raises(PipelineError, match="option 'neuron': expected a neuron name, got 3"):
        get_pass("lower-activations")(neuron=3)


def test_empty_pipeline_and_lists():
    assert parse_pipeline("  ") == []
    with pytest.raises(PipelineError):
        run_pipeline(parse_graph(MLP), ["canonicalize"])


@st.composite
def _pipelines(draw):
    names = draw(
        st.lists(
            st.sampled_from(
                ["canonicalize", "fold-batchnorm", "lower-activations", "normalize-rates"]
            ),
            max_size=5,
        )
    )
    passes = []
    for name in names:
        kwargs = {}
        if name == "lower-activations":
            kwargs["neuron"] = draw(
                st.sampled_from(["if", "lif", {"c*": "lif", "relu": "loihi-if"}])
            )
            kwargs["synapse"] = draw(st.one_of(st.none(), st.floats(1e-4, 1.0)))
        elif name == "normalize-rates":
            kwargs["percentile"] = draw(st.floats(1.0, 100.0))
            kwargs["mode"] = draw(st.sampled_from(["auto", "data", "fixed"]))
        passes.append(get_pass(name)(**kwargs))
    return passes


@given(_pipelines())
@settings(max_examples=50, deadline=None)
def test_format_parse_round_trip(passes):
    assert parse_pipeline(format_pipeline(passes)) == passes
    assert parse_pipeline(format_pipeline(passes, include_defaults=True)) == passes


def test_with_options_edits_one_pass_and_keeps_the_rest():
    text = "canonicalize, lower-activations{neuron=lif, tau-rc=0.05},normalize-rates{percentile=99}"
    out = with_options(text, "lower-activations", neuron={"conv*": "lif"}, synapse=None)
    assert out == (
        "canonicalize,lower-activations{neuron={conv*:lif},tau_rc=0.05,synapse=none},"
        "normalize-rates{percentile=99}"
    )
    (_, lower, _) = parse_pipeline(out)
    assert str(lower.neuron) == "{conv*:lif}" and lower.synapse is None and lower.tau_rc == 0.05
    # values as pipeline text (command lines) for bool/int/float options; dashed keys
    out = with_options(
        "lower-activations", "lower-activations", synapse="0.01", **{"drop-softmax": "false"}
    )
    assert out == "lower-activations{synapse=0.01,drop_softmax=false}"
    # every occurrence of the pass; other passes untouched; no options: no change
    assert with_options("canonicalize,canonicalize", "canonicalize") == "canonicalize,canonicalize"
    twice = with_options("normalize-rates,fuse-bias,normalize-rates", "normalize-rates", rate=100)
    assert twice == "normalize-rates{rate=100.0},fuse-bias,normalize-rates{rate=100.0}"


@pytest.mark.parametrize(
    "pipeline, options, message",
    [
        (
            "canonicalize",
            {"neuron": "if"},
            "pipeline 'canonicalize' has no 'lower-activations' pass",
        ),
        ("lower-activations", {"nerve": "if"}, "pass 'lower-activations' has no option 'nerve'"),
        ("lower-activations", {"synapse": -1.0}, "option 'synapse': expected a time constant > 0"),
        ("lower-activations", {"synapse": "soon"}, "option 'synapse': expected a time constant"),
        ("lower-activations", {"neuron": "izhikevich"}, "unknown neuron 'izhikevich'"),
        ("lower-activations{", {"neuron": "if"}, "bad pipeline, column 19"),
    ],
)
def test_with_options_errors(pipeline, options, message):
    with pytest.raises(PipelineError, match=re.escape(message)):
        with_options(pipeline, "lower-activations", **options)


def test_option_text_uses_the_ir_literal_forms(all_types):
    """Pipelines and .snnir print none/booleans/numbers/strings alike (one formatter);
    strings print bare when they cannot be misread."""
    from snnc.ir.lexer import format_literal

    infos = {o.name: o for o in _AllTypes.options()}
    for value in (None, True, False, 3, 0.1, 1e-7, "a b", 'say "hi"', ""):
        info = infos["tau"] if value is None else infos["label"]
        if isinstance(value, (bool, int, float)) and not isinstance(value, str):
            info = {bool: infos["flag"], int: infos["count"], float: infos["ratio"]}[type(value)]
        assert info.format(value) == format_literal(value)
        assert info.parse(info.format(value), "test-all-types") == value
    assert infos["label"].format("plain") == "plain" and infos["mode"].format("y") == "y"
    assert infos["label"].format("none") == '"none"'  # bare, it would read as None
    p = _AllTypes(label="none", flag=True)
    assert parse_pipeline(format_pipeline([p])) == [p]


def test_target_pipelines_parse_and_run(mlp):
    """Each target's default pipeline (the target owns it) runs; rate-mode outputs are kept
    exactly where the chosen neuron is ReLU-exact (the catalogue says which)."""
    from snnc.codegen import all_targets

    x = np.random.default_rng(0).normal(size=(16, 2))
    targets = {t.name: t.default_pipeline for t in all_targets()}
    assert {"nengo", "nengo-dl", "loihi"} <= set(targets)
    for target, text in targets.items():
        out, _ = run_pipeline(mlp, text, PassContext.default(target=target, calibration=x))
        assert out.stage is Stage.SNN
        # (loihi's input encoder is a host neuron of its own kind: not a model layer)
        model_neurons = [n for n in out.nodes_of(neurons.NeuronOp) if out.op(n).place != "host"]
        (neuron,) = {type(out.op(n)) for n in model_neurons}
        if neuron.relu_exact:
            np.testing.assert_allclose(_rate(out, x), _rate(mlp, x), atol=1e-5)


def _rate(g, x):
    from snnc.api import evaluate

    return evaluate(g, x)


# =============================================================================== manager


def test_run_pipeline_works_on_a_copy(mlp):
    before = print_graph(mlp, weights="full")
    out, report = run_pipeline(mlp, "canonicalize,lower-activations")
    assert print_graph(mlp, weights="full") == before
    assert "drop" not in out and out.stage is Stage.SNN
    assert [r.name for r in report.records] == ["canonicalize", "lower-activations"]
    assert report.changed and report.input_fingerprint == mlp.fingerprint()
    assert report.output_fingerprint == out.fingerprint()
    assert report.stats["lower-activations"]["by_neuron"] == {"if": 1}


def test_dump_dir_writes_numbered_files(mlp, tmp_path):
    _, report = run_pipeline(mlp, "canonicalize,canonicalize,lower-activations", dump_dir=tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "00_input.snnir",
        "01_canonicalize.snnir",
        "02_canonicalize.snnir",
        "03_lower-activations.snnir",
    ]
    assert "snn.if" in (tmp_path / "03_lower-activations.snnir").read_text()
    assert report.records[2].dump == tmp_path / "03_lower-activations.snnir"
    assert report.stats.keys() == {"canonicalize", "canonicalize#2", "lower-activations"}


def test_dump_files_parse_back(mlp, tmp_path):
    """Files in a dump folder print weights in full by default: each parses back alone, to
    the graph of its stage (the last one to the pipeline's result)."""
    out, _ = run_pipeline(
        mlp, "canonicalize,lower-activations,fuse-bias,normalize-rates", dump_dir=tmp_path
    )
    dumps = sorted(tmp_path.iterdir())
    assert len(dumps) == 5
    for path in dumps:
        verify(parse_file(path))  # no weights file needed
    assert parse_file(dumps[0]).structurally_equal(mlp)
    assert parse_file(dumps[-1]).structurally_equal(out)


@pytest.mark.parametrize("weights", ["hash", "stats", "full"])
def test_dumps_honour_the_weights_mode(mlp, tmp_path, weights):
    out, _ = run_pipeline(
        mlp, "canonicalize,lower-activations", dump_dir=tmp_path, dump_weights=weights
    )
    last = tmp_path / "02_lower-activations.snnir"
    assert last.read_text() == print_graph(out, weights=weights)
    # hash and stats dumps parse back given the arrays (e.g. of a saved model.snnc)
    assert parse_file(last, graph_weights(out)).structurally_equal(out)
    stream = io.StringIO()
    run_pipeline(mlp, "canonicalize", print_diff=True, dump_weights=weights, stream=stream)
    diff_line = next(
        ln for ln in stream.getvalue().splitlines() if ln.startswith(" ") and "d1" in ln
    )
    assert ("#" in diff_line) is (weights != "full") and ("min=" in diff_line) is (
        weights == "stats"
    )


def test_bad_weights_mode_is_refused_before_running(mlp):
    with pytest.raises(PassError, match="dump_weights='all' is not a weights mode"):
        PassManager("canonicalize", dump_weights="all")


def test_change_detection_reads_the_change_log(clean_registry, mlp, caplog):
    """A pass changed the graph when it mutated it through Graph methods (the change log),
    whatever it reports; the record counts the mutations."""

    @register_pass
    @dataclass(frozen=True)
    class Sneaky(Pass):
        """Rewire a node and claim no change."""

        name: ClassVar[str] = "test-sneaky"
        stage: ClassVar = None

        def run(self, graph, ctx):
            graph.replace_op("drop", ops.Identity())
            return PassResult(changed=False)

    with caplog.at_level(logging.WARNING, logger="snnc.passes"):
        _, report = run_pipeline(mlp, "test-sneaky,canonicalize,canonicalize")
    sneaky, canon, again = report.records
    assert sneaky.changed and sneaky.mutations == 1
    assert "pass 'test-sneaky' reported no change but mutated the graph 1 time(s)" in caplog.text
    assert canon.changed and canon.mutations > 0
    assert not again.changed and again.mutations == 0
    assert report.to_dict()["passes"][1]["mutations"] == canon.mutations


def test_change_detection_does_not_hash_weights(mlp, monkeypatch):
    """The manager hashes the graph once before and once after the pipeline (the report's
    fingerprints), not around every pass."""
    calls = []
    real = Graph.fingerprint
    monkeypatch.setattr(Graph, "fingerprint", lambda self: calls.append(1) or real(self))
    run_pipeline(mlp, "canonicalize,canonicalize,lower-activations,fuse-bias,normalize-rates")
    assert len(calls) == 2


def test_dump_after_one_pass_and_changed_only(mlp, tmp_path):
    run_pipeline(
        mlp,
        "canonicalize,canonicalize,lower-activations",
        dump_dir=tmp_path,
        dump_after="canonicalize",
        print_changed_only=True,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_canonicalize.snnir"]
    with pytest.raises(PassError, match="names no pass of the pipeline"):
        PassManager("canonicalize", dump_after="lower-activations")


def test_dump_and_diff_to_stream(mlp):
    stream = io.StringIO()
    run_pipeline(mlp, "canonicalize,canonicalize", dump_after="all", print_diff=True, stream=stream)
    text = stream.getvalue()
    assert "// ----- IR after 00_input" in text and "// ----- IR after 02_canonicalize" in text
    assert "--- before 01_canonicalize\n+++ after 01_canonicalize" in text
    assert "-  %drop = nn.identity(%d1) : f32[2]" in text
    assert "(no change in 02_canonicalize)" in text


def test_diff_changed_only_skips_unchanged(mlp):
    stream = io.StringIO()
    _, report = run_pipeline(
        mlp, "canonicalize,canonicalize", print_diff=True, print_changed_only=True, stream=stream
    )
    assert "02_canonicalize" not in stream.getvalue()
    assert report.records[0].diff and report.records[1].diff is None


def test_timing_table(mlp, caplog):
    with caplog.at_level(logging.INFO, logger="snnc.passes"):
        _, report = run_pipeline(mlp, "canonicalize,lower-activations", time_passes=True)
    table = report.timing_table()
    assert table.splitlines()[0].split() == [
        "pass",
        "run",
        "ms",
        "verify",
        "ms",
        "share",
        "changed",
    ]
    assert (
        "01 canonicalize" in table
        and "02 lower-activations" in table
        and table.splitlines()[-1].startswith("total")
    )
    assert "02 lower-activations" in caplog.text  # no stream: instruments log


def test_errors_name_the_pass_and_the_passes_run(mlp):
    with pytest.raises(PassError) as info:
        run_pipeline(mlp, "canonicalize,lower-activations,fold-batchnorm,lower-activations")
    e = info.value
    assert "pass 'lower-activations' (#4 of pipeline" in e.message
    assert "after canonicalize, lower-activations, fold-batchnorm)" in e.message
    assert e.pass_name == "lower-activations" and e.passes_run == [
        "canonicalize",
        "lower-activations",
        "fold-batchnorm",
    ]


def test_a_pass_leaving_an_invalid_graph_is_caught(clean_registry, mlp):
    @register_pass
    @dataclass(frozen=True)
    class Breaker(Pass):
        """Leave a dead node behind."""

        name: ClassVar[str] = "test-breaker"
        stage: ClassVar = None

        def run(self, graph, ctx):
            graph.add("orphan", ops.Identity(), ["x"])
            return PassResult(changed=True)

    with pytest.raises(
        PassError, match=r"pass 'test-breaker' .*left an invalid graph: .*\[dead-node\]"
    ):
        run_pipeline(mlp, "test-breaker")
    out, _ = run_pipeline(mlp, "test-breaker,canonicalize", verify=False)
    assert "orphan" not in out


def test_bugs_keep_their_type_and_get_a_note(clean_registry, mlp):
    @register_pass
    @dataclass(frozen=True)
    class Crasher(Pass):
        """Crash."""

        name: ClassVar[str] = "test-crasher"
        stage: ClassVar = None

        def run(self, graph, ctx):
            raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError) as info:
        run_pipeline(mlp, "canonicalize,test-crasher")
    assert any("test-crasher" in n and "after canonicalize" in n for n in info.value.__notes__)


def test_pass_must_return_a_result(clean_registry, mlp):
    @register_pass
    @dataclass(frozen=True)
    class NoResult(Pass):
        """Forget the result."""

        name: ClassVar[str] = "test-no-result"
        stage: ClassVar = None

        def run(self, graph, ctx):
            return None

    with pytest.raises(PassError, match="returned NoneType"):
        run_pipeline(mlp, "test-no-result")


def test_context_defaults():
    ctx = PassContext.default(seed=3, target="loihi")
    assert ctx.target == "loihi" and ctx.calibration is None and ctx.logger.name == "snnc.passes"
    assert ctx.rng.integers(1 << 30) == np.random.default_rng(3).integers(1 << 30)


# =============================================================================== custom passes


def test_example_custom_pass_from_python(clean_registry, mlp):
    names = load_pass_file(ROOT / "examples" / "custom_pass.py")
    assert names == ["prune-weights"]
    assert load_pass_file(ROOT / "examples" / "custom_pass.py") == [
        "prune-weights"
    ]  # reload is fine
    out, report = run_pipeline(mlp, "canonicalize,prune-weights{threshold=0.6}")
    assert report.stats["prune-weights"] == {"pruned": 1, "weights": 6}
    assert out.op("d1").weight.tolist() == [[1.0, -1.0], [0.0, 2.0]]


def test_load_pass_file_errors(tmp_path):
    with pytest.raises(PassError, match="no such pass file"):
        load_pass_file(tmp_path / "missing.py")
    bad = tmp_path / "bad.py"
    bad.write_text("def broken(:\n")
    with pytest.raises(
        PassError, match=r"bad.py, line 1: loading the pass file failed: SyntaxError"
    ):
        load_pass_file(bad)


def test_entry_point_plugin(clean_registry, tmp_path, monkeypatch):
    plugin = tmp_path / "snnc_test_plugin.py"
    plugin.write_text(
        textwrap.dedent('''
        from dataclasses import dataclass
        from typing import ClassVar
        from snnc.passes import Pass, PassResult

        @dataclass(frozen=True)
        class Nop(Pass):
            """Do nothing (from a plugin)."""
            name: ClassVar[str] = "plugin-nop"
            stage: ClassVar = None
            def run(self, graph, ctx):
                return PassResult(changed=False)
    ''')
    )
    dist = tmp_path / "snnc_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: snnc-test-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[snnc.passes]\nplugin-nop = snnc_test_plugin:Nop\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("snnc.passes.base._plugins_loaded", False)
    try:
        (p,) = parse_pipeline("plugin-nop")  # the miss triggers plugin loading
        assert type(p).summary() == "Do nothing (from a plugin)."
        assert load_plugins() == []  # once per process
    finally:
        sys.modules.pop("snnc_test_plugin", None)


def test_example_custom_pass_runs_as_a_script():
    import subprocess

    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "custom_pass.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "note: prune-weights: pruned 5 of 12 weights" in done.stdout
    assert "snn.if(%dense)" in done.stdout


def test_neuron_spec_reads_python_dict_text():
    # codegen builds option text with str(dict): the quotes are tolerated
    (p,) = parse_pipeline("lower-activations{neuron=" + str({"conv*": "lif", "dense": "if"}) + "}")
    assert str(p.neuron) == "{conv*:lif,dense:if}"

"""``snnc opt`` and ``snnc passes`` (run in-process through ``snnc.cli.main``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from snnc.api import load
from snnc.cli import main
from snnc.ir import parse_graph, print_graph

ROOT = Path(__file__).resolve().parents[2]
CASE = ROOT / "tests" / "passes" / "cases" / "pipeline" / "default_nengo.snnir"
KERAS_MLP = ROOT / "tests" / "frontend" / "fixtures" / "keras3" / "mlp.keras"


@pytest.fixture
def model(tmp_path) -> Path:
    """A .snnir model file (weights in full) to optimise."""
    path = tmp_path / "model.snnir"
    path.write_text(print_graph(parse_graph(CASE.read_text()), weights="full"))
    return path


def test_passes_lists_every_pass_with_options(capsys):
    assert main(["passes"]) == 0
    out = capsys.readouterr().out
    for name in (
        "canonicalize",
        "fold-batchnorm",
        "lower-activations",
        "fuse-bias",
        "normalize-rates",
    ):
        assert f"\n{name}  (stage: " in "\n" + out
    assert "Replace every ReLU by a neuron op" in out
    assert (
        "    synapse=none  [a time constant > 0 in seconds or {key:value,...} or none]  lowpass "
        "time constant" in out
    )
    assert "    mode=auto  [one of auto|data|fixed]" in out
    assert "    percentile=99.9  [a percentile in (0, 100] or {key:value,...}]" in out
    assert "    rate=max  [max or a rate > 0 (Hz) or {key:value,...}]" in out
    assert "    v_init=0.0  [a fraction in [0, 1) or {key:value,...}]" in out
    assert "    drop_softmax=true  [bool]" in out  # booleans print as in .snnir text
    # the neurons and their help come from the catalogue
    from snnc.ir.neurons import NEURONS

    names = "|".join(NEURONS)
    assert f"    neuron=if  [a neuron ({names}) or {{key:neuron,...}}]" in out
    section = out.split("\nneurons (lower-activations{neuron=NAME}):\n")[1]
    for name, cls in NEURONS.items():
        assert f"    {name} " in section and cls.summary in section
    assert "takes tau_rc, tau_ref" in section and "not ReLU-exact" in section
    assert (
        "tau_rc=0.02  [a float > 0]  membrane time constant (s) of the neurons that take it (lif, lif-rate, loihi-lif"
        in out
    )
    # the default pipelines are the targets' own
    from snnc.codegen import get_target

    assert f"    nengo: {get_target('nengo').default_pipeline}\n" in out
    assert f"    loihi: {get_target('loihi').default_pipeline}\n" in out


def test_passes_json_and_load_pass(clean_registry, capsys):
    assert main(["passes", "--json", "--load-pass", str(ROOT / "examples" / "custom_pass.py")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passes"]["prune-weights"]["options"][0]["name"] == "threshold"
    assert data["passes"]["lower-activations"]["stage"] == ["ann"]
    assert data["neurons"]["lif"]["lowering"] == ["tau_rc", "tau_ref"]
    assert data["neurons"]["if"]["relu_exact"] and data["neurons"]["if"]["spiking"]
    assert set(data["default_pipelines"]) >= {"nengo", "nengo-dl", "loihi"}


def test_opt_prints_the_result(model, capsys):
    assert main(["opt", str(model), "-p", "canonicalize,lower-activations{neuron=lif}"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("graph @case(dt=0.001) {") and "snn.lif(" in captured.out
    assert "#" in captured.out  # weights as hashes on stdout
    assert "snnc opt: note: lower-activations: lowered 1 ReLU node(s)" in captured.err
    assert main(["opt", str(model), "-p", "canonicalize", "-q"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "pipeline, message",
    [
        ("canonicalize,,fold-batchnorm", "bad pipeline, column 14: expected a pass name"),
        ("canonicalize,no-such-pass", "unknown pass 'no-such-pass'"),
        ("lower-activations{neuron=", "expected an option value"),
    ],
)
def test_opt_bad_pipeline_exits_2_listing_passes(model, capsys, pipeline, message):
    assert main(["opt", str(model), "-p", pipeline]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert (
        "hint: known passes: canonicalize, fold-batchnorm, fuse-bias, legalize-loihi, lower-activations, max-to-avg-pool, normalize-rates"
        in err
    )


def test_opt_pass_failure_exits_2(model, capsys):
    assert main(["opt", str(model), "-p", "lower-activations,lower-activations"]) == 2
    assert "needs a graph at stage ann (got snn)" in capsys.readouterr().err


def test_opt_writes_snnir_and_snnc(model, tmp_path):
    out = tmp_path / "out.snnir"
    assert main(["opt", str(model), "-p", "canonicalize,fold-batchnorm", "-o", str(out), "-q"]) == 0
    g = load(out)  # written with full weights, so it loads back
    assert not g.nodes_of("nn.batch_norm")
    snnc_file = tmp_path / "out.snnc"
    assert main(["opt", str(model), "-p", "canonicalize", "-o", str(snnc_file), "-q"]) == 0
    from snnc.ir.serialize import load as load_snnc

    g, manifest = load_snnc(snnc_file)
    assert "drop" not in g and manifest["pipeline"] == "canonicalize"


def test_opt_instruments(model, tmp_path, capsys):
    dump = tmp_path / "dumps"
    args = [
        "opt",
        str(model),
        "-p",
        "canonicalize,fold-batchnorm,lower-activations",
        "--dump-ir-after",
        "all",
        "--dump-dir",
        str(dump),
        "--print-ir-diff",
        "--time-passes",
        "-q",
    ]
    assert main(args) == 0
    assert sorted(p.name for p in dump.iterdir()) == [
        "00_input.snnir",
        "01_canonicalize.snnir",
        "02_fold-batchnorm.snnir",
        "03_lower-activations.snnir",
    ]
    err = capsys.readouterr().err
    assert "--- before 02_fold-batchnorm" in err and "-  %bn = nn.batch_norm(%d1)" in err
    assert "03 lower-activations" in err and "total" in err


def test_opt_dump_after_one_pass_to_stderr(model, capsys):
    assert (
        main(
            [
                "opt",
                str(model),
                "-p",
                "canonicalize,lower-activations",
                "--dump-ir-after",
                "lower-activations",
                "-q",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "// ----- IR after 02_lower-activations" in err and "01_canonicalize" not in err


def test_opt_load_pass_runs_the_example(clean_registry, model, capsys):
    args = [
        "opt",
        str(model),
        "-p",
        "canonicalize,prune-weights{threshold=0.75}",
        "--load-pass",
        str(ROOT / "examples" / "custom_pass.py"),
        "--weights",
        "full",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "pruned 1 of 8 weights (12.5%) below 0.75" in captured.err
    assert "weight=<f32[2,2] [[1.0,-1.0],[0.0,2.0]]>" in captured.out


def test_opt_calibration_file(model, tmp_path, capsys):
    cal = tmp_path / "cal.npy"
    np.save(cal, np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))
    assert (
        main(
            [
                "opt",
                str(model),
                "-p",
                "canonicalize,lower-activations,normalize-rates{mode=data}",
                "--calibration",
                str(cal),
            ]
        )
        == 0
    )
    assert "(data mode)" in capsys.readouterr().err
    assert (
        main(
            [
                "opt",
                str(model),
                "-p",
                "canonicalize",
                "--calibration",
                str(tmp_path / "missing.npy"),
            ]
        )
        == 2
    )


def test_opt_default_pipeline_of_a_target(model, capsys):
    assert main(["opt", str(model), "--target", "loihi", "-q"]) == 0
    assert "snn.loihi_if(" in capsys.readouterr().out


def test_opt_on_a_keras_file(capsys):
    assert (
        main(["opt", str(KERAS_MLP), "-p", "canonicalize,fold-batchnorm,lower-activations", "-q"])
        == 0
    )
    assert "snn.if(" in capsys.readouterr().out

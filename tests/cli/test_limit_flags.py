"""The resource-limit options (issue 11): every command that reads a model takes one option
per :class:`snnc.frontend.limits.Limits` field and passes it to the reader; the commands
that simulate take ``--max-run-values``; values must be positive integers."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from small_models import CNN, INPUT_SHAPE, cli, write_small, write_upsampling

import snnc
from snnc.cli import build_parser, main
from snnc.codegen import Compiled
from snnc.commands.common import limits_from_args
from snnc.errors import ModelFileError
from snnc.frontend.limits import DEFAULT_LIMITS, MAX_SAFE_DEPTH, OPTIONS, LimitError, Limits

#: commands that read a model file, and those that also simulate
READERS = {"dump", "opt", "compile", "run", "verify", "sweep", "export"}
SIMULATORS = {"run", "verify", "sweep"}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_model_reader_has_every_limit_option():
    for name, sub in _subparsers().items():
        flags = {s for a in sub._actions for s in a.option_strings}
        limit_flags = {flag for flag, _ in OPTIONS.values()}
        if name in READERS:
            assert limit_flags <= flags, (name, limit_flags - flags)
            assert ("--max-run-values" in flags) == (name in SIMULATORS), name
        else:
            assert not flags & (limit_flags | {"--max-run-values"}), name


@pytest.mark.parametrize("value", ["0", "-1", "2.5", "1e9", "many", ""])
def test_limit_values_must_be_positive_integers(value, capsys):
    code, _, err = cli(capsys, "dump", CNN, "--max-params", value)
    assert code == 2
    assert f"argument --max-params: expected a positive integer (got {value!r})" in err


def test_max_depth_is_capped_at_what_the_parser_survives(capsys):
    code, _, err = cli(capsys, "dump", CNN, "--max-depth", str(MAX_SAFE_DEPTH + 1))
    assert code == 2 and f"expected at most {MAX_SAFE_DEPTH}" in err and "stack" in err
    code, _, err = cli(capsys, "dump", CNN, "--max-depth", str(MAX_SAFE_DEPTH))
    assert code == 0, err


def test_limits_from_args():
    parser = _subparsers()["dump"]
    assert limits_from_args(parser.parse_args([str(CNN)])) == DEFAULT_LIMITS
    args = parser.parse_args([str(CNN), "--max-params", "7", "--max-depth", "12"])
    assert limits_from_args(args) == DEFAULT_LIMITS.replace(max_params=7, max_depth=12)


def test_a_model_over_a_default_limit_needs_the_option(tmp_path, capsys):
    """UpSampling2D(300) makes 23 million values per sample (default limit: 10 million):
    refused with exit 2 and a hint naming --max-activations; accepted with it raised."""
    path = write_upsampling(tmp_path / "up.keras", 300)
    code, out, err = cli(capsys, "dump", path)
    assert code == 2 and "Traceback" not in err
    assert str(path) in err and "limit max_activations" in err and "--max-activations N" in err
    code, out, err = cli(capsys, "dump", path, "--max-activations", "30000000")
    assert code == 0, err
    assert "f32[2400,2400,4]" in out


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("limits")
    model = write_small(d / "small.snnir")
    out = d / "out"
    assert main(["compile", str(model), "-o", str(out), "-q"]) == 0
    np.save(d / "x.npy", np.zeros((2, *INPUT_SHAPE)))
    np.save(d / "y.npy", np.zeros(2, int))
    np.savez(d / "cnn.npz", x=np.zeros((2, 8, 8, 1)), y=np.zeros(2, int))
    return d, model, out


@pytest.mark.parametrize(
    "args",
    [
        ["dump", CNN],
        ["opt", CNN, "-q"],
        ["compile", CNN, "-o", "{d}/never", "-q"],
        ["export", CNN, "-o", "{d}/never.nir"],
        ["verify", CNN, "--data", "{d}/cnn.npz", "-q"],
        ["sweep", CNN, "--data", "{d}/cnn.npz", "--workers", "0", "--no-cache", "-q"],
    ],
    ids=lambda a: a[0],
)
def test_every_reader_passes_the_limits_on(args, small, capsys):
    """A limit below what the CNN needs (about 150 weights) is applied by each command."""
    d = small[0]
    args = [str(a).format(d=d) for a in args]
    code, _, err = cli(capsys, *args, "--max-params", "10")
    assert code == 2, err
    assert str(CNN) in err and "limit max_params" in err and "--max-params N" in err
    assert not (d / "never").exists() and not (d / "never.nir").exists()


def test_run_and_verify_pass_member_bytes_to_model_snnc(small, capsys):
    d, model, out = small
    code, _, err = cli(capsys, "run", out, "-i", d / "x.npy", "-n", "2", "--max-member-bytes", "100")
    assert code == 2 and "model.snnc" in err and "--max-member-bytes" in err, err
    code, _, err = cli(capsys, "run", out, "-i", d / "x.npy", "-n", "2", "-q", "--max-member-bytes", "100000")
    assert code == 0, err
    code, _, err = cli(
        capsys, "verify", model, "--input", d / "x.npy", "--labels", d / "y.npy", "--artifact", out,
        "--tier", "1", "-q", "--max-member-bytes", "100",
    )
    # the model's own .snnir text (891 bytes) is over the limit too, and is read first
    assert code == 2 and "small.snnir" in err and "--max-member-bytes" in err, err


def test_api_functions_take_limits(small, tmp_path):
    low = Limits(max_params=10)
    for call in (
        lambda: snnc.compile(CNN, limits=low),
        lambda: snnc.optimize(CNN, "canonicalize", limits=low),
        lambda: snnc.export(CNN, tmp_path / "m.nir", limits=low),
        lambda: snnc.verify(CNN, (np.zeros((2, 8, 8, 1)), np.zeros(2, int)), limits=low),
    ):
        with pytest.raises(LimitError, match="limit max_params"):
            call()
    with pytest.raises(ModelFileError, match="max_member_bytes"):
        Compiled.load(small[2], limits=Limits(max_member_bytes=100))
    assert Compiled.load(small[2], limits=Limits(max_member_bytes=100_000)).graph is not None


def test_nir_files_are_read_with_the_limits(small, tmp_path, capsys):
    _, model, _ = small
    nir_file = tmp_path / "m.nir"
    code, _, err = cli(capsys, "export", model, "-o", nir_file, "-a", "rectified-current")
    assert code == 0, err
    code, _, err = cli(capsys, "dump", nir_file, "--max-params", "5")
    assert code == 2 and str(nir_file) in err and "--max-params N" in err, err
    with pytest.raises(LimitError, match="limit max_params"):
        snnc.load(nir_file, limits=Limits(max_params=5))


HUGE_SNNIR = """graph @huge(dt=0.001) {
  %x = nn.input() : f32[100000,100000]
  %r = ann.relu(%x) : f32[100000,100000]
  %out = nn.output(%r) : f32[100000,100000]
}
"""


def test_snnir_text_is_read_with_the_limits(tmp_path, capsys):
    """A ten-line .snnir can declare ten billion values per sample: refused at load (it took
    minutes in compile before), accepted by `dump` with the limit raised; a text over
    --max-member-bytes is refused before parsing."""
    path = tmp_path / "huge.snnir"
    path.write_text(HUGE_SNNIR)
    code, _, err = cli(capsys, "compile", path, "-o", tmp_path / "never", "-q")
    assert code == 2 and str(path) in err and "limit max_activations" in err, err
    assert "--max-activations N" in err and not (tmp_path / "never").exists()
    code, out, err = cli(capsys, "dump", path, "--max-activations", "30000000000")
    assert code == 0 and "f32[100000,100000]" in out, err
    code, _, err = cli(capsys, "dump", path, "--max-member-bytes", "50")
    assert code == 2 and "the size of the IR text" in err and "--max-member-bytes N" in err, err
    with pytest.raises(LimitError, match="limit max_activations"):
        snnc.load(path)


def test_model_snnc_and_artifacts_are_read_with_the_limits(small, tmp_path, capsys):
    """The graph limits apply to model.snnc (snnc.load) and to compile outputs (`snnc run`,
    `verify --artifact`) before anything is built or run."""
    d, model, out = small
    with pytest.raises(LimitError, match="limit max_layers"):
        snnc.load(out / "model.snnc", limits=Limits(max_layers=2))
    code, _, err = cli(capsys, "run", out, "-i", d / "x.npy", "-n", "2", "--max-params", "5")
    assert code == 2 and str(out) in err and "limit max_params" in err, err
    code, _, err = cli(
        capsys, "verify", model, "--input", d / "x.npy", "--labels", d / "y.npy", "--artifact", out,
        "--tier", "1", "-q", "--max-activations", "5",
    )
    assert code == 2 and "limit max_activations" in err, err

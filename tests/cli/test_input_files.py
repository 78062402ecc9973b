"""Data files and run cost (issue 11): every bad ``--input`` / ``--labels`` /
``--calibration`` / ``--data`` file ends in exit 2 with a message naming the file (and the
array), through the real CLI entry point; ``--steps 1000000000`` is refused before anything
is allocated; the API runners apply the same checks."""

from __future__ import annotations

import io
import pickle
import tracemalloc
import zipfile

import numpy as np
import pytest
from small_models import CLASSES, INPUT_SHAPE, cli, write_small

import snnc
from snnc.cli import main
from snnc.codegen import Compiled
from snnc.datafiles import check_labels, read_arrays
from snnc.errors import InputShapeError, ModelFileError, SnncError
from snnc.frontend.limits import Limits
from snnc.runcost import MAX_RUN_VALUES, RunLimitError
from snnc.sweep import load_data

N = 5  # samples of the good input file


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """``(folder, model.snnir, compiled OUT, x.npy, y.npy)``: the small classifier, compiled
    for nengo, and a good input / label file for it."""
    d = tmp_path_factory.mktemp("small")
    model = write_small(d / "small.snnir")
    out = d / "out"
    assert main(["compile", str(model), "-o", str(out), "-q"]) == 0
    rng = np.random.default_rng(1)
    np.save(d / "x.npy", rng.random((N, *INPUT_SHAPE)))
    np.save(d / "y.npy", np.array([0, 1, 2, 0, 1]))
    return d, model, out, d / "x.npy", d / "y.npy"


def _npy(path, array, **kw):
    np.save(path, array, **kw)
    return path


def _bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def _header_only(shape) -> bytes:
    """A .npy whose header declares ``shape`` (float64) but which holds 16 bytes of data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue() + bytes(16)


def _zip(path, members: dict[str, bytes], method=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _corrupt_npz(path):
    np.savez_compressed(path, x=np.random.default_rng(0).random((N, *INPUT_SHAPE)))
    data = bytearray(path.read_bytes())
    data[60] ^= 0xFF  # inside the compressed member
    path.write_bytes(bytes(data))
    return path


def _cut(path, src):
    data = src.read_bytes()
    path.write_bytes(data[: len(data) - 20])
    return path


GOOD = np.random.default_rng(2).random((N, *INPUT_SHAPE))
NAN = GOOD.copy()
NAN[0, 0, 0] = np.nan
NAN[3, 1, 2] = -np.inf

#: case -> (make(folder, good x.npy) -> path, words the message holds)
BAD_INPUTS = {
    "nan and inf": (lambda d, x: _npy(d / "nan.npy", NAN), "2 NaN or infinite value(s) of 30"),
    "text": (lambda d, x: _npy(d / "text.npy", np.full((N, *INPUT_SHAPE), "a")), "holds text"),
    "bytes": (lambda d, x: _npy(d / "bytes.npy", np.full((N, *INPUT_SHAPE), b"a")), "holds bytes"),
    "complex": (lambda d, x: _npy(d / "complex.npy", GOOD + 1j), "holds complex numbers"),
    "datetime": (lambda d, x: _npy(d / "dt.npy", np.zeros((N, *INPUT_SHAPE), "datetime64[s]")), "holds dates"),
    "timedelta": (lambda d, x: _npy(d / "td.npy", np.zeros((N, *INPUT_SHAPE), "timedelta64[s]")), "holds time spans"),
    "structured": (lambda d, x: _npy(d / "rec.npy", np.zeros((N, *INPUT_SHAPE), [("a", "f4")])), "structured records"),
    "object array": (
        lambda d, x: _npy(d / "obj.npy", np.array([1, None], object), allow_pickle=True),
        "an array of Python objects",
    ),
    "pickle": (lambda d, x: _bytes(d / "p.npy", pickle.dumps([1.0, 2.0])), "not a .npy or .npz file"),
    "empty file": (lambda d, x: _bytes(d / "empty_file.npy", b""), "not a .npy or .npz file"),
    "scalar": (lambda d, x: _npy(d / "scalar.npy", np.float32(1)), "no axes (a single number)"),
    "one axis": (lambda d, x: _npy(d / "flat1.npy", np.zeros(6)), "has shape [6]"),
    "no samples": (lambda d, x: _npy(d / "none.npy", np.zeros((0, *INPUT_SHAPE))), "is empty"),
    "no values": (lambda d, x: _npy(d / "novalues.npy", np.zeros((N, 0, 3))), "is empty"),
    "wrong shape": (
        lambda d, x: _npy(d / "shape.npy", np.zeros((N, 6))),
        "has shape [5, 6], samples of shape [6] (expected [batch, 2, 3] for the model's input 'x')",
    ),
    "no batch axis": (lambda d, x: _npy(d / "sample.npy", np.zeros(INPUT_SHAPE)), "needs a batch axis"),
    "two arrays for one input": (
        lambda d, x: (np.savez(d / "two.npz", a=GOOD, b=GOOD), d / "two.npz")[1],
        "2 array(s) of input data for a model with 1 input(s)",
    ),
    "truncated npy": (lambda d, x: _cut(d / "cut.npy", x), "truncated or corrupt"),
    "header declaring terabytes": (
        lambda d, x: _bytes(d / "huge.npy", _header_only((10**12, 2, 3))),
        "declares 48,000,000,000,000 bytes of data, the file holds 16",
    ),
    "npz member declaring terabytes": (
        lambda d, x: _zip(d / "hugez.npz", {"x.npy": _header_only((10**12, 2, 3))}),
        "array 'x': truncated or corrupt",
    ),
    "truncated npz": (
        lambda d, x: _cut(d / "cut.npz", (np.savez(d / "whole.npz", x=GOOD), d / "whole.npz")[1]),
        "cannot read input data",
    ),
    "corrupt npz": (lambda d, x: _corrupt_npz(d / "crc.npz"), "cannot read input data"),
    "npz member that is not an array": (
        lambda d, x: _zip(d / "txt.npz", {"notes.txt": b"hello"}),
        "member 'notes.txt' is not a .npy array",
    ),
    "npz without arrays": (lambda d, x: _zip(d / "nothing.npz", {}), "holds no arrays"),
    "a folder": (lambda d, x: (d / "folder.npy").mkdir(exist_ok=True) or d / "folder.npy", "not a file"),
    "missing": (lambda d, x: d / "missing.npy", "no such file"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_run_refuses_bad_input_files(case, small, capsys):
    d, _, out, x, _ = small
    make, words = BAD_INPUTS[case]
    path = make(d, x)
    code, _, err = cli(capsys, "run", out, "--input", path, "-n", "3", "-q")
    assert code == 2, err
    assert err.startswith("snnc run: error:") and "Traceback" not in err
    assert str(path) in err and words in err, err


@pytest.mark.parametrize(
    "array",
    [np.ones((N, *INPUT_SHAPE), bool), np.ones((N, *INPUT_SHAPE), np.int16), GOOD.astype(np.float16)],
    ids=["bool", "int16", "float16"],
)
def test_run_accepts_booleans_and_integers(array, small, tmp_path, capsys):
    d, _, out, _, _ = small
    code, stdout, err = cli(capsys, "run", out, "--input", _npy(tmp_path / "x.npy", array), "-n", "3", "-q")
    assert code == 0, err
    assert f"output 'out' [{N}, {CLASSES}]" in stdout


#: case -> (labels, words the message holds)
BAD_LABELS = {
    "fractional": (np.array([0.5, 1, 2, 0, 1]), "not whole numbers, e.g. [0.5]"),
    "nan": (np.array([np.nan, 1, 2, 0, 1]), "not whole numbers"),
    "booleans": (np.ones(N, bool), "labels must be integer class indices (got dtype bool"),
    "text": (np.array(list("abcab")), "labels must be integer class indices (got dtype <U1"),
    "complex": (np.ones(N, complex), "labels must be integer class indices (got dtype complex128"),
    "negative": (np.array([0, -1, 2, 0, 1]), "negative label -1"),
    "fewer than inputs": (np.array([0, 1, 2, 0]), f"4 labels for {N} samples in"),
    "out of range": (np.array([0, 1, 3, 0, 1]), "label 3 but the model's output 'out' has 3 values"),
    "not one-hot": (np.full((N, 3), 0.5), "not one-hot rows"),
    "3-D": (np.zeros((N, 1, 1)), "labels have shape [5, 1, 1]"),
    "scalar": (np.int64(1), "labels have shape []"),
    "empty": (np.zeros(0, int), "no labels"),
}


@pytest.mark.parametrize("case", sorted(BAD_LABELS))
def test_run_refuses_bad_labels(case, small, tmp_path, capsys):
    _, _, out, x, _ = small
    labels, words = BAD_LABELS[case]
    path = _npy(tmp_path / "labels.npy", labels)
    code, _, err = cli(capsys, "run", out, "--input", x, "--labels", path, "-n", "3", "-q")
    assert code == 2, err
    assert "Traceback" not in err and str(path) in err and words in err, err


def test_run_labels_in_a_npz_with_two_arrays(small, tmp_path, capsys):
    _, _, out, x, _ = small
    path = tmp_path / "two.npz"
    np.savez(path, a=np.zeros(N, int), b=np.zeros(N, int))
    code, _, err = cli(capsys, "run", out, "--input", x, "--labels", path, "-n", "3", "-q")
    assert code == 2 and str(path) in err and "holds 2 arrays (a, b)" in err, err


@pytest.mark.parametrize(
    "labels",
    [np.array([0.0, 1, 2, 0, 1]), np.eye(3)[[0, 1, 2, 0, 1]], np.array([[0], [1], [2], [0], [1]])],
    ids=["whole floats", "one-hot", "column"],
)
def test_run_accepts_whole_floats_and_one_hot_labels(labels, small, tmp_path, capsys):
    _, _, out, x, _ = small
    path = _npy(tmp_path / "labels.npy", labels)
    code, stdout, err = cli(capsys, "run", out, "--input", x, "--labels", path, "-n", "3", "-q")
    assert code == 0, err
    assert stdout.startswith("accuracy: ") and f"/{N})" in stdout


# ----------------------------------------------------------------------------- calibration


@pytest.mark.parametrize(
    "command",
    [["compile", "-o", "{tmp}/out", "-q"], ["opt", "-q"], ["export", "-o", "{tmp}/m.nir"]],
    ids=["compile", "opt", "export"],
)
@pytest.mark.parametrize(
    "array, words",
    [
        (NAN, "calibration data holds 2 NaN or infinite value(s)"),
        (np.zeros((N, 3, 2)), "calibration data has shape [5, 3, 2]"),
        (np.full((N, *INPUT_SHAPE), "x"), "calibration data holds text"),
    ],
    ids=["nan", "shape", "text"],
)
def test_bad_calibration_is_refused_before_any_work(command, array, words, small, tmp_path, capsys):
    _, model, _, _, _ = small
    path = _npy(tmp_path / "cal.npy", array)
    name, *rest = command
    rest = [a.format(tmp=tmp_path) for a in rest]
    code, _, err = cli(capsys, name, model, "--calibration", path, *rest)
    assert code == 2, err
    assert "Traceback" not in err and str(path) in err and words in err, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.nir").exists()


def test_good_calibration_file_compiles(small, tmp_path, capsys):
    d, model, _, x, _ = small
    code, _, err = cli(capsys, "compile", model, "--calibration", x, "-o", tmp_path / "out", "-q")
    assert code == 0, err


# ----------------------------------------------------------------------------- verify, sweep


def _xy(path, x, y):
    np.savez(path, x=x, y=y)
    return path


BAD_DATA = {
    "nan inputs": (lambda p: _xy(p, NAN, np.zeros(N, int)), "array 'x': input data holds 2 NaN"),
    "object labels": (
        lambda p: _xy(p, GOOD, np.array([0, None, 1, 1, 1], object)),
        "array 'y': an array of Python objects",
    ),
    "wrong shape": (
        lambda p: _xy(p, np.zeros((N, 3, 2)), np.zeros(N, int)),
        "array 'x': input data has shape [5, 3, 2]",
    ),
    "label count": (lambda p: _xy(p, GOOD, np.zeros(N + 1, int)), f"{N + 1} labels for {N} samples"),
    "fractional labels": (lambda p: _xy(p, GOOD, np.full(N, 0.5)), "not whole numbers"),
    "complex inputs": (lambda p: _xy(p, GOOD + 1j, np.zeros(N, int)), "holds complex numbers"),
}


@pytest.mark.parametrize("command", ["verify", "sweep"])
@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_verify_and_sweep_refuse_bad_data(command, case, small, tmp_path, capsys):
    _, model, _, _, _ = small
    make, words = BAD_DATA[case]
    path = make(tmp_path / "data.npz")
    extra = ["--workers", "0", "--no-cache"] if command == "sweep" else []
    code, _, err = cli(capsys, command, model, "--data", path, "-q", *extra)
    assert code == 2, err
    assert err.startswith(f"snnc {command}: error:") and "Traceback" not in err
    assert str(path) in err and words in err, err


@pytest.mark.parametrize(
    "which, make, words",
    [
        ("--input", lambda p: _npy(p, np.full((N, *INPUT_SHAPE), np.inf)), "30 NaN or infinite"),
        ("--labels", lambda p: _npy(p, np.ones(N, bool)), "got dtype bool"),
        ("--calibration", lambda p: _npy(p, np.zeros((N, 7))), "has shape [5, 7]"),
    ],
)
def test_verify_names_the_bad_file_of_input_labels_calibration(which, make, words, small, tmp_path, capsys):
    _, model, _, x, y = small
    files = {"--input": x, "--labels": y, "--calibration": x}
    files[which] = make(tmp_path / "bad.npy")
    args = [a for k, v in files.items() for a in (k, v)]
    code, _, err = cli(capsys, "verify", model, *args, "-q")
    assert code == 2, err
    assert str(files[which]) in err and words in err, err


def test_sweep_names_a_bad_calibration_file(small, tmp_path, capsys):
    _, model, _, _, _ = small
    data = _xy(tmp_path / "d.npz", GOOD, np.zeros(N, int))
    cal = _npy(tmp_path / "cal.npy", np.full((N, *INPUT_SHAPE), "x"))
    code, _, err = cli(capsys, "sweep", model, "--data", data, "--calibration", cal, "--workers", "0", "--no-cache", "-q")
    assert code == 2 and str(cal) in err and "calibration data holds text" in err, err


# ----------------------------------------------------------------------------- decompression bombs

BOMB_SAMPLES = 100_000  # zeros: 4,800,000 bytes of float64 that np.savez_compressed packs into ~5 KB
CAP = "1000000"


@pytest.fixture(scope="module")
def bombs(small):
    """``(bomb.npz: x, bomb_xy.npz: x and y)``, compressed zeros declaring 4.8 MB in x."""
    d = small[0]
    x = np.zeros((BOMB_SAMPLES, *INPUT_SHAPE))
    np.savez_compressed(d / "bomb.npz", x=x)
    np.savez_compressed(d / "bomb_xy.npz", x=x, y=np.zeros(BOMB_SAMPLES, np.int8))
    assert (d / "bomb.npz").stat().st_size < 50_000
    return d / "bomb.npz", d / "bomb_xy.npz"


#: case -> the command; {out} {model} {x} {y} are the small fixture's, {bomb} {bomb_xy} the
#: bombs; {tmp} a fresh folder
BOMB_COMMANDS = {
    "run --input": ["run", "{out}", "--input", "{bomb}", "-n", "3", "-q"],
    "run --labels": ["run", "{out}", "--input", "{x}", "--labels", "{bomb}", "-n", "3", "-q"],
    "compile --calibration": ["compile", "{model}", "--calibration", "{bomb}", "-o", "{tmp}/out", "-q"],
    "opt --calibration": ["opt", "{model}", "--calibration", "{bomb}", "-q"],
    "export --calibration": ["export", "{model}", "--calibration", "{bomb}", "-o", "{tmp}/m.nir"],
    "verify --data": ["verify", "{model}", "--data", "{bomb_xy}", "-q"],
    "verify --input": ["verify", "{model}", "--input", "{bomb}", "--labels", "{y}", "-q"],
    "verify --calibration": [
        "verify", "{model}", "--input", "{x}", "--labels", "{y}", "--calibration", "{bomb}", "-q",
    ],
    "sweep --data": ["sweep", "{model}", "--data", "{bomb_xy}", "--workers", "0", "--no-cache", "-q"],
    "sweep --calibration": [
        "sweep", "{model}", "--data", "{good_xy}", "--calibration", "{bomb}", "--workers", "0",
        "--no-cache", "-q",
    ],
}


@pytest.mark.parametrize("case", sorted(BOMB_COMMANDS))
def test_compressed_zeros_over_max_member_bytes_are_refused(case, small, bombs, tmp_path, capsys):
    """A few KB of np.savez_compressed zeros declaring 4.8 MB: refused by every command
    that reads data files, before numpy inflates them, naming the file, the array, the
    sizes and the option that allows it."""
    d, model, out, x, y = small
    bomb, bomb_xy = bombs
    files = {
        "out": out, "model": model, "x": x, "y": y, "bomb": bomb, "bomb_xy": bomb_xy, "tmp": tmp_path,
        "good_xy": _xy(tmp_path / "good.npz", GOOD, np.zeros(N, int)),
    }
    args = [a.format(**files) for a in BOMB_COMMANDS[case]]
    code, _, err = cli(capsys, *args, "--max-member-bytes", CAP)
    assert code == 2, err
    assert f"snnc {args[0]}: error:" in err and "Traceback" not in err  # export has a note first
    bad = bomb_xy if "{bomb_xy}" in BOMB_COMMANDS[case] else bomb
    assert f"{bad}: array 'x'" in err, err
    assert "declares 4,800,000 bytes of data (expected at most 1,000,000 bytes per array" in err, err
    assert "--max-member-bytes N" in err, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.nir").exists()


def test_compressed_zeros_are_accepted_with_max_member_bytes_raised(small, bombs, tmp_path, capsys):
    _, model, _, _, _ = small
    bomb = bombs[0]
    code, _, err = cli(capsys, "compile", model, "--calibration", bomb, "-o", tmp_path / "a", "-q",
                       "--max-member-bytes", "4800000")
    assert code == 0, err
    code, _, err = cli(capsys, "compile", model, "--calibration", bomb, "-o", tmp_path / "b", "-q")
    assert code == 0, err  # the default (512 MiB) allows it


def test_api_functions_read_data_files_with_the_limits(small, bombs):
    _, model, _, _, y = small
    bomb, bomb_xy = bombs
    low = Limits(max_member_bytes=int(CAP))
    for call in (
        lambda: snnc.compile(model, calibration=bomb, limits=low),
        lambda: snnc.optimize(model, "canonicalize", calibration=bomb, limits=low),
        lambda: snnc.verify(model, bomb_xy, tiers=1, limits=low),
        lambda: snnc.verify(model, (bomb, y), tiers=1, limits=low),
        lambda: load_data(bomb_xy, max_member_bytes=int(CAP)),
    ):
        with pytest.raises(ModelFileError, match=r"array 'x': .* declares 4,800,000 bytes") as info:
            call()
        assert "max_member_bytes=N" in info.value.hint
    assert snnc.compile(model, calibration=bomb, limits=Limits(max_member_bytes=4_800_000)).graph is not None


@pytest.mark.parametrize(
    "save",
    [
        lambda p, a: (np.save(p / "a.npy", a), p / "a.npy")[1],
        lambda p, a: (np.savez(p / "a.npz", a=a), p / "a.npz")[1],
        lambda p, a: (np.savez_compressed(p / "a.npz", a=a), p / "a.npz")[1],
    ],
    ids=["npy", "npz", "npz compressed"],
)
def test_read_arrays_caps_each_array(save, tmp_path):
    path = save(tmp_path, np.zeros((100, 10)))  # 8,000 bytes of data
    assert read_arrays(path, max_member_bytes=8000)[0][1].shape == (100, 10)
    assert read_arrays(path)[0][1].shape == (100, 10)  # the default: 512 MiB
    where = str(path) if path.suffix == ".npy" else f"{path}: array 'a'"
    with pytest.raises(ModelFileError) as info:
        read_arrays(path, max_member_bytes=7999)
    assert info.value.message == (
        f"{where}: the array (shape [100, 10], dtype float64) declares 8,000 bytes of data "
        "(expected at most 7,999 bytes per array; limit max_member_bytes)"
    )
    assert "--max-member-bytes N" in info.value.hint and "max_member_bytes=N" in info.value.hint


def _lying_npz(path, shape):
    """A deflated .npz whose one member ``x.npy`` has a header declaring ``shape`` (float64)
    and 16 bytes of data, and whose zip directory says the member inflates to exactly what
    the header declares: a decompression bomb as the truncation check sees it."""
    member = _header_only(shape)
    _zip(path, {"x.npy": member}, zipfile.ZIP_DEFLATED)
    size = len(member) - 16 + int(np.prod(shape)) * 8
    data = bytearray(path.read_bytes())
    at = data.index(b"PK\x01\x02")  # the central directory entry: its uncompressed size
    data[at + 24 : at + 28] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "make, words",
    [
        (
            lambda p: _zip(p, {"x.npy": _header_only((100_000, 100_000))}, zipfile.ZIP_DEFLATED),
            "array 'x': truncated or corrupt (its header declares 80,000,000,000 bytes of data",
        ),
        (
            lambda p: _lying_npz(p, (20_000, 20_000)),
            "array 'x': the array (shape [20000, 20000], dtype float64) declares 3,200,000,000 "
            "bytes of data (expected at most 536,870,912 bytes per array",
        ),
    ],
    ids=["member size from the data", "member size from a lying zip directory"],
)
def test_a_huge_npz_member_header_allocates_nothing(make, words, tmp_path):
    """Refused from the header: by the truncation check when the zip directory gives the
    member's real size, by the default max_member_bytes when it claims the declared size."""
    path = make(tmp_path / "huge.npz")
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError) as info:
            read_arrays(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert words in info.value.message, info.value.message
    assert peak < 16 << 20


# ----------------------------------------------------------------------------- run cost


def test_a_billion_steps_is_refused_at_once(small, capsys):
    """Refused before any allocation (it used to ask for 238 GiB), naming the option."""
    _, _, out, x, _ = small
    tracemalloc.start()
    try:
        code, _, err = cli(capsys, "run", out, "--input", x, "--steps", "1000000000", "-q")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 2, err
    assert "1,000,000,000 steps" in err and "limit max_run_values" in err and "--max-run-values N" in err
    assert peak < 64 << 20


@pytest.mark.parametrize("steps", ["0", "-4", "2.5", "many"])
def test_run_refuses_steps_that_are_not_positive_integers(steps, small, capsys):
    _, _, out, x, _ = small
    code, _, err = cli(capsys, "run", out, "--input", x, "--steps", steps, "-q")
    assert code == 2 and "--steps" in err and "Traceback" not in err, err


def test_only_a_saved_trace_holds_every_step(small, tmp_path, capsys):
    """Printing needs the last step only: run chunk by chunk, so a limit the whole trace
    exceeds (5 samples x 2000 steps x 3 outputs = 30,000 values) still lets it run; saving
    the trace (-o) is refused until the limit is raised."""
    _, _, out, x, _ = small
    args = ["run", out, "--input", x, "--steps", "2000", "-q"]
    code, stdout, err = cli(capsys, *args, "--max-run-values", "20000")
    assert code == 0, err
    assert f"output 'out' [{N}, {CLASSES}]" in stdout
    saved = tmp_path / "y.npy"
    code, _, err = cli(capsys, *args, "--max-run-values", "20000", "-o", saved)
    assert code == 2 and "30,000 values (expected at most 20,000" in err, err
    assert not saved.exists()
    code, _, err = cli(capsys, *args, "--max-run-values", "30000", "-o", saved)
    assert code == 0, err
    assert np.load(saved).shape == (N, 2000, CLASSES)


@pytest.mark.parametrize("value", ["0", "-1", "1e9", "lots"])
def test_max_run_values_must_be_a_positive_integer(value, small, capsys):
    _, _, out, x, _ = small
    code, _, err = cli(capsys, "run", out, "--input", x, "--max-run-values", value)
    assert code == 2 and "argument --max-run-values: expected a positive integer" in err, err


def test_verify_tier2_cost_is_bounded(small, capsys):
    _, model, _, x, y = small
    args = ["verify", model, "--input", x, "--labels", y, "--steps", "100000000", "-q"]
    code, _, err = cli(capsys, *args)
    assert code == 2 and "tier 2's record of one sample" in err and "--max-run-values" in err, err
    code, out, err = cli(capsys, *args, "--tier", "1")  # no simulation over time: no bound
    assert code == 0, err


def test_sweep_cost_is_bounded(small, tmp_path, capsys):
    _, model, _, _, _ = small
    data = _xy(tmp_path / "d.npz", GOOD, np.zeros(N, int))
    code, _, err = cli(
        capsys, "sweep", model, "--data", data, "--steps", "4,100000000", "--act-bits", "1",
        "--workers", "0", "--no-cache", "-q",
    )
    assert code == 2 and "sweep: one sample's record (100,000,000 steps" in err and "--max-run-values" in err, err


# ----------------------------------------------------------------------------- the API


@pytest.fixture(scope="module")
def compiled(small):
    return Compiled.load(small[2])


def test_compiled_run_checks_its_inputs(compiled):
    with pytest.raises(SnncError, match=r"^x: input data holds 2 NaN"):
        compiled.run(NAN, 3, progress=False)
    with pytest.raises(SnncError, match="x: input data holds text"):
        compiled.run(np.full((N, *INPUT_SHAPE), "a"), 3, progress=False)
    with pytest.raises(InputShapeError, match=r"expected \[batch, 2, 3\]"):
        compiled.run(np.zeros((N, 6)), 3, progress=False)
    with pytest.raises(InputShapeError, match=r"no array for input\(s\) 'x'"):
        compiled.run({"y": GOOD}, 3, progress=False)


@pytest.mark.parametrize("steps", [0, -1, 2.5, "3", True, None])
def test_compiled_run_steps_must_be_positive_integers(compiled, steps):
    with pytest.raises(SnncError, match="Compiled.run: steps must be an integer >= 1"):
        compiled.run(GOOD, steps, progress=False)


def test_compiled_run_bound(compiled):
    with pytest.raises(RunLimitError) as info:
        compiled.run(GOOD, 10**9, progress=False)
    assert info.value.found == 10**9 * N * CLASSES and info.value.limit == MAX_RUN_VALUES
    with pytest.raises(RunLimitError):
        compiled.run(GOOD, 10, progress=False, max_run_values=10 * N * CLASSES - 1)
    assert compiled.run(GOOD, 10, progress=False, max_run_values=10 * N * CLASSES).shape == (N, 10, CLASSES)
    # without the trace only one sample's steps are held at once
    last = compiled.run(GOOD, 10, progress=False, trace=False, max_run_values=10 * CLASSES)
    assert last.shape == (N, CLASSES)
    with pytest.raises(SnncError, match="max_run_values: must be a positive integer"):
        compiled.run(GOOD, 10, progress=False, max_run_values=0)


def test_last_step_in_chunks_equals_the_trace(compiled, monkeypatch):
    import snnc.codegen.compiled as module

    full = compiled.run(GOOD, 12, progress=False)
    monkeypatch.setattr(module, "_CHUNK_VALUES", 2 * 12 * CLASSES)  # chunks of 2 samples
    last = compiled.run(GOOD, 12, progress=False, trace=False)
    np.testing.assert_array_equal(last, full[:, -1])
    raw = compiled.run(GOOD, 12, progress=False, trace=False, readout="raw")
    np.testing.assert_array_equal(raw, compiled.run(GOOD, 12, progress=False, readout="raw")[:, -1])


def test_batched_target_chunks_whole_minibatches(small, monkeypatch):
    """nengo-dl: chunks are whole minibatches (here 2 samples of 5: 2 + 2 + 1)."""
    import snnc.codegen.compiled as module

    c = snnc.compile(small[1], "nengo-dl")
    full = c.run(GOOD, 8, batch=2, progress=False)
    monkeypatch.setattr(module, "_CHUNK_VALUES", 1)
    last = c.run(GOOD, 8, batch=2, progress=False, trace=False)
    np.testing.assert_allclose(last, full[:, -1], rtol=1e-6)
    # the bound counts the minibatch nengo-dl feeds: 8 steps x 2 samples x (3 out + 6 in)
    with pytest.raises(RunLimitError, match="plus the input feed of 2 samples"):
        c.run(GOOD, 8, batch=2, progress=False, trace=False, max_run_values=8 * 2 * 9 - 1)
    c.close()


def test_simulate_checks_inputs_and_cost(compiled):
    g = compiled.graph
    assert snnc.simulate(g, GOOD, 4).shape == (N, 4, CLASSES)
    with pytest.raises(SnncError, match="x: input data holds complex numbers"):
        snnc.simulate(g, GOOD + 1j, 4)
    with pytest.raises(SnncError, match="simulate: steps must be an integer >= 1"):
        snnc.simulate(g, GOOD, 0)
    with pytest.raises(RunLimitError, match="1,000,000,000 steps"):
        snnc.simulate(g, GOOD, 10**9)
    # return_all records every node: refused where the outputs alone pass
    limit = 4 * N * CLASSES
    snnc.simulate(g, GOOD, 4, max_run_values=limit)
    with pytest.raises(RunLimitError):
        snnc.simulate(g, GOOD, 4, max_run_values=limit, return_all=True)


def test_verify_api_reads_and_names_files(small, tmp_path):
    _, model, _, x, _ = small
    bad = _npy(tmp_path / "labels.npy", np.array([0.5] * N))
    with pytest.raises(SnncError, match="labels.npy: labels must be integer class indices"):
        snnc.verify(model, (x, bad), tiers=1)
    with pytest.raises(SnncError, match=r"^x: input data holds 2 NaN"):
        snnc.verify(model, (NAN, np.zeros(N, int)), tiers=1)
    report = snnc.verify(model, (x, small[4]), tiers=1, progress=False)
    assert report.samples == N


def test_compile_api_takes_a_calibration_path(small, tmp_path):
    _, model, _, x, _ = small
    assert snnc.compile(model, calibration=x).graph is not None
    bad = _npy(tmp_path / "cal.npy", np.zeros((N, 7)))
    with pytest.raises(InputShapeError, match="cal.npy: calibration data has shape"):
        snnc.compile(model, calibration=bad)
    with pytest.raises(SnncError, match="^calibration: calibration data holds 2 NaN"):
        snnc.optimize(model, "canonicalize", calibration=NAN)


def test_a_lying_npz_header_allocates_nothing(tmp_path):
    path = _zip(tmp_path / "huge.npz", {"x.npy": _header_only((10**9, 1000))}, zipfile.ZIP_DEFLATED)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="array 'x': truncated or corrupt"):
            read_arrays(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_read_arrays_keeps_file_order_and_names(tmp_path):
    np.savez(tmp_path / "d.npz", b=np.zeros((1, 2)), a=np.ones((1, 3)))
    assert [(n, a.shape) for n, a in read_arrays(tmp_path / "d.npz")] == [("b", (1, 2)), ("a", (1, 3))]
    np.save(tmp_path / "one.npy", np.zeros((2, 2)))
    assert [n for n, _ in read_arrays(tmp_path / "one.npy")] == [""]


def test_check_labels_kinds():
    assert check_labels(np.array([0, 2], np.uint8)).tolist() == [0, 2]
    assert check_labels(np.array([1.0, 0.0], np.float32)).dtype == np.int64
    with pytest.raises(SnncError, match="dtype bool"):
        check_labels(np.array([True, False]))
    with pytest.raises(SnncError, match="dtype datetime64"):
        check_labels(np.zeros(2, "datetime64[s]"))

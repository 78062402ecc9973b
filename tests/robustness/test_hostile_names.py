"""Names are data, end to end (issue 11, items 1 and 6).

- The CLI on every target: a genuine tf.keras model whose Input and model names are code
  injections (Keras accepts both) and whose hidden layer's name in the ``.keras`` config is
  another one (Keras refuses such a layer name when building, a file can still hold it), as
  ``.keras``, legacy ``.h5``, ``.snnir`` and ``model.snnc``: ``snnc compile`` then
  ``snnc run`` succeed (the names are all representable), the outputs are the model's, and
  no code runs (a marker file stays absent). The default run covers every target with the ``.keras`` file and every
  source on ``nengo``, in process; ``-m slow`` runs every source on every target as real
  subprocesses, so the exit codes are the processes' own.
- Random names (hypothesis: quotes, backslashes, control characters, NUL, lone surrogates,
  any Unicode, injection fragments) as the model, input and layer names of a ``.keras``
  config: ``snnc.load`` refuses them with an ``SnncError`` or loads them, and then the rate
  network compiles for ``nengo``, its module is valid Python, it runs, saves, reloads and
  runs again with the outputs of the unrenamed model, the ``.snnir`` text parses back to the
  same graph, and the DOT / JSON dumps are written, all without running the names.

tests/codegen/test_names.py covers hand-written ``.snnir`` graphs through the API;
tests/robustness/test_fuzz_files.py covers hostile names in mutated configs at load.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import zoo
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz_files import _dumps, _rezip, injections

import snnc
from snnc.cli import main as snnc_main
from snnc.codegen import Compiled, compile_graph
from snnc.errors import SnncError
from snnc.ir.parser import parse_graph
from snnc.ir.printer import print_graph
from snnc.ir.serialize import to_dot, to_json

tf = zoo.tf
L = tf.keras.layers

TARGETS = ("nengo", "nengo-dl", "loihi")
SOURCES = ("keras", "h5", "snnir", "snnc")
#: nengo-dl simulates in float32 (as tests/codegen/test_keras_parity.py's tolerance allows)
TOL = {"nengo": 1e-5, "nengo-dl": 1e-4}
#: the base model's names, replaced in its config by the hostile ones
BASE_NAMES = ("the_model", "the_input", "the_hidden", "the_output")


def _model(input_name: str, model_name: str) -> tf.keras.Model:
    inp = tf.keras.Input((6,), name=input_name)
    h = L.Dense(5, activation="relu", name="the_hidden")(inp)
    out = L.Dense(3, name="the_output")(h)
    model = tf.keras.Model(inp, out, name=model_name)
    zoo.randomize_weights(model, 11)
    return model


def rename(src: Path, dst: Path, names: dict[str, str]) -> Path:
    """``src`` (a ``.keras`` file) with the names ``names`` maps replaced in its config
    (each a whole JSON string, so every reference to the layer changes with it)."""
    with zipfile.ZipFile(src) as z:
        text = z.read("config.json").decode()
    for old, new in names.items():
        text = text.replace(json.dumps(old), _dumps(new).decode("utf-8", errors="surrogatepass"))
    dst.write_bytes(
        _rezip(src.read_bytes(), {"config.json": text.encode("utf-8", errors="surrogatepass")})
    )
    return dst


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """``(folder, marker, files by source, inputs, Keras outputs)``: the hostile model in
    every source format."""
    work = tmp_path_factory.mktemp("names")
    marker = work / "pwned"
    inj = injections(marker)
    input_name = inj[0] + "\\N \n\r\t é☃\u2028"  # breaks out of "...", then awkward characters
    model_name = inj[2]  # breaks out of a docstring
    layer_name = inj[1] + inj[3] + inj[4] + inj[5]  # '...', f-string {...}, $(...), `...`
    model = _model(input_name, model_name)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 6)).astype(np.float32)
    want = zoo.reference_outputs(model, [x])[0]
    np.save(work / "x.npy", x)
    files = {"h5": work / "hostile.h5"}
    model.save(files["h5"], save_format="h5")
    model.save(work / "genuine.keras", save_format="keras_v3")
    files["keras"] = rename(
        work / "genuine.keras", work / "hostile.keras", {"the_hidden": layer_name}
    )
    files["snnir"], files["snnc"] = work / "hostile.snnir", work / "model.snnc"
    for f in ("snnir", "snnc"):  # the loaded graph as IR text / model.snnc, names and all
        assert snnc_main(["opt", str(files["keras"]), "-p", "", "-o", str(files[f])]) == 0
    g = snnc.load(files["snnir"])
    assert {g.name, *g.nx} >= {model_name, input_name, layer_name}  # the names survived
    assert not marker.exists()
    return work, marker, files, x, want


def _cli(args: list[str], in_process: bool) -> tuple[int, str]:
    """``(exit code, stderr)`` of ``snnc *args``."""
    if not in_process:
        r = subprocess.run(
            [sys.executable, "-m", "snnc", *args], capture_output=True, text=True, timeout=600
        )
        return r.returncode, r.stderr
    return snnc_main(args), ""  # SnncError -> 2; anything else propagates (a traceback)


def check_cli(hostile, target: str, source: str, in_process: bool) -> None:
    work, marker, files, x, want = hostile
    out, y_file = work / f"out-{target}-{source}", work / f"y-{target}-{source}.npy"
    # rate neurons on nengo / nengo-dl, so the outputs must be Keras's; loihi has none
    neuron = [] if target == "loihi" else ["--neuron", "rate-relu"]
    rc, err = _cli(
        ["compile", str(files[source]), "-t", target, *neuron, "-o", str(out), "-f", "-q"],
        in_process,
    )
    assert not marker.exists(), f"compile ran a name: {marker} exists"
    assert rc == 0 and "Traceback" not in err, err[-3000:]
    rc, err = _cli(
        ["run", str(out), "-i", str(work / "x.npy"), "-n", "2", "-o", str(y_file), "-q"], in_process
    )
    assert not marker.exists(), f"run ran a name: {marker} exists"
    assert rc == 0 and "Traceback" not in err, err[-3000:]
    y = np.load(y_file)
    assert y.shape == (len(x), 2, 3)
    if target in TOL:
        np.testing.assert_allclose(y[:, -1], want, rtol=TOL[target], atol=TOL[target])
    else:  # spiking (loihi's neurons): finite; values are tests/codegen/test_loihi*.py's
        assert np.all(np.isfinite(y))


DEFAULT_CASES = [(t, "keras") for t in TARGETS] + [("nengo", s) for s in SOURCES if s != "keras"]


@pytest.mark.parametrize("target, source", DEFAULT_CASES)
def test_hostile_names_through_the_cli(hostile, target, source):
    check_cli(hostile, target, source, in_process=True)


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("source", SOURCES)
def test_hostile_names_through_the_cli_subprocess(hostile, target, source):
    check_cli(hostile, target, source, in_process=False)


# ----------------------------------------------------------------------------- random names

#: characters that break quoting, lines, escapes or encodings, and injection fragments
AWKWARD = [*"\"'\\\n\r\t\x0b\x0c\x1b\x7f\x85\u2028\u2029\ufeff{}%$`;#/.: "]
FRAGMENTS = [
    '"""',
    "'''",
    '"+',
    "+'",
    "\\N",
    "\\x41",
    "{0}",
    "%s",
    "__import__('os').system('touch MARKER')",
    '__import__("os").system("touch MARKER")',
    ")\n",
    "é漢☃",
]
#: characters no file can carry in a name: NUL and lone surrogates
BAD = ["\x00", "\ud800", "\udfff"]


@st.composite
def names(draw) -> str:
    """A name of awkward characters, fragments and any Unicode; one in twenty gets a
    character no file can carry in a name (NUL, a lone surrogate)."""
    char = st.characters(exclude_characters="\x00")  # NUL comes below, as rarely as BAD's others
    piece = st.one_of(
        st.sampled_from(AWKWARD), st.sampled_from(FRAGMENTS), char, st.text(char, max_size=3)
    )
    name = "".join(draw(st.lists(piece, min_size=1, max_size=8)))
    if draw(st.integers(0, 19)) == 0:
        i = draw(st.integers(0, len(name)))
        name = name[:i] + draw(st.sampled_from(BAD)) + name[i:]
    return name


def unrepresentable(name: str) -> bool:
    return "\x00" in name or any(0xD800 <= ord(c) <= 0xDFFF for c in name)


#: a new name for each base name: none of them a base name (so renaming is one step), no
#: two layers alike (tests/frontend covers duplicate layer names)
RENAMINGS = st.fixed_dictionaries({n: names() for n in BASE_NAMES}).filter(
    lambda d: not set(d.values()) & set(BASE_NAMES) and len({d[n] for n in BASE_NAMES[1:]}) == 3
)


def may_refuse(renaming: dict[str, str]) -> bool:
    """Whether snnc may refuse ``renaming``: a name no file can carry, a nameless layer, or
    two layers with one name."""
    layers = [renaming.get(n, n) for n in BASE_NAMES[1:]]
    return any(map(unrepresentable, renaming.values())) or "" in layers or len(set(layers)) < 3


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """``(genuine .keras file, inputs, snnc's outputs of it)`` with the base names."""
    work = tmp_path_factory.mktemp("random-names")
    path = work / "base.keras"
    _model("the_input", "the_model").save(path, save_format="keras_v3")
    x = np.random.default_rng(1).uniform(-1, 1, (2, 6)).astype(np.float32)
    return path, x, snnc.evaluate(snnc.load(path), x)


def check_names(base, names: dict[str, str], tmp: Path) -> str:
    """The oracle for one renaming; returns ``"loaded"`` or ``"refused"``."""
    path, x, want = base
    marker = tmp / "pwned"
    names = {old: new.replace("MARKER", str(marker)) for old, new in names.items()}
    src = rename(path, tmp / "renamed.keras", names)
    try:
        g = snnc.load(src)
    except SnncError as e:
        assert str(e).strip()
        assert may_refuse(names), f"refused {names!r}: {e}"
        return "refused"
    finally:
        assert not marker.exists()
    with compile_graph(g, "nengo", neuron="rate-relu") as c:
        tree = ast.parse(c.source)  # valid Python whatever the names
        assert "__import__" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        y = c.run(x, steps=1, progress=False)
        np.testing.assert_allclose(y[:, -1], want, rtol=1e-5, atol=1e-5)
        out = c.save(tmp / "out", force=True)
    with Compiled.load(out) as loaded:  # what `snnc run` does
        np.testing.assert_array_equal(loaded.run(x, steps=1, progress=False), y)
    again = parse_graph(print_graph(g, weights="full"))  # .snnir text round trip
    assert again.structurally_equal(g) and again.name == g.name
    to_dot(g)
    json.dumps(to_json(g))
    assert not marker.exists()
    return "loaded"


@settings(max_examples=15, deadline=None)
@given(names=RENAMINGS)
def test_random_names_are_data(base, tmp_path_factory, names):
    check_names(base, names, tmp_path_factory.mktemp("n"))


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(names=RENAMINGS)
def test_random_names_are_data_long(base, tmp_path_factory, names):
    check_names(base, names, tmp_path_factory.mktemp("n"))


#: the fixed injections no file can carry as a name: refused at load
UNREPRESENTABLE = ("nul\x00name", "\ud800")


def test_injections_as_every_name(base, tmp_path):
    """The fixed injections (tests/robustness/test_fuzz_files.py's list) in every position:
    the representable ones four at a time, rotated so each takes each position once, all
    load; NUL and a lone surrogate are refused in any position; so is an empty layer name."""
    names = [n for n in injections(Path("MARKER")) if n not in UNREPRESENTABLE]
    for i in range(len(names)):
        renaming = {old: names[(i + j) % len(names)] for j, old in enumerate(BASE_NAMES)}
        sub = tmp_path / f"rotation{i}"
        sub.mkdir()
        if "" in list(renaming.values())[1:]:  # only the model may be nameless
            assert check_names(base, renaming, sub) == "refused"
        else:
            assert check_names(base, renaming, sub) == "loaded", renaming
    for bad in UNREPRESENTABLE:
        for old in BASE_NAMES:
            sub = tmp_path / f"{old}-{ord(bad[-1])}"
            sub.mkdir()
            assert check_names(base, {old: bad}, sub) == "refused"

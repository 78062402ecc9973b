"""Fuzzing the model readers: damaged and hostile variants of every fixture model file.

Sources: the digits example, every Keras 3 fixture, and legacy ``.h5`` / Keras 2.12
``.keras`` files saved from a spread of zoo models; for the byte-level damage also snnc's own
files: every ``.snnir`` of the test suite and ``model.snnc`` files (an ANN graph's and a
compiled one's). Mutations:

- bytes: truncation, bit flips, overwritten or inserted runs, on the whole file or on one
  (decompressed) member of a zip;
- config: structural edits of the JSON config (``config.json`` or the ``model_config``
  attribute): values replaced by odd ones (other types, NaN, huge numbers, deep nesting,
  code-injection strings), keys deleted, values wrapped, subtrees moved elsewhere.

Oracle: ``snnc.load`` returns a graph or raises an ``SnncError``, nothing else; a graph it
returns verifies, prints and evaluates; and no injected name ever runs code (a marker file
stays absent). The default budget is small; ``-m slow`` runs a larger one.
"""

from __future__ import annotations

import atexit
import copy
import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_files import DIGITS, FIXTURES

import snnc
from snnc.errors import SnncError
from snnc.ir.errors import IRVerifyError
from snnc.ir.printer import print_graph
from snnc.ir.verifier import verify

#: zoo models saved as legacy .h5 and Keras 2.12 .keras files for the fuzzer
ZOO_SOURCES = (
    "conv2d_seq",
    "bn_after_conv_func",
    "merge_add_residual",
    "nested_model",
    "multi_input_output",
    "time_distributed_conv2d",
    "conv2d_channels_first",
    "shared_layer",
)
FAST = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
SLOW = settings(
    max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

WORK = Path(tempfile.mkdtemp(prefix="snnc-fuzz-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
MARKER = WORK / "pwned"


def injections(marker: Path) -> list[str]:
    """Names that would run code (create ``marker``) if some stage evaluated them."""
    m = str(marker)
    return [
        f'a"+str(__import__("os").system("touch {m}"))+"',
        f"a'+str(__import__('os').system('touch {m}'))+'",
        f'"""\nimport os; os.system("touch {m}")\n"""',
        f"{{__import__('os').system('touch {m}')}}",
        f"$(touch {m})",
        f"`touch {m}`",
        "a\\N",
        'quo"te',
        "new\nline",
        "cr\rname",
        "nul\x00name",
        "ünïcødé ☃",
        "\ud800",
        "../../../etc/passwd",
        "/",
        ".",
        "",
        "%s%n{0}",
    ]


ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1,
    3,
    2**31,
    2**63,
    -(2**63),
    10**30,
    0.5,
    -0.0,
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    "x",
    "relu",
    "same",
    "channels_first",
    [],
    {},
    [None],
    [1, 2, 3],
    [[1, 2], [3, 4]],
    [-1, -1],
    {"class_name": "__numpy__", "config": {"value": [1e9, 2]}},
    {"class_name": "__tuple__", "config": {"value": [0, 0]}},
    {"class_name": "Sequential", "config": {"layers": []}},
    {"class_name": "function", "config": "relu"},
    *injections(MARKER),
]


#: deeper than json.dumps can write recursively: a placeholder string that _dumps expands
_DEEP = "\x01deep\x01"


def _nested(levels: int, leaf=0):
    if levels > 500:
        return _DEEP
    v = leaf
    for _ in range(levels):
        v = [v]
    return v


# ----------------------------------------------------------------------------- sources


@pytest.fixture(scope="module")
def sources() -> list[Path]:
    """Every fixture model file, plus .h5 and Keras 2.12 .keras copies of zoo models."""
    import zoo

    paths = [DIGITS, *sorted(FIXTURES.glob("*.keras"))]
    out = WORK / "sources"
    out.mkdir(exist_ok=True)
    for name in ZOO_SOURCES:
        model = zoo.get(name).build()
        for fmt, suffix in (("h5", "h5"), ("keras_v3", "keras")):
            path = out / f"{name}.{suffix}"
            if not path.exists():
                model.save(path, save_format=fmt)
            paths.append(path)
    for p in paths:  # every source loads unchanged
        snnc.load(p)
    return paths


#: snnc's own model files: every .snnir of the test suite (IR and pass cases; not the
#: damaged ones kept in regressions/)
SNNIR_FIXTURES = sorted(
    p
    for p in Path(__file__).parents[1].glob("**/*.snnir")
    if Path(__file__).parent not in p.parents
)


@pytest.fixture(scope="module")
def ir_sources() -> dict[str, list[Path]]:
    """By kind: every ``.snnir`` fixture; the ``model.snnc`` of a Keras fixture's graph and
    of its compiled (spiking) graph."""
    from snnc.codegen import compile_graph
    from snnc.ir.serialize import save

    out = WORK / "ir_sources"
    (out / "ann").mkdir(parents=True, exist_ok=True)
    g = snnc.load(FIXTURES / "cnn_bn.keras")
    snnc_files = [
        save(g, out / "ann" / "model.snnc"),
        compile_graph(g, "nengo").save(out / "compiled", force=True) / "model.snnc",
    ]
    for p in [*SNNIR_FIXTURES, *snnc_files]:  # every source loads unchanged
        snnc.load(p)
    return {"snnir": SNNIR_FIXTURES, "model.snnc": snnc_files}


# ----------------------------------------------------------------------------- the oracle


def check_load(path: Path, verified: bool = True) -> None:
    """``snnc.load`` succeeds (and the graph is sound) or raises an SnncError. ``verified``
    False: the graph may also fail the verifier, with an IRVerifyError (a ``.snnir`` is read
    as written, e.g. a dead node for canonicalize to remove; the passes verify it)."""
    try:
        g = snnc.load(path)
    except SnncError as e:
        assert str(e).strip(), "an SnncError without a message"
        return
    finally:
        assert not MARKER.exists(), f"a name ran code: {MARKER} was created"
    try:
        verify(g)
    except IRVerifyError:
        if verified:
            raise
        return
    print_graph(g)
    if sum(g.type(n).size for n in g.nx) < 200_000:
        # overflow to inf is float arithmetic, not a bug: only exceptions count here
        xs = [np.zeros((1, *g.type(n).shape), np.float32) for n in g.inputs]
        with np.errstate(all="ignore"):
            snnc.evaluate(g, xs if len(xs) > 1 else xs[0])


# ----------------------------------------------------------------------------- mutations


def mutate_bytes(data: bytes, draw) -> bytes:
    """One random byte-level damage of ``data``."""
    kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert", "zero_tail"]))
    n = len(data)
    if n == 0:
        return b"\x00"
    pos = draw(st.integers(0, n - 1))
    if kind == "truncate":
        return data[:pos]
    if kind == "flip":
        out = bytearray(data)
        for p in [pos, *draw(st.lists(st.integers(0, n - 1), max_size=7))]:
            out[p] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    if kind == "overwrite":
        junk = draw(st.binary(min_size=1, max_size=64))
        return data[:pos] + junk + data[pos + len(junk) :]
    if kind == "insert":
        return data[:pos] + draw(st.binary(min_size=1, max_size=64)) + data[pos:]
    return data[:pos] + bytes(n - pos)


def _paths(obj) -> list[tuple]:
    """Every path (a tuple of keys / indices) into a JSON value, the root included."""
    out, stack = [], [((), obj)]
    while stack:
        path, v = stack.pop()
        out.append(path)
        if isinstance(v, dict):
            stack.extend((path + (k,), c) for k, c in v.items())
        elif isinstance(v, list):
            stack.extend((path + (i,), c) for i, c in enumerate(v))
    return out


def _get(obj, path):
    for k in path:
        obj = obj[k]
    return obj


def _set(obj, path, value):
    if not path:
        return value
    _get(obj, path[:-1])[path[-1]] = value
    return obj


def mutate_config(config, draw, rounds: int):
    """``rounds`` structural edits of a JSON config."""
    config = copy.deepcopy(config)
    for _ in range(rounds):
        paths = _paths(config)
        path = draw(st.sampled_from(paths))
        old = _get(config, path)
        op = draw(
            st.sampled_from(
                ["replace", "replace", "replace", "delete", "wrap", "nest", "move", "rename"]
            )
        )
        if op == "replace":
            config = _set(config, path, copy.deepcopy(draw(st.sampled_from(ODD_VALUES))))
        elif op == "delete" and path:
            parent = _get(config, path[:-1])
            del parent[path[-1]]
        elif op == "wrap":
            config = _set(config, path, [old])
        elif op == "nest":
            config = _set(config, path, _nested(draw(st.sampled_from([20, 90, 150, 5000])), old))
        elif op == "move":
            other = copy.deepcopy(_get(config, draw(st.sampled_from(paths))))
            config = _set(config, path, other)
        elif op == "rename":
            # names end up in node names, messages and generated code: try hostile ones
            names = [p for p in paths if p and p[-1] == "name"]
            if names:
                config = _set(
                    config, draw(st.sampled_from(names)), draw(st.sampled_from(injections(MARKER)))
                )
    return config


WEIGHT_DTYPES = ["f2", "f8", "i1", "u8", "?", "c8", "S3"]


def mutate_weights(f: h5py.File, draw) -> None:
    """One structural edit of an HDF5 weights file: a dataset deleted, reshaped, retyped,
    filled with extreme values or replaced by a group, or an attribute changed."""
    datasets, groups = [], []
    f.visititems(lambda n, o: (datasets if isinstance(o, h5py.Dataset) else groups).append(n))
    kind = draw(st.sampled_from(["delete", "reshape", "retype", "values", "group", "attr"]))
    if kind == "attr" or not datasets:
        owner = f[draw(st.sampled_from(sorted(groups)))] if groups else f
        keys = sorted(owner.attrs)
        key = draw(st.sampled_from(keys)) if keys else "name"
        value = draw(st.sampled_from([b"x", "", np.arange(3), np.array([b"a", b"b"]), 7, "\u00e9"]))
        owner.attrs[key] = value
        return
    name = draw(st.sampled_from(sorted(datasets)))
    old = f[name][()]
    del f[name]
    if kind == "delete":
        return
    if kind == "reshape":
        shape = tuple(draw(st.lists(st.integers(0, 5), max_size=4)))
        f[name] = np.ones(shape, np.float32)
    elif kind == "retype":
        dtype = draw(st.sampled_from(WEIGHT_DTYPES))
        f[name] = (
            np.zeros(np.shape(old), dtype) if dtype != "S3" else np.full(np.shape(old), b"abc")
        )
    elif kind == "values":
        value = draw(st.sampled_from([np.nan, np.inf, 1e39, -1e39, 1e-45, 0.0]))
        f[name] = np.full(np.shape(old), value, np.float64)
    else:
        f.create_group(name)


def _dumps(config) -> bytes:
    text = json.dumps(config, allow_nan=True)  # NaN / Infinity as Python's json writes them
    text = text.replace(json.dumps(_DEEP), "[" * 5000 + "0" + "]" * 5000)
    return text.encode("utf-8", errors="surrogatepass")


def _rezip(data: bytes, replace: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as zin,
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout,
    ):
        for item in zin.namelist():
            zout.writestr(item, replace.get(item, zin.read(item)))
    return buf.getvalue()


def _write(name: str, data: bytes) -> Path:
    path = WORK / name
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------------------- the tests


def fuzz_bytes(sources, data, verified: bool = True) -> None:
    src = data.draw(st.sampled_from(sources), label="source")
    raw = src.read_bytes()
    if src.suffix in (".keras", ".snnc") and data.draw(st.booleans(), label="inside a member"):
        with zipfile.ZipFile(src) as z:
            member = data.draw(st.sampled_from(sorted(z.namelist())), label="member")
            damaged = mutate_bytes(z.read(member), data.draw)
        mutated = _rezip(raw, {member: damaged})
    else:
        mutated = mutate_bytes(raw, data.draw)
    check_load(_write(f"bytes{src.suffix}", mutated), verified)


def fuzz_config(sources, data) -> None:
    src = data.draw(st.sampled_from(sources), label="source")
    rounds = data.draw(st.integers(1, 3), label="rounds")
    if src.suffix == ".keras":
        with zipfile.ZipFile(src) as z:
            config = json.loads(z.read("config.json"))
        mutated = mutate_config(config, data.draw, rounds)
        path = _write("config.keras", _rezip(src.read_bytes(), {"config.json": _dumps(mutated)}))
    else:
        path = _write("config.h5", src.read_bytes())
        with h5py.File(path, "r+") as f:
            config = json.loads(f.attrs["model_config"])
            mutated = mutate_config(config, data.draw, rounds)
            f.attrs["model_config"] = _dumps(mutated)
    check_load(path)


def fuzz_weights(sources, data) -> None:
    src = data.draw(st.sampled_from(sources), label="source")
    if src.suffix == ".keras":
        h5 = _write("weights.h5", zipfile.ZipFile(src).read("model.weights.h5"))
        with h5py.File(h5, "r+") as f:
            mutate_weights(f, data.draw)
        path = _write(
            "weights.keras", _rezip(src.read_bytes(), {"model.weights.h5": h5.read_bytes()})
        )
    else:
        path = _write("weights_edit.h5", src.read_bytes())
        with h5py.File(path, "r+") as f:
            mutate_weights(f["model_weights"], data.draw)
    check_load(path)


@FAST
@given(data=st.data())
def test_fuzz_bytes(sources, data):
    fuzz_bytes(sources, data)


@FAST
@given(data=st.data())
def test_fuzz_config(sources, data):
    fuzz_config(sources, data)


@FAST
@given(data=st.data())
def test_fuzz_weights(sources, data):
    fuzz_weights(sources, data)


def fuzz_ir_bytes(ir_sources, data) -> None:
    kind = data.draw(st.sampled_from(sorted(ir_sources)), label="kind")
    fuzz_bytes(ir_sources[kind], data, verified=False)


@FAST
@given(data=st.data())
def test_fuzz_ir_bytes(ir_sources, data):
    fuzz_ir_bytes(ir_sources, data)


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_fuzz_ir_bytes_long(ir_sources, data):
    fuzz_ir_bytes(ir_sources, data)


def test_there_are_ir_sources(ir_sources):
    assert len(ir_sources["snnir"]) >= 50 and len(ir_sources["model.snnc"]) == 2


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_fuzz_weights_long(sources, data):
    fuzz_weights(sources, data)


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_fuzz_bytes_long(sources, data):
    fuzz_bytes(sources, data)


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_fuzz_config_long(sources, data):
    fuzz_config(sources, data)


def test_mutations_reach_the_converters(sources):
    """Guard against a fuzzer that only ever trips the first checks: over a sample of config
    mutations, some load, some are refused by a converter (UnsupportedModelError) and some
    by the reader (ModelFileError)."""
    from snnc.errors import ModelFileError, UnsupportedModelError

    outcomes = {"loaded": 0, "UnsupportedModelError": 0, "ModelFileError": 0}

    @settings(max_examples=60, deadline=None, database=None)
    @given(data=st.data())
    def sample(data):
        src = data.draw(st.sampled_from([p for p in sources if p.suffix == ".keras"]))
        with zipfile.ZipFile(src) as z:
            config = json.loads(z.read("config.json"))
        mutated = mutate_config(config, data.draw, 1)
        path = _write("sample.keras", _rezip(src.read_bytes(), {"config.json": _dumps(mutated)}))
        try:
            snnc.load(path)
            outcomes["loaded"] += 1
        except UnsupportedModelError:
            outcomes["UnsupportedModelError"] += 1
        except ModelFileError:
            outcomes["ModelFileError"] += 1

    sample()
    assert all(outcomes.values()), outcomes


def test_injection_names_are_data(sources, tmp_path):
    """Every hostile name, as a model, layer and input name, loads as plain data (or is
    refused) and runs nothing."""
    src = FIXTURES / "functional_residual.keras"
    with zipfile.ZipFile(src) as z:
        config = json.loads(z.read("config.json"))
    loaded = 0
    for name in injections(MARKER):
        for path in ((), ("layers", 1, "config"), ("layers", 0, "config")):
            mutated = copy.deepcopy(config)
            _get(mutated["config"], path)["name"] = name
            if path:  # keep the inbound references consistent with the new name
                text = _dumps(mutated).decode("utf-8", errors="surrogatepass")
                old = _get(config["config"], path)["name"]
                text = text.replace(json.dumps(old), json.dumps(name))
                data = text.encode("utf-8", errors="surrogatepass")
            else:
                data = _dumps(mutated)
            target = _write("names.keras", _rezip(src.read_bytes(), {"config.json": data}))
            try:
                g = snnc.load(target)
            except SnncError:
                continue
            finally:
                assert not MARKER.exists()
            loaded += 1
            print_graph(g)
    assert loaded >= len(injections(MARKER))  # most names are fine as data

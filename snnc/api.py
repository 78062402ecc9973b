"""The public Python API: ``snnc.load``, ``snnc.evaluate``, ``snnc.save``, ``snnc.optimize``,
``snnc.compile``, ``snnc.simulate``, ``snnc.export``."""

from __future__ import annotations

import os
from pathlib import Path

from snnc.errors import ModelFileError
from snnc.ir import Graph


def load(source, *, name: str | None = None, approximate=None, limits=None) -> Graph:
    """Load a model as an IR graph.

    ``source`` is a Keras model object, a Keras file (``.keras`` zip of Keras 2.12 or 3, or
    legacy HDF5; the format is detected from the file's first bytes), a NIR file (``.nir``,
    HDF5 written by ``nir.write``; ``approximate`` names the NIR approximations to accept,
    see :mod:`snnc.nir`), a ``model.snnc`` file or a ``.snnir`` text file (its parameters
    printed in full), or an ``snnc compile`` output folder (its ``model.snnc``). A Graph is
    returned unchanged. ``limits`` (a :class:`snnc.frontend.limits.Limits`) raises the
    bounds on file, config and model size that every reader enforces.
    """
    if isinstance(source, Graph):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir() and (path / "model.snnc").is_file():
            path = path / "model.snnc"
        if path.is_file():
            with open(path, "rb") as f:
                head = f.read(64)
            if head.startswith(b"PK") and _is_snnc_zip(path):
                from snnc.ir.serialize import load as load_snnc

                if limits is not None:
                    graph = load_snnc(path, max_member_bytes=limits.max_member_bytes)[0]
                else:
                    graph = load_snnc(path)[0]
                return _checked(graph, path, limits)
            if path.suffix == ".snnir" or head.lstrip().startswith((b"graph", b"//")):
                from snnc.ir.parser import parse_file

                _check_text_size(path, limits)
                return _checked(parse_file(path), path, limits)
            # NIR files are HDF5 like legacy Keras files: tell them apart before Keras reads
            from snnc.nir import from_nir, is_nir_file

            if is_nir_file(path):
                return from_nir(path, name=name, approximate=approximate, limits=limits)
        elif not path.exists():
            raise ModelFileError(
                f"{path}: no such file",
                hint="give a .keras / .h5 Keras model, a model.snnc or a .snnir file",
            )
    from snnc.frontend import load as load_keras

    return load_keras(source, name=name, limits=limits)


def _check_text_size(path: Path, limits) -> None:
    """Refuse a ``.snnir`` text larger than ``max_member_bytes`` before parsing it (its
    weights are printed in it: the same bound as a ``model.snnc`` member)."""
    from snnc.frontend.limits import DEFAULT_LIMITS, check

    size = path.stat().st_size
    check(str(path), "the size of the IR text", size, limits or DEFAULT_LIMITS, "max_member_bytes")


def _checked(graph: Graph, path: Path, limits) -> Graph:
    """``graph`` if it is within ``limits`` (nodes, parameters, values per sample)."""
    from snnc.frontend.limits import check_graph

    check_graph(graph, str(path), limits)
    return graph


def _is_snnc_zip(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return "graph.snnir" in z.namelist()
    except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError, EOFError):
        # not a zip, or one zipfile cannot read (a damaged "version needed" field): the
        # reader its name points to says what is wrong with it
        return path.suffix == ".snnc"


def evaluate(graph, x, **kwargs):
    """Rate-mode reference output of ``graph`` (a Graph or anything :func:`load` takes)
    on the batch ``x``; see :func:`snnc.ir.interpreter.evaluate`."""
    from snnc.ir.interpreter import evaluate as _evaluate

    return _evaluate(load(graph), x, **kwargs)


def save(graph: Graph, path, **manifest) -> Path:
    """Write ``graph`` as a ``model.snnc`` zip (atomically)."""
    from snnc.ir.serialize import save as _save

    return _save(graph, path, manifest)


def optimize(
    source, pipeline: str, *, calibration=None, target: str | None = None, limits=None, **manager_options
) -> Graph:
    """Run a pass pipeline (e.g. ``"canonicalize,lower-activations{neuron=if}"``) on a copy
    of the model's graph and return the result; see :func:`snnc.passes.run_pipeline`.
    ``calibration`` and ``limits`` are as :func:`compile` takes them."""
    from snnc.passes import PassContext, run_pipeline

    graph = load(source, limits=limits)
    ctx = PassContext.default(target=target, calibration=calibration_data(graph, calibration, limits=limits))
    return run_pipeline(graph, pipeline, ctx, **manager_options)[0]


def calibration_data(graph: Graph, calibration, *, limits=None):
    """Calibration inputs for ``graph``, checked (:mod:`snnc.datafiles`): None, an array, a
    list or mapping of arrays (one per input), or the path of a ``.npy`` / ``.npz`` file.
    Returns None, one array, or a list (one per input). A file is read with
    ``limits.max_member_bytes`` (None: the default limits) as the cap of each array.

    Raises:
        SnncError: unreadable files, bad values (text, NaN, ...), shapes that do not match
            the model's inputs; the message names the file or argument.
    """
    from snnc.datafiles import check_inputs, read_inputs

    if calibration is None:
        return None
    if isinstance(calibration, (str, os.PathLike)):
        cap = None if limits is None else limits.max_member_bytes
        return read_inputs(calibration, "calibration data", graph, max_member_bytes=cap)
    xs = check_inputs(graph, calibration, "calibration", "calibration data")
    return xs[0] if len(xs) == 1 else xs


def compile(  # noqa: A001 - the public API's word
    source,
    target="nengo",  # a name or a snnc.codegen Target
    calibration=None,
    *,
    pipeline: str | None = None,
    neuron=None,
    synapse: float | None = None,
    seed: int = 0,
    limits=None,
):
    """Compile a model for a backend: load it, run the target's pass pipeline (the Target
    owns its default, ``snnc targets`` lists them), emit the target's artifact (a nengo
    network for nengo, nengo-dl and loihi). Returns a :class:`snnc.codegen.Compiled`
    (``.graph``, ``.network``, ``.run(x, steps)``, ``.save(out)``); read a saved one back with
    ``snnc.codegen.Compiled.load(out)``, which rebuilds it from ``out/model.snnc``.

    Args:
        source: anything :func:`load` takes.
        target: ``nengo``, ``nengo-dl`` or ``loihi`` (``snnc targets`` lists them).
        calibration: representative inputs for data-driven passes (rate normalisation):
            an array, a list (one per input), or the path of a ``.npy`` / ``.npz`` file;
            checked like every input (see :func:`calibration_data`).
        pipeline: a pass pipeline replacing the target's default ("" runs none; custom
            passes and neurons must be registered first, e.g. by importing their file).
        neuron: neuron choice for ``lower-activations`` (``"if"``, ``"lif"``, a dict of
            name / glob / activation kind -> neuron).
        synapse: lowpass time constant (s) on edges leaving spiking neurons.
        seed: seed of the passes' random generator.
        limits: a :class:`snnc.frontend.limits.Limits` raising the bounds on reading the
            model (see :func:`load`) and, with ``max_member_bytes``, a calibration file.
    """
    from snnc.codegen import compile_graph

    sha = None
    if isinstance(source, (str, os.PathLike)) and Path(source).is_file():
        import hashlib

        with open(source, "rb") as f:  # in blocks: a model file can be large
            sha = hashlib.file_digest(f, "sha256").hexdigest()
    graph = load(source, limits=limits)
    return compile_graph(
        graph,
        target,
        pipeline,
        calibration=calibration_data(graph, calibration, limits=limits),
        neuron=neuron,
        synapse=synapse,
        seed=seed,
        source_sha256=sha,
    )


def simulate(graph, x, steps: int = 50, *, max_run_values: int | None = None, **kwargs):
    """Simulate a lowered (SNN-stage) graph over ``steps`` time steps with snnc's own numba
    kernels, no nengo needed; returns ``(batch, steps, *output_shape)``. Spikes match
    ``nengo.Simulator`` on the network ``snnc compile --target nengo`` emits. See
    :func:`snnc.sim.simulate`.

    ``x`` is checked like every input (:func:`snnc.datafiles.check_inputs`), and a run whose
    result (``steps x batch x`` the output values per step, plus the probed nodes') would
    exceed ``max_run_values`` values (default
    :data:`~snnc.runcost.MAX_RUN_VALUES`) is refused before anything is allocated.
    """
    from snnc.datafiles import check_inputs
    from snnc.runcost import check_run_values, check_steps
    from snnc.sim import simulate as _simulate

    g = load(graph)
    steps = check_steps(steps, "simulate")
    xs = check_inputs(g, x, "x")
    recorded = list(g.outputs)
    if kwargs.get("return_all"):
        recorded += g.topo_order()
    else:
        recorded += [p for p in kwargs.get("probes") or () if p in g]
    per_step = sum(g.type(n).size for n in recorded)
    n = len(xs[0])
    check_run_values(
        "simulate",
        f"the record of {steps:,} steps x {n:,} samples x {per_step:,} values per step",
        steps * n * per_step,
        max_run_values,
    )
    return _simulate(g, xs[0] if len(xs) == 1 else xs, steps, **kwargs)


def export(source, path, *, format: str = "nir", limits=None, **options) -> Path:  # noqa: A002 - the API's word
    """Write a compiled (SNN-stage) model to ``path`` in an exchange format.

    ``format="nir"``: the Neuromorphic Intermediate Representation (see :mod:`snnc.nir`;
    ``options`` go to :func:`snnc.nir.export_graph`, e.g. ``approximate=("rectified-current",)``).
    ``source`` is anything :func:`load` takes (a compile output folder, ``model.snnc``, ...);
    ``limits`` as :func:`load` takes them.
    """
    from snnc.errors import SnncError

    if format != "nir":
        raise SnncError(f"export format {format!r} is not supported (expected 'nir')")
    from snnc.nir import export_graph

    return export_graph(load(source, limits=limits), path, **options)

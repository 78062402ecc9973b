"""Model coverage of snnc against ``nengo_dl.Converter`` on every model of the test zoo
(tests/frontend/zoo.py), in rate mode: which models each tool converts, and whether the
converted network reproduces the Keras outputs.

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/bench_coverage.py [--limit N] [--only NAME]

(``make bench`` runs it after benchmarks/bench_sim.py.)

Every model is built in a fresh ``tf.keras.backend.clear_session()`` (once per tool, so no
tool sees what another did to the layers; the zoo's weights are seeded, so the builds are
identical) and run on ``zoo.sample_inputs(zm, batch=3)``; the reference is
``zoo.reference_outputs`` (``model(x, training=False)``).

nengo-dl column: ``Converter(model, allow_fallback=False)``, its network run in rate mode (no
swap_activations) for one step with ``nengo_dl.Simulator(minibatch_size=3)``:

- ``exact``: max |error| <= 1e-4; ``wrong``: it converts and runs, but the error is larger;
- ``fallback-only``: only the default ``allow_fallback=True`` converts it, through TensorNodes
  (the detail gives their count and whether that network is exact);
- ``fails``: an exception (the detail gives its class and first line: the strict
  conversion's, then the fallback conversion's if it differs).

snnc columns:

- ``snnc load``: ``snnc.load(model)`` then ``snnc.evaluate`` (``exact``: <= 1e-5), or, for a
  zoo model snnc must refuse, ``correct refusal`` when it raises UnsupportedModelError naming
  exactly the zoo's ``refuse_layer`` (``wrong refusal`` otherwise);
- ``snnc nengo``: ``snnc.compile(target="nengo")`` with the nengo default pipeline, its
  activations lowered to rate-ReLU neurons (softmax kept) and without normalize-rates, run one
  step (``exact``: <= 1e-4). Models without ReLUs use ``canonicalize,fold-batchnorm`` (their
  activations are emitted as they are), and ``lowering refused`` is lower-activations saying
  ``cannot lower`` (e.g. a ThresholdedReLU-like ReLU); both as in
  tests/codegen/test_keras_parity.py.

Last, the ReLU-swap check on the ``relu_spellings`` model (five ways of writing a ReLU): how
many of its ReLUs ``Converter(swap_activations={tf.nn.relu: nengo.SpikingRectifiedLinear()})``
makes spiking, against how many ``ann.relu`` nodes snnc's ``lower-activations{neuron=if}``
turns into ``snn.if`` nodes.

Each tool gets ``--timeout`` seconds per model (SIGALRM; a hang inside a TensorFlow kernel is
only interrupted when the kernel returns).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "frontend"))

BATCH = 3
TOL_NENGO_DL = 1e-4
TOL_EVALUATE = 1e-5
TOL_SNNC_NENGO = 1e-4
#: as tests/codegen/test_keras_parity.py, for models without ReLUs (nothing to lower)
ANN_PIPELINE = "canonicalize,fold-batchnorm"
RELU_MODEL = "relu_spellings"
NOTE = 100  #: width of the per-model table's nengo-dl reason column


def rate_pipeline() -> str:
    """The nengo target's default pipeline, lowering to rate-ReLU neurons (keeping softmax,
    which Keras' outputs include) and without normalize-rates (needs no calibration)."""
    from snnc.codegen import get_target

    default = get_target("nengo").default_pipeline
    lowered = default.replace(
        "lower-activations{neuron=if}", "lower-activations{neuron=rate-relu,drop_softmax=false}"
    ).replace(",normalize-rates", "")
    assert lowered != default and "normalize-rates" not in lowered, default
    return lowered


# --------------------------------------------------------------------------- helpers


class Timeout(Exception):
    pass


def with_timeout(seconds: int, fn, *args):
    """``fn(*args)``, raising :class:`Timeout` after ``seconds`` (0: no limit)."""

    def alarm(signum, frame):
        raise Timeout(f"over {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        return fn(*args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def fresh_model(zm):
    """``zm`` built in a fresh Keras session."""
    import tensorflow as tf

    tf.keras.backend.clear_session()
    return zm.build()


def max_error(outputs, reference) -> float:
    """Max |a - b| over all outputs (each compared flattened per sample)."""
    assert len(outputs) == len(reference), (len(outputs), len(reference))
    return max(
        float(np.abs(np.reshape(a, (BATCH, -1)) - np.reshape(b, (BATCH, -1))).max())
        for a, b in zip(outputs, reference, strict=True)
    )


def compare(outputs, reference, tol: float) -> tuple[str, str]:
    err = max_error(outputs, reference)
    return ("exact" if err <= tol else "wrong"), f"err {err:.1e}"


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def describe(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0] if lines else ''}"


# --------------------------------------------------------------------------- nengo-dl


def nengo_dl_run(conv, x) -> list[np.ndarray]:
    """The converted network's outputs after one rate-mode step."""
    import nengo_dl

    feed = {
        conv.inputs[i]: a.reshape(BATCH, 1, -1) for i, a in zip(conv.model.inputs, x, strict=True)
    }
    with nengo_dl.Simulator(conv.net, minibatch_size=BATCH, progress_bar=False) as sim:
        out = sim.predict(feed, n_steps=1, verbose=0)
    return [out[conv.outputs[o]][:, 0] for o in conv.model.outputs]


def count_tensor_nodes(net) -> int:
    import nengo_dl

    return sum(isinstance(n, nengo_dl.TensorNode) for n in net.all_nodes)


def nengo_dl_status(zm, x, ref) -> tuple[str, str]:
    import nengo_dl

    try:
        conv = nengo_dl.Converter(fresh_model(zm), allow_fallback=False)
    except Exception as strict_error:  # noqa: BLE001 - any failure is a result
        try:
            conv = nengo_dl.Converter(fresh_model(zm))  # allow_fallback=True
        except Exception as e:  # noqa: BLE001
            strict, default = describe(strict_error), describe(e)
            return "fails", strict if default == strict else f"{strict} | with fallback: {default}"
        detail = f"{describe(strict_error)} | {count_tensor_nodes(conv.net)} TensorNode(s), "
        try:
            status, err = compare(nengo_dl_run(conv, x), ref, TOL_NENGO_DL)
            return "fallback-only", detail + f"{status} via fallback ({err})"
        except Exception as e:  # noqa: BLE001
            return "fallback-only", detail + f"fallback run fails ({describe(e)})"
    try:
        status, detail = compare(nengo_dl_run(conv, x), ref, TOL_NENGO_DL)
    except Exception as e:  # noqa: BLE001
        return "fails", "run: " + describe(e)
    if count_tensor_nodes(conv.net):
        detail += f"; {count_tensor_nodes(conv.net)} TensorNode(s)"
    return status, detail


# --------------------------------------------------------------------------- snnc


def snnc_load_status(zm, x, ref):
    """(status, detail, graph or None) of snnc.load + snnc.evaluate."""
    import snnc
    from snnc.errors import UnsupportedModelError

    try:
        g = snnc.load(fresh_model(zm))
    except UnsupportedModelError as e:
        names = [layer for layer, _, _ in e.problems]
        if not zm.convertible and names == [zm.refuse_layer]:
            return "correct refusal", f"names {names[0]!r}", None
        return "wrong refusal", f"names {names}", None
    except Exception as e:  # noqa: BLE001
        return "fails", describe(e), None
    try:
        out = snnc.evaluate(g, x if len(x) > 1 else x[0])
        status, detail = compare(out if isinstance(out, list) else [out], ref, TOL_EVALUATE)
    except Exception as e:  # noqa: BLE001
        return "fails", "evaluate: " + describe(e), g
    if not zm.convertible:
        detail += f"; should have refused {zm.refuse_layer!r}"
    return status, detail, g


def snnc_nengo_status(g, x, ref, pipeline: str) -> tuple[str, str]:
    import snnc
    from snnc.errors import PassError

    pipeline = pipeline if g.nodes_of("ann.relu") else ANN_PIPELINE
    try:
        c = snnc.compile(g, target="nengo", pipeline=pipeline)
    except PassError as e:
        if "cannot lower" in e.message:
            return "lowering refused", e.message.strip().splitlines()[-1].strip()
        return "fails", describe(e)
    except Exception as e:  # noqa: BLE001
        return "fails", describe(e)
    try:
        with c:
            ys = c.run(x if len(x) > 1 else x[0], steps=1, progress=False)
        ys = ys if isinstance(ys, list) else [ys]
        status, detail = compare([y[:, 0] for y in ys], ref, TOL_SNNC_NENGO)
    except Exception as e:  # noqa: BLE001
        return "fails", "run: " + describe(e)
    if pipeline == ANN_PIPELINE:
        detail += "; no ReLU, ANN pipeline"
    return status, detail


# --------------------------------------------------------------------------- ReLU swap


def relu_swap_line() -> str:
    import nengo
    import nengo_dl
    import tensorflow as tf
    import zoo

    import snnc

    zm = zoo.get(RELU_MODEL)
    conv = nengo_dl.Converter(
        fresh_model(zm), swap_activations={tf.nn.relu: nengo.SpikingRectifiedLinear()}
    )
    kinds = Counter(type(e.neuron_type).__name__ for e in conv.net.all_ensembles)
    spiking = kinds["SpikingRectifiedLinear"]

    g = snnc.load(fresh_model(zm))
    n_relu = len(g.nodes_of("ann.relu"))
    lowered = snnc.optimize(g, "canonicalize,lower-activations{neuron=if}")
    n_if, left = len(lowered.nodes_of("snn.if")), len(lowered.nodes_of("ann.relu"))
    return (
        f"ReLU swap on {RELU_MODEL} ({n_relu} ReLUs): "
        f"nengo-dl swap_activations={{tf.nn.relu: SpikingRectifiedLinear()}} -> {spiking}/{n_relu} "
        f"spiking (ensembles: {dict(kinds)}); "
        f"snnc lower-activations{{neuron=if}} -> {n_if}/{n_relu} snn.if ({left} ann.relu left)"
    )


# --------------------------------------------------------------------------- main


def table(rows: list[tuple], header: tuple) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N zoo models")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="only this zoo model (repeatable)",
    )
    parser.add_argument("--timeout", type=int, default=300, help="seconds per model and tool")
    parser.add_argument(
        "--details", action="store_true", help="print every model's error / exception detail"
    )
    args = parser.parse_args()

    warnings.filterwarnings("ignore")
    import logging

    import tensorflow as tf
    import zoo

    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("nengo_dl").setLevel(logging.ERROR)

    models = [zoo.get(n) for n in args.only] if args.only else list(zoo.ZOO)
    models = models[: args.limit] if args.limit is not None else models
    pipeline = rate_pipeline()
    print(f"{len(models)} zoo models, batch {BATCH}; snnc nengo pipeline: {pipeline}", flush=True)

    rows, details = [], []
    seconds = Counter()
    for k, zm in enumerate(models, 1):
        x = zoo.sample_inputs(zm, batch=BATCH)
        ref = zoo.reference_outputs(fresh_model(zm), x)

        start = time.perf_counter()
        try:
            dl, dl_detail = with_timeout(args.timeout, nengo_dl_status, zm, x, ref)
        except Timeout as e:
            dl, dl_detail = "fails", describe(e)
        seconds["nengo-dl"] += time.perf_counter() - start

        start = time.perf_counter()
        try:
            load, load_detail, g = with_timeout(args.timeout, snnc_load_status, zm, x, ref)
        except Timeout as e:
            load, load_detail, g = "fails", describe(e), None
        seconds["snnc load"] += time.perf_counter() - start

        start = time.perf_counter()
        nengo, nengo_detail = "-", "not loaded"
        if g is not None:
            try:
                nengo, nengo_detail = with_timeout(
                    args.timeout, snnc_nengo_status, g, x, ref, pipeline
                )
            except Timeout as e:
                nengo, nengo_detail = "fails", describe(e)
        seconds["snnc nengo"] += time.perf_counter() - start

        note = "" if dl == "exact" else shorten(dl_detail, NOTE)
        rows.append((zm.name, dl, load, nengo, note))
        details.append(
            f"{zm.name}\n  nengo-dl:   {dl_detail}\n  snnc load:  {load_detail}\n"
            f"  snnc nengo: {nengo_detail}"
        )
        print(
            f"[{k}/{len(models)}] {zm.name}: nengo-dl {dl}, snnc load {load}, snnc nengo {nengo}",
            file=sys.stderr,
            flush=True,
        )

    print()
    print(table(rows, ("model", "nengo-dl", "snnc load", "snnc nengo", "nengo-dl reason")))
    if args.details:
        print()
        print("\n".join(details))

    tools = ("nengo-dl", "snnc load", "snnc nengo")
    counts = [Counter(r[i + 1] for r in rows) for i in range(len(tools))]
    categories = sorted(set().union(*counts), key=lambda c: (c == "-", c))
    summary = [(c, *(n[c] for n in counts)) for c in categories]
    summary.append(("total", *(sum(n.values()) for n in counts)))
    summary.append(("runtime (s)", *(f"{seconds[t]:.1f}" for t in tools)))
    print()
    print(table(summary, ("category", *tools)))

    if not args.only or RELU_MODEL in args.only:
        print()
        print(relu_swap_line())


if __name__ == "__main__":
    main()

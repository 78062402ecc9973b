"""Low-latency conversion on the digits example: accuracy after 1..64 steps of the spiking
networks ``normalize-rates`` + ``lower-activations`` produce, against the old defaults.

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/low_latency.py [--json FILE] [--errors]

Data: the held-out split of ``examples/digits`` (450 images, ``examples/digits/data.py``);
calibration on the first 200 training images, as ``make demo`` does. Each row compiles
``digits_cnn.keras`` with ``snnc.optimize(model, pipeline, calibration=x_train[:200])`` and
runs ``snnc.simulate(graph, x_test, 64, readout="raw")``; the output's readout
(``graph.op(output).read``: the running mean of the readout current over steps 1..t, the
``nn.output`` default) is applied to the raw per-step values, and the accuracy after ``t``
steps is ``argmax ys[:, t-1]``. (The script checks that this equals ``snnc.simulate``'s own
readout for the first row.)

Rows (``PIPELINES``): ``if`` with ``v_init`` 0.5 and 0, per layer and per channel; graded
spikes (``graded-if``, 2..4 bits, and 1 bit: strictly binary, at most one spike a step);
``loihi-if`` (the IR's Loihi neuron on ``snnc.simulate``, and with the loihi target's
``legalize-loihi`` on the simulator's ``mode="loihi"`` chip emulation when it offers it);
the old defaults (``rate=250`` Hz, 5 ms synapses); and two rows about the catalogue ``if``'s
per-step rectification (nengo's SpikingRectifiedLinear adds ``max(J, 0) dt`` each step, so
negative input between spikes is lost): a 1 ms synapse on the spikes entering the second
layer only, which smooths them (and delays them a step), and ``if-signed``, an
integrate-and-fire neuron that integrates the signed current (defined below as a catalogue
plugin, not part of snnc).

Also printed: the agreement of each row's predictions with the ANN's on the 1147 training
images not used for calibration, a finer measure of conversion quality than accuracy on 450
test images (one test image is 0.22 points; the Wilson 95% half-width around 96% is about
1.8 points). ``--errors`` adds the mean relative error of the output against the ANN's
logits (``|y_t - y_ann| / |y_ann|``; an output scaled down by a delay counts as an error
though its argmax may be right).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import ClassVar

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits"
MODEL = DIGITS / "digits_cnn.keras"
STEPS = (1, 2, 4, 8, 16, 32, 64)
CALIBRATION = 200

_BASE = "canonicalize,fold-batchnorm,lower-activations{%s},fuse-bias,normalize-rates%s"

_CHANNEL = "{granularity=channel}"
_LOIHI = "canonicalize,fold-batchnorm,lower-activations{neuron=loihi-if},fuse-bias,normalize-rates%s,legalize-loihi"

#: (row label, pipeline, simulate options)
PIPELINES: list[tuple[str, str, dict]] = [
    ("if v_init=0.5", _BASE % ("neuron=if,v_init=0.5", ""), {}),
    ("if v_init=0", _BASE % ("neuron=if", ""), {}),
    ("if v_init=0.5 per-channel", _BASE % ("neuron=if,v_init=0.5", _CHANNEL), {}),
    ("if v_init=0 per-channel", _BASE % ("neuron=if", _CHANNEL), {}),
    (
        "graded-if bits=1 v_init=0.5 per-channel",
        _BASE % ("neuron=graded-if,bits=1,v_init=0.5", _CHANNEL),
        {},
    ),
    *[
        (
            f"graded-if bits={k} v_init=0.5",
            _BASE % (f"neuron=graded-if,bits={k},v_init=0.5", ""),
            {},
        )
        for k in (2, 3, 4)
    ],
    *[
        (
            f"graded-if bits={k} v_init=0.5 per-channel",
            _BASE % (f"neuron=graded-if,bits={k},v_init=0.5", _CHANNEL),
            {},
        )
        for k in (2, 3, 4)
    ],
    ("loihi-if (IR semantics)", _BASE % ("neuron=loihi-if", ""), {}),
    ("loihi-if +legalize-loihi (sim mode=loihi)", _LOIHI % "", {"mode": "loihi"}),
    ("loihi-if per-channel +legalize-loihi (sim mode=loihi)", _LOIHI % _CHANNEL, {"mode": "loihi"}),
    (
        "old default (rate=250, synapse=0.005)",
        _BASE % ("neuron=if,synapse=0.005", "{rate=250}"),
        {},
    ),
    (
        "if v_init=0.5 per-channel synapse={conv1:0.001}",
        _BASE % ("neuron=if,v_init=0.5,synapse={conv1:0.001}", _CHANNEL),
        {},
    ),
    (
        "if-signed v_init=0.5 per-channel (experiment)",
        _BASE % ("neuron=if-signed,v_init=0.5", _CHANNEL),
        {},
    ),
]


def register_signed_if() -> None:
    """Register ``if-signed``: integrate-and-fire that integrates the *signed* current
    (``v += J dt``, ``n = max(floor(v), 0)`` spikes, ``v -= n``), as the conversion
    literature's IF neuron does (Rueckauer et al. 2017; sinabs' IAF, spikingjelly's IFNode),
    where the catalogue's ``if`` (nengo's SpikingRectifiedLinear) adds ``max(J, 0) dt``, i.e.
    rectifies the input current every step. An experiment of this benchmark, not part of
    snnc."""
    from snnc.ir.neurons import NEURONS, NeuronOp, register_neuron

    if "if-signed" in NEURONS:
        return

    def signed_step(x, gain, bias, out, voltage, dt, amplitude):
        v = voltage + (gain * x + bias) * dt
        n = np.maximum(np.floor(v), 0.0)
        out[...] = (amplitude / dt) * n
        voltage[...] = v - n

    def signed_step_loop(x, gain, bias, out, voltage, dt, amplitude):
        scale = amplitude / dt
        for b in range(x.shape[0]):
            for i in range(x.shape[1]):
                v = voltage[b, i] + (gain[i] * x[b, i] + bias[i]) * dt
                n = max(np.floor(v), 0.0)
                out[b, i] = scale * n
                voltage[b, i] = v - n

    @register_neuron
    class SignedIF(NeuronOp):
        """Integrate-and-fire on the signed current, subtractive reset (experiment)."""

        kind: ClassVar[str] = "snn.bench_signed_if"
        option: ClassVar[str] = "if-signed"
        summary: ClassVar[str] = "benchmark experiment: IF integrating the signed current"
        relu_exact: ClassVar[bool] = True
        lowering: ClassVar[tuple[str, ...]] = ("v_init",)
        state: ClassVar[tuple[str, ...]] = ("voltage",)
        step = staticmethod(signed_step)
        step_loop = staticmethod(signed_step_loop)
        v_init: float = 0.0

        def rate(self, j, dt):
            return np.maximum(j, 0.0)

        def initial_state(self):
            return {"voltage": float(self.v_init)}

        def nengo(self):
            raise NotImplementedError("benchmark-only neuron: no nengo equivalent is emitted")


def run_row(pipeline: str, options: dict, x_cal, x: np.ndarray, ann: np.ndarray):
    """Compile ``pipeline`` and simulate ``x``: ``(predictions after each of STEPS, mean
    relative output error after each, graph, readout values)``."""
    import snnc

    graph = snnc.optimize(MODEL, pipeline, calibration=x_cal)
    raw = snnc.simulate(graph, x, max(STEPS), readout="raw", **options)
    ys = graph.op(graph.outputs[0]).read(raw)
    preds = np.stack([ys[:, t - 1].argmax(-1) for t in STEPS])
    norm = np.linalg.norm(ann, axis=-1)
    errors = [float(np.mean(np.linalg.norm(ys[:, t - 1] - ann, axis=-1) / norm)) for t in STEPS]
    return preds, errors, graph, ys


def table(rows: list[dict], key: str, fmt: str, reference: float | None = None) -> str:
    """One line per row of ``row[key]`` (a value per step), under a header of the steps."""
    width = max(len(r["row"]) for r in rows) + 2
    lines = [f"{'':<{width}}" + "".join(f"{t:>7}" for t in STEPS)]
    if reference is not None:
        lines.append(f"{'ANN (snnc.evaluate)':<{width}}" + f"{reference:>7.1f}" * len(STEPS))
    for r in rows:
        if r.get(key) is None:
            lines.append(f"{r['row']:<{width}}  skipped: {r.get('skipped', '')}")
        else:
            lines.append(f"{r['row']:<{width}}" + "".join(format(v, fmt).rjust(7) for v in r[key]))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    p.add_argument("--errors", action="store_true", help="also print the output error table")
    p.add_argument("--only", help="run only rows whose label contains this text")
    args = p.parse_args(argv)

    sys.path.insert(0, str(DIGITS))
    from data import load_split

    import snnc
    from snnc.errors import SnncError

    register_signed_if()
    x_train, _, x_test, y_test = load_split()
    x_cal, x_dev = x_train[:CALIBRATION], x_train[CALIBRATION:]
    ann_graph = snnc.load(MODEL)
    ann, ann_dev = snnc.evaluate(ann_graph, x_test), snnc.evaluate(ann_graph, x_dev)
    ann_acc = float(np.mean(ann.argmax(-1) == y_test))
    rows = []
    for i, (label, pipeline, options) in enumerate(PIPELINES):
        if args.only and args.only not in label:
            continue
        start = time.perf_counter()
        row = {"row": label, "pipeline": pipeline, "simulate": options}
        try:
            preds, errors, graph, ys = run_row(pipeline, options, x_cal, x_test, ann)
            dev_preds, _, _, _ = run_row(pipeline, options, x_cal, x_dev, ann_dev)
        except (SnncError, TypeError) as e:  # e.g. a simulator without mode="loihi"
            rows.append({**row, "skipped": str(e).splitlines()[0]})
            continue
        if i == 0:
            # the readout convention: snnc.simulate's own readout is the output's
            own = snnc.simulate(graph, x_test, max(STEPS), **options)
            if not np.allclose(own, ys, rtol=1e-5, atol=1e-6):
                raise SystemExit("snnc.simulate's readout differs from graph.op(output).read(raw)")
        row["accuracy"] = [100 * float(np.mean(pr == y_test)) for pr in preds]
        row["agreement"] = [100 * float(np.mean(pr == ann_dev.argmax(-1))) for pr in dev_preds]
        row["output_error"] = errors
        row["seconds"] = round(time.perf_counter() - start, 2)
        rows.append(row)
    print(
        f"digits CNN ({MODEL.name}); calibration: the first {CALIBRATION} training images; "
        "snnc.simulate, running-mean readout\n"
    )
    print(f"accuracy (%) on the {len(y_test)} held-out images after t steps:\n")
    print(table(rows, "accuracy", ".1f", reference=100 * ann_acc))
    print(
        f"\nagreement (%) with the ANN's predictions on the {len(x_dev)} training images not "
        "used for calibration (finer than the test accuracy: 1 image = 0.09 points):\n"
    )
    print(table(rows, "agreement", ".1f"))
    if args.errors:
        print("\nmean relative output error |y_t - y_ann| / |y_ann| (held-out images):\n")
        print(table(rows, "output_error", ".3f"))
    print("\npipelines:")
    for r in rows:
        extra = f"  simulate{r['simulate']}" if r.get("simulate") else ""
        print(f"  {r['row']}: {r['pipeline']}{extra}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"ann": ann_acc, "steps": STEPS, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

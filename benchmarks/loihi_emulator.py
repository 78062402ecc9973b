"""Speed of the loihi target's emulator sessions on the digits CNN, every layer on the chip.

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/loihi_emulator.py [--steps 32] [--n 450]

The digits CNN (examples/digits) is compiled for ``loihi`` with the target's default
pipeline (200 training images for calibration), then the held-out split (450 images) runs on
nengo-loihi's emulator (``target="sim"``) in each session mode of ``Compiled.run``:

- ``rebuild``: a fresh ``nengo_loihi.Simulator`` per image, the only way before (its
  ``reset`` raises NotImplementedError);
- ``reset``: one simulator, its state put back between images;
- ``batch`` (the default): one build, the chip's integer step advanced for all images at once.

One run of each (wall-clock seconds, this machine, whatever else it runs); the table also
checks that every mode returns the very same outputs and gives the accuracy after the last
step (the readout convention: argmax of the running mean of the readout).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=32, help="steps per image (default 32)")
    parser.add_argument("--n", type=int, default=450, help="held-out images (default: all 450)")
    args = parser.parse_args()

    sys.path.insert(0, str(DIGITS))
    from data import load_split

    import snnc

    x_train, _, x_test, y_test = load_split()
    x, y = x_test[: args.n], y_test[: args.n]
    start = time.perf_counter()
    compiled = snnc.compile(DIGITS / "digits_cnn.keras", target="loihi", calibration=x_train[:200])
    compile_s = time.perf_counter() - start
    layers = compiled.manifest["loihi"]["layers"]
    chip = [r["node"] for r in layers if r["place"] == "chip"]
    print(
        f"digits CNN for loihi: compiled in {compile_s:.1f} s (nengo-loihi import included); "
        f"chip layers: {', '.join(chip)}; {compiled.manifest['loihi']['cores']} core(s)"
    )
    print(
        f"{len(x)} held-out images x {args.steps} steps on nengo-loihi's emulator (target='sim')\n"
    )

    rows, outs = [], {}
    for mode in ("rebuild", "reset", "batch"):
        start = time.perf_counter()
        out = compiled.run(x, steps=args.steps, progress=False, mode=mode)
        seconds = time.perf_counter() - start  # includes the session's one build
        outs[mode] = out
        acc = float(np.mean(out[:, -1].argmax(-1) == y))  # the readout after the last step
        rows.append((mode, seconds, acc))
    base = rows[0][1]
    print(
        f"{'mode':<8} {'seconds':>8} {'images/s':>9} {'speed-up':>9} {'accuracy':>9}  same outputs as rebuild"
    )
    for mode, seconds, acc in rows:
        same = np.array_equal(outs[mode], outs["rebuild"])
        print(
            f"{mode:<8} {seconds:8.2f} {len(x) / seconds:9.1f} {base / seconds:8.1f}x {acc:9.2%}  {same}"
        )
    compiled.close()


if __name__ == "__main__":
    main()

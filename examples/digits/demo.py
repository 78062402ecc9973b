"""The main job, end to end: compile the bundled digits CNN for Loihi and report accuracy.

Runs the real command line, printing each command:

1. writes the held-out split of scikit-learn's ``load_digits`` (450 images) and 200
   training images for rate calibration as ``.npy`` files under ``out/digits/``;
2. ``snnc compile examples/digits/digits_cnn.keras --target loihi --calibration ...``
   (lowers every ReLU to Loihi spiking neurons, normalises firing rates, encodes the input
   into spikes on the host so that *every model layer runs on the chip*, composes the
   synapses, checks them with nengo-loihi's full build, writes ``out/digits/loihi/``:
   model.snnc, network.py, weights.npz, manifest.json and the report it prints, whose last
   table is the per-layer Loihi resource report);
3. ``snnc run out/digits/loihi --input ... --labels ... --steps 64`` on nengo-loihi's
   emulator (8-bit weights, discretised neurons), which prints its accuracy;
4. the accuracy after 8, 16, 32 and 64 steps (the readout convention: the argmax of the
   running mean of the readout over steps 1..t), next to the original network's.

Usage: ``make demo`` (or ``python examples/digits/demo.py [--steps N] [--out DIR]``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from data import load_split  # noqa: E402


def snnc(*args: str) -> None:
    """Run one ``snnc`` command as a user would, echoing it; stop on failure."""
    cmd = [sys.executable, "-m", "snnc", *args]
    print("$ snnc " + " ".join(shlex.quote(a) for a in args), flush=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if subprocess.run(cmd, env=env).returncode != 0:
        sys.exit(f"demo: `snnc {args[0]}` failed")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=64, help="simulation steps per image (default 64)")
    p.add_argument("--out", default="out/digits", help="working folder (default out/digits)")
    p.add_argument("--target", default="loihi", help="snnc target (default loihi)")
    args = p.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x_train, _, x_test, y_test = load_split()
    np.save(out / "calibration.npy", x_train[:200])
    np.save(out / "test_x.npy", x_test)
    np.save(out / "test_y.npy", y_test)
    model = str(HERE / "digits_cnn.keras")
    compiled = str(out / args.target)

    snnc("compile", model, "--target", args.target, "--calibration", str(out / "calibration.npy"), "-o", compiled, "--force")
    snnc("run", compiled, "--input", str(out / "test_x.npy"), "--labels", str(out / "test_y.npy"), "--steps", str(args.steps))

    import snnc as api
    from snnc.codegen import Compiled

    ann = float(np.mean(api.evaluate(api.load(model), x_test).argmax(-1) == y_test))
    c = Compiled.load(compiled)
    ys = c.run(x_test, steps=args.steps, progress=False)  # ys[:, t-1]: the readout after t steps
    print(f"\naccuracy on the {len(y_test)} held-out images (argmax of the running mean of the readout):")
    print(f"  {'steps':>5}  {args.target:>8}  ANN (non-spiking Keras model, snnc.evaluate)")
    for t in sorted({t for t in (8, 16, 32, 64, args.steps) if t <= args.steps}):
        acc = float(np.mean(ys[:, t - 1].argmax(-1) == y_test))
        print(f"  {t:>5}  {acc:8.2%}  {ann:.2%}")
    if "loihi" in c.manifest:
        chip = [r["node"] for r in c.manifest["loihi"]["layers"] if r["place"] == "chip"]
        host = [r["node"] for r in c.manifest["loihi"]["layers"] if r["place"] != "chip"]
        print(f"on the chip: {', '.join(chip)} ({c.manifest['loihi']['cores']} cores); "
              f"on the host: {', '.join(host) or 'nothing'} (the input's spike encoder)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

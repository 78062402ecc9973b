"""The main job, end to end: compile the bundled digits CNN for Loihi and report accuracy.

Runs the real command line, printing each command:

1. writes the held-out split of scikit-learn's ``load_digits`` (450 images) and 200
   training images for rate calibration as ``.npy`` files under ``out/digits/``;
2. ``snnc compile examples/digits/digits_cnn.keras --target loihi --calibration ...``
   (lowers every ReLU to Loihi spiking neurons, normalises firing rates, checks Loihi's
   core limits, writes ``out/digits/loihi/``: model.snnc, network.py, weights.npz, ...);
3. ``snnc run out/digits/loihi --input ... --labels ... --steps 50`` on nengo-loihi's
   emulator (8-bit weights, discretised neurons), which prints the spiking accuracy;
4. the accuracy of the original (non-spiking) network, from snnc's reference interpreter.

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
    p.add_argument("--steps", type=int, default=50, help="simulation steps per image (default 50)")
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

    ann = api.evaluate(api.load(model), x_test)
    print(f"reference (non-spiking Keras model, snnc.evaluate): accuracy {np.mean(ann.argmax(-1) == y_test):.2%} on {len(y_test)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())

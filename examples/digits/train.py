"""Train the small, spiking- and Loihi-friendly digits CNN and save it as Keras v3.

Usage (from the repository root)::

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python examples/digits/train.py [--out PATH]

The run is deterministic (seeded, op determinism on): rerunning it reproduces the same
weights and the same test accuracy on the same machine. It prints the test accuracy and
records it in ``README.md`` next to this file (between the ``accuracy`` markers).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # make ``data`` importable when run from anywhere
    sys.path.insert(0, str(HERE))

from data import IMAGE_SHAPE, NUM_CLASSES, load_split  # noqa: E402

DEFAULT_OUT = HERE / "digits_cnn.keras"
README = HERE / "README.md"
SEED = 0
EPOCHS = 60
BATCH_SIZE = 32
LEARNING_RATE = 3e-3
_ACCURACY_BLOCK = re.compile(r"(<!-- accuracy -->).*?(<!-- /accuracy -->)", re.S)


def build_model() -> tf.keras.Model:
    """The CNN: two ReLU convolutions (no pooling, no BatchNorm) and linear logits.

    Input (8, 8, 1) -> Conv2D(8, 3) -> (6, 6, 8) -> Conv2D(16, 3, strides=2) -> (2, 2, 16)
    -> Flatten (64) -> Dense(10) logits. Every nonlinearity is a plain ReLU, which maps
    one-to-one onto spiking (Loihi) neurons.
    """
    return tf.keras.Sequential(
        [
            tf.keras.Input(shape=IMAGE_SHAPE, name="image"),
            tf.keras.layers.Conv2D(8, 3, activation="relu", name="conv1"),
            tf.keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv2"),
            tf.keras.layers.Flatten(name="flatten"),
            tf.keras.layers.Dense(NUM_CLASSES, name="logits"),
        ],
        name="digits_cnn",
    )


def train(epochs: int = EPOCHS, verbose: int = 0) -> tuple[tf.keras.Model, float]:
    """Train :func:`build_model` deterministically; return the model and its test accuracy."""
    tf.keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    x_train, y_train, x_test, y_test = load_split()

    model = build_model()
    model.compile(
        optimizer=tf.keras.optimizers.Adam(LEARNING_RATE),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=epochs, batch_size=BATCH_SIZE, shuffle=True, verbose=verbose)
    logits = model.predict(x_test, batch_size=256, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y_test))
    return model, accuracy


def record_accuracy(accuracy: float, readme: Path = README) -> None:
    """Write the accuracy into ``readme`` between ``<!-- accuracy -->`` markers (if present)."""
    if not readme.exists():
        return
    text = readme.read_text()
    line = f"Test accuracy of the trained Keras model (ANN, 450 test images): **{accuracy:.2%}**"
    new = _ACCURACY_BLOCK.sub(lambda m: f"{m.group(1)}\n{line}\n{m.group(2)}", text)
    if new != text:
        readme.write_text(new)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: train, save, print and record the test accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output .keras file (default: {DEFAULT_OUT.name})",
    )
    parser.add_argument(
        "--epochs", type=int, default=EPOCHS, help=f"training epochs (default: {EPOCHS})"
    )
    parser.add_argument(
        "--verbose", type=int, default=0, choices=(0, 1, 2), help="Keras fit verbosity"
    )
    args = parser.parse_args(argv)

    model, accuracy = train(epochs=args.epochs, verbose=args.verbose)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Keras 2.12 writes HDF5 for a ".keras" name unless keras_v3 is requested explicitly.
    model.save(args.out, save_format="keras_v3")
    print(f"test accuracy: {accuracy:.4f}")
    print(f"saved {args.out} ({args.out.stat().st_size} bytes)")
    if args.out.resolve() == DEFAULT_OUT and args.epochs == EPOCHS:
        record_accuracy(accuracy)
    return 0


if __name__ == "__main__":
    sys.exit(main())

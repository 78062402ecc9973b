"""The scikit-learn ``load_digits`` data set and the deterministic train/test split.

Shared by ``train.py`` and by anything that evaluates ``digits_cnn.keras`` (the snnc
tests, the README recipe), so every consumer sees exactly the same test images.
Deliberately free of TensorFlow so that importing it is cheap.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

#: Fraction of the 1797 images held out for testing.
TEST_SIZE = 0.25
#: Seed of the stratified split; changing it changes every reported accuracy.
SPLIT_SEED = 0
#: Image shape without batch: 8x8 pixels, one channel (channels_last).
IMAGE_SHAPE = (8, 8, 1)
NUM_CLASSES = 10


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(x_train, y_train, x_test, y_test)``.

    Images are float32 of shape ``(N, 8, 8, 1)`` scaled from the 0..16 grey levels to
    ``[0, 1]``; labels are int64 class indices 0..9. The split is stratified and seeded
    (1347 training, 450 test images).
    """
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0).reshape((-1, *IMAGE_SHAPE))
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=y
    )
    return x_train, y_train, x_test, y_test

"""Small top-tuning inputs: a tiny search preset and seeded separable blobs."""

from __future__ import annotations

import numpy as np

from harness.compute.toptune.presets import Preset

TINY = Preset(max_trials=2, executions_per_trial=1, epochs=3, final_epochs=4, patience=2, val_fraction=0.25)


def blobs(n_per_class: int, classes: int, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 3
    labels = np.repeat(np.arange(classes), n_per_class)
    return (centres[labels] + rng.normal(size=(len(labels), dim))).astype(np.float32), labels

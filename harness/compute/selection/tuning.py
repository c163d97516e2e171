"""Is tuning worth it? The top-tune gain of a backbone measured on a sample: the sample is split in two
halves, stratified by class (seeded); a head is searched and trained on one half (harness.compute.toptune, a
small preset) and both the frozen and the top-tuned embeddings of the other half are scored by leave-one-out
retrieval among themselves. The gain is the mean of the per-query differences of mMP@5 (top-tuned minus
frozen) with its bootstrap 95% interval, and it is set against the head's device-seconds as gain per
device-hour: a number to weigh, not a yes or no.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.compute.selection.evaluation import sample_values
from harness.compute.stats import bootstrap_mean

METRIC = "mmp_at_5"


@dataclass(frozen=True)
class TuningGain:
    candidate: str
    frozen: float  # mMP@5 of the frozen embeddings on the held-out half
    tuned: float
    gain: float
    low: float
    high: float
    seconds: float  # the head's search and training
    preset: str

    @property
    def gain_per_device_hour(self) -> float:
        return self.gain / max(self.seconds / 3600, 1e-9)


def halves(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) positions: each class's items in a seeded order, the first half for training."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        cut = len(members) // 2
        train.append(members[:cut])
        held.append(members[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def tuning_gain(candidate: str, vectors: np.ndarray, labels: np.ndarray, preset: str, directory: Path,
                seed: int = 0) -> TuningGain:  # fmt: skip
    from harness.compute.toptune.presets import load_preset
    from harness.compute.toptune.train import train_head

    train, held = halves(labels, seed)
    start = time.perf_counter()
    head = train_head(vectors[train], labels[train], load_preset(preset), seed, directory, overwrite=True,
                      what=f"top-tune gain of {candidate}")  # fmt: skip
    seconds = time.perf_counter() - start
    frozen = sample_values(vectors[held], labels[held])[METRIC]
    tuned = sample_values(head.embed(vectors[held]), labels[held])[METRIC]
    interval = bootstrap_mean(tuned - frozen)
    return TuningGain(candidate, float(frozen.mean()), float(tuned.mean()), interval.value, interval.low,
                      interval.high, seconds, preset)  # fmt: skip

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


@dataclass(frozen=True)
class FinetunePrediction:
    """The fine-tune gain of ``candidate`` predicted from its top-tune gain measured on the sample, where the
    grid holds both gains for the same model on other datasets:

        ratio = sum_d t_d f_d / sum_d t_d^2        (least squares through the origin, f ~ ratio x t)

    over the grid's datasets d with finished pre-trained, top-tuned and fine-tuned retrieval cells of the model,
    t_d and f_d their top-tune and fine-tune gains in mMP@5 (tuned minus pre-trained). The prediction is
    ``ratio`` x the measured top-tune gain, set against the grid's mean fine-tune device-seconds of the model.
    ``predicted`` is None where there is nothing to fit (no pair, or every top-tune gain zero)."""

    candidate: str
    pairs: int
    ratio: float | None
    predicted: float | None
    finetune_s: float | None  # the grid's mean fine-tune device-seconds for this model

    @property
    def gain_per_device_hour(self) -> float | None:
        if self.predicted is None or not self.finetune_s:
            return None
        return self.predicted / (self.finetune_s / 3600)


def predict_finetune_gain(candidate: str, measured: float, pairs: list[tuple[float, float]],
                          finetune_s: list[float]) -> FinetunePrediction:  # fmt: skip
    """``pairs``: (top-tune gain, fine-tune gain) per dataset of the grid; ``finetune_s``: its fine-tunes' times."""
    t = np.array([p[0] for p in pairs], dtype=np.float64)
    f = np.array([p[1] for p in pairs], dtype=np.float64)
    seconds = float(np.mean(finetune_s)) if finetune_s else None
    if len(pairs) == 0 or float(t @ t) == 0.0:
        return FinetunePrediction(candidate, len(pairs), None, None, seconds)
    ratio = float(t @ f / (t @ t))
    return FinetunePrediction(candidate, len(pairs), ratio, ratio * measured, seconds)

"""Train/test leakage: pairs of a training and a test image that are the same picture.

Two kinds, both found per pair (train position, test position) within their splits:

- byte-identical: the items' content digests are equal (the sha256 of the file's bytes for on-disk datasets,
  of the generating recipe for generated ones; harness.compute.datasets.base.Item.content);
- near-identical: the cosine of their L2-normalised embeddings is at least a threshold (re-encodes, resizes
  and crops of one photo, which the bytes miss).

A test query with such a partner in training can inflate a tuned model's score (it was trained on the same
picture); the leakage suite reports the metrics with and without those queries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from harness.compute.datasets.base import Manifest
from harness.core.errors import HarnessError


@dataclass(frozen=True)
class Pair:
    train: int  # position in the training split
    test: int  # position in the test split
    train_key: str
    test_key: str
    cosine: float | None  # None where no embeddings were compared
    identical: bool  # byte-identical (equal content digests)
    near: bool  # cosine at or above the threshold

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def identical_pairs(manifest: Manifest, train: str = "train", test: str = "test") -> list[tuple[int, int]]:
    """(train position, test position) of every pair with equal content digests, sorted."""
    by_digest: dict[str, list[int]] = {}
    for position, index in enumerate(manifest.indices(train)):
        by_digest.setdefault(manifest.items[index].content, []).append(position)
    pairs = [
        (t, position)
        for position, index in enumerate(manifest.indices(test))
        for t in by_digest.get(manifest.items[index].content, [])
    ]
    return sorted(pairs)


def near_pairs(
    train: np.ndarray, test: np.ndarray, threshold: float, chunk: int = 1024
) -> list[tuple[int, int, float]]:
    """(train position, test position, cosine) with cosine >= ``threshold``, for unit rows; sorted by position."""
    if not -1.0 <= threshold <= 1.0:
        raise HarnessError(f"near-duplicate threshold {threshold} must be a cosine, between -1 and 1")
    found: list[tuple[int, int, float]] = []
    t = np.asarray(train, dtype=np.float32)
    for start in range(0, len(test), chunk):
        cos = np.asarray(test[start : start + chunk], dtype=np.float32) @ t.T  # (chunk, N_train)
        rows, cols = np.nonzero(cos >= threshold)
        found += [(int(c), start + int(r), float(cos[r, c])) for r, c in zip(rows, cols, strict=True)]
    return sorted(found)


def find_pairs(
    manifest: Manifest, train: np.ndarray, test: np.ndarray, threshold: float, split: str = "test"
) -> list[Pair]:
    """Every leaked pair of either kind, sorted by (train, test) position; a pair of both kinds is listed once."""
    train_idx, test_idx = manifest.indices("train"), manifest.indices(split)
    if (len(train), len(test)) != (len(train_idx), len(test_idx)):
        raise HarnessError(
            f"leakage: {len(train)} train and {len(test)} {split} embeddings for {len(train_idx)} and "
            f"{len(test_idx)} images"
        )
    near = {(a, b): c for a, b, c in near_pairs(train, test, threshold)}
    same = set(identical_pairs(manifest, "train", split))
    pairs = []
    for a, b in sorted(set(near) | same):
        cosine = near.get((a, b), float(np.dot(train[a], test[b])))
        keys = manifest.items[train_idx[a]].key, manifest.items[test_idx[b]].key
        pairs.append(Pair(a, b, *keys, cosine, (a, b) in same, (a, b) in near))
    return pairs

"""What every dataset yields: a manifest of labelled items, each loadable as an RGB image."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from PIL import Image

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Item:
    """One labelled image.

    Attributes:
        key: where the image comes from: a file path for on-disk datasets, an index for generated ones.
        label: 0-based class index, stable for a given dataset.
        class_name: the human-readable class.
        split: "train" or "test".
        content: a digest of the image's bytes (or of the recipe that generates it), so that the
            manifest digest changes when one image changes.
    """

    key: str
    label: int
    class_name: str
    split: str
    content: str


def manifest_digest(dataset_id: str, rows: Iterable[tuple[str, int, str, str, str]]) -> str:
    """The digest of a manifest from its (key, label, class_name, split, content) rows, in order.

    One definition for an in-memory Manifest and for a prepared manifest streamed out of DuckDB.
    """
    h = hashlib.sha256(dataset_id.encode())
    for key, label, class_name, split, content in rows:
        h.update(json.dumps([key, label, class_name, split, content]).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """The complete, ordered list of items of one dataset, with a digest of all of it.

    ``excluded`` counts the listed images left out because they could not be read (corrupt, or missing
    where the dataset tolerates it); it is recorded in each run's provenance.
    """

    dataset_id: str
    items: tuple[Item, ...]
    excluded: int = 0

    @cached_property
    def digest(self) -> str:
        rows = ((item.key, item.label, item.class_name, item.split, item.content) for item in self.items)
        return manifest_digest(self.dataset_id, rows)

    def indices(self, split: str) -> list[int]:
        return [i for i, item in enumerate(self.items) if item.split == split]

    def labels(self, indices: Sequence[int]) -> list[int]:
        return [self.items[i].label for i in indices]

    @property
    def num_classes(self) -> int:
        return len({item.label for item in self.items})


class Dataset(ABC):
    """A source of labelled images. Subclasses must be picklable (extraction decodes in worker processes)."""

    #: canonical id as written in the CLI, suite files and DB rows, e.g. "digits" or "folder:/data/shoes"
    id: str

    @abstractmethod
    def manifest(self) -> Manifest:
        """Enumerate every item. Raises HarnessError for a missing, empty or malformed source."""

    @abstractmethod
    def load_image(self, item: Item) -> Image.Image:
        """Return the item's image in RGB. Raises HarnessError naming the item for an unreadable image."""

    def use_manifests(self, store: Any) -> None:  # noqa: B027  (a generated dataset builds its manifest from its id)
        """Where a file dataset's prepared manifests live (harness.compute.datasets.files.ManifestStore)."""

    def fingerprint(self) -> list[list[Any]]:
        """(path, size, mtime_ns) of the files whose change changes the manifest, read without building it (a
        dataset generated from its id alone, like ``digits``, has none)."""
        return []

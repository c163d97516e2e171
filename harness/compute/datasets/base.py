"""What every dataset yields: a manifest of labelled items, each loadable as an RGB image, and the texts it
declares about them (``Dataset.texts``): human-readable class names, per-item titles or categories."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from PIL import Image

from harness.core.errors import HarnessError

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


#: the text field every dataset with human-readable class names declares: each item's class name
CLASS_FIELD = "class"


@dataclass(frozen=True)
class Texts:
    """One text field of a dataset: a text per item, in words a text tower can read.

    Attributes:
        field: the field's name (``class``, ``title``, ``category``, a ``styles.csv`` column...).
        by_key: item key -> its text (items without one are absent).
        language: BCP 47 tag of the texts ("en", "zh"), recorded with the results.
        source: where the texts come from, for a reader of the results.
    """

    field: str
    by_key: dict[str, str]
    language: str
    source: str

    @cached_property
    def digest(self) -> str:
        """sha256 of the field, language and every (key, text): a changed title changes it."""
        h = hashlib.sha256(json.dumps([self.field, self.language]).encode())
        for key, text in sorted(self.by_key.items()):
            h.update(json.dumps([key, text]).encode())
        return h.hexdigest()


class Dataset(ABC):
    """A source of labelled images. Subclasses must be picklable (extraction decodes in worker processes)."""

    #: canonical id as written in the CLI, suite files and DB rows, e.g. "digits" or "folder:/data/shoes"
    id: str
    #: the language of the dataset's texts
    LANGUAGE: ClassVar[str] = "en"
    #: the text fields this kind of dataset declares, known without reading it (``CLASS_FIELD`` when its class
    #: names are human-readable); a text suite's cell on a dataset lacking its field is skipped at plan time
    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ()

    def text_fields(self) -> tuple[str, ...]:
        """The text fields of this dataset; cheap (a kind whose fields depend on its files reads a header)."""
        return self.TEXT_FIELDS

    def texts(self, field: str) -> Texts:
        """The items' texts of one field. Raises HarnessError for a field this dataset does not declare."""
        if field not in self.text_fields():
            declared = ", ".join(self.text_fields()) or "none"
            raise HarnessError(f"dataset '{self.id}' has no text field '{field}' (its text fields: {declared})")
        if field == CLASS_FIELD:
            items = self.manifest().items
            names = {item.label: self.class_text(item.class_name) for item in items}
            return Texts(field, {item.key: names[item.label] for item in items}, self.LANGUAGE, "class names")
        by_key, source = self.item_texts(field)
        return Texts(field, by_key, self.LANGUAGE, source)

    def class_text(self, class_name: str) -> str:
        """The human-readable name of a class as the manifest names it (most datasets: the name itself)."""
        return class_name

    def item_texts(self, field: str) -> tuple[dict[str, str], str]:
        """(item key -> text, source) of a declared field other than ``class``; the datasets with such fields
        override it."""
        raise HarnessError(f"dataset '{self.id}' declares text field '{field}' but cannot read it")

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

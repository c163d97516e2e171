"""``rp2k:PATH``: RP2K (Peng et al. 2020, Pinlan Data), retail shelf products, from its published layout.

The zip ``rp2k_dataset.zip`` unpacks to ``all/``; PATH is that ``all`` folder or the folder holding it::

    train/<product name>/<image>.jpg|.png
    test/<product name>/<image>.jpg|.png

There is no annotation file: the class is the folder name (a product name, in Chinese, UTF-8). Images are
found recursively in each class folder, sorted by path; hidden files are skipped; empty class folders
(the published archive has some) are skipped and counted.

- Split: the official ``train/`` and ``test/`` folders.
- Evaluation split: ``test``; RP2K defines no query/gallery split: retrieval is leave-one-out over test
  (as MIEB's RP2K task does).
- Labels: classes are mapped by folder *name*, never by position, since train and test may hold different
  products: the sorted names of both splits together number 0..C-1.
- Texts: the class names are product names (field ``class``, language ``zh``), the queries of a text search.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from harness.compute.datasets.base import CLASS_FIELD, SPLITS
from harness.compute.datasets.files import Entry, FileDataset, Notes, Source
from harness.compute.datasets.folder import class_folders, scan

SOURCE = Source(
    "RP2K",
    "https://www.pinlandata.com/rp2k_dataset",
    "rp2k_dataset.zip; pass the unzipped all/ folder, or the folder holding it, as the root",
)


@dataclass
class Rp2kDataset(FileDataset):
    SOURCE: ClassVar[Source | None] = SOURCE
    LANGUAGE: ClassVar[str] = "zh"
    TEXT_FIELDS: ClassVar[tuple[str, ...]] = (CLASS_FIELD,)  # the product names of the class folders

    def _base(self) -> Path:
        base = self.find_base("train", ("", "all"), folder=True)
        if not (base / "test").is_dir():
            raise self.layout_error(base / "test", what="folder")
        return base

    def annotation_files(self) -> list[Path]:
        folders = [self._base() / split for split in SPLITS]
        return [*folders, *(c for folder in folders for c in class_folders(folder))]

    def describe_split(self) -> str:
        return "official: the train/ and test/ folders"

    def entries(self, notes: Notes) -> Iterator[Entry]:
        base = self._base()
        for split in SPLITS:
            yield from scan(Path(self.root), base / split, split, empty_ok=notes)

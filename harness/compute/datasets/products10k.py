"""``products10k:PATH``: Products-10K (JD.com, ICPR 2020), read from its published layout.

PATH holds the four published downloads, unpacked::

    train.csv            name,class,group        (header; ``name`` is a file in train/)
    test_kaggletest.csv  name,class,<usage>       (header; the third column, the Kaggle public/private
                                                   flag, is probably "Usage" [unverified] and is ignored)
    train/<name>.jpg     test/<name>.jpg          flat folders, numeric file names

Columns are taken by name (``name``, ``class``), so their order and any further columns do not matter.

- Split: train = the rows of ``train.csv``, test = those of ``test_kaggletest.csv`` (public + private
  leaderboard images together). Test classes need not appear in train, nor the reverse.
- Evaluation split: ``test``. Products-10K has no standard retrieval protocol; we use leave-one-out over
  test (every test image queries all other test images; relevant = same SKU).
- Labels: ``class`` is the SKU id, an integer (0-based in the published files [C]); a label is the rank of
  the SKU id among the SKUs kept (train and test together), i.e. the SKU id itself when the ids present
  are 0..C-1. ``class_name`` is the SKU id as an integer string. The ``group`` column is not used.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from harness.compute.datasets.files import Entry, FileDataset, Notes, Source, join_key
from harness.core.errors import HarnessError

SOURCE = Source(
    "Products-10K",
    "https://products-10k.github.io/",
    "train.zip, test.zip, train.csv and test_kaggletest.csv (also on https://www.kaggle.com/c/products-10k); "
    "unpack the zips beside the CSVs and pass that folder as the root",
)
LISTS = {"train": "train.csv", "test": "test_kaggletest.csv"}


@dataclass
class Products10kDataset(FileDataset):
    SOURCE: ClassVar[Source | None] = SOURCE

    def _base(self) -> Path:
        return self.find_base(LISTS["train"])

    def annotation_files(self) -> list[Path]:
        base = self._base()
        return [base / name for name in LISTS.values()] + [base / split for split in LISTS]

    def describe_split(self) -> str:
        return "official: train.csv / test_kaggletest.csv"

    def entries(self, notes: Notes) -> Iterator[Entry]:
        base = self._base()
        prefix = self.prefix(base)
        for split, name in LISTS.items():
            path = base / name
            if not path.is_file():
                raise self.layout_error(path)
            if not (base / split).is_dir():
                raise self.layout_error(base / split, what="folder")
            with path.open(newline="", encoding="utf-8-sig") as file:
                reader = csv.DictReader(file)
                fields = [field.strip().lower() for field in reader.fieldnames or []]
                if "name" not in fields or "class" not in fields:
                    raise HarnessError(f"'{path}' lacks the columns name,class: its header is {fields!r}")
                reader.fieldnames = fields
                for record in reader:
                    where = f"row {reader.line_num} of '{path}'"
                    image, sku = (record.get("name") or "").strip(), (record.get("class") or "").strip()
                    if not image or not sku.isdigit():
                        raise HarnessError(f"{where}: expected an image name and an integer class, got {record!r}")
                    number = int(sku)
                    yield Entry(join_key(prefix, f"{split}/{image}"), str(number), number, split, where)

"""``fashion:PATH``: Kaggle "Fashion Product Images (Small)" (paramaggarwal), read from its published layout.

Which Fashion set the paper used is not verified; this one (about 44k images, ``masterCategory`` with 7
values) is the best evidence for its "about 40k images, 6 classes" (the paper's dataset table). PATH is
the unzipped Kaggle folder (its ``myntradataset/`` copy, or the full-size set's ``fashion-dataset/``, is
found too)::

    styles.csv       id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,
                     productDisplayName   (comma-separated, unquoted)
    images/<id>.jpg

Known defects of ``styles.csv``, tolerated and counted in the manifest's notes:

- 22 rows have more fields than the header, because ``productDisplayName`` holds unquoted commas: the
  extra fields are joined back into the last column (not dropped; the label columns are unaffected);
- rows with fewer fields than the header, a non-integer id or an empty label are skipped;
- values are kept as written: the literal ``NA`` in ``usage`` is a value, not a missing one;
- 5 ids have no image: they are listed as missing and excluded (counted in ``excluded``), not fatal.

Options: ``label`` (default ``masterCategory``): any column of the header but ``id``; ``min_class_size``
(default 10): classes with fewer readable images are dropped and reported. With the defaults the
``masterCategory`` "Home" (about one image [unverified]) is dropped, which would leave the 6 classes the
paper reports (a guess: the paper's exact filtering is unknown).

- Split: Fashion has no official split: a seeded stratified split (options ``test_fraction``, default
  0.5, and ``seed``, default 0), drawn after excluding unreadable images and small classes, and recorded
  in the manifest.
- Evaluation split: ``test``; no query/gallery split: retrieval is leave-one-out over test.
- Labels: the label column's values, sorted, number 0..C-1 over the classes kept.
- Texts: field ``title`` is ``productDisplayName`` (e.g. "Turtle Check Men Navy Blue Shirt"); the columns
  ``gender``, ``masterCategory``, ``subCategory``, ``articleType``, ``baseColour``, ``season`` and ``usage``
  are fields of their own (category queries), and ``class`` is the label column's value.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from harness.compute.datasets.base import CLASS_FIELD
from harness.compute.datasets.files import Entry, FileDataset, Notes, Source, join_key, root_of
from harness.compute.datasets.options import SPLIT_OPTIONS, int_option, split_options
from harness.core.errors import HarnessError
from harness.spec.ids import Ref, check_options

SOURCE = Source(
    "Fashion Product Images (Small)",
    "https://www.kaggle.com/datasets/paramaggarwal/fashion-product-images-small",
    "the Kaggle archive; pass the unzipped folder holding styles.csv and images/ as the root",
)
STYLES = "styles.csv"
PREFIXES = ("", "myntradataset", "fashion-dataset")
REPAIRED = "rows repaired (unquoted commas in the last column, joined back)"
SHORT = "rows skipped (fewer fields than the header)"
BAD_ID = "rows skipped (id not an integer)"
#: text field -> its styles.csv column
TEXT_COLUMNS = {"title": "productDisplayName", **{c: c for c in (
    "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage")}}  # fmt: skip


@dataclass
class FashionDataset(FileDataset):
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"label", "min_class_size"}) | SPLIT_OPTIONS
    SOURCE: ClassVar[Source | None] = SOURCE
    MISSING_OK: ClassVar[bool] = True  # 5 ids of the published styles.csv have no image
    TEXT_FIELDS: ClassVar[tuple[str, ...]] = (CLASS_FIELD, *TEXT_COLUMNS)

    label: str = "masterCategory"
    min_images: int = 10
    test_fraction: float = 0.5
    seed: int = 0

    @classmethod
    def from_ref(cls, ref: Ref) -> FashionDataset:
        check_options(ref, set(cls.OPTIONS), "dataset")
        test_fraction, seed = split_options(ref)
        label = ref.option("label", "masterCategory") or "masterCategory"
        min_images = int_option(ref, "min_class_size", 10, minimum=1)
        return cls(str(ref), root_of(ref), label, min_images, test_fraction, seed)

    def _base(self) -> Path:
        return self.find_base(STYLES, PREFIXES)

    def annotation_files(self) -> list[Path]:
        base = self._base()
        return [base / STYLES, base / "images"]

    def min_class_size(self) -> int:
        return self.min_images

    def stratify(self) -> tuple[float, int]:
        return self.test_fraction, self.seed

    def entries(self, notes: Notes) -> Iterator[Entry]:
        for key, value, where in self._column(self.label, notes):
            if not value:
                notes[f"rows skipped (empty {self.label})"] += 1
                continue
            yield Entry(key, value, None, None, where)

    def item_texts(self, field: str) -> tuple[dict[str, str], str]:
        column = TEXT_COLUMNS[field]
        return {key: value for key, value, _ in self._column(column, Counter()) if value}, f"styles.csv {column}"

    def _column(self, column: str, notes: Notes) -> Iterator[tuple[str, str, str]]:
        """(item key, the column's value stripped, where) of every usable row, the known defects repaired."""
        base = self._base()
        prefix, path = self.prefix(base), base / STYLES
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            header = [name.strip() for name in next(reader, [])]
            if "id" not in header:
                raise HarnessError(f"'{path}' lacks the column id: its header is {header!r}")
            if column not in header or column == "id":
                columns = ", ".join(name for name in header if name != "id")
                raise HarnessError(
                    f"option label={column!r} in dataset id '{self.id}' is not a column of '{path}' "
                    f"(columns: {columns})"
                    if column == self.label
                    else f"'{path}' lacks the column {column!r} (columns: {columns})"
                )
            width, id_at, value_at = len(header), header.index("id"), header.index(column)
            for row in reader:
                if not row:
                    continue
                if len(row) > width:
                    row = [*row[: width - 1], ",".join(row[width - 1 :])]
                    notes[REPAIRED] += 1
                elif len(row) < width:
                    notes[SHORT] += 1
                    continue
                image_id, value = row[id_at].strip(), row[value_at].strip()
                if not image_id.isdigit():
                    notes[BAD_ID] += 1
                    continue
                yield join_key(prefix, f"images/{image_id}.jpg"), value, f"row {reader.line_num} of '{path}'"

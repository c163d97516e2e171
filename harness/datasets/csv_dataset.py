"""``csv:PATH``: labelled images listed in a CSV file.

The header names the columns ``path``, ``label`` and optionally ``split`` (any order, case-insensitive;
other columns are ignored). Relative image paths resolve against the CSV's folder. Labels are class
names, sorted to 0..C-1. A split column fixes the split (values train/test); without one, items get a
seeded stratified split (options ``test_fraction``, ``seed``). Errors name rows as a spreadsheet shows
them: the header is row 1.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from PIL import Image

from harness.datasets.base import SPLITS, Dataset, Item, Manifest
from harness.datasets.images import decode_image, file_digest
from harness.datasets.options import (
    SPLIT_OPTIONS,
    given_split_options,
    reject_split_options,
    split_options,
)
from harness.datasets.splits import stratified_split
from harness.errors import HarnessError
from harness.ids import Ref, check_options

HEADER_HINT = "expected a header path,label[,split] and one row per image"


@dataclass(frozen=True)
class _Row:
    number: int
    key: str
    image: Path
    class_name: str
    split: str | None


def _read_rows(path: Path) -> list[_Row]:
    # utf-8-sig: spreadsheet programs often start a CSV with a byte-order mark
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        if not reader.fieldnames:
            raise HarnessError(f"dataset CSV '{path}' is empty: {HEADER_HINT}")
        reader.fieldnames = [name.strip().lower() for name in reader.fieldnames]
        missing = [column for column in ("path", "label") if column not in reader.fieldnames]
        if missing:
            raise HarnessError(f"dataset CSV '{path}' lacks column(s) {', '.join(missing)}: {HEADER_HINT}")
        has_split = "split" in reader.fieldnames
        rows: list[_Row] = []
        seen: dict[Path, int] = {}
        for record in reader:
            where = f"row {reader.line_num} of '{path}'"
            key, name = (record.get("path") or "").strip(), (record.get("label") or "").strip()
            if not key or not name:
                raise HarnessError(f"{where}: empty {'path' if not key else 'label'}")
            image = path.parent / key
            if not image.exists():
                raise HarnessError(f"{where}: image '{image}' does not exist")
            if not image.is_file():
                raise HarnessError(f"{where}: image '{image}' is not a file")
            if image in seen:
                raise HarnessError(f"{where}: image '{image}' is already listed in row {seen[image]}")
            seen[image] = reader.line_num
            split = (record.get("split") or "").strip().lower() if has_split else None
            if split is not None and split not in SPLITS:
                raise HarnessError(f"{where}: split {record.get('split')!r} must be train or test")
            rows.append(_Row(reader.line_num, key, image, name, split))
    if not rows:
        raise HarnessError(f"dataset CSV '{path}' has no rows: {HEADER_HINT}")
    return rows


@dataclass
class CsvDataset(Dataset):
    OPTIONS: ClassVar[frozenset[str]] = SPLIT_OPTIONS

    id: str
    path: str  # absolute, so that worker processes with another working directory find the same files
    test_fraction: float
    seed: int
    given_options: tuple[str, ...]
    _manifest: Manifest | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_ref(cls, ref: Ref) -> CsvDataset:
        check_options(ref, set(cls.OPTIONS), "dataset")
        test_fraction, seed = split_options(ref)
        path = Path(ref.name).expanduser().absolute()
        return cls(str(ref), str(path), test_fraction, seed, given_split_options(ref))

    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = self._build()
        return self._manifest

    def _build(self) -> Manifest:
        path = Path(self.path)
        if not path.exists():
            raise HarnessError(f"dataset CSV '{path}' does not exist")
        if not path.is_file():
            raise HarnessError(f"dataset CSV '{path}' is not a file")
        rows = _read_rows(path)
        label_of = {name: label for label, name in enumerate(sorted({row.class_name for row in rows}))}
        labels = [label_of[row.class_name] for row in rows]
        if rows[0].split is not None:
            reject_split_options(self.id, self.given_options, f"'{path}' has a split column")
            splits = [row.split or "" for row in rows]
        else:
            splits = stratified_split(labels, self.test_fraction, self.seed)
        items = tuple(
            Item(
                key=row.key,
                label=label,
                class_name=row.class_name,
                split=split,
                content=file_digest(row.image),
            )
            for row, label, split in zip(rows, labels, splits, strict=True)
        )
        return Manifest(self.id, items)

    def load_image(self, item: Item) -> Image.Image:
        return decode_image(Path(self.path).parent / item.key)

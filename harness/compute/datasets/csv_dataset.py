"""``csv:PATH``: labelled images listed in a CSV file.

The header names the columns ``path``, ``label`` and optionally ``split`` (any order, case-insensitive;
other columns are ignored). Relative image paths resolve against the CSV's folder. Labels are class
names, sorted to 0..C-1. A split column fixes the split (values train/test); without one, items get a
seeded stratified split (options ``test_fraction``, ``seed``), recorded in the manifest. Errors name rows
as a spreadsheet shows them: the header is row 1. An optional ``text`` column gives each image its title
(field ``title`` of the text suites; the label is field ``class``).

A row may not point outside the CSV's folder (an absolute path, or one whose ``..`` climbs above it): such
a row is refused, naming it, unless the id says ``[allow_outside=true]``. The check is on the path as
written (a symlink inside the folder is followed wherever it leads). Corrupt images are excluded and reported
(``ecombench datasets prepare``/``info``); retrieval is leave-one-out over ``test``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from harness.compute.datasets.base import CLASS_FIELD, SPLITS
from harness.compute.datasets.files import Entry, FileDataset, Notes
from harness.compute.datasets.options import (
    SPLIT_OPTIONS,
    choice_option,
    given_split_options,
    reject_split_options,
    split_options,
)
from harness.compute.datasets.texts import TEXT_COLUMN, TITLE_FIELD, header, read_texts
from harness.core.errors import HarnessError
from harness.spec.ids import Ref, check_options

HEADER_HINT = "expected a header path,label[,split] and one row per image"


def _read_rows(path: Path) -> Iterator[tuple[int, str, str, str | None]]:
    """(row number, image path as written, class name, split or None) of every row, lazily."""
    try:
        yield from _parse_rows(path)
    except UnicodeDecodeError as exc:
        raise HarnessError(f"dataset CSV '{path}' is not UTF-8 text: {_where_undecodable(path, exc)}") from exc


def _where_undecodable(path: Path, exc: UnicodeDecodeError) -> str:
    """The first byte that is not UTF-8, and the line of the file it is on."""
    data = path.read_bytes()
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as bad:
            return f"byte 0x{line[bad.start]:02x} on line {number}; save it as UTF-8"
    return f"{exc.reason}; save it as UTF-8"


def _parse_rows(path: Path) -> Iterator[tuple[int, str, str, str | None]]:
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
        rows = 0
        for record in reader:
            where = f"row {reader.line_num} of '{path}'"
            key, name = (record.get("path") or "").strip(), (record.get("label") or "").strip()
            if not key or not name:
                raise HarnessError(f"{where}: empty {'path' if not key else 'label'}")
            split = (record.get("split") or "").strip().lower() if has_split else None
            if split is not None and split not in SPLITS:
                raise HarnessError(f"{where}: split {record.get('split')!r} must be train or test")
            rows += 1
            yield reader.line_num, key, name, split
    if not rows:
        raise HarnessError(f"dataset CSV '{path}' has no rows: {HEADER_HINT}")


@dataclass
class CsvDataset(FileDataset):
    OPTIONS: ClassVar[frozenset[str]] = SPLIT_OPTIONS | {"allow_outside"}

    test_fraction: float = 0.5
    seed: int = 0
    given_options: tuple[str, ...] = ()
    allow_outside: bool = False

    @classmethod
    def from_ref(cls, ref: Ref) -> CsvDataset:
        check_options(ref, set(cls.OPTIONS), "dataset")
        test_fraction, seed = split_options(ref)
        path = Path(ref.name).expanduser().absolute()
        outside = choice_option(ref, "allow_outside", ("true", "false"), "false") == "true"
        return cls(str(ref), str(path), test_fraction, seed, given_split_options(ref), outside)

    def base(self) -> Path:
        return Path(self.root).parent

    def entries(self, notes: Notes) -> Iterator[Entry]:
        path = Path(self.root)
        if not path.exists():
            raise HarnessError(f"dataset CSV '{path}' does not exist")
        if not path.is_file():
            raise HarnessError(f"dataset CSV '{path}' is not a file")
        base = os.path.normpath(self.base())
        for number, key, name, split in _read_rows(path):
            if split is not None:
                reject_split_options(self.id, self.given_options, f"'{path}' has a split column")
            if not self.allow_outside and not _inside(base, key):
                raise HarnessError(
                    f"row {number} of '{path}': image path {key!r} points outside the CSV's folder '{base}'; "
                    "write it relative to that folder, or allow it with the id option [allow_outside=true]"
                )
            # as_posix collapses "./" and doubled slashes, so one image spelt two ways is a duplicate
            yield Entry(Path(key).as_posix(), name, None, split, f"row {number} of '{path}'")

    def annotation_files(self) -> list[Path]:
        return [Path(self.root)]

    def text_fields(self) -> tuple[str, ...]:
        """The label is a class name; an optional ``text`` column gives each image its title."""
        return (CLASS_FIELD, TITLE_FIELD) if TEXT_COLUMN in header(Path(self.root)) else (CLASS_FIELD,)

    def item_texts(self, field: str) -> tuple[dict[str, str], str]:
        return read_texts(Path(self.root)), f"the '{TEXT_COLUMN}' column of '{self.root}'"

    def describe_split(self) -> str:
        return "official: the CSV's split column"

    def stratify(self) -> tuple[float, int]:
        return self.test_fraction, self.seed


def _inside(base: str, key: str) -> bool:
    """Whether ``key`` (as written in a row) names a file below ``base``, judged on the path's text."""
    if os.path.isabs(key) or Path(key).drive:
        return False
    target = os.path.normpath(os.path.join(base, key))
    return os.path.commonpath([base, target]) == base and target != base

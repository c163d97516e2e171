"""Per-item texts read from a CSV with a ``path`` and a ``text`` column (a ``csv:`` dataset's own file, or a
``folder:`` dataset's ``titles.csv``): one reader, so both spell paths and report bad rows alike."""

from __future__ import annotations

import csv
from pathlib import Path

from harness.core.errors import HarnessError

#: the column holding an item's text (its title) in a ``csv:`` dataset or a ``folder:`` dataset's titles file
TEXT_COLUMN = "text"
#: a ``folder:`` dataset's optional titles file, in its root: ``path,text`` with paths as the items' keys
TITLES_FILE = "titles.csv"
TITLE_FIELD = "title"


def header(path: Path) -> list[str]:
    """The CSV's column names, lower-cased and stripped; [] for a missing or empty file."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            return [name.strip().lower() for name in next(csv.reader(file), [])]
    except (OSError, UnicodeDecodeError):
        return []


def read_texts(path: Path) -> dict[str, str]:
    """Image path (posix, as written; ``./`` collapsed) -> non-empty text, from a CSV with ``path`` and ``text``.

    Raises:
        HarnessError: the file lacks either column, or lists one path twice with two different texts.
    """
    by_key: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
        missing = [c for c in ("path", TEXT_COLUMN) if c not in reader.fieldnames]
        if missing:
            raise HarnessError(f"'{path}' lacks column(s) {', '.join(missing)}: expected a header path,{TEXT_COLUMN}")
        for record in reader:
            key, text = (record.get("path") or "").strip(), (record.get(TEXT_COLUMN) or "").strip()
            if not key or not text:
                continue  # an item without a title is simply not a title query's target
            key = Path(key).as_posix()
            if by_key.get(key, text) != text:
                raise HarnessError(f"row {reader.line_num} of '{path}': {key!r} has two different texts")
            by_key[key] = text
    return by_key

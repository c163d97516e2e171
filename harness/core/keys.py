"""Content keys: one way to turn a description (a JSON-able mapping) into a stable hex digest.

Every cache, job and cell key of the harness is ``content_key`` of the fields that determine its contents, so
equal keys mean equal contents and a changed field means a new key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def content_key(fields: Mapping[str, Any], length: int = 32) -> str:
    """sha256 of the canonical JSON of ``fields`` (sorted keys), truncated to ``length`` hex digits."""
    text = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in blocks (weight files run to gigabytes)."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def file_stats(paths: Iterable[Path]) -> list[list[Any]]:
    """(path, size, mtime_ns) of each file (-1, -1 when absent): the cheap fingerprint of files that are far
    too large to hash on every run, such as weights and annotation files. Symlinks (the Hugging Face cache's
    snapshots) are followed to the blob they name."""
    rows: list[list[Any]] = []
    for path in paths:
        try:
            stat = os.stat(path)
            rows.append([str(path), stat.st_size, stat.st_mtime_ns])
        except OSError:
            rows.append([str(path), -1, -1])
    return rows


def item_keys_digest(keys: list[str]) -> str:
    """sha256 of the item keys (manifest paths or ids) joined by newlines: row i of the array is keys[i]."""
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()

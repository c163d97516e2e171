"""Durable file writes: a file appears whole under its final name or not at all, even across a power cut.

Every writer of the harness (shards, manifests, embedding and image caches, per-query and neighbour side
files, checkpoints, sub-job markers) goes through here; none renames temporaries of its own.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.core.errors import HarnessError


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all, durably: the data is fsynced before the rename and the folder
    after it, so a power cut cannot leave a zero-byte file under the final name (ext4 and XFS can)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(data)


@contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` for a library that writes files itself (numpy, torch, DuckDB's
    COPY): on a clean exit it is fsynced and renamed onto ``path``; on an error it is removed. ``suffix``
    keeps the extension a writer insists on (``np.savez`` appends ``.npz`` unless the name ends so)."""
    tmp_name = ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=suffix, delete=False) as tmp:
            tmp_name = tmp.name
        yield Path(tmp_name)
        fsync_path(Path(tmp_name))
        os.replace(tmp_name, path)
    except OSError as exc:  # a full disk or a read-only folder: say which file, and leave no temporary
        raise HarnessError(f"cannot write '{path}': {exc.strerror or exc}") from exc
    finally:
        if tmp_name and Path(tmp_name).exists():
            Path(tmp_name).unlink(missing_ok=True)
    fsync_path(path.parent)


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a folder's entries (making a rename in it durable), to disk; a no-op where
    the path cannot be opened so (folders on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

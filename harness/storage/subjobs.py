"""The sub-job store: where a sub-job (a fine-tune, a top-tune search) keeps its files, and what says it is done.

A sub-job of kind ``k`` and key ``K`` lives in ``<workdir>/<k>/<K>/`` (``Workdir.subjobs``), trains under the
lock ``<workdir>/locks/<k>-<K>.lock``, appends who trained it to its history, and is finished when its done
marker exists: the file its trainer writes last (``final.safetensors``, ``head.json``). Under ``--force`` a job
whose marker is older than the force time is stale: it is trained again, once, by whoever gets there first.
Every module asks here instead of spelling a marker or a job folder; the names are on-disk format and never
change.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.locks import file_lock, record_training
from harness.storage.workdir import Workdir

#: the file whose presence marks a finished sub-job, per kind: the last file its trainer writes
DONE_MARKERS = {"finetune": "final.safetensors", "toptune": "head.json"}


def done_marker(folder: Path, kind: str) -> Path:
    """The done marker of a ``kind`` job kept in ``folder`` (for trainers handed a folder)."""
    marker = DONE_MARKERS.get(kind)
    if marker is None:
        raise HarnessError(f"unknown sub-job kind {kind!r}: known kinds are {', '.join(sorted(DONE_MARKERS))}")
    return folder / marker


@dataclass(frozen=True)
class SubJobFiles:
    """The files of one sub-job in one workdir."""

    workdir: Workdir
    kind: str
    key: str

    @classmethod
    def of(cls, workdir: Path | str | Workdir | None, kind: str, key: str) -> SubJobFiles:
        done_marker(Path(), kind)  # an unknown kind fails here, with the known ones named
        return cls(Workdir.of(workdir), kind, key)

    @classmethod
    def at(cls, folder: Path) -> SubJobFiles:
        """The sub-job whose folder is ``folder`` (``<workdir>/<kind>/<key>``), e.g. a training process's argument."""
        return cls.of(folder.parent.parent, folder.parent.name, folder.name)

    @property
    def folder(self) -> Path:
        return self.workdir.subjobs(self.kind) / self.key

    @property
    def marker(self) -> Path:
        return done_marker(self.folder, self.kind)

    @property
    def lock(self) -> Path:
        return self.workdir.lock(f"{self.kind}-{self.key}")

    def locked(self, what: str) -> AbstractContextManager[None]:
        """Hold the job's lock (waiting for another process that trains it, saying ``what`` it waits for)."""
        return file_lock(self.lock, what)

    def done(self) -> bool:
        return self.marker.exists()

    def stale(self, force_since: float | None) -> bool:
        """--force: the job finished before ``force_since`` (the grid's start), so it is trained again."""
        marker = self.marker
        return force_since is not None and marker.exists() and os.path.getmtime(marker) < force_since

    def record_training(self, what: str) -> None:
        """Append who trained the job, and when, to its history."""
        record_training(self.folder, what)


def finished(workdir: Path | str | Workdir | None, kind: str) -> Iterator[SubJobFiles]:
    """The finished jobs of ``kind`` under ``workdir``, in key order."""
    root = Workdir.of(workdir).subjobs(kind)
    for marker in sorted(root.glob(f"*/{done_marker(Path(), kind).name}")):
        yield SubJobFiles.of(workdir, kind, marker.parent.name)

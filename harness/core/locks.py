"""Advisory file locks (``flock``): one process at a time trains a job or computes a cell, on one machine
or on several sharing a workdir (NFS and Lustre forward ``flock``; see docs/plan-execute.md)."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.core.errors import HarnessError

log = logging.getLogger(__name__)


@contextmanager
def file_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed); wait, saying so once, while another holds it.

    The holder's pid is written into the file, so the wait message can name it. A killed holder releases
    its lock with its last file descriptor: there are no stale locks to clean up.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise HarnessError(f"cannot create the lock file '{path}' for {what}: {exc.strerror}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            log.warning("waiting for %s: held by pid %s (%s)", what, holder, path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # for the wait message of the next process; nothing depends on it (a full disk may refuse it)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)  # releases the lock


def record_training(job_dir: Path, what: str) -> None:
    """Append who trained a job, and when, to its ``history.jsonl``: one line per training, however many
    processes or machines share the job (its lock makes them take turns)."""
    job_dir.mkdir(parents=True, exist_ok=True)
    line = {"pid": os.getpid(), "host": platform.node(), "finished_at": time.time(), "what": what}
    with (job_dir / "history.jsonl").open("a") as f:
        f.write(json.dumps(line) + "\n")

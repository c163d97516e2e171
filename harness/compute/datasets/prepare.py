"""Prepare a dataset once: read, hash and decode every listed image, then write its manifest.

The manifest is a Parquet file (path, label, class_name, split, size, sha256) in
``<workdir>/manifests/`` (the ManifestFolder that ``resolve_dataset`` hands the dataset), named
by the sha256 of the canonical dataset id, with a JSON sidecar: digest, statistics, corrupt images, notes
and the split protocol. The data root is only ever read.

Streaming and resumable:

- entries are enumerated lazily, twice: a first pass counts them and checks that every listed file exists,
  so a broken layout fails in seconds, not after hours of hashing;
- files are read, hashed (sha256) and decoded in a process pool, with a bounded window of chunks in flight;
- results are appended in listing order, chunk by chunk, to a journal (JSON lines) beside the manifest.
  A killed prepare resumes after the journal's last complete row, once it has checked that those rows are
  the first entries of the current listing (otherwise it starts over);
- harness.compute.datasets.finalise turns the journal into the Parquet and its sidecar, with DuckDB.

Memory stays flat in the number of images (see harness.compute.datasets.finalise for the one exception).
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import shlex
import tempfile
import time
from collections import Counter, deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb

from harness.compute.datasets.base import Item, Manifest
from harness.compute.datasets.files import Entry, FileDataset, Notes
from harness.compute.datasets.finalise import MISSING, finalise
from harness.compute.datasets.images import inspect_image
from harness.core.errors import HarnessError
from harness.core.io import atomic_write
from harness.core.procs import worker_guard
from harness.storage.workdir import Workdir

log = logging.getLogger(__name__)

#: bump when the manifest, sidecar or journal format changes: older prepared manifests are then rebuilt
FORMAT = 1
CHUNK = 64  # files per task sent to a worker
WINDOW = 4  # chunks in flight per worker
LARGE = 20_000  # building a manifest this large in memory is worth a hint to prepare it
#: sidecar key of a manifest kept by a run (not by ``prepare``): the digest of its images' stats (``image_stats``)
KEPT_BY_RUN = "kept_by_run_image_stats"

Result = tuple[int, str, str, str]  # size, sha256, original mode, error ("" when the image is fine)


class Reporter(Protocol):
    def start(self, total: int, resumed: int) -> None: ...

    def advance(self, count: int) -> None: ...


class Quiet:
    def start(self, total: int, resumed: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


class PrepareBusy(HarnessError):
    """Another prepare of the same dataset holds its lock."""


class ManifestUnwritable(HarnessError):
    """The manifests folder refused a write (a full disk, a read-only folder)."""


@dataclass(frozen=True)
class ManifestFolder:
    """The prepared manifests of one workdir (harness.compute.datasets.files.ManifestStore): a valid one is read,
    otherwise the run prepares it (once: later runs read it; see ``build_and_keep``)."""

    folder: Path

    def load(self, dataset: FileDataset) -> tuple[Manifest, dict[str, Any]]:
        report, stale = check_prepared(dataset)
        if report is not None:
            try:
                return read_manifest(Path(report["manifest"]), dataset.id, report["excluded"]), report
            except duckdb.Error as exc:  # passed the cheap check yet unreadable: treated as not prepared
                stale = f"the manifest '{report['manifest']}' is unreadable: {str(exc).splitlines()[0]}"
        return build_and_keep(dataset, stale)

    def report(self, dataset: FileDataset) -> dict[str, Any] | None:
        return check_prepared(dataset)[0]


def manifests_dir(workdir: Path) -> Path:
    """Where the prepared manifests of a workdir live (the workdir owns everything the harness writes)."""
    return Workdir(workdir.absolute()).manifests


@dataclass(frozen=True)
class Paths:
    parquet: Path
    sidecar: Path
    journal: Path
    journal_meta: Path
    lock: Path

    @classmethod
    def of(cls, folder: Path, dataset_id: str) -> Paths:
        stem = folder / hashlib.sha256(dataset_id.encode()).hexdigest()
        suffixes = (".parquet", ".json", ".journal.jsonl", ".journal.json", ".lock")
        return cls(*(Path(f"{stem}{suffix}") for suffix in suffixes))


@dataclass(frozen=True)
class Prepared:
    report: dict[str, Any]
    hashed: int  # files read and decoded by this run
    resumed: int  # files taken from an interrupted run's journal
    seconds: float
    reused: bool  # a valid prepared manifest existed; nothing was read


def prepare(
    dataset: FileDataset, workers: int, force: bool = False, reporter: Reporter | None = None, explain: bool = True
) -> Prepared:
    """Prepare ``dataset`` into the manifests folder, resuming an interrupted run; see the module doc.

    With ``workers`` > 0, files are read in worker processes started by forkserver (or spawn): a script that
    calls this needs the usual ``if __name__ == "__main__":`` guard. ``explain``: log why a stale prepared
    manifest is prepared again (off where the caller has said so).
    """
    started = time.perf_counter()
    folder = dataset.manifests.absolute()
    folder.mkdir(parents=True, exist_ok=True)
    paths = Paths.of(folder, dataset.id)
    with _lock(paths.lock, dataset.id):
        if force:
            for path in (paths.parquet, paths.sidecar, paths.journal, paths.journal_meta):
                path.unlink(missing_ok=True)
        else:
            valid, stale = check_prepared(dataset)
            if valid is not None:
                return Prepared(valid, 0, 0, time.perf_counter() - started, reused=True)
            if stale and explain:
                log.warning("the prepared manifest of '%s' is not usable (%s): preparing it again", dataset.id, stale)
        try:
            report, hashed, resumed = build(dataset, paths, workers, reporter or Quiet())
        except (OSError, duckdb.Error) as exc:  # a full disk, most likely; the journal written so far stays
            if not _disk_error(exc):  # e.g. an unreadable folder of the dataset: not ours to word as a write
                raise
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
            raise ManifestUnwritable(
                f"cannot write the manifest of '{dataset.id}' in '{folder}': {why}; free some space and run prepare "
                "again: it resumes"
            ) from exc
        except BrokenProcessPool as exc:
            raise HarnessError(
                f"a worker process died while reading the images of '{dataset.id}' (out of memory, or a decoder "
                "crash): run prepare again to resume, with --workers 0 to see which file"
            ) from exc
    return Prepared({**report, "manifest": str(paths.parquet)}, hashed, resumed, time.perf_counter() - started, False)


def _disk_error(exc: OSError | duckdb.Error) -> bool:
    """A write the file system refused for want of space (or being read-only); DuckDB's can surface as a
    failed commit."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)
    return isinstance(exc, duckdb.IOException) or "No space left on device" in str(exc)


def check_prepared(dataset: FileDataset) -> tuple[dict[str, Any] | None, str]:
    """(sidecar, "") of a valid prepared manifest; (None, why) for a stale one; (None, "") where there is none.

    Valid is the cheap check: same id, root and format, and the same size and mtime of every annotation file,
    and a Parquet that starts and ends as one does (a power cut can leave a zero-byte or torn file).
    """
    paths = Paths.of(dataset.manifests.absolute(), dataset.id)
    if not (paths.sidecar.is_file() and paths.parquet.is_file()):
        return None, ""
    try:
        report = json.loads(paths.sidecar.read_text())
        if not isinstance(report, dict):
            raise ValueError("not a JSON object")
        if not _looks_like_parquet(paths.parquet):
            stale = f"the manifest '{paths.parquet}' is empty or torn"
        elif report.get("format") != FORMAT:
            stale = f"format {report.get('format')}, now {FORMAT}"
        elif report.get("dataset") != dataset.id or report.get("root") != dataset.root:
            stale = "written for another dataset id or root"
        elif report.get("fingerprint") != dataset.fingerprint():
            stale = "an annotation file or folder changed since"
        elif report.get(KEPT_BY_RUN) is not None and report[KEPT_BY_RUN] != image_stats(dataset):
            stale = "an image file changed since the run that built it"
        else:
            return {**report, "manifest": str(paths.parquet)}, ""
    except (OSError, ValueError, HarnessError) as exc:
        stale = f"the sidecar '{paths.sidecar}' is unreadable: {exc}"
    return None, stale


def _looks_like_parquet(path: Path) -> bool:
    """The Parquet magic ``PAR1`` at both ends: 8 bytes read, not the file."""
    try:
        with path.open("rb") as file:
            head = file.read(4)
            file.seek(-4, os.SEEK_END)
            return head == b"PAR1" and file.read(4) == b"PAR1"
    except OSError:  # shorter than 4 bytes (the seek fails) or unreadable
        return False


def build_and_keep(dataset: FileDataset, stale: str = "") -> tuple[Manifest, dict[str, Any]]:
    """A run on a dataset not (or no longer) prepared: prepare it here, in this process, and keep the manifest
    where ``ecombench datasets prepare`` would, so that later runs read it instead of building it again. Said
    once, with how to prepare ahead. Where it cannot be kept (another prepare holds its lock, the folder is
    read-only or full) it is built in memory for this run only."""
    try:  # said once it is done: a dataset that cannot be read fails with its own message alone
        prepared = prepare(dataset, workers=0, explain=False)
        report = prepared.report
        if not prepared.reused:  # another process may have prepared it meanwhile: then it is theirs
            report = _mark_kept(dataset, report)
    except (PrepareBusy, ManifestUnwritable, OSError) as exc:  # OSError: e.g. a read-only workdir
        log.warning("cannot keep the manifest of '%s' (%s): building it in memory for this run", dataset.id, exc)
        return build_in_memory(dataset)
    how = f"`ecombench datasets prepare {shlex.quote(dataset.id)}` does this ahead of time, in parallel"
    if stale:
        log.warning("the prepared manifest of '%s' was not usable (%s): prepared it again in this process; %s",
                    dataset.id, stale, how)  # fmt: skip
    else:
        log.warning("'%s' was not prepared: prepared its manifest in this process and kept it (later runs read "
                    "it); %s", dataset.id, how)  # fmt: skip
    _say_left_out(dataset, report)
    return read_manifest(Path(report["manifest"]), dataset.id, report["excluded"]), report


def image_stats(dataset: FileDataset) -> str:
    """A digest of every listed image's (key, size, mtime): one stat per image, no read. A manifest a run kept
    is checked with it too, so that an image edited in place (which changes no annotation file or folder)
    builds it again, as the run would have without keeping it; ``prepare``'s own manifests skip this check
    (an edited image needs ``prepare --force``: docs/datasets.md)."""
    digest, base = hashlib.sha256(), str(dataset.base())
    for entry in dataset.entries(Counter()):
        try:
            stat = os.stat(os.path.join(base, entry.key))
            digest.update(f"{entry.key}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{entry.key}\0-\n".encode())
    return digest.hexdigest()


def _mark_kept(dataset: FileDataset, report: dict[str, Any]) -> dict[str, Any]:
    """Record in the sidecar that a run kept this manifest, with the images' stats it was built from."""
    sidecar = Paths.of(dataset.manifests.absolute(), dataset.id).sidecar
    marked = {**json.loads(sidecar.read_text()), KEPT_BY_RUN: image_stats(dataset)}
    atomic_write(sidecar, json.dumps(marked, indent=1).encode())
    return {**report, KEPT_BY_RUN: marked[KEPT_BY_RUN]}


def build_in_memory(dataset: FileDataset) -> tuple[Manifest, dict[str, Any]]:
    """The same pipeline, in this process, in a temporary folder: for a run that cannot keep the manifest."""
    with tempfile.TemporaryDirectory(prefix="ecombench-manifest-") as tmp:
        paths = Paths.of(Path(tmp), dataset.id)
        report, _, _ = build(dataset, paths, workers=0, reporter=Quiet())
        manifest = read_manifest(paths.parquet, dataset.id, report["excluded"])
    _say_left_out(dataset, report)
    return manifest, {**report, "manifest": None}


def _say_left_out(dataset: FileDataset, report: dict[str, Any]) -> None:
    """prepare lists the images it left out; a run that builds the manifest itself must say so too."""
    left_out = [f"{key} ({error})" for key, error in report.get("corrupt", [])] + list(report.get("missing", []))
    if left_out:
        log.warning(
            "%d listed images of '%s' are excluded (corrupt or missing): %s%s",
            len(left_out), dataset.id, "; ".join(left_out[:5]), " ..." if len(left_out) > 5 else "",
        )  # fmt: skip


def read_manifest(path: Path, dataset_id: str, excluded: int) -> Manifest:
    con = duckdb.connect()
    try:
        rows = con.execute("SELECT path, label, class_name, split, sha256 FROM read_parquet(?)", [str(path)])
        return Manifest(dataset_id, tuple(Item(*row) for row in rows.fetchall()), excluded)
    finally:
        con.close()


def build(dataset: FileDataset, paths: Paths, workers: int, reporter: Reporter) -> tuple[dict[str, Any], int, int]:
    """Journal every listed file (resuming a journal that matches), then write the Parquet and sidecar.

    Returns (sidecar, files hashed by this call, files resumed from the journal).
    """
    notes: Notes = Counter()
    total = _count(dataset, notes)
    if workers == 0 and total >= LARGE:
        log.warning(
            "building the manifest of %d images of '%s' in this process: `ecombench datasets prepare` does it "
            "once, in parallel",
            total,
            dataset.id,
        )
    meta = {"format": FORMAT, "dataset": dataset.id, "root": dataset.root, "fingerprint": dataset.fingerprint()}
    entries = dataset.entries(Counter())
    resumed = _resume(paths, meta, entries)
    if resumed is None:
        atomic_write(paths.journal_meta, json.dumps(meta).encode())
        paths.journal.write_bytes(b"")
        entries, resumed = dataset.entries(Counter()), 0
    reporter.start(total, resumed)
    hashed = _journal(dataset, entries, resumed, paths.journal, workers, reporter)
    paths.sidecar.unlink(missing_ok=True)  # a sidecar must never describe another Parquet than the one beside it
    report = finalise(dataset, paths.journal, paths.parquet, paths.sidecar, meta, notes, total)
    paths.journal.unlink()
    paths.journal_meta.unlink()
    return report, hashed, resumed


def _count(dataset: FileDataset, notes: Notes) -> int:
    """First pass: count the entries and check that every listed file exists."""
    base, total = str(dataset.base()), 0
    for entry in dataset.entries(notes):
        total += 1
        path = os.path.join(base, entry.key)
        if not os.path.isfile(path) and (os.path.exists(path) or not dataset.MISSING_OK):
            raise _missing(dataset, entry)
    if total == 0:
        raise HarnessError(f"dataset '{dataset.id}' lists no images")
    return total


def _missing(dataset: FileDataset, entry: Entry) -> HarnessError:
    path = dataset.base() / entry.key
    where = entry.src or f"dataset '{dataset.id}'"
    if path.exists():
        return HarnessError(f"{where}: image '{path}' is not a file")
    text = f"{where}: image '{path}' does not exist"
    if (source := dataset.SOURCE) is not None:
        text += f"; the download looks incomplete. {source.title} is published at {source.url}: {source.how}."
    return HarnessError(text)


def _resume(paths: Paths, meta: dict[str, Any], entries: Iterator[Entry]) -> int | None:
    """How many journal rows are the first entries of the listing (consuming them); None: start over."""
    try:
        if json.loads(paths.journal_meta.read_text()) != meta:
            return None
        journal = paths.journal.open("rb")
    except (OSError, ValueError):
        return None
    count = size = 0
    with journal:
        for line in journal:
            try:
                row = json.loads(line) if line.endswith(b"\n") else None
            except ValueError:
                row = None
            if row is None:  # the last line of a killed run may be torn
                break
            entry = next(entries, None)
            if entry is None or row["o"] != count or [row["k"], row["c"], row["n"], row["s"]] != list(entry[:4]):
                return None
            count, size = count + 1, size + len(line)
    os.truncate(paths.journal, size)
    return count


def _journal(
    dataset: FileDataset, entries: Iterator[Entry], start: int, journal: Path, workers: int, reporter: Reporter
) -> int:
    """Read, hash and decode the remaining entries, appending one row per file; returns how many."""
    done = 0
    with journal.open("a", encoding="utf-8") as out, closing(_inspect(dataset, entries, workers)) as results:
        for chunk, inspected in results:
            lines: list[str] = []
            for entry, (size, sha256, mode, error) in zip(chunk, inspected, strict=True):
                if error == MISSING and not dataset.MISSING_OK:
                    raise _missing(dataset, entry)  # deleted since the first pass
                row = {"o": start + done + len(lines), "k": entry.key, "c": entry.class_name, "n": entry.class_num}
                row |= {"s": entry.split, "r": entry.src, "z": size, "h": sha256, "m": mode, "e": error}
                lines.append(json.dumps(row) + "\n")
            out.write("".join(lines))
            out.flush()
            done += len(chunk)
            reporter.advance(len(chunk))
    return done


def _inspect(
    dataset: FileDataset, entries: Iterator[Entry], workers: int
) -> Generator[tuple[list[Entry], list[Result]], None, None]:
    """(chunk, results) in listing order; with workers, at most workers x WINDOW chunks are in flight."""
    base = str(dataset.base())
    chunks = iter(lambda: list(itertools.islice(entries, CHUNK)), [])
    if workers == 0:
        for chunk in chunks:
            yield chunk, inspect_files(base, [entry.key for entry in chunk])
        return
    # forkserver: forking a process that runs threads (rich's progress bar, torch) can deadlock
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    # the workers end with this process even when it is SIGKILLed (harness.core.procs)
    context, guard = multiprocessing.get_context(method), (os.getpid(),)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=worker_guard, initargs=guard)
    pending: deque[tuple[list[Entry], Future[list[Result]]]] = deque()
    try:
        for chunk in chunks:
            pending.append((chunk, pool.submit(inspect_files, base, [entry.key for entry in chunk])))
            if len(pending) >= workers * WINDOW:
                first, future = pending.popleft()
                yield first, future.result()
        while pending:
            first, future = pending.popleft()
            yield first, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def inspect_files(base: str, keys: list[str]) -> list[Result]:
    """Runs in a worker: read each file once, hash its bytes and check that they decode to RGB."""
    results: list[Result] = []
    for key in keys:
        path = os.path.join(base, key)
        try:
            with open(path, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            results.append((0, "", "", MISSING))
            continue
        except OSError as exc:
            results.append((0, "", "", f"cannot read image '{path}': {exc.strerror or exc}"))
            continue
        mode, error = inspect_image(data, path)
        results.append((len(data), hashlib.sha256(data).hexdigest(), mode, error))
    return results


@contextmanager
def _lock(path: Path, dataset_id: str) -> Iterator[None]:
    """One prepare per dataset at a time: two would append to the same journal."""
    try:
        import fcntl
    except ImportError:  # not on Windows; there, do not run two prepares of one dataset at once
        yield
        return
    with path.open("w") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise PrepareBusy(
                f"another `ecombench datasets prepare` of '{dataset_id}' (or a run preparing it) is running"
            ) from exc
        yield  # the lock file stays: removing it would let a waiting and a new prepare both lock

"""The sub-job store: a job's folder, done marker, lock, history and --force staleness, named in one place."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.storage.subjobs import DONE_MARKERS, SubJobFiles, done_marker, finished
from harness.storage.workdir import Workdir
from support import REPO


def test_the_on_disk_names_stay_those_of_older_workdirs(tmp_path: Path) -> None:
    fine = SubJobFiles.of(tmp_path, "finetune", "abc")
    top = SubJobFiles.of(Workdir(tmp_path), "toptune", "def")
    assert fine.folder == tmp_path / "finetune" / "abc" and fine.marker == fine.folder / "final.safetensors"
    assert top.folder == tmp_path / "toptune" / "def" and top.marker == top.folder / "head.json"
    assert (fine.lock, top.lock) == (tmp_path / "locks" / "finetune-abc.lock", tmp_path / "locks" / "toptune-def.lock")
    assert SubJobFiles.at(fine.folder) == fine


def test_an_unknown_kind_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"unknown sub-job kind 'distil': known kinds are finetune, toptune"):
        SubJobFiles.of(tmp_path, "distil", "abc")
    with pytest.raises(HarnessError, match=r"unknown sub-job kind 'job'"):
        SubJobFiles.at(tmp_path / "job" / "abc")
    with pytest.raises(HarnessError, match=r"unknown sub-job kind 'x'"):
        done_marker(tmp_path, "x")


def test_done_stale_and_finished_follow_the_marker(tmp_path: Path) -> None:
    job = SubJobFiles.of(tmp_path, "toptune", "k1")
    other = SubJobFiles.of(tmp_path, "toptune", "k2")
    other.folder.mkdir(parents=True)  # started, not finished: no marker
    assert not job.done() and not job.stale(time.time())  # nothing to retrain yet
    job.folder.mkdir(parents=True)
    job.marker.write_text("{}")
    finished_at = time.time() - 100
    os.utime(job.marker, (finished_at, finished_at))
    assert job.done()
    assert job.stale(finished_at + 1)  # --force given after it finished: trained again
    assert not job.stale(finished_at - 1)  # finished during this forced grid: kept
    assert not job.stale(None)  # no --force
    assert list(finished(tmp_path, "toptune")) == [job]
    assert list(finished(tmp_path, "finetune")) == []


def test_each_training_is_appended_to_the_history(tmp_path: Path) -> None:
    job = SubJobFiles.of(tmp_path, "finetune", "k")
    job.record_training("first")
    job.record_training("second")
    lines = [json.loads(line) for line in (job.folder / "history.jsonl").read_text().splitlines()]
    assert [line["what"] for line in lines] == ["first", "second"]


def test_the_lock_is_the_job_s(tmp_path: Path) -> None:
    job = SubJobFiles.of(tmp_path, "finetune", "k")
    with job.locked("test"):
        assert job.lock.exists()


def test_no_other_module_spells_a_done_marker_or_a_job_folder() -> None:
    spelled = re.compile("|".join(re.escape(name) for name in DONE_MARKERS.values()) + r"|JOB_DONE")
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "harness").rglob("*.py"))
        if path.name != "subjobs.py" and spelled.search(path.read_text())
    ]
    assert offenders == []

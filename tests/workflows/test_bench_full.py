"""``ecombench bench-full suites/paper-mini.toml``: the paper's study end to end on tiny random-init models
and tiny replicas of the six datasets, through the same code path as the full study: the dry run's
estimate, every expected cell landed, every report table has content, and a kill -9 in the middle followed
by the same command completes with no duplicate and no recomputed cell."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from support import run_cli

from harness.compute.datasets.replicas import USUAL

ROOT = Path(__file__).resolve().parents[2]
MINI = str(ROOT / "suites" / "paper-mini.toml")
ENV = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
#: ok lines of the first run after which it is killed: inside the last stage (the fine-tunes)
KILL_AFTER = 50


def bench(tmp: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", "bench-full", MINI, "--make-replicas", str(tmp / "data"),
            "--db", str(tmp / "mini.duckdb"), "--workdir", str(tmp / "work"), "--out", str(tmp / "reports"),
            "--workers", "0", *extra]  # fmt: skip


def statuses(lines: list[str]) -> dict[str, int]:
    found = [m.group(1) for line in lines if (m := re.match(r"\[\d+/\d+\] (\w+) ", line))]
    return {s: found.count(s) for s in ("ok", "cached", "error")}


@pytest.mark.slow
def test_the_mini_study_runs_resumes_after_kill_9_and_reports_every_table(tmp_path: Path) -> None:
    dry = subprocess.run(bench(tmp_path, "--dry-run"), cwd=tmp_path, capture_output=True, text=True, env=ENV)
    assert dry.returncode == 0, dry.stderr
    assert re.search(r"estimate for cpu: [\d.,]+ device-hours", dry.stdout), dry.stdout
    assert "on 4 devices" in dry.stdout and "GB of embeddings" in dry.stdout
    assert "not found" not in dry.stdout and "missing" not in dry.stdout  # replicas and random init: all there
    assert "pixels:4 cannot be fine-tuned" in dry.stdout  # the family that cannot fine-tune is skipped, listed
    assert all((tmp_path / "data" / name).is_dir() for name in USUAL)
    expected = run_cli("plan", MINI, "--json", "--data-root", str(tmp_path / "data"), "--workdir",
                       str(tmp_path / "work"), cwd=tmp_path, env=ENV)  # fmt: skip
    keys = {json.loads(line)["key"] for line in expected.stdout.splitlines()}
    assert len(keys) == 84, expected.stderr

    first = subprocess.Popen(bench(tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, env=ENV, start_new_session=True)  # fmt: skip
    assert first.stderr is not None
    before: list[str] = []
    for line in first.stderr:
        before.append(line)
        if statuses(before)["ok"] >= KILL_AFTER:
            os.killpg(first.pid, signal.SIGKILL)  # the driver and anything it started
            break
    first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL, "".join(before[-5:])
    done_before = statuses(before)["ok"]

    second = subprocess.run(bench(tmp_path), cwd=tmp_path, capture_output=True, text=True, env=ENV)
    assert second.returncode == 0, second.stderr[-3000:]
    after = statuses(second.stderr.splitlines())  # a line per computed cell (stderr is not a terminal)
    summary = re.search(r"(\d+) ok, (\d+) cached, (\d+) error of (\d+) cells", second.stdout)
    assert summary is not None, second.stdout[-2000:]
    ok, cached, errors, cells = map(int, summary.groups())
    assert (errors, cells, ok + cached) == (0, len(keys), len(keys))  # every cell, once
    assert after == {"ok": ok, "cached": 0, "error": 0}
    assert cached >= done_before  # nothing that finished before the kill was computed again
    assert 0 < ok <= len(keys) - done_before

    con = duckdb.connect(str(tmp_path / "mini.duckdb"), read_only=True)
    try:
        rows, distinct = con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchone() or (0, 0)
        landed = {r[0] for r in con.execute("SELECT run_id FROM runs WHERE status = 'ok'").fetchall()}
    finally:
        con.close()
    assert rows == distinct == len(keys) and landed == keys

    report = (tmp_path / "reports" / "report.md").read_text()
    sections = dict(re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", report, flags=re.M | re.S))
    # rows: both models; the one that fine-tunes; its six fine-tunes, one per source dataset
    for strategy, rows in {"pretrained": 2, "toptuned": 2, "finetuned": 1, "crosstuned": 6}.items():
        table = sections[f"Paper table: {strategy}"]
        assert len([line for line in table.splitlines() if line.startswith("| ")]) == 1 + rows, strategy
        assert table.count("**") >= 2 * rows, strategy  # every row holds numbers (the best bold)
    assert " acc " in sections["Paper table: pretrained"]  # the classification suite's column
    heatmap = sections["Cross-tuning: mMP@5 minus pre-trained mMP@5"]
    assert len(re.findall(r"^\| \w+:.*[+-]\d\.\d{4}", heatmap, flags=re.M)) == 6  # one row per source dataset
    assert "by batch-1 latency" in sections["Pareto frontiers (quality versus cost)"]
    assert "Failures" not in sections
    assert (tmp_path / "reports" / "report.html").stat().st_size > 0

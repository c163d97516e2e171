"""``ecombench bench-full suites/paper-mini.toml``: the paper's study end to end on tiny random-init models
and tiny replicas of the six datasets, through the same code path as the full study: the dry run's
estimate, every expected cell landed, every report table has content, and a kill -9 in the middle followed
by the same command completes with no duplicate and no recomputed cell. And bench-full with grid's execution
options on a suite file of a few cells: static slices, --force, a Ray cluster."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from harness.compute.datasets.replicas import USUAL
from support import run_cli

ROOT = Path(__file__).resolve().parents[2]
MINI = str(ROOT / "suites" / "paper-mini.toml")
ENV = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
#: ok lines of the first run after which it is killed: inside the last stage (the fine-tunes)
KILL_AFTER = 50


def bench(tmp: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", "bench-full", MINI, "--make-replicas", str(tmp / "data"),
            "--db", str(tmp / "mini.duckdb"), "--workdir", str(tmp / "work"), "--out", str(tmp / "reports"),
            "--workers", "0", *extra]  # fmt: skip


#: four cheap cells (retrieval on the exact backend), no sub-job: each one its own group for --shard
FOUR_CELLS = """
[grid]
models = ["timm:test_vit[init=random]", "timm:test_convnext[init=random]"]
datasets = ["synthetic[classes=3,per_class=4,size=32]", "digits[per_class=4]"]
suites = ["retrieval"]

[params.retrieval]
backend = "exact"
"""
TWO_CELLS = FOUR_CELLS.replace(', "timm:test_convnext[init=random]"', "")


def small(tmp: Path, suite: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """bench-full on a small suite file in ``tmp`` (Markdown report only)."""
    (tmp / "small.toml").write_text(suite)
    return run_cli("bench-full", "small.toml", "--workers", "0", "--format", "md", *extra, cwd=tmp, env=ENV)


def summary(stdout: str) -> tuple[int, int, int, int]:
    """(ok, cached, error, cells) of bench-full's summary line."""
    found = re.search(r"(\d+) ok, (\d+) cached, (\d+) error of (\d+) cells", stdout)
    assert found is not None, stdout[-2000:]
    ok, cached, errors, cells = map(int, found.groups())
    return ok, cached, errors, cells


def shards(workdir: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in (workdir / "shards").glob("*.json")}


def test_a_dry_run_takes_grid_s_execution_options_and_a_slice_shows_only_its_cells(tmp_path: Path) -> None:
    ray = ("--executor", "ray", "--address", "auto", "--force")
    shown = {}
    for sliced in (None, "1/2", "2/2"):
        done = small(tmp_path, FOUR_CELLS, "--dry-run", *ray, *(("--shard", sliced) if sliced else ()))
        assert done.returncode == 0, done.stderr
        count = re.search(r"pending \((\d+) cells\)", done.stdout)
        assert count is not None, done.stdout
        keys = set(re.findall(r"^│ ([0-9a-f]{12}) │", done.stdout, flags=re.M))
        assert len(keys) == int(count[1]), done.stdout
        shown[sliced] = keys
    whole, first, second = shown[None], shown["1/2"], shown["2/2"]
    assert len(whole) == 4 and len(first) == len(second) == 2
    assert first.isdisjoint(second) and first | second == whole  # the two slices partition the study
    assert not (tmp_path / "results.duckdb").exists() and not (tmp_path / ".ecombench" / "shards").exists()


@pytest.mark.slow
def test_slices_write_shards_only_ingest_merges_them_and_force_recomputes(tmp_path: Path) -> None:
    cells = []
    for sliced in ("1/2", "2/2"):
        done = small(tmp_path, TWO_CELLS, "--shard", sliced)
        assert done.returncode == 0, done.stderr
        assert summary(done.stdout) == (1, 0, 0, 1)  # one cell of two: the slice's
        assert f"slice {sliced}: shards written to" in done.stdout
        assert not (tmp_path / "results.duckdb").exists()  # a slice leaves the database to the one ingest
        assert not (tmp_path / "reports").exists()
        cells.append(set(shards(tmp_path / ".ecombench")))
    assert len(cells[0]) == 1 and len(cells[1]) == 2 and cells[0] < cells[1]

    merged = run_cli("ingest", cwd=tmp_path, env=ENV)
    assert merged.returncode == 0 and "2 runs in results.duckdb" in merged.stdout, merged.stderr
    whole = small(tmp_path, TWO_CELLS)
    assert whole.returncode == 0, whole.stderr
    assert summary(whole.stdout) == (0, 2, 0, 2)  # every cell found done, none recomputed
    assert (tmp_path / "reports" / "bench-full" / "report.md").is_file()

    before = {key: shard["finished_at"] for key, shard in shards(tmp_path / ".ecombench").items()}
    forced = small(tmp_path, TWO_CELLS, "--force")
    assert forced.returncode == 0, forced.stderr
    assert summary(forced.stdout) == (2, 0, 0, 2)  # --force reached the run: both cells computed again
    after = {key: shard["finished_at"] for key, shard in shards(tmp_path / ".ecombench").items()}
    assert after.keys() == before.keys() and all(after[key] > before[key] for key in before)


@pytest.mark.slow
def test_the_study_runs_on_a_ray_cluster(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    done = small(tmp_path, TWO_CELLS, "--executor", "ray", "--shard", "1/2")  # a local cluster, one cell
    assert done.returncode == 0, done.stderr
    assert summary(done.stdout) == (1, 0, 0, 1)
    [shard] = shards(tmp_path / ".ecombench").values()
    assert shard["status"] == "ok" and shard["provenance"]["ray"]["node_id"]  # run as a Ray task


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

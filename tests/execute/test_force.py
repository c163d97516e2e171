"""A forced run recomputes what finished before it, wherever its cells run: the force time is part of the settings,
so it travels in the line a container (or any process) hands to ``ecombench execute``."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from harness.execute.containers.run import WORK, execute_line
from harness.execute.executors import ContainerExecutor
from harness.execute.runner import run_plan
from harness.execute.worker import shard_store
from harness.plan.grid import make_cells
from harness.plan.plan import Plan, make_plan
from harness.spec.settings import Execution, Settings
from support import run_cli

SUITE = """
[grid]
models = ["pixels:4"]
datasets = ["digits[per_class=4]"]
suites = ["retrieval"]

[params.retrieval]
backend = "exact"
"""


def _plan(workdir: Path) -> Plan:
    grid = make_cells(
        ["pixels:4"], ["digits[per_class=4]"], ["pretrained"], ["retrieval"], {"retrieval": {"backend": "exact"}}
    )
    return make_plan(grid.cells, "cpu", workdir, grid.skipped)


def test_the_line_a_container_executes_carries_the_force_time(tmp_path: Path) -> None:
    since = time.time()
    settings = Settings(tmp_path / "work", tmp_path / "r.duckdb", force_since=since)
    [planned] = _plan(tmp_path / "work").cells
    line = execute_line(planned.spec, settings, "http://sidecar:19530")
    inside = Settings.from_dict(line["settings"])
    assert line["settings"]["force"] == since and inside.force_since == since
    assert (inside.workdir, inside.milvus_uri, inside.ingest) == (Path(WORK), "http://sidecar:19530", False)
    assert line["key"] == planned.spec.key


def test_a_forced_container_grid_hands_its_finished_cells_to_the_container(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "work", tmp_path / "r.duckdb", ingest=False)
    plan = _plan(settings.workdir)
    [outcome] = run_plan(plan, settings)  # computed natively: now a finished cell
    assert outcome.status == "ok"
    [spec] = [p.spec for p in plan.cells]
    container = Execution(container=True)
    unforced = ContainerExecutor(dataclasses.replace(settings, execution=container))
    assert unforced.worker.finished(spec) == shard_store(settings).get(spec.key)  # reused: no container runs
    forced = ContainerExecutor(dataclasses.replace(settings, execution=container, force_since=time.time()))
    assert forced.worker.finished(spec) is None  # recomputed: it goes to a container


def test_execute_of_a_forced_line_recomputes_a_finished_cell(tmp_path: Path) -> None:
    (tmp_path / "grid.toml").write_text(SUITE)
    assert run_cli("grid", "grid.toml", cwd=tmp_path).returncode == 0
    planned = run_cli("plan", "grid.toml", "--json", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    [line] = planned.stdout.splitlines()
    key = json.loads(line)["key"]
    shard = tmp_path / ".ecombench" / "shards" / f"{key}.json"
    first = json.loads(shard.read_text())["finished_at"]

    (tmp_path / "again.jsonl").write_text(line)
    again = run_cli("execute", "again.jsonl", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split()[0] == "cached" and json.loads(shard.read_text())["finished_at"] == first

    data = json.loads(line)
    data["settings"]["force"] = time.time()
    (tmp_path / "forced.jsonl").write_text(json.dumps(data))
    forced = run_cli("execute", "forced.jsonl", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.split()[0] == "ok"
    assert json.loads(shard.read_text())["finished_at"] > first  # computed once more

"""Plan / execute / ingest: cell identity without loading anything, executors, sub-jobs and their locks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest

from harness.core.errors import HarnessError
from harness.plan.identity import Identities, plan_cell
from harness.spec.cells import Cell, CellSpec
from support import REPO, run_cli
from support.grids import CHEAP, SHARED_JOB, counts, quality


def test_a_cell_planned_for_another_device_is_another_cell() -> None:
    cell = Cell("pixels:4", "digits", "pretrained", "retrieval", {"backend": "exact", "split": "test"})
    cpu, cuda = plan_cell(cell, Identities("cpu")), plan_cell(cell, Identities("cuda:1"))
    assert cpu.key != cuda.key and cuda.context == {"device": "cuda"}
    assert plan_cell(cell, Identities("cuda:0")).key == cuda.key  # which GPU of a kind does not matter
    cost = Cell("pixels:4", "digits", "pretrained", "cost", {})
    assert plan_cell(cost, Identities("cpu")).context["hardware"]  # the CPU model: latencies are per machine
    with pytest.raises(HarnessError, match="no CUDA device"):
        plan_cell(cost, Identities("cuda"))
    spec = plan_cell(cell, Identities("cpu"))
    assert CellSpec.from_json(spec.to_json()) == spec
    with pytest.raises(HarnessError, match="not a cell spec"):
        CellSpec.from_json('{"format": 99}')


def test_static_slices_partition_the_plan_and_keep_a_sub_job_with_its_consumers(tmp_path: Path) -> None:
    from harness.plan.grid import make_cells
    from harness.plan.plan import make_plan

    grid = make_cells(
        ["pixels:4", "pixels:8", "timm:test_resnet[init=random]"],
        ["digits[per_class=6]", "synthetic[classes=3,per_class=6,size=16]"],
        ["pretrained", "toptuned", "crosstuned"], ["retrieval", "classification"], pair_datasets=True,
    )  # fmt: skip
    plan = make_plan(grid.cells, "cpu", tmp_path)
    slices = [plan.shard(i, 3) for i in (1, 2, 3)]
    keys = [{p.spec.key for p in part.cells} for part in slices]
    assert set().union(*keys) == {p.spec.key for p in plan.cells}
    assert sum(map(len, keys)) == len(plan.cells)  # disjoint
    assert max(map(len, keys)) - min(map(len, keys)) <= 3  # balanced (groups of cells sharing a job move whole)
    for job_key, (_, consumers) in plan.jobs().items():
        owners = {i for i, part in enumerate(keys) if any(p.spec.key in part for p in consumers)}
        assert len(owners) == 1, job_key  # trained in one slice only
    assert [p.spec.key for p in plan.shard(2, 3).cells] == [p.spec.key for p in slices[1].cells]  # deterministic
    with pytest.raises(HarnessError, match="expected I/N"):
        plan.shard(4, 3)


def test_seeds_repeat_the_cells_that_train_and_only_those(tmp_path: Path) -> None:
    from harness.plan.grid import load_grid

    (tmp_path / "grid.toml").write_text(SHARED_JOB.replace("suites = [", "seeds = [0, 1, 1]\nsuites = ["))
    cells = load_grid(tmp_path / "grid.toml").cells
    seeds = sorted((c.suite, c.strategy, c.params.get("seed")) for c in cells)
    assert seeds == [
        ("classification", "pretrained", 0), ("classification", "pretrained", 1),
        ("retrieval", "pretrained", None), ("retrieval", "toptuned", 0), ("retrieval", "toptuned", 1),
    ]  # fmt: skip
    (tmp_path / "bad.toml").write_text(SHARED_JOB.replace("suites = [", 'seeds = ["0"]\nsuites = ['))
    with pytest.raises(HarnessError, match=r"grid\.seeds must be a list of integers"):
        load_grid(tmp_path / "bad.toml")


def test_sub_jobs_are_shared_by_the_cells_that_consume_them(tmp_path: Path) -> None:
    (tmp_path / "grid.toml").write_text(SHARED_JOB)
    plan = run_cli("plan", "grid.toml", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    # retrieval/toptuned and classification/pretrained train one head on the same embeddings: one search
    assert "3 cells" in plan.stdout and "2 cells:" in plan.stdout
    lines = run_cli("plan", "grid.toml", "--json", cwd=tmp_path).stdout.splitlines()
    specs = [json.loads(line) for line in lines]
    heads = {job["key"] for s in specs for job in s["subjobs"] if job["kind"] == "toptune"}
    assert len(specs) == 3 and len(heads) == 1


@pytest.mark.slow
def test_plan_execute_ingest_equals_grid_and_jobs_2_equals_jobs_1(tmp_path: Path) -> None:
    (tmp_path / "grid.toml").write_text(CHEAP)
    serial = run_cli("grid", "grid.toml", "--db", "serial.duckdb", "--workdir", "serial", cwd=tmp_path)
    assert serial.returncode == 0, serial.stderr
    pool = run_cli("grid", "grid.toml", "--db", "pool.duckdb", "--workdir", "pool", "--jobs", "2", cwd=tmp_path)
    assert pool.returncode == 0, pool.stderr

    planned = run_cli("plan", "grid.toml", "--json", "--workdir", "seam", "--db", "seam.duckdb", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    lines = planned.stdout.splitlines()
    assert len(lines) == 4
    for line in lines:  # each spec in its own process, as an external scheduler would run them
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli", "execute", "-"], input=line, cwd=tmp_path, capture_output=True,
            text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert not (tmp_path / "seam.duckdb").exists()  # execute never opens the database
    ingested = run_cli("ingest", "--db", "seam.duckdb", "--workdir", "seam", cwd=tmp_path)
    assert ingested.returncode == 0 and "4 runs ingested" in ingested.stdout, ingested.stderr
    again = run_cli("ingest", "--db", "seam.duckdb", "--shards", "seam/shards", cwd=tmp_path)
    assert again.returncode == 0, again.stderr

    for i in (1, 2, 3):  # static slices, as a job array would run them: shards only, then one ingest
        sliced = run_cli("grid", "grid.toml", "--workdir", "sliced", "--shard", f"{i}/3", cwd=tmp_path)
        assert sliced.returncode == 0, sliced.stderr
    assert not (tmp_path / "results.duckdb").exists()
    assert run_cli("ingest", "--workdir", "sliced", "--db", "sliced.duckdb", cwd=tmp_path).returncode == 0

    reference = quality(tmp_path / "serial.duckdb")
    assert quality(tmp_path / "sliced.duckdb") == reference
    assert len(reference) > 4 * 5
    assert quality(tmp_path / "pool.duckdb") == reference  # bit for bit: same floats
    assert quality(tmp_path / "seam.duckdb") == reference
    assert counts(tmp_path / "seam.duckdb") == (4, 4)  # ingesting twice doubled nothing
    after = run_cli("plan", "grid.toml", "--workdir", "seam", cwd=tmp_path)
    assert "4 done" in after.stdout, after.stdout


@pytest.mark.slow
def test_a_finished_grid_loads_no_model_and_a_changed_weight_file_makes_its_cells_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import timm
    from safetensors.torch import save_file

    import harness.compute.models
    from harness.execute.runner import run_plan
    from harness.plan.grid import load_grid
    from harness.plan.plan import make_plan
    from harness.spec.settings import Settings

    weights = tmp_path / "tuned.safetensors"
    save_file(timm.create_model("test_resnet", num_classes=0).state_dict(), str(weights))
    (tmp_path / "grid.toml").write_text(
        CHEAP.replace('"timm:test_resnet[init=random]"', f'"checkpoint:test_resnet@{weights}"')
    )
    settings = Settings(workdir=tmp_path / "work", db=tmp_path / "r.duckdb")
    grid = load_grid(tmp_path / "grid.toml")
    first = run_plan(make_plan(grid.cells, "cpu", settings.workdir), settings)
    assert [o.status for o in first] == ["ok"] * 4

    def no_loading(model_id: str) -> None:
        raise AssertionError(f"a finished grid loaded {model_id}")

    monkeypatch.setattr(harness.compute.models, "load_model", no_loading)
    again = run_plan(make_plan(grid.cells, "cpu", settings.workdir), settings)
    assert [o.status for o in again] == ["cached"] * 4
    assert counts(settings.db) == (4, 4)

    save_file(timm.create_model("test_resnet", num_classes=0).state_dict(), str(weights))  # new weights, same name
    replanned = make_plan(grid.cells, "cpu", settings.workdir)
    stale = {p.spec.cell.model: p.status for p in replanned.cells if p.status != "done"}
    assert stale == {f"checkpoint:test_resnet@{weights}": "stale"}
    assert sum(p.status == "stale" for p in replanned.cells) == 2  # its two datasets, nothing else


@pytest.mark.slow
def test_two_grids_at_once_compute_each_cell_and_job_once(tmp_path: Path) -> None:
    (tmp_path / "grid.toml").write_text(SHARED_JOB.replace('backend = "exact"', 'backend = "milvus"'))
    command = [sys.executable, "-m", "harness.cli", "grid", "grid.toml"]
    env = {"COLUMNS": "200"}
    processes = [
        subprocess.Popen(
            command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env}
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (_out, error) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, error
        assert "Traceback" not in error
    statuses = [line.split()[1] for out, error in outputs for line in error.splitlines() if line.startswith("[")]
    assert sorted(statuses).count("ok") == 3  # each of the 3 cells computed by one of the two
    assert counts(tmp_path / "results.duckdb") == (3, 3)
    [job] = (tmp_path / ".ecombench" / "toptune").glob("*/history.jsonl")
    assert len(job.read_text().splitlines()) == 1  # the shared search trained once


@pytest.mark.slow
def test_a_grid_mixing_suites_runs_what_applies_and_lists_what_it_skipped(tmp_path: Path) -> None:
    (tmp_path / "grid.toml").write_text(
        SHARED_JOB.replace('suites = ["retrieval", "classification"]', 'suites = ["retrieval", "cost"]').replace(
            '[params.classification]\npreset = "smoke"\n', ""
        )
        + "\n[params.cost]\nwarmup = 1\niterations = 2\nthroughput_iterations = 2\npipeline_images = 8\n"
        "pipeline_repeats = 1\nmax_batch_cpu = 2\n"
    )
    plan = run_cli("plan", "grid.toml", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert "skipped: suite cost x strategy toptuned: suite 'cost' accepts only pretrained" in plan.stdout
    grid = run_cli("grid", "grid.toml", cwd=tmp_path)
    assert grid.returncode == 0, grid.stderr
    with duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True) as con:
        cells = con.execute("SELECT suite, strategy FROM runs WHERE status = 'ok' ORDER BY ALL").fetchall()
    assert cells == [("cost", "pretrained"), ("retrieval", "pretrained"), ("retrieval", "toptuned")]


@pytest.mark.slow
def test_the_installed_wheel_runs_a_grid_outside_the_repository(tmp_path: Path) -> None:
    built = subprocess.run(
        ["uv", "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(REPO)], capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("ecombench-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # a pure-Python wheel installs by unpacking
    assert (site / "harness" / "presets" / "toptune.toml").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "grid.toml").write_text(SHARED_JOB)
    env = {"PYTHONPATH": str(site)}
    probe = subprocess.run(
        [sys.executable, "-c", "import harness; print(harness.__file__)"], cwd=elsewhere, capture_output=True,
        text=True, env={**os.environ, **env},
    )  # fmt: skip
    assert probe.stdout.startswith(str(site)), probe.stdout  # the wheel's code, not the repository's
    grid = run_cli("grid", "grid.toml", cwd=elsewhere, env=env)
    assert grid.returncode == 0, grid.stderr
    assert counts(elsewhere / "results.duckdb") == (3, 3)


def test_a_failed_rerun_keeps_the_finished_result_beside_it(tmp_path: Path) -> None:
    args = ["run", "--model", "pixels:4", "--dataset", "synthetic[classes=3,per_class=6,size=16]"]
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = run_cli(*args, "--force", "--milvus-uri", "http://127.0.0.1:9", cwd=tmp_path)  # nothing listens there
    assert again.returncode == 1 and "127.0.0.1:9" in again.stderr
    with duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True) as con:
        [(run_id, status)] = con.execute("SELECT run_id, status FROM runs").fetchall()
        metrics = con.execute("SELECT count(*) FROM results").fetchone()[0]  # type: ignore[index]
    shards = tmp_path / ".ecombench" / "shards"
    assert status == "ok" and metrics > 0
    assert json.loads((shards / f"{run_id}.json").read_text())["status"] == "ok"
    assert json.loads((shards / f"{run_id}.error.json").read_text())["status"] == "error"


def test_a_reader_holding_the_database_costs_no_computed_cell(tmp_path: Path) -> None:
    import time

    args = ["run", "--model", "pixels:4", "--backend", "exact", "--dataset"]
    assert run_cli(*args, "digits[per_class=4]", cwd=tmp_path).returncode == 0  # the database exists
    reader = duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True)  # as in docs/results.md's snippet
    second = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args, "digits[per_class=5]"], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    shards = tmp_path / ".ecombench" / "shards"
    deadline = time.monotonic() + 300
    while len(list(shards.glob("*.json"))) < 2 and time.monotonic() < deadline:  # computed; now it wants to ingest
        time.sleep(0.1)
    time.sleep(2.0)
    reader.close()  # the reader finishes while the run waits for it
    _, error = second.communicate(timeout=300)
    assert second.returncode == 0, error
    assert "in use by another process; waiting" in error
    assert counts(tmp_path / "results.duckdb") == (2, 2)


def test_shards_from_another_process_are_validated_before_they_touch_a_path(tmp_path: Path) -> None:
    from harness.storage.shards import ShardStore
    from harness.storage.store import ingest_folder

    folder = tmp_path / "exchange"
    folder.mkdir()
    good = {
        "run_id": "0" * 32, "cell": {"model": "pixels:4", "dataset": "digits", "strategy": "pretrained",
                                     "suite": "retrieval", "params": {}},
        "status": "ok", "started_at": "2026-12-01T00:00:00+00:00", "finished_at": "2026-12-01T00:00:01+00:00",
        "metrics": {"mmp_at_5": 0.5},
    }  # fmt: skip
    (folder / f"{'0' * 32}.json").write_text(json.dumps(good))
    (folder / "x.json").write_text(json.dumps({**good, "run_id": "../../escaped"}))
    (folder / f"{'1' * 32}.json").write_text(json.dumps({**good, "run_id": "2" * 32}))  # name and content disagree
    (folder / f"{'3' * 32}.json").write_text(json.dumps({**good, "run_id": "3" * 32, "metrics": {"m": "nan"}}))
    (folder / f"{'4' * 32}.json").write_text("")  # a power cut's leftover
    assert [s.run_id for s in ShardStore(folder).all()] == ["0" * 32]
    assert ingest_folder(tmp_path / "r.duckdb", folder) == 1
    assert not (tmp_path / "escaped.json").exists()
    with pytest.raises(HarnessError, match="invalid run_id"):
        ShardStore(folder).path("../../x")

"""``ecombench prune``: what it selects, that it deletes from every table naming a run (and only with --yes)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from harness.core.errors import HarnessError
from harness.storage.prune import Selection, prune
from harness.storage.shards import Shard, ShardStore
from harness.storage.store import RUN_TABLES, connect, ingest, record_audit
from support import make_shard, run_cli

METRICS = {"mmp_at_5": 0.5, "recall_at_1": 0.6}


def counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in RUN_TABLES}  # type: ignore[index]
    finally:
        con.close()


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, dict[str, Shard]]:
    path = tmp_path / "r.duckdb"
    shards = {
        "a_digits": make_shard("timm:a", "digits", METRICS),
        "a_digits30": make_shard("timm:a", "digits[per_class=30]", METRICS),
        "b_synthetic": make_shard("timm:b", "synthetic", METRICS),
        "b_failed": make_shard("timm:b", "folder:/no/such/dir", {}, status="error"),
        "c_failed": make_shard("timm:c", "digits", {}, status="error"),
    }
    ingest(path, shards.values())
    con = connect(path)
    try:  # per-query values and an audit of timm:a on digits: the other two tables that name runs
        run = shards["a_digits"].run_id
        con.execute("INSERT INTO per_query SELECT ?, 'mmp_at_5', range, 0.5 FROM range(3)", [run])
    finally:
        con.close()
    record_audit(path, [("audit1", run, "mmp_at_5", 0.5, 0.5, 0.0, "identical", "cpu", None)], datetime.now(UTC))
    return path, shards


def test_dry_run_by_default_deletes_nothing(db: tuple[Path, dict[str, Shard]]) -> None:
    path, _ = db
    before = counts(path)
    result = prune(path, Selection(failed=True))
    assert not result.deleted
    assert sorted(r.model for r in result.runs) == ["timm:b", "timm:c"]
    assert result.rows == {"metrics": 0, "per_query": 0, "audits": 0, "runs": 2}
    assert counts(path) == before == {"metrics": 6, "per_query": 3, "audits": 1, "runs": 5}


def test_failed_runs_go_in_one_transaction_and_the_rest_stay(db: tuple[Path, dict[str, Shard]]) -> None:
    path, _ = db
    result = prune(path, Selection(failed=True), yes=True)
    assert result.deleted and len(result.runs) == 2
    assert counts(path) == {"metrics": 6, "per_query": 3, "audits": 1, "runs": 3}
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM runs WHERE status = 'error'").fetchone() == (0,)
    con.close()


def test_a_run_by_id_goes_from_every_table(db: tuple[Path, dict[str, Shard]]) -> None:
    path, shards = db
    result = prune(path, Selection(run_ids=(shards["a_digits"].run_id,)), yes=True)
    assert [r.dataset for r in result.runs] == ["digits"]
    assert result.rows == {"metrics": 2, "per_query": 3, "audits": 1, "runs": 1}
    assert counts(path) == {"metrics": 4, "per_query": 0, "audits": 0, "runs": 4}


def test_filters_combine_and_a_dataset_without_options_matches_with_options(
    db: tuple[Path, dict[str, Shard]],
) -> None:
    path, _ = db
    found = prune(path, Selection(dataset="digits")).runs
    assert sorted((r.model, r.dataset) for r in found) == [
        ("timm:a", "digits"), ("timm:a", "digits[per_class=30]"), ("timm:c", "digits"),
    ]  # fmt: skip
    assert [r.dataset for r in prune(path, Selection(dataset="digits[per_class=30]")).runs] == ["digits[per_class=30]"]
    assert [(r.model, r.status) for r in prune(path, Selection(failed=True, dataset="digits")).runs] == [
        ("timm:c", "error")
    ]
    assert {r.dataset for r in prune(path, Selection(model="timm:b")).runs} == {"synthetic", "folder:/no/such/dir"}


def test_unknown_run_id_and_empty_selection_are_errors(db: tuple[Path, dict[str, Shard]], tmp_path: Path) -> None:
    path, _ = db
    with pytest.raises(HarnessError, match="unknown run id 'deadbeef': no such run"):
        prune(path, Selection(run_ids=("deadbeef",)), yes=True)
    with pytest.raises(HarnessError, match="prune needs something to select"):
        prune(path, Selection())
    with pytest.raises(HarnessError, match="does not exist"):
        prune(tmp_path / "none.duckdb", Selection(failed=True))
    assert counts(path)["runs"] == 5


def test_cli_lists_then_deletes(db: tuple[Path, dict[str, Shard]], tmp_path: Path) -> None:
    path, _ = db
    dry = run_cli("prune", "--db", str(path), "--failed", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "2 runs selected" in dry.stdout and "dry run, nothing deleted" in dry.stdout and "--yes" in dry.stdout
    assert counts(path)["runs"] == 5
    done = run_cli("prune", "--db", str(path), "--failed", "--yes", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 runs deleted" in done.stdout and "runs 2" in done.stdout
    assert counts(path)["runs"] == 3
    bad = run_cli("prune", "--db", str(path), "--run-id", "nope", "--yes", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown run id 'nope'" in bad.stderr


def test_pruned_shards_move_aside_so_a_rerun_computes_instead_of_reading_them_back(
    db: tuple[Path, dict[str, Shard]], tmp_path: Path
) -> None:
    path, shards = db
    workdir = tmp_path / "work"
    store = ShardStore(workdir / "shards")
    for shard in shards.values():
        store.write(shard)
    gone = shards["a_digits"].run_id
    result = prune(path, Selection(run_ids=(gone,)), yes=True, workdir=workdir)
    assert result.moved == [workdir / "pruned" / f"{gone}.json"] and result.moved[0].is_file()
    assert store.get(gone) is None  # the planner sees the cell as not run
    assert sorted(s.run_id for s in store.all()) == sorted(s.run_id for k, s in shards.items() if k != "a_digits")
    assert prune(path, Selection(failed=True), workdir=workdir).moved == []  # a dry run moves nothing
    assert len(list(store.all())) == 4

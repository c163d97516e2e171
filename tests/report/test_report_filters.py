"""Report filters and grouping: a dataset filter matches ids by name with or without options, a filtered report
never overwrites the main one, and uncatalogued models are grouped by their library family."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.report.data import Filters, load
from harness.storage.store import dataset_matches, ingest
from support import make_shard, run_cli

METRICS = {"mmp_at_5": 0.5, "recall_at_1": 0.5}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "results.duckdb"
    ingest(
        path,
        [
            make_shard("timm:resnet18[init=random]", "digits[per_class=30]", METRICS),
            make_shard(
                "open_clip:ViT-B-32@laion2b_s34b_b79k", "digits", {**METRICS, "mmp_at_5": 0.6}, random_init=False
            ),
            make_shard("timm:resnet50.a1_in1k", "synthetic", METRICS, random_init=False),  # catalogued: supervised
            make_shard("pixels:8", "digitsplus", METRICS),  # another dataset whose name starts with "digits"
        ],
    )
    return path


def datasets_of(db: Path, wanted: str) -> set[str]:
    return {r.dataset for r in load(db, Filters(dataset=wanted)).runs}


def test_dataset_filter_without_options_matches_any_options(db: Path) -> None:
    assert datasets_of(db, "digits") == {"digits", "digits[per_class=30]"}
    assert datasets_of(db, "digits[per_class=30]") == {"digits[per_class=30]"}
    table = load(db, Filters(dataset="digits")).tables[0]
    assert table.datasets == ["digits", "digits[per_class=30]"]
    assert dataset_matches("digits", "digits[per_class=30]") and not dataset_matches("digits[per_class=5]", "digits")
    assert not dataset_matches("digits", "digitsplus")
    assert Filters(dataset="digits[ per_class = 30 ]").canonical().dataset == "digits[per_class=30]"


def test_uncatalogued_models_are_grouped_by_library(db: Path) -> None:
    [table] = load(db).tables
    groups = {family: [row.model for row in rows] for family, rows in table.groups}
    assert groups == {
        "supervised": ["timm:resnet50.a1_in1k"],
        "timm": ["timm:resnet18[init=random]"],
        "open_clip": ["open_clip:ViT-B-32@laion2b_s34b_b79k"],
        "pixels": ["pixels:8"],
    }
    assert [family for family, _ in table.groups] == ["supervised", "timm", "open_clip", "pixels"]  # catalogue first


def test_filtered_report_is_written_beside_the_main_one(db: Path, tmp_path: Path) -> None:
    main = run_cli("report", "--db", str(db), cwd=tmp_path)
    assert main.returncode == 0, main.stderr
    report = tmp_path / "reports" / "out" / "report.md"
    before = report.read_text()
    filtered = run_cli("report", "--db", str(db), "--dataset", "digits", cwd=tmp_path)
    assert filtered.returncode == 0, filtered.stderr
    assert report.read_text() == before  # the main report is untouched
    text = (tmp_path / "reports" / "out" / "report.dataset-digits.md").read_text()
    assert "digits\\[per_class=30\\]" in text and "synthetic" not in text and "digitsplus" not in text
    assert "report.dataset-digits.md" in filtered.stdout

"""The Markdown report: values from the DB, best per column in bold, second underlined, random-init rows marked."""

from pathlib import Path

from harness.report import render_markdown
from harness.storage.store import ingest
from support import make_shard


def test_markdown_table_bold_best_and_random_init_marked(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    ingest(
        db,
        [
            make_shard("timm:a", "digits", {"mmp_at_5": 0.61, "recall_at_1": 0.7}, random_init=False),
            make_shard("timm:b", "digits", {"mmp_at_5": 0.42, "recall_at_1": 0.9}),
            make_shard("timm:a", "synthetic", {"mmp_at_5": 0.3, "recall_at_1": 0.3}, random_init=False),
            make_shard("timm:c", "synthetic", {}, status="error"),
        ],
    )
    text = render_markdown(db, tmp_path / "out" / "report.md").read_text()
    table = text.split("## Paper table: pretrained")[1].split("## Failures")[0]
    assert (  # consecutive lines: a valid Markdown table; best per column bold, second underlined
        "| family | model | digits mMP@5 | digits mR@1 | synthetic mMP@5 | synthetic mR@1 |\n"
        "|---|---|---:|---:|---:|---:|\n"
        "| timm | `timm:a` | **0.6100** | <u>0.7000</u> | **0.3000** | **0.3000** |\n"
        "|  | ⚠ `timm:b` (random-init) | <u>0.4200</u> | **0.9000** | — | — |\n\n"
    ) in table  # timm:c only failed: it has no row
    assert "timm:c" not in table
    assert text.count("## Paper table:") == 1  # one table per strategy, no second copy per metric
    assert "RANDOM-INIT" in text
    assert "| `timm:c / synthetic / pretrained / retrieval` | boom | 2026-11-26 10:01:00 |" in text


def test_newest_run_of_a_cell_wins(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    old = make_shard("timm:a", "digits", {"mmp_at_5": 0.1, "recall_at_1": 0.1}, finished_at="2026-01-01T00:00:00")
    new = make_shard("timm:a", "digits", {"mmp_at_5": 0.2, "recall_at_1": 0.2}, finished_at="2026-02-01T00:00:00")
    new.run_id = "other-weights"
    ingest(db, [old, new])
    text = render_markdown(db, tmp_path / "report.md").read_text()
    assert "**0.2000**" in text and "0.1000" not in text


def test_failures_stay_in_their_section_and_random_init_is_no_best_pretrained_model(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    ingest(
        db,
        [
            make_shard("timm:rand", "digits", {"mmp_at_5": 0.64, "recall_at_1": 0.9}),
            make_shard("wheel:real", "digits", {"mmp_at_5": 0.41, "recall_at_1": 0.6}, random_init=False),
            make_shard("timm:rand", "folder:/no/such/dir", {}, status="error"),  # a mistyped dataset
        ],
    )
    text = render_markdown(db, tmp_path / "report.md").read_text()
    table = text.split("## Paper table: pretrained")[1].split("## Failures")[0]
    assert "/no/such/dir" not in table and "boom" not in table  # no columns, no error text in the table
    assert "| `timm:rand / folder:/no/such/dir / pretrained / retrieval` | boom | 2026-11-26 10:01:00 |" in text
    assert "best pretrained model of 2 is timm:rand" not in text
    assert (
        "On digits, the top pretrained-strategy scorer of 2 is timm:rand (mMP@5 0.6400), ahead of wheel:real (0.4100)."
        " It is a RANDOM-INIT backbone: this checks the harness, not the model. No other model is within 0.01 of it."
        " The best trained backbone is wheel:real (mMP@5 0.4100)."
    ) in text

"""Intervals and paired-test markers in the report, from per-query files ingested with their shards."""

from pathlib import Path

import numpy as np

from harness.compute.stats import bootstrap_mean
from harness.report import render_markdown
from harness.report.data import load
from harness.storage.store import ingest
from support import make_shard


def shard_with_values(workdir: Path, model: str, hits: np.ndarray) -> object:
    """A retrieval shard whose mMP@5 and mR@1 are ``hits`` per query, with the file the suite would write."""
    folder = workdir / "per_query"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{model.replace(':', '_')}.npz"
    np.savez_compressed(folder / name, query=np.arange(len(hits)), mmp_at_5=hits, recall_at_1=hits)
    interval = bootstrap_mean(hits)
    metrics = {"mmp_at_5": interval.value, "mmp_at_5_ci_low": interval.low, "mmp_at_5_ci_high": interval.high,
               "recall_at_1": interval.value}  # fmt: skip
    return make_shard(model, "digits", metrics, details={"per_query": name})


def test_tied_models_are_marked_and_the_summary_says_so(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    best = (rng.random(400) < 0.8).astype(float)
    close = best.copy()
    close[:3] = 0.0  # 3 of 400 queries lost: noise
    worse = best * (rng.random(400) < 0.5)  # half the hits lost: real
    db = tmp_path / "r.duckdb"
    workdir = tmp_path / "work"
    shards = [shard_with_values(workdir, m, v) for m, v in (("timm:a", best), ("timm:b", close), ("timm:c", worse))]
    ingest(db, shards, workdir)  # type: ignore[arg-type]

    [table] = load(db).tables
    values = {row.model: row.values[("digits", "mMP@5")] for row in table.rows}
    assert values["timm:a"].tied is True and values["timm:a"].p_value is None  # the best
    assert values["timm:b"].tied is True and values["timm:b"].p_value is not None and values["timm:b"].p_value > 0.05
    assert values["timm:c"].tied is False and values["timm:c"].p_value is not None and values["timm:c"].p_value < 0.05
    low, high = values["timm:a"].low, values["timm:a"].high
    assert low is not None and high is not None and low < values["timm:a"].value < high
    # mR@1 has per-query values but no stored interval: tested, shown without brackets
    assert values["timm:a"].interval.startswith("[") and table.rows[0].values[("digits", "mR@1")].interval == ""

    text = render_markdown(db, tmp_path / "report.md").read_text()
    # (Markdown escapes the interval's brackets, so that no viewer reads them as a link)
    assert f"| timm | ⚠ `timm:a` (random-init) | **{best.mean():.4f}** \\[{low:.4f}, {high:.4f}\\] |" in text
    assert f"<u>{close.mean():.4f}</u> \\[" in text and "\\] ≈ |" in text
    assert "Holm-corrected" in text and "level 0.05" in text
    assert "it and timm:b" in text and "are tied within noise" in text


def test_no_per_query_values_no_markers(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    ingest(db, [make_shard("timm:a", "digits", {"mmp_at_5": 0.6}), make_shard("timm:b", "digits", {"mmp_at_5": 0.5})])
    [table] = load(db).tables
    assert all(row.values[("digits", "mMP@5")].tied is None for row in table.rows)
    text = render_markdown(db, tmp_path / "report.md").read_text()
    assert "ahead of timm:b (0.5000)." in text and "≈ |" not in text

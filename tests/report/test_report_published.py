"""Published numbers beside ours: every shipped entry is complete and sourced, our pre-trained value sits next to
the published one with its protocol and source in all three formats, and an entry we did not run says so."""

from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.report import published
from harness.report.data import load
from harness.report.render import render
from harness.storage.store import ingest
from support import make_shard


def test_shipped_entries_are_sourced_and_in_range() -> None:
    items = published.entries()
    assert len(items) >= 4
    for item in items:
        assert 0.0 < item.value <= 1.0
        assert "@" in item.source and len(item.source.split("@")[1].split()[0]) == 40  # a pinned commit
        assert item.protocol
    # the OML zoo's figures, as read from docs/readme/zoo.md at that commit
    values = {(i.model, i.dataset): i.value for i in items}
    assert values[("open_clip:ViT-B-16@openai", "sop")] == 0.648
    assert values[("timm:vit_base_patch16_224.dino", "cars196")] == 0.288
    assert values[("open_clip:ViT-B-16@openai", "rp2k")] == 0.54756  # MIEB's RP2kI2IRetrieval, as read


def test_incomplete_entry_is_one_clear_error() -> None:
    with pytest.raises(HarnessError, match="entry 1: missing protocol, source"):
        published.entries('[[published]]\nmodel = "m"\ndataset = "sop"\nmetric = "recall_at_1"\nvalue = 0.5\n')


def test_side_by_side_in_every_format(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    ours = {"mmp_at_5": 0.5, "recall_at_1": 0.6123}
    ingest(db, [make_shard("open_clip:ViT-B-16@openai", "sop:/data/sop", ours, random_init=False)])
    data = load(db)
    rows = published.side_by_side(data)
    by = {(r.published.model, r.published.dataset): r for r in rows}
    hit = by[("open_clip:ViT-B-16@openai", "sop")]
    assert hit.ours is not None and hit.ours.value == 0.6123 and hit.dataset == "sop:/data/sop"
    assert hit.delta == pytest.approx(0.6123 - 0.648)
    assert by[("open_clip:ViT-B-16@openai", "cars196")].ours is None  # not run here
    md = render("md", db, data, checks=[])
    section = md.split("## Published numbers beside ours")[1].split("\n## ")[0]
    assert "| `open_clip:ViT-B-16@openai` | sop | mR@1 | 0.6123 | 0.6480 | -0.0357 |" in section
    assert "open-metric-learning model zoo" in section and "CMC@1" in section
    assert "| cars196 | mR@1 | not run | 0.7670 | — |" in section
    html = render("html", db, data, checks=[])
    assert 'id="published"' in html and "-0.0357" in html and "CMC@1" in html
    tex = render("tex", db, data, checks=[])
    assert "ours $-$ published" in tex and "0.6480 & -0.0357" in tex


def test_filters_narrow_the_side_by_side(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    ingest(db, [make_shard("timm:a", "digits", {"mmp_at_5": 0.5, "recall_at_1": 0.5})])
    from harness.report.data import Filters

    rows = published.side_by_side(load(db, Filters(dataset="cars196:/x")))
    assert rows and {r.published.dataset for r in rows} == {"cars196"}
    assert published.side_by_side(load(db, Filters(strategy="toptuned"))) == []

"""Failed cells stay in the report's Failures section: real failing cells (a missing checkpoint file, a mistyped
dataset folder) run into a real DuckDB, then a success of one of them replaces its failure."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from harness.execute.runner import Outcome, run_plan
from harness.plan.grid import make_cells
from harness.plan.plan import make_plan
from harness.report.data import ERROR_LINE, load, one_line
from harness.report.render import write_reports
from harness.spec.settings import Extraction, Settings
from harness.storage.store import ingest
from support import make_shard

DIGITS = "digits[per_class=5]"


def run(settings: Settings, models: list[str], datasets: list[str]) -> list[Outcome]:
    grid = make_cells(models, datasets, ["pretrained"], ["retrieval"], {"retrieval": {"backend": "exact"}})
    return run_plan(make_plan(grid.cells, "cpu", settings.workdir), settings)


def write_folder(root: Path) -> None:
    """Two classes of four real 8x8 digits each, as PNG files."""
    digits = load_digits()
    for label in (0, 1):
        (root / f"class{label}").mkdir(parents=True)
        images = digits.images[digits.target == label][:4]
        for i, image in enumerate(images):
            Image.fromarray((image * 16).astype("uint8")).convert("RGB").save(root / f"class{label}" / f"{i}.png")


def sections(text: str) -> dict[str, str]:
    return dict(re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))


def test_failures_leave_tables_and_a_later_success_replaces_its_failure(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "work", tmp_path / "r.duckdb", extraction=Extraction(workers=0))
    shoes = tmp_path / "shoes"  # mistyped: not there yet
    checkpoint = f"checkpoint:resnet18@{tmp_path / 'missing' / ('very-long-checkpoint-name-' * 8)}.safetensors"
    outcomes = run(settings, ["pixels:4", checkpoint], [DIGITS, f"folder:{shoes}"])
    assert sorted(o.error is None for o in outcomes) == [False, False, False, True]

    out = tmp_path / "out"
    md, html = (p.read_text() for p in write_reports(settings.db, out, ["md", "html"]))
    parts = sections(md)
    table = parts["Paper table: pretrained"]
    assert "pixels:4" in table and "shoes" not in table and "checkpoint:" not in table  # no row, no column
    assert table.splitlines()[2].count("|") == 5  # family, model, digits mMP@5, digits mR@1
    failures = parts["Failures"]
    rows = [line for line in failures.splitlines() if line.startswith("| `")]
    assert len(rows) == 3  # the checkpoint on both datasets, pixels on the missing folder
    for row in rows:
        error = row.split(" | ")[1]
        assert 20 < len(error) <= ERROR_LINE + 30  # one line (escaping adds backslashes), never the whole text
        assert re.search(r"\| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \|$", row)  # when, to the second
    assert any(str(shoes) in row and "does not exist" in row for row in rows), rows
    # HTML: the failure's full text only in a tooltip; long ids wrap instead of widening the tables
    assert "overflow-wrap: anywhere" in html
    paper = html.split('<table class="paper"')[1].split("</table>")[0]
    assert "shoes" not in paper and "checkpoint:" not in paper
    assert '<h2 id="failures">Failures</h2>' in html

    write_folder(shoes)  # the folder fixed: the same cell runs again and succeeds
    [fixed] = run(settings, ["pixels:4"], [f"folder:{shoes}"])
    assert fixed.error is None, fixed.error
    data = load(settings.db)
    assert {(r.model, r.dataset) for r in data.failures} == {(checkpoint, DIGITS), (checkpoint, f"folder:{shoes}")}
    md = write_reports(settings.db, out, ["md"])[0].read_text()
    parts = sections(md)
    assert f"folder:{shoes}" in parts["Paper table: pretrained"]  # its column, now that it has values
    assert "pixels:4 / folder" not in parts["Failures"]  # the failure replaced by the success
    con = duckdb.connect(str(settings.db), read_only=True)
    try:
        statuses = con.execute("SELECT status, count(*) FROM runs GROUP BY ALL ORDER BY status").fetchall()
    finally:
        con.close()
    assert statuses == [("error", 2), ("ok", 2)]


def test_one_line_keeps_the_first_line_and_cuts_long_ones() -> None:
    assert one_line("\n  first line  \nsecond") == "first line"
    cut = one_line("checkpoint file '" + "x" * 500 + "' does not exist")
    assert len(cut) == ERROR_LINE and cut.startswith("checkpoint file 'xx") and cut.endswith("xx' does not exist")
    assert "…" in cut
    assert one_line("") == ""


@pytest.mark.slow
def test_long_ids_and_errors_wrap_inside_the_html_tables(tmp_path: Path) -> None:
    """Headless Chromium lays out a report whose model id, dataset id and error are hundreds of characters
    without spaces: every table still fits the page's width (measured in the DOM)."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); CI installs it")
    long_model = "timm:" + "x" * 300
    long_dataset = "folder:/" + "d" * 300
    failed = make_shard(long_model, long_dataset, {}, status="error")
    failed.error = "checkpoint file '/" + "p" * 400 + "' does not exist"
    ok = make_shard(long_model, "digits", {"mmp_at_5": 0.5, "recall_at_1": 0.5})
    db = tmp_path / "r.duckdb"
    ingest(db, [ok, failed])
    [page] = write_reports(db, tmp_path / "out", ["html"])
    measure = """<script>
      const wide = [...document.querySelectorAll('table')].filter(t => t.scrollWidth > document.body.clientWidth);
      document.body.setAttribute('data-wide', String(wide.length));
      document.body.setAttribute('data-tables', String(document.querySelectorAll('table').length));
    </script></body>"""
    page.write_text(page.read_text().replace("</body>", measure))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900", "--dump-dom"]  # fmt: skip
    dom = subprocess.run([binary, *flags, page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    tables = re.search(r'data-tables="(\d+)"', dom)
    assert tables and int(tables.group(1)) >= 3, dom[-2000:]  # the paper table, the failures, the provenance
    assert 'data-wide="0"' in dom

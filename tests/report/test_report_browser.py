"""The HTML report of a small real grid, opened in headless Chromium: screenshot, DOM and console.

A real grid (two random-init timm models on digits and a synthetic dataset: retrieval with the exact backend,
and the cost suite) plus dataset statistics, all through the CLI; strategies a CPU cannot run in a test
(top-tuning's search, cross-tuning) are added as hand-made rows of the same models, so that every figure has data.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from PIL import Image, ImageStat

from harness.storage.shards import Shard
from harness.storage.store import ingest
from support import cell_run_id, make_shard, run_cli

GRID = """
[grid]
models = ["timm:resnet18[init=random]", "timm:test_vit[init=random]"]
datasets = ["digits[per_class=10]", "synthetic[classes=4,per_class=8,size=32]"]
suites = ["retrieval", "cost"]

[params.retrieval]
backend = "exact"

[params.cost]
warmup = 1
iterations = 5
throughput_iterations = 2
max_batch_cpu = 4
pipeline_images = 8
pipeline_repeats = 1
"""
DIGITS, SYNTHETIC = "digits[per_class=10]", "synthetic[classes=4,per_class=8,size=32]"
RESNET = "timm:resnet18[init=random]"
WIDTH, HEIGHT = 1280, 900


def chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is missing on CI: .ci/run installs Debian's chromium package")
    pytest.skip("chromium is not installed (Debian: apt-get install chromium); CI installs it")


def browse(binary: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "--enable-logging=stderr", "--v=0",
    ]  # fmt: skip
    return subprocess.run(
        [binary, *flags, *args, page.as_uri()], capture_output=True, text=True, timeout=120, cwd=profile.parent
    )


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def supplement(model: str, dataset: str, mmp: float, strategy: str, params: dict[str, object]) -> Shard:
    shard = make_shard(model, dataset, {"mmp_at_5": mmp, "toptune_device_hours": 0.02})
    shard.cell = dataclasses.replace(shard.cell, strategy=strategy, params={**shard.cell.params, **params})
    shard.run_id = cell_run_id(shard.cell)
    return shard


@pytest.mark.slow
def test_html_report_in_headless_chromium(tmp_path: Path) -> None:
    binary = chromium()
    (tmp_path / "grid.toml").write_text(GRID)
    done = run_cli("grid", "grid.toml", "--workers", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    info = run_cli("datasets", "info", DIGITS, cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    db = tmp_path / "results.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    query = "SELECT model, dataset, value FROM results WHERE metric = ? AND strategy = 'pretrained'"
    mmp = {(m, d): v for m, d, v in con.execute(query, ["mmp_at_5"]).fetchall()}
    latency = {(m, d): v for m, d, v in con.execute(query, ["latency_b1_p50_ms"]).fetchall()}
    run_id = con.execute("SELECT run_id FROM runs WHERE model = ? AND dataset = ? AND suite = 'retrieval'",
                         [RESNET, DIGITS]).fetchone()[0]  # type: ignore[index]  # fmt: skip
    con.close()
    assert len(mmp) == 4 and len(latency) == 4
    ingest(db, [
        supplement(RESNET, DIGITS, mmp[(RESNET, DIGITS)] + 0.25, "toptuned", {"preset": "quick"}),
        supplement(RESNET, SYNTHETIC, 0.5, "crosstuned", {"source": DIGITS, "tuning": "toptuned"}),
    ])  # fmt: skip
    report = run_cli("report", "--format", "html", "--out", "rep", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    page = tmp_path / "rep" / "report.html"

    profile = tmp_path / "profile"
    shot = browse(binary, page, profile, f"--screenshot={tmp_path / 'shot.png'}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    image = Image.open(tmp_path / "shot.png").convert("L")
    assert image.size == (WIDTH, HEIGHT)
    stat = ImageStat.Stat(image)
    dark = sum(image.histogram()[:200]) / (WIDTH * HEIGHT)
    assert stat.stddev[0] > 20 and 0.01 < dark < 0.5, (stat.stddev, dark)  # text on white, not a blank page
    dom = browse(binary, page, profile, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert console_errors(shot.stderr + dom.stderr) == []

    # a table cell holds the DB's value to 4 decimals and links to its run
    value = f"{mmp[(RESNET, DIGITS)]:.4f}"
    assert re.search(rf'<td class="num"[^>]*><a href="#run-{run_id}">(<strong>|<u>)?{value}<', html), value
    # every figure is drawn: gain, latency scatters (2 datasets), device-hours, cross-tuning heatmap, statistics
    labels = re.findall(r'<svg [^>]*aria-label="([^"]+)"', html)
    assert any(label.startswith("toptuned gain over pretrained") for label in labels), labels
    assert sum(label.startswith("mMP@5 against batch-1 latency p50 on") for label in labels) == 2, labels
    assert any(label.startswith("mMP@5 against device-hours on") for label in labels), labels
    assert any(label.startswith("cross-tuning (toptuned) of timm:resnet18[init=random]") for label in labels), labels
    assert sum(label.startswith(f"images per class of {DIGITS}") for label in labels) == 2, labels  # train, test
    delta = 0.5 - mmp[(RESNET, SYNTHETIC)]
    assert f">{delta:+.4f}</text>" in html  # the heatmap cell: cross-tuned minus the real pre-trained value
    # the decision summary, from the DB's numbers
    for dataset in (DIGITS, SYNTHETIC):
        (v1, best), (v2, other) = sorted(((-v, m) for (m, d), v in mmp.items() if d == dataset))
        # each figure with its bootstrap interval, the runner-up compared by a paired test
        head = rf"On {re.escape(dataset)}, the top pretrained-strategy scorer of 2 is {re.escape(best)} "
        head += rf"\(mMP@5 {-v1:.4f} \[[\d.]+, [\d.]+\]\)(, significantly ahead of|; it and) {re.escape(other)} "
        head += rf"\({-v2:.4f} \[[\d.]+, [\d.]+\][^)]*\).*?\. It is a RANDOM-INIT backbone: this checks the harness, "
        head += r"not the model\."
        if -v2 < -v1 - 0.01:
            tail = " No other model is within 0.01 of it."
        elif latency[(other, dataset)] < latency[(best, dataset)]:
            ratio = latency[(best, dataset)] / latency[(other, dataset)]
            tail = (f" {other} (mMP@5 {-v2:.4f}) is within 0.01 of it at {ratio:.1f}x lower batch-1 latency p50"
                    f" ({latency[(other, dataset)]:.2f} ms against {latency[(best, dataset)]:.2f} ms).")  # fmt: skip
        else:
            tail = " Of the 2 models within 0.01 of it, it is also the cheapest by batch-1 latency p50"
        assert re.search(head + re.escape(tail), html.replace("&lt;", "<")), (head, tail)


@pytest.mark.slow
def test_console_errors_are_seen(tmp_path: Path) -> None:
    """The console check above can fail: a page that logs an error is caught."""
    binary = chromium()
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>undefinedFunction()</script>")
    dom = browse(binary, page, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0 and "<p>x</p>" in dom.stdout
    assert any("undefinedFunction" in line for line in console_errors(dom.stderr)), dom.stderr[-2000:]

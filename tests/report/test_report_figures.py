"""The report's conclusions and figures on hand-placed numbers: Pareto frontier, the cheapest model within the
tolerance, tuning gains, cross-tuning deltas and their colours, images per class, escaping inside SVG."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from harness.report import analysis, figures
from harness.report.analysis import Point, pareto_frontier
from harness.report.data import Filters, load
from harness.report.render import write_reports
from harness.storage.shards import Shard
from harness.storage.store import ingest, record_dataset
from support import cell_run_id, make_shard, run_cli

XSS = "timm:<script>alert(1)</script>"
ESCAPED = "timm:&lt;script&gt;alert(1)&lt;/script&gt;"
# dataset "shop", pre-trained: (mMP@5, batch-1 latency p50 in ms)
SHOP = {"timm:big": (0.800, 40.0), "timm:mid": (0.795, 10.0), "timm:small": (0.792, 4.0), "timm:tiny": (0.700, 1.0),
        XSS: (0.600, 20.0)}  # fmt: skip


def shard(model: str, dataset: str, metrics: dict[str, float], strategy: str = "pretrained", suite: str = "retrieval",
          params: dict[str, object] | None = None) -> Shard:  # fmt: skip
    s = make_shard(model, dataset, metrics, random_init=model == XSS)
    s.cell = dataclasses.replace(s.cell, strategy=strategy, suite=suite, params=params or s.cell.params)
    s.run_id = cell_run_id(s.cell)
    s.provenance = {**s.provenance, "device": "cpu"}
    return s


def cross(model: str, source: str, target: str, tuning: str, mmp: float) -> Shard:
    return shard(model, target, {"mmp_at_5": mmp}, "crosstuned", params={"source": source, "tuning": tuning})


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "r.duckdb"
    shards = [shard(m, "shop", {"mmp_at_5": v, "extract_device_hours": 0.01}) for m, (v, _) in SHOP.items()]
    shards += [shard(m, "shop", {"latency_b1_p50_ms": ms, "params": 1e6}, suite="cost") for m, (_, ms) in SHOP.items()]
    shards += [
        shard("timm:big", "shop", {"mmp_at_5": 0.85, "extract_device_hours": 0.01, "toptune_device_hours": 0.5},
              "toptuned"),
        shard("timm:tiny", "shop", {"mmp_at_5": 0.75, "extract_device_hours": 0.01, "toptune_device_hours": 0.2},
              "toptuned"),
        shard("timm:big", "fashion", {"mmp_at_5": 0.40}),
        shard(XSS, "fashion", {"mmp_at_5": 0.30}),
        cross("timm:big", "shop", "fashion", "toptuned", 0.45),  # +0.05 over pre-trained on fashion
        cross("timm:big", "fashion", "shop", "toptuned", 0.78),  # -0.02 over pre-trained on shop
        cross("timm:big", "shop", "fashion", "finetuned", 0.55),  # +0.15: another (model, tuning), another grid
        cross(XSS, "shop", "fashion", "toptuned", 0.25),  # -0.05
        cross("timm:mid", "shop", "fashion", "toptuned", 0.5),  # no pre-trained result of timm:mid on fashion
    ]  # fmt: skip
    ingest(path, shards)
    classes = [["train", 0, "<b>shoe</b>", 7], ["train", 1, "bag", 3], ["train", 2, "hat", 5],
               ["test", 0, "<b>shoe</b>", 2], ["test", 1, "bag", 2], ["test", 2, "hat", 1]]  # fmt: skip
    record_dataset(path, {"dataset": "shop", "digest": "old", "images": 4, "excluded": 0, "splits": [],
                          "classes": [["train", 0, "stale", 4]]})  # fmt: skip
    record_dataset(path, {"dataset": "shop", "digest": "new", "images": 20, "excluded": 0, "splits": [],
                          "classes": classes})  # fmt: skip
    return path


def test_pareto_frontier_of_hand_placed_points() -> None:
    placed = [("a", 1, 0.5), ("b", 2, 0.7), ("c", 3, 0.6), ("d", 3, 0.9), ("e", 5, 0.9)]
    a, b, c, d, e = (Point(name, x, y) for name, x, y in placed)
    # c: b is cheaper and better; e: d is cheaper and as good
    assert pareto_frontier([e, d, c, b, a]) == [a, b, d]
    g = Point("g", 1, 0.55)  # as cheap as a and better: a drops out
    assert pareto_frontier([a, b, c, d, e, g]) == [g, b, d]
    assert pareto_frontier([]) == []


def test_cheapest_model_within_the_tolerance(db: Path) -> None:
    shop = dict(analysis.summarise(load(db)))["shop"]
    pretrained = next(s for s in shop if "best pretrained" in s)
    assert pretrained == (
        "On shop, the best pretrained model of 5 is timm:big (mMP@5 0.8000), ahead of timm:mid (0.7950)."
        " timm:small (mMP@5 0.7920) is within 0.01 of it at 10.0x lower batch-1 latency p50 (4.00 ms against 40.00 ms)."
    )
    tight = dict(analysis.summarise(load(db, tolerance=0.005)))["shop"][0]
    assert tight.endswith(" timm:mid (mMP@5 0.7950) is within 0.005 of it at 4.0x lower batch-1 latency p50"
                          " (10.00 ms against 40.00 ms).")  # fmt: skip
    # toptuned: tiny is 0.10 behind big; cross-tuned rows are named by what they were tuned on
    assert (
        "On shop, the best toptuned model of 2 is timm:big (mMP@5 0.8500), ahead of timm:tiny (0.7500). No other"
        in (" ".join(shop))
    )
    assert "the best crosstuned model is timm:big toptuned on fashion (mMP@5 0.7800)." in " ".join(shop)


def test_cheapest_by_gflops_when_no_latency_and_a_note_when_no_cost(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    ingest(db, [shard("timm:a", "d", {"mmp_at_5": 0.5}), shard("timm:b", "d", {"mmp_at_5": 0.499}),
                shard("timm:c", "d", {"mmp_at_5": 0.498})])  # fmt: skip
    [sentence] = dict(analysis.summarise(load(db)))["d"]
    assert sentence.endswith(
        " 2 other model(s) are within 0.01 of it, but none of them has a cost figure"
        " (batch-1 latency p50, GFLOPs per image, parameter count): run the cost suite to find the cheapest."
    )
    ingest(db, [shard("timm:a", "d", {"gflops_per_image": 4.0}, suite="cost"),
                shard("timm:b", "d", {"gflops_per_image": 4.0}, suite="cost")])  # fmt: skip
    [sentence] = dict(analysis.summarise(load(db)))["d"]
    # a tie in cost goes to the better model: the best itself; timm:c has no figure and is said so
    assert sentence.endswith(
        " Of the 3 models within 0.01 of it, it is also the cheapest by GFLOPs per image"
        " (4.00 GFLOPs). 1 of the 3 models within 0.01 has no GFLOPs per image figure."
    )


def test_quality_versus_latency_scatter(db: Path) -> None:
    data = load(db)
    [scatter] = [s for s in analysis.quality_vs_cost(data) if (s.dataset, s.strategy) == ("shop", "pretrained")]
    assert scatter.metric == "latency_b1_p50_ms"
    assert [p.label for p in scatter.frontier] == ["timm:tiny", "timm:small", "timm:mid", "timm:big"]
    svg = str(figures.scatter_chart(scatter))
    assert svg.count("<circle") == 5 and "log scale" in svg  # 1 to 40 ms spans more than a factor of 10
    assert ESCAPED in svg and "<script" not in svg
    # the step line: from each frontier point right to the next one's cost, then up to its quality
    assert len(re.findall(r" H[\d.]+ V[\d.]+", re.search(r'<path d="([^"]+)"', svg)[1])) == 3  # type: ignore[index]
    [hours] = analysis.quality_vs_device_hours(data)
    assert [(p.label, p.x) for p in hours.frontier] == [("timm:big · pretrained", 0.01), ("timm:big · toptuned", 0.51)]


def test_tuning_gain(db: Path) -> None:
    gains = analysis.gains(load(db))
    assert [(g.model, g.dataset, g.strategy, round(g.gain, 6)) for g in gains] == [
        ("timm:big", "shop", "toptuned", 0.05),
        ("timm:tiny", "shop", "toptuned", 0.05),
    ]
    svg = str(figures.gain_chart(gains))
    assert svg.count("<rect") == 2 and svg.count(">+0.0500</text>") == 2


def test_cross_tuning_deltas_and_heatmap(db: Path) -> None:
    grids = analysis.cross_grids(load(db))
    # timm:mid has no pre-trained result on fashion: no delta, no grid
    assert [(g.model, g.tuning) for g in grids] == [
        (XSS, "toptuned"),
        ("timm:big", "finetuned"),
        ("timm:big", "toptuned"),
    ]
    big = grids[2]
    assert big.datasets == ["fashion", "shop"]
    assert {k: round(c.delta, 6) for k, c in big.cells.items() if c.delta is not None} == {
        ("shop", "fashion"): 0.05,
        ("fashion", "shop"): -0.02,
    }
    svg = str(figures.heatmap_chart(big))
    cells = re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="86.00" height="34.00" fill="([^"]+)"', svg)
    # rows fashion, shop x columns fashion, shop; blue at the largest |delta|, a lighter red at 0.4 of it
    assert cells == ["#f1f3f4", "rgb(225,168,165)", "rgb(26,95,180)", "#f1f3f4"]
    texts = re.findall(r'text-anchor="middle" fill="[^"]+">([^<]+)</text>', svg)
    assert texts == ["—", "-0.0200", "+0.0500", "—"]  # the value is text, not only colour
    xss = str(figures.heatmap_chart(grids[0]))
    assert ESCAPED in xss and "<script" not in xss and "RANDOM-INIT" in xss


def test_images_per_class_from_the_newest_manifest(db: Path) -> None:
    data = load(db)
    assert [(c.dataset, c.split, c.counts) for c in data.class_counts] == [
        ("shop", "train", [("<b>shoe</b>", 7), ("hat", 5), ("bag", 3)]),
        ("shop", "test", [("<b>shoe</b>", 2), ("bag", 2), ("hat", 1)]),
    ]
    svg = str(figures.class_chart(data.class_counts[0]))
    assert "train: 3 classes, 15 images; per class min 3, median 5, max 7" in svg
    heights = [float(h) for h in re.findall(r'height="([\d.]+)" fill="#1a5fb4"', svg)]
    assert heights[0] > heights[1] > heights[2] and heights[0] / heights[2] == pytest.approx(7 / 3, rel=1e-3)
    assert "&lt;b&gt;shoe&lt;/b&gt;: 7 images" in svg and "<b>" not in svg
    assert load(db, Filters(dataset="fashion")).class_counts == []


def test_html_and_markdown_show_figures_summary_and_cross_tables(db: Path, tmp_path: Path) -> None:
    html, md = (p.read_text() for p in write_reports(db, tmp_path, ["html", "md"]))
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    # gain; latency scatters: shop pretrained and toptuned, fashion pretrained (latency measured on shop);
    # 1 device-hours scatter; 3 heatmaps; 2 class charts
    assert len(svgs) == 10
    assert all("<script" not in svg for svg in svgs) and sum(ESCAPED in svg for svg in svgs) >= 2
    assert "No dataset statistics" not in html and "No cross-tuned" not in html
    assert "timm:small (mMP@5 0.7920) is within 0.01 of it at 10.0x lower batch-1 latency p50" in html
    assert '<code>timm:big</code> <span class="muted">toptuned on fashion</span>' in html
    cross = md.split("**`timm:big`, toptuned**")[1]
    assert (
        "| tuned on \\ evaluated on | fashion | shop |\n|---|---:|---:|\n"
        "| fashion | — | -0.0200 |\n| shop | +0.0500 | — |\n"
    ) in cross
    assert "- shop, pretrained, by batch-1 latency p50: timm:tiny (1.00 ms, 0.7000), then timm:small" in md


def test_empty_figures_say_so_in_one_sentence(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    ingest(db, [shard("timm:a", "d", {"mmp_at_5": 0.5})])
    [html] = (p.read_text() for p in write_reports(db, tmp_path, ["html"]))
    assert "<svg" not in html
    assert len(re.findall(r'<p class="muted empty">', html)) == 6


def test_cli_tolerance_option(db: Path, tmp_path: Path) -> None:
    done = run_cli("report", "--db", str(db), "--format", "md", "--out", "rep", "--tolerance", "0.005", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "timm:mid (mMP@5 0.7950) is within 0.005 of it at 4.0x lower batch-1 latency" in text
    bad = run_cli("report", "--db", str(db), "--tolerance", "-1", cwd=tmp_path)
    assert bad.returncode == 2 and "tolerance" in bad.stderr


def test_a_finetune_curve_is_drawn_once_however_many_cells_carry_it(tmp_path: Path) -> None:
    """The fine-tune cell and an evaluation cell that reused its job both carry the curve: one figure."""
    curve = [{"epoch": 1, "train_loss": 0.7, "val_accuracy": 0.2}, {"epoch": 2, "train_loss": 0.5, "val_accuracy": 0.5},
             {"epoch": 3, "train_loss": 0.4, "val_accuracy": 0.75}]  # fmt: skip
    details = {"finetune_job": "job1", "finetune_source": "shop", "finetune_preset": {"name": "quick"}, "curve": curve}
    trained = shard(XSS, "shop", {"finetune_s": 9.0}, "finetuned", suite="finetune")
    evaluated = shard(XSS, "shop", {"mmp_at_5": 0.6}, "finetuned")
    no_holdout = shard("timm:a", "shop", {"finetune_s": 1.0}, "finetuned", suite="finetune")
    trained.details = evaluated.details = details
    no_holdout.details = {**details, "finetune_job": "job2", "curve": [{"epoch": 1, "train_loss": 0.9}]}
    db = tmp_path / "r.duckdb"
    ingest(db, [trained, evaluated, no_holdout])
    data = load(db)
    assert [(c.job, c.model, c.epochs, c.train_loss, c.val_accuracy) for c in data.curves] == [
        ("job1", XSS, [1, 2, 3], [0.7, 0.5, 0.4], [0.2, 0.5, 0.75]),  # ordered by model id: "<" sorts before "a"
        ("job2", "timm:a", [1], [0.9], [None]),
    ]
    svg = str(figures.curve_chart(data.curves[0]))
    assert svg.count("<circle") == 6 and "epoch 3: held-out accuracy 0.7500" in svg
    assert ESCAPED in svg and "<script" not in svg
    assert str(figures.curve_chart(data.curves[1])).count("<circle") == 1  # no hold-out: the loss alone
    assert load(db, Filters(model="timm:a")).curves == data.curves[1:]
    [html] = (p.read_text() for p in write_reports(db, tmp_path, ["html"]))
    assert html.count('aria-label="fine-tuning curve of') == 2

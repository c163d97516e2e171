"""HTML, Markdown and LaTeX reports from a real DuckDB file: ranks, families, escaping, trust section, filters."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.report import latex
from harness.report.data import Filters, load
from harness.report.render import write_reports
from harness.report.rerun import rerun_command
from harness.storage.shards import Shard
from harness.storage.store import ingest
from support import cell_run_id, make_shard, run_cli

XSS = "timm:<script>alert(1)</script>"
SUP = "timm:resnet50.a1_in1k"  # catalogue: supervised
SSL = "timm:vit_base_patch16_224.dino"  # catalogue: self-supervised


def shard(model: str, dataset: str, metrics: dict[str, float], strategy: str = "pretrained", suite: str = "retrieval",
          **kw: object) -> Shard:  # fmt: skip
    s = make_shard(model, dataset, metrics, **kw)  # type: ignore[arg-type]
    s.cell = dataclasses.replace(s.cell, strategy=strategy, suite=suite)
    s.run_id = cell_run_id(s.cell)
    return s


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "r.duckdb"
    ingest(
        path,
        [
            shard(SUP, "digits", {"mmp_at_5": 0.61, "recall_at_1": 0.7}, random_init=False),
            shard(SSL, "digits", {"mmp_at_5": 0.42, "recall_at_1": 0.9}, random_init=False),
            shard(XSS, "digits", {"mmp_at_5": 0.3, "recall_at_1": 0.3}),
            shard("timm:c_x%", "digits", {"mmp_at_5": 0.2, "recall_at_1": 0.2}),
            shard("timm:c_x%", "synthetic", {}, status="error"),
            shard(SUP, "synthetic", {"mmp_at_5": 0.5, "recall_at_1": 0.5}, random_init=False),
            shard(SUP, "digits", {"mmp_at_5": 0.71, "recall_at_1": 0.8}, strategy="toptuned", random_init=False),
            shard(SUP, "digits", {"accuracy": 0.95}, strategy="toptuned", suite="classification", random_init=False),
        ],
    )
    return path


@pytest.fixture(scope="module")
def out(db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("out")
    paths = write_reports(db, folder, ["html", "md", "tex"])
    assert [p.name for p in paths] == ["report.html", "report.md", "report.tex"]
    return {p.suffix[1:]: p.read_text() for p in paths}


def test_html_escapes_model_ids(out: dict[str, str]) -> None:
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out["html"]
    assert "<script>alert" not in out["html"]
    assert "<script" not in out["html"].lower()


def test_best_bold_second_underlined_in_every_format(out: dict[str, str], db: Path) -> None:
    run_id = next(
        r.run_id for r in load(db).runs if r.model == SUP and r.dataset == "digits" and r.strategy == "pretrained"
    )
    ssl_id = next(r.run_id for r in load(db).runs if r.model == SSL)
    md = out["md"].split("## Paper table: pretrained")[1]
    assert "| supervised | `timm:resnet50.a1_in1k` | **0.6100** | <u>0.7000</u> | **0.5000** | **0.5000** |" in md
    assert "| self-supervised | `timm:vit_base_patch16_224.dino` | <u>0.4200</u> | **0.9000** | — | — |" in md
    assert f'<a href="#run-{run_id}"><strong>0.6100</strong></a>' in out["html"]
    assert f'<a href="#run-{ssl_id}"><u>0.4200</u></a>' in out["html"]
    row = (
        r"\texttt{timm:resnet50.a1\_in1k} & \textbf{0.6100} & \underline{0.7000} & \textbf{0.5000} & \textbf{0.5000} \\"
    )
    assert "supervised & " + row in out["tex"]
    assert r"\toprule" in out["tex"] and r"\midrule" in out["tex"] and r"\bottomrule" in out["tex"]


def test_latex_escaping() -> None:
    assert latex.escape("a_b 5% $x# {y} ~^ \\") == (
        r"a\_b 5\% \$x\# \{y\} \textasciitilde{}\textasciicircum{} \textbackslash{}"
    )


def test_tex_escapes_ids_and_marks_failed(out: dict[str, str]) -> None:
    row = r"\texttt{timm:c\_x\%} \textbf{[random-init]} & 0.2000 & 0.2000 & \textit{failed} & \textit{failed} \\"
    assert row in out["tex"]
    assert "c_x%" not in out["tex"]


def test_families_in_catalogue_order_other_last(out: dict[str, str]) -> None:
    md = out["md"].split("## Paper table: pretrained")[1].split("## Paper table: toptuned")[0]
    positions = [md.index(f"| {family} |") for family in ("supervised", "self-supervised", "timm")]
    assert positions == sorted(positions)
    assert "| timm | ⚠ `timm:<script>alert(1)</script>` (random-init) |" in md
    html = out["html"]
    assert html.index(">supervised</td>") < html.index(">self-supervised</td>") < html.index(">timm</td>")


def test_random_init_marked_loudly(out: dict[str, str]) -> None:
    assert "RANDOM-INIT" in out["md"] and "RANDOM-INIT" in out["tex"]
    assert '<span class="warn">⚠ RANDOM-INIT</span> <code>timm:&lt;script&gt;' in out["html"]
    assert '<span class="warn">⚠ RANDOM-INIT</span> <code>timm:resnet50' not in out["html"]


def test_failed_cell_is_marked_and_its_error_in_its_own_section(out: dict[str, str], db: Path) -> None:
    failed = next(r for r in load(db).runs if r.status == "error")
    assert f'<td class="failed" title="boom"><a href="#run-{failed.run_id}">failed</a></td>' in out["html"]
    assert f'<tr id="run-{failed.run_id}" class="random">' in out["html"]
    assert "| ⚠ `timm:c_x%` (random-init) | 0.2000 | 0.2000 | ✗ failed | ✗ failed |" in out["md"]


def test_rerun_command(out: dict[str, str], db: Path) -> None:
    run = next(r for r in load(db).runs if r.model == SUP and r.dataset == "synthetic")
    expected = (
        "ecombench run --model 'timm:resnet50.a1_in1k' --dataset 'synthetic' --suite retrieval "
        "--strategy pretrained --param backend=exact --param split=test"
    )
    assert run.command == expected
    assert expected.replace("'", "&#39;") in out["html"]
    params = {"warmup": 5, "flag": True, "name": "two words"}
    assert rerun_command("m'x", "d", "classification", "toptuned", params) == (
        "ecombench run --model 'm'\"'\"'x' --dataset 'd' --suite classification --strategy toptuned"
        " --param flag=true --param 'name=\"two words\"' --param warmup=5"
    )


def test_decision_summary_accuracy_and_gain(out: dict[str, str]) -> None:
    sentence = (
        "On digits, the best pretrained model of 4 is timm:resnet50.a1_in1k (mMP@5 0.6100), ahead of "
        "timm:vit_base_patch16_224.dino (0.4200). No other model is within 0.01 of it."
    )
    assert sentence in out["md"] and sentence in out["html"]
    toptuned = out["md"].split("## Paper table: toptuned")[1]
    assert "| family | model | digits mMP@5 | digits mR@1 | digits acc |" in toptuned
    assert "| supervised | `timm:resnet50.a1_in1k` | **0.7100** | **0.8000** | **0.9500** |" in toptuned
    assert "<svg" in out["html"] and "timm:resnet50.a1_in1k · digits" in out["html"] and "+0.1000" in out["html"]


class Tables(HTMLParser):
    """Rows of each <table class="paper">'s body, as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.inside = self.body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.inside = ("class", "paper") in attrs
            if self.inside:
                self.tables.append([])
        elif self.inside and tag == "tbody":
            self.body = True
        elif self.inside and self.body and tag == "tr":
            self.tables[-1].append([])
        elif self.inside and self.body and tag == "td":
            self.tables[-1][-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = self.body = False

    def handle_data(self, data: str) -> None:
        if self.inside and self.body and self.tables[-1] and self.tables[-1][-1]:
            self.tables[-1][-1][-1] += data


def test_html_tables_have_expected_shape(out: dict[str, str]) -> None:
    parser = Tables()
    parser.feed(out["html"])
    pretrained, toptuned = ([[cell.strip() for cell in row] for row in table] for table in parser.tables)
    # 4 models; 4 value columns (digits and synthetic: mMP@5, mR@1); family cell only in a group's first row
    assert [len(row) for row in pretrained] == [6, 6, 6, 5]
    assert pretrained[0][:3] == ["supervised", "timm:resnet50.a1_in1k", "0.6100"]
    assert pretrained[3][-1] == "failed"
    assert toptuned == [["supervised", "timm:resnet50.a1_in1k", "0.7100", "0.8000", "0.9500"]]


def test_dataset_filter_restricts_rows(db: Path, tmp_path: Path) -> None:
    data = load(db, Filters(dataset="synthetic"))
    assert {r.dataset for r in data.runs} == {"synthetic"}
    assert [row.model for _, rows in data.tables[0].groups for row in rows] == [SUP]  # timm:c_x% failed on synthetic
    [md] = write_reports(db, tmp_path, ["md"], Filters(dataset="synthetic"))
    assert "digits" not in md.read_text() and "synthetic" in md.read_text()


def test_cli_writes_three_formats(db: Path, tmp_path: Path) -> None:
    result = run_cli("report", "--db", str(db), "--format", "html,md,tex", "--out", "rep", "--model", SUP, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    texts = {name: (tmp_path / "rep" / f"report.{name}").read_text() for name in ("html", "md", "tex")}
    assert all(SUP in text or SUP.replace("_", r"\_") in text for text in texts.values())
    assert "alert" not in texts["html"]
    bad = run_cli("report", "--db", str(db), "--format", "pdf", cwd=tmp_path)
    assert bad.returncode == 2 and "--format 'pdf'" in bad.stderr

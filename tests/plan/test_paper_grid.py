"""The paper's grid as data: model collections, [data] folders, per-suite datasets, the dry run's preflight
and estimate, the weights step, and bench-full's fail-fast preflight."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from harness.compute.datasets.replicas import make_all
from harness.compute.models import catalog, collections
from harness.compute.models.fetch import fetch
from harness.core.errors import HarnessError
from harness.plan.estimate import estimate_plan
from harness.plan.grid import load_grid, make_cells
from harness.plan.plan import make_plan
from harness.plan.readiness import check_datasets, require_ready
from support import run_cli

ROOT = Path(__file__).resolve().parents[2]
PAPER, MINI = ROOT / "suites" / "paper.toml", ROOT / "suites" / "paper-mini.toml"
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": "/nonexistent/hub", "TORCH_HOME": "/nonexistent/torch"}


def suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return path


def test_at_paper_expands_to_the_catalogue_collection_and_a_file_may_define_its_own(tmp_path: Path) -> None:
    paper = collections()["paper"]
    assert len(paper) == 13 and "wheel:tf_efficientnet_lite0" not in paper
    assert collections()["all"] == [e["id"] for e in catalog()]
    assert {*collections()["supervised"], *collections()["self-supervised"], *collections()["text-image"]} == set(paper)
    path = suite(tmp_path, '[collections]\nmine = ["pixels:4", "pixels:8"]\n'
                 '[grid]\nmodels = ["@mine", "pixels:4"]\ndatasets = ["digits"]\nsuites = ["retrieval"]\n')  # fmt: skip
    assert [c.model for c in load_grid(path).cells] == ["pixels:4", "pixels:8"]  # duplicates dropped
    path.write_text('[grid]\nmodels = ["@nope"]\ndatasets = ["digits"]\nsuites = ["retrieval"]\n')
    with pytest.raises(HarnessError, match=r"unknown model collection '@nope' \(known: @all, @paper"):
        load_grid(path)


GRID = """
[data]
root = "data"
sop = "{root}/Stanford_Online_Products"
food2k = "{root}/Food2K"
[grid]
models = ["pixels:4"]
datasets = ["sop:{sop}", "food2k:{food2k}"]
suites = ["retrieval", "classification"]
[grid.suite_datasets]
classification = ["food2k:{food2k}"]
[params.classification]
preset = "smoke"
"""


def test_data_folders_come_from_the_file_the_data_root_or_one_override(tmp_path: Path) -> None:
    path = suite(tmp_path, GRID)
    grid = load_grid(path)
    assert {c.dataset for c in grid.cells} == {f"sop:{Path('data/Stanford_Online_Products').absolute()}",
                                               f"food2k:{Path('data/Food2K').absolute()}"}  # fmt: skip
    assert grid.data["sop"] == str(Path("data/Stanford_Online_Products").absolute())
    moved = load_grid(path, "/mnt/d", {"food2k": "/elsewhere/F2K"})
    assert {c.dataset for c in moved.cells} == {"sop:/mnt/d/Stanford_Online_Products", "food2k:/elsewhere/F2K"}
    # classification runs on its own datasets only; retrieval on the grid's
    assert sorted((c.suite, c.dataset) for c in moved.cells) == [
        ("classification", "food2k:/elsewhere/F2K"), ("retrieval", "food2k:/elsewhere/F2K"),
        ("retrieval", "sop:/mnt/d/Stanford_Online_Products"),
    ]  # fmt: skip
    with pytest.raises(HarnessError, match=r"--data cars: the suite file's \[data\] names no such folder"):
        load_grid(path, None, {"cars": "/x"})
    path.write_text(GRID.replace('root = "data"\n', ""))
    with pytest.raises(HarnessError, match=r"names \{root\}, which \[data\] does not define \(give --data-root"):
        load_grid(path)
    assert load_grid(path, "/d").data["root"] == "/d"


def test_models_that_cannot_fine_tune_are_skipped_and_listed() -> None:
    grid = make_cells(["pixels:4", "timm:test_resnet[init=random]"], ["digits"], ["pretrained", "finetuned"],
                      ["retrieval"], pair_datasets=True)  # fmt: skip
    assert [(c.model, c.strategy) for c in grid.cells] == [
        ("pixels:4", "pretrained"), ("timm:test_resnet[init=random]", "pretrained"),
        ("timm:test_resnet[init=random]", "finetuned"),
    ]  # fmt: skip
    assert [s.reason for s in grid.skipped] == ["pixels:4 cannot be fine-tuned (only timm architectures can)"]


def test_the_paper_grid_loads_and_fails_fast_listing_every_missing_dataset(tmp_path: Path) -> None:
    grid = load_grid(PAPER, str(tmp_path))
    cells = {(c.suite, c.strategy) for c in grid.cells}
    assert cells == {("retrieval", s) for s in ("pretrained", "toptuned", "finetuned", "crosstuned")} | {
        ("classification", "pretrained"), ("classification", "finetuned"), ("cost", "pretrained")}  # fmt: skip
    assert len({c.model for c in grid.cells}) == 13 and len({c.dataset for c in grid.cells}) == 7
    assert not any(c.suite == "classification" and c.dataset.startswith("sop:") for c in grid.cells)
    (tmp_path / "Food2K").mkdir()  # a folder without its layout
    checks = check_datasets(sorted({c.dataset for c in grid.cells}), tmp_path / "work")
    with pytest.raises(HarnessError) as caught:
        require_ready([], checks, PAPER)
    message = str(caught.value)
    assert message.count("no folder") == 6 and message.count("layout incomplete") == 1  # all at once
    assert "get it from Stanford Online Products: https://cvgl.stanford.edu" in message


@pytest.mark.slow  # imports timm and open_clip (about 20 s on the shared CI box)
def test_weights_fetch_says_when_no_hub_is_reachable_one_line_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    results = fetch(["timm:resnet50.a1_in1k", "open_clip:ViT-B-16@openai", "pixels:4"])
    assert [r.status for r in results] == ["unreachable", "unreachable", "present"]
    assert "no hub reachable (HF_HUB_OFFLINE is set)" in results[0].message
    assert "timm.create_model('resnet50.a1_in1k', pretrained=True)" in results[0].message
    assert "open_clip.create_model_and_transforms('ViT-B-16', pretrained='openai')" in results[1].message


def test_the_estimate_counts_shared_work_once_and_prefers_a_measured_throughput(tmp_path: Path) -> None:
    data = make_all(tmp_path / "data")
    grid = load_grid(MINI, str(data))
    plan = make_plan(grid.cells, "cpu", tmp_path / "work", grid.skipped)
    flops = estimate_plan(plan, "cpu", tmp_path / "work", tmp_path / "none.duckdb")
    assert set(flops.basis.values()) == {"flops", "shared"}
    assert flops.images[next(c.dataset for c in grid.cells if c.dataset.startswith("sop:"))].total == 12  # listed
    assert flops.checkpoint_bytes > 0 and flops.embedding_bytes > 0
    h100 = estimate_plan(plan, "NVIDIA H100 80GB HBM3", tmp_path / "work", tmp_path / "none.duckdb")
    assert h100.total_s < flops.total_s and h100.usd_per_hour == 2.5 and h100.wall_s(4) < h100.wall_s(1)
    db = tmp_path / "ledger.duckdb"  # a measured pipeline throughput of the timm model, as the cost suite writes
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE cost_ledger (model VARCHAR, metric VARCHAR, value DOUBLE, device VARCHAR, gpu VARCHAR)")
    con.execute("INSERT INTO cost_ledger VALUES ('timm:test_resnet[init=random]', 'throughput_pipeline_img_s', "
                "0.001, 'cpu', NULL)")  # fmt: skip
    con.close()
    slow = estimate_plan(plan, "cpu", tmp_path / "work", db)
    assert "measured" in set(slow.basis.values()) and slow.total_s > flops.total_s + 10_000


@pytest.mark.slow  # plans the paper's 648 cells twice, in two processes
def test_plan_prints_the_preflight_and_bench_full_refuses_to_start_without_data(tmp_path: Path) -> None:
    shown = run_cli("plan", str(PAPER), "--data-root", str(tmp_path), "--estimate-for", "H100", cwd=tmp_path,
                    env=OFFLINE)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "fetch the missing weights: ecombench weights fetch" in out and "not found" in out
    assert "blocked by missing weights or data" in out and "device-hours" in out and "USD at 2.50 USD/h" in out
    refused = run_cli("bench-full", str(PAPER), "--data-root", str(tmp_path), cwd=tmp_path, env=OFFLINE)
    assert refused.returncode == 2
    line = refused.stderr.strip()
    assert line.count("\n") == 0 and line.count("weights of") == 13, line
    assert line.count("no folder") == 7  # cars196 twice: its two splits
    assert not (tmp_path / "results.duckdb").exists()  # nothing ran


def test_fixed_costs_are_per_device_once_per_model_and_per_cell(tmp_path: Path) -> None:
    from harness.plan.estimate import device_rates

    data = make_all(tmp_path / "data")
    grid = load_grid(MINI, str(data))
    plan = make_plan(grid.cells, "cpu", tmp_path / "work", grid.skipped)
    models = {p.spec.cell.model for p in plan.cells}
    cost_cells = sum(p.spec.cell.suite == "cost" for p in plan.cells)
    for device in ("cpu", "NVIDIA H100 80GB HBM3"):
        rates = device_rates(device)
        est = estimate_plan(plan, device, tmp_path / "work", tmp_path / "none.duckdb")
        expected = len(models) * (rates.load_s + rates.warmup_s) + len(plan.cells) * rates.prepare_s
        assert est.fixed_s == pytest.approx(expected + cost_cells * 120.0)  # [fixed] cost_cell_s
        assert est.fixed_s < est.total_s
    cpu, h100 = device_rates("cpu"), device_rates("H100")
    assert (cpu.load_s, cpu.warmup_s, cpu.prepare_s) != (h100.load_s, h100.warmup_s, h100.prepare_s)
    assert "assumed" in h100.fixed_source
    shown = run_cli("plan", str(MINI), "--data-root", str(data), "--estimate-for", "H100", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"model load {h100.load_s:g} s and warm-up {h100.warmup_s:g} s once per model" in shown.stdout


def test_every_paper_backbone_has_its_own_cost_figures() -> None:
    """The plan's estimate of the study uses each backbone's own GFLOPs and size, never the ViT-B-sized guess."""
    from harness.plan.estimate import model_figures

    guessed = [model for model in collections()["paper"] if model_figures(model)["match"] == "*"]
    assert guessed == []
    marqo = model_figures("open_clip:hf-hub:Marqo/marqo-ecommerce-embeddings-B")
    assert (marqo["params_m"], marqo["dim"]) == (92.9, 768)


def test_the_estimate_counts_no_extraction_for_a_suite_that_extracts_nothing(tmp_path: Path) -> None:
    """The fine-tune suite trains and evaluates nothing (its declaration: extracts=False): its cell's estimate
    is the fine-tune and the fixed costs, with no embedding pass; the same fine-tune under retrieval adds one."""
    model, dataset = "timm:test_resnet[init=random]", "synthetic[classes=4,per_class=6]"
    for suite, extracted in (("finetune", False), ("retrieval", True)):
        params = {suite: {"backend": "exact"}} if extracted else {}
        grid = make_cells([model], [dataset], ["finetuned"], [suite], params)
        plan = make_plan(grid.cells, "cpu", tmp_path / suite, grid.skipped)
        est = estimate_plan(plan, "cpu", tmp_path / suite, tmp_path / "none.duckdb")
        assert (est.embedding_bytes > 0) is extracted, suite
        assert est.checkpoint_bytes > 0  # both train the fine-tune

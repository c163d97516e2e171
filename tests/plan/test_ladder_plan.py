"""The adaptation ladder in the plan: rungs as fine-tune variants (their own job keys; wiseft shares the plain
fine-tune's), per-rung training estimates from estimates.toml's [ladder] table, suites/ladder.toml's rungs on the
paper's datasets, sweeps of a rung's parameter, clear errors for bad rung parameters, and the ladder policy's
decisions on hand-made figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.compute.suites import resolve_params
from harness.core.errors import HarnessError
from harness.core.keys import content_key
from harness.plan.estimate import estimate_plan
from harness.plan.grid import load_grid, make_cells
from harness.plan.identity import Identities, subjobs
from harness.plan.ladder import Rung, break_even, climb
from harness.plan.plan import make_plan
from harness.spec.cells import Cell

ROOT = Path(__file__).resolve().parents[2]
MODEL, DATA = "timm:test_resnet[init=random]", "synthetic[classes=4,per_class=6]"


def job_of(strategy: str, **given: object) -> tuple[str, str]:
    params = resolve_params("retrieval", strategy, {"backend": "exact", "finetune_preset": "smoke", **given})
    [job] = [j for j in subjobs(Cell(MODEL, DATA, strategy, "retrieval", params), Identities("cpu"))]
    return job.key, job.label


def test_each_rung_is_its_own_finetune_job_and_wiseft_reuses_the_plain_one() -> None:
    ids = Identities("cpu")
    full, _ = job_of("finetuned")
    before = content_key({"model": ids.model(MODEL), "dataset": ids.dataset(DATA), "recipe": ids.recipe("smoke"),
                          "seed": 0, "device": "cpu"})  # fmt: skip
    assert full == before  # full fine-tuning's job key is the one made before the ladder existed
    assert job_of("wiseft", alpha=0.25)[0] == job_of("wiseft", alpha=0.75)[0] == full  # no training of its own
    keys = {job_of("lastk", k=1)[0], job_of("lastk", k=2)[0], job_of("lora")[0], job_of("lpft")[0], full}
    assert len(keys) == 5
    assert job_of("lora", rank=4)[1] == f"lora rank=4 lora_alpha=16 fine-tune of {MODEL} on {DATA} (smoke)"
    key, label = job_of("lastk", k=1, source="digits")  # a rung's source: tuned there, as crosstuned
    assert label == f"lastk k=1 fine-tune of {MODEL} on digits (smoke)" and key != job_of("lastk", k=1)[0]


def test_bad_rung_parameters_are_one_clear_error() -> None:
    with pytest.raises(HarnessError, match=r"^strategy wiseft: parameter alpha=1.5 must be in \[0, 1\]$"):
        resolve_params("retrieval", "wiseft", {"alpha": 1.5})
    with pytest.raises(HarnessError, match=r"^strategy lora: parameter rank=0 must be in \[1, 4096\]$"):
        resolve_params("retrieval", "lora", {"rank": 0})
    with pytest.raises(HarnessError, match=r"^parameter k='2' of suite 'retrieval' must be an integer"):
        resolve_params("retrieval", "lastk", {"k": "2"})
    with pytest.raises(HarnessError, match=r"strategy 'wiseft' is not available in suite 'finetune'"):
        resolve_params("finetune", "wiseft", {})


def test_the_estimate_prices_each_rung_by_its_forward_pass_equivalents(tmp_path: Path) -> None:
    """smoke: 3 epochs. Per image and epoch: full 3 passes, lastk k=2 1 + 2 x 2/12, lora 2; lpft adds one
    probe epoch at 1 pass. The training parts relate as those figures; the fixed costs are the same."""
    params = {"finetune": {"finetune_preset": "smoke", "k": 2, "probe_epochs": 1}}
    grid = make_cells([MODEL], [DATA], ["finetuned", "lastk", "lora", "lpft"], ["finetune"], params)
    plan = make_plan(grid.cells, "cpu", tmp_path / "work", grid.skipped)
    est = estimate_plan(plan, "NVIDIA H100 80GB HBM3", tmp_path / "work", tmp_path / "none.duckdb")
    first = plan.cells[0].spec.key
    training = {
        p.spec.cell.strategy: est.seconds[p.spec.key] - est.rates.prepare_s
        - (est.rates.load_s + est.rates.warmup_s if p.spec.key == first else 0.0)
        for p in plan.cells
    }  # fmt: skip
    full = training["finetuned"]
    assert full > 0
    assert training["lastk"] / full == pytest.approx((1 + 2 * 2 / 12) / 3)
    assert training["lora"] / full == pytest.approx(2 / 3)
    assert training["lpft"] / full == pytest.approx((3 * 3 + 1) / (3 * 3))


def test_the_ladder_suite_file_has_every_rung_on_the_paper_datasets(tmp_path: Path) -> None:
    grid = load_grid(ROOT / "suites" / "ladder.toml", str(tmp_path))
    strategies = {(c.suite, c.strategy) for c in grid.cells}
    rungs = ("lastk", "lora", "lpft", "finetuned")
    assert strategies == {("retrieval", s) for s in ("pretrained", "toptuned", *rungs, "wiseft")} | {
        ("finetune", s) for s in rungs
    }
    assert len({c.dataset for c in grid.cells}) == 6
    timm_model = next(c.model for c in grid.cells if c.strategy == "lastk")
    sop = next(c.dataset for c in grid.cells if c.dataset.startswith("sop:"))
    blends = sorted(
        c.params["alpha"] for c in grid.cells if (c.model, c.dataset, c.strategy) == (timm_model, sop, "wiseft")
    )
    assert blends == [0.25, 0.5, 0.75]  # the alpha sweep: one cell per blend
    pretrained = [c for c in grid.cells if (c.model, c.dataset, c.strategy) == (timm_model, sop, "pretrained")]
    assert len(pretrained) == 1  # another strategy's sweep does not repeat it
    assert any("cannot be fine-tuned" in s.reason and s.strategy == "lora" for s in grid.skipped)  # open_clip


def test_the_policy_climbs_while_the_extrapolated_gain_per_hour_holds() -> None:
    rungs = [Rung("pretrained", None, 0.0), Rung("toptuned", 0.50, 0.1), Rung("lastk", 0.60, 1.0),
             Rung("lora", 0.62, 1.0), Rung("finetuned", 0.70, 10.0)]  # fmt: skip
    # lastk: nothing to extrapolate (one figure below); lora: +0.10 / 1 h = 0.1 per h, above the threshold;
    # finetuned: +0.02 / 10 h = 0.002 per h, below it: stop at lora, having trained four rungs
    decision = climb(rungs, threshold=0.05)
    assert decision.chosen == 3 and decision.spent == pytest.approx(2.1)
    assert decision.why[-1] == "finetuned: stopped (estimated +0.0200 in 10 h: 0.002/h, below 0.05/h)"
    assert climb(rungs, threshold=0.001).chosen == 4  # a low bar: all the way up
    assert climb(rungs, threshold=0.11).chosen == 2  # lora's 0.1/h is below 0.11/h


def test_the_dry_run_says_what_gain_each_rung_needs_for_the_policy_to_climb(tmp_path: Path) -> None:
    params = {"retrieval": {"backend": "exact", "finetune_preset": "smoke", "preset": "smoke"}}
    grid = make_cells([MODEL], [DATA], ["pretrained", "toptuned", "lastk", "lora", "finetuned"], ["retrieval"], params)
    plan = make_plan(grid.cells, "cpu", tmp_path / "work", grid.skipped)
    est = estimate_plan(plan, "cpu", tmp_path / "work", tmp_path / "none.duckdb")
    hours = {p.spec.cell.strategy: est.seconds[p.spec.key] / 3600 for p in plan.cells}
    [line] = break_even(plan, est, threshold=0.05)
    free = hours["pretrained"] + hours["toptuned"] + hours["lastk"]
    assert line == (
        f"ladder policy on {MODEL} / {DATA}: climbs pretrained -> toptuned -> lastk ({free:.3g} h); "
        f"then to lora ({hours['lora']:.3g} h) if lastk gains >= {0.05 * hours['lora']:.3g} over toptuned; "
        f"then to finetuned ({hours['finetuned']:.3g} h) if lora gains >= {0.05 * hours['finetuned']:.3g} over lastk"
    )


def test_without_the_pretrained_rung_the_dry_run_decides_from_the_third_rung(tmp_path: Path) -> None:
    # the policy (climb) decides on lora from toptuned's and lastk's validation figures: only lastk is free
    params = {"retrieval": {"backend": "exact", "finetune_preset": "smoke", "preset": "smoke"}}
    grid = make_cells([MODEL], [DATA], ["toptuned", "lastk", "lora"], ["retrieval"], params)
    plan = make_plan(grid.cells, "cpu", tmp_path / "work", grid.skipped)
    est = estimate_plan(plan, "cpu", tmp_path / "work", tmp_path / "none.duckdb")
    hours = {p.spec.cell.strategy: est.seconds[p.spec.key] / 3600 for p in plan.cells}
    [line] = break_even(plan, est, threshold=0.05)
    assert line == (
        f"ladder policy on {MODEL} / {DATA}: climbs toptuned -> lastk ({hours['toptuned'] + hours['lastk']:.3g} h); "
        f"then to lora ({hours['lora']:.3g} h) if lastk gains >= {0.05 * hours['lora']:.3g} over toptuned"
    )
    decision = climb([Rung("toptuned", 0.5, 0.1), Rung("lastk", 0.5, 1.0), Rung("lora", 0.9, 1.0)], threshold=0.05)
    assert decision.chosen == 1 and decision.why[-1].startswith("lora: stopped")

"""The ladder grid on the paper-mini replicas (suites/ladder-mini.toml), through bench-full: every rung lands its
quality and its cost ledger, and the report's ladder section shows the rungs, the frontier, the cross-tuned
rungs against the source-free ones and the policy's choice against each static strategy."""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb
import pytest

from harness.report.ladder import load
from support import run_cli

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


@pytest.mark.slow
def test_the_ladder_grid_lands_every_rung_and_the_report_shows_the_ladder(tmp_path: Path) -> None:
    done = run_cli(
        "bench-full", str(ROOT / "suites" / "ladder-mini.toml"), "--make-replicas", str(tmp_path / "data"),
        "--db", str(tmp_path / "ladder.duckdb"), "--workdir", str(tmp_path / "work"), "--out", str(tmp_path / "out"),
        "--workers", "0", "--format", "md", cwd=tmp_path, env=ENV,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # 2 datasets x (pretrained, toptuned, lastk, lora, lpft, finetuned, wiseft x 2 alphas, crosstuned x 2 sources)
    assert "20 ok, 0 cached, 0 error of 20 cells" in done.stdout
    with duckdb.connect(str(tmp_path / "ladder.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT dataset, strategy, params->>'alpha', metric, value FROM results WHERE metric IN "
            "('mmp_at_5', 'finetune_trainable_params', 'finetune_stored_bytes', 'finetune_device_s', "
            "'finetune_peak_memory_mb')"
        ).fetchall()
    values = {(d.partition(":")[0], s, a, m): v for d, s, a, m, v in rows}
    for dataset in ("food2k", "fashion"):
        for rung in ("lastk", "lora", "lpft", "finetuned"):
            for metric in ("finetune_trainable_params", "finetune_stored_bytes", "finetune_device_s",
                           "finetune_peak_memory_mb"):  # fmt: skip
                assert values[dataset, rung, None, metric] > 0, (dataset, rung, metric)
        full = values[dataset, "finetuned", None, "finetune_stored_bytes"]
        assert values[dataset, "lora", None, "finetune_stored_bytes"] < full / 10  # an adapter is small
        assert values[dataset, "lastk", None, "finetune_trainable_params"] < values[
            dataset, "finetuned", None, "finetune_trainable_params"]  # fmt: skip
        # wiseft at alpha 1 is the fine-tuned backbone bit for bit: the very same retrieval score
        assert values[dataset, "wiseft", "1.0", "mmp_at_5"] == values[dataset, "finetuned", None, "mmp_at_5"]

    ladders = load(tmp_path / "ladder.duckdb")
    assert [(x.dataset.partition(":")[0], x.model) for x in ladders] == [
        ("fashion", "timm:test_resnet[init=random]"), ("food2k", "timm:test_resnet[init=random]")]  # fmt: skip
    for ladder in ladders:
        labels = {s.label for s in ladder.steps}
        assert {"pretrained", "toptuned", "lastk[k=1]", "lora[rank=2,lora_alpha=4]", "lpft[probe_epochs=1]",
                "finetuned", "wiseft[alpha=0.5]", "wiseft[alpha=1.0]"} <= labels  # fmt: skip
        assert "pretrained" in ladder.on_frontier  # nothing is cheaper than no training
        [(cross, delta)] = [(s, d) for s, d in ladder.transfers if s.params["source"] != ladder.dataset]
        own = next(s for s in ladder.steps if s.label == "finetuned")
        assert delta == pytest.approx(cross.values["mmp_at_5"] - own.values["mmp_at_5"])
        policy = ladder.policy()
        assert policy is not None
        pick, decision, compared = policy
        assert pick.strategy in ("toptuned", "lastk", "lora", "finetuned") and decision.chosen >= 2  # climbs twice
        assert [c.strategy for c in compared][:2] == ["pretrained", "toptuned"]

    report = (tmp_path / "out" / "report.md").read_text()
    section = report[report.index("## The adaptation ladder") :]
    assert section.count("| ★ | ⚠ pretrained |") == 2
    assert re.search(r"crosstuned\\\[tuning=finetuned\\\] ← food2k:\S+: [+-]\d\.\d{4} mMP@5 against finetuned", section)
    assert section.count("The `ladder` policy (threshold 0.05 validation points per device-hour) stops at") == 2

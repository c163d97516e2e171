"""benchmarks/cost_claim.py on the CPU at a tiny scale: SOP's shape, and the fine-tuning / top-tuning ratio
printed next to the paper's claim (the figure itself is for a GPU)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from harness.compute.datasets import resolve_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import cost_claim


def test_the_generated_data_has_sops_shape(tmp_path: Path) -> None:
    assert cost_claim.shape(1.0) == {"train": (59_551, 11_318), "test": (60_502, 11_316)}
    counts = cost_claim.write_sop_shaped(tmp_path, 0.001, 32, processes=1)
    assert counts == {"train": (60, 11), "test": (61, 11)}
    manifest = resolve_dataset(f"folder:{tmp_path}").manifest()
    by_split = {s: [manifest.items[i].label for i in manifest.indices(s)] for s in ("train", "test")}
    assert {s: (len(v), len(set(v))) for s, v in by_split.items()} == counts
    assert not set(by_split["train"]) & set(by_split["test"])  # SOP's classes: train and test disjoint
    sizes = [by_split["train"].count(c) for c in set(by_split["train"])]
    assert min(sizes) == 5 and max(sizes) == 6  # SOP's mean class size, spread evenly


@pytest.mark.slow
def test_the_benchmark_prints_both_costs_and_the_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--scale", "0.001", "--size", "64", "--finetune-preset", "smoke", "--toptune-preset", "smoke",
            "--epochs", "2", "--workers", "0", "--batch-size", "16"]  # fmt: skip
    assert cost_claim.main(argv) == 0
    out = capsys.readouterr().out
    finetune = re.search(r"full fine-tuning: ([\d.]+) s/epoch x 3 epochs = ([\d,.]+) device-s", out)
    toptune = re.search(r"top-tuning: embeddings ([\d.]+) s \+ search ([\d.]+) s \(2 trials\)", out)
    ratio = re.search(r"ratio fine-tuning / top-tuning = ([\d.]+)x +\(paper: top-tuning is >= 10x cheaper", out)
    assert finetune and toptune and ratio, out
    assert float(finetune[2].replace(",", "")) == pytest.approx(3 * float(finetune[1]), abs=0.01)  # smoke: 3 epochs
    assert float(toptune[1]) > 0 and float(toptune[2]) > 0 and float(ratio[1]) > 0

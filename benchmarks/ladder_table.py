"""The adaptation ladder on a CPU, as one table: every rung (pretrained, toptuned, lastk, lora, lpft, finetuned,
wiseft) of a small timm backbone on a small labelled dataset, run through bench-full, then per rung its
retrieval quality, validation figure, training device-seconds, trainable parameters, stored bytes and peak
memory, and the ``ladder`` policy's choice against each static strategy (harness.report.ladder).

    python benchmarks/ladder_table.py                                     # test_resnet on digits
    python benchmarks/ladder_table.py --dataset "fashion_mnist:/usr/share/datasets/fashion-mnist[per_class=100]"
    python benchmarks/ladder_table.py --model "timm:resnet18[init=random]" --recipe quick --keep ./ladder-run

Random-init backbones check the ladder's costs, not what pre-training buys: with no pre-training the frozen
rungs have nothing to keep.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SUITE = """
[grid]
models = ["{model}"]
datasets = ["{dataset}"]
strategies = ["pretrained", "toptuned", "lastk", "lora", "lpft", "finetuned", "wiseft"]
suites = ["retrieval"]

[params.retrieval]
backend = "exact"
preset = "{preset}"
finetune_preset = "{recipe}"
k = {k}
rank = {rank}
lora_alpha = {lora_alpha}
probe_epochs = {probe_epochs}
alpha = [0.5]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="timm:test_resnet[init=random]")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--recipe", default="quick", help="fine-tuning preset (harness/presets/finetune.toml)")
    parser.add_argument("--preset", default="smoke", help="top-tuning preset (harness/presets/toptune.toml)")
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--lora-alpha", type=int, default=8)
    parser.add_argument("--probe-epochs", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=None, help="the policy's threshold (points per hour)")
    parser.add_argument("--keep", type=Path, default=None, help="run in this folder and keep it")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="ladder-"))
    folder.mkdir(parents=True, exist_ok=True)
    suite = folder / "ladder.toml"
    suite.write_text(SUITE.format(**vars(args)))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    command = [sys.executable, "-m", "harness.cli", "bench-full", str(suite), "--db", str(folder / "ladder.duckdb"),
               "--workdir", str(folder / "work"), "--out", str(folder / "reports"), "--workers", "0",
               "--format", "md"]  # fmt: skip
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"bench-full failed:\n{done.stderr[-3000:]}")

    from harness.plan.ladder import DEFAULT_THRESHOLD
    from harness.report.ladder import load

    for ladder in load(folder / "ladder.duckdb", threshold=args.threshold or DEFAULT_THRESHOLD):
        print(f"\n{ladder.dataset} · {ladder.model} (folder {folder})\n")
        print("| rung | mMP@5 | validation | train device-s | trainable params | stored bytes | peak MB | frontier |")
        print("|---|---:|---:|---:|---:|---:|---:|:-:|")
        for s in ladder.steps:
            v = s.values
            val = f"{s.validation:.3f}" if s.validation is not None else "—"
            params = f"{v['finetune_trainable_params']:,.0f}" if "finetune_trainable_params" in v else "—"
            stored = f"{v['finetune_stored_bytes']:,.0f}" if "finetune_stored_bytes" in v else "—"
            peak = f"{v['finetune_peak_memory_mb']:,.0f}" if "finetune_peak_memory_mb" in v else "—"
            star = "★" if s.label in ladder.on_frontier else ""
            print(f"| {s.label} | {v.get('mmp_at_5', float('nan')):.4f} | {val} | {s.hours * 3600:.1f} | {params} "
                  f"| {stored} | {peak} | {star} |")  # fmt: skip
        policy = ladder.policy()
        if policy is None:
            continue
        pick, decision, compared = policy
        print(f"\npolicy (threshold {ladder.threshold:g}/h) stops at {pick.label} after "
              f"{decision.spent * 3600:.1f} device-s: {'; '.join(decision.why)}\n")  # fmt: skip
        print("| static strategy | quality lost by the policy | device-s saved by the policy |")
        print("|---|---:|---:|")
        for c in compared:
            print(f"| {c.strategy} | {c.quality_lost:+.4f} | {c.hours_saved * 3600:+.1f} |")


if __name__ == "__main__":
    main()

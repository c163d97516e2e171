"""The fine-tuning suite's declaration; its run() is harness.compute.suites.finetune."""

from __future__ import annotations

from typing import Any

from harness.spec.suites import Suite

#: ``gpus``: training processes, one per GPU (torchrun); not part of the job's key, the global batch is
DEFAULTS: dict[str, Any] = {"gpus": 1}
#: the ladder's training rungs are fine-tune variants; wiseft trains nothing of its own (it blends `finetuned`)
STRATEGIES = ("finetuned", "lastk", "lora", "lpft")

SUITE = Suite(
    name="finetune",
    description="fine-tune the backbone on the training split; its metrics are the training's cost",
    run_module="harness.compute.suites.finetune",
    defaults=DEFAULTS,
    strategies=STRATEGIES,
    trains=("finetune",),
    extracts=False,  # it trains and evaluates nothing itself
    training_gpus="gpus",
)

"""The fine-tuning suite: fine-tune the backbone on the training split (``ecombench finetune``).

It evaluates nothing itself: its metrics are the training's cost (time, device-hours, price, peak memory,
throughput) and the last held-out accuracy; the per-epoch curve lands in ``runs.details`` (view
``training_curves``). The ``finetuned`` strategy of the retrieval and classification suites evaluates the
resulting checkpoint, reusing this job when it has finished.
"""

from __future__ import annotations

from harness.compute.suites import Context
from harness.compute.suites.tuning import finetuned_backbone, tuned_on


def run(ctx: Context) -> dict[str, float]:
    _, source = tuned_on(ctx)  # a ladder rung's optional source dataset
    _, costs = finetuned_backbone(ctx, source, gpus=int(ctx.params["gpus"]))
    return costs

"""The fine-tunes finished under a workdir, as models (``ecombench models list``); reads only the
checkpoints' safetensors headers, so listing imports no torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.compute.finetune import checkpoints
from harness.storage.subjobs import finished


def finished_jobs(workdir: Path) -> list[dict[str, Any]]:
    """The fine-tunes finished under ``workdir``, as models: id, starting point, data, recipe, last held-out
    accuracy. Reads only the checkpoints' headers (no torch import)."""
    found = []
    for job in finished(workdir, "finetune"):
        final = job.marker
        meta = checkpoints.read_metadata(final)
        spec, curve = meta["spec"], meta["curve"]
        found.append(
            {
                "id": f"checkpoint:{spec['architecture']}@{final.resolve()}",
                "base": spec["base_model"],
                "dataset": spec["dataset"],
                "preset": spec["recipe_name"],
                "epochs": meta["epoch"],
                "val_accuracy": curve[-1].get("val_accuracy") if curve else None,
            }
        )
    return found

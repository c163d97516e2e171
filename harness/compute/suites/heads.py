"""The top-tuned head of a cell's model and dataset, shared by the classification and retrieval suites."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from harness.compute.extract.embeddings import split_embeddings
from harness.storage.subjobs import SubJobFiles

if TYPE_CHECKING:
    from harness.compute.datasets.base import Dataset
    from harness.compute.models.base import EmbeddingModel
    from harness.compute.suites import Context
    from harness.compute.toptune.train import TrainedHead


def trained_head(ctx: Context, model: EmbeddingModel, dataset: Dataset) -> TrainedHead:
    """Search and train (or load) the head on ``dataset``'s training-split embeddings from ``model``; records
    the search in details.

    The search is the cell's ``toptune`` sub-job (harness.plan.identity keys it by the backbone, the data, the
    preset and the seed), so the classification cell and the ``toptuned`` retrieval cell of one model and
    dataset share one search, as do all cross-tuned cells of one source. It runs under the job's lock: a
    second process waits for it and reuses it.
    """
    from harness.compute.toptune.presets import load_preset
    from harness.compute.toptune.train import train_head

    job = ctx.spec.subjob("toptune")
    preset = load_preset(ctx.params["preset"])
    seed = int(ctx.params["seed"])
    manifest = dataset.manifest()
    x, _ = split_embeddings(model, dataset, "train", ctx.cache, ctx.extraction)
    labels = np.asarray(manifest.labels(manifest.indices("train")))
    what = f"{model.model_id} on {dataset.id}/train"
    files = SubJobFiles.of(ctx.workdir, job.kind, job.key)
    with files.locked(job.label):
        overwrite = files.stale(ctx.force_since)
        trains = overwrite or not files.done()
        head = train_head(x, labels, preset, seed, files.folder, overwrite=overwrite, what=what, device=ctx.spec.device)
        if trains:
            files.record_training(job.label)
    from harness.compute.toptune import keras_backend

    ctx.details.update(
        toptune_job=job.key,
        keras_backend=keras_backend(),
        preset={"name": ctx.params["preset"], **preset.as_dict()},
        best_hyperparameters=head.best_hyperparameters,
        trials=head.trials,
        # a search killed and resumed: its cost (tuner_search_s) sums the time of every attempt
        search_resumed=len(head.search_attempts_s) > 1,
        search_attempts_s=head.search_attempts_s,
    )
    return head


def head_costs(head: TrainedHead) -> dict[str, Any]:
    """The head's share of the cost ledger (names distinct from the retrieval suite's own ``search_s``),
    priced as time on the device the head trained on (the cell's own, harness/compute/toptune/device.py)."""
    from harness.compute.cost.prices import price_metrics

    return {
        "tuner_trials": float(len(head.trials)),
        "tuner_search_s": head.search_s,  # all attempts: a resumed search is charged for each
        "tuner_search_attempts": float(max(1, len(head.search_attempts_s))),
        "head_train_s": head.final_train_s,
        "head_epochs": float(head.final_epochs),
        "head_val_accuracy": head.val_accuracy,
        "head_threads": float(head.threads),  # torch threads of the search and retraining (0: an older head)
        **price_metrics(head.search_s + head.final_train_s, head.device, prefix="toptune_"),
    }

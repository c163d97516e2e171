"""The top-tuned head of a cell's model and dataset, shared by the classification and retrieval suites."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from harness.embed import split_embeddings
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.datasets.base import Dataset
    from harness.models.base import EmbeddingModel
    from harness.suites import Context
    from harness.toptune.train import TrainedHead


def trained_head(ctx: Context, model: EmbeddingModel, dataset: Dataset) -> TrainedHead:
    """Search and train (or load) the head on ``dataset``'s training-split embeddings from ``model``; records
    the search in details.

    The job directory is keyed by the training embeddings + preset + seed, so the classification cell and
    the ``toptuned`` retrieval cell of one model and dataset share a single search, and so do all cross-tuned
    cells of one source.
    """
    from harness.toptune.presets import load_preset
    from harness.toptune.train import job_key, train_head

    preset = load_preset(ctx.params["preset"])
    if preset.as_dict() != ctx.params["preset_config"]:
        raise HarnessError(f"top-tuning preset '{ctx.params['preset']}' changed since this cell was planned; re-run")
    seed = int(ctx.params["seed"])
    manifest = dataset.manifest()
    x, _ = split_embeddings(model, dataset, "train", ctx.cache, ctx.extraction)
    labels = np.asarray(manifest.labels(manifest.indices("train")))
    key = job_key(ctx.cache.key(model, manifest, "train"), preset, seed)
    what = f"{model.model_id} on {dataset.id}/train"
    head = train_head(x, labels, preset, seed, ctx.workdir / "toptune" / key, overwrite=ctx.force, what=what)
    ctx.details.update(
        toptune_job=key,
        preset={"name": ctx.params["preset"], **preset.as_dict()},
        best_hyperparameters=head.best_hyperparameters,
        trials=head.trials,
    )
    return head


def head_costs(head: TrainedHead) -> dict[str, Any]:
    """The head's share of the cost ledger (names distinct from the retrieval suite's own ``search_s``),
    priced as device time: Keras on torch trains on the GPU when there is one."""
    import torch

    from harness.cost.prices import price_metrics

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return {
        "tuner_trials": float(len(head.trials)),
        "tuner_search_s": head.search_s,
        "head_train_s": head.final_train_s,
        "head_epochs": float(head.final_epochs),
        "head_val_accuracy": head.val_accuracy,
        "head_threads": float(head.threads),  # torch threads of the search and retraining (0: an older head)
        **price_metrics(head.search_s + head.final_train_s, device, prefix="toptune_"),
    }

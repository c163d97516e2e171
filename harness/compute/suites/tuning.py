"""The strategies at run time (harness.spec.strategies declares them): which backbone a cell's embeddings come
from, and the fine-tune it consumes, trained once under its sub-job's lock. A ladder rung is a variant of that
fine-tune (its ``adaptation``); ``wiseft`` blends the plain fine-tune's weights with the pre-trained ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.core.errors import HarnessError
from harness.spec.strategies import get_strategy
from harness.storage.subjobs import SubJobFiles

if TYPE_CHECKING:
    from harness.compute.datasets.base import Dataset
    from harness.compute.models.base import EmbeddingModel
    from harness.compute.suites import Context


def tuned_on(ctx: Context) -> tuple[str | None, Dataset]:
    """(the tuning applied, or None for pre-trained; the dataset it is trained on)."""
    strategy = get_strategy(ctx.strategy)
    trained_on = strategy.trained_on(ctx.dataset.id, ctx.params)
    return strategy.tuning_of(ctx.params), ctx.dataset if trained_on == ctx.dataset.id else ctx.resolve(trained_on)


def backbone(ctx: Context, tuning: str | None, source: Dataset) -> tuple[EmbeddingModel, dict[str, float]]:
    """The model whose embeddings the cell uses, with the cost of making it (nothing for a loaded one)."""
    if tuning == "finetuned":
        model, costs = finetuned_backbone(ctx, source)
        blend = get_strategy(ctx.strategy).interpolates
        if blend is not None:
            model = interpolated(ctx, model, float(ctx.params[blend]))
        return model, costs
    return ctx.model, {}


def interpolated(ctx: Context, finetuned: EmbeddingModel, alpha: float) -> EmbeddingModel:
    """WiSE-FT: the cell's plain fine-tune blended with its starting point at ``alpha``
    (harness.compute.finetune.wiseft), loaded as a ``checkpoint:`` model."""
    from harness.compute.finetune.spec import read_spec
    from harness.compute.finetune.wiseft import blend
    from harness.compute.models import load_model

    job = ctx.spec.subjob("finetune")
    folder = SubJobFiles.of(ctx.workdir, job.kind, job.key).folder
    path = blend(folder, alpha)
    ctx.details.update(wiseft_alpha=alpha)
    return load_model(f"checkpoint:{read_spec(folder).architecture}@{path.resolve()}")


def finetuned_backbone(ctx: Context, dataset: Dataset, gpus: int = 1) -> tuple[EmbeddingModel, dict[str, float]]:
    """The cell's model fine-tuned on ``dataset`` (trained now, resumed, or found finished), loaded as a
    ``checkpoint:`` model; records the job, the recipe and the per-epoch curve in the cell's details."""
    from harness.compute.cost.prices import price_metrics
    from harness.compute.finetune.job import run_job
    from harness.compute.finetune.spec import JobSpec
    from harness.compute.models import load_model

    job = ctx.spec.subjob("finetune")
    adaptation = get_strategy(ctx.strategy).adaptation_of(ctx.params)
    spec = JobSpec.plan(ctx.model, dataset, ctx.params["finetune_preset"], int(ctx.params["seed"]), adaptation)
    files = SubJobFiles.of(ctx.workdir, job.kind, job.key)
    meta = run_job(spec, files.folder, ctx.extraction.device, gpus, restart_before=ctx.force_since)
    model = load_model(f"checkpoint:{spec.architecture}@{files.marker.resolve()}")
    curve = meta["curve"]
    if not curve:
        raise HarnessError(f"fine-tune {job.key} finished without a training curve")
    ctx.details.update(
        finetune_job=job.key,
        finetuned_model=model.model_id,
        finetune_source=spec.dataset,
        finetune_preset={"name": spec.recipe_name, **spec.recipe},
        finetune_precision=meta["precision"],
        finetune_world_size=meta["world_size"],
        **({"adaptation": spec.adaptation} if spec.adaptation else {}),
        curve=curve,
    )
    costs = {
        "finetune_s": meta["train_s"],
        "finetune_epochs": float(meta["epoch"]),
        "finetune_peak_memory_mb": meta["peak_memory_mb"],
        "finetune_images_per_s": float(sum(r["images_per_s"] for r in curve) / len(curve)),
        **price_metrics(meta["train_s"] * meta["world_size"], meta["device"], prefix="finetune_"),
    }
    for name in ("trainable_params", "stored_bytes"):  # the ladder's ledger (a job finished before: absent)
        if name in meta:
            costs[f"finetune_{name}"] = float(meta[name])
    if "val_accuracy" in curve[-1]:
        costs["finetune_val_accuracy"] = curve[-1]["val_accuracy"]
    return model, costs

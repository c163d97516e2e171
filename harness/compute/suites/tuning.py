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
    """WiSE-FT: the fine-tune's weights blended with its starting point's, ``torch.lerp(pre, fine, alpha)``
    (exact at both ends: alpha 0 is the pre-trained backbone bit for bit, alpha 1 the fine-tuned one), saved
    beside the fine-tune's done marker once per alpha and loaded as a ``checkpoint:`` model. The fine-tune's
    new classifier is kept as trained (the pre-trained one has another shape); integer buffers (batch-norm
    counters) are the fine-tune's."""
    import torch

    from harness.compute.finetune import checkpoints
    from harness.compute.finetune.adapt import classifier_name
    from harness.compute.finetune.spec import read_spec
    from harness.compute.models import load_model

    job = ctx.spec.subjob("finetune")
    files = SubJobFiles.of(ctx.workdir, job.kind, job.key)
    target = files.folder / f"wiseft-{alpha:.6g}.safetensors"
    with files.locked(f"WiSE-FT blend alpha={alpha:g} of {job.key}"):
        if not target.exists():
            tensors, meta = checkpoints.load(files.marker)
            start = read_spec(files.folder).build_model()
            head, pre = classifier_name(start) + ".", start.state_dict()
            blended = {
                name: torch.lerp(pre[name], fine, alpha)
                if name in pre and fine.is_floating_point() and not name.startswith(head)
                else fine
                for name, fine in tensors.items()
            }
            checkpoints.save(target, blended, {**meta, "wiseft_alpha": alpha})
    ctx.details.update(wiseft_alpha=alpha)
    return load_model(f"checkpoint:{read_spec(files.folder).architecture}@{target.resolve()}")


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

"""Tuning strategies shared by the suites: which backbone and which head a cell's embeddings come from.

    pretrained   the backbone as loaded
    toptuned     an MLP head top-tuned on the evaluated dataset's training split (harness.suites.heads)
    finetuned    the whole backbone fine-tuned on the evaluated dataset's training split (harness.finetune)
    crosstuned   tuned (``tuning`` = finetuned or toptuned) on the ``source`` dataset's training split,
                 evaluated on another dataset: the paper's transfer experiment

A grid that lists ``crosstuned`` without a ``source`` gets one cell per (source, target) pair of its
datasets (``PAIRED``), the diagonal included as the in-domain reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.datasets.base import Dataset
    from harness.models.base import EmbeddingModel
    from harness.suites import Context

TOPTUNE: dict[str, Any] = {"preset": "quick", "seed": 0}
FINETUNE: dict[str, Any] = {"finetune_preset": "quick", "seed": 0}
CROSS: dict[str, Any] = {"source": "", "tuning": "finetuned", **TOPTUNE, **FINETUNE}
TUNINGS = ("finetuned", "toptuned")
#: strategy -> its parameter that a grid fills with each of its datasets in turn
PAIRED = {"crosstuned": "source"}
#: parameters that expand_params derives from others (never given by a user)
DERIVED = ("preset_config", "finetune_config")


def expand_params(params: dict[str, Any]) -> dict[str, Any]:
    """Spell out what a cell's parameters refer to, so that its key changes when that data changes and a bad
    reference fails before anything runs: the presets' contents, the source dataset's canonical id."""
    from harness.finetune.recipe import load_recipe
    from harness.toptune.presets import load_preset

    params = dict(params)
    if "tuning" in params:  # crosstuned: keep only the preset of the tuning it uses
        if params["tuning"] not in TUNINGS:
            raise HarnessError(f"tuning={params['tuning']}: expected one of {', '.join(TUNINGS)}")
        if not params["source"]:
            raise HarnessError("strategy crosstuned needs a source dataset: --param source=DATASET")
        from harness.datasets import resolve_dataset

        params["source"] = resolve_dataset(str(params["source"])).id
        params.pop("preset" if params["tuning"] == "finetuned" else "finetune_preset")
    if "preset" in params:
        params["preset_config"] = load_preset(params["preset"]).as_dict()
    if "finetune_preset" in params:
        params["finetune_config"] = load_recipe(params["finetune_preset"]).as_dict()
    return params


def tuned_on(ctx: Context) -> tuple[str | None, Dataset]:
    """(the tuning applied, or None for pre-trained; the dataset it is trained on)."""
    if ctx.strategy == "crosstuned":
        return ctx.params["tuning"], ctx.resolve(ctx.params["source"])
    if ctx.strategy in TUNINGS:
        return ctx.strategy, ctx.dataset
    return None, ctx.dataset


def backbone(ctx: Context, tuning: str | None, source: Dataset) -> tuple[EmbeddingModel, dict[str, float]]:
    """The model whose embeddings the cell uses, with the cost of making it (nothing for a loaded one)."""
    if tuning == "finetuned":
        return finetuned_backbone(ctx, source)
    return ctx.model, {}


def finetuned_backbone(
    ctx: Context, dataset: Dataset, gpus: int = 1, restart: bool = False
) -> tuple[EmbeddingModel, dict[str, float]]:
    """The cell's model fine-tuned on ``dataset`` (trained now, resumed, or found finished), loaded as a
    ``checkpoint:`` model; records the job, the recipe and the per-epoch curve in the cell's details."""
    from harness.cost.prices import price_metrics
    from harness.finetune.job import JobSpec, run_job
    from harness.models import load_model

    spec = JobSpec.plan(ctx.model, dataset, ctx.params["finetune_preset"], int(ctx.params["seed"]))
    if spec.recipe != ctx.params["finetune_config"]:
        raise HarnessError(f"fine-tuning preset '{spec.recipe_name}' changed since this cell was planned; re-run")
    job_dir = ctx.workdir / "finetune" / spec.key
    meta = run_job(spec, job_dir, ctx.extraction.device, gpus, restart)
    model = load_model(f"checkpoint:{spec.architecture}@{(job_dir / 'final.safetensors').resolve()}")
    curve = meta["curve"]
    ctx.details.update(
        finetune_job=spec.key,
        finetuned_model=model.model_id,
        finetune_source=spec.dataset,
        finetune_preset={"name": spec.recipe_name, **spec.recipe},
        finetune_precision=meta["precision"],
        finetune_world_size=meta["world_size"],
        curve=curve,
    )
    costs = {
        "finetune_s": meta["train_s"],
        "finetune_epochs": float(meta["epoch"]),
        "finetune_peak_memory_mb": meta["peak_memory_mb"],
        "finetune_images_per_s": float(sum(r["images_per_s"] for r in curve) / len(curve)),
        **price_metrics(meta["train_s"] * meta["world_size"], meta["device"], prefix="finetune_"),
    }
    if "val_accuracy" in curve[-1]:
        costs["finetune_val_accuracy"] = curve[-1]["val_accuracy"]
    return model, costs

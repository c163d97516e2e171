"""A fine-tuning job's full record: what it starts from (with the digest of the weights actually loaded),
what it trains on, the recipe and the seed. Written to ``job.json`` when the job starts; the job's folder
name is its sub-job key (harness.plan.identity), computed without loading anything.

The job trains with its starting point's own preprocessing (normalisation, interpolation, crop: the resolved
timm data config of the loaded base model), not with whatever timm's default tag of the bare architecture
has: a ``published:resnet50@dino`` trains and validates with DINO's evaluation transform. The finished
checkpoint records it, so its ``checkpoint:`` model embeds with it too (harness.compute.models.checkpoint_family).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.errors import HarnessError

if TYPE_CHECKING:
    import torch

    from harness.compute.datasets.base import Dataset
    from harness.compute.models.base import EmbeddingModel


@dataclass(frozen=True)
class JobSpec:
    base_model: str  # canonical model id of the starting point
    architecture: str  # the timm architecture to build
    base_weights: str  # weights digest of the starting point
    random_init: bool
    dataset: str
    manifest: str  # manifest digest of the dataset trained on
    num_classes: int
    recipe: dict[str, Any]
    recipe_name: str
    seed: int
    # the starting point's preprocessing as timm pretrained-config fields, JSON (empty in a job.json written
    # before it was recorded: timm's default config for the architecture, as then)
    preprocessing: dict[str, Any] = field(default_factory=dict)
    # the ladder rung trained (harness.compute.finetune.adapt): {"method": "lastk", "k": 2}, ...; empty for
    # full fine-tuning (and in every job.json written before rungs existed)
    adaptation: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label(self) -> str:
        rung = "".join(f", {k}={v}" for k, v in self.adaptation.items() if k != "method" and v != "")
        what = f"{self.adaptation['method']} fine-tune" if self.adaptation else "fine-tune"
        return f"{what} of {self.base_model} on {self.dataset} ({self.recipe_name}{rung})"

    @classmethod
    def plan(
        cls, model: EmbeddingModel, dataset: Dataset, recipe_name: str, seed: int,
        adaptation: dict[str, Any] | None = None,
    ) -> JobSpec:  # fmt: skip
        from harness.compute.finetune.recipe import load_recipe
        from harness.compute.models import FAMILIES
        from harness.compute.models.checkpoint_family import preprocessing_record
        from harness.spec.ids import parse_ref

        ref = parse_ref(model.model_id, "model")
        if not FAMILIES[ref.kind].timm_architecture:
            supported = ", ".join(name for name, family in FAMILIES.items() if family.timm_architecture)
            raise HarnessError(
                f"full fine-tuning builds timm architectures; model '{model.model_id}' is of family '{ref.kind}' "
                f"(supported: {supported})"
            )
        manifest = dataset.manifest()
        return cls(
            base_model=model.model_id,
            architecture=ref.split_at()[0],
            base_weights=model.weights_digest,
            random_init=model.random_init,
            dataset=dataset.id,
            manifest=manifest.digest,
            num_classes=manifest.num_classes,
            recipe=load_recipe(recipe_name).as_dict(),
            recipe_name=recipe_name,
            seed=seed,
            preprocessing=preprocessing_record(model.preprocessing, f"model '{model.model_id}'"),
            adaptation=dict(adaptation or {}),
        )

    def build_model(self) -> torch.nn.Module:
        """The architecture with a fresh ``num_classes`` head, holding the starting point's exact weights, its
        timm pretrained config carrying the starting point's preprocessing (what the train and held-out
        transforms resolve, harness.compute.finetune.data)."""
        import timm

        from harness.compute.models import load_model
        from harness.compute.models.checkpoint_family import load_body, preprocessing_overlay, preprocessing_record

        base = load_model(self.base_model)
        if base.weights_digest != self.base_weights:
            raise HarnessError(f"the weights of '{self.base_model}' changed since the fine-tune was planned")
        extra: dict[str, Any] = {"drop_path_rate": self.recipe["drop_path"]} if self.recipe["drop_path"] else {}
        if self.preprocessing:
            if preprocessing_record(base.preprocessing, self.base_model) != self.preprocessing:
                raise HarnessError(f"the preprocessing of '{self.base_model}' changed since the fine-tune was planned")
            extra["pretrained_cfg_overlay"] = preprocessing_overlay(self.preprocessing, self.label())
        model = timm.create_model(self.architecture, pretrained=False, num_classes=self.num_classes, **extra)
        load_body(model, base.module.state_dict(), f"the starting point '{self.base_model}' of a fine-tune")
        return model


def key_fields(model_id: str) -> dict[str, Any]:
    """What a fine-tune's job key takes in beyond the model's fingerprint, found without loading (its family's
    ``finetune_key``: for a ``published:`` starting point, the authors' preprocessing it trains with)."""
    from harness.compute.models import FAMILIES
    from harness.spec.ids import parse_ref

    ref = parse_ref(model_id, "model")
    return FAMILIES[ref.kind].finetune_key(ref)


def read_spec(job_dir: Path) -> JobSpec:
    try:
        return JobSpec(**json.loads((job_dir / "job.json").read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise HarnessError(f"'{job_dir}' holds no readable fine-tuning job (job.json): {exc}") from exc

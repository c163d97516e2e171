"""A fine-tuning job's full record: what it starts from (with the digest of the weights actually loaded),
what it trains on, the recipe and the seed. Written to ``job.json`` when the job starts; the job's folder
name is its sub-job key (harness.identity), computed without loading anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError

if TYPE_CHECKING:
    import torch

    from harness.datasets.base import Dataset
    from harness.models.base import EmbeddingModel


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label(self) -> str:
        return f"fine-tune of {self.base_model} on {self.dataset} ({self.recipe_name})"

    @classmethod
    def plan(cls, model: EmbeddingModel, dataset: Dataset, recipe_name: str, seed: int) -> JobSpec:
        from harness.finetune.recipe import load_recipe
        from harness.ids import parse_ref
        from harness.models import FAMILIES

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
        )

    def build_model(self) -> torch.nn.Module:
        """The architecture with a fresh ``num_classes`` head, holding the starting point's exact weights."""
        import timm

        from harness.models import load_model
        from harness.models.checkpoint_family import load_body

        base = load_model(self.base_model)
        if base.weights_digest != self.base_weights:
            raise HarnessError(f"the weights of '{self.base_model}' changed since the fine-tune was planned")
        extra = {"drop_path_rate": self.recipe["drop_path"]} if self.recipe["drop_path"] else {}
        model = timm.create_model(self.architecture, pretrained=False, num_classes=self.num_classes, **extra)
        load_body(model, base.module.state_dict(), f"the starting point '{self.base_model}' of a fine-tune")
        return model


def read_spec(job_dir: Path) -> JobSpec:
    try:
        return JobSpec(**json.loads((job_dir / "job.json").read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise HarnessError(f"'{job_dir}' holds no readable fine-tuning job (job.json): {exc}") from exc

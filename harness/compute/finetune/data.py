"""Training data for a fine-tune: the split's items, the train/val transforms, and a loader-safe dataset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from harness.compute.datasets.splits import stratified_split
from harness.core.errors import HarnessError

if TYPE_CHECKING:
    from harness.compute.datasets.base import Dataset, Item
    from harness.compute.finetune.recipe import Recipe
    from harness.compute.finetune.spec import JobSpec


class TrainImages(torch.utils.data.Dataset[tuple[torch.Tensor | None, int, str]]):
    """(image tensor, label, error) per item; an unreadable image travels back as text, not as a wrapped
    worker exception, so the message stays one clear line."""

    def __init__(self, dataset: Dataset, items: list[Item], transform: Any) -> None:
        self.dataset, self.items, self.transform = dataset, items, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int, str]:
        item = self.items[index]
        try:
            return self.transform(self.dataset.load_image(item)), item.label, ""
        except HarnessError as exc:
            return None, item.label, str(exc)


def collate(batch: list[tuple[torch.Tensor | None, int, str]]) -> tuple[torch.Tensor | None, torch.Tensor, list[str]]:
    errors = [error for _, _, error in batch if error]
    labels = torch.tensor([label for _, label, _ in batch])
    images = None if errors else torch.stack([t for t, _, _ in batch if t is not None])
    return images, labels, errors


def split_items(spec: JobSpec, recipe: Recipe, workdir: Path) -> tuple[list[Item], list[Item], Dataset]:
    """The training split, minus a seeded stratified hold-out of ``val_fraction`` for the curve. The dataset's
    prepared manifest is the one in ``workdir`` (the job's own), where the planning process found or built it."""
    from harness.compute.datasets import resolve_dataset

    dataset = resolve_dataset(spec.dataset, workdir)
    manifest = dataset.manifest()
    if manifest.digest != spec.manifest:
        raise HarnessError(f"dataset '{spec.dataset}' changed since fine-tuning job was planned; re-run")
    items = [manifest.items[i] for i in manifest.indices("train")]
    if not recipe.val_fraction:
        return items, [], dataset
    sides = stratified_split([item.label for item in items], recipe.val_fraction, spec.seed)
    train = [item for item, side in zip(items, sides, strict=True) if side == "train"]
    held_out = [item for item, side in zip(items, sides, strict=True) if side == "test"]
    return train, held_out, dataset


def transforms(model: torch.nn.Module, recipe: Recipe) -> tuple[Any, Any]:
    """timm's training transform (random resized crop, flip, RandAugment) and a centre-crop evaluation one,
    both at the recipe's resolution with the model's own normalisation and interpolation."""
    import timm.data

    config = timm.data.resolve_model_data_config(model)
    size = (3, recipe.img_size, recipe.img_size) if recipe.img_size else config["input_size"]
    common = {"input_size": size, **{k: config[k] for k in ("interpolation", "mean", "std")}}
    train = timm.data.create_transform(
        **common, is_training=True, scale=recipe.crop_scale, auto_augment=recipe.rand_augment or None, re_prob=0.0
    )
    val = timm.data.create_transform(**common, is_training=False, crop_pct=config["crop_pct"])
    return train, val

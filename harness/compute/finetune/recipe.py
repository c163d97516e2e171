"""Fine-tuning recipes, read from harness/presets/finetune.toml (data, not code)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.precision import PRECISIONS
from harness.core.resources import preset_file
from harness.core.tomlfile import read_toml

RECIPES_FILE = preset_file("finetune.toml")
#: bump when the training loop changes what a recipe produces (part of every fine-tune job's key)
LOOP_FORMAT = 1


@dataclass(frozen=True)
class Recipe:
    """One training recipe; the fields are documented in suites/finetune.toml."""

    epochs: int
    warmup_epochs: int
    batch_size: int
    lr: float
    min_lr: float
    warmup_lr: float
    opt: str
    weight_decay: float
    mixup: float
    cutmix: float
    rand_augment: str
    crop_scale: tuple[float, float]
    img_size: int
    bce_threshold: float
    drop_path: float
    ema_decay: float
    val_fraction: float
    amp: str
    workers: int
    keep_checkpoints: int

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "crop_scale": list(self.crop_scale)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], what: str) -> Recipe:
        names = {f.name for f in fields(cls)}
        missing, unknown = sorted(names - set(data)), sorted(set(data) - names)
        if missing or unknown:
            raise HarnessError(f"{what}: missing field(s) {missing}, unknown field(s) {unknown}")
        scale = data["crop_scale"]
        if not (isinstance(scale, list | tuple) and len(scale) == 2 and 0 < scale[0] <= scale[1] <= 1):
            raise HarnessError(f"{what}: crop_scale must be [min, max] with 0 < min <= max <= 1, not {scale!r}")
        recipe = cls(**{**data, "crop_scale": (float(scale[0]), float(scale[1]))})
        problems = [
            text
            for bad, text in (
                (recipe.epochs < 1, "epochs must be >= 1"),
                (not 0 <= recipe.warmup_epochs < recipe.epochs, "warmup_epochs must be in [0, epochs)"),
                (recipe.batch_size < 2 or recipe.batch_size % 2, "batch_size must be even and >= 2 (Mixup pairs)"),
                (not 0 <= recipe.val_fraction < 1, "val_fraction must be in [0, 1)"),
                (not 0 <= recipe.ema_decay < 1, "ema_decay must be in [0, 1)"),
                (recipe.amp not in PRECISIONS, f"amp must be one of {', '.join(PRECISIONS)}"),
                (recipe.keep_checkpoints < 1, "keep_checkpoints must be >= 1"),
            )
            if bad
        ]
        if problems:
            raise HarnessError(f"{what}: {'; '.join(problems)}")
        return recipe


def load_recipe(name: str, path: Path = RECIPES_FILE) -> Recipe:
    recipes = read_toml(path, "fine-tuning recipes")
    if name not in recipes:
        raise HarnessError(f"unknown fine-tuning preset '{name}' (in {path}: {', '.join(recipes)})")
    return Recipe.from_dict(recipes[name], f"fine-tuning preset '{name}' in {path}")

"""Top-tuning presets, read from harness/presets/toptune.toml (data, not code)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.resources import preset_file
from harness.core.tomlfile import read_toml

PRESETS_FILE = preset_file("toptune.toml")
#: bump when the head, the search space or the training procedure changes (part of every search's key)
HEAD_FORMAT = 1


@dataclass(frozen=True)
class Preset:
    max_trials: int
    executions_per_trial: int
    epochs: int
    final_epochs: int
    patience: int
    val_fraction: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_preset(name: str, path: Path = PRESETS_FILE) -> Preset:
    presets = read_toml(path, "top-tuning presets")
    if name not in presets:
        raise HarnessError(f"unknown top-tuning preset '{name}' (in {path}: {', '.join(presets)})")
    try:
        return Preset(**presets[name])
    except TypeError as exc:
        raise HarnessError(f"top-tuning preset '{name}' in {path} is malformed: {exc}") from exc

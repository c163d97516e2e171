"""timm backbones: ``timm:<architecture>[.<pretrained tag>]``, e.g. ``timm:resnet50.a1_in1k``.

``[img_size=N]`` sets the input resolution to N x N, e.g. ``timm:vit_base_patch14_dinov2.lvd142m[img_size=224]``
(timm's DINOv2 weights default to 518, the published retrieval figures are at 224). It becomes the pretrained
config's ``input_size``: the preprocessing resolves to it, and timm builds an architecture with a fixed input size
(a ViT) for N x N, resampling the pretrained position embeddings to that grid as it loads them. An architecture
that takes any input size (a CNN) keeps its weights untouched: there the option changes the preprocessing
resolution alone.
"""

from __future__ import annotations

from typing import Any

import torch

from harness.compute.models import intermediate
from harness.compute.models.base import EmbeddingModel, init_options, missing_weights_error, offline_hub, state_digest
from harness.core.errors import HarnessError
from harness.spec.ids import Ref, check_options

OPTIONS = {"init", "seed", "img_size", intermediate.OPTION}


def pooled_embedding(model: torch.nn.Module):  # type: ignore[no-untyped-def]
    """timm's pooled pre-logits feature: forward_features, then the head up to (not including) the classifier."""

    def embed(batch: torch.Tensor) -> torch.Tensor:
        return model.forward_head(model.forward_features(batch), pre_logits=True)  # type: ignore[operator]

    return embed


def describe(model: torch.nn.Module) -> tuple[dict[str, object], object]:
    """Resolve preprocessing from timm's data config; returns (settings, eval transform)."""
    import timm.data

    config = timm.data.resolve_model_data_config(model)
    transform = timm.data.create_transform(**config, is_training=False)
    return {"library": "timm", **config}, transform


def embedding_model(
    ref: Ref,
    model: torch.nn.Module,
    random_init: bool,
    source: dict[str, object] | None = None,
    extra: dict[str, Any] | None = None,
) -> EmbeddingModel:
    """A timm module as an embedding model: its pooled pre-logits feature, timm's eval transform for it, and the
    digest of the tensors it holds; ``source`` (where its weights came from) joins the recorded preprocessing."""
    preprocessing, transform = describe(model)
    stage = intermediate.stage_index(ref, model)  # the ``stage=N`` option: an intermediate layer, pooled
    if stage is not None:
        preprocessing["features"] = intermediate.describe_stage(model, stage)
    return EmbeddingModel(
        model_id=str(ref),
        module=model.eval(),
        transform=transform,  # type: ignore[arg-type]
        embed=pooled_embedding(model) if stage is None else intermediate.pooled_stage(model, stage),
        preprocessing={**preprocessing, **(source or {})},
        weights_digest=state_digest(model),
        random_init=random_init,
        extra=extra or {},
    )


def create(
    ref: Ref, architecture: str, pretrained: bool, seed: int, pretrained_cfg_overlay: dict[str, object] | None = None
) -> torch.nn.Module:
    """``pretrained_cfg_overlay``: pretrained-config fields to set (e.g. a published checkpoint's preprocessing)."""
    import timm

    if not timm.is_model(architecture):
        raise HarnessError(
            f"unknown timm model '{architecture}' in model id '{ref}' "
            "(see `python -c \"import timm; print(timm.list_models('resnet*'))\"`)"
        )
    torch.manual_seed(seed)
    try:
        extra: dict[str, Any] = {"pretrained_cfg_overlay": pretrained_cfg_overlay} if pretrained_cfg_overlay else {}
        model = timm.create_model(architecture, pretrained=pretrained, **extra)
    except (OSError, RuntimeError, ValueError) as exc:
        if not pretrained:
            raise
        hint = f"python -c \"import timm; timm.create_model('{architecture}', pretrained=True)\""
        raise missing_weights_error(ref, hint, exc) from exc
    return model.eval()


def img_size_overlay(ref: Ref) -> dict[str, object] | None:
    """``img_size=N`` as the pretrained-config field timm builds and preprocesses with; None without the option."""
    text = ref.option("img_size")
    if text is None:
        return None
    if not text.isdigit() or int(text) <= 0 or text != str(int(text)):  # one spelling per size: one cell key
        raise HarnessError(f"option img_size={text} in model id '{ref}': expected a positive integer (pixels per side)")
    return {"input_size": (3, int(text), int(text))}


def check_patches(ref: Ref, model: torch.nn.Module) -> None:
    """A patch-based architecture takes only sides that are a multiple of its patch size."""
    patch = getattr(getattr(model, "patch_embed", None), "patch_size", None)
    size = ref.option("img_size")
    if size is not None and isinstance(patch, tuple) and any(int(size) % p for p in patch):
        raise HarnessError(
            f"option img_size={size} in model id '{ref}': not a multiple of the patch size {patch[0]} of '{ref.name}'"
        )


def load(ref: Ref) -> EmbeddingModel:
    check_options(ref, OPTIONS, "model")
    random_init, seed = init_options(ref)
    overlay = img_size_overlay(ref)
    offline_hub()
    model = create(ref, ref.name, pretrained=not random_init, seed=seed, pretrained_cfg_overlay=overlay)
    check_patches(ref, model)
    return embedding_model(ref, model, random_init)

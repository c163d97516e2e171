"""Pooled intermediate-layer features of a timm network: the model option ``stage=N``
(``wheel:tf_efficientnet_lite0[stage=3]``, ``timm:resnet18[init=random,stage=2]``).

``N`` indexes timm's ``feature_info`` (the network's feature stages, shallow to deep: for EfficientNet-Lite0
0..4 at strides 2, 4, 8, 16, 32); the embedding is that stage's feature map from ``forward_intermediates``,
global-average-pooled over its height and width (one vector of the stage's channels per image). The same
weights read at different depths give features of clearly different retrieval quality, and which depth is
best is a question of its own. The option is part of the model id, so of every key and row, and the stage,
its channels and stride join the recorded preprocessing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from harness.core.errors import HarnessError
from harness.spec.ids import Ref

OPTION = "stage"


def stage_index(ref: Ref, model: torch.nn.Module) -> int | None:
    """The ``stage=N`` option checked against the network's stages; None without the option."""
    text = ref.option(OPTION)
    if text is None:
        return None
    stages = list(getattr(model, "feature_info", []) or [])
    if not stages or not hasattr(model, "forward_intermediates"):
        raise HarnessError(f"model id '{ref}': this timm architecture exposes no intermediate stages (option stage)")
    if not text.isdigit() or int(text) >= len(stages):
        raise HarnessError(
            f"option stage={text} in model id '{ref}': expected a stage from 0 to {len(stages) - 1} "
            f"(channels {[s['num_chs'] for s in stages]})"
        )
    return int(text)


def pooled_stage(model: torch.nn.Module, index: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Batch -> the stage's feature map, averaged over its spatial positions: (N, channels)."""

    def embed(batch: torch.Tensor) -> torch.Tensor:
        (features,) = model.forward_intermediates(batch, indices=[index], intermediates_only=True)  # type: ignore[operator]
        return features.mean(dim=(2, 3))

    return embed


def describe_stage(model: torch.nn.Module, index: int) -> dict[str, Any]:
    info = list(model.feature_info)  # type: ignore[arg-type]
    chosen = info[index]
    return {"stage": index, "stage_module": chosen.get("module", ""), "channels": chosen["num_chs"],
            "reduction": chosen["reduction"], "pooling": "global average"}  # fmt: skip

"""What every model family yields: a frozen image encoder with its preprocessing and weight identity, and, for
text-image families, the text tower that embeds queries into the same space."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from harness.core.errors import HarnessError
from harness.spec.ids import Ref


@dataclass
class TextTower:
    """A text encoder whose embeddings share the image embeddings' space (a text-image contrastive model).

    Attributes:
        module: the network whose parameters embed text (for cost counting and precision).
        tokenize: texts -> token ids, the model's own tokenizer (truncating to its context length).
        embed: token ids -> text embedding (N, D), unnormalised, like the image ``embed``.
        tokenizer: the tokenizer's name and settings, stored with every result.
        weights_digest: sha256 over the text tower's parameters and buffers.
    """

    module: torch.nn.Module
    tokenize: Callable[[list[str]], torch.Tensor]
    embed: Callable[[torch.Tensor], torch.Tensor]
    tokenizer: dict[str, Any]
    weights_digest: str


@dataclass
class EmbeddingModel:
    """A loaded backbone, ready to embed images.

    Attributes:
        model_id: the canonical id (``str(ref)``), as stored in every result row.
        module: the network whose parameters produce the embedding (for cost and FLOP counting).
        transform: the library's own evaluation preprocessing, PIL image -> CHW float tensor.
        embed: batch of preprocessed images -> pooled pre-logits embedding (N, D).
        preprocessing: the resolved preprocessing settings, stored with every result.
        weights_digest: sha256 over the parameters and buffers actually loaded.
        random_init: True when the weights are a seeded random initialisation, not trained ones.
        text: the text tower, for families that have one (open_clip); None for image-only backbones.
    """

    model_id: str
    module: torch.nn.Module
    transform: Callable[[Image.Image], torch.Tensor]
    embed: Callable[[torch.Tensor], torch.Tensor]
    preprocessing: dict[str, Any]
    weights_digest: str
    random_init: bool
    extra: dict[str, Any] = field(default_factory=dict)
    text: TextTower | None = None


def state_digest(module: torch.nn.Module) -> str:
    """sha256 over every tensor of the state dict, in key order: equal digests mean equal weights."""
    return tensors_digest(module.state_dict())


def tensors_digest(state: Mapping[str, torch.Tensor]) -> str:
    """``state_digest`` of a state dict itself (e.g. one read from a file, before it is loaded)."""
    h = hashlib.sha256()
    for key, tensor in sorted(state.items()):
        h.update(key.encode())
        h.update(str(tensor.dtype).encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def init_options(ref: Ref) -> tuple[bool, int]:
    """Read the ``init=random`` and ``seed=N`` options common to all families."""
    init = ref.option("init", "pretrained")
    if init not in ("pretrained", "random"):
        raise HarnessError(f"option init={init} in model id '{ref}': expected init=pretrained or init=random")
    seed_text = ref.option("seed", "0") or "0"
    if not seed_text.isdigit():
        raise HarnessError(f"option seed={seed_text} in model id '{ref}': expected a non-negative integer")
    return init == "random", int(seed_text)


def offline_hub() -> None:
    """Weights come from the local cache only: never reach out to a hub from inside a benchmark.

    huggingface_hub reads HF_HUB_OFFLINE once, when it is first imported (timm and open_clip import it), so
    the variable alone comes too late: the constant is set too. Otherwise a missing checkpoint costs a minute
    of retries against an unreachable hub before its clear error. A user's own HF_HUB_OFFLINE=0 still wins."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = os.environ["HF_HUB_OFFLINE"].upper() in constants.ENV_VARS_TRUE_VALUES


def missing_weights_error(ref: Ref, fetch_hint: str, cause: Exception) -> HarnessError:
    cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HF_HOME") or "~/.cache/huggingface"
    return HarnessError(
        f"pretrained weights for model '{ref}' are not in the local cache ({cache}): {cause}\n"
        f"Fetch them once on a machine with internet access: {fetch_hint}\n"
        f"(or run with '{ref.kind}:{ref.name}[init=random]' for a smoke test on random weights)"
    )

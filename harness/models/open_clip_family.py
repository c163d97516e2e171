"""open_clip image towers: ``open_clip:<architecture>@<pretrained tag>``, e.g. ``open_clip:ViT-B-16-SigLIP@webli``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch

from harness.errors import HarnessError
from harness.ids import Ref, check_options
from harness.models.base import EmbeddingModel, init_options, missing_weights_error, offline_hub, state_digest

OPTIONS = {"init", "seed"}
RANDOM_INIT_NOTICE = "No pretrained weights loaded"  # open_clip's warning for pretrained=None


class _DropNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(RANDOM_INIT_NOTICE)


@contextmanager
def asked_for_random_init() -> Iterator[None]:
    """open_clip warns on the root logger that a model "initialized randomly": for ``[init=random]`` that is
    what was asked (the report marks such rows), so the warning is dropped; every other message stays."""
    drop = _DropNotice()
    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def load(ref: Ref) -> EmbeddingModel:
    check_options(ref, OPTIONS, "model")
    random_init, seed = init_options(ref)
    architecture, tag = ref.split_at()
    if not random_init and not tag:
        raise HarnessError(
            f"model id '{ref}' names no pretrained tag: write open_clip:{architecture}@<tag> "
            "(see open_clip.list_pretrained()) or add [init=random]"
        )
    offline_hub()
    import open_clip

    if architecture not in open_clip.list_models():
        raise HarnessError(f"unknown open_clip architecture '{architecture}' in model id '{ref}'")
    torch.manual_seed(seed)
    try:
        with asked_for_random_init() if random_init else nullcontext():
            model, _, transform = open_clip.create_model_and_transforms(
                architecture, pretrained=None if random_init else tag
            )
    except (OSError, RuntimeError) as exc:
        call = f"open_clip.create_model_and_transforms('{architecture}', pretrained='{tag}')"
        hint = f'python -c "import open_clip; {call}"'
        raise missing_weights_error(ref, hint, exc) from exc
    preprocessing = {"library": "open_clip", **open_clip.get_model_preprocess_cfg(model)}
    # Only the image tower is needed: encode_image(x) is visual(x) before the optional normalisation.
    visual = model.visual.eval()
    return EmbeddingModel(
        model_id=str(ref),
        module=visual,
        transform=transform,
        embed=visual,
        preprocessing=preprocessing,
        weights_digest=state_digest(visual),
        random_init=random_init,
    )

"""open_clip models: ``open_clip:<architecture>@<pretrained tag>``, e.g. ``open_clip:ViT-B-16-SigLIP@webli``,
or a Hugging Face hub repository in open_clip's own spelling, ``open_clip:hf-hub:<org>/<repo>`` (e.g.
``open_clip:hf-hub:Marqo/marqo-ecommerce-embeddings-B``): its ``open_clip_config.json`` names the architecture
and preprocessing, its ``open_clip_model.safetensors`` the weights. open_clip's architecture names hold no
``:``, so the ``hf-hub:`` prefix cannot be read as an architecture and every older id keeps its meaning.

The image embedding is ``encode_image`` (the visual tower, unnormalised); the text tower (``encode_text`` with
the model's own tokenizer) rides along for the text suites. The weights digest stays the visual tower's, so
image results keep their identity; the text tower's digest is recorded apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import cache
from typing import Any

import torch

from harness.compute.models.base import (
    EmbeddingModel,
    TextTower,
    init_options,
    missing_weights_error,
    offline_hub,
    state_digest,
    tensors_digest,
)
from harness.compute.models.weights import HF_HUB, open_clip_hub_files
from harness.core.errors import HarnessError
from harness.spec.ids import Ref, check_options

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


def download_call(ref: Ref) -> str:
    """The open_clip call that downloads (and builds) this model, as ``ecombench weights fetch`` runs it."""
    if ref.name.startswith(HF_HUB):
        return f"open_clip.create_model_and_transforms({ref.name!r})"
    architecture, tag = ref.split_at()
    return f"open_clip.create_model_and_transforms({architecture!r}, pretrained={tag!r})"


def hub_repo(ref: Ref) -> str:
    """``open_clip:hf-hub:<org>/<repo>`` -> ``org/repo``, checked: open_clip takes no tag or revision there."""
    repo = ref.name.removeprefix(HF_HUB)
    if "@" in repo or repo.count("/") != 1 or not all(repo.split("/")):
        raise HarnessError(
            f"model id '{ref}': expected open_clip:hf-hub:<org>/<repo> (no @tag: the repository names the weights)"
        )
    return repo


def hub_call(ref: Ref, random_init: bool, hint: str) -> tuple[str, dict[str, Any]]:
    """open_clip's arguments for ``hf-hub:<org>/<repo>``, once its files are known to be in the cache: open_clip
    itself would only warn about missing weights and initialise randomly."""
    repo = hub_repo(ref)
    files = open_clip_hub_files(repo, random_init)
    absent = [str(p) for p in files if not p.is_file()] if files else [f"the repository {repo}"]
    if absent:
        raise missing_weights_error(ref, hint, FileNotFoundError(f"not cached: {', '.join(absent)}"))
    return ref.name, {"load_weights": not random_init}


def tag_call(ref: Ref, random_init: bool) -> tuple[str, dict[str, Any]]:
    """open_clip's arguments for ``<architecture>@<tag>``."""
    import open_clip

    architecture, tag = ref.split_at()
    if not random_init and not tag:
        raise HarnessError(
            f"model id '{ref}' names no pretrained tag: write open_clip:{architecture}@<tag> "
            "(see open_clip.list_pretrained()) or add [init=random]"
        )
    if architecture not in open_clip.list_models():
        raise HarnessError(f"unknown open_clip architecture '{architecture}' in model id '{ref}'")
    return architecture, {"pretrained": None if random_init else tag}


def create(ref: Ref, random_init: bool) -> tuple[Any, Callable[..., torch.Tensor]]:
    """open_clip's model and eval transform, from a tag or a hub repository, offline."""
    hint = f'python -c "import open_clip; {download_call(ref)}"'
    name, kwargs = hub_call(ref, random_init, hint) if ref.name.startswith(HF_HUB) else tag_call(ref, random_init)
    import open_clip

    try:
        with asked_for_random_init() if random_init else nullcontext():
            model, _, transform = open_clip.create_model_and_transforms(name, **kwargs)
    except (OSError, RuntimeError) as exc:
        raise missing_weights_error(ref, hint, exc) from exc
    return model, transform


def load(ref: Ref) -> EmbeddingModel:
    check_options(ref, OPTIONS, "model")
    random_init, seed = init_options(ref)
    offline_hub()
    torch.manual_seed(seed)
    model, transform = create(ref, random_init)
    import open_clip

    preprocessing = {"library": "open_clip", **open_clip.get_model_preprocess_cfg(model)}
    # The image tower: encode_image(x) is visual(x) before the optional normalisation.
    visual = model.visual.eval()
    model.eval()
    return EmbeddingModel(
        model_id=str(ref),
        module=visual,
        transform=transform,
        embed=visual,
        preprocessing=preprocessing,
        weights_digest=state_digest(visual),
        random_init=random_init,
        text=text_tower(model, ref),
    )


def text_tower(model: Any, ref: Ref) -> TextTower:
    """The model's text side: its own tokenizer, ``encode_text`` (unnormalised) and a digest of every tensor
    outside the visual tower (token embedding, transformer, projection...).

    The tokenizer is built at the first text, not here: an image-only run never needs its files (a SigLIP or hub
    model's tokenizer comes from the Hugging Face cache), so a cache holding only the weights keeps working."""
    name = ref.name if ref.name.startswith(HF_HUB) else ref.split_at()[0]

    @cache
    def tokenizer() -> Callable[[list[str]], torch.Tensor]:
        import open_clip

        try:
            made: Callable[[list[str]], torch.Tensor] = open_clip.get_tokenizer(name)
        except (OSError, ValueError) as exc:
            hint = f'python -c "import open_clip; open_clip.get_tokenizer({name!r})"'
            raise missing_weights_error(ref, hint, exc) from exc
        return made

    text_state = {k: v for k, v in model.state_dict().items() if not k.startswith("visual.")}
    return TextTower(
        module=model,
        tokenize=lambda texts: tokenizer()(texts),
        embed=lambda tokens: model.encode_text(tokens),
        tokenizer={"library": "open_clip", "name": name},
        weights_digest=tensors_digest(text_state),
    )

"""Hugging Face ``transformers`` checkpoints: ``hf:<org>/<repo>[@<revision>]``, e.g. ``hf:facebook/dinov2-base``, or
a folder written by ``save_pretrained`` (``hf:/models/my-finetune``, ``hf:./my-finetune``, ``hf:~/my-finetune``).

The image features of CLIP, SigLIP, DINOv2 and ViT checkpoints, preprocessed by the repository's own image
processor (its ``preprocessor_config.json``), read offline from the Hugging Face cache (``ecombench weights fetch``
fills it). The feature each architecture yields is the one MIEB (embeddings-benchmark/mteb) embeds with:

- ``clip``: ``CLIPModel.get_image_features``, the pooled CLS token through the visual projection (image_embeds);
- ``siglip``: ``SiglipModel.get_image_features``, the attention-pooling head's output (pooler_output);
- ``dinov2``: the CLS token of ``last_hidden_state`` (after the final layer norm; MIEB's ``pooling="cls"``);
- ``vit``: the same CLS token (``ViTModel``'s tanh pooler, absent from classification checkpoints, is not used).

Only the image tower (the modules these features pass through) is the embedding model's ``module``: what its
parameter count, device placement and weights digest cover; a CLIP's text tower is loaded and left alone.

Options: ``init=random`` / ``seed=N`` (the architecture from ``config.json``, seeded random weights) and
``processor=pil|torchvision``: the image processor's backend. Default ``pil``, the processor transformers 4 used
by default (its "slow" one) and so the one MIEB's published figures went through; transformers 5 defaults to its
torchvision backend, whose resizing differs in the last bits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from harness.compute.models.base import EmbeddingModel, init_options, missing_weights_error, offline_hub, state_digest
from harness.compute.models.weights import LOCAL_PREFIXES, hf_files, hf_folder, hf_location
from harness.core.errors import HarnessError
from harness.spec.ids import Ref, check_options

OPTIONS = {"init", "seed", "processor"}
BACKENDS = ("pil", "torchvision")


def _image_features(model: Any, pixels: torch.Tensor) -> torch.Tensor:
    """``get_image_features``: a tensor in transformers 4, the vision output with the feature as its
    ``pooler_output`` in transformers 5."""
    out = model.get_image_features(pixel_values=pixels)
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def _cls_token(model: Any, pixels: torch.Tensor) -> torch.Tensor:
    return model(pixel_values=pixels).last_hidden_state[:, 0]


@dataclass(frozen=True)
class Architecture:
    """How a ``config.model_type`` yields its image feature.

    Attributes:
        feature: what the feature is, recorded with every result.
        embed: (the loaded model, a batch of pixel values) -> (N, D) features.
        keep: the model's child modules that make the image tower (empty: all of them).
        build: keyword arguments of the model's constructor (leaving out what takes no part in the feature).
    """

    feature: str
    embed: Callable[[Any, torch.Tensor], torch.Tensor]
    keep: tuple[str, ...] = ()
    build: dict[str, Any] = field(default_factory=dict)

    def tower(self, model: torch.nn.Module) -> torch.nn.Module:
        children = dict(model.named_children())
        return torch.nn.ModuleDict({name: children[name] for name in self.keep or children})


ARCHITECTURES: dict[str, Architecture] = {
    "clip": Architecture(
        "get_image_features (image_embeds: pooled CLS through the visual projection)",
        _image_features,
        keep=("vision_model", "visual_projection"),
    ),
    "siglip": Architecture(
        "get_image_features (pooler_output: the attention-pooling head)", _image_features, keep=("vision_model",)
    ),
    "dinov2": Architecture("CLS token of last_hidden_state", _cls_token),
    "vit": Architecture("CLS token of last_hidden_state", _cls_token, build={"add_pooling_layer": False}),
}


class ProcessorTransform:
    """PIL image -> CHW float tensor through the image processor (a class, not a closure: extraction pickles
    the transform into its worker processes)."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def __call__(self, image: Image.Image) -> torch.Tensor:
        pixels: torch.Tensor = self.processor(images=image, return_tensors="pt")["pixel_values"][0]
        return pixels


def download_call(ref: Ref) -> str:
    """The transformers calls that download this model's processor and weights into the Hugging Face cache."""
    repo, revision = hf_location(ref.name)
    args = f"{repo!r}" + (f", revision={revision!r}" if revision else "")
    return (
        f"import transformers as t; t.AutoImageProcessor.from_pretrained({args}); t.AutoModel.from_pretrained({args})"
    )


def check_name(ref: Ref) -> None:
    repo, revision = hf_location(ref.name)
    if repo.startswith(LOCAL_PREFIXES):
        return
    if repo.count("/") != 1 or not all(repo.split("/")) or (ref.name.count("@") and not revision):
        raise HarnessError(
            f"model id '{ref}': expected hf:<org>/<repo>[@<revision>] or hf:<folder> (a path starting with /, ./, "
            "../ or ~)"
        )


def local_folder(ref: Ref) -> Path:
    """The folder to load from, once the files this load reads are known to be there."""
    folder = hf_folder(ref.name)
    absent = [f"the repository {ref.name}"] if folder is None else [str(p) for p in hf_files(ref) if not p.is_file()]
    if folder is not None and absent and ref.name.startswith(LOCAL_PREFIXES):
        raise HarnessError(
            f"model '{ref}': the folder {folder} lacks {', '.join(absent)} (what save_pretrained writes for the model "
            "and its image processor); copy the folder to this machine"
        )
    if folder is None or absent:
        hint = f'python -c "{download_call(ref)}"'
        raise missing_weights_error(ref, hint, FileNotFoundError(f"not cached: {', '.join(absent)}"))
    return folder


def architecture(ref: Ref, config: Any) -> Architecture:
    found = ARCHITECTURES.get(getattr(config, "model_type", ""))
    if found is None:
        known = ", ".join(ARCHITECTURES)
        raise HarnessError(
            f"model '{ref}' is a '{config.model_type}' checkpoint: the hf family embeds images of {known} models"
        )
    return found


def input_size(ref: Ref, settings: dict[str, Any]) -> list[int]:
    """The (3, H, W) the processor (its settings, as recorded) yields for every image: its crop, else its size."""
    size = (settings.get("crop_size") if settings.get("do_center_crop") else settings.get("size")) or {}
    if not isinstance(size, dict) or size.get("height") is None or size.get("width") is None:
        raise HarnessError(
            f"the image processor of model '{ref}' yields images of varying size ({settings.get('size')}, no center "
            "crop): they cannot be batched"
        )
    return [3, int(size["height"]), int(size["width"])]


@contextmanager
def quiet_loading() -> Iterator[None]:
    """transformers' progress bars and load report off while loading (and back as they were after):
    ``check_complete`` judges the loaded tensors instead, and a report of the unused pooler or text tensors is noise."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def check_complete(ref: Ref, folder: str, tower: torch.nn.Module, missing: Iterable[str]) -> None:
    """Every tensor of the image tower came from the checkpoint: transformers would initialise a missing one at
    random and only report it, and the embeddings would silently be part random."""
    lacking = sorted(set(missing) & set(tower.state_dict()))
    if lacking:
        shown = ", ".join(lacking[:5]) + (f" and {len(lacking) - 5} more" if len(lacking) > 5 else "")
        raise HarnessError(
            f"model '{ref}': the checkpoint in {folder} lacks {len(lacking)} tensor(s) of the image tower ({shown}); "
            "transformers would initialise them at random"
        )


def load(ref: Ref) -> EmbeddingModel:
    check_options(ref, OPTIONS, "model")
    check_name(ref)
    random_init, seed = init_options(ref)
    backend = ref.option("processor", "pil")
    if backend not in BACKENDS:
        raise HarnessError(f"option processor={backend} in model id '{ref}': expected one of {', '.join(BACKENDS)}")
    offline_hub()
    folder = str(local_folder(ref))
    import transformers

    missing: Iterable[str] = ()
    try:
        config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
        kind = architecture(ref, config)
        processor = transformers.AutoImageProcessor.from_pretrained(folder, local_files_only=True, backend=backend)
        torch.manual_seed(seed)
        with quiet_loading():
            if random_init:
                model = transformers.AutoModel.from_config(config, dtype=torch.float32, **kind.build)
            else:
                model, info = transformers.AutoModel.from_pretrained(
                    folder, local_files_only=True, dtype=torch.float32, output_loading_info=True, **kind.build
                )
                missing = info["missing_keys"]
    except (OSError, ValueError, RuntimeError) as exc:
        raise HarnessError(f"cannot load model '{ref}' from {folder}: {exc}") from exc
    model.eval()
    tower = kind.tower(model).eval()
    check_complete(ref, folder, tower, missing)
    settings = json.loads(json.dumps(processor.to_dict(), default=str))  # JSON, as stored with every result
    preprocessing = {
        "library": "transformers",
        "processor": type(processor).__name__,
        "backend": backend,
        "input_size": input_size(ref, settings),
        "feature": f"{config.model_type}: {kind.feature}",
        **{k: v for k, v in settings.items() if k not in ("image_processor_type", "processor_class")},
    }

    def embed(batch: torch.Tensor) -> torch.Tensor:
        return kind.embed(model, batch)

    return EmbeddingModel(
        model_id=str(ref),
        module=tower,
        transform=ProcessorTransform(processor),
        embed=embed,
        preprocessing=preprocessing,
        weights_digest=state_digest(tower),
        random_init=random_init,
    )

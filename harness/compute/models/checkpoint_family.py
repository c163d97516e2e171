"""A user's own weights: ``checkpoint:<timm architecture>@<path to .safetensors|.pth|.pt>``.

The file holds a timm state dict, e.g. from a fine-tune; a ``.pth``/``.pt`` file is read with
``torch.load(weights_only=True)``, so only tensors and plain containers are unpickled, never code. Its
classifier head may have any number of classes (or none): the embedding is the pooled pre-logits feature,
so only the head may differ from the architecture; any other missing or unexpected tensor is an error.

A safetensors file may also carry the preprocessing its weights were trained with (a fine-tune writes its
starting point's there, under the ``ecombench`` metadata key): the architecture is then built with it as its
timm pretrained config, so the weights are embedded as they were trained, e.g. a fine-tune of DINO's ResNet-50
with DINO's crop (0.875), not timm's default resnet50 tag's (0.95). A file without it gets timm's default.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from harness.compute.models import timm_family
from harness.compute.models.base import EmbeddingModel
from harness.core.errors import HarnessError
from harness.spec.ids import Ref, check_options

OPTIONS: set[str] = set()
#: the timm pretrained-config fields ``timm.data.resolve_model_data_config`` reads: a model's preprocessing
PREPROCESSING_FIELDS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")
#: the key of the recorded preprocessing in a checkpoint's ``ecombench`` metadata (harness.compute.finetune.checkpoints)
PREPROCESSING_KEY = "preprocessing"


def load(ref: Ref) -> EmbeddingModel:
    check_options(ref, OPTIONS, "model")
    architecture, path_text = ref.split_at()
    if not path_text:
        raise HarnessError(
            f"model id '{ref}' names no weights file: write checkpoint:<architecture>@<file.safetensors>"
        )
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise HarnessError(f"checkpoint file '{path}' (model id '{ref}') does not exist")
    state = read_state(path)
    overlay = recorded_preprocessing(path)
    model = timm_family.create(ref, architecture, pretrained=False, seed=0, pretrained_cfg_overlay=overlay)
    model.reset_classifier(0)  # type: ignore[operator]  # the head is not part of the embedding; drop it whatever its size
    load_body(model, state, f"checkpoint '{path}'")
    return timm_family.embedding_model(ref, model, random_init=False, source={"checkpoint": str(path)})


#: file suffix -> how it holds tensors; anything else is read as safetensors
TORCH_SUFFIXES = (".pth", ".pt", ".bin")


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """A flat name -> tensor dict from a safetensors file, or from a torch file with ``weights_only=True``."""
    if path.suffix not in TORCH_SUFFIXES:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise HarnessError(f"cannot read checkpoint '{path}' as safetensors: {exc}") from exc
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError) as exc:  # refused global, damage
        raise HarnessError(f"cannot read checkpoint '{path}' with torch.load(weights_only=True): {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        values = state.values() if isinstance(state, dict) else [state]
        kinds = sorted({type(v).__name__ for v in values})
        raise HarnessError(f"checkpoint '{path}' holds no flat state dict of tensors (found {', '.join(kinds)})")
    return {str(k): v for k, v in state.items()}


def preprocessing_record(resolved: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The preprocessing fields of a resolved timm data config (e.g. an ``EmbeddingModel.preprocessing``), as
    JSON (tuples as lists): what a fine-tune trains with and writes into its checkpoint."""
    missing = [name for name in PREPROCESSING_FIELDS if name not in resolved]
    if missing:
        raise HarnessError(f"{what} resolves no timm preprocessing (missing {', '.join(missing)})")
    return json.loads(json.dumps({name: resolved[name] for name in PREPROCESSING_FIELDS}))


def preprocessing_overlay(record: Mapping[str, Any], what: str) -> dict[str, Any]:
    """A recorded preprocessing as timm pretrained-config fields (lists back to tuples, as timm writes them);
    an unknown field is an error naming ``what``."""
    unknown = sorted(set(record) - set(PREPROCESSING_FIELDS))
    if unknown:
        raise HarnessError(
            f"{what} records unknown preprocessing field(s) {unknown} (known: {', '.join(PREPROCESSING_FIELDS)})"
        )
    return {name: tuple(v) if isinstance(v, list) else v for name, v in record.items()}


def recorded_preprocessing(path: Path) -> dict[str, Any] | None:
    """The preprocessing a safetensors checkpoint records in its metadata, as a pretrained-config overlay;
    None for a torch file or a file that records none (timm's default config applies, as it always did)."""
    if path.suffix in TORCH_SUFFIXES:
        return None
    from harness.compute.finetune.checkpoints import read_metadata

    record = read_metadata(path).get(PREPROCESSING_KEY)
    if not record:
        return None
    if not isinstance(record, dict):
        raise HarnessError(f"checkpoint '{path}' records its preprocessing as {json.dumps(record)}, not a table")
    return preprocessing_overlay(record, f"checkpoint '{path}'")


def load_body(model: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load every tensor of ``state`` but the classifier head into ``model``, strictly otherwise: a missing or
    unexpected tensor outside the head is an error naming ``what``."""
    result = model.load_state_dict({k: v for k, v in state.items() if not is_head(model, k)}, strict=False)
    unexpected = result.unexpected_keys
    missing = [k for k in result.missing_keys if not is_head(model, k)]
    if missing or unexpected:
        raise HarnessError(
            f"{what} does not fit timm architecture '{getattr(model, 'pretrained_cfg', {}).get('architecture')}': "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}"
        )


def is_head(model: object, key: str) -> bool:
    """True for the classifier's tensors, named by timm's pretrained config (e.g. 'fc' or 'head.fc')."""
    classifier = getattr(model, "pretrained_cfg", {}).get("classifier", "fc")
    names = classifier if isinstance(classifier, (list, tuple)) else [classifier]
    return any(key == n or key.startswith(n + ".") for n in names)

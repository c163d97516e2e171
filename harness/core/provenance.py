"""Where a number came from: code, lock, container, libraries and hardware, captured once per run."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import harness

#: the checkout the package runs from (the folder above the ``harness`` package), whatever module asks
REPO = Path(harness.__file__).resolve().parent.parent


def git_sha() -> str:
    """The commit of the harness code; ECOMBENCH_GIT_SHA wins (set in containers, which have no .git)."""
    if sha := os.environ.get("ECOMBENCH_GIT_SHA"):
        return sha
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _lock_hash() -> str:
    lock = REPO / "uv.lock"
    if lock.exists():
        return hashlib.sha256(lock.read_bytes()).hexdigest()
    return os.environ.get("ECOMBENCH_LOCK_HASH", "unknown")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str) -> dict[str, Any]:
    """Capture the provenance fields of the ``runs`` table (torch is imported: call it inside a run)."""
    import torch

    from harness.core.machine import machine_state

    cuda = device.startswith("cuda") and torch.cuda.is_available()
    gpu = torch.cuda.get_device_name(torch.device(device)) if cuda else None
    return {
        "git_sha": git_sha(),
        "harness_version": harness.__version__,
        "lock_hash": _lock_hash(),
        "image_digest": os.environ.get("ECOMBENCH_IMAGE_DIGEST"),
        "image": os.environ.get("ECOMBENCH_IMAGE"),  # the tag of the container image (None natively)
        "milvus_image_digest": os.environ.get("ECOMBENCH_MILVUS_IMAGE_DIGEST"),  # the Milvus sidecar's image
        "milvus_sidecar": os.environ.get("ECOMBENCH_MILVUS_SIDECAR"),  # its kind: server or lite
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "device": device,
        "gpu": gpu,
        "cpu": cpu_model(),
        "cpu_threads": torch.get_num_threads(),
        "hostname": platform.node(),
        "cudnn_version": torch.backends.cudnn.version() if cuda else None,
        # load from other processes, sampled now, before the run: is the machine shared?
        **machine_state(device),
    }

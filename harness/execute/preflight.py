"""A command's ``--device`` and ``--workdir``, checked before any work starts: one line naming the problem,
not a traceback from the middle of a run (or after it, when its results are written)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness.core.errors import HarnessError


def check_settings(device: str, workdir: Path) -> None:
    check_device(device)
    check_workdir(workdir)


def check_device(device: str) -> None:
    """Raise a HarnessError unless ``device`` is a torch device this machine has (cpu, cuda[:N], mps, ...)."""
    if device == "cpu":  # the common case needs no torch import (a finished grid re-runs in about a second)
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise HarnessError(f"--device '{device}' is not a torch device: expected cpu, cuda, cuda:N or mps") from exc
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise HarnessError(f"--device '{device}': no CUDA GPU is visible here (torch.cuda.is_available() is False)")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise HarnessError(f"--device '{device}': this machine has {count} CUDA GPU(s), numbered from 0")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise HarnessError(f"--device '{device}': Apple's MPS backend is not available here")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise HarnessError(f"--device '{device}': {parsed.type} devices are not supported (cpu, cuda or mps)")


def check_workdir(workdir: Path) -> None:
    """Raise a HarnessError unless ``workdir`` is (or can be made) a folder this process can write in."""
    if workdir.exists() and not workdir.is_dir():
        raise HarnessError(f"workdir '{workdir}' is a file, not a folder: give --workdir a folder")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=workdir, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise HarnessError(f"cannot write in workdir '{workdir}': {exc.strerror or exc}") from exc

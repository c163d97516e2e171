"""How the forward passes of an extraction run: the settings type, and which of its fields change the numbers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from harness.core.errors import HarnessError
from harness.core.precision import PRECISIONS


def default_workers() -> int:
    """Decoding workers sized from the cores this process may use: all but one for the forward loop, at most
    16 (CPU JPEG decoding runs at a few hundred images per second per core, so a GPU needs many)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(16, cores - 1))


@dataclass(frozen=True)
class ExtractionSettings:
    """How the forward passes run. ``precision`` and ``channels_last`` change the numbers, so they are part
    of the embedding cache key (and of a cell's key, harness.plan.identity); batch size, workers and
    ``image_cache`` (decode and resize once into harness.compute.extract.image_cache, normalise on the device:
    the same numbers) change only the speed."""

    batch_size: int = 32
    workers: int = 2
    device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False
    image_cache: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise HarnessError(f"precision '{self.precision}': expected one of {', '.join(PRECISIONS)}")

    @property
    def on_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def numerics(self) -> dict[str, Any]:
        """The settings that change the numbers, where not the defaults (see ``numeric_settings``)."""
        return numeric_settings(self.precision, self.channels_last)


def numeric_settings(precision: str = "fp32", channels_last: bool = False) -> dict[str, Any]:
    """The extraction settings that change the numbers, only where they are not the defaults: what a cell key
    and an embedding cache key take in, so every key made before these settings existed stays as it was."""
    if precision not in PRECISIONS:
        raise HarnessError(f"precision '{precision}': expected one of {', '.join(PRECISIONS)}")
    return {**({"precision": precision} if precision != "fp32" else {}),
            **({"channels_last": True} if channels_last else {})}  # fmt: skip

"""The content-addressed embedding cache: one ``<key>.npy`` per (model, dataset split, numerics), computed once
and reused by every suite.

The key covers everything that determines the numbers: the model id and the digest of the weights actually
loaded, the dataset's manifest digest, the split, the resolved preprocessing, the kind of device that ran the
forward passes (a GPU's embeddings differ from the CPU's in the last bits), and, where they are not the
defaults, the autocast precision and the memory format: an fp32 and a bf16 embedding never share an entry,
while every entry made before these settings existed (fp32, contiguous) keeps its key.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.core.io import atomic_path, atomic_write
from harness.core.keys import content_key
from harness.spec.settings import numeric_settings
from harness.storage.workdir import Workdir

if TYPE_CHECKING:
    from harness.compute.datasets.base import Manifest
    from harness.compute.models.base import EmbeddingModel

log = logging.getLogger(__name__)

#: bump when the stored format or the extraction procedure changes, so old entries are not reused
CACHE_FORMAT = 2


class EmbeddingCache:
    """A folder of ``<key>.npy`` files (float32, one row per item, manifest order) with JSON sidecars.

    ``shared`` is a read-only folder consulted after ``root``: a container reads the host's cache there but
    writes only its own, so no run can plant vectors that another run reuses.
    """

    def __init__(self, root: Path, shared: Path | None = None) -> None:
        self.root, self.shared = root, shared

    @staticmethod
    def key(
        model: EmbeddingModel,
        manifest: Manifest,
        split: str,
        device: str,
        precision: str = "fp32",
        channels_last: bool = False,
    ) -> str:
        fields: dict[str, Any] = {
            "format": CACHE_FORMAT,
            "model": model.model_id,
            "weights": model.weights_digest,
            "dataset": manifest.dataset_id,
            "manifest": manifest.digest,
            "split": split,
            "preprocessing": model.preprocessing,
            "device": device.partition(":")[0],
        }
        fields.update(numeric_settings(precision, channels_last))  # older fp32 entries keep their keys
        return content_key(fields, length=64)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npy"

    @property
    def images(self) -> Path:
        """The workdir's decoded-image cache (harness.compute.extract.image_cache), beside this one."""
        return Workdir(self.root.parent).images

    def load(self, key: str) -> np.ndarray | None:
        """The stored array, or None where there is none or it is unreadable (a zero-byte or torn file, as a
        power cut can leave, or anything but a plain 2-D float32 array): that entry is then recomputed."""
        path = self.path(key)
        if not path.exists() and self.shared is not None:
            path = self.shared / path.name
        if not path.exists():
            return None
        try:
            array = np.load(path, allow_pickle=False)
            if not isinstance(array, np.ndarray) or array.ndim != 2 or array.dtype != np.float32:
                raise ValueError(f"not a 2-D float32 array ({getattr(array, 'dtype', type(array))})")
        except (OSError, ValueError, EOFError) as exc:
            log.warning(
                "embedding cache entry '%s' is unreadable (%s): computing it again", path, str(exc) or "empty file"
            )
            return None
        return array

    def store(self, key: str, array: np.ndarray, meta: dict[str, Any]) -> None:
        """Write atomically and durably: a crash or power cut leaves either no entry or a complete one (a full
        disk is one HarnessError naming the entry, and leaves no half-written file)."""
        atomic_write(self.path(key).with_suffix(".json"), json.dumps(meta, indent=2, default=str).encode())
        with atomic_path(self.path(key)) as tmp, open(tmp, "wb") as out:
            np.save(out, array)

"""Extraction precision and memory format are recorded settings and part of the cache key."""

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.compute.datasets import resolve_dataset
from harness.compute.extract.cache import EmbeddingCache
from harness.compute.extract.embeddings import split_embeddings
from harness.compute.extract.settings import default_workers
from harness.compute.extract.vectors import l2_normalise
from harness.compute.models import load_model
from harness.core.errors import HarnessError
from harness.spec.settings import Extraction


@pytest.fixture(scope="module")
def model_and_data() -> tuple[object, object]:
    torch.set_num_threads(1)
    return load_model("timm:test_efficientnet[init=random]"), resolve_dataset("digits[per_class=2]")


def test_fp32_and_bf16_never_share_an_entry(model_and_data: tuple, tmp_path: Path) -> None:
    model, dataset = model_and_data
    manifest = dataset.manifest()
    fp32 = EmbeddingCache.key(model, manifest, "test", "cpu")
    assert fp32 == EmbeddingCache.key(model, manifest, "test", "cpu", "fp32", False)  # old entries keep keys
    keys = {
        fp32,
        EmbeddingCache.key(model, manifest, "test", "cpu", "bf16"),
        EmbeddingCache.key(model, manifest, "test", "cpu", "fp16"),
        EmbeddingCache.key(model, manifest, "test", "cpu", "fp32", True),
    }
    assert len(keys) == 4
    cache = EmbeddingCache(tmp_path)
    full, cached = split_embeddings(model, dataset, "test", cache, Extraction(8, 0))
    assert not cached
    bf16, cached = split_embeddings(model, dataset, "test", cache, Extraction(8, 0, precision="bf16"))
    assert not cached  # computed, not the fp32 entry
    assert not np.array_equal(full, bf16)
    # stated tolerance: bf16 autocast keeps every embedding's direction (cosine >= 0.98 to fp32)
    cosine = (l2_normalise(full) * l2_normalise(bf16)).sum(axis=1)
    assert cosine.min() >= 0.98, cosine.min()
    again, cached = split_embeddings(model, dataset, "test", cache, Extraction(8, 0, precision="bf16"))
    assert cached and np.array_equal(again, bf16)


def test_channels_last_gives_the_same_embeddings(model_and_data: tuple, tmp_path: Path) -> None:
    model, dataset = model_and_data
    cache = EmbeddingCache(tmp_path)
    plain, _ = split_embeddings(model, dataset, "test", cache, Extraction(8, 0))
    last, cached = split_embeddings(model, dataset, "test", cache, Extraction(8, 0, channels_last=True))
    assert not cached
    np.testing.assert_allclose(last, plain, rtol=1e-4, atol=1e-5)  # stated tolerance: fp32 rounding only
    assert all(p.is_contiguous() for p in model.module.parameters())  # restored for the next user


def test_bad_precision_and_default_workers() -> None:
    with pytest.raises(HarnessError, match="precision 'fp8': expected one of fp32, bf16, fp16"):
        Extraction(precision="fp8")
    assert 1 <= default_workers() <= 16


def test_the_settings_travel_to_a_worker_process(tmp_path: Path) -> None:
    from harness.spec.settings import Settings

    settings = Settings(tmp_path, tmp_path / "db", None, Extraction(8, 3, "cpu", "bf16", True), None)
    back = Settings.from_dict(settings.as_dict())
    assert back.extraction == settings.extraction
    old = {k: v for k, v in settings.as_dict().items() if k not in ("precision", "channels_last")}
    assert Settings.from_dict(old).extraction == Extraction(8, 3, "cpu")  # a spec from before

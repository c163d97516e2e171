"""The decoded, pre-resized uint8 image cache (harness.compute.extract.image_cache): the same embeddings as the PIL
path, shared by models with the same geometric preprocessing and never by others, rebuilt when torn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.compute.datasets import resolve_dataset
from harness.compute.extract.batches import PixelBatches
from harness.compute.extract.cache import EmbeddingCache
from harness.compute.extract.embeddings import split_embeddings
from harness.compute.extract.image_cache import ImageCache, entry_key, split_transform
from harness.compute.models import load_model
from harness.spec.settings import Extraction, Settings

# test_efficientnet and test_vit: Resize(168, bicubic) + CenterCrop(160), different mean/std;
# test_resnet: the same sizes, bilinear
SAME_A, SAME_B, OTHER = (f"timm:{name}[init=random]" for name in ("test_efficientnet", "test_vit", "test_resnet"))


@pytest.fixture(scope="module")
def digits() -> object:
    torch.set_num_threads(1)
    return resolve_dataset("digits[per_class=4]")


def embeddings(model: object, dataset: object, workdir: Path, **settings: object) -> tuple[np.ndarray, bool]:
    return split_embeddings(model, dataset, "test", EmbeddingCache(workdir / "embeddings"),  # type: ignore[arg-type]
                            Extraction(**{"batch_size": 8, "workers": 0, **settings}))  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize(
    "settings",
    [{}, {"precision": "bf16", "channels_last": True}, {"workers": 2}],  # workers: batches read in 2 processes
    ids=["fp32", "bf16-last", "workers"],
)
def test_the_cached_pixels_give_the_pil_paths_embeddings_exactly(
    digits: object, tmp_path: Path, settings: dict
) -> None:
    model = load_model(SAME_A)
    plain, _ = embeddings(model, digits, tmp_path / "plain", **settings)
    cached, _ = embeddings(model, digits, tmp_path / "cached", image_cache=True, **settings)
    # stated tolerance: none on the CPU; the normalised input tensors are the PIL path's bit for bit
    assert cached.shape == plain.shape and np.array_equal(cached, plain)
    [entry] = (tmp_path / "cached" / "images").glob("*.npy")
    pixels = np.load(entry, mmap_mode="r")
    assert pixels.dtype == np.uint8 and pixels.shape == (len(plain), 160, 160, 3)
    assert getattr(
        pixels, "filename", None
    )  # what the worker processes open (harness.compute.extract.batches.PixelBatches)
    batches = PixelBatches(entry, len(plain), 8)
    assert len(batches) == -(-len(plain) // 8) and np.array_equal(
        batches[len(batches) - 1].numpy(), pixels[-(len(plain) % 8 or 8) :]
    )
    meta = json.loads(entry.with_suffix(".json").read_text())
    assert meta["dataset"] == digits.id and meta["split"] == "test" and meta["shape"] == [len(plain), 160, 160, 3]  # type: ignore[attr-defined]
    assert meta["geometry"] == [
        "Resize(size=168, interpolation=bicubic, max_size=None, antialias=True)",
        "CenterCrop(size=(160, 160))",
    ]


def test_one_entry_per_preprocessing_shared_by_the_models_that_have_it(digits: object, tmp_path: Path) -> None:
    models = {name: load_model(name) for name in (SAME_A, SAME_B, OTHER)}
    transforms = {name: split_transform(m.transform) for name, m in models.items()}
    manifest = digits.manifest()  # type: ignore[attr-defined]
    keys = {name: entry_key(manifest, "test", t) for name, t in transforms.items() if t is not None}
    assert keys[SAME_A] == keys[SAME_B] != keys[OTHER]  # mean/std differ, sizes and interpolation decide
    assert entry_key(manifest, "train", transforms[SAME_A]) != keys[SAME_A]  # type: ignore[arg-type]
    images = ImageCache(tmp_path / "images")
    items = [manifest.items[i] for i in manifest.indices("test")]
    built = {name: images.get(digits, "test", items, t, 0)[1] for name, t in transforms.items() if t is not None}  # type: ignore[arg-type]
    assert built == {SAME_A: False, SAME_B: True, OTHER: False}  # the second model of a preprocessing decodes nothing
    assert len(list((tmp_path / "images").glob("*.npy"))) == 2
    for name in (SAME_B, OTHER):  # and its embeddings are still exactly the PIL path's
        plain, _ = embeddings(models[name], digits, tmp_path / f"plain-{name}")
        cached, _ = split_embeddings(models[name], digits, "test", EmbeddingCache(tmp_path / "embeddings"),  # type: ignore[arg-type]
                                     Extraction(8, 0, image_cache=True))  # fmt: skip
        assert np.array_equal(plain, cached), name


def test_a_torn_entry_is_rebuilt_and_an_uncacheable_transform_decodes_per_model(digits: object, tmp_path: Path) -> None:
    model = load_model(SAME_A)
    first, _ = embeddings(model, digits, tmp_path, image_cache=True)
    [entry] = (tmp_path / "images").glob("*.npy")
    entry.write_bytes(entry.read_bytes()[:200])  # a power cut's torn file
    for stored in (tmp_path / "embeddings").glob("*"):
        stored.unlink()
    again, cached = embeddings(model, digits, tmp_path, image_cache=True)
    assert not cached and np.array_equal(first, again)
    assert np.load(entry, mmap_mode="r").shape[0] == len(first)  # rebuilt whole
    pixels = load_model("pixels:4")  # its own transform (box resize to 4 px): not resize/crop + Normalize
    assert split_transform(pixels.transform) is None
    plain, _ = embeddings(pixels, digits, tmp_path / "plain")
    fallback, _ = embeddings(pixels, digits, tmp_path / "fallback", image_cache=True)
    assert np.array_equal(plain, fallback) and not (tmp_path / "fallback" / "images").exists()


def test_the_option_travels_to_a_worker_process(tmp_path: Path) -> None:
    settings = Settings(tmp_path, tmp_path / "db", None, Extraction(8, 1, image_cache=True))
    assert Settings.from_dict(settings.as_dict()).extraction.image_cache is True
    old = {k: v for k, v in settings.as_dict().items() if k != "image_cache"}
    assert Settings.from_dict(old).extraction.image_cache is False  # a spec from before

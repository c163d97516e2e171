"""What a power cut can leave behind (a zero-byte or torn file under its final name) is treated as missing:
an embedding-cache entry is computed again, a prepared manifest prepared again, each said once."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from harness.compute.datasets import resolve_dataset
from harness.compute.datasets.files import FileDataset
from harness.compute.datasets.prepare import Paths, manifests_dir, prepare
from harness.compute.extract.cache import EmbeddingCache
from harness.compute.extract.embeddings import split_embeddings
from harness.compute.models import load_model
from harness.core.io import atomic_write
from harness.spec.settings import Extraction
from support import replicas


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default workdir (.ecombench, which holds the prepared manifests) inside the test's folder."""
    monkeypatch.chdir(tmp_path)
    return tmp_path / ".ecombench"


def test_atomic_write_leaves_the_file_and_no_temporary(tmp_path: Path) -> None:
    atomic_write(tmp_path / "a" / "x.json", b"{}")
    atomic_write(tmp_path / "a" / "x.json", b"[1]")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.json"] and (
        tmp_path / "a" / "x.json"
    ).read_bytes() == b"[1]"


@pytest.mark.parametrize("planted", [b"", b"\x93NUMPY\x01\x00v\x00{'descr'", "float64", "pickle"])
def test_an_unreadable_cache_entry_is_computed_again(
    tmp_path: Path, planted: bytes | str, caplog: pytest.LogCaptureFixture
) -> None:
    model, dataset = load_model("pixels:4"), resolve_dataset("digits[per_class=4]")
    cache, settings = EmbeddingCache(tmp_path / "embeddings"), Extraction(batch_size=16, workers=0)
    clean, cached = split_embeddings(model, dataset, "test", cache, settings)
    assert not cached
    [path] = cache.root.glob("*.npy")
    if planted == "float64":
        np.save(path, clean.astype(np.float64))
    elif planted == "pickle":
        np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    else:
        assert isinstance(planted, bytes)
        path.write_bytes(planted)  # zero bytes, or a header torn off mid-way
    with caplog.at_level(logging.WARNING, "harness.compute.extract.cache"):
        again, cached = split_embeddings(model, dataset, "test", cache, settings)
    assert not cached and np.array_equal(again, clean)
    assert caplog.messages == [caplog.messages[0]] and f"embedding cache entry '{path}' is unreadable" in caplog.text
    assert np.array_equal(np.load(path), clean)  # stored again, whole
    assert split_embeddings(model, dataset, "test", cache, settings)[1]  # and reused from now on


def file_dataset(text: str) -> FileDataset:
    dataset = resolve_dataset(text)
    assert isinstance(dataset, FileDataset)
    return dataset


@pytest.mark.parametrize("which", ["parquet", "sidecar", "parquet-torn"])
def test_a_zero_byte_prepared_manifest_is_prepared_again(
    tmp_path: Path, which: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = replicas.sop(tmp_path / "sop")
    first = prepare(file_dataset(f"sop:{root}"), workers=0)
    paths = Paths.of(manifests_dir(Path(".ecombench")), f"sop:{root}")
    target = paths.sidecar if which == "sidecar" else paths.parquet
    target.write_bytes(target.read_bytes()[:100] if which == "parquet-torn" else b"")
    # a run reading it prepares the manifest again, saying why once, and keeps it
    with caplog.at_level(logging.WARNING, "harness.compute.datasets.prepare"):
        assert file_dataset(f"sop:{root}").manifest().digest == first.report["digest"]
    assert "was not usable" in caplog.messages[0] and str(target) in caplog.messages[0]
    assert sum("not usable" in m for m in caplog.messages) == 1
    assert prepare(file_dataset(f"sop:{root}"), workers=0).reused
    caplog.clear()
    # and prepare (without --force) prepares it again rather than calling it valid or crashing
    target.write_bytes(target.read_bytes()[:100] if which == "parquet-torn" else b"")
    with caplog.at_level(logging.WARNING, "harness.compute.datasets.prepare"):
        again = prepare(file_dataset(f"sop:{root}"), workers=0)
    assert not again.reused and again.hashed == first.hashed and again.report["digest"] == first.report["digest"]
    assert [m for m in caplog.messages if "preparing it again" in m] and str(target) in caplog.messages[0]
    assert prepare(file_dataset(f"sop:{root}"), workers=0).reused

"""Data first: a cell checks its data before it loads its model (a missing dataset folder is the error a cell
reports, and no model is loaded for it), and an unprepared folder's manifest is built by its first run only."""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path

import pytest
from PIL import Image
from sklearn.datasets import load_digits

from harness.compute.datasets import resolve_dataset
from harness.compute.datasets.prepare import Paths, manifests_dir
from harness.execute.worker import Worker
from harness.plan.grid import make_cells
from harness.plan.plan import make_plan
from harness.spec.settings import Extraction, Settings


def test_a_missing_dataset_folder_fails_before_the_model_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "no-such-folder"
    model = f"checkpoint:resnet18@{tmp_path / 'absent.safetensors'}"  # its load would fail on the missing file
    params = {"retrieval": {"backend": "exact"}}
    grid = make_cells([model], [f"folder:{missing}"], ["pretrained"], ["retrieval"], params)
    settings = Settings(tmp_path / "work", tmp_path / "r.duckdb", extraction=Extraction(workers=0))
    [planned] = make_plan(grid.cells, "cpu", settings.workdir).cells
    worker = Worker(settings)
    with caplog.at_level(logging.WARNING, "harness.compute.datasets.prepare"):
        shard, cached = worker.run(planned.spec)
    assert caplog.messages == []  # its own message only, no word of preparing it
    assert not cached and shard.status == "error"
    assert str(missing) in (shard.error or "") and "does not exist" in (shard.error or "")
    assert "absent.safetensors" not in (shard.error or "")
    assert worker.loads == 0  # the model loader was never called
    assert not (settings.workdir / "manifests").exists() or not list((settings.workdir / "manifests").glob("*.json"))


def write_folder(root: Path) -> None:
    """Two classes of three real 8x8 digits each, as PNG files."""
    digits = load_digits()
    for label in (0, 1):
        (root / f"c{label}").mkdir(parents=True)
        for i, image in enumerate(digits.images[digits.target == label][:3]):
            Image.fromarray((image * 16).astype("uint8")).convert("RGB").save(root / f"c{label}" / f"{i}.png")


def test_an_unprepared_folder_is_prepared_by_its_first_run_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "shoes"
    write_folder(root)
    work = tmp_path / "work"
    with caplog.at_level(logging.WARNING, "harness.compute.datasets.prepare"):
        first = resolve_dataset(f"folder:{root}", work).manifest()
        second = resolve_dataset(f"folder:{root}", work)  # the next run, in a fresh process as far as it knows
        assert second.manifest() == first and second.report()["manifest"] is not None  # read, not built
    said = [m for m in caplog.messages if "was not prepared" in m]
    assert len(said) == 1 and f"ecombench datasets prepare folder:{root}" in said[0]
    assert len(caplog.messages) == 1
    assert len(list((work / "manifests").glob("*.parquet"))) == 1


def test_a_manifest_that_cannot_be_kept_is_built_for_the_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "shoes"
    write_folder(root)
    work = tmp_path / "work"
    dataset = resolve_dataset(f"folder:{root}", work)
    lock = Paths.of(manifests_dir(work), dataset.id).lock
    lock.parent.mkdir(parents=True)
    with lock.open("w") as held, caplog.at_level(logging.WARNING, "harness.compute.datasets.prepare"):
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another prepare of it is running
        manifest = dataset.manifest()
    assert len(manifest.items) == 6 and dataset.report()["manifest"] is None
    assert any("cannot keep the manifest" in m and "is running" in m for m in caplog.messages), caplog.messages
    assert not list((work / "manifests").glob("*.parquet"))


def test_a_kept_manifest_follows_an_image_edited_in_place(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "shoes"
    write_folder(root)
    work = tmp_path / "work"
    first = resolve_dataset(f"folder:{root}", work).manifest().digest
    image = root / "c1" / "0.png"
    Image.new("RGB", (8, 8), (200, 0, 0)).save(image)  # the same file, new bytes: no folder changes
    with caplog.at_level(logging.WARNING, "harness.compute.datasets.prepare"):
        again = resolve_dataset(f"folder:{root}", work).manifest().digest
    assert again != first
    assert any("an image file changed since the run that built it" in m for m in caplog.messages), caplog.messages

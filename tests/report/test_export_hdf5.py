"""A cell's embeddings in ann-benchmarks' HDF5 layout: a real pre-trained retrieval cell (pixels on digits) runs
into a real DuckDB and embedding cache; its export holds train/test vectors that are the cached ones, and
neighbours/distances that agree with scikit-learn's brute-force cosine search."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from harness.core.errors import HarnessError
from harness.execute.runner import run_plan
from harness.plan.grid import make_cells
from harness.plan.plan import make_plan
from harness.report.export import ANN_NEIGHBOURS, exact_angular, export_ann_hdf5
from harness.spec.settings import Extraction, Settings
from harness.storage.store import ingest
from support import make_shard, run_cli

DATASET = "digits[per_class=40]"  # 400 real 8x8 digits


@pytest.fixture(scope="module")
def cell(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    root = tmp_path_factory.mktemp("cell")
    settings = Settings(root / "work", root / "r.duckdb", extraction=Extraction(workers=0))
    grid = make_cells(["pixels:8"], [DATASET], ["pretrained"], ["retrieval"], {"retrieval": {"backend": "exact"}})
    (outcome,) = run_plan(make_plan(grid.cells, "cpu", settings.workdir), settings)
    assert outcome.error is None
    return settings, outcome.run_id


def test_export_is_ann_benchmarks_layout_with_exact_neighbours(cell: tuple[Settings, str], tmp_path: Path) -> None:
    settings, run_id = cell
    path, sizes = export_ann_hdf5(settings.db, settings.workdir, run_id, tmp_path, queries=50)
    assert path == tmp_path / f"{run_id}.hdf5" and sizes == {"train": 150, "test": 50, "neighbours": ANN_NEIGHBOURS}
    with h5py.File(path, "r") as f:
        assert set(f) >= {"train", "test", "neighbors", "distances"}
        assert f.attrs["distance"] == "angular" and f.attrs["point_type"] == "float" and f.attrs["dimension"] == 64
        assert f.attrs["ecombench_run_id"] == run_id and f.attrs["ecombench_dataset"] == DATASET
        train, test = f["train"][:], f["test"][:]
        neighbours, distances = f["neighbors"][:], f["distances"][:]
        assert train.dtype == np.float32 and neighbours.dtype == np.int32 and distances.dtype == np.float32
        assert train.shape == (150, 64) and test.shape == (50, 64) and neighbours.shape == (50, 100)
        assert np.allclose(np.linalg.norm(train, axis=1), 1.0, atol=1e-5)
        # the split's labels ride along, and the two index arrays partition the split
        test_index, train_index = f["test_index"][:], f["train_index"][:]
        assert sorted(np.concatenate([test_index, train_index]).tolist()) == list(range(200))
        assert len(f["train_labels"]) == 150 and set(f["test_labels"][:].tolist()) <= set(range(10))
    # an independent brute-force search: the same distances, and the same ids wherever no tie blurs the order
    nn = NearestNeighbors(n_neighbors=100, metric="cosine", algorithm="brute").fit(train)
    their_d, their_ids = nn.kneighbors(test)
    assert np.allclose(distances, their_d, atol=1e-5)
    untied = np.abs(np.diff(their_d, axis=1, prepend=-1, append=9)).min(axis=1) > 1e-5
    assert untied.sum() >= 10 and (neighbours[untied] == their_ids[untied]).all()


def test_exact_angular_breaks_ties_by_train_id() -> None:
    train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]])
    ids, dists = exact_angular(train, np.array([[1.0, 0.0]]), 3)
    assert ids.tolist() == [[0, 2, 1]] and dists.tolist() == [[0.0, 0.0, 1.0]]


def test_clear_errors(cell: tuple[Settings, str], tmp_path: Path) -> None:
    settings, run_id = cell
    with pytest.raises(HarnessError, match="no run 'nope'"):
        export_ann_hdf5(settings.db, settings.workdir, "nope", tmp_path)
    with pytest.raises(HarnessError, match="no cached embeddings of run"):
        export_ann_hdf5(settings.db, tmp_path / "empty-workdir", run_id, tmp_path)
    db = tmp_path / "t.duckdb"
    shard = make_shard("timm:a", "digits", {"mmp_at_5": 0.5})
    ingest(db, [shard])
    from dataclasses import replace

    tuned = replace(shard, run_id="tuned", cell=replace(shard.cell, strategy="toptuned"))
    ingest(db, [tuned])
    with pytest.raises(HarnessError, match="only a finished pre-trained cell"):
        export_ann_hdf5(db, settings.workdir, "tuned", tmp_path)


def test_cli_export_hdf5(cell: tuple[Settings, str], tmp_path: Path) -> None:
    settings, run_id = cell
    args = ("export", "hdf5", str(tmp_path / "ann"), "--db", str(settings.db), "--workdir", str(settings.workdir))
    done = run_cli(*args, "--run-id", run_id, "--queries", "20", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "180 train, 20 test vectors, 100 neighbours each" in done.stdout
    assert (tmp_path / "ann" / f"{run_id}.hdf5").is_file()
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 2 and "export hdf5 needs an OUT folder and --run-id" in done.stderr

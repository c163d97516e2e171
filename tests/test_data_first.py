"""A cell checks its data before it loads its model: a missing dataset folder is the error a cell reports, and
no model is loaded for it (a model whose load would itself fail, differently, shows the order)."""

from __future__ import annotations

from pathlib import Path

from harness.embed import ExtractionSettings
from harness.execute import RunSettings, Worker
from harness.grid import make_cells
from harness.plan import make_plan


def test_a_missing_dataset_folder_fails_before_the_model_loads(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    model = f"checkpoint:resnet18@{tmp_path / 'absent.safetensors'}"  # its load would fail on the missing file
    params = {"retrieval": {"backend": "exact"}}
    grid = make_cells([model], [f"folder:{missing}"], ["pretrained"], ["retrieval"], params)
    settings = RunSettings(tmp_path / "work", tmp_path / "r.duckdb", extraction=ExtractionSettings(workers=0))
    [planned] = make_plan(grid.cells, "cpu", settings.workdir).cells
    worker = Worker(settings)
    shard, cached = worker.run(planned.spec)
    assert not cached and shard.status == "error"
    assert str(missing) in (shard.error or "") and "does not exist" in (shard.error or "")
    assert "absent.safetensors" not in (shard.error or "")
    assert worker.loads == 0  # the model loader was never called

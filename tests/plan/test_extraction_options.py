"""--precision / --channels-last on run, grid and plan, and the suite file's [grid] keys: they enter the cell
key only where not the defaults (so every existing key is unchanged), run the cell's extraction and are
recorded in its provenance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import harness
from harness.core.errors import HarnessError
from harness.execute.runner import run_plan
from harness.plan.grid import load_grid, make_cells
from harness.plan.identity import Identities, plan_cell
from harness.plan.plan import make_plan
from harness.spec.cells import Cell
from harness.spec.settings import Extraction, Settings, numeric_settings
from support import run_cli

MODEL = "timm:test_efficientnet[init=random]"
DATA = "digits[per_class=4]"
GRID = f"""
[grid]
models = ["{MODEL}"]
datasets = ["{DATA}"]
suites = ["retrieval"]
{{extra}}
[params.retrieval]
backend = "exact"
"""


def test_a_default_cell_key_is_the_one_from_before_these_settings_existed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "__version__", "0.0.0+golden")
    cell = Cell("pixels:4", "digits", "pretrained", "retrieval", {"backend": "exact", "split": "test"})
    # computed with the code before --precision existed (commit 1572603); change only for an intended key change
    assert plan_cell(cell, Identities("cpu")).key == "e36cab6d9afbbac07ee078c4ab8a66f7"
    assert plan_cell(cell, Identities("cpu", numeric_settings("fp32", False))).key == "e36cab6d9afbbac07ee078c4ab8a66f7"


def test_precision_and_memory_format_enter_cell_and_head_keys_only_where_not_defaults() -> None:
    grid = make_cells(["pixels:4"], ["digits"], ["pretrained"], ["retrieval", "classification"])
    plans = {
        name: [plan_cell(c, Identities("cpu", numeric_settings(*given))) for c in grid.cells]
        for name, given in {"default": (), "fp32": ("fp32", False), "bf16": ("bf16",), "last": ("fp32", True)}.items()
    }
    keys = {name: [s.key for s in specs] for name, specs in plans.items()}
    heads = {name: [j.key for s in specs for j in s.subjobs] for name, specs in plans.items()}
    assert keys["default"] == keys["fp32"] and heads["default"] == heads["fp32"]
    assert all(s.context == {"device": "cpu"} for s in plans["default"])
    assert len({tuple(k) for k in keys.values()}) == 3  # bf16 and channels-last cells are cells of their own
    assert len({tuple(h) for h in heads.values()}) == 3  # a head searched on bf16 embeddings is another head
    assert plans["bf16"][0].context == {"device": "cpu", "precision": "bf16"}
    assert plans["last"][0].context == {"device": "cpu", "channels_last": True}
    with pytest.raises(HarnessError, match="precision 'fp8': expected one of fp32, bf16, fp16"):
        numeric_settings("fp8")


def test_suite_file_keys_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(GRID.format(extra='precision = "bf16"\nchannels_last = true'))
    assert load_grid(path).extraction == {"precision": "bf16", "channels_last": True}
    for extra, message in [
        ('precision = "fp64"', "grid.precision = 'fp64': expected one of fp32, bf16, fp16"),
        ('channels_last = "yes"', "grid.channels_last = 'yes' must be true or false"),
        ("precison = 'bf16'", "unknown key"),
    ]:
        path.write_text(GRID.format(extra=extra))
        with pytest.raises(HarnessError, match=message):
            load_grid(path)


def test_plan_takes_the_suite_files_settings_and_the_options_win(tmp_path: Path) -> None:
    (tmp_path / "plain.toml").write_text(GRID.format(extra=""))
    (tmp_path / "bf16.toml").write_text(GRID.format(extra='precision = "bf16"\nchannels_last = true'))

    def spec(*args: str) -> dict:
        out = run_cli("plan", "--json", *args, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        [line] = out.stdout.splitlines()
        return json.loads(line)

    plain, from_file = spec("plain.toml"), spec("bf16.toml")
    assert plain["context"] == {"device": "cpu"} and plain["settings"]["precision"] == "fp32"
    assert from_file["context"] == {"device": "cpu", "precision": "bf16", "channels_last": True}
    assert from_file["settings"]["precision"] == "bf16" and from_file["key"] != plain["key"]
    overridden = spec("bf16.toml", "--precision", "fp32", "--no-channels-last")
    assert overridden["key"] == plain["key"] and overridden["context"] == {"device": "cpu"}
    assert spec("plain.toml", "--precision", "bf16", "--channels-last")["key"] == from_file["key"]
    bad = run_cli("run", "--model", MODEL, "--dataset", DATA, "--precision", "fp64", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: --precision 'fp64': expected one of fp32, bf16, fp16"
    ]


def test_a_bf16_cell_extracts_in_bf16_and_records_it(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    grid = make_cells([MODEL], [DATA], ["pretrained"], ["retrieval"], {"retrieval": {"backend": "exact"}})
    outcomes = {}
    for precision in ("fp32", "bf16"):
        # the executing process is given fp32 both times: the cell's planned context decides
        settings = Settings(tmp_path, tmp_path / "results.duckdb", None, Extraction(16, 0))
        plan = make_plan(grid.cells, "cpu", tmp_path, extraction=numeric_settings(precision))
        [outcomes[precision]] = run_plan(plan, settings)
    assert outcomes["fp32"].run_id != outcomes["bf16"].run_id
    for precision, outcome in outcomes.items():
        assert outcome.status == "ok", outcome.error
        shard = json.loads((tmp_path / "shards" / f"{outcome.run_id}.json").read_text())
        assert shard["provenance"]["extraction"] == {"precision": precision, "channels_last": False,
                                                     "image_cache": False}  # fmt: skip
    sidecars = [json.loads(p.read_text()) for p in (tmp_path / "embeddings").glob("*.json")]
    assert sorted(s["precision"] for s in sidecars) == ["bf16", "fp32"]  # an entry of its own each
    # stated tolerance: bf16 moves a random-init model's ranking metrics by at most 0.1
    fp32, bf16 = outcomes["fp32"].metrics, outcomes["bf16"].metrics
    assert abs(fp32["map_at_r"] - bf16["map_at_r"]) <= 0.1


@pytest.mark.parametrize("suite", ["compression", "leakage"])
def test_suites_with_their_own_forward_precision_refuse_a_cell_wide_precision(suite: str) -> None:
    cell = Cell("pixels:4", "digits", "pretrained", suite, {})
    plan_cell(cell, Identities("cpu", numeric_settings("fp32", True)))  # channels-last is not theirs: accepted
    # without the refusal these cells would get a bf16 key and fp32 numbers
    with pytest.raises(HarnessError, match=f"the {suite} suite sets its forward precision with its own"):
        plan_cell(cell, Identities("cpu", numeric_settings("bf16")))

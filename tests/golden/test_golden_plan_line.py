"""A checked-in line of `ecombench plan --json`: today's plan prints it, CellSpec and Settings read it and
write it back byte for byte, and `ecombench execute` accepts it (its worker stubbed: no model runs)."""

from __future__ import annotations

import json

import golden_support as g
from typer.testing import CliRunner

from harness.cli import app
from harness.execute import worker as execute_module
from harness.spec.cells import CellSpec
from harness.spec.settings import Settings
from harness.storage.shards import Shard

LINE = g.PLAN_LINE.read_text().rstrip("\n")


def test_the_fixture_is_one_line_with_a_toptune_subjob() -> None:
    assert "\n" not in LINE
    data = json.loads(LINE)
    assert data["key"] == "25f4aeccabbfe1ea1d0d900b16cc90f4"
    assert [job["kind"] for job in data["subjobs"]] == ["toptune"]


def test_todays_plan_prints_the_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert g.plan_lines(tmp_path) == [LINE]


def test_the_line_round_trips_byte_for_byte() -> None:
    data = json.loads(LINE)
    settings = Settings.from_dict(data.pop("settings"))
    spec = CellSpec.from_json(json.dumps(data))
    assert spec.to_json() == json.dumps(data, sort_keys=True)
    assert json.dumps({**json.loads(spec.to_json()), "settings": settings.as_dict()}, sort_keys=True) == LINE


def test_execute_accepts_the_line(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen = []

    class Worker:
        def __init__(self, settings: Settings) -> None:
            self.settings = settings

        def run(self, spec: CellSpec) -> tuple[Shard, bool]:
            seen.append((self.settings, spec))
            return Shard(spec.key, spec.cell, "ok", "2026-01-01T00:00:00", "2026-01-01T00:00:01"), True

    monkeypatch.setattr(execute_module, "Worker", Worker)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.json").write_text(LINE + "\n")
    result = CliRunner().invoke(app, ["execute", "spec.json"], env=g.HELP_ENV)
    assert result.exit_code == 0, result.output
    data = json.loads(LINE)
    settings, spec = seen[0]
    assert settings.as_dict() == data.pop("settings")
    assert spec == CellSpec.from_json(json.dumps(data))
    assert g.ANSI.sub("", result.stdout).split() == [  # FORCE_COLOR: rich colours it
        "cached", "retrieval/toptuned", "timm:resnet18[init=random]", "on", "digits[per_class=10]:",
        ".ecombench/shards/25f4aeccabbfe1ea1d0d900b16cc90f4.json",
    ]  # fmt: skip

"""The commands that plan or run cells take their shared options from ONE declaration (the option groups of
harness.cli.options), and a value given to any of them reaches the run settings the same way."""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from pathlib import Path
from typing import Any

import pytest
import typer

from harness.cli import app, bench, cells
from harness.cli.options import DataOptions, EstimateOptions, ExecutionOptions, SettingsOptions, collect
from support import run_cli

SMOKE = Path(__file__).resolve().parents[2] / "suites" / "smoke.toml"
TINY = """
[grid]
models = ["timm:test_vit[init=random]"]
datasets = ["synthetic[classes=3,per_class=4,size=32]"]
suites = ["retrieval"]
"""
#: the commands that run or plan a suite file's cells (or one cell), and the groups each takes
COMMANDS = {
    "run": (cells.run, {SettingsOptions}),
    "grid": (cells.grid, {SettingsOptions, ExecutionOptions, DataOptions}),
    "plan": (cells.plan_command, {SettingsOptions, DataOptions, EstimateOptions}),
    "bench-full": (bench.bench_full, {SettingsOptions, ExecutionOptions, DataOptions, EstimateOptions}),
}
#: what each command needs besides the shared options
REQUIRED = {"run": ["--model", "timm:test_vit[init=random]", "--dataset", "digits"], "grid": ["x.toml"],
            "plan": ["x.toml"], "bench-full": ["x.toml"]}  # fmt: skip


def option_info(annotation: Any) -> Any:
    """The typer.Option object inside an ``Annotated`` type."""
    [info] = [m for m in typing.get_args(annotation)[1:] if isinstance(m, typer.models.OptionInfo)]
    return info


def parse(command: str, *args: str) -> dict[str, Any]:
    """``ecombench COMMAND ARGS`` parsed by the app's own click command (nothing runs), then folded into the
    arguments the command's function receives."""
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    ctx = click_command.make_context(command, [*REQUIRED[command], *args])
    return collect(COMMANDS[command][0], ctx.params)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_takes_the_shared_groups_and_their_very_option_objects(command: str) -> None:
    function, groups = COMMANDS[command]
    taken = {group for group, _ in function.option_groups.values()}  # type: ignore[attr-defined]
    assert taken == groups
    parameters = inspect.signature(function).parameters
    for group in groups:
        hints = typing.get_type_hints(group, include_extras=True)
        for field in dataclasses.fields(group):
            if command == "plan" and field.name == "force":
                assert field.name not in parameters  # plan runs nothing: it has no --force
                continue
            # the same object, not an equal copy: one declaration, read by every command
            assert option_info(parameters[field.name].annotation) is option_info(hints[field.name]), field.name
            assert parameters[field.name].default == field.default, field.name


SHARED = ["--db", "r.duckdb", "--milvus-uri", "http://127.0.0.1:19999", "--device", "cpu", "--batch-size", "7",
          "--workers", "0", "--precision", "bf16", "--channels-last", "--image-cache"]  # fmt: skip


def test_a_shared_value_reaches_the_same_settings_in_every_command(tmp_path: Path) -> None:
    given = [*SHARED, "--workdir", str(tmp_path / "w")]
    built = {command: parse(command, *given)["options"].settings() for command in COMMANDS}
    expected = SettingsOptions(Path("r.duckdb"), tmp_path / "w", "http://127.0.0.1:19999", "cpu", 7, 0, False, "bf16",
                               True, True).settings()  # fmt: skip
    assert all(settings == expected for settings in built.values()), built
    assert expected.extraction.batch_size == 7 and expected.extraction.precision == "bf16"
    forced = {
        command: parse(command, *given, "--force")["options"].settings() for command in COMMANDS if command != "plan"
    }
    # one force time per command, so compare everything else
    assert all(settings.force_since is not None for settings in forced.values()), forced
    assert all(dataclasses.replace(settings, force_since=None) == expected for settings in forced.values()), forced


def test_grid_and_bench_full_resolve_the_same_execution() -> None:
    given = ["--executor", "ray", "--address", "auto", "--shard", "2/5", "--timeout", "60"]
    grid, study = parse("grid", *given)["execution"], parse("bench-full", *given)["execution"]
    assert grid == study
    assert grid.resolve() == study.resolve()
    assert (grid.resolve().ray, grid.resolve().address, grid.resolve().timeout_s) == (True, "auto", 60)
    assert grid.slice() == study.slice() == (2, 5)


def test_plan_json_carries_the_settings_grid_would_run_with(tmp_path: Path) -> None:
    """The real command line end to end: `plan --json` prints the settings of each cell spec."""
    (tmp_path / "tiny.toml").write_text(TINY)
    given = [*SHARED, "--workdir", str(tmp_path / "w")]
    done = run_cli("plan", "tiny.toml", "--json", *given, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert json.loads(line)["settings"] == parse("grid", *given)["options"].settings().as_dict()


@pytest.mark.parametrize("command", ["grid", "bench-full"])
def test_container_with_jobs_is_refused_in_both_commands(tmp_path: Path, command: str) -> None:
    done = run_cli(command, str(SMOKE), "--container", "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "--container runs one cell at a time: leave out --jobs" in done.stderr
    assert not (tmp_path / "results.duckdb").exists()  # nothing ran


@pytest.mark.parametrize("command", ["grid", "bench-full"])
def test_address_without_ray_is_refused_in_both_commands(tmp_path: Path, command: str) -> None:
    done = run_cli(command, str(SMOKE), "--address", "auto", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == ["error: --address names a Ray cluster: add --executor ray"]
    assert not (tmp_path / "results.duckdb").exists()


def test_a_group_field_named_like_another_parameter_is_refused_when_the_command_is_declared() -> None:
    from harness.cli.options import with_option_groups

    def clashing(data: DataOptions, workers: int = 1, *, options: SettingsOptions) -> None:  # --data, --workers twice
        raise AssertionError("never called")

    with pytest.raises(TypeError, match=r"clashing: parameter names used twice: data, workers"):
        with_option_groups(clashing)

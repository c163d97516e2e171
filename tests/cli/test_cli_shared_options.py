"""`grid` and `bench-full` share their execution options and the one check on them."""

from pathlib import Path

import pytest
from support import run_cli

SMOKE = Path(__file__).resolve().parents[2] / "suites" / "smoke.toml"


@pytest.mark.parametrize("command", ["grid", "bench-full"])
def test_container_with_jobs_is_refused_in_both_commands(tmp_path: Path, command: str) -> None:
    done = run_cli(command, str(SMOKE), "--container", "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "--container runs one cell at a time: leave out --jobs" in done.stderr
    assert not (tmp_path / "results.duckdb").exists()  # nothing ran


@pytest.mark.parametrize("command", ["grid", "bench-full"])
def test_both_commands_document_the_same_options(tmp_path: Path, command: str) -> None:
    done = run_cli(command, "--help", cwd=tmp_path)
    assert done.returncode == 0
    for text in ("--jobs", "--container", "wall-clock limit per cell", "see `containers list`", "--milvus-sidecar"):
        assert text in done.stdout

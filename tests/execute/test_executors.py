"""Executors by name, each made from the one settings object; Ray imported only when asked for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.execute.executors import EXECUTORS, ContainerExecutor, PoolExecutor, SerialExecutor, make_executor
from harness.spec.settings import Execution, Settings
from support import REPO


def test_every_executor_is_registered_by_name() -> None:
    assert list(EXECUTORS) == ["serial", "pool", "container", "ray"]


@pytest.mark.parametrize(
    ("execution", "kind"),
    [(Execution(), SerialExecutor), (Execution(jobs=3), PoolExecutor), (Execution(container=True), ContainerExecutor)],
)
def test_the_older_options_still_pick_their_executor(tmp_path: Path, execution: Execution, kind: type) -> None:
    executor = make_executor(Settings(tmp_path, tmp_path / "r.duckdb", execution=execution))
    assert type(executor) is kind


def test_the_pool_takes_its_size_from_the_settings(tmp_path: Path) -> None:
    executor = make_executor(Settings(tmp_path, tmp_path / "r.duckdb", execution=Execution(jobs=3)))
    assert isinstance(executor, PoolExecutor) and executor.jobs == 3


def test_an_unknown_executor_names_the_known_ones(tmp_path: Path) -> None:
    settings = Settings(tmp_path, tmp_path / "r.duckdb", execution=Execution(executor="slurm"))
    with pytest.raises(
        HarnessError, match=r"^executor 'slurm' is unknown: expected one of serial, pool, container, ray$"
    ):
        make_executor(settings)


def test_ray_is_imported_only_when_its_executor_is_asked_for() -> None:
    code = "import sys, harness.execute.executors, harness.execute.runner; print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"

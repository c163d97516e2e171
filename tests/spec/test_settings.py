"""The one run settings type: its JSON (a plan line's ``settings``), the force time it holds, and the executor
name its execution group derives from the older options."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.spec.settings import Execution, Extraction, Settings
from support import REPO


def test_the_json_round_trips_with_the_force_time_under_todays_key(tmp_path: Path) -> None:
    since = 1_760_000_000.25
    settings = Settings(tmp_path, tmp_path / "r.duckdb", None, Extraction(8, 0, precision="bf16"), since, seed=3)
    data = json.loads(json.dumps(settings.as_dict()))
    assert data["force"] == since
    assert sorted(data) == sorted(Settings().as_dict())  # the same keys, forced or not
    again = Settings.from_dict(data)
    assert again == settings and again.force_since == since and again.force
    unforced = Settings.from_dict(Settings().as_dict())
    assert unforced.as_dict()["force"] is False and unforced.force_since is None and not unforced.force


def test_force_true_in_an_older_line_means_from_now_and_a_flag_is_no_time(tmp_path: Path) -> None:
    before = time.time()
    forced = Settings.from_dict({**Settings().as_dict(), "force": True})
    assert forced.force_since is not None and before <= forced.force_since <= time.time()
    assert Settings.from_dict({**Settings().as_dict(), "force": False}).force_since is None
    with pytest.raises(HarnessError, match="expected None or a time in seconds, not True"):
        Settings(tmp_path, tmp_path / "r.duckdb", None, Extraction(), True)


def test_a_force_that_is_not_a_time_is_one_clear_error() -> None:
    with pytest.raises(HarnessError, match=r"settings 'force': expected false, true or a time in seconds, not 'yes'"):
        Settings.from_dict({**Settings().as_dict(), "force": "yes"})


@pytest.mark.parametrize(
    ("execution", "name"),
    [
        (Execution(), "serial"),
        (Execution(jobs=2), "pool"),
        (Execution(container=True), "container"),
        (Execution(container="timm"), "container"),
        (Execution(ray=True, address="auto"), "ray"),
        (Execution(jobs=4, executor="serial"), "serial"),  # a name given wins over the older options
    ],
)
def test_the_executor_name_is_derived_from_the_older_options(execution: Execution, name: str) -> None:
    assert execution.name == name


def test_one_family_image_only_when_one_is_named() -> None:
    assert Execution(container="timm").family == "timm"
    assert Execution(container=True).family is None


def test_the_settings_import_no_torch() -> None:
    code = "import sys, harness.spec.settings; print(sorted(m for m in ('torch', 'duckdb') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

"""``ecombench recommend``'s own parsing: budgets, conflicting options, unknown strategies (in process)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.cli.recommend import parse_budget
from harness.core.errors import HarnessError


@pytest.mark.parametrize(("text", "seconds"), [("2h", 7200.0), ("30m", 1800.0), ("90s", 90.0), ("1.5", 1.5)])
def test_budgets_are_device_seconds(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-1h", "2d", "h"])
def test_bad_budgets_are_refused(text):
    with pytest.raises(HarnessError, match="expected a positive duration such as 2h, 30m or 90s"):
        parse_budget(text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "1h", "--fraction", "0.1", "--dataset", "digits", "--models", "pixels:4"], "not both"),
        (["--dataset", "digits"], "recommend needs --dataset and --models"),
        (["--dataset", "digits", "--models", "pixels:4,pixels:8", "--strategies", "finetuned"],
         "--strategies: unknown finetuned"),
        (["--dataset", "digits", "--models", "pixels:4,pixels:4"], "at least two distinct models"),
    ],
)  # fmt: skip
def test_bad_invocations_name_the_problem(args, message, tmp_path):
    result = CliRunner().invoke(app, ["recommend", *args, "--workdir", str(tmp_path)], catch_exceptions=True)
    assert isinstance(result.exception, HarnessError)
    assert message in str(result.exception)

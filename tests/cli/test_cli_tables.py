"""The CLI's results tables: each cell's row shows its own suite's headline metrics."""

from __future__ import annotations

import pytest

from harness.cli.render import print_outcomes
from harness.execute.runner import Outcome
from harness.spec.cells import Cell


def outcome(suite: str, metrics: dict[str, float], status: str = "ok") -> Outcome:
    cell = Cell("open_clip:ViT-S-32-alt[init=random]", "digits", "pretrained", suite, {})
    return Outcome(cell, f"run-{suite}", status, metrics, "boom" if status == "error" else None)


def test_text_and_zeroshot_cells_show_their_own_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    failed = print_outcomes([
        outcome("retrieval", {"mmp_at_5": 0.5}),
        outcome("text_retrieval", {"text_hit_at_1": 0.125, "text_map": 0.25, "mmp_at_5": 0.9}),
        outcome("zeroshot", {"zeroshot_acc1": 0.375}),
        outcome("zeroshot", {}, status="error"),
    ])  # fmt: skip
    out, err = capsys.readouterr()
    assert failed == 1 and "error in " in err and "boom" in err
    image, rest = out.split("results: text_retrieval")
    text, zeroshot = rest.split("results: zeroshot")
    assert "0.5000" in image and "text mAP" not in image
    assert "text hit@1" in text and "0.1250" in text and "0.2500" in text and "0.9000" not in text
    # the ok row lacks acc5 and balanced accuracy (2), the failed row has none of the 3
    assert "zero-shot acc1" in zeroshot and "0.3750" in zeroshot and zeroshot.count("—") == 5

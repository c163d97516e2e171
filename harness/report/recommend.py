"""The recommend report section: a recommendation (what to use, on what evidence, at what cost) and the
replay table "How well the shortcuts predicted this grid", rendered from the template partial
``recommend.md.j2`` (harness.compute.selection.outcomes holds what they show)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

from harness.compute.selection.outcomes import Recommendation, Replay
from harness.core.io import atomic_write
from harness.report.render import environment

TEMPLATE = "recommend.md.j2"


def number(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds / 3600:.2f} device-hours" if seconds >= 3600 else f"{seconds:.1f} device-seconds"


def render_recommend(recommendation: Recommendation | None = None, replays: list[Replay] | None = None) -> str:
    """The section as Markdown: either part, or both."""
    env = environment("md")
    env.filters["num"] = number
    env.filters["duration"] = duration
    return env.get_template(TEMPLATE).render(
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), rec=recommendation, replays=replays or []
    )


def write_recommend(path: Path, recommendation: Recommendation | None = None,
                    replays: list[Replay] | None = None) -> Path:  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, render_recommend(recommendation, replays).encode())
    return path

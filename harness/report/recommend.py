"""The recommend report section: a recommendation (what to use, on what evidence, at what cost) and the
replay table "How well the shortcuts predicted this grid", rendered from the template partial
``recommend.md.j2`` (harness.compute.selection.outcomes holds what they show)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from harness.compute.selection.outcomes import Recommendation, Replay
from harness.core.io import atomic_write
from harness.report.numbers import duration, number, share
from harness.report.render import environment

TEMPLATE = "recommend.md.j2"


def render_recommend(recommendation: Recommendation | None = None, replays: list[Replay] | None = None) -> str:
    """The section as Markdown: either part, or both."""
    env = environment("md")
    env.filters["num"] = number
    env.filters["duration"] = duration
    env.filters["share"] = share
    return env.get_template(TEMPLATE).render(
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), rec=recommendation, replays=replays or []
    )


def write_recommend(path: Path, recommendation: Recommendation | None = None,
                    replays: list[Replay] | None = None) -> Path:  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, render_recommend(recommendation, replays).encode())
    return path

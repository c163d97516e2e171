"""Reports rendered from the results database's views by Jinja templates in ``harness/report/templates/``.

harness.report.data reads the database, harness.report.analysis draws conclusions from what it read,
harness.report.ranking ranks models across datasets, harness.report.published sets published anchors beside
ours with a verdict, harness.report.figures draws them (inline SVG), harness.report.render fills the templates.
"""

from __future__ import annotations

from pathlib import Path

from harness.report.data import DEFAULT_TOLERANCE, Filters


def render_markdown(db: Path, out: Path, filters: Filters | None = None, tolerance: float = DEFAULT_TOLERANCE) -> Path:
    """The Markdown report written to the file ``out`` (see harness.report.render for all formats)."""
    from harness.report.data import load
    from harness.report.render import render

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render("md", db, load(db, filters, tolerance)))
    return out

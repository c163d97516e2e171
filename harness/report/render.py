"""Jinja environments (HTML autoescaped; Markdown escaped by harness.report.markdown; LaTeX with LaTeX-friendly
delimiters) and writing files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from harness.core.errors import HarnessError
from harness.report import (
    analysis,
    deployment,
    figures,
    ladder,
    latex,
    markdown,
    published,
    ranking,
    shortcuts,
    significance,
    text,
)
from harness.report.data import DEFAULT_TOLERANCE, Filters, ReportData, load

FORMATS = {"md": "comparison.md.j2", "html": "report.html.j2", "tex": "tables.tex.j2"}


def environment(fmt: str) -> jinja2.Environment:
    common: dict[str, Any] = {
        "loader": jinja2.PackageLoader("harness.report", "templates"),  # inside the package: works from a wheel
        "undefined": jinja2.StrictUndefined,
        "keep_trailing_newline": True,
        "trim_blocks": True,
        "lstrip_blocks": True,
    }
    if fmt == "html":
        env = jinja2.Environment(autoescape=True, **common)
    elif fmt == "tex":  # braces are LaTeX's: \BLOCK{...} and \VAR{...} instead of {% %} and {{ }}
        env = jinja2.Environment(
            autoescape=False,
            block_start_string=r"\BLOCK{",
            block_end_string="}",
            variable_start_string=r"\VAR{",
            variable_end_string="}",
            comment_start_string=r"\#{",
            comment_end_string="}",
            **common,
        )
        env.filters["tex"] = latex.escape
        env.filters["texcell"] = latex.cell
    else:  # Markdown: every value is escaped (harness.report.markdown); code spans through the code filter
        env = jinja2.Environment(autoescape=False, finalize=markdown.finalize, **common)
        env.filters["code"] = markdown.code
        env.filters["link"] = markdown.link
    env.filters["fmt4"] = lambda v: f"{v:.4f}"
    return env


def parse_formats(text: str) -> list[str]:
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if not formats or unknown:
        raise HarnessError(f"--format '{text}': expected a comma-separated subset of {', '.join(FORMATS)}")
    return list(dict.fromkeys(formats))


def render(fmt: str, db: Path, data: ReportData, **extra: Any) -> str:
    from harness.report.checks import run_checks

    extra.setdefault("checks", run_checks())
    extra.setdefault("deployment", deployment.load(db, data.filters))  # compression and leakage (its own section)
    extra.setdefault("text", text.load(db, data.filters))  # the text suites' "Search by text" section
    extra.setdefault("ladders", ladder.load(db, data.filters))  # the adaptation ladder (its own section)
    extra.setdefault("shortcuts", shortcuts.shortcuts(db, data.filters))  # how well recommend's shortcuts did
    anchors = published.side_by_side(data)
    return (
        environment(fmt)
        .get_template(FORMATS[fmt])
        .render(
            data=data,
            summary=analysis.summarise(data),
            gains=analysis.gains(data),
            scatters=analysis.quality_vs_cost(data),
            hours=analysis.quality_vs_device_hours(data),
            grids=analysis.cross_grids(data),
            published=anchors,
            published_tally=published.tally(anchors),
            rankings=ranking.rankings(data),
            ranking_note=ranking.describe(),
            noise=significance.describe(),
            noise_tex=latex.escape(significance.describe("@MARK@")).replace("@MARK@", r"$^{\approx}$"),
            fig=figures,
            db=db,
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            **extra,
        )
    )


def write_reports(
    db: Path,
    out: Path,
    formats: list[str],
    filters: Filters | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    stem: str = "report",
) -> list[Path]:
    """Render each format to ``out/<stem>.<fmt>``; returns the files written."""
    data = load(db, filters, tolerance)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = out / f"{stem}.{fmt}"
        path.write_text(render(fmt, db, data))
        written.append(path)
    return written

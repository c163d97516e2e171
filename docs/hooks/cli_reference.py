"""MkDocs hook: the CLI reference page (docs/cli.md) is rendered from the commands themselves at build time.

docs/cli.md holds an introduction and the marker below; on every build this hook walks ``ecombench``'s command
tree (typer's click commands) and puts in the marker's place, for each command and sub-command, its help text,
its usage line and a table of its arguments and options with their defaults, as ``--help`` prints them. So the
page cannot go stale: there is no generated file to forget to regenerate, and a command added, renamed or
re-documented shows up on the next ``mkdocs build``. It imports ``harness.cli`` (no torch: the commands import
their heavy modules when they run), so the build needs the project importable.
"""

from __future__ import annotations

import inspect
from typing import Any

MARKER = "<!-- cli-reference -->"


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """MkDocs event: fill the marker of docs/cli.md; every other page passes through unchanged."""
    if page.file.src_uri != "cli.md":
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/cli.md lost its marker {MARKER}: the CLI reference has nowhere to go")
    return markdown.replace(MARKER, render())


def render() -> str:
    """The reference of every command, in the order ``ecombench --help`` lists them, as Markdown."""
    import typer

    from harness.cli import app

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="ecombench")
    return "\n".join(_sections(root, ctx, ()))


def command_paths() -> list[tuple[str, ...]]:
    """Every command path the reference documents (the root as ``()``), for the tests."""
    import typer

    from harness.cli import app

    found: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


def _sections(command: Any, ctx: Any, path: tuple[str, ...]) -> list[str]:
    name = " ".join(("ecombench", *path))
    level = "#" * min(2 + len(path), 4)
    lines = [f"{level} `{name}`", ""]
    help_text = _help(command.help or "")
    if help_text:
        lines += [help_text, ""]
    pieces = " ".join(command.collect_usage_pieces(ctx))
    lines += ["```text", f"{name} {pieces}".rstrip(), "```", ""]
    rows = [(param.param_type_name, param.get_help_record(ctx)) for param in command.get_params(ctx)]
    rows = [(kind, record) for kind, record in rows if record is not None and record[0] != "--help"]
    if rows:
        lines += ["| argument or option | description |", "|---|---|"]
        lines += [f"| `{_cell(record[0])}` | {_text(record[1]) or ' '} |" for _, record in rows]
        lines.append("")
    subcommands = getattr(command, "commands", {})
    if subcommands:
        lines += ["| command | what it does |", "|---|---|"]
        for sub_name, sub in subcommands.items():
            lines.append(f"| [`{sub_name}`](#{_anchor((*path, sub_name))}) | {_text(_first_line(sub))} |")
        lines.append("")
    for sub_name, sub in subcommands.items():
        sub_ctx = sub.context_class(sub, info_name=sub_name, parent=ctx)
        lines += _sections(sub, sub_ctx, (*path, sub_name))
    return lines


def _first_line(command: Any) -> str:
    """What the parent's ``--help`` lists for a command: its short help, else its help's first paragraph."""
    return command.short_help or " ".join(inspect.cleandoc(command.help or "").split("\n\n")[0].split())


def _help(text: str) -> str:
    """A docstring as Markdown paragraphs: single line breaks joined, as ``--help`` joins them."""
    paragraphs = inspect.cleandoc(text).partition("\f")[0].split("\n\n")
    return "\n\n".join(_text(" ".join(p.split())) for p in paragraphs if p.strip())


def _text(text: str) -> str:
    """Help text made safe for a Markdown table cell: no HTML, no emphasis, no column break. ``\\[`` is rich's
    escape of a bracket that is not markup (``--help`` prints ``[``)."""
    text = text.replace("\\[", "[")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|").replace("*", "\\*")


def _cell(text: str) -> str:
    """Text inside a code span of a table cell: only the column separator needs escaping."""
    return text.replace("|", "\\|")


def _anchor(path: tuple[str, ...]) -> str:
    """The id MkDocs' toc extension gives the heading of ``ecombench PATH``."""
    return "-".join(("ecombench", *path))

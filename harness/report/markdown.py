"""Markdown escaping for ``templates/comparison.md.j2``: ids, class names and error texts come from users and
from the database, and many Markdown viewers render inline HTML, so nothing in them may become markup.

Every ``{{ value }}`` of the Markdown template goes through ``finalize``: text is escaped for Markdown text
(HTML's ``< > &`` as entities; Markdown's `` \\ ` * [ ] | `` and word-edge ``_`` with a backslash; line
breaks folded to spaces, so a value cannot start a new block or table row). ``code`` sets a value as a
code span, where HTML is shown literally: its backtick fence is longer than any run of backticks inside.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

_SPECIAL = re.compile(r"[\\`*\[\]|~]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _one_line(text: str) -> str:
    return " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text


def escape(text: object) -> Markup:
    """``text`` shown literally in Markdown text (a paragraph or a table cell)."""
    if isinstance(text, Markup):
        return text
    line = _one_line(str(text))
    line = "".join(_ENTITIES.get(ch, ch) for ch in line)
    return Markup(_SPECIAL.sub(lambda m: "\\" + m.group(0), line))


def code(text: object, table: bool = True) -> Markup:
    """``text`` as a code span; in a table (``table``) its ``|`` is escaped, as GFM tables require."""
    line = _one_line(str(text))
    longest = max((len(run) for run in re.findall(r"`+", line)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if line.startswith("`") or line.endswith("`") or longest else ""
    if table:
        line = line.replace("|", "\\|")
    return Markup(f"{fence}{pad}{line}{pad}{fence}")


def finalize(value: Any) -> Any:
    """Jinja's ``finalize`` hook: text not marked safe (``Markup``) is escaped; numbers and undefined pass."""
    return escape(value) if isinstance(value, str) else value


def link(text: object, url: str) -> Markup:
    """``text`` as a Markdown link to ``url`` (text escaped; the URL's parentheses and spaces percent-encoded);
    the plain escaped text where there is no URL."""
    if not url:
        return escape(text)
    target = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    return Markup(f"[{escape(text)}]({target})")

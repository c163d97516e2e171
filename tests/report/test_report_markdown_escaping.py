"""Markup in ids, dataset names and error texts comes out of the Markdown report as text, never as HTML or
as Markdown structure: checked by rendering the report with a real CommonMark + GFM-tables parser."""

import re
from pathlib import Path

from markdown_it import MarkdownIt

from harness.report import render_markdown
from harness.report.markdown import code, escape
from harness.storage.store import ingest
from support import make_shard

IMG = "<img src=x onerror=alert(1)>"
MODEL = f"timm:{IMG}|`x`"
DATASET = "folder:/d/<b>|a`b`|[l](javascript:alert(1))"
ERROR = "boom <script>alert(1)</script> | *x* [y](http://e)\nsecond line | z"


def test_markdown_report_neutralises_markup(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    failed = make_shard(MODEL, "digits", {}, status="error")
    failed.error = ERROR
    ok = [make_shard(m, DATASET, {"mmp_at_5": v, "recall_at_1": v}) for m, v in ((MODEL, 0.5), ("timm:ok", 0.6))]
    ingest(db, [*ok, failed])
    text = render_markdown(db, tmp_path / "report.md").read_text()
    html = MarkdownIt("commonmark").enable("table").render(text)
    # no tag from the payloads survives; they are shown as text
    assert not re.search(r"<(img|script|b)\b", html), html
    assert 'href="javascript' not in html and "<em>x</em>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # the paper table keeps its 2 + 2 columns in every row (a failure opens no column of its own): no pipe in a
    # value split a cell
    table = html.split("<table>")[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    assert len(rows) == 3 and all(len(re.findall(r"<t[hd]", row)) == 4 for row in rows), rows
    assert MODEL in html.replace("&lt;", "<").replace("&gt;", ">")  # the id reads exactly as written


def test_escape_and_code_spans() -> None:
    assert escape("a_b _c_ *d* [e] <f> & |g| `h`\ni") == (r"a_b \_c\_ \*d\* \[e\] &lt;f&gt; &amp; \|g\| \`h\` i")
    assert code("x`y``z") == "``` x`y``z ```" and code("a|b") == r"`a\|b`" and code("a|b", table=False) == "`a|b`"
    rendered = MarkdownIt("commonmark").render(code("<img src=x>``", table=False))
    assert "<code>&lt;img src=x&gt;``</code>" in rendered

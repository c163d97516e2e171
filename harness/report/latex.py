"""LaTeX escaping and cell formatting for the booktabs tables (``harness/report/templates/tables.tex.j2``)."""

from __future__ import annotations

from harness.report.data import Value

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def escape(text: object) -> str:
    """Text set literally in LaTeX: each of ``\\ & % $ # _ { } ~ ^`` escaped (in one pass)."""
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def cell(value: Value | None, failed: bool = False) -> str:
    """A table cell: best value in ``\\textbf{}``, second in ``\\underline{}``, a failed cell as such."""
    if value is None:
        return r"\textit{failed}" if failed else "--"
    text = f"{value.value:.4f}"
    text = {1: rf"\textbf{{{text}}}", 2: rf"\underline{{{text}}}"}.get(value.rank, text)
    if value.interval:
        text += rf" {{\scriptsize {value.interval}}}"
    if value.spread:
        spread = escape(value.spread).replace("±", r"$\pm$")
        text += rf" {{\scriptsize {spread}}}"
    return text + (r"$^{\approx}$" if value.tied and value.p_value is not None else "")

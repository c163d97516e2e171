"""Prompt template sets (``harness/presets/templates.toml``): a suite's ``templates`` parameter names a set, or
is one template itself (text holding ``{c}``). Read without torch; the resolved templates enter the cell key."""

from __future__ import annotations

from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.tomlfile import read_toml

TEMPLATES = Path(__file__).parents[2] / "presets" / "templates.toml"
PLACEHOLDER = "{c}"


def template_sets() -> dict[str, tuple[str, ...]]:
    """Every named set, in file order."""
    table = read_toml(TEMPLATES, "template file")
    return {name: tuple(entry["templates"]) for name, entry in table.items()}


def resolve_templates(value: str) -> tuple[str, ...]:
    """The templates a ``templates`` parameter means: a named set, or the value as a single template.

    Raises:
        HarnessError: neither a known set nor a template holding ``{c}`` (or a template that does not format).
    """
    sets = template_sets()
    templates = sets.get(value) or ((value,) if PLACEHOLDER in value else None)
    if templates is None:
        raise HarnessError(
            f"templates={value!r} is neither a template set ({', '.join(sets)}; {TEMPLATES.name}) "
            f'nor a template holding {PLACEHOLDER} (e.g. "a photo of a {{c}}.")'
        )
    for template in templates:
        try:
            template.format(c="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise HarnessError(f"template {template!r}: only {PLACEHOLDER} may be substituted ({exc!r})") from exc
    return templates

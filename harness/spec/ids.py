"""The one id grammar for models and datasets, used alike in the CLI, suite files, DB rows and reports.

    ref      := kind [":" name] ["[" option ("," option)* "]"]
    option   := key "=" value

Examples: ``digits``, ``synthetic[classes=8,per_class=16]``, ``folder:/data/shoes``,
``timm:resnet50.a1_in1k``, ``open_clip:ViT-B-16-SigLIP@webli``, ``timm:resnet18[init=random]``.
Options come in benchopt's ``name[k=v]`` selector style and are written back sorted, so every spelling of
one reference has a single canonical form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.core.errors import HarnessError

_REF = re.compile(r"^(?P<kind>[A-Za-z][\w-]*)(?::(?P<name>[^\[\]]+))?(?:\[(?P<options>[^\[\]]*)\])?$")


@dataclass(frozen=True)
class Ref:
    """A parsed model or dataset reference."""

    kind: str
    name: str = ""
    options: tuple[tuple[str, str], ...] = field(default=())

    def option(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)

    def split_at(self) -> tuple[str, str]:
        """``arch@tag`` or ``arch@path`` -> (arch, tag or path); ("arch", "") without an ``@``."""
        left, _, right = self.name.partition("@")
        return left, right

    def __str__(self) -> str:
        text = f"{self.kind}:{self.name}" if self.name else self.kind
        if self.options:
            text += "[" + ",".join(f"{k}={v}" for k, v in self.options) + "]"
        return text


#: longer than any path a file system takes (PATH_MAX): an id this long is a mistake, not a dataset
MAX_ID = 4096


def shorten(text: str, keep: int = 60) -> str:
    """``text`` as shown in a message: a very long one cut, with its length said."""
    return text if len(text) <= keep + 20 else f"{text[:keep]}... ({len(text)} characters)"


def parse_ref(text: str, what: str) -> Ref:
    """Parse ``text`` into a Ref; ``what`` ("model" or "dataset") names the thing in error messages."""
    if len(text) > MAX_ID:
        raise HarnessError(f"{what} id '{shorten(text)}' is too long: at most {MAX_ID} characters")
    match = _REF.match(text.strip())
    if not match:
        raise HarnessError(
            f"malformed {what} id {text!r}: expected kind[:name][key=value,...], e.g. "
            + ("'timm:resnet50.a1_in1k'" if what == "model" else "'digits' or 'folder:/path/to/images'")
        )
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (match["options"] or "").split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise HarnessError(f"malformed option {part!r} in {what} id {text!r}: expected key=value")
        if key.strip() in options:  # the second would silently win: a typo'd experiment
            raise HarnessError(f"duplicate option {key.strip()} in {what} id {text!r}: give it once")
        options[key.strip()] = value.strip()
    return Ref(match["kind"], (match["name"] or "").strip(), tuple(sorted(options.items())))


def check_options(ref: Ref, allowed: set[str], what: str) -> None:
    """Reject options a family or dataset does not understand, listing the ones it does."""
    unknown = sorted({k for k, _ in ref.options} - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise HarnessError(f"unknown option(s) {', '.join(unknown)} in {what} id '{ref}' (known: {known})")

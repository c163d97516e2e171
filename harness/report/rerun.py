"""The exact ``ecombench run`` command that reruns one cell of a report."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any


def rerun_command(model: str, dataset: str, suite: str, strategy: str, params: dict[str, Any]) -> str:
    words = ["ecombench", "run", "--model", _squote(model), "--dataset", _squote(dataset)]
    words += ["--suite", shlex.quote(suite), "--strategy", shlex.quote(strategy)]
    for key, value in sorted(params.items()):
        words += ["--param", shlex.quote(f"{key}={_toml_scalar(value)}")]
    return " ".join(words)


def _squote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _toml_scalar(value: Any) -> str:
    """How ``--param`` reads the value back: text that TOML would take for another type is quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        return str(value)
    bare = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", value) and value not in ("true", "false", "inf", "nan")
    if not bare:
        return json.dumps(value)
    return str(value)

"""Suite parameters keep the type of their default: ``--param split=5`` or ``warmup = "ten"`` in a suite
file is an error before anything runs, not a cell that fails (or silently means something else) later."""

from __future__ import annotations

from typing import Any

from harness.core.errors import HarnessError

_KINDS = ((bool, "true or false"), (int, "an integer"), (float, "a number"), (str, "text"))


def _kind(value: Any) -> tuple[type, str] | None:
    return next(((t, word) for t, word in _KINDS if isinstance(value, t)), None)


def check_param_types(suite: str, defaults: dict[str, Any], given: dict[str, Any]) -> None:
    """Raise a HarnessError for the first given parameter whose type differs from its default's
    (an integer is a number; a default of None, a table or a list takes anything)."""
    for key, value in given.items():
        expected = _kind(defaults.get(key))
        if expected is None or key not in defaults:
            continue
        kind, word = expected
        ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise HarnessError(
                f"parameter {key}={value!r} of suite '{suite}' must be {word}, like its default {defaults[key]!r}"
            )

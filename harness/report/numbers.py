"""How the recommend section, the shortcuts section and ``ecombench recommend`` print a figure: "n/a" where it
is undefined (NaN, or not measured), never "nan"."""

from __future__ import annotations

import math


def number(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def share(fraction: float | None) -> str:
    """A fraction of the grid's device time as a percentage; "n/a" where it is unknown."""
    return "n/a" if fraction is None or math.isnan(fraction) else f"{100 * fraction:.1f} %"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds / 3600:.2f} device-hours" if seconds >= 3600 else f"{seconds:.1f} device-seconds"

"""How many decoding workers an extraction starts by default: the one extraction setting that needs the machine
(the settings type itself is part of the one run settings type, harness.spec.settings.Extraction)."""

from __future__ import annotations

import os


def default_workers() -> int:
    """Decoding workers sized from the cores this process may use: all but one for the forward loop, at most
    16 (CPU JPEG decoding runs at a few hundred images per second per core, so a GPU needs many)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(16, cores - 1))

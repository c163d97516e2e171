"""How the forward passes of an extraction run. The settings type is part of the one run settings type
(harness.spec.settings.Extraction, re-exported here as ``ExtractionSettings``); this module adds what needs the
machine: the default number of decoding workers."""

from __future__ import annotations

import os

from harness.spec.settings import Extraction as ExtractionSettings
from harness.spec.settings import numeric_settings

__all__ = ["ExtractionSettings", "default_workers", "numeric_settings"]


def default_workers() -> int:
    """Decoding workers sized from the cores this process may use: all but one for the forward loop, at most
    16 (CPU JPEG decoding runs at a few hundred images per second per core, so a GPU needs many)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(16, cores - 1))

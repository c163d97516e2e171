"""Real datasets a test may need from the machine, found or failed (on CI) or skipped (elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def installed_fashion_mnist() -> Path:
    """Debian's copy of the real files: CI installs it (.ci/run), so there a missing copy fails, not skips."""
    if (DEBIAN / "t10k-images-idx3-ubyte.gz").is_file():
        return DEBIAN
    if os.environ.get("CI") == "true":
        pytest.fail(f"Fashion-MNIST is missing on CI ({DEBIAN}): .ci/run installs Debian's dataset-fashion-mnist")
    pytest.skip(f"Fashion-MNIST is not installed in {DEBIAN} (Debian: apt-get install dataset-fashion-mnist)")

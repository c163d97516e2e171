"""Fixtures shared by every test (helpers that tests import live in the ``support`` package)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import REPO


@pytest.fixture
def repo() -> Path:
    return REPO

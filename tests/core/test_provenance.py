"""Provenance finds the checkout it runs from: the lock hash and the container build context come from it."""

from __future__ import annotations

import hashlib

from harness.core import provenance
from support import REPO


def test_the_checkout_is_the_folder_above_the_package() -> None:
    assert provenance.REPO == REPO
    assert (provenance.REPO / "pyproject.toml").is_file() and (provenance.REPO / "containers").is_dir()


def test_the_lock_hash_is_the_locks_sha256() -> None:
    assert provenance._lock_hash() == hashlib.sha256((REPO / "uv.lock").read_bytes()).hexdigest()

"""Find every process a command started, however deep, by a marker in its environment, and SIGKILL the
command at a chosen moment: how tests check that a killed ecombench leaves nothing running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

MARK = "ECOMBENCH_ORPHAN_MARK"


def marked(token: str) -> list[int]:
    """Live (not zombie) processes whose environment carries ``MARK=token``."""
    needle = f"{MARK}={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state not in ("Z", "X"):
            found.append(int(entry))
    return found


def kill_midway(
    args: list[str], cwd: Path, env: dict[str, str], ready: Callable[[list[int]], bool], timeout: float = 120
) -> tuple[list[int], list[int]]:
    """Run ``python -m harness.cli ARGS``; SIGKILL it once ``ready(marked pids)`` holds; returns (the
    processes it had started, those still alive 5 s after the kill). Raises if it ended before being ready."""
    token = uuid.uuid4().hex
    command = [sys.executable, "-m", "harness.cli", *args]
    proc = subprocess.Popen(
        command, cwd=cwd, env={**os.environ, **env, MARK: token}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + timeout
    try:
        while not ready([p for p in marked(token) if p != proc.pid]):
            if proc.poll() is not None:
                raise AssertionError(f"ended (exit {proc.returncode}) before the kill: {proc.stderr.read()!r}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                raise AssertionError("never became ready to be killed")
            time.sleep(0.01)
        children = [p for p in marked(token) if p != proc.pid]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(5)
        return children, marked(token)
    finally:
        for pid in marked(token):  # leave nothing behind, whatever the outcome
            os.kill(pid, signal.SIGKILL)
        if proc.stderr:
            proc.stderr.close()

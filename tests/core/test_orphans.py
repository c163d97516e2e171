"""A SIGKILLed ecombench leaves nothing running: its pool workers (and with them the forkserver and the
resource tracker) and its DataLoader workers die with it (harness.core.procs)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support.orphans import kill_midway

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def shop(root: Path, images: int = 300) -> Path:
    rng = np.random.default_rng(0)
    for i in range(images):
        folder = root / f"class{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def test_a_killed_prepare_leaves_no_worker_running(tmp_path: Path) -> None:
    root, home = shop(tmp_path / "shop", images=400), tmp_path / "home"

    def midway(children: list[int]) -> bool:  # the pool is up: images are being read
        return len(children) >= 3

    args = ["datasets", "prepare", f"folder:{root}", "--workers", "2", "--db", str(tmp_path / "r.duckdb")]
    children, alive = kill_midway([*args, "--workdir", str(home)], tmp_path, {}, midway)
    assert len(children) >= 3  # 2 workers, the forkserver and the resource tracker
    assert alive == [], f"still running 5 s after the kill: {alive} of {children}"


@pytest.mark.slow
def test_a_killed_extraction_leaves_no_loader_worker_running(tmp_path: Path) -> None:
    root = shop(tmp_path / "shop")
    args = ["run", "--model", "timm:test_vit[init=random]", "--dataset", f"folder:{root}", "--backend", "exact"]
    args += ["--batch-size", "4", "--workers", "2", "--workdir", str(tmp_path / "wd"), "--db", str(tmp_path / "r.db")]
    env = {"OMP_NUM_THREADS": "1"}
    children, alive = kill_midway(args, tmp_path, env, lambda pids: len(pids) >= 2)
    assert len(children) >= 2 and alive == [], f"still running 5 s after the kill: {alive} of {children}"


CHILD = """
import os, sys, time
from harness.core.procs import die_with_parent, watch_process
die_with_parent() if sys.argv[1] == "pdeathsig" else watch_process(int(sys.argv[2]))
print(os.getpid(), flush=True)
time.sleep(60)
"""
# a middle process runs the guarded child, telling it its own pid
MIDDLE = "import os, subprocess, sys; subprocess.run([*sys.argv[1:], str(os.getpid())])"


@pytest.mark.parametrize("how", ["pdeathsig", "watch"])
def test_a_guarded_child_ends_with_its_parent(how: str) -> None:
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE, sys.executable, "-c", CHILD, how], stdout=subprocess.PIPE)
    assert middle.stdout is not None
    child = int(middle.stdout.readline())
    assert _state(child) not in ("Z", "X")
    middle.kill()
    middle.wait()
    middle.stdout.close()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and _state(child) not in ("Z", "X"):
        time.sleep(0.05)
    gone = _state(child) in ("Z", "X")
    if not gone:
        os.kill(child, 9)
    assert gone, f"{how}: the child outlived its parent by 3 s"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"

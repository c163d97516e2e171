"""Orphans after SIGKILL: kill ``datasets prepare`` and a running extraction N times each at a random moment
mid-run and count the processes they had started that are still alive 5 s later (the goal is 0).

    python benchmarks/orphans.py            # 10 kills of each; Linux (reads /proc)

Processes are found by a marker in their environment (tests/support/orphans.py), so workers started after the
last look are counted too.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from orphans import kill_midway


def shop(root: Path, images: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(images):
        folder = root / f"c{i % 6}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--images", type=int, default=1500)
    args = parser.parse_args()
    random.seed(0)
    with tempfile.TemporaryDirectory(prefix="ecombench-orphans-") as tmp:
        base = Path(tmp)
        shop(base / "shop", args.images)
        home, totals = base / "home", {"prepare": [0, 0], "extraction": [0, 0]}
        for trial in range(args.kills):
            shutil.rmtree(home, ignore_errors=True)
            target = random.uniform(1, args.images * 100)  # journal bytes (~250 per image): a random moment

            def midway(pids: list[int], target: float = target) -> bool:
                journals = (home / "manifests").glob("*.journal.jsonl")
                return len(pids) >= 3 and any(j.stat().st_size >= target for j in journals)

            command = ["datasets", "prepare", f"folder:{base / 'shop'}", "--workers", "2", "--db", str(base / "r.db")]
            started, alive = kill_midway([*command, "--workdir", str(home)], base, {}, midway)
            totals["prepare"][0] += len(started)
            totals["prepare"][1] += len(alive)
            print(f"prepare kill {trial}: {len(started)} processes started, {len(alive)} alive 5 s later", flush=True)
        for trial in range(args.kills):
            shutil.rmtree(base / "wd", ignore_errors=True)
            command = ["run", "--model", "timm:test_vit[init=random]", "--dataset", f"folder:{base / 'shop'}"]
            command += ["--backend", "exact", "--batch-size", "4", "--workers", "2", "--workdir", str(base / "wd")]
            command += ["--db", str(base / "r2.db")]
            env = {"OMP_NUM_THREADS": "1"}
            started, alive = kill_midway(command, base, env, lambda pids: len(pids) >= 2 and random.random() < 0.2)
            totals["extraction"][0] += len(started)
            totals["extraction"][1] += len(alive)
            print(f"extraction kill {trial}: {len(started)} started, {len(alive)} alive 5 s later", flush=True)
    for what, (started_n, alive_n) in totals.items():
        print(f"{what}: {args.kills} kills, {started_n} processes started, {alive_n} orphans")


if __name__ == "__main__":
    main()

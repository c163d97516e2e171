"""How well racing and the cheap signals predict a full grid, on the offline selection panel.

    python benchmarks/recommend_panel.py                         # runs suites/selection-panel.toml, then scores
    python benchmarks/recommend_panel.py --fraction 0.05 --first-per-class 3
    python benchmarks/recommend_panel.py --data fashion_mnist=/data/fashion-mnist

First the full grid (nine backbones x Fashion-MNIST (100 per class) and digits, pre-trained retrieval, exact
search) runs through ``ecombench grid`` into a scratch database and workdir (``--db``/``--workdir`` keep them;
a re-run recomputes nothing). Then :func:`harness.workflows.recommend.evaluate` replays racing under
``--fraction`` of each grid's recorded device time, and every cheap signal on the first stage's sample, from the
grid's cached embeddings, and prints per dataset and method: Kendall tau and weighted tau against the grid's
mMP@5 ranking, top-1 regret (mMP@5), and the fraction of the grid's device time spent. The goals it prints
beside them: regret <= 0.01 at <= 10 % of the device time and tau >= 0.8 for racing.

Device time is wall time of the grid's cells on this machine: on a shared machine it carries the other jobs'
noise, and so does the fraction.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUITE = REPO / "suites" / "selection-panel.toml"
GOAL_REGRET, GOAL_FRACTION, GOAL_TAU = 0.01, 0.10, 0.8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--first-per-class", type=int, default=5)
    parser.add_argument("--data", action="append", default=[], help="NAME=PATH for the suite's [data] folders")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="recommend-panel-"))
    db, workdir = args.db or scratch / "panel.duckdb", args.workdir or scratch / "work"
    data = [item for pair in args.data for item in ("--data", pair)]
    command = [sys.executable, "-m", "harness.cli", "grid", str(SUITE), "--db", str(db), "--workdir", str(workdir),
               "--device", args.device, *data]  # fmt: skip
    print("full grid:", " ".join(command[2:]), flush=True)
    subprocess.run(command, check=True, cwd=REPO)

    from harness.compute.selection.racing import RaceConfig
    from harness.workflows.recommend import evaluate

    replays = evaluate(db, workdir, RaceConfig(first_per_class=args.first_per_class), args.fraction)
    print(f"\nracing budget: {args.fraction:.0%} of each grid's device time; signals on "
          f"{args.first_per_class} images per class\n")  # fmt: skip
    header = f"{'dataset':<44} {'method':<14} {'tau':>6} {'w.tau':>6} {'regret':>7} {'device':>7}  choice"
    print(header)
    print("-" * len(header))
    for replay in replays:
        for s in replay.scores:
            print(f"{replay.dataset[-44:]:<44} {s.method:<14} {fmt(s.tau, 3):>6} {fmt(s.weighted_tau, 3):>6} "
                  f"{fmt(s.regret, 4):>7} {s.fraction:>6.1%}  {s.choice}")  # fmt: skip
        race = replay.race
        print(f"{'':<44} racing outcome: {race.outcome}, {len(race.stages)} stage(s), "
              f"grid {replay.grid_seconds:.0f} device-s over {replay.candidates} models")  # fmt: skip
    print("\ngoals (racing): regret <= 0.01 at <= 10 % device time, tau >= 0.8")
    for replay in replays:
        s = replay.scores[0]
        met = s.regret <= GOAL_REGRET and s.fraction <= GOAL_FRACTION and not s.tau < GOAL_TAU
        print(f"  {replay.dataset}: {'met' if met else 'NOT met'}")


def fmt(value: float, digits: int) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


if __name__ == "__main__":
    main()

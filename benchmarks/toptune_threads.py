"""Top-tuning search on the CPU with torch's own thread count and with the cap (ECOMBENCH_HEAD_THREADS=1),
in one run and alternating, so that both see the same machine load.

    uv run python benchmarks/toptune_threads.py [--rounds 2] [--trials 3] [--epochs 10]

Data: sklearn's digits as 64-dimensional raw-pixel embeddings (1,797 items, 10 classes). Prints per search the
threads in effect, the search's wall time and its time per Keras epoch (search_s / (trials x epochs)).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="uncapped + capped searches per round")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    from harness.compute.toptune.presets import Preset
    from harness.compute.toptune.train import train_head

    digits = load_digits()
    x, y = digits.data.astype(np.float32), digits.target
    preset = Preset(args.trials, 1, args.epochs, final_epochs=1, patience=1, val_fraction=0.2)
    print(f"torch default threads: {torch.get_num_threads()}, os.cpu_count(): {os.cpu_count()}, "
          f"load average: {os.getloadavg()[0]:.1f}")  # fmt: skip
    results: dict[str, list[float]] = {"uncapped": [], "capped": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for label, cap in (("uncapped", "0"), ("capped", "1")):
                os.environ["ECOMBENCH_HEAD_THREADS"] = cap
                head = train_head(x, y, preset, 0, Path(tmp) / f"{label}-{round_}", overwrite=True, what="bench")
                per_epoch = head.search_s / (args.trials * args.epochs)
                results[label].append(per_epoch)
                print(f"round {round_}: {label:8s} threads={head.threads}  search {head.search_s:6.2f} s  "
                      f"{per_epoch * 1000:7.1f} ms/epoch  (load {os.getloadavg()[0]:.1f})")  # fmt: skip
    before, after = (float(np.median(results[k])) for k in ("uncapped", "capped"))
    print(f"median ms/epoch: uncapped {before * 1000:.1f}, capped {after * 1000:.1f}; ratio {before / after:.2f}x")


if __name__ == "__main__":
    main()

"""The Ray executor's overhead per cell against the serial executor, on a grid of trivial cells.

    uv run python benchmarks/ray_overhead.py [--cells 40] [--cpus 1]

Trivial cells (``pixels:1`` on tiny synthetic data, the exact backend) take milliseconds, so a grid of them
measures what the executor adds: task submission, the worker's round trip, the shard's serialisation and
validation. Each executor first runs a warm-up grid (imports, Ray's first worker process), then the timed
grid of other cells; Ray's local cluster has ``--cpus`` CPUs (1: one cell at a time, as the serial one).
Prints the seconds per cell of each and their difference, and Ray's one-off start-up costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=40, help="cells in the timed grid (and in the warm-up)")
    parser.add_argument("--cpus", type=int, default=1, help="CPUs of Ray's local cluster")
    return parser.parse_args(argv)


def timed_grid(workdir: Path, first: int, cells: int, ray: bool) -> float:
    from harness.execute.runner import run_plan
    from harness.plan.grid import make_cells
    from harness.plan.plan import make_plan
    from harness.spec.settings import Execution, Extraction, Settings

    datasets = [f"synthetic[classes=2,per_class={k},size=16]" for k in range(first, first + cells)]
    grid = make_cells(["pixels:1"], datasets, ["pretrained"], ["retrieval"], {"retrieval": {"backend": "exact"}})
    settings = Settings(workdir, workdir / "r.duckdb", None, Extraction(32, 0, "cpu"), ingest=False)
    plan = make_plan(grid.cells, "cpu", workdir)
    started = time.perf_counter()
    outcomes = run_plan(plan, dataclasses.replace(settings, execution=Execution(ray=ray)))
    elapsed = time.perf_counter() - started
    assert [o.status for o in outcomes] == ["ok"] * cells, [o.error for o in outcomes if o.error]
    return elapsed


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault(
        "RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0"
    )  # as harness.execute.ray_cluster: no working-folder copy
    import ray
    import torch

    torch.set_num_threads(1)
    n = args.cells
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        timed_grid(root / "serial-warm", 3, n, ray=False)
        serial = timed_grid(root / "serial", 3 + n, n, ray=False)
        started = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        start_s = time.perf_counter() - started
        try:
            warm = timed_grid(root / "ray-warm", 3, n, ray=True)
            on_ray = timed_grid(root / "ray", 3 + n, n, ray=True)
        finally:
            ray.shutdown()
    print(f"{n} trivial cells each (pixels:1, synthetic 2 classes, exact backend); Ray: {args.cpus} CPU(s)")
    print(f"  serial executor        {serial / n * 1000:8.1f} ms/cell")
    print(f"  Ray executor           {on_ray / n * 1000:8.1f} ms/cell")
    print(f"  overhead               {(on_ray - serial) / n * 1000:8.1f} ms/cell")
    print(f"  one-off: ray.init {start_s:.1f} s; warm-up grid (first worker start) {warm:.1f} s")


if __name__ == "__main__":
    main()

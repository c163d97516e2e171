"""Executors: how planned cells get run. One small protocol; the serial one runs them in this process, the
pool in N worker processes of this machine, the container one each in its model family's image. Each hands
back every shard as its cell finishes; the caller (harness.execute.runner) is the one that ingests.

Cells are handed out in groups of one model, so each worker loads each of its models once, and the cells
that share a sub-job (a fine-tune, a top-tune search) run one after the other in one worker.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from harness.core.errors import HarnessError
from harness.execute.worker import RunSettings, Worker
from harness.spec.cells import CellSpec
from harness.storage.shards import Shard

Done = Callable[[Shard, bool], None]


class Executor(Protocol):
    def run(self, specs: list[CellSpec], done: Done) -> None:
        """Run every spec; call ``done(shard, was_cached)`` for each as it finishes."""
        ...


def by_model(specs: list[CellSpec]) -> list[list[CellSpec]]:
    ordered = sorted(specs, key=lambda s: s.cell.model)  # stable: plan order within a model
    return [list(group) for _, group in itertools.groupby(ordered, key=lambda s: s.cell.model)]


class SerialExecutor:
    def __init__(self, settings: RunSettings, force_since: float | None) -> None:
        self.worker = Worker(settings, force_since)

    def run(self, specs: list[CellSpec], done: Done) -> None:
        for group in by_model(specs):
            for spec in group:
                done(*self.worker.run(spec))


_worker: Worker | None = None


def _start_worker(settings: dict[str, object], force_since: float | None, threads: int, counter: Any) -> None:
    import torch

    global _worker
    torch.set_num_threads(threads)
    with counter.get_lock():
        index, counter.value = counter.value, counter.value + 1
    if settings["device"] == "cuda" and torch.cuda.device_count() > 1:  # one GPU per worker
        settings = {**settings, "device": f"cuda:{index % torch.cuda.device_count()}"}
    _worker = Worker(RunSettings.from_dict(settings), force_since)


def _run_group(specs: list[str]) -> list[tuple[str, bool]]:
    assert _worker is not None
    results = []
    for text in specs:
        shard, cached = _worker.run(CellSpec.from_json(text))
        results.append((shard.to_bytes().decode(), cached))
    return results


class PoolExecutor:
    """N worker processes (spawned: no CUDA or thread state is inherited). The CPU threads are split between
    them; on a machine with several GPUs, worker i would take ``cuda:i`` (one GPU per worker)."""

    def __init__(self, settings: RunSettings, force_since: float | None, jobs: int) -> None:
        self.settings, self.force_since, self.jobs = settings, force_since, jobs

    def run(self, specs: list[CellSpec], done: Done) -> None:
        import json
        import multiprocessing

        threads = max(1, (os.cpu_count() or 1) // self.jobs)
        context = multiprocessing.get_context("spawn")
        args = (self.settings.as_dict(), self.force_since, threads, context.Value("i", 0))
        with ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_start_worker, initargs=args) as pool:
            pending: set[Future[list[tuple[str, bool]]]] = {
                pool.submit(_run_group, [spec.to_json() for spec in group]) for group in by_model(specs)
            }
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    try:
                        results = future.result()
                    except BrokenProcessPool as exc:
                        raise HarnessError(
                            "a worker process died (killed, or out of memory); the cells that finished are kept:"
                            " run the grid again to continue"
                        ) from exc
                    for text, cached in results:
                        done(Shard.parse(json.loads(text), "a pool worker's shard"), cached)


class ContainerExecutor:
    """Each cell in its family's container (harness.execute.containers.run), one after another; the image is chosen
    per model (``family``: one image for all); retrieval cells on Milvus share one ``milvus_sidecar`` sidecar
    (harness.execute.containers.run.GridNetwork)."""

    def __init__(
        self, settings: RunSettings, timeout_s: float, family: str | None = None, milvus_sidecar: str = "server"
    ) -> None:
        self.settings, self.timeout_s, self.family, self.milvus_sidecar = settings, timeout_s, family, milvus_sidecar

    def run(self, specs: list[CellSpec], done: Done) -> None:
        import functools
        import sys

        from harness.execute.containers.run import GridNetwork, run_in_container

        echo = functools.partial(print, end="", file=sys.stderr, flush=True)
        worker = Worker(self.settings)
        grid = GridNetwork()  # one network and sidecar for all the cells, made when a cell first needs them
        try:
            for spec in specs:
                if (finished := worker.finished(spec)) is not None:
                    done(finished, True)
                else:
                    args = (self.timeout_s, echo, self.family, self.milvus_sidecar, grid)
                    done(run_in_container(spec, self.settings, *args), False)
        finally:
            grid.close()

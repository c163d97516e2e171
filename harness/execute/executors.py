"""Executors: how planned cells get run. One small protocol and a registry of them by name (:data:`EXECUTORS`):
``serial`` runs them in this process, ``pool`` in N worker processes of this machine, ``container`` each in its
model family's image, ``ray`` as tasks on a Ray cluster. Each is made from the one run settings object
(harness.spec.settings.Settings) and hands back every shard as its cell finishes; the caller
(harness.execute.runner) is the one that ingests.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from harness.core.errors import HarnessError
from harness.execute.dispatch import Done, Executor, by_model
from harness.execute.worker import Worker
from harness.spec.cells import CellSpec
from harness.spec.settings import Settings
from harness.storage.shards import Shard


class SerialExecutor:
    def __init__(self, settings: Settings) -> None:
        self.worker = Worker(settings)

    def run(self, specs: list[CellSpec], done: Done) -> None:
        for group in by_model(specs):
            for spec in group:
                done(*self.worker.run(spec))


_worker: Worker | None = None


def _start_worker(settings: dict[str, object], threads: int, counter: Any) -> None:
    import torch

    global _worker
    torch.set_num_threads(threads)
    with counter.get_lock():
        index, counter.value = counter.value, counter.value + 1
    if settings["device"] == "cuda" and torch.cuda.device_count() > 1:  # one GPU per worker
        settings = {**settings, "device": f"cuda:{index % torch.cuda.device_count()}"}
    _worker = Worker(Settings.from_dict(settings))


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

    def __init__(self, settings: Settings) -> None:
        self.settings, self.jobs = settings, settings.execution.jobs

    def run(self, specs: list[CellSpec], done: Done) -> None:
        import json
        import multiprocessing

        threads = max(1, (os.cpu_count() or 1) // self.jobs)
        context = multiprocessing.get_context("spawn")
        args = (self.settings.as_dict(), threads, context.Value("i", 0))
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

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # the host's view of what is done: a forced grid (settings.force_since) hands its finished cells to containers
        self.worker = Worker(settings)

    def run(self, specs: list[CellSpec], done: Done) -> None:
        import functools
        import sys

        from harness.execute.containers.run import GridNetwork, run_in_container

        echo = functools.partial(print, end="", file=sys.stderr, flush=True)
        execution = self.settings.execution
        grid = GridNetwork()  # one network and sidecar for all the cells, made when a cell first needs them
        try:
            for spec in specs:
                if (finished := self.worker.finished(spec)) is not None:
                    done(finished, True)
                else:
                    args = (execution.timeout_s, echo, execution.family, execution.milvus_sidecar, grid)
                    done(run_in_container(spec, self.settings, *args), False)
        finally:
            grid.close()


def _ray(settings: Settings) -> Executor:
    from harness.execute.ray_cluster import RayExecutor  # Ray is an optional extra: imported when asked for

    return RayExecutor(settings)


#: every executor by the name ``Execution.executor`` (``--executor``) gives it, each made from the run settings
EXECUTORS: dict[str, Callable[[Settings], Executor]] = {
    "serial": SerialExecutor,
    "pool": PoolExecutor,
    "container": ContainerExecutor,
    "ray": _ray,
}


def make_executor(settings: Settings) -> Executor:
    """The executor ``settings.execution`` names; an unknown name is an error listing the known ones."""
    name = settings.execution.name
    factory = EXECUTORS.get(name)
    if factory is None:
        raise HarnessError(f"executor '{name}' is unknown: expected one of {', '.join(EXECUTORS)}")
    return factory(settings)

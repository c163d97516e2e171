"""The Ray executor: each cell a Ray task on a cluster, with the resources it needs; the driver (this
process) gets every shard back as the task's result and alone writes the database (harness.execute.runner).

Sub-jobs (a fine-tune, a top-tune search) are trained by the first cell of the plan that consumes them; the
other consumers are submitted once that cell has finished, so nothing trains twice and nothing waits on
anything but its own sub-jobs. Cells without sub-jobs are all submitted at once.

Failures: a worker that dies (a preempted node, an OOM kill) costs its cell one retry (``max_retries=1``);
after that the cell is an error row of this run and pending in the next plan. A cell that fails for its own
reason returns an error shard normally and is never retried. A driver killed and started again continues:
the shards of the finished cells are on the shared workdir, the plan marks them done, the runner skips them.

Artifacts that later cells read (fine-tuned checkpoints, top-tuned heads, the embedding cache) and the
shards live in the workdir, which every node must mount at the same path (docs/scale-out.md).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.compute.suites import get_suite
from harness.core.errors import HarnessError
from harness.execute.dispatch import Done, by_model
from harness.execute.worker import Worker
from harness.spec.cells import CellSpec
from harness.spec.settings import Settings
from harness.storage.shards import Shard
from harness.storage.subjobs import SubJobFiles


def task_resources(spec: CellSpec, trains: bool) -> dict[str, float]:
    """What a cell's task asks the cluster for: on CUDA one GPU (extraction and training need one), and the
    fine-tune's ``gpus`` for the cell that trains a multi-GPU fine-tune; one CPU otherwise."""
    if spec.device != "cuda":
        return {"num_cpus": 1}
    gpus = 1
    param = get_suite(spec.cell.suite).training_gpus
    if trains and param and any(job.kind == "finetune" for job in spec.subjobs):
        gpus = int(spec.cell.params.get(param, 1))
    return {"num_cpus": 1, "num_gpus": gpus}


_workers: dict[str, Worker] = {}


def run_cell(settings: dict[str, Any], cwd: str, spec_json: str) -> tuple[bytes, bool]:
    """The body of a cell's Ray task, in a worker process of any node: run it, return its shard's bytes.

    The worker process keeps its Worker (and so its last model) between tasks. Ray makes the GPUs it gave
    the task the only visible ones, so a CUDA device is addressed as plain ``cuda``."""
    import json

    import ray
    import torch

    if os.path.isdir(cwd):  # relative paths of the suite file (a folder: dataset) mean the driver's folder
        os.chdir(cwd)
    context = ray.get_runtime_context()
    torch.set_num_threads(max(1, int(context.get_assigned_resources().get("CPU", 1))))
    if str(settings["device"]).startswith("cuda"):
        settings = {**settings, "device": "cuda"}
    key = json.dumps(settings, sort_keys=True)
    if key not in _workers:
        _workers.clear()  # a new grid: free the previous one's model
        _workers[key] = Worker(Settings.from_dict(settings))
    worker = _workers[key]
    shard, cached = worker.run(CellSpec.from_json(spec_json))
    if not cached:  # where it ran, for the reader (and the tests) to see
        shard.provenance["ray"] = {"node_id": context.get_node_id(), "pid": os.getpid()}
        worker.shards.write(shard)
    return shard.to_bytes(), cached


def failed_shard(spec: CellSpec, error: str) -> Shard:
    now = datetime.now(UTC).isoformat()
    return Shard(run_id=spec.key, cell=spec.cell, status="error", started_at=now, finished_at=now, error=error)


def _reason(exc: BaseException) -> str:
    import ray.exceptions

    if isinstance(exc, ray.exceptions.WorkerCrashedError | ray.exceptions.NodeDiedError):
        return "its worker died twice (killed, out of memory, or its node was lost); run the grid again to retry"
    if isinstance(exc, ray.exceptions.RayTaskError):
        return str(exc.cause) if exc.cause is not None else str(exc).splitlines()[-1]
    return f"{type(exc).__name__}: {exc}"


class RayExecutor:
    """Runs cells as tasks on the Ray cluster at ``address`` (``auto``, ``HOST:PORT`` or ``ray://HOST:10001``),
    or on a local one started for the grid when none is given."""

    def __init__(self, settings: Settings) -> None:
        # workers run in other folders, on other nodes: every path they get is absolute
        self.settings = dataclasses.replace(settings, workdir=settings.workdir.resolve(), db=settings.db.resolve())
        self.address = settings.execution.address

    def connect(self) -> bool:
        """Connect (True: this call started the connection, and closes it)."""
        # Under `uv run`, Ray would ship the working folder (and so a local workdir of gigabytes) to every
        # worker and build a fresh environment there; each node runs the locked environment instead.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        try:
            import ray
        except ImportError as exc:
            raise HarnessError("--executor ray needs Ray: install the extra, `uv sync --extra ray`") from exc
        if ray.is_initialized():
            return False
        try:
            if self.address:
                ray.init(address=self.address, logging_level=logging.WARNING)
            else:
                ray.init(include_dashboard=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or "a local cluster"
            raise HarnessError(f"cannot connect to the Ray cluster at {where}: {exc}") from exc
        return True

    def run(self, specs: list[CellSpec], done: Done) -> None:
        opened = self.connect()  # first: it imports Ray
        import ray

        try:
            self._run(specs, done, ray.remote(run_cell))
        finally:
            if opened:
                ray.shutdown()

    def _run(self, specs: list[CellSpec], done: Done, task: Any) -> None:
        import ray

        ordered = [spec for group in by_model(specs) for spec in group]  # one model after another per worker
        trainer: dict[str, CellSpec] = {}  # sub-job key -> the cell that trains it
        for spec in ordered:
            for job in spec.subjobs:
                if not SubJobFiles.of(self.settings.workdir, job.kind, job.key).done():  # trained: no wait
                    trainer.setdefault(job.key, spec)
        trainers = {spec.key for spec in trainer.values()}
        waits = {s.key: {trainer[j.key].key for j in s.subjobs if j.key in trainer} - {s.key} for s in ordered}
        settings, cwd = self.settings.as_dict(), str(Path.cwd())
        running: dict[Any, CellSpec] = {}
        failed_trainers: set[str] = set()

        def submit(spec: CellSpec) -> None:
            lost = any(trainer[j.key].key in failed_trainers for j in spec.subjobs if j.key in trainer)
            trains = spec.key in trainers or lost  # a consumer whose trainer failed trains the job itself
            options: dict[str, Any] = {
                **task_resources(spec, trains), "max_retries": 1, "retry_exceptions": False,
                "scheduling_strategy": "SPREAD", "name": spec.cell.label(),
            }  # fmt: skip
            running[task.options(**options).remote(settings, cwd, spec.to_json())] = spec

        waiting = [s for s in ordered if waits[s.key]]
        for spec in ordered:
            if not waits[spec.key]:
                submit(spec)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                spec = running.pop(ref)
                shard, cached = self._result(ref, spec)
                if shard.status != "ok":
                    failed_trainers.add(spec.key)  # its consumers train its sub-jobs themselves
                done(shard, cached)
                for other in [s for s in waiting if spec.key in waits[s.key]]:
                    waits[other.key].discard(spec.key)
                    if not waits[other.key]:
                        waiting.remove(other)
                        submit(other)

    @staticmethod
    def _result(ref: Any, spec: CellSpec) -> tuple[Shard, bool]:
        import ray

        try:
            data, cached = ray.get(ref)
        except ray.exceptions.RayError as exc:
            return failed_shard(spec, _reason(exc)), False
        return received(spec, data, cached)


def received(spec: CellSpec, data: Any, cached: Any) -> tuple[Shard, bool]:
    """A worker's result, validated like any shard from elsewhere: a bad one fails its cell, not the grid."""
    import json

    try:
        shard = Shard.parse(json.loads(data), "the shard a Ray worker returned")
    except (HarnessError, ValueError, TypeError) as exc:
        return failed_shard(spec, str(exc)), False
    if shard.run_id != spec.key:
        return failed_shard(spec, f"a Ray worker returned run {shard.run_id} for this cell ({spec.key})"), False
    return shard, bool(cached)

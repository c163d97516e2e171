"""Running a fine-tuning job: in its sub-job folder (harness.storage.subjobs: ``job.json``, epoch checkpoints
while it runs, the done marker when done), under the job's file lock, so two processes (or two machines sharing the
workdir) never train one job at once: the second waits and reuses the result. Several GPUs: the job runs
under torchrun, one process per GPU, and the calling process waits.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.compute.finetune import checkpoints
from harness.compute.finetune.spec import JobSpec
from harness.core.errors import HarnessError
from harness.storage.subjobs import SubJobFiles

log = logging.getLogger(__name__)


def run_job(
    spec: JobSpec, job_dir: Path, device: str, gpus: int, restart_before: float | None = None
) -> dict[str, Any]:
    """Train the job to its end (resuming a killed run), unless it has finished; returns the final metadata.

    ``restart_before`` (--force): a job that finished before this time is trained again from scratch.
    """
    if gpus > 1:
        from harness.compute.finetune.adapt import adapter_for

        if not adapter_for(spec.adaptation).multi_process:
            raise HarnessError(f"{spec.label()}: this variant trains in one process only (gpus = 1, not {gpus})")
    files = SubJobFiles.at(job_dir)
    with files.locked(spec.label()):
        if files.stale(restart_before):
            shutil.rmtree(job_dir)
        if not files.done():
            job_dir.mkdir(parents=True, exist_ok=True)
            (job_dir / "job.json").write_text(json.dumps(spec.as_dict(), indent=2))
            if gpus > 1:
                _torchrun(job_dir, device, gpus)
            else:
                from harness.compute.finetune.loop import train

                train(job_dir, spec, device)
            files.record_training(spec.label())
    return checkpoints.read_metadata(files.marker)


def _torchrun(job_dir: Path, device: str, gpus: int) -> None:
    """One process per GPU (gloo processes on a CPU-only machine); their output streams through."""
    command = [
        sys.executable, "-m", "harness.core.procs", "torch.distributed.run", "--standalone", f"--nproc-per-node={gpus}",
        "-m", "harness.compute.finetune.worker", str(job_dir), device,
    ]  # fmt: skip
    log.info("launching %d training processes: %s", gpus, " ".join(command))
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise HarnessError(f"fine-tuning processes failed (exit code {done.returncode}); their output is above")

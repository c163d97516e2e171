"""One rank of a multi-process fine-tune: ``torchrun ... -m harness.compute.finetune.worker JOB_DIR DEVICE``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from harness.compute.finetune.loop import train
from harness.compute.finetune.spec import read_spec
from harness.core.errors import HarnessError
from harness.core.procs import die_with_parent


def main(argv: list[str]) -> int:
    die_with_parent()  # torchrun's agent killed: this rank stops too
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    job_dir, device = Path(argv[0]), argv[1]
    try:
        train(job_dir, read_spec(job_dir), device)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

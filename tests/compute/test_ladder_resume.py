"""A ladder rung killed with SIGKILL mid-training resumes to the same final weights as an uninterrupted run.

One rung is enough: every rung trains through the same loop, whose epoch checkpoints hold the prepared module's
whole state (LoRA's wrapped state dict included) and whose resume path (harness.compute.finetune.loop._resume)
is the plain fine-tune's; LoRA is the rung whose state differs most from a plain model's. LP-FT's phase switch
after a resume is checked in test_ladder.py (it resumes from the probe's checkpoint)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from harness.compute.finetune import checkpoints
from support import run_cli

ARGS = ["run", "--model", "timm:test_resnet[init=random]", "--dataset", "digits", "--suite", "finetune"]
ARGS += ["--strategy", "lora", "--param", "finetune_preset=smoke", "--param", "rank=2"]


def final_weights(workdir: Path) -> dict[str, torch.Tensor]:
    [final] = sorted((workdir / "finetune").glob("*/final.safetensors"))
    return checkpoints.load(final)[0]


@pytest.mark.slow
def test_a_killed_lora_rung_resumes_to_the_same_final_weights(tmp_path: Path) -> None:
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    killed.mkdir()
    straight.mkdir()
    first = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *ARGS], cwd=killed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while not list((killed / ".ecombench" / "finetune").glob("*/epoch-0001.safetensors")):
        assert first.poll() is None and time.monotonic() < deadline, "the rung ended before its first epoch"
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    [job] = (killed / ".ecombench" / "finetune").iterdir()
    assert not (job / "final.safetensors").exists()
    done_epochs = [epoch for epoch, _ in checkpoints.epoch_checkpoints(job)]
    assert done_epochs and max(done_epochs) < 3

    resumed = run_cli(*ARGS, cwd=killed)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {job.name} from epoch {max(done_epochs)}" in resumed.stderr
    assert "lora fine-tune of timm:test_resnet[init=random] on digits (smoke, rank=2" in resumed.stderr
    whole = run_cli(*ARGS, cwd=straight)
    assert whole.returncode == 0, whole.stderr
    [straight_job] = (straight / ".ecombench" / "finetune").iterdir()
    assert straight_job.name == job.name  # the same job key in both workdirs
    got, want = final_weights(killed / ".ecombench"), final_weights(straight / ".ecombench")
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert (job / "adapter.safetensors").exists()

"""Head training on the CPU runs on a capped number of torch threads, restored afterwards."""

from pathlib import Path

import pytest
import torch

from harness.compute.toptune.threads import capped_threads
from harness.compute.toptune.train import train_head
from harness.core.errors import HarnessError
from support.heads import TINY, blobs


@pytest.fixture
def two_threads() -> object:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the cap applies to CPU training only")
def test_training_runs_on_one_thread_and_restores_the_setting(tmp_path: Path, two_threads: object) -> None:
    with capped_threads() as threads:
        assert threads == torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    x, labels = blobs(10, 3)
    head = train_head(x, labels, TINY, 0, tmp_path / "job", overwrite=False, what="cells")
    assert head.threads == 1 and torch.get_num_threads() == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="the cap applies to CPU training only")
def test_the_cap_is_configurable(monkeypatch: pytest.MonkeyPatch, two_threads: object) -> None:
    monkeypatch.setenv("ECOMBENCH_HEAD_THREADS", "0")  # torch's own setting
    with capped_threads() as threads:
        assert threads == torch.get_num_threads() == 2
    monkeypatch.setenv("ECOMBENCH_HEAD_THREADS", "many")
    with pytest.raises(HarnessError, match="ECOMBENCH_HEAD_THREADS='many': expected a whole number"), capped_threads():
        pass
    assert torch.get_num_threads() == 2

"""The top-tuning head trains on the cell's device, not on whatever accelerator exists."""

from pathlib import Path

import keras
import pytest
import torch
from keras.src.backend.torch import core

from harness.compute.suites.heads import head_costs
from harness.compute.toptune.device import head_device, on_device
from harness.compute.toptune.train import train_head
from harness.core.errors import HarnessError
from support.heads import TINY, blobs


def test_a_cpu_cell_trains_on_the_cpu_even_where_cuda_exists() -> None:
    # the old code chose "cuda" here whenever torch.cuda.is_available()
    assert head_device("cpu", cuda_available=True) == "cpu"
    assert head_device("cuda", cuda_available=True) == "cuda"
    assert head_device("cuda:1", cuda_available=True) == "cuda:1"
    with pytest.raises(HarnessError, match="no CUDA GPU is visible"):
        head_device("cuda", cuda_available=False)
    with pytest.raises(HarnessError, match="expected cpu, cuda"):
        head_device("tpu")


def test_the_scope_overrides_keras_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras on torch puts variables on its default device (CUDA whenever CUDA exists, which the old code
    left alone). Make that default something that is not the CPU, as a CUDA host would ("meta": tensors
    without storage): inside the head's scope for a cpu cell, a head is built and runs on the CPU."""
    monkeypatch.setattr(core, "DEFAULT_DEVICE", "meta")
    assert core.get_device() == "meta"
    x, _ = blobs(10, 3)
    with on_device("cpu") as placed:
        assert placed == "cpu" and core.get_device() == "cpu"
        model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(4)])
        out = model.predict(x, verbose=0)
        assert {w._value.device.type for w in model.weights} == {"cpu"} and out.shape == (len(x), 4)
    assert core.get_device() == "meta"  # restored after the block


def test_a_cpu_cell_head_trains_and_is_priced_on_the_cpu(tmp_path: Path) -> None:
    x, labels = blobs(10, 3)
    head = train_head(x, labels, TINY, 0, tmp_path / "job", overwrite=False, what="blobs", device="cpu")
    assert head.device == "cpu"
    assert {w._value.device.type for w in head.head.weights} == {"cpu"}
    assert head.embed(x).shape[0] == len(x)
    costs = head_costs(head)
    assert "toptune_gpu_hours" not in costs and costs["toptune_device_s"] > 0
    loaded = train_head(x, labels, TINY, 0, tmp_path / "job", overwrite=False, what="blobs", device="cpu")
    assert loaded.device == "cpu" and loaded.run_on == "cpu"
    assert {w._value.device.type for w in loaded.head.weights} == {"cpu"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_cuda_cell_trains_on_cuda(tmp_path: Path) -> None:
    x, labels = blobs(10, 3)
    head = train_head(x, labels, TINY, 0, tmp_path / "job", overwrite=False, what="blobs", device="cuda")
    assert head.device == "cuda" and {w._value.device.type for w in head.head.weights} == {"cuda"}
    assert head_costs(head)["toptune_gpu_hours"] > 0

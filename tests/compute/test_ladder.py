"""The adaptation ladder's rungs, trained for real: a tiny timm ResNet at random init on 32-pixel digits, a few
updates per job, real checkpoints, a real peft adapter (harness.compute.finetune.adapt, .wiseft)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch

from harness.compute.datasets import resolve_dataset
from harness.compute.finetune import checkpoints
from harness.compute.finetune.adapt import LoRA, adapter_for
from harness.compute.finetune.job import run_job
from harness.compute.finetune.loop import ADAPTER_FILE
from harness.compute.finetune.spec import JobSpec
from harness.compute.finetune.wiseft import blend
from harness.compute.models import load_model
from harness.core.errors import HarnessError

MODEL = "timm:test_resnet[init=random]"
DATA = "digits[per_class=4]"  # 20 training images, 10 classes
#: two short epochs of 5 updates: no hold-out, no EMA, no stochastic depth, mild augmentation (seeded)
TINY = {"epochs": 2, "warmup_epochs": 0, "batch_size": 4, "val_fraction": 0.0, "ema_decay": 0.0, "mixup": 0.0,
        "cutmix": 0.0, "drop_path": 0.0, "keep_checkpoints": 10}  # fmt: skip
FC = 96 * 10 + 10  # test_resnet's classifier: 96 pooled features x 10 digit classes + 10 biases


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def plan(adaptation: dict[str, Any] | None = None, **recipe: Any) -> JobSpec:
    spec = JobSpec.plan(load_model(MODEL), resolve_dataset(DATA), "mini", 0, adaptation)
    return dataclasses.replace(spec, recipe={**spec.recipe, **TINY, **recipe})


def train(tmp_path: Path, name: str, spec: JobSpec) -> tuple[dict[str, torch.Tensor], dict[str, Any], Path]:
    job_dir = tmp_path / "finetune" / name
    meta = run_job(spec, job_dir, "cpu", gpus=1)
    tensors, _ = checkpoints.load(job_dir / "final.safetensors")
    return tensors, meta, job_dir


def images() -> torch.Tensor:
    return torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(3))


def embeds(model_id: str) -> torch.Tensor:
    model = load_model(model_id)
    model.module.eval()
    with torch.no_grad():
        return model.embed(images())


def body(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if not k.startswith("fc.")}


def test_wiseft_ends_are_the_pretrained_and_the_finetuned_embeddings_bit_for_bit(tmp_path: Path) -> None:
    _, _, job_dir = train(tmp_path, "full", plan())
    pre, fine = embeds(MODEL), embeds(f"checkpoint:test_resnet@{job_dir / 'final.safetensors'}")
    assert not torch.allclose(pre, fine)  # the fine-tune moved the embeddings: the ends can be told apart
    zero, one, half = (embeds(f"checkpoint:test_resnet@{blend(job_dir, a)}") for a in (0.0, 1.0, 0.5))
    assert torch.equal(zero, pre)
    assert torch.equal(one, fine)
    assert not torch.equal(half, pre) and not torch.equal(half, fine)
    assert blend(job_dir, 0.5).name == "wiseft-0.5.safetensors"  # once per alpha, beside the done marker


def test_lastk_with_every_block_is_full_finetuning_bit_for_bit(tmp_path: Path) -> None:
    """Same seed, same recipe, every parameter trainable in the same order: the same optimizer steps, so the
    same bits (no tolerance needed: nothing differs but the record of the rung)."""
    full, full_meta, _ = train(tmp_path, "full", plan())
    every, every_meta, _ = train(tmp_path, "lastk4", plan({"method": "lastk", "k": 4}))
    assert full.keys() == every.keys()
    assert all(torch.equal(full[k], every[k]) for k in full)
    assert (
        every_meta["trainable_params"]
        == full_meta["trainable_params"]
        == sum(v.numel() for k, v in full.items() if "running" not in k and "num_batches" not in k)
    )


def test_lastk_zero_trains_the_head_only_and_frozen_blocks_keep_their_statistics(tmp_path: Path) -> None:
    start = plan().build_model().state_dict()
    zero, meta, job_dir = train(tmp_path, "lastk0", plan({"method": "lastk", "k": 0}, epochs=1))
    assert meta["trainable_params"] == FC  # counted by hand above
    assert all(torch.equal(zero[k], start[k]) for k in body(start))  # running means and variances included
    assert not torch.equal(zero["fc.weight"], start["fc.weight"])
    assert meta["stored_bytes"] == 0  # nothing of the backbone changed: a deployment stores no extra tensor
    one, meta, _ = train(tmp_path, "lastk1", plan({"method": "lastk", "k": 1}, epochs=1))
    layer4 = {k for k in start if k.startswith("layer4.")}
    assert all(torch.equal(one[k], start[k]) for k in body(start) if k not in layer4)
    assert not torch.equal(one["layer4.0.bn1.running_mean"], start["layer4.0.bn1.running_mean"])
    params4 = sum(v.numel() for k, v in start.items() if k in layer4 and "running" not in k and "num_batches" not in k)
    assert meta["trainable_params"] == FC + params4
    stored = checkpoints.load(job_dir.parent / "lastk1" / ADAPTER_FILE)[0]
    assert set(stored) == layer4  # the trained block, its batch-norm statistics with it; not the head


def test_lora_starts_at_the_pretrained_embeddings_and_merges_within_tolerance(tmp_path: Path) -> None:
    spec = plan({"method": "lora", "rank": 2, "lora_alpha": 4, "lora_targets": ""})
    wrapped = adapter_for(spec.adaptation).prepare(spec.build_model()).eval()
    with torch.no_grad():  # B is initialised to zero: the adapted network is the pre-trained one at step 0
        step0 = wrapped.forward_head(wrapped.forward_features(images()), pre_logits=True)
    assert torch.equal(step0, embeds(MODEL))

    _, meta, job_dir = train(tmp_path, "lora", spec)
    merged = embeds(f"checkpoint:test_resnet@{job_dir / 'final.safetensors'}")
    unmerged_model = LoRA(spec.adaptation).prepare(spec.build_model())
    [(_, last)] = checkpoints.epoch_checkpoints(job_dir)[-1:]
    unmerged_model.load_state_dict(checkpoints.unprefixed("model", checkpoints.load(last)[0]))
    unmerged_model.eval()
    with torch.no_grad():
        unmerged = unmerged_model.forward_head(unmerged_model.forward_features(images()), pre_logits=True)
    assert not torch.allclose(unmerged, step0, atol=1e-4)  # the adapters trained
    # merging adds B·A·scale into each weight once instead of adding a second path's output: the same sums in
    # another order, so float32 rounding differs by a few ulps, nothing more
    torch.testing.assert_close(merged, unmerged, rtol=1e-4, atol=1e-5)

    # the adapter holds rank x (fan-in + fan-out) numbers per target: A is (r, in, kh, kw), B is (out, r, 1, 1)
    model = spec.build_model()
    convs = dict(model.named_modules())
    targets = [n for n, m in convs.items() if isinstance(m, torch.nn.Conv2d) and n.startswith("layer")]
    numbers = sum(2 * (convs[n].in_channels * convs[n].kernel_size[0] * convs[n].kernel_size[1] + convs[n].out_channels)
                  for n in targets)  # fmt: skip
    adapter = job_dir / ADAPTER_FILE
    tensors, _ = checkpoints.load(adapter)
    assert sum(t.numel() for t in tensors.values()) == numbers and meta["stored_bytes"] == 4 * numbers
    header = adapter.stat().st_size - 4 * numbers
    assert 0 < header < 16_384  # the safetensors header (names, shapes, the job's record)
    assert adapter.stat().st_size < (job_dir / "final.safetensors").stat().st_size / 10
    assert meta["trainable_params"] == numbers + FC


def test_lpft_probes_with_the_backbone_frozen_then_finetunes_from_the_probed_head(tmp_path: Path) -> None:
    spec = plan({"method": "lpft", "probe_epochs": 1}, epochs=1)
    start = spec.build_model().state_dict()
    final, meta, job_dir = train(tmp_path, "lpft", spec)
    assert meta["epoch"] == 2  # one probe epoch, then the recipe's one
    probed = checkpoints.unprefixed("model", checkpoints.load(checkpoints.epoch_path(job_dir, 1))[0])
    assert all(torch.equal(probed[k], start[k]) for k in body(start))  # the probe leaves the backbone as loaded
    assert not torch.equal(probed["fc.weight"], start["fc.weight"])
    assert not torch.equal(final["layer1.0.conv1.weight"], start["layer1.0.conv1.weight"])  # then all of it trains

    # the fine-tune phase starts from the probed head: resumed from the probe's checkpoint it ends on the same
    # bits; with the probed head swapped for the unprobed one it does not
    def from_probe(head: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        path = checkpoints.epoch_path(job_dir, 1)
        tensors, probe_meta = checkpoints.load(path)
        checkpoints.epoch_path(job_dir, 2).unlink()
        (job_dir / "final.safetensors").unlink()
        checkpoints.save(path, {**tensors, **{f"model/{k}": v for k, v in head.items()}}, probe_meta)
        return train(tmp_path, "lpft", spec)[0]

    probed_head = {k: probed[k] for k in ("fc.weight", "fc.bias")}
    assert all(torch.equal(v, final[k]) for k, v in from_probe(probed_head).items())
    unprobed = from_probe({k: start[k] for k in probed_head})
    assert not torch.equal(unprobed["fc.weight"], final["fc.weight"])


def test_a_bad_rung_is_one_clear_error(tmp_path: Path) -> None:
    model = plan().build_model()
    with pytest.raises(HarnessError, match=r"^unknown fine-tune variant 'lorra' \(known: lastk, lora, lpft\)$"):
        adapter_for({"method": "lorra"})
    with pytest.raises(HarnessError, match=r"^lora_targets: no module of ResNet is named \['attn.qkv'\]$"):
        LoRA({"rank": 2, "lora_alpha": 4, "lora_targets": "attn.qkv"}).prepare(model)
    spec = plan({"method": "lpft", "probe_epochs": 1})
    with pytest.raises(
        HarnessError, match=r"lpft fine-tune of .*: this variant trains in one process only \(gpus = 1, not 2\)$"
    ):
        run_job(spec, tmp_path / "finetune" / "lpft", "cpu", gpus=2)

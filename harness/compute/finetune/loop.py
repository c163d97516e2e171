"""The fine-tuning loop, built from timm's training blocks; one process, or one rank of a torchrun launch.

Per epoch: train on the job's training items (RandAugment, Mixup/CutMix, BCE, stochastic depth, LAMB with
a cosine schedule stepped every update, optional EMA), score the held-out items, then rank 0 writes an
epoch checkpoint holding everything needed to resume. Each epoch reseeds every random generator from
(seed, epoch, rank), so a resumed run draws the same augmentations as an uninterrupted one would.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from harness.compute.cost.memory import PeakMemory
from harness.compute.finetune import checkpoints
from harness.compute.finetune.adapt import adapter_for, freeze_norm_statistics, trainable_params
from harness.compute.finetune.data import TrainImages, collate, split_items, transforms
from harness.compute.finetune.recipe import Recipe
from harness.compute.models.checkpoint_family import PREPROCESSING_KEY
from harness.core.errors import HarnessError
from harness.core.precision import autocast_dtype
from harness.core.procs import die_with_parent
from harness.storage.subjobs import SubJobFiles, done_marker

if TYPE_CHECKING:
    from harness.compute.finetune.spec import JobSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ranks:
    """This process's place in a (possibly one-process) training run, read from torchrun's variables."""

    rank: int = 0
    world: int = 1
    local: int = 0

    @classmethod
    def from_env(cls) -> Ranks:
        return cls(*(int(os.environ.get(k, d)) for k, d in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0))))

    @property
    def main(self) -> bool:
        return self.rank == 0


def train(job_dir: Path, spec: JobSpec, device: str) -> None:
    """Train (or resume) the job in ``job_dir`` to its last epoch and write its done marker (the final weights)."""
    import timm.scheduler
    import timm.utils
    from timm.data import Mixup

    ranks = Ranks.from_env()
    recipe = Recipe.from_dict(spec.recipe, f"fine-tuning job {job_dir}")
    if ranks.world > 1:
        device = _init_distributed(ranks, device)
    built = spec.build_model()
    train_tf, val_tf = transforms(built, recipe)
    adapter = adapter_for(spec.adaptation)  # a ladder rung: what trains (harness.compute.finetune.adapt)
    model = adapter.prepare(built).to(device)
    epochs = adapter.epochs(recipe)
    train_items, val_items, dataset = split_items(spec, recipe, SubJobFiles.at(job_dir).workdir.root)
    per_rank = recipe.batch_size // ranks.world
    if per_rank < 2 or per_rank * ranks.world != recipe.batch_size:
        raise HarnessError(f"batch_size {recipe.batch_size} does not split into even batches over {ranks.world}")
    if len(train_items) < recipe.batch_size:
        raise HarnessError(
            f"{spec.dataset}: {len(train_items)} training images are fewer than one batch of {recipe.batch_size}; "
            "choose a recipe with a smaller batch_size"
        )
    train_set = TrainImages(dataset, train_items, train_tf)
    sampler: DistributedSampler[int] = DistributedSampler(
        train_set, num_replicas=ranks.world, rank=ranks.rank, seed=spec.seed, drop_last=True
    )
    loader = DataLoader(
        train_set, batch_size=per_rank, sampler=sampler, num_workers=recipe.workers, collate_fn=collate,
        drop_last=True, pin_memory=device.startswith("cuda"), persistent_workers=False, worker_init_fn=die_with_parent,
    )  # fmt: skip
    optimizer, criterion = optimizer_and_loss(model, recipe)
    scheduler, _ = timm.scheduler.create_scheduler_v2(
        optimizer, sched="cosine", num_epochs=epochs, warmup_epochs=recipe.warmup_epochs,
        min_lr=recipe.min_lr, warmup_lr=recipe.warmup_lr, step_on_epochs=False, updates_per_epoch=len(loader),
    )  # fmt: skip
    mixup = (
        Mixup(mixup_alpha=recipe.mixup, cutmix_alpha=recipe.cutmix, label_smoothing=0.0, num_classes=spec.num_classes)
        if recipe.mixup or recipe.cutmix
        else None
    )
    ema = timm.utils.ModelEmaV3(model, decay=recipe.ema_decay, use_warmup=True) if recipe.ema_decay else None
    net: torch.nn.Module = model
    if ranks.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[ranks.local] if device != "cpu" else None)

    state = _resume(job_dir, model, ema, optimizer, scheduler)
    cuda = device.startswith("cuda")
    amp_dtype = autocast_dtype(recipe.amp) if cuda else None
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype is torch.float16)
    peak = PeakMemory(device)
    peak.start()
    for epoch in range(state["epoch"], epochs):
        _reseed(spec.seed, epoch, ranks.rank)
        sampler.set_epoch(epoch)
        phase = adapter.at_epoch(model, epoch)
        started = time.perf_counter()
        net.train()
        freeze_norm_statistics(model)
        losses: list[torch.Tensor] = []  # kept on the device: reading each one would sync every step
        updates = epoch * len(loader)
        for images, labels, errors in loader:
            if images is None:
                raise HarnessError(errors[0])
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            images, soft = mixup(images, labels) if mixup else (images, labels)
            with torch.autocast("cuda", dtype=amp_dtype, enabled=amp_dtype is not None):
                loss = criterion(net(images), soft)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            updates += 1
            if ema is not None:
                ema.update(model, step=updates)
            scheduler.step_update(num_updates=updates)
            losses.append(loss.detach())
        scheduler.step(epoch + 1)
        if cuda:
            torch.cuda.synchronize(device)
        epoch_s = time.perf_counter() - started
        scored = ema.module if ema is not None else model
        val = _evaluate(scored, dataset, val_items, val_tf, per_rank, recipe.workers, device, amp_dtype)
        row = {
            "epoch": epoch + 1,
            "train_loss": float(np.mean(_gather(torch.stack(losses).float().cpu().tolist(), ranks))),
            "lr": optimizer.param_groups[0]["lr"],
            "epoch_s": epoch_s,
            "images_per_s": len(loader) * recipe.batch_size / epoch_s,
            **val,
        }
        state["curve"].append(row)
        state["train_s"] += epoch_s
        state["peak_memory_mb"] = max(state["peak_memory_mb"], peak.peak_mb())
        state["epoch"] = epoch + 1
        if ranks.main:
            _save_epoch(job_dir, recipe, model, ema, optimizer, scheduler, state)
            val_text = f", val accuracy {val['val_accuracy']:.3f}" if val else ""
            log.info(
                "%s: epoch %d/%d (%s), loss %.4f%s, %.1f s", spec.label(), epoch + 1, epochs, phase,
                row["train_loss"], val_text, epoch_s,
            )  # fmt: skip
        if ranks.world > 1:
            torch.distributed.barrier()
    if ranks.main:
        final, stored = adapter.final(model, ema.module if ema is not None else model)
        precision = recipe.amp if amp_dtype is not None else "fp32"
        meta = {
            **state, "spec": spec.as_dict(), "world_size": ranks.world, "device": device, "precision": precision,
            **ladder_costs(model, stored),
        }  # fmt: skip
        if spec.adaptation:  # what a deployment stores beside the pre-trained weights (a LoRA adapter: small)
            checkpoints.save(job_dir / ADAPTER_FILE, stored, {"spec": spec.as_dict()})
        if spec.preprocessing:  # what the weights were trained with: their checkpoint: model embeds with it
            meta[PREPROCESSING_KEY] = spec.preprocessing
        checkpoints.save(done_marker(job_dir, "finetune"), final, meta)
    if ranks.world > 1:
        torch.distributed.destroy_process_group()


#: a ladder rung's stored tensors (harness.compute.finetune.adapt.Adapter.final), beside the done marker
ADAPTER_FILE = "adapter.safetensors"


def ladder_costs(model: torch.nn.Module, stored: dict[str, torch.Tensor]) -> dict[str, int]:
    """The cost ledger's per-rung figures: parameters trained (at the end: LP-FT's fine-tune phase trains
    them all) and the bytes of the tensors a deployment stores beside the pre-trained weights."""
    return {
        "trainable_params": trainable_params(model),
        "stored_bytes": sum(t.numel() * t.element_size() for t in stored.values()),
    }


def optimizer_and_loss(model: torch.nn.Module, recipe: Recipe) -> tuple[torch.optim.Optimizer, torch.nn.Module]:
    """timm's optimizer of the recipe (no weight decay on biases and norm layers) and its BCE loss."""
    import timm.loss
    import timm.optim

    optimizer = timm.optim.create_optimizer_v2(model, opt=recipe.opt, lr=recipe.lr, weight_decay=recipe.weight_decay)
    criterion = timm.loss.BinaryCrossEntropy(smoothing=0.0, target_threshold=recipe.bce_threshold or None)
    return optimizer, criterion


def _init_distributed(ranks: Ranks, device: str) -> str:
    cuda = device.startswith("cuda") and torch.cuda.is_available()
    torch.distributed.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(ranks.local)
        return f"cuda:{ranks.local}"
    return "cpu"


def _reseed(seed: int, epoch: int, rank: int) -> None:
    value = (seed * 1_000_003 + epoch * 1_009 + rank) % 2**31
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)


def _gather(values: list[float], ranks: Ranks) -> list[float]:
    """Every rank's values (the mean training loss is over all ranks' batches)."""
    if ranks.world == 1:
        return values
    everything: list[list[float] | None] = [None] * ranks.world
    torch.distributed.all_gather_object(everything, values)
    return [v for part in everything for v in (part or [])]


@torch.no_grad()
def _evaluate(
    model: torch.nn.Module, dataset: Any, items: list[Any], tf: Any, batch: int, workers: int, device: str,
    amp_dtype: torch.dtype | None,
) -> dict[str, float]:  # fmt: skip
    """Top-1 accuracy and cross-entropy on the held-out items (every rank scores all of them)."""
    if not items:
        return {}
    loader = DataLoader(
        TrainImages(dataset, items, tf), batch_size=batch, num_workers=workers, collate_fn=collate,
        worker_init_fn=die_with_parent,
    )  # fmt: skip
    model.eval()
    correct, loss, seen = 0, 0.0, 0
    for images, labels, errors in loader:
        if images is None:
            raise HarnessError(errors[0])
        with torch.autocast("cuda", dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(images.to(device)).float()
        labels = labels.to(device)
        correct += int((logits.argmax(1) == labels).sum())
        loss += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
        seen += len(labels)
    return {"val_accuracy": correct / seen, "val_loss": loss / seen}


def _resume(job_dir: Path, model: torch.nn.Module, ema: Any, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    """Restore the newest epoch checkpoint, if any; returns the loop's state (epoch, curve, time so far)."""
    found = checkpoints.epoch_checkpoints(job_dir)
    if not found:
        return {"epoch": 0, "curve": [], "train_s": 0.0, "peak_memory_mb": 0.0}
    epoch, path = found[-1]
    tensors, meta = checkpoints.load(path)
    model.load_state_dict(checkpoints.unprefixed("model", tensors))
    if ema is not None:
        ema.module.load_state_dict(checkpoints.unprefixed("ema", tensors))
    optimizer.load_state_dict(checkpoints.unflatten_optimizer(tensors, meta["optimizer"]))
    scheduler.load_state_dict(meta["scheduler"])
    log.info("resuming %s from epoch %d (%s)", job_dir.name, epoch, path.name)
    return {k: meta[k] for k in ("epoch", "curve", "train_s", "peak_memory_mb")}


def _save_epoch(
    job_dir: Path, recipe: Recipe, model: torch.nn.Module, ema: Any, optimizer: Any, scheduler: Any,
    state: dict[str, Any],
) -> None:  # fmt: skip
    optim_tensors, optim_rest = checkpoints.flatten_optimizer(optimizer.state_dict())
    tensors = {**checkpoints.prefixed("model", model.state_dict()), **optim_tensors}
    if ema is not None:
        tensors.update(checkpoints.prefixed("ema", ema.module.state_dict()))
    meta = {**state, "optimizer": optim_rest, "scheduler": scheduler.state_dict()}
    checkpoints.save(checkpoints.epoch_path(job_dir, state["epoch"]), tensors, meta)
    checkpoints.prune(job_dir, recipe.keep_checkpoints)

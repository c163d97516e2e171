"""Fine-tuning throughput: the harness's training loop against the model's training step alone.

    python benchmarks/finetune_throughput.py                                   # CPU, tiny model
    python benchmarks/finetune_throughput.py --model "timm:resnet50[init=random]" --device cuda --preset paper

Same model, recipe, batch and precision on both sides. The model-alone side times forward + BCE +
backward + LAMB step on one batch already on the device (the ceiling); the loop side is
harness.compute.finetune.loop.train for a few epochs over real JPEG files written for the run (decoding,
RandAugment, Mixup/CutMix in the loop, per-epoch validation and checkpoint excluded from epoch time).
The ratio says how much of the device's training speed the loop keeps; epoch 1 includes warm-up
(cuDNN autotuning, allocator growth), so later epochs are the figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import tempfile
import time
from pathlib import Path

from pipeline_efficiency import write_jpegs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="timm:test_resnet[init=random]")
    parser.add_argument("--preset", default="quick", help="recipe in harness/presets/finetune.toml")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the loop (the recipe's own are replaced)")
    parser.add_argument("--images", type=int, default=512, help="JPEG files written (90%% train)")
    parser.add_argument("--classes", type=int, default=16)
    parser.add_argument("--size", type=int, default=256, help="side of the generated JPEGs, in pixels")
    parser.add_argument("--workers", type=int, help="decoding processes (default: the recipe's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iterations", type=int, default=10, help="timed model-alone steps (after 3 warm-up)")
    return parser.parse_args(argv)


def model_alone(spec, recipe, device: str, iterations: int) -> float:  # type: ignore[no-untyped-def]
    """Images per second of forward + loss + backward + optimizer step on a batch already on the device."""
    import torch

    from harness.compute.finetune.loop import optimizer_and_loss
    from harness.core.precision import autocast_dtype

    model = spec.build_model().to(device).train()
    optimizer, criterion = optimizer_and_loss(model, recipe)
    size = recipe.img_size or 224
    images = torch.randn(recipe.batch_size, 3, size, size, device=device)
    labels = torch.randint(0, spec.num_classes, (recipe.batch_size,), device=device)
    cuda = device.startswith("cuda")
    dtype = autocast_dtype(recipe.amp) if cuda else None

    def step() -> None:
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            loss = criterion(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    if cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(iterations):
        step()
    if cuda:
        torch.cuda.synchronize()
    return iterations * recipe.batch_size / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from harness.compute.datasets import resolve_dataset
    from harness.compute.finetune.loop import train
    from harness.compute.finetune.recipe import Recipe
    from harness.compute.finetune.spec import JobSpec
    from harness.compute.models import load_model

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        started = time.perf_counter()
        write_jpegs(folder, args.images, args.size, args.classes)
        print(f"wrote {args.images} JPEGs ({args.size} px) in {time.perf_counter() - started:.1f} s")
        dataset = resolve_dataset(f"folder:{folder}[test_fraction=0.1]")
        spec = JobSpec.plan(load_model(args.model), dataset, args.preset, seed=0)
        overrides = {"epochs": args.epochs, "warmup_epochs": min(spec.recipe["warmup_epochs"], args.epochs - 1)}
        if args.workers is not None:
            overrides["workers"] = args.workers
        spec = dataclasses.replace(spec, recipe={**spec.recipe, **overrides})
        recipe = Recipe.from_dict(spec.recipe, "benchmark recipe")
        alone = model_alone(spec, recipe, args.device, args.iterations)
        print(f"model alone: {alone:.1f} img/s; training {args.epochs} epochs...", flush=True)
        job = Path(tmp) / "job"
        job.mkdir()
        train(job, spec, args.device)
        from harness.compute.finetune.checkpoints import read_metadata

        meta = read_metadata(job / "final.safetensors")
    print(f"model {args.model}, preset {args.preset}, batch {recipe.batch_size}, {meta['precision']} on {args.device}")
    print(f"model alone (forward+BCE+backward+{recipe.opt}): {alone:9.1f} img/s")
    for row in meta["curve"]:
        speed, ratio = row["images_per_s"], row["images_per_s"] / alone
        print(f"loop epoch {row['epoch']}: {row['epoch_s']:7.2f} s, {speed:9.1f} img/s, {ratio:.3f} of alone")
    print(f"peak memory: {meta['peak_memory_mb']:.0f} MiB")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # one line per epoch
    main()

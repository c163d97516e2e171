"""Pipeline efficiency of the harness: its extraction pipeline's img/s over the raw forward's img/s.

    nox -s bench-pipeline
    nox -s bench-pipeline -- --model "timm:resnet50[init=random]" --device cuda --precision bf16

Same model, batch size and precision on both sides. The raw forward runs the model alone on a pre-made
tensor already on the device; the pipeline is harness.compute.extract.embeddings.extract (DataLoader with decoding
workers, the model's own transform, batched forward, copy back) over real JPEG files written for the run (product-photo
sized, 512 px by default). Then the time per image of each stage, measured serially on the same images,
says where the time goes: decode (read + decode the file), preprocess (resize, crop, normalise), forward.

The goal is an efficiency of at least 0.9 on a GPU, where decoding in workers should hide behind the
forward pass. On a small CPU the workers compete with the forward pass for the same cores, so the ratio
mostly measures that contention; the two bounds printed with it say what perfect overlap would give.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def write_jpegs(folder: Path, count: int, size: int, classes: int = 4) -> None:
    """``count`` real JPEG files in ``classes`` class folders: synthetic product shots, quality 90."""
    from harness.compute.datasets.synthetic import draw, recipe

    for index in range(count):
        label = index % classes
        target = folder / f"class_{label}" / f"{index:05d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        draw(recipe(0, classes, label, index, size)).save(target, quality=90)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="timm:resnet18[init=random]")
    parser.add_argument("--dataset", help="a dataset id (default: JPEG files generated for the run)")
    parser.add_argument("--images", type=int, default=128, help="images in the pipeline measurement")
    parser.add_argument("--size", type=int, default=512, help="side of the generated JPEGs, in pixels")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="decoding worker processes of the pipeline")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=10, help="timed forward passes (raw forward)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the images (pipeline)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch

    from harness.compute.cost.inference import Setup, pipeline, prepared, sample_tensor, stage_times
    from harness.compute.datasets import resolve_dataset
    from harness.compute.models import load_model
    from harness.core.machine import machine_state

    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ecombench-bench-") as tmp:
        if args.dataset is None:
            write_jpegs(Path(tmp), args.images, args.size)
        dataset = resolve_dataset(args.dataset or f"folder:{tmp}")
        items = list(dataset.manifest().items)[: args.images]
        model = load_model(args.model)
        setup = Setup(args.device, args.precision, args.channels_last)
        machine = machine_state(args.device)  # sampled before the measurement, as the runner does
        with prepared(model, setup, sample_tensor(model, dataset, items[0])) as bench:
            raw = bench.throughput(args.batch_size, args.warmup, args.iterations)
            piped = pipeline(bench, dataset, items, args.batch_size, args.workers, args.repeats)
            stages = stage_times(bench, dataset, items, raw.img_s)

    cpu_side = stages.decode + stages.preprocess
    rows = [
        ("raw forward (pre-made tensors)", f"{raw.img_s:9.1f} img/s", f"spread {raw.stats.spread:.3f}"),
        ("harness pipeline (JPEG files)", f"{piped.img_s:9.1f} img/s", f"spread {piped.stats.spread:.3f}"),
        ("pipeline efficiency", f"{piped.img_s / raw.img_s:9.3f}", "pipeline / raw"),
        ("decode", f"{1000 * stages.decode:9.2f} ms/img", "serial, this process"),
        ("preprocess (resize, crop, normalise)", f"{1000 * stages.preprocess:9.2f} ms/img", "serial"),
        ("forward", f"{1000 * stages.forward:9.2f} ms/img", "1 / raw forward"),
        ("pipeline minus forward", f"{1000 * (1 / piped.img_s - stages.forward):9.2f} ms/img",
         "time per image the forward does not explain (workers, collate, contention)"),
        ("bound: all serial", f"{1 / (cpu_side + stages.forward):9.1f} img/s", "decode + preprocess + forward"),
        ("bound: perfect overlap", f"{1 / max(stages.forward, cpu_side / max(args.workers, 1)):9.1f} img/s",
         f"max(forward, (decode + preprocess) / {max(args.workers, 1)} workers)"),
    ]  # fmt: skip
    print(f"model {args.model} | {len(items)} images from {args.dataset or f'{args.size}px JPEGs'}")
    print(
        f"device {args.device} | batch {args.batch_size} | precision {args.precision} | channels_last "
        f"{args.channels_last} | workers {args.workers} | torch threads {torch.get_num_threads()} | "
        f"warm-up {args.warmup}, {args.iterations} timed forwards, {args.repeats} timed pipeline passes"
    )
    print(
        f"machine: {machine['cpu_count']} CPUs, other processes keeping {machine['cpu_busy_other']} cores busy, "
        f"load {machine['load_avg_1m']} -> shared_machine={machine['shared_machine']}"
    )
    for name, value, note in rows:
        print(f"  {name:38s} {value:>18s}   {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

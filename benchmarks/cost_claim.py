"""The paper's cost claim, measured: full fine-tuning against top-tuning on data of SOP's shape, same device.

    python benchmarks/cost_claim.py --scale 0.001 --finetune-preset smoke --toptune-preset smoke   # CPU check
    python benchmarks/cost_claim.py --device cuda --precision bf16 --scale 0.05 \\
        --model "timm:resnet50[init=random]" --workers 15                                           # a GPU

Stanford Online Products has 59,551 train / 60,502 test images of 11,318 / 11,316 classes (about 5 images per
class, train and test classes disjoint). The benchmark writes real JPEG files of that shape (``--scale``
shrinks the counts of images and classes alike, keeping the class size; product-photo sized, 500 px), then,
on one device:

- **full fine-tuning**: harness.compute.finetune.loop.train with the recipe (``paper``: 600 epochs) cut to
  ``--epochs`` measured epochs; an epoch's time (the mean after the first, which carries the warm-up;
  validation and checkpoints excluded, which favours fine-tuning) x the recipe's epochs;
- **top-tuning**: the train split's embeddings (harness.compute.extract.embeddings, the backbone's forward passes) +
  the top-tune preset's KerasTuner search + final training (``paper``: 20 trials x 2 executions x 30 epochs, then
  up to 1,000 epochs with early stopping), all run in full.

Both are device-seconds on the same device (wall time of a one-device run). Evaluation (the test split's
embeddings) costs both strategies the same and is left out. It prints the ratio next to the paper's
"top-tuning is >= 10x cheaper". Both sides grow linearly with the number of images (classes scale with them),
so a scaled run's ratio estimates full SOP's; the printed full-scale hours multiply by 1 / scale.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

#: Stanford Online Products (Oh Song et al. 2016): images and classes per split
SOP = {"train": (59_551, 11_318), "test": (60_502, 11_316)}
CLAIM = 10.0  # arXiv 2504.07567: top-tuning is at least this many times cheaper than full fine-tuning


def shape(scale: float) -> dict[str, tuple[int, int]]:
    """(images, classes) per split at ``scale``, the class size kept (at least 2 classes of 2 images)."""
    out = {}
    for split, (images, classes) in SOP.items():
        c = max(2, round(classes * scale))
        out[split] = (max(2 * c, round(images * scale)), c)
    return out


def _write_class(args: tuple[Path, int, int, int, int, int]) -> int:
    from harness.compute.datasets.synthetic import draw, recipe

    folder, label, first, count, classes, size = args
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(first, first + count):
        draw(recipe(0, classes, label, index, size)).save(folder / f"{index:06d}.jpg", quality=90)
    return count


def write_sop_shaped(root: Path, scale: float, size: int, processes: int) -> dict[str, tuple[int, int]]:
    """``root/train/<class>/*.jpg`` and ``root/test/<class>/*.jpg`` (the folder dataset's official-split
    layout), classes of both splits disjoint, images spread over classes as evenly as SOP's mean."""
    counts = shape(scale)
    jobs, offset, total_classes = [], 0, sum(c for _, c in counts.values())
    for split, (images, classes) in counts.items():
        for k in range(classes):
            per_class = images // classes + (1 if k < images % classes else 0)
            label = offset + k
            jobs.append((root / split / f"class_{label:05d}", label, 0, per_class, total_classes, size))
        offset += classes
    with ProcessPoolExecutor(max_workers=max(1, processes)) as pool:
        written = sum(pool.map(_write_class, jobs, chunksize=16))
    assert written == sum(n for n, _ in counts.values())
    return counts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.01, help="fraction of SOP's images and classes (0, 1]")
    parser.add_argument("--size", type=int, default=500, help="side of the generated JPEGs, in pixels")
    parser.add_argument("--model", default="timm:test_resnet[init=random]")
    parser.add_argument("--finetune-preset", default="paper", help="recipe in harness/presets/finetune.toml")
    parser.add_argument("--toptune-preset", default="paper", help="preset in harness/presets/toptune.toml")
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs measured (>= 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"), help="extraction")
    parser.add_argument("--batch-size", type=int, default=64, help="extraction batch")
    parser.add_argument(
        "--workers", type=int, help="decoding processes (default: harness.compute.extract.settings.default_workers)"
    )
    parser.add_argument("--data", type=Path, help="keep the generated JPEGs here (default: a temporary folder)")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1 or args.epochs < 1:
        parser.error("--scale must be in (0, 1] and --epochs >= 1")
    return args


def finetune_epoch_s(
    model_id: str, dataset_id: str, preset: str, epochs: int, workers: int, device: str, workdir: Path
):  # type: ignore[no-untyped-def]
    """(seconds per epoch, the recipe's epochs, the measured curve) of the fine-tuning loop."""
    from harness.compute.datasets import resolve_dataset
    from harness.compute.finetune.checkpoints import read_metadata
    from harness.compute.finetune.loop import train
    from harness.compute.finetune.spec import JobSpec
    from harness.compute.models import load_model

    spec = JobSpec.plan(load_model(model_id), resolve_dataset(dataset_id), preset, seed=0)
    full_epochs = int(spec.recipe["epochs"])
    cut = {"epochs": epochs, "warmup_epochs": min(int(spec.recipe["warmup_epochs"]), epochs - 1), "workers": workers}
    spec = dataclasses.replace(spec, recipe={**spec.recipe, **cut})
    from harness.storage.subjobs import SubJobFiles

    files = SubJobFiles.of(workdir, "finetune", "cost-claim")  # the loop trains in a sub-job folder of a workdir
    files.folder.mkdir(parents=True)
    train(files.folder, spec, device)
    curve = read_metadata(files.marker)["curve"]
    timed = [row["epoch_s"] for row in curve[1:]] or [row["epoch_s"] for row in curve]
    return sum(timed) / len(timed), full_epochs, curve


def toptune_s(model_id: str, dataset_id: str, preset: str, settings, workdir: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Device-seconds of top-tuning: the train split's embeddings, the search, the final training."""
    import numpy as np

    from harness.compute.datasets import resolve_dataset
    from harness.compute.extract.cache import EmbeddingCache
    from harness.compute.extract.embeddings import split_embeddings
    from harness.compute.models import load_model
    from harness.compute.toptune.presets import load_preset
    from harness.compute.toptune.train import train_head

    model, dataset = load_model(model_id), resolve_dataset(dataset_id)
    manifest = dataset.manifest()
    cache = EmbeddingCache(workdir / "embeddings")
    started = time.perf_counter()
    x, _ = split_embeddings(model, dataset, "train", cache, settings)
    extract_s = time.perf_counter() - started
    labels = np.array(manifest.labels(manifest.indices("train")))
    del model
    head = train_head(x, labels, load_preset(preset), 0, workdir / "head", True, "cost claim", settings.device)
    return {"extract_s": extract_s, "search_s": head.search_s, "final_s": head.final_train_s,
            "trials": float(len(head.trials)), "final_epochs": float(head.final_epochs)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    args = parse_args(argv)
    import torch

    from harness.compute.extract.settings import default_workers
    from harness.spec.settings import Extraction

    if args.device == "cpu":
        torch.set_num_threads(1)
    workers = default_workers() if args.workers is None else args.workers
    with tempfile.TemporaryDirectory(prefix="ecombench-costclaim-") as tmp:
        data = args.data or Path(tmp) / "sop-shaped"
        started = time.perf_counter()
        counts = write_sop_shaped(data, args.scale, args.size, processes=max(1, workers))
        made = ", ".join(f"{split} {n:,} images / {c:,} classes" for split, (n, c) in counts.items())
        print(f"wrote SOP-shaped JPEGs ({args.size} px, scale {args.scale}): {made} in "
              f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        dataset_id = f"folder:{data}"
        epoch_s, full_epochs, curve = finetune_epoch_s(
            args.model, dataset_id, args.finetune_preset, args.epochs, workers, args.device, Path(tmp) / "work"
        )
        settings = Extraction(args.batch_size, workers, args.device, args.precision)
        top = toptune_s(args.model, dataset_id, args.toptune_preset, settings, Path(tmp) / "toptune")

    finetune = epoch_s * full_epochs
    toptune = top["extract_s"] + top["search_s"] + top["final_s"]
    ratio = finetune / toptune if toptune > 0 else math.inf
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"model {args.model} on {args.device} ({name}); fine-tune recipe {args.finetune_preset}, "
          f"top-tune preset {args.toptune_preset}, extraction {args.precision}")  # fmt: skip
    for row in curve:
        print(f"  fine-tuning epoch {row['epoch']}: {row['epoch_s']:.2f} s ({row['images_per_s']:.1f} img/s)")
    print(f"full fine-tuning: {epoch_s:.3f} s/epoch x {full_epochs} epochs = {finetune:,.2f} device-s "
          f"({finetune / 3600 / args.scale:,.2f} device-h at full SOP scale)")  # fmt: skip
    print(f"top-tuning: embeddings {top['extract_s']:.1f} s + search {top['search_s']:.1f} s "
          f"({top['trials']:.0f} trials) + final training {top['final_s']:.1f} s ({top['final_epochs']:.0f} epochs)"
          f" = {toptune:,.1f} device-s ({toptune / 3600 / args.scale:,.2f} device-h at full SOP scale)")  # fmt: skip
    verdict = "holds" if ratio >= CLAIM else "does not hold"
    print(f"ratio fine-tuning / top-tuning = {ratio:.1f}x   (paper: top-tuning is >= {CLAIM:.0f}x cheaper: {verdict} "
          "here)")  # fmt: skip
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    raise SystemExit(main())

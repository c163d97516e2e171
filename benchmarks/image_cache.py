"""The image cache's worth: extraction of several models with the same preprocessing, with and without it.

    python benchmarks/image_cache.py                              # two tiny timm models, CPU
    python benchmarks/image_cache.py --device cuda --precision bf16 \\
        --models "timm:resnet50[init=random],timm:resnet101[init=random]" --images 2048 --batch-size 256

Without the cache every model decodes, resizes and normalises every JPEG itself
(harness.compute.extract.embeddings.extract, in decoding workers); with it (``--image-cache``,
harness.compute.extract.image_cache) the split is decoded and resized once into uint8 pixels, and each model only
normalises them on the device. Both sides run the real ``split_embeddings`` on the same JPEG files (product-photo
sized, 512 px by default) in fresh workdirs; the ratio is (all models without) / (build + all models with), measured
in this run. It also prints the largest difference between the two sides' embeddings (the cache's stated tolerance:
none on the CPU).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from pipeline_efficiency import write_jpegs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models",
        default="timm:test_efficientnet[init=random],timm:test_vit[init=random]",
        help="comma-separated model ids, best with the same preprocessing",
    )
    parser.add_argument("--images", type=int, default=96, help="generated JPEG files")
    parser.add_argument("--size", type=int, default=512, help="side of the generated JPEGs, in pixels")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="decoding worker processes (both sides)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    return parser.parse_args(argv)


def _timed(device: str, run, *args):  # type: ignore[no-untyped-def]
    import torch

    started = time.perf_counter()
    out = run(*args)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import torch

    from harness.compute.datasets import resolve_dataset
    from harness.compute.extract.cache import EmbeddingCache
    from harness.compute.extract.embeddings import split_embeddings
    from harness.compute.extract.image_cache import ImageCache, split_transform
    from harness.compute.models import load_model
    from harness.spec.settings import Extraction

    args = parse_args(argv)
    if args.device == "cpu":
        torch.set_num_threads(1)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    models = [load_model(name) for name in names]
    transforms = [split_transform(m.transform) for m in models]
    geometries = {tuple(t.description) if t else None for t in transforms}
    with tempfile.TemporaryDirectory(prefix="ecombench-imgcache-") as tmp:
        write_jpegs(Path(tmp) / "jpegs", args.images, args.size)
        dataset = resolve_dataset(f"folder:{Path(tmp) / 'jpegs'}")
        manifest = dataset.manifest()
        split = max(("train", "test"), key=lambda s: len(manifest.indices(s)))
        items = [manifest.items[i] for i in manifest.indices(split)]
        settings = Extraction(args.batch_size, args.workers, args.device, args.precision)
        cached_settings = Extraction(args.batch_size, args.workers, args.device, args.precision, image_cache=True)
        for model in models:  # warm-up: first-call costs (kernels, allocator) on neither side
            split_embeddings(model, dataset, split, EmbeddingCache(Path(tmp) / "warm" / "embeddings"), settings)
        without, with_, plain, fast = [], [], [], []
        for index, model in enumerate(models):
            cache = EmbeddingCache(Path(tmp) / f"plain{index}" / "embeddings")
            (array, _), seconds = _timed(args.device, split_embeddings, model, dataset, split, cache, settings)
            without.append(seconds)
            plain.append(array)
        images = ImageCache(Path(tmp) / "cached" / "images")
        build_s = 0.0
        once = {tuple(t.description): t for t in transforms if t is not None}  # one build per preprocessing
        for transform in once.values():
            _, seconds = _timed(args.device, images.get, dataset, split, items, transform, args.workers)
            build_s += seconds
        for index, model in enumerate(models):
            cache = EmbeddingCache(Path(tmp) / "cached" / f"embeddings{index}")
            cache.root.mkdir(parents=True)
            (array, _), seconds = _timed(args.device, split_embeddings, model, dataset, split, cache, cached_settings)
            with_.append(seconds)
            fast.append(array)
        entry_bytes = sum(p.stat().st_size for p in images.root.glob("*.npy"))

    diff = max(float(np.abs(a - b).max()) for a, b in zip(plain, fast, strict=True))
    n = len(items)
    print(f"{n} JPEGs of {args.size} px, split {split}, batch {args.batch_size}, workers {args.workers}, "
          f"{args.device} {args.precision}; {len(geometries)} preprocessing(s) among {len(models)} models")  # fmt: skip
    for name, t_without, t_with in zip(names, without, with_, strict=True):
        print(f"  {name:50s} without {t_without:8.2f} s ({n / t_without:8.1f} img/s)   "
              f"with {t_with:8.2f} s ({n / t_with:8.1f} img/s)")  # fmt: skip
    total_without, total_with = sum(without), build_s + sum(with_)
    print(f"  image cache build (once per preprocessing)         {build_s:8.2f} s, {entry_bytes / 2**20:.1f} MiB")
    print(f"all models: without {total_without:.2f} s, with (build + models) {total_with:.2f} s, "
          f"ratio {total_without / total_with:.2f}x")  # fmt: skip
    print(f"largest |difference| between the two sides' embeddings: {diff:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

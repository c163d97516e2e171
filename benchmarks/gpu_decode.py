"""JPEG decoding + resize/crop on the device (torchvision.io.decode_jpeg: nvJPEG on CUDA) against PIL in
decoding workers, on the same files, with the model's own geometric preprocessing.

    python benchmarks/gpu_decode.py                                            # CPU: libjpeg-turbo both sides
    python benchmarks/gpu_decode.py --device cuda --model "timm:resnet50[init=random]" --images 4096 --workers 15

The PIL side is what the harness does today (harness.compute.extract.image_cache's decoding dataset in a DataLoader with
``--workers`` processes: read, decode, Resize, CenterCrop, uint8); the device side reads the files' bytes in
this process and decodes them in batches of ``--batch-size`` with harness.compute.extract.jpeg.decode_resized,
synchronised before the clock stops. Prints both rates, their ratio, and how far the device's pixels are from PIL's.
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
    parser.add_argument("--model", default="timm:test_efficientnet[init=random]", help="whose preprocessing")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=512, help="side of the generated JPEGs, in pixels")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="PIL decoding processes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per side (the best is kept)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    from harness.compute.datasets import resolve_dataset
    from harness.compute.extract.image_cache import _Pixels, _stack, split_transform
    from harness.compute.extract.jpeg import decode_resized, pil_resized
    from harness.compute.models import load_model

    args = parse_args(argv)
    if args.device == "cpu":
        torch.set_num_threads(1)
    transform = split_transform(load_model(args.model).transform)
    if transform is None:
        raise SystemExit(f"{args.model}: its preprocessing is not resize/crop + ToTensor + Normalize")
    cuda = args.device.startswith("cuda")
    with tempfile.TemporaryDirectory(prefix="ecombench-decode-") as tmp:
        write_jpegs(Path(tmp), args.images, args.size)
        dataset = resolve_dataset(f"folder:{tmp}")
        items = list(dataset.manifest().items)
        paths = [Path(item.key) if Path(item.key).is_absolute() else Path(tmp) / item.key for item in items]
        pil_s, device_s = [], []
        for _ in range(args.repeats):
            loader = DataLoader(_Pixels(dataset, items, transform.geometry), batch_size=args.batch_size,  # type: ignore[arg-type]
                                num_workers=args.workers, collate_fn=_stack)  # fmt: skip
            started = time.perf_counter()
            for pixels, errors in loader:
                assert pixels is not None, errors
            pil_s.append(time.perf_counter() - started)
            decode_resized([paths[0].read_bytes()], transform.geometry, args.device)  # warm-up (nvJPEG handles)
            started = time.perf_counter()
            for start in range(0, len(paths), args.batch_size):
                data = [p.read_bytes() for p in paths[start : start + args.batch_size]]
                out = decode_resized(data, transform.geometry, args.device)
            if cuda:
                torch.cuda.synchronize()
            device_s.append(time.perf_counter() - started)
        sample = [p.read_bytes() for p in paths[: args.batch_size]]
        ours = decode_resized(sample, transform.geometry, args.device).cpu().numpy().astype(np.int16)
        theirs = pil_resized(sample, transform.geometry).astype(np.int16)
    n = len(items)
    pil_rate, device_rate = n / min(pil_s), n / min(device_s)
    diff = np.abs(ours - theirs)
    print(f"{n} JPEGs of {args.size} px -> {tuple(out.shape[1:])} uint8 ({args.model}'s geometry: "
          f"{', '.join(transform.description)})")  # fmt: skip
    print(f"  PIL in {args.workers} worker(s):          {pil_rate:9.1f} img/s")
    print(f"  decode_jpeg on {args.device:10s} batch {args.batch_size:4d}: {device_rate:9.1f} img/s")
    print(f"  ratio device / PIL: {device_rate / pil_rate:.2f}x")
    print(f"  pixels vs PIL: max |difference| {int(diff.max())} levels, mean {float(diff.mean()):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

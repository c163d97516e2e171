"""Batched torchvision JPEG decoding (harness.compute.extract.jpeg) on the CPU against PIL, within stated tolerances
(on CUDA the same calls run nvJPEG, measured by benchmarks/gpu_decode.py)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness.compute.extract.image_cache import split_transform
from harness.compute.extract.jpeg import decode_jpegs, decode_resized, pil_resized
from harness.compute.extract.vectors import l2_normalise
from harness.compute.models import load_model

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from pipeline_efficiency import write_jpegs  # real JPEG files, product-photo sized


def test_decoding_resizing_and_embedding_stay_within_tolerance_of_pil(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    write_jpegs(tmp_path, 8, 500)
    data = [p.read_bytes() for p in sorted(tmp_path.rglob("*.jpg"))]
    decoded = decode_jpegs(data, "cpu")
    pil = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in data]
    assert all(d.dtype == torch.uint8 and d.shape == (3, 500, 500) for d in decoded)
    # stated tolerance, decode: at most 1 level (both sides are libjpeg-turbo on the CPU: 0 in practice)
    assert (
        max(int(np.abs(d.permute(1, 2, 0).numpy().astype(int) - p).max()) for d, p in zip(decoded, pil, strict=True))
        <= 1
    )

    model = load_model("timm:test_efficientnet[init=random]")
    transform = split_transform(model.transform)
    assert transform is not None
    ours, theirs = decode_resized(data, transform.geometry, "cpu"), pil_resized(data, transform.geometry)
    assert ours.shape == theirs.shape == (8, 160, 160, 3) and ours.dtype == torch.uint8
    diff = np.abs(ours.numpy().astype(int) - theirs.astype(int))
    # stated tolerance, resize + crop: tensor bicubic (antialiased) vs PIL's, at most 4 levels, 0.5 on average
    assert diff.max() <= 4 and diff.mean() <= 0.5, (diff.max(), diff.mean())

    with torch.inference_mode():
        embed = [model.embed(transform.normalise(torch.as_tensor(np.asarray(x)), torch.contiguous_format))
                 for x in (ours, theirs)]  # fmt: skip
    cosine = (l2_normalise(embed[0].numpy()) * l2_normalise(embed[1].numpy())).sum(axis=1)
    assert cosine.min() >= 0.999, cosine.min()  # stated tolerance, embeddings

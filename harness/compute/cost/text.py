"""What a text query costs at search time: tokenising and encoding it with the model's text tower.

A shop encodes each shopper's query when it arrives, so the cost suite times a batch-1 query end to end
(tokenizer included, wall clock synchronised with the device) and the encoding throughput at a batch of
``BATCH`` queries, with the suite's warm-up and iterations and the cell's precision (autocast). Image-only
backbones have no text tower and get none of these figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.compute.cost.timing import measure, summarize, wall_timer
from harness.compute.extract.embeddings import forward_precision
from harness.spec.settings import Extraction

if TYPE_CHECKING:
    from harness.compute.models.base import TextTower

#: queries of a throughput batch; the queries are typical shop searches, cycled
BATCH = 32
QUERIES = (
    "red leather handbag", "men's navy blue checked shirt", "running shoes size 42", "stainless steel kettle",
    "wireless noise cancelling headphones", "floral summer dress", "oak coffee table", "kids winter jacket",
)  # fmt: skip


def text_costs(tower: TextTower, device: str, precision: str, warmup: int, iterations: int) -> dict[str, float]:
    """``text_latency_b1_p50_ms`` / ``_p99_ms`` (one query, tokenizer included) and ``text_throughput_queries_s``."""
    import torch

    tower.module.to(device).eval()
    batch = [QUERIES[i % len(QUERIES)] for i in range(BATCH)]

    def encode(texts: list[str]) -> None:
        with torch.inference_mode(), forward_precision(Extraction(device=device, precision=precision)):
            tower.embed(tower.tokenize(texts).to(device))

    timer = wall_timer(device)
    one = summarize(measure(lambda: encode([QUERIES[0]]), timer, warmup, iterations))
    many = summarize(measure(lambda: encode(batch), timer, min(warmup, 2), max(1, iterations // 5)))
    return {
        "text_latency_b1_p50_ms": 1000 * one.p50,
        "text_latency_b1_p99_ms": 1000 * one.p99,
        "text_throughput_queries_s": BATCH / many.p50,
    }

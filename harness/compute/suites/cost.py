"""The cost suite: what one model costs at inference, measured with warm-up, synchronised timers,
repeats and percentiles (the practice of timm's benchmark.py and MLPerf), with its settings in the cell's
params and the machine in the run's provenance (device, GPU driver, CUDA/torch versions, CPU model and
threads, ``shared_machine``).

The cell's dataset supplies the real images of the pipeline measurement. Steps, in order: batch-1
latency on a pre-made tensor; the largest batch that fits (doubling, then bisection after an
out-of-memory error; capped at ``max_batch``, or ``max_batch_cpu`` on the CPU); model-alone throughput
at that batch; FLOPs and embedding size; the harness's own extraction pipeline
(harness.compute.extract.embeddings.extract: decoding workers, transform, forward) over ``pipeline_images``
real images; decode and preprocess time per image, each stage timed serially on the same images.

Metrics (names are contracts; times of one run, ``_ms`` in milliseconds):

- ``latency_b1_p50_ms``, ``latency_b1_p95_ms``, ``latency_b1_p99_ms``, ``latency_b1_mean_ms``
- ``best_batch_size``, ``batch_search_capped`` (1.0 when the cap, not memory, ended the search)
- ``throughput_model_img_s``: model alone on pre-made tensors at ``best_batch_size``
- ``throughput_pipeline_img_s``: real image files through harness.compute.extract.embeddings at ``pipeline_batch_size``
  (0 in params: the best batch size, at most the number of images) with the run's ``--workers``
- ``pipeline_efficiency``: pipeline img/s over model-alone img/s at the same batch size and precision
- ``decode_ms_per_image``, ``preprocess_ms_per_image``, ``forward_ms_per_image``: where the time goes
- ``peak_memory_mb``: during the model-alone throughput (CUDA max allocated; on the CPU the process's
  peak RSS); ``params``: parameters of the whole module (a classifier head not used by the embedding
  included); ``gflops_per_image``: FlopCounterMode, 2 FLOPs per multiply-add; ``embedding_dim``
- ``embedding_bytes_fp32``, ``embedding_bytes_bf16``, ``embedding_bytes_fp16``: one stored embedding
- ``<m>_spread`` and ``<m>_unstable`` for m in latency_b1, throughput_model, throughput_pipeline: relative
  spread (p75 - p25) / p50 of the timed iterations, and 1.0 when it exceeds ``max_spread`` (else 0.0)
- ``pipeline_batch_size``, ``pipeline_workers``, ``pipeline_images``: the settings actually used
- ``text_latency_b1_p50_ms``, ``text_latency_b1_p99_ms``, ``text_throughput_queries_s``: a model with a text
  tower only: one shopper's query tokenised and encoded, and queries per second at a batch of 32
  (harness.compute.cost.text)
- ``measure_device_s``, ``measure_device_hours``, ``measure_gpu_hours`` (CUDA), ``measure_price_usd`` and
  ``measure_usd_per_hour`` (when the price table prices the device): this suite's own measurement

Every metric of kind ``cost`` in harness.spec.metrics (from any suite: retrieval's ``extract_s`` and
``search_s``, top-tuning's ``tuner_search_s`` and ``head_train_s``, ...) is in the ``cost_ledger`` view of the
results database, with the device, GPU, CPU and ``shared_machine`` of its run.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.compute.cost.inference import Setup, pipeline, prepared, sample_tensor, stage_times
from harness.compute.cost.memory import PeakMemory
from harness.compute.cost.prices import device_name, price_metrics
from harness.compute.cost.text import text_costs
from harness.compute.cost.timing import Stats
from harness.compute.suites import Context
from harness.compute.suites.declarations.cost import DEFAULTS as DEFAULTS
from harness.compute.suites.declarations.cost import check_params
from harness.core.errors import HarnessError
from harness.core.machine import machine_state
from harness.core.precision import BYTES_PER_VALUE


def spread_metrics(name: str, stats: Stats, max_spread: float) -> dict[str, float]:
    return {f"{name}_spread": stats.spread, f"{name}_unstable": float(stats.unstable(max_spread))}


def run(ctx: Context) -> dict[str, float]:
    p = ctx.params
    check_params(p)
    device = ctx.extraction.device
    # the cell's --precision / --channels-last where the suite's own parameters are left at their defaults
    precision = p["precision"] if p["precision"] != "fp32" else ctx.extraction.precision
    setup = Setup(device, precision, p["channels_last"] or ctx.extraction.channels_last)
    items = list(ctx.dataset.manifest().items)
    items = items[: p["pipeline_images"]] if p["pipeline_images"] else items
    if not items:
        raise HarnessError(f"dataset '{ctx.dataset.id}' has no images to measure the pipeline on")

    # The provenance's load sample was taken once, before the first cell of the grid; this one is this cell's.
    ctx.details["machine"] = machine_state(device)
    started = time.perf_counter()
    sample = sample_tensor(ctx.model, ctx.dataset, items[0])
    with prepared(ctx.model, setup, sample) as bench:
        latency = bench.latency(p["warmup"], p["iterations"])
        search = bench.max_batch(p["max_batch_cpu"] if device == "cpu" else p["max_batch"])
        model = bench.throughput(search.best, p["warmup"], p["throughput_iterations"])
        pipe_batch = min(p["pipeline_batch_size"] or search.best, len(items))
        at_pipe = (
            model
            if pipe_batch == model.batch_size
            else bench.throughput(pipe_batch, p["warmup"], p["throughput_iterations"])
        )
        dim = bench.embedding_dim()
        gflops = bench.gflops_per_image()
        piped = pipeline(bench, ctx.dataset, items, pipe_batch, ctx.extraction.workers, p["pipeline_repeats"])
        stages = stage_times(bench, ctx.dataset, items, at_pipe.img_s)
    # a text-image model also pays for encoding each shopper's query (harness.compute.cost.text)
    text = text_costs(ctx.model.text, device, precision, p["warmup"], p["iterations"]) if ctx.model.text else {}
    measure_s = time.perf_counter() - started

    metrics: dict[str, float] = {
        "latency_b1_p50_ms": 1000 * latency.p50,
        "latency_b1_p95_ms": 1000 * latency.p95,
        "latency_b1_p99_ms": 1000 * latency.p99,
        "latency_b1_mean_ms": 1000 * latency.mean,
        "best_batch_size": float(search.best),
        "batch_search_capped": float(search.capped),
        "throughput_model_img_s": model.img_s,
        "throughput_pipeline_img_s": piped.img_s,
        "pipeline_efficiency": piped.img_s / at_pipe.img_s,
        "decode_ms_per_image": 1000 * stages.decode,
        "preprocess_ms_per_image": 1000 * stages.preprocess,
        "forward_ms_per_image": 1000 * stages.forward,
        "peak_memory_mb": float(model.peak_memory_mb or 0.0),
        "params": float(sum(t.numel() for t in ctx.model.module.parameters())),
        "gflops_per_image": gflops,
        "embedding_dim": float(dim),
        **{f"embedding_bytes_{name}": float(dim * size) for name, size in BYTES_PER_VALUE.items()},
        **spread_metrics("latency_b1", latency, p["max_spread"]),
        **spread_metrics("throughput_model", model.stats, p["max_spread"]),
        **spread_metrics("throughput_pipeline", piped.stats, p["max_spread"]),
        "pipeline_batch_size": float(pipe_batch),
        "pipeline_workers": float(ctx.extraction.workers),
        "pipeline_images": float(len(items)),
        **text,
    }
    prices = Path(p["prices"]) if p["prices"] else None
    metrics.update(price_metrics(measure_s, device, prefix="measure_", prices=prices))
    ctx.details.update(
        device_name=device_name(device),
        precision_mode="autocast" if precision != "fp32" else "fp32",
        precision=precision,
        channels_last=setup.channels_last,
        peak_memory={"source": PeakMemory(device).source, "reset_before": model.memory_reset},
        batch_search={"tried": search.tried, "capped": search.capped, "best": search.best},
        latency_b1_s=latency.as_dict(),
        throughput_model_s=model.stats.as_dict(),
        throughput_at_pipeline_batch_s=at_pipe.stats.as_dict(),
        throughput_pipeline_s=piped.stats.as_dict(),
    )
    return metrics

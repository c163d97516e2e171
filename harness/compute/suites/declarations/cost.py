"""The cost suite's declaration; its run() is harness.compute.suites.cost."""

from __future__ import annotations

from typing import Any

from harness.core.errors import HarnessError
from harness.core.precision import PRECISIONS
from harness.spec.suites import Suite

DEFAULTS: dict[str, Any] = {
    "precision": "fp32",  # autocast dtype: fp32, bf16 or fp16
    "channels_last": False,
    "warmup": 10,  # untimed iterations before each timed measurement
    "iterations": 50,  # timed batch-1 iterations (latency)
    "throughput_iterations": 20,  # timed iterations at the best batch size
    "max_batch": 1024,  # batch-size search cap on an accelerator
    "max_batch_cpu": 16,  # batch-size search cap on the CPU (which would swap long before failing)
    "pipeline_batch_size": 0,  # 0: the best batch size
    "pipeline_images": 256,  # real images for the pipeline measurement; 0: all of the dataset
    "pipeline_repeats": 3,  # timed passes over them
    "max_spread": 0.10,  # relative spread (p75 - p25) / p50 above which a measurement is flagged
    "prices": "",  # price table (TOML); "": harness/presets/prices.toml
}
STRATEGIES = ("pretrained",)

#: integer parameter -> its smallest allowed value
COUNTS = {
    "warmup": 0, "iterations": 1, "throughput_iterations": 1, "max_batch": 1, "max_batch_cpu": 1,
    "pipeline_batch_size": 0, "pipeline_images": 0, "pipeline_repeats": 1,
}  # fmt: skip


def check_params(params: dict[str, Any]) -> None:
    for name, minimum in COUNTS.items():
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise HarnessError(f"cost suite: parameter {name}={value!r} must be an integer >= {minimum}")
    if params["precision"] not in PRECISIONS:
        raise HarnessError(f"cost suite: precision={params['precision']!r}: expected one of {', '.join(PRECISIONS)}")
    if not isinstance(params["channels_last"], bool):
        raise HarnessError(f"cost suite: channels_last={params['channels_last']!r} must be true or false")
    spread = params["max_spread"]
    if isinstance(spread, bool) or not isinstance(spread, int | float) or spread <= 0:
        raise HarnessError(f"cost suite: max_spread={spread!r} must be a number > 0")
    if not isinstance(params["prices"], str):
        raise HarnessError(f"cost suite: prices={params['prices']!r} must be a path (or empty for the default)")


SUITE = Suite(
    name="cost",
    description="inference latency percentiles, throughput, peak memory, params, FLOPs and embedding bytes",
    run_module="harness.compute.suites.cost",
    defaults=DEFAULTS,
    strategies=STRATEGIES,
    check_params=check_params,
    measures_machine=True,
    extracts=False,  # it times the model on a sample of images; no split's embeddings are computed
)

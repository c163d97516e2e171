"""Inference cost of one model: latency, model-alone and pipeline throughput, stage times, FLOPs, memory.

Precision is automatic mixed precision (``torch.autocast``; weights stay fp32, as timm benchmark.py's
``--amp``), so the shared model object is never converted. Channels-last converts the module's parameters'
memory format for the measurement and restores it afterwards (a layout change; the values are untouched).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.compute.cost.batch_search import BatchSearch, find_max_batch
from harness.compute.cost.memory import PeakMemory
from harness.compute.cost.timing import Stats, Timer, make_timer, measure, summarize, wall_timer
from harness.core.errors import HarnessError
from harness.core.precision import PRECISIONS, autocast_dtype

if TYPE_CHECKING:
    import torch

    from harness.compute.datasets.base import Dataset, Item
    from harness.compute.models.base import EmbeddingModel


@dataclass(frozen=True)
class Setup:
    device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise HarnessError(f"precision '{self.precision}': expected one of {', '.join(PRECISIONS)}")


@dataclass(frozen=True)
class Throughput:
    batch_size: int
    stats: Stats
    img_s: float
    peak_memory_mb: float | None = None
    memory_reset: bool = False  # True when the peak counter was reset before the measurement


class Bench:
    """A model on its device, in the measurement's precision and memory format (see :func:`prepared`)."""

    def __init__(self, model: EmbeddingModel, setup: Setup, sample: torch.Tensor) -> None:
        self.model, self.setup, self.sample = model, setup, sample
        self.timer: Timer = make_timer(setup.device)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        import torch

        dtype = autocast_dtype(self.setup.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(torch.device(self.setup.device).type, dtype=dtype)

    def _format(self, batch: torch.Tensor) -> torch.Tensor:
        import torch

        if self.setup.channels_last and batch.dim() == 4:
            return batch.contiguous(memory_format=torch.channels_last)
        return batch

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        """The model's embedding in this setup (what the pipeline's extraction calls too)."""
        import torch

        with torch.inference_mode(), self._autocast():
            return self.model.embed(self._format(batch))

    def inputs(self, batch_size: int) -> torch.Tensor:
        """Pre-made input on the device: the sample image repeated, so no time goes to making it."""
        return self._format(self.sample.to(self.setup.device).unsqueeze(0).repeat(batch_size, 1, 1, 1))

    def latency(self, warmup: int, iterations: int) -> Stats:
        """Seconds per batch-1 forward pass."""
        return self._timed(1, warmup, iterations)

    def max_batch(self, cap: int) -> BatchSearch:
        def run(batch_size: int) -> None:
            self.embed(self.inputs(batch_size))
            self.timer.sync()

        return find_max_batch(run, cap, after_oom=self._free)

    def _free(self) -> None:
        gc.collect()
        if self.setup.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def throughput(self, batch_size: int, warmup: int, iterations: int) -> Throughput:
        """Images per second of the model alone on pre-made tensors, and the peak memory meanwhile."""
        memory = PeakMemory(self.setup.device)
        memory.start()
        stats = self._timed(batch_size, warmup, iterations)
        peak = memory.peak_mb()
        self._free()  # the batch's tensors are gone: release them before the next measurement
        return Throughput(batch_size, stats, batch_size / stats.mean, peak, memory.reset)

    def _timed(self, batch_size: int, warmup: int, iterations: int) -> Stats:
        x = self.inputs(batch_size)
        return summarize(measure(lambda: self.embed(x), self.timer, warmup, iterations))

    def embedding_dim(self) -> int:
        return int(self.embed(self.inputs(1)).shape[-1])

    def gflops_per_image(self) -> float:
        from harness.compute.cost.flops import flops_per_image

        return flops_per_image(self.model.embed, self.inputs(1)) / 1e9


@contextlib.contextmanager
def prepared(model: EmbeddingModel, setup: Setup, sample: torch.Tensor) -> Iterator[Bench]:
    """Move the module to the device (channels-last if asked) for the measurement; restore it afterwards."""
    import torch

    module = model.module.eval().to(setup.device)
    if setup.channels_last:
        module.to(memory_format=torch.channels_last)
    try:
        yield Bench(model, setup, sample)
    finally:
        if setup.channels_last:
            module.to(memory_format=torch.contiguous_format)
        module.cpu()  # where extraction leaves it too


def pipeline(
    bench: Bench, dataset: Dataset, items: list[Item], batch_size: int, workers: int, repeats: int
) -> Throughput:
    """Images per second of the harness's own extraction (harness.compute.extract.embeddings.extract: decoding
    workers, the model's transform, batched forward, copy back) over real images, timed on the wall clock.

    One untimed pass over the first two batches warms the workers' path and the file cache first.
    """
    from harness.compute.extract.embeddings import extract
    from harness.spec.settings import Extraction

    settings = Extraction(batch_size, workers, bench.setup.device)
    model = dataclasses.replace(bench.model, embed=bench.embed)
    label = f"{model.model_id} on {dataset.id} (cost: pipeline)"

    def run(subset: list[Item]) -> Callable[[], object]:
        return lambda: extract(model, dataset, subset, settings, label)

    timer = wall_timer(bench.setup.device)
    run(items[: 2 * batch_size])()
    stats = summarize(measure(run(items), timer, warmup=0, iterations=repeats))
    return Throughput(batch_size, stats, len(items) / stats.mean)


@dataclass(frozen=True)
class Stages:
    """Serial time per image of each pipeline stage, in seconds, measured on the same images."""

    decode: float  # dataset.load_image: read + decode the file (for generated datasets: draw it)
    preprocess: float  # the model's transform: resize, crop, to tensor, normalise
    forward: float  # the model alone at the pipeline's batch size (1 / throughput)


def stage_times(bench: Bench, dataset: Dataset, items: list[Item], forward_img_s: float) -> Stages:
    """Decode every image, then preprocess every image, each stage timed as a whole in this process with one
    torch thread, as in a DataLoader worker (which sets one thread: several would fight the forward pass)."""
    import torch

    timer = wall_timer("cpu")
    images: list[Any] = []
    transform = bench.model.transform
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        decode_s = timer.time(lambda: images.extend(dataset.load_image(item) for item in items))
        preprocess_s = timer.time(lambda: [transform(image) for image in images])
    finally:
        torch.set_num_threads(threads)
    return Stages(decode_s / len(items), preprocess_s / len(items), 1.0 / forward_img_s)


def sample_tensor(model: EmbeddingModel, dataset: Dataset, item: Item) -> torch.Tensor:
    """One real image through the model's own transform: the shape and content of pre-made inputs."""
    return model.transform(dataset.load_image(item))

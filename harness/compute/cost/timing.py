"""Timers and statistics for latency and throughput, after timm's benchmark.py and MLPerf.

Every measurement is: ``warmup`` untimed calls, then ``iterations`` timed calls, each timed on its own; the
durations are summarised by percentiles. On CUDA, a call is timed with CUDA events recorded around it and
synchronised (the GPU's own clock, not the CPU's view of an asynchronous launch); on the CPU, with
``time.perf_counter``. The clock is injectable, so the statistics are tested on a deterministic fake clock.

Percentiles use linear interpolation between closest ranks (NumPy's default, Hyndman-Fan type 7): for
n sorted durations, the q-th percentile sits at position h = (n - 1) * q / 100, and is
``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``.

The relative spread of a measurement is its interquartile range over its median, ``(p75 - p25) / p50``:
robust to a single outlier (a GC pause, a page fault) yet large when the timings wander, as they do on a
machine someone else is using. A measurement whose spread exceeds the suite's ``max_spread`` is flagged
(metric ``<name>_unstable`` = 1.0), never silently reported.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: a monotonic clock in seconds
Clock = Callable[[], float]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 <= q <= 100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside [0, 100]")
    ordered = sorted(values)
    h = (len(ordered) - 1) * q / 100
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


@dataclass(frozen=True)
class Stats:
    """Summary of n timed iterations, in seconds."""

    n: int
    mean: float
    minimum: float
    maximum: float
    p5: float
    p25: float
    p50: float
    p75: float
    p95: float
    p99: float

    @property
    def spread(self) -> float:
        """Relative spread: interquartile range over the median (see the module docstring)."""
        return (self.p75 - self.p25) / self.p50 if self.p50 > 0 else math.inf

    def unstable(self, max_spread: float) -> bool:
        return self.spread > max_spread

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "spread": self.spread}


def summarize(durations: Sequence[float]) -> Stats:
    if not durations:
        raise ValueError("no durations to summarise")
    return Stats(
        n=len(durations),
        mean=sum(durations) / len(durations),
        minimum=min(durations),
        maximum=max(durations),
        **{f"p{q}": percentile(durations, q) for q in (5, 25, 50, 75, 95, 99)},
    )


class Timer(Protocol):
    def time(self, fn: Callable[[], object]) -> float:
        """Run ``fn`` once, wait for everything it started to finish, and return its duration in seconds."""
        ...

    def sync(self) -> None:
        """Wait for all work queued so far (a no-op on the CPU)."""
        ...


class WallTimer:
    """Wall-clock timing with an injectable clock; ``synchronize`` (e.g. ``torch.cuda.synchronize``) runs
    before the clock is read again, so asynchronous work is inside the measurement."""

    def __init__(self, clock: Clock = time.perf_counter, synchronize: Callable[[], None] | None = None) -> None:
        self.clock, self.synchronize = clock, synchronize

    def sync(self) -> None:
        if self.synchronize is not None:
            self.synchronize()

    def time(self, fn: Callable[[], object]) -> float:
        self.sync()
        start = self.clock()
        fn()
        self.sync()
        return self.clock() - start


class CudaEventTimer:
    """CUDA events recorded on the current stream around the call, then synchronised on the end event."""

    def __init__(self, device: Any) -> None:
        import torch

        self.device = torch.device(device)

    def sync(self) -> None:
        import torch

        torch.cuda.synchronize(self.device)

    def time(self, fn: Callable[[], object]) -> float:
        import torch

        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        self.sync()
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0  # milliseconds -> seconds


def make_timer(device: str) -> Timer:
    """CUDA events on a CUDA device, the synchronised wall clock elsewhere."""
    return CudaEventTimer(device) if device.startswith("cuda") else WallTimer()


def wall_timer(device: str) -> WallTimer:
    """The wall clock, synchronised with the device: for stages that include CPU work (decoding, loading)."""
    if device.startswith("cuda"):
        import torch

        return WallTimer(synchronize=lambda: torch.cuda.synchronize(device))
    return WallTimer()


def measure(fn: Callable[[], object], timer: Timer, warmup: int, iterations: int) -> list[float]:
    """``warmup`` untimed calls (synchronised), then ``iterations`` timed ones; returns their durations."""
    if iterations < 1:
        raise ValueError("at least one timed iteration is needed")
    for _ in range(warmup):
        fn()
    timer.sync()
    return [timer.time(fn) for _ in range(iterations)]

"""Peak memory of a measurement: CUDA's peak allocated bytes, or the process's peak resident set size.

On CUDA, the peak counter is reset before the measurement and read after it, so it is the measurement's own
peak (tensors allocated through PyTorch: weights, activations, workspace; not the CUDA context). On the CPU,
the peak RSS of the whole process (weights, activations, the Python interpreter and its libraries): on Linux
it is reset first by writing 5 to ``/proc/self/clear_refs``; where that is not possible the figure is the
process's lifetime peak, and ``reset`` says so.
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


@dataclass
class PeakMemory:
    """``start()`` before, ``peak_mb()`` after a measurement; ``source`` and ``reset`` describe the figure."""

    device: str
    reset: bool = False

    @property
    def source(self) -> str:
        return "cuda_max_allocated" if self.cuda else "process_peak_rss"

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    def start(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.reset = True
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        except OSError:
            self.reset = False  # the lifetime peak is what can be read; recorded as such
        else:
            self.reset = True

    def peak_mb(self) -> float:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) / MIB
        return _peak_rss_bytes() / MIB


def _peak_rss_bytes() -> int:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # reported in kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, kB elsewhere

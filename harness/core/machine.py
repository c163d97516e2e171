"""Is someone else using this machine? Sampled just before a run and recorded with its provenance.

Timings taken while other processes compete for the CPU (or the GPU) are slower and noisier than the
hardware allows; a report must be able to tell them apart. Three observations, all cheap:

- ``cpu_busy_other``: CPU cores kept busy by *other* processes over a short sample (``/proc/stat``'s busy
  time of the whole machine minus this process's own CPU time, divided by the sample's length);
- ``load_avg_1m``: the kernel's one-minute load average (includes this process's own recent work);
- on CUDA, ``gpu_other_processes``: other processes holding a context on the GPU (``nvidia-smi``), and
  ``gpu_utilization_pct`` at that moment.

``shared_machine`` is True when other processes keep at least ``SHARED_CPU_CORES`` cores busy or hold the
GPU. A value that cannot be observed on this platform is None, and does not count either way.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

#: other processes keeping this many cores busy make the machine "shared"
SHARED_CPU_CORES = 0.5
SAMPLE_S = 0.25


def _busy_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from the first line of /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest time is inside user)
    return total - idle, total


def cpu_busy_other(seconds: float = SAMPLE_S) -> float | None:
    """Cores kept busy by other processes during a ``seconds``-long sample (this process sleeps meanwhile)."""
    before = _busy_jiffies()
    if before is None:
        return None
    own_before, wall_before = sum(os.times()[:2]), time.monotonic()
    time.sleep(seconds)
    after = _busy_jiffies()
    own_after, wall_after = sum(os.times()[:2]), time.monotonic()
    if after is None:
        return None
    busy_s = (after[0] - before[0]) / os.sysconf("SC_CLK_TCK")
    return round(max(0.0, busy_s - (own_after - own_before)) / (wall_after - wall_before), 3)


def _nvidia_smi(*args: str) -> list[str] | None:
    try:
        done = subprocess.run(["nvidia-smi", *args], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None  # no nvidia-smi here (e.g. a container without the tools): the fields stay None
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def gpu_state(device: str) -> dict[str, Any]:
    """Driver version, utilisation and other processes on the GPU of ``device`` (e.g. "cuda:1")."""
    torch_index = int(device.partition(":")[2] or 0)
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    # nvidia-smi numbers GPUs physically and ignores CUDA_VISIBLE_DEVICES; torch numbers the visible ones
    index = visible[torch_index] if torch_index < len(visible) else str(torch_index)
    query = _nvidia_smi("-i", index, "--query-gpu=driver_version,utilization.gpu", "--format=csv,noheader,nounits")
    apps = _nvidia_smi("-i", index, "--query-compute-apps=pid", "--format=csv,noheader")
    fields = [f.strip() for f in query[0].split(",")] if query else []
    driver = fields[0] if fields else None
    utilization = float(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
    others = None if apps is None else sum(1 for pid in apps if pid != str(os.getpid()))
    return {"gpu_driver": driver, "gpu_utilization_pct": utilization, "gpu_other_processes": others}


def machine_state(device: str) -> dict[str, Any]:
    """The load fields of the provenance, and the ``shared_machine`` verdict."""
    busy = cpu_busy_other()
    state: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "cpu_busy_other": busy,
    }
    gpu_shared = False
    if device.startswith("cuda"):
        state.update(gpu_state(device))
        gpu_shared = bool(state["gpu_other_processes"])
    state["shared_machine"] = gpu_shared or (busy is not None and busy >= SHARED_CPU_CORES)
    return state

"""Device-seconds to device-hours and a price estimate, from a user-editable price table (TOML data).

Any suite may call :func:`price_metrics` for the time its phases kept the device busy (the cost suite for
its own measurement; the classification suite for its search and final training; fine-tuning later), so
that every training and inference cost lands in the ``cost_ledger`` view in the same units.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.resources import preset_file
from harness.core.tomlfile import read_toml

#: the price table shipped with the harness (harness/presets/prices.toml)
DEFAULT_PRICES = preset_file("prices.toml")


@dataclass(frozen=True)
class Price:
    match: str
    usd_per_hour: float


def load_prices(path: Path | None = None) -> list[Price]:
    """Read a price table: ``[[price]]`` entries with ``match`` (fnmatch pattern) and ``usd_per_hour``."""
    path = path or DEFAULT_PRICES
    data = read_toml(path, "price table")
    prices = []
    for i, entry in enumerate(data.get("price", [])):
        match, rate = entry.get("match"), entry.get("usd_per_hour")
        if not isinstance(match, str) or isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
            raise HarnessError(
                f"price table '{path}': entry {i + 1} needs match = \"pattern\" and usd_per_hour = a number >= 0"
            )
        prices.append(Price(match, float(rate)))
    return prices


def device_name(device: str) -> str:
    """The name prices are matched against: the GPU's name on CUDA, "cpu" otherwise."""
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(torch.device(device))
    return "cpu"


def rate_for(name: str, prices: list[Price]) -> float | None:
    """USD per hour of the first entry matching ``name`` (case-insensitive), or None."""
    for price in prices:
        if fnmatch.fnmatch(name.lower(), price.match.lower()):
            return price.usd_per_hour
    return None


def price_metrics(
    device_s: float, device: str, prefix: str = "", prices: Path | None = None, name: str | None = None
) -> dict[str, float]:
    """``<prefix>device_s``, ``<prefix>device_hours``, on CUDA ``<prefix>gpu_hours``, and when the table
    prices the device, ``<prefix>price_usd`` and ``<prefix>usd_per_hour`` (the rate used).

    Args:
        device_s: seconds the device was busy (for one device: the phase's wall time).
        device: the torch device string of the phase ("cpu", "cuda", "cuda:1").
        prefix: names the phase, e.g. "search_" gives search_device_s, search_price_usd, ...
        prices: the price table; None for the one shipped with the harness.
        name: the device name to price (default: :func:`device_name` of ``device``).
    """
    hours = device_s / 3600.0
    metrics = {f"{prefix}device_s": device_s, f"{prefix}device_hours": hours}
    if device.startswith("cuda"):
        metrics[f"{prefix}gpu_hours"] = hours
    rate = rate_for(name or device_name(device), load_prices(prices))
    if rate is not None:
        metrics.update({f"{prefix}price_usd": hours * rate, f"{prefix}usd_per_hour": rate})
    return metrics

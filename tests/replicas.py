"""The tests' name for harness.datasets.replicas (bench-full generates the same replicas at run time)."""

from harness.datasets.replicas import *  # noqa: F403
from harness.datasets.replicas import CARS, RP2K, idx_bytes, image  # noqa: F401

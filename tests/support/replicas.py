"""The tests' name for harness.compute.datasets.replicas (bench-full generates the same replicas at run time)."""

from harness.compute.datasets.replicas import *  # noqa: F403
from harness.compute.datasets.replicas import CARS, RP2K, idx_bytes, image  # noqa: F401

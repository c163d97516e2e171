"""The nearest-neighbour index every backend is, in the manner of ann-benchmarks' ``BaseANN``: ``fit`` once over
a gallery, ``search`` with query arguments (k, search parameters) as often as needed, ``close``.

Vectors are float32 (N, d); searches return (gallery ids int64, squared L2 distances), each (Q, k), ranked by
distance, equal distances by gallery index (approximate Milvus indexes excepted). An index is a context
manager: leaving the block closes it (a Milvus Lite collection is dropped, a server's released to its pool;
the exact backend frees nothing it does not free by itself).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import TracebackType
from typing import Self

import numpy as np

from harness.core.errors import HarnessError


class Index(ABC):
    #: the backend's name, as a cell's ``backend`` parameter spells it
    name: str

    @abstractmethod
    def fit(self, gallery: np.ndarray) -> None:
        """Build the index over ``gallery`` (N, d); a second fit replaces the first."""

    @abstractmethod
    def search(
        self, queries: np.ndarray, k: int, params: Mapping[str, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, squared L2 distances) of the ``k`` nearest gallery items per query (k is capped by the gallery
        size); ``params``: the backend's search parameters (None: those it was made with)."""

    def close(self) -> None:  # noqa: B027  (not abstract: an in-process index holds nothing outside)
        """Free what the index holds outside this process."""

    def costs(self) -> dict[str, float]:
        """The last search's cost figures for the cost ledger (Milvus's build / size / speed), or none."""
        return {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def not_fitted(index: Index) -> HarnessError:
    return HarnessError(f"the {index.name} index was searched before it was fitted over a gallery")

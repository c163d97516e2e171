"""The Milvus index catalogue: each index type's build and search parameters and its memory size, and the
limits of Milvus itself; pure data, no client (harness.compute.retrieval.milvus searches, .collections builds).

:func:`index_spec` turns an index type and a ``"key=value,..."`` string into a validated :class:`IndexSpec`
(build and search parameters, see ``INDEX_TYPES``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.core.errors import HarnessError

MAX_TOPK = 16_384  # Milvus's limit on limit= (and on queries per request)
#: Milvus Lite 3.x search cost per (query x vector x dimension), measured on our 2-core machine
LITE_SECONDS_PER_ELEMENT = 4.5e-9
LITE_WARN_SECONDS = 60.0

Size = Callable[[int, int, dict[str, int]], int]  # (rows, dimension, build parameters) -> bytes


def _flat(n: int, d: int, p: dict[str, int]) -> int:
    return 4 * n * d  # the float32 vectors


def _ivf(code_bytes: Callable[[int, dict[str, int]], int]) -> Size:
    """IVF: each row's code and 8-byte id in its list, plus nlist float32 centroids."""
    return lambda n, d, p: n * (code_bytes(d, p) + 8) + 4 * p["nlist"] * d


def _ivf_pq(n: int, d: int, p: dict[str, int]) -> int:
    """m codes of nbits per row, and m codebooks of 2^nbits centroids of d/m floats."""
    return _ivf(lambda d, p: -(-p["m"] * p["nbits"] // 8))(n, d, p) + 4 * d * 2 ** p["nbits"]


def _hnsw(n: int, d: int, p: dict[str, int]) -> int:
    # vectors, then the level-0 graph: up to 2M 4-byte links and a count per row (upper levels add ~1/M of it);
    # an upper bound: 31.9 MB measured (uncompressed index payload) against 32.0 MB at 10,000 x 768, M=16
    return 4 * n * d + n * (8 * p["M"] + 4)


@dataclass(frozen=True)
class IndexType:
    """A Milvus index type: build and search parameters as name -> (default, lowest, highest), and ``size``,
    the stated estimate of its bytes (used where the server does not show what it stored)."""

    build: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    search: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    size: Size = _flat

    @property
    def exact(self) -> bool:
        return not self.build and not self.search


_NLIST, _NPROBE = {"nlist": (128, 1, 65_536)}, {"nprobe": (16, 1, 65_536)}
INDEX_TYPES: dict[str, IndexType] = {
    "FLAT": IndexType(),
    "HNSW": IndexType({"M": (16, 2, 2048), "efConstruction": (200, 1, 2**31 - 1)}, {"ef": (64, 1, 32_768)}, _hnsw),
    "IVF_FLAT": IndexType(dict(_NLIST), dict(_NPROBE), _ivf(lambda d, p: 4 * d)),
    "IVF_SQ8": IndexType(dict(_NLIST), dict(_NPROBE), lambda n, d, p: _ivf(lambda d, p: d)(n, d, p) + 8 * d),
    "IVF_PQ": IndexType({**_NLIST, "m": (8, 1, 65_536), "nbits": (8, 1, 16)}, dict(_NPROBE), _ivf_pq),
}


@dataclass(frozen=True)
class IndexSpec:
    """A validated index: its type, build parameters and search parameters (every default filled in)."""

    type: str = "FLAT"
    build: dict[str, int] = field(default_factory=dict)
    search: dict[str, int] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return INDEX_TYPES[self.type].exact


def index_spec(index: str, params: str = "") -> IndexSpec:
    """Validate ``index`` (an INDEX_TYPES name) and ``params`` (``"M=16,ef=64"``); one HarnessError if bad."""
    name = index.upper()
    if name not in INDEX_TYPES:
        raise HarnessError(f"unknown Milvus index '{index}' (known: {', '.join(INDEX_TYPES)})")
    kind = INDEX_TYPES[name]
    schema = {**kind.build, **kind.search}
    given: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in params.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in schema:
            known = ", ".join(schema) or "none"
            raise HarnessError(f"index parameter '{item}' is not one of {name}'s (known: {known}; form key=value)")
        _, low, high = schema[key]
        try:
            number = int(value.strip())
        except ValueError:
            raise HarnessError(f"index parameter {key} of {name} must be an integer, got '{value.strip()}'") from None
        if not low <= number <= high:
            raise HarnessError(f"index parameter {key}={number} of {name} must be between {low} and {high}")
        given[key] = number
    pick = lambda part: {k: given.get(k, d) for k, (d, _, _) in part.items()}  # noqa: E731
    return IndexSpec(name, pick(kind.build), pick(kind.search))


def is_lite(uri: str) -> bool:
    return not uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:"))

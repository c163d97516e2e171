"""The largest batch that fits: double until memory runs out, then back off by bisection.

The runner (one forward pass at a given batch size) is injectable, so an out-of-memory error at a known
threshold can be simulated in tests. Only out-of-memory errors end the doubling; any other error is a real
failure and propagates. On the CPU the search stops at a cap (memory would run out only after minutes of
swapping, or not at all), so the cap is part of the recorded settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: what torch's allocators say when they cannot allocate (CUDA's caching allocator, the CPU allocator)
OOM_MESSAGES = ("out of memory", "defaultcpuallocator: can't allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """``torch.cuda.OutOfMemoryError`` (or ``torch.OutOfMemoryError``), or a RuntimeError saying so."""
    if type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in OOM_MESSAGES)


@dataclass
class BatchSearch:
    """Outcome of a search: the largest batch size that ran, and every size tried in order (with success)."""

    best: int
    tried: list[tuple[int, bool]] = field(default_factory=list)
    capped: bool = False  # True when the search stopped at the cap, not at an out-of-memory error


def find_max_batch(
    run: Callable[[int], object],
    cap: int,
    start: int = 1,
    after_oom: Callable[[], None] | None = None,
) -> BatchSearch:
    """Try ``start``, ``2 * start``, ... (at most ``cap``) until one runs out of memory, then bisect.

    Args:
        run: runs one forward pass at the given batch size; raises an out-of-memory error if it does not fit.
        cap: the largest batch size tried; reached exactly (doubling from 32 with cap 48 tries 48 next).
        start: the first batch size; if it does not fit, the error is raised (nothing fits).
        after_oom: called after each out-of-memory error, e.g. ``torch.cuda.empty_cache``.

    Returns:
        The largest batch size that ran and the sequence of sizes tried. After an out-of-memory error at
        ``bad`` with ``good`` the last success, sizes between them are bisected until they are adjacent.
    """
    if not 1 <= start <= cap:
        raise ValueError(f"batch search needs 1 <= start ({start}) <= cap ({cap})")
    search = BatchSearch(best=0)

    def fits(size: int) -> bool:
        try:
            run(size)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            search.tried.append((size, False))
            if size == start:
                raise  # not even the smallest batch fits: that is a failure, not a search result
        else:
            search.tried.append((size, True))
            return True
        # Outside the except block: the traceback (and the tensors its frames hold) is gone, so the memory
        # can really be released.
        if after_oom is not None:
            after_oom()
        return False

    good, bad = 0, 0
    size = start
    while True:
        if not fits(size):
            bad = size
            break
        good = size
        if size == cap:
            search.capped = True
            break
        size = min(2 * size, cap)
    while bad and bad - good > 1:
        middle = (good + bad) // 2
        if fits(middle):
            good = middle
        else:
            bad = middle
    search.best = good
    return search

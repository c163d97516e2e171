"""One live progress display per process: a task bar nests inside the grid's bar instead of fighting it.

rich allows a single live display at a time; the grid's overall bar (harness.execute.runner) and the bars of the work
inside a cell (extraction, a top-tune search) share the display that is active, each as a task of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import Progress

_active: list[Progress] = []


@contextmanager
def progress_bar(*columns: Any, **kwargs: Any) -> Iterator[Progress]:
    """The active display if there is one (tasks added to it are removed again on exit), else a new one."""
    if _active:
        outer = _active[-1]
        before = set(outer.task_ids)
        try:
            yield outer
        finally:
            for task in set(outer.task_ids) - before:
                outer.remove_task(task)
        return
    with Progress(*columns, **kwargs) as progress:
        _active.append(progress)
        try:
            yield progress
        finally:
            _active.pop()

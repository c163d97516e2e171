"""Worker processes that do not outlive the process that started them.

A parent killed with SIGKILL runs no cleanup, so its pool workers, DataLoader workers or torchrun would keep
running (blocked on a queue nobody writes, or training for nobody). On Linux each such child asks the
kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``, kept across exec); elsewhere that is
a no-op. Where the parent is not the process that matters (a multiprocessing forkserver sits between), a
daemon thread also watches that process and ends the worker when it is gone.

``python -m harness.core.procs MODULE ARGS...`` runs ``python -m MODULE ARGS...`` in a process that dies with
its parent: the way to start a command-line tool (torchrun) that way.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCH_INTERVAL_S = 0.5


def die_with_parent(*_: object) -> None:
    """Have the kernel SIGKILL this process when its parent (thread) dies; a no-op off Linux.

    Takes and ignores any arguments, so it can serve as a DataLoader ``worker_init_fn`` as it is.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    # No check that the parent is still there: a parent that is PID 1 (in a container) would read as gone.
    # A parent dying in the instant before the call is left to the other guards (watch_process, torch's
    # own DataLoader watchdog).


def watch_process(pid: int) -> None:
    """End this process (exit code 1) soon after process ``pid`` is gone; polls every WATCH_INTERVAL_S."""

    def watch() -> None:
        while _alive(pid):
            time.sleep(WATCH_INTERVAL_S)
        os._exit(1)

    threading.Thread(target=watch, name=f"watch-{pid}", daemon=True).start()


def worker_guard(owner: int) -> None:
    """A pool-worker initializer: die with the parent, and with ``owner`` (the process that made the pool)."""
    die_with_parent()
    watch_process(owner)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user (the pid was reused): not ours any more
        return False
    return True


def main(argv: list[str]) -> None:
    """``python -m harness.core.procs MODULE ARGS...``: MODULE run as ``__main__`` in a process bound to its parent."""
    if not argv:
        raise SystemExit("usage: python -m harness.core.procs MODULE [ARGS...]")
    die_with_parent()
    sys.argv = [argv[0], *argv[1:]]
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])

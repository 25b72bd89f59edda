"""torch's threads sized to the cores other processes leave free.

torch's intra-op pool (OpenMP) splits each operation over all its threads and waits for the slowest one. When another
CPU-bound process shares a core, every operation waits for the thread that shares it: the networks and the femur
refinement ran 3-5x slower under one competing process on 2 cores, where one thread is only ~1.6x slower than two on a
quiet machine. So a run notes the CPU time of the whole machine and of its own process when it starts
(:func:`startCase`), and before its torch work (:func:`fitTorchThreads`, called when a model is loaded) uses only the
cores the other processes left idle meanwhile: at least one, at most the threads torch was given (its default, or a
batch worker's share).

The machine's CPU time comes from Linux's ``/proc/stat``; elsewhere (macOS, Windows), or when the interval is too
short to tell, torch's setting is left as it is.
"""

from __future__ import annotations

import os
import time
from typing import Optional

#: Shortest interval (s) over which the other processes' CPU use is trusted.
MIN_INTERVAL_S = 0.2

_started: Optional[tuple[float, float, float]] = None
_ceiling: Optional[int] = None
_now = time.monotonic


def _machineBusySeconds() -> Optional[float]:
    """CPU seconds all processes have used since boot (user, nice, system, irq, softirq, steal), or None."""
    try:
        with open("/proc/stat") as stream:
            fields = stream.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 8:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(value) for value in fields[1:8])
    steal = int(fields[8]) if len(fields) > 8 else 0
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _ownSeconds() -> float:
    times = os.times()
    return times.user + times.system


def usableCores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def startCase() -> None:
    """Note the machine's and this process's CPU time at the start of a case."""
    global _started
    busy = _machineBusySeconds()
    _started = None if busy is None else (_now(), busy, _ownSeconds())


def freeCores() -> Optional[float]:
    """Cores the other processes left idle since :func:`startCase` (0 to the usable cores), or None when unknown."""
    busy = _machineBusySeconds()
    if _started is None or busy is None:
        return None
    started, startBusy, startOwn = _started
    elapsed = _now() - started
    if elapsed < MIN_INTERVAL_S:
        return None
    others = max(0.0, (busy - startBusy) - (_ownSeconds() - startOwn)) / elapsed
    return min(max(usableCores() - others, 0.0), float(usableCores()))


def fitTorchThreads() -> int:
    """Set torch's intra-op threads to the free cores (rounded, at least 1, at most its first setting); returns the
    number used."""
    import torch

    global _ceiling
    if _ceiling is None:
        _ceiling = torch.get_num_threads()
    free = freeCores()
    threads = _ceiling if free is None else max(1, min(_ceiling, int(round(free))))
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads


def setThreadCeiling(threads: int) -> None:
    """The most threads :func:`fitTorchThreads` may use (a batch worker's share of the cores)."""
    global _ceiling
    _ceiling = max(1, int(threads))

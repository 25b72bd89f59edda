"""SIGINT and SIGTERM for the command line: end the run cleanly wherever it is, never in the middle of an import.

The handlers raise ``KeyboardInterrupt`` (SIGINT, Ctrl-C) or :class:`Terminated` (SIGTERM, as ``timeout`` and batch
schedulers send it) in the main thread, so every ``finally`` on the way removes what the run had begun to write.
One exception: a signal that arrives while a module is being imported is only noted, and raised at the run's next
progress report (:func:`raisePending`, the command line's abort flag). Why: an exception thrown into the
initialisation of slicer-core's extension modules leaves them half made, and the interpreter then crashes
(segmentation fault) instead of exiting with a message.

Console example::

    from ReconCoreLib import signals
    with signals.handled():
        ...  # Ctrl-C raises KeyboardInterrupt, SIGTERM raises signals.Terminated
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator, Optional

_pending: Optional[BaseException] = None


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, as KeyboardInterrupt is, so no ``except Exception`` swallows it."""


def _insideImport(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _handler(signum, frame) -> None:
    global _pending
    # Later signals would interrupt the clean-up of the first: ignore them, the first one is being handled.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    error = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
    if _insideImport(frame):
        _pending = error
        return
    raise error


def raisePending() -> bool:
    """Raise the signal noted during an import, if any; False otherwise (usable as a Progress abort flag)."""
    global _pending
    if _pending is not None:
        error, _pending = _pending, None
        raise error
    return False


@contextmanager
def handled() -> Iterator[None]:
    """Within this block SIGINT and SIGTERM raise as described above; the previous handlers come back after it.
    Outside the main thread (a worker) the signals are left alone."""
    global _pending
    previous = {}
    _pending = None
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                previous[signum] = signal.signal(signum, _handler)
            except ValueError:  # not the main thread
                pass
        yield  # a signal still pending when the block ends came after the last progress report: the work is done
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _pending = None

"""Progress and cancellation of long work: one object every pipeline reports to.

A pipeline calls its :class:`Progress` at each step, ``progress(0.4, "network")``. The call first asks the abort
flag (the one cancel channel: the widget's Cancel button, a test) and raises ``InterruptedError`` when it says
stop, then hands the fraction and message to the callback (Slicer's progress bar, the command line's bar). A
callback only shows progress; it never decides to stop.

Console example::

    from ReconCoreLib.progress import Progress
    progress = Progress(lambda fraction, message: print(f"{fraction:.0%} {message}"))
    progress(0.5, "halfway")
"""

from __future__ import annotations

from typing import Callable, Optional

ProgressCallback = Callable[[float, str], None]
AbortFlag = Callable[[], bool]


class Progress:
    """``progress(fraction, message)``: raise ``InterruptedError`` when the abort flag is set, else report.

    :param callback: called with (fraction 0-1 of the whole run, message); None reports nothing.
    :param abortFlag: returns True when the user asked to stop; None never stops.
    :param start, end: this object's 0-1 maps onto [start, end] of the callback's range (see :meth:`part`).
    """

    def __init__(self, callback: Optional[ProgressCallback] = None, abortFlag: Optional[AbortFlag] = None,
                 start: float = 0.0, end: float = 1.0):
        self.callback = callback
        self.abortFlag = abortFlag
        self.start, self.end = float(start), float(end)

    @classmethod
    def of(cls, progress=None, abortFlag: Optional[AbortFlag] = None) -> "Progress":
        """``progress`` itself when it is a :class:`Progress`, else one around a plain callback (or None)."""
        if isinstance(progress, Progress):
            if abortFlag is not None:
                raise ValueError("give the abort flag to the Progress object, not beside it")
            return progress
        return cls(progress, abortFlag)

    def check(self) -> None:
        """Raise ``InterruptedError`` when the abort flag says stop."""
        if self.abortFlag is not None and self.abortFlag():
            raise InterruptedError("cancelled")

    def __call__(self, fraction: float, message: str = "") -> None:
        self.check()
        if self.callback is not None:
            fraction = min(max(float(fraction), 0.0), 1.0)
            self.callback(self.start + fraction * (self.end - self.start), message)

    def part(self, start: float, end: float) -> "Progress":
        """A Progress whose 0-1 covers [start, end] of this one (same callback, same abort flag)."""
        span = self.end - self.start
        return Progress(self.callback, self.abortFlag, self.start + start * span, self.start + end * span)

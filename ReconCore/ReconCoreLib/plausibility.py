"""Plausibility gates: a number outside what a patient can have stops the run, or is kept as a failed check.

A gate compares one value (an input's physical size, a result's volume, an ejection fraction) with its plausible
range. By default a failed gate raises :class:`ImplausibleResult` (a ``ValueError``: the command exits 2 with the
message, Slicer shows it), naming the value, its unit and the range. When the user asked to keep implausible
results (``recon2d3d ... --keep-implausible``, the logic's ``keepImplausible=True``), the run goes on and the readouts
carry the gate as a failed check (``failed_checks`` in readouts.json, "FAILED CHECK" rows in the table), never as a
bare number.

Console example::

    from ReconCoreLib import plausibility
    plausibility.gate(readouts, "lv_ef_percent", ef, 5, 85, "%", "LV ejection fraction")
    with plausibility.keepingImplausible():
        ...  # gates record failed checks instead of stopping
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Optional

_KEEP = ContextVar("recon2d3d_keep_implausible", default=False)


class ImplausibleResult(ValueError):
    """A value outside its plausible range (a bad input or a failed reconstruction)."""


@contextmanager
def keepingImplausible(keep: bool = True) -> Iterator[None]:
    """Within this block failed gates are recorded as failed checks instead of stopping the run."""
    token = _KEEP.set(bool(keep))
    try:
        yield
    finally:
        _KEEP.reset(token)


def keepsImplausible() -> bool:
    """Whether failed gates are kept as failed checks now."""
    return _KEEP.get()


def _format(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def fail(readouts, message: str) -> None:
    """A gate failed: raise :class:`ImplausibleResult`, or record ``message`` on ``readouts`` when keeping."""
    if readouts is not None and keepsImplausible():
        readouts.failCheck(message)
        return
    raise ImplausibleResult(message + ("" if readouts is None else
                                       " (--keep-implausible keeps such a result, marked as a failed check)"))


def gate(readouts, name: str, value: float, low: Optional[float], high: Optional[float], unit: str,
         what: str = "", source: str = "") -> bool:
    """Check ``low <= value <= high`` (either bound may be None); True when it holds.

    :param readouts: the run's :class:`~ReconCoreLib.readouts.Readouts` (failed checks are recorded there when
        keeping), or None for an input check that always stops the run.
    :param name: the readout key or attribute the value is (named in the message).
    :param what: what the value means, e.g. "LV ejection fraction"; ``source`` e.g. the file.
    """
    value = float(value)
    if math.isfinite(value) and (low is None or value >= low) and (high is None or value <= high):
        return True
    bounds = (f"[{_format(low)}, {_format(high)}]" if low is not None and high is not None
              else f">= {_format(low)}" if low is not None else f"<= {_format(high)}")
    unitText = f" {unit}" if unit else ""
    prefix = f"{source}: " if source else ""
    label = f"{what} ({name})" if what else name
    fail(readouts, f"{prefix}{label} = {_format(value)}{unitText} is outside the plausible range {bounds}{unitText}")
    return False

"""Lumen widths of a raw angiogram corrected for the image's blur, the blur estimated from the image itself.

A contrast-filled lumen of width W projects as a chord profile ``2 sqrt((W/2)**2 - x**2)`` (the log image is linear
in it), which the detector, the focal spot and the profile's own smoothing blur. Its steepest slope (QCA's edge
criterion, :func:`~.skeleton2d.measureProfiles`) then lies inside the true edge for a wide lumen (W = 12 sigma:
0.9 W) and outside it for a narrow one (W = 2 sigma: 1.14 W), so widths come out wrong by an amount that depends on
the blur, which differs between imaging systems, zoom and motion. Under a Gaussian blur sigma both the
steepest-slope width W_s and the width at half maximum W_h are sigma times functions of W / sigma alone
(:func:`_table`, computed here numerically), and their ratio falls from 1.18 to 0.87 as W / sigma grows: a set of
profiles of lumens of different widths in one image fixes sigma (:func:`estimateBlurPx`: the sigma whose predicted
W_h, from each W_s, agrees best with the measured ones, in the median), and each W_s then gives W
(:func:`correctedWidths`).

Why written here: the blur-width relation of a projected cylinder is specific to this measurement; numpy and scipy
do the arithmetic.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: Blurs (sigma, pixels of the measured image, all blurs together) searched, and the step of the search.
BLUR_RANGE_PX = (0.3, 4.0)
BLUR_STEP_PX = 0.02
#: Profiles needed (both widths measured) before an image's blur is estimated; fewer: widths left as measured.
MIN_PROFILES = 60
#: Lumens narrower than this many blurs (W / sigma) are not resolved: there W_s hardly changes with W (from 2.0 sigma
#: at W = 0 to 2.7 sigma at W = 3 sigma), so inverting the table turns noise into false narrowings. Below it the
#: width is scaled by the factor at this point instead.
MIN_RESOLVED_RATIO = 4.0
_T_GRID = np.concatenate([np.linspace(0.25, 3.0, 23), np.linspace(3.25, 12.0, 36), np.linspace(13.0, 80.0, 68)])


@lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W / sigma, W_s / sigma, W_h / sigma) of a Gaussian-blurred chord profile (sigma = 1), from fine samples."""
    from scipy import ndimage

    step = 0.02  # sigma / 50: the table to 0.04 sigma, in 0.2 s
    steepest, halfMax = [], []
    for t in _T_GRID:
        half = t / 2.0 + 8.0
        x = np.arange(-half, half + step / 2, step)
        profile = ndimage.gaussian_filter1d(2.0 * np.sqrt(np.clip((t / 2.0) ** 2 - x * x, 0.0, None)), 1.0 / step)
        slope = np.gradient(profile)
        centre = len(x) // 2
        steepest.append(x[centre + int(np.argmin(slope[centre:]))] - x[int(np.argmax(slope[:centre + 1]))])
        below = np.flatnonzero(profile[centre:] < profile[centre] / 2.0)[0]
        halfMax.append(2.0 * x[centre + below])
    steepest = np.maximum.accumulate(np.asarray(steepest))  # monotone for the inversion (it is, to sampling)
    return _T_GRID.copy(), steepest, np.asarray(halfMax)


def estimateBlurPx(steepest: np.ndarray, halfMax: np.ndarray) -> float:
    """The blur sigma (pixels) that best explains measured (steepest-slope, half-maximum) width pairs (pixels) of one
    image: the median over all pairs of |log(measured W_h / W_h predicted from W_s)| is least. Every pair takes part
    at every sigma tried (a subset chosen per sigma let a few pairs fit a wrong blur: 2.5 px for 1.0 on a faint
    angiogram); narrow lumens, whose ratio does not depend on the blur, add the same to every sigma. nan when fewer
    than :data:`MIN_PROFILES` pairs are measured, or the best sigma lies at an end of :data:`BLUR_RANGE_PX`."""
    steepest, halfMax = np.asarray(steepest, float), np.asarray(halfMax, float)
    valid = np.isfinite(steepest) & np.isfinite(halfMax) & (steepest > 0) & (halfMax > 0)
    steepest, halfMax = steepest[valid], halfMax[valid]
    if len(steepest) < MIN_PROFILES:
        return float("nan")
    t, aTable, bTable = _table()
    sigmas = np.arange(BLUR_RANGE_PX[0], BLUR_RANGE_PX[1] + BLUR_STEP_PX / 2, BLUR_STEP_PX)
    costs = [np.median(np.abs(np.log(halfMax / (sigma * np.interp(np.interp(steepest / sigma, aTable, t), t,
                                                                             bTable))))) for sigma in sigmas]
    best = int(np.argmin(costs))
    return float(sigmas[best]) if 0 < best < len(sigmas) - 1 else float("nan")


def correctedWidths(steepest: np.ndarray, sigmaPx: float) -> np.ndarray:
    """Lumen widths (pixels) from steepest-slope widths under a blur ``sigmaPx``: the table inverted down to
    :data:`MIN_RESOLVED_RATIO`, below it the width scaled by the factor there (continuous); nan stays nan.
    ``sigmaPx`` nan: the widths as measured."""
    steepest = np.asarray(steepest, float)
    if not np.isfinite(sigmaPx):
        return steepest.copy()
    t, aTable, _ = _table()
    floor = np.interp(MIN_RESOLVED_RATIO, t, aTable)  # W_s / sigma there
    ratio = steepest / sigmaPx
    return sigmaPx * np.where(ratio >= floor, np.interp(ratio, aTable, t), ratio * MIN_RESOLVED_RATIO / floor)

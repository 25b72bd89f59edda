"""Gaps at severe stenoses: where a vessel's 3D centerline stops on both sides of a narrowing, join its two ends.

A severe stenosis narrows the lumen to a few tenths of a millimetre: its contrast fades in the angiogram, the vessel
map and its 2D centerline thin out or break there, and the two views' matches stop short of it on both sides. What
is left in 3D is two pieces of one vessel whose ends point at each other across a gap of a few millimetres to about
a centimetre: the lesion itself, which QCA must measure, is missing. A gap piece is a straight line between two such
ends (both ends' directions within :data:`GAP_ANGLE_DEG` of the line, radii within :data:`GAP_RADIUS_RATIO`, no kept
centerline on the way), with the lumen measured across it in both views where each shows it.

Tuning (2026-12-01, `qcacheck` on trees outside both evaluations: 20 from true masks, seeds 1,000,000-019; from
rendered angiograms 40 in distribution, 1,000,220-259, and 20 out of distribution, 1,000,200-219): from masks, true
stenoses >= 50 % found 0.25 -> 0.38 and false lesions 0.10 -> 0.05 per tree, recall +0.011. From angiograms with every
gap width counted: found 0.26 -> 0.39 in distribution (false lesions 0.03 -> 0.07), but out of distribution false
lesions 0.20 -> 0.55, on healthy faint vessels whose widths measured in noise came out 0.6-0.9 mm against true 1.4-2.2
mm (both views alike: counting only widths where the views agree within 1.4x left 0.55). Counting a width only where
the contrast falls (:data:`GAP_CONTRAST_FRACTION`): 0.7 gave found 0.45 / false lesions 0.07 in distribution and
false lesions 0.35 out of it; 0.55 gave 0.39 / 0.07 and 0.25; 0.6 is between them (not run on these trees). Recall
+0.010 to +0.016 in each set. Held out with 0.6, false lesions out of distribution went 0.23 -> 0.33 per tree: on
faint vessels in noisy images, where a contrast that falls across the gap is noise as often as a narrowing. Each gap
and view of the tuning trees (20 + 40 in distribution, 60 out of it; 229 gaps) measured against the image's pixel
noise (:func:`pixelNoise`): the views whose widths made true lesions had a contrast 4.0-11.6 times the noise, those
that made false lesions out of distribution 2.2-3.7 (one false lesion in distribution came from a view at 10.3);
out of distribution the median gap view has 2.5, in distribution 8.5. Hence :data:`GAP_MIN_CONTRAST_NOISE`.

Why written here: joining and measuring a centerline across a gap uses this package's own 2D profiles
(:func:`~.skeleton2d.measureProfiles`) and matching conventions; no library does it.
"""

from __future__ import annotations

import numpy as np

from .centerlines import endDirection, endMedian
from .skeleton2d import EDGE_REACH_FACTOR, EDGE_REACH_MARGIN_MM, measureProfiles

#: Gaps longer than the ordinary join (matching.JOIN_DISTANCE_MM) and up to this (mm) are candidates.
GAP_MAX_MM = 15.0
#: Each end's direction (over its last 2 mm) and the line across the gap agree within this (deg).
GAP_ANGLE_DEG = 25.0
#: The smaller end radius is at least this fraction of the larger (the reference lumen on both sides of a lesion).
GAP_RADIUS_RATIO = 0.5
#: No kept centerline point within this (mm) of the line's inner part: there the vessel is not missing.
GAP_CLEAR_MM = 1.0
#: Each gap point is moved across the vessel in 2D to the vessel's centre, searched this far (mm) each side.
RECENTRE_MM = 1.0
#: Spacing of the gap's points (mm), as the matched pieces' (matching.STEP_MM).
GAP_STEP_MM = 0.5
#: On a raw angiogram a gap point's width counts only where the vessel's contrast there (its peak over the background
#: across it, smoothed over 1 mm along the gap) is below this fraction of the contrast just outside the gap's ends: a
#: narrowed lumen holds less contrast agent along the ray (densitometry), while a healthy vessel that merely faded below
#: the vessel map's threshold keeps its contrast, and its width measured in noise comes out narrow (tuning above).
GAP_CONTRAST_FRACTION = 0.6
#: The contrast's profile reaches this far (mm) each side of the vessel; its outer eighths are the background.
CONTRAST_HALF_MM = 3.0
#: The contrast outside the gap: the median at these distances (mm) beyond each end, along the gap's line.
OUTSIDE_MM = (0.5, 1.0, 1.5, 2.0)
#: On a raw angiogram a view's gap widths count only where the contrast just outside the gap is at least this many
#: times the image's pixel noise (:func:`pixelNoise`): fainter than that, a contrast that falls across the gap is as
#: likely noise as a narrowing. Tuning trees (module docstring; one figure per gap and view): the views whose gap
#: widths made true lesions >= 50 % had 4.0-11.6, those that made false lesions out of distribution 2.2-3.7.
GAP_MIN_CONTRAST_NOISE = 4.5
#: The pixel noise is measured within this (mm at the isocenter) of the gap's middle, on the image less its Gaussian
#: smoothing of NOISE_SMOOTHING_PX (vessels, background anatomy and shading are smooth at that scale, quantum noise is
#: not).
NOISE_HALF_MM, NOISE_SMOOTHING_PX = 12.0, 2.0


def gapCandidates(pieces: list[tuple], joinDistanceMm: float) -> list[tuple]:
    """Pairs of piece ends to join across a stenosis gap: (start LPS, end LPS, the larger end's half width mm),
    shortest first, each end once."""
    from scipy.spatial import cKDTree

    if len(pieces) < 2:
        return []
    ends = []
    for index, (points, half) in enumerate(pieces):
        for atEnd in (False, True):
            ends.append((index, points[-1 if atEnd else 0], endDirection(points, atEnd),
                         endMedian(points, half, atEnd)))
    everything = cKDTree(np.concatenate([points for points, _ in pieces]))
    cosine = np.cos(np.radians(GAP_ANGLE_DEG))
    pairs = []
    for a in range(len(ends)):
        for b in range(a + 1, len(ends)):
            (pieceA, pointA, outA, radiusA), (pieceB, pointB, outB, radiusB) = ends[a], ends[b]
            line = pointB - pointA
            length = float(np.linalg.norm(line))
            if pieceA == pieceB or not joinDistanceMm < length <= GAP_MAX_MM:
                continue
            unit = line / length
            if outA @ unit < cosine or -(outB @ unit) < cosine:
                continue
            radii = (radiusA, radiusB)
            if not np.isfinite(radii).all() or min(radii) < GAP_RADIUS_RATIO * max(radii):
                continue
            inner = pointA + np.linspace(0.15, 0.85, 8)[:, None] * line
            if np.isfinite(everything.query(inner, distance_upper_bound=GAP_CLEAR_MM)[0]).any():
                continue
            pairs.append((length, a, b))
    used, chosen = set(), []
    for length, a, b in sorted(pairs):
        if a in used or b in used:
            continue
        used |= {a, b}
        chosen.append((ends[a][1], ends[b][1], max(ends[a][3], ends[b][3])))
    return chosen


def _profiles(image: np.ndarray, pixels: np.ndarray, normal: np.ndarray, offsetsPx: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    samples = pixels[:, None, :] + offsetsPx[None, :, None] * normal
    return ndimage.map_coordinates(np.asarray(image, np.float32), [samples[..., 1], samples[..., 0]], order=1,
                                   mode="nearest")


def _recentred(image: np.ndarray, pixels: np.ndarray, normal: np.ndarray, spacingMm: float, mask: bool) -> np.ndarray:
    """``pixels`` moved along ``normal`` to the vessel's centre (brightest on a mask, darkest on an angiogram) within
    :data:`RECENTRE_MM`: a straight line across a gap runs beside a curving vessel."""
    offsets = np.arange(-RECENTRE_MM, RECENTRE_MM + 1e-9, spacingMm / 4) / spacingMm
    values = _profiles(image, pixels, normal, offsets)
    return pixels + offsets[np.argmax(values if mask else -values, axis=1)][:, None] * normal


def _contrast(image: np.ndarray, pixels: np.ndarray, normal: np.ndarray, spacingMm: float) -> np.ndarray:
    """A dark vessel's contrast on an angiogram at ``pixels``: its peak within :data:`RECENTRE_MM` over the mean of
    the profile's outer eighths (:data:`CONTRAST_HALF_MM` each side)."""
    offsets = np.arange(-CONTRAST_HALF_MM, CONTRAST_HALF_MM + 1e-9, spacingMm / 4) / spacingMm
    values = -_profiles(image, pixels, normal, offsets)
    edge = max(len(offsets) // 8, 1)
    background = (values[:, :edge].mean(1) + values[:, -edge:].mean(1)) / 2
    return values[:, np.abs(offsets * spacingMm) <= RECENTRE_MM].max(1) - background


def pixelNoise(image: np.ndarray, centre: np.ndarray, spacingMm: float) -> float:
    """Robust standard deviation (1.4826 x the median absolute deviation) of a raw angiogram's high-pass within
    :data:`NOISE_HALF_MM` of ``centre`` (column, row). Written here, not taken from scikit-image's ``estimate_sigma``,
    because Slicer does not bundle scikit-image; the high-pass and median are scipy's and numpy's."""
    from scipy import ndimage

    half = int(np.ceil(NOISE_HALF_MM / spacingMm))
    column, row = (int(round(value)) for value in centre)
    rows, columns = (slice(max(middle - half, 0), max(middle + half, 0)) for middle in (row, column))
    window = np.asarray(image, np.float32)[rows, columns]  # (negative stops would count from the far side)
    if window.size < 16:
        return float("nan")
    highPass = window - ndimage.gaussian_filter(window, NOISE_SMOOTHING_PX)
    return float(1.4826 * np.median(np.abs(highPass - np.median(highPass))))


def gapPiece(start: np.ndarray, end: np.ndarray, views, images, isMask, endHalf: float) -> tuple:
    """The straight piece from ``start`` to ``end`` (both excluded), its half widths [K, 2] measured across it in
    each view (:class:`~.skeleton2d.ViewCenterlines` ``views``, measured on ``images``; nan where a view does not
    show the lumen, or on an angiogram where its contrast does not fall, :data:`GAP_CONTRAST_FRACTION`, or the vessel
    is too faint against the noise to tell, :data:`GAP_MIN_CONTRAST_NOISE`). ``endHalf``:
    the ends' half width (mm), which bounds an angiogram's edge search."""
    from scipy import ndimage

    length = float(np.linalg.norm(end - start))
    unit = (end - start) / max(length, 1e-9)
    count = max(int(np.ceil(length / GAP_STEP_MM)), 2)
    points = start + np.linspace(0.0, 1.0, count + 1)[1:-1, None] * (end - start)
    outside = np.concatenate([start - np.outer(OUTSIDE_MM, unit), end + np.outer(OUTSIDE_MM, unit)])
    half = np.full((len(points), 2), np.nan)
    for column, (view, image, mask) in enumerate(zip(views, images, isMask)):
        geometry, spacing = view.geometry, view.spacingMm
        along = geometry.projectLps(end[None])[0] - geometry.projectLps(start[None])[0]
        normal = np.array([-along[1], along[0]]) / max(np.linalg.norm(along), 1e-9)
        pixels = _recentred(image, geometry.projectLps(points), normal, spacing, mask)
        normals = np.repeat(normal[None], len(points), 0)
        reach = None if mask else np.full(len(points), (EDGE_REACH_FACTOR * endHalf + EDGE_REACH_MARGIN_MM) / spacing)
        _, widthPx = measureProfiles(image, pixels, normals, spacing, mask, reach)
        if not mask:
            reference = np.median(_contrast(image, _recentred(image, geometry.projectLps(outside), normal, spacing,
                                                              mask), normal, spacing))
            contrast = ndimage.gaussian_filter1d(_contrast(image, pixels, normal, spacing), 1.0 / GAP_STEP_MM,
                                                 mode="nearest")
            noise = pixelNoise(image, geometry.projectLps(((start + end) / 2)[None])[0], spacing)
            clear = not reference < GAP_MIN_CONTRAST_NOISE * noise  # nan noise (no window): the contrast rule alone
            widthPx = np.where((contrast < GAP_CONTRAST_FRACTION * reference) & clear, widthPx, np.nan)
        rowSpacing, columnSpacing = geometry.pixelSpacingMm
        widthMm = widthPx * np.hypot(normal[0] * columnSpacing, normal[1] * rowSpacing)
        half[:, column] = view.lumenWidths(widthMm) * view.depthScale(points) / 2
    return points, half


def stenosisGapPieces(pieces: list[tuple], views, images, isMask, joinDistanceMm: float) -> list[tuple]:
    """Gap pieces (:func:`gapPiece`) for every pair of ends :func:`gapCandidates` finds among ``pieces``."""
    return [gapPiece(start, end, views, images, isMask, endHalf)
            for start, end, endHalf in gapCandidates(pieces, joinDistanceMm)]

"""Quantitative coronary angiography (QCA) of AngioRecon's centerline tree: reference diameters, lesions, readouts.

Along each :class:`~.centerlines.Branch`, as CAAS and QAngio do it: the diameter is smoothed along the arc
(:func:`smoothDiameters`) so that noise of single points makes no lesion; the *interpolated reference diameter*
(:func:`referenceDiameter`), what the vessel would measure without disease, is a robust low-order polynomial fitted to
the healthy parts only; a lesion (:func:`findLesions`) is a run where the percent diameter stenosis
``100 * (1 - D / Dref)`` reaches :data:`MIN_DIAMETER_STENOSIS_PERCENT`, reported with its minimal lumen diameter (MLD),
the reference there, percent diameter and area stenosis, its length and where it lies.

Why written here: QCA packages are closed and no library in Slicer's Python measures lesions on a diameter profile.
Values in mm (points LPS, table coordinates RAS), percentages in percent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ReconCoreLib.xraygeometry import lpsToRas

from .centerlines import Branch, ostiumDistanceMm

#: A lesion narrows the lumen by at least this percent diameter stenosis (the usual QCA reporting threshold: CAAS
#: and QAngio list obstructions from 20 %; smaller narrowings are within the taper and measurement noise).
MIN_DIAMETER_STENOSIS_PERCENT = 20.0
#: Lesions of at least this percent diameter stenosis are counted as significant (``lesions_50_percent_count``).
SIGNIFICANT_STENOSIS_PERCENT = 50.0
#: Gaussian smoothing of the diameter along the arc (sigma, mm). Measured on Testing/test_angio_qca.py's 60 mm branches
#: (noise 0.15 mm correlated over 1 mm, 100 seeds): a cosine 50 % narrowing 4 / 8 / 15 mm long comes out 6.9 / 2.0 /
#: 0.8 points shallow (0.25 mm: 1.9 / 0.6 / 0.3; 0.75 mm: 13.0 / 4.2 / 1.5); false lesions on healthy branches
#: tapering 3.0-1.5 / 2.0-1.0 mm 1 / 12 (0.25 mm: 3 / 26; 0.75 mm: 0 / 6), none from 3.5-2.0 mm at any of them.
SMOOTHING_SIGMA_MM = 0.5
#: A lesion's length: the contiguous run around its MLD where the smoothed diameter is at least this percent below the
#: reference (half the lesion threshold; the largest dip of that noise on a 3.5-2.0 mm branch is 10 % in the median).
#: A cosine narrowing of p % over L mm measures ``L / pi * arccos(2 * 10 / p - 1)`` (0.70 L at 50 %, 0.75 L at
#: 70 %): measured 0.1-0.2 mm longer on average (10 mm long, noise 0.1 mm, 50 seeds).
LESION_EDGE_PERCENT = 10.0
#: A run at or above :data:`MIN_DIAMETER_STENOSIS_PERCENT` shorter than this (mm) is noise, not a lesion. Measured
#: (as above): false lesions on 3.0-1.5 / 2.0-1.0 mm branches 3 / 40 with no minimum, 1 / 12 at 1.0 mm, 0 / 5 at
#: 1.5 mm; a 30 % narrowing 4 mm long (noise 0.1 mm) is missed 1, 20 and 60 times in 100.
MIN_LESION_LENGTH_MM = 1.0
#: Lesions whose MLD lies within this arc length (mm) of either end of their branch are dropped: diameters at the ends
#: are unreliable (the ostium overlaps its parent, a distal end fades out of the vessel map: about one diameter)
#: and the reference is an extrapolation there. Measured with no margin (noise as above, 200 seeds each of 15, 30 and
#: 60 mm branches, 3.5-2.0, 3.0-1.5 and 2.0-1.0 mm): 48 of 80 false lesions within 2.5 mm of an end, 42 of the 43
#: on 15 mm branches.
END_MARGIN_MM = 2.5
#: A branch shorter than this (mm) gets no lesions: two end margins and the shortest lesion (4 mm) leave nothing to
#: fit a reference to.
MIN_BRANCH_LENGTH_MM = 10.0
#: The reference polynomial's degree: 1, plus one per this much branch length (mm), at most
#: :data:`MAX_REFERENCE_DEGREE`. Measured on noise-free tapers (log-diameter falling as the arc to the power 1-3;
#: 120 mm 3.5-1.0 mm, 60 mm 3.5-2.0, 40 mm 2.0-1.0, 25 mm 2.0-1.5): largest error 0.068 mm (degree at most 2:
#: 0.145 mm; at most 4: 0.006 mm, but then a 15 mm lesion pulls the reference down twice as much).
REFERENCE_DEGREE_SPAN_MM = 20.0
MAX_REFERENCE_DEGREE = 3
#: The robust fit's start leaves out this fraction of the arc, the points lowest below the fit, so lesions covering
#: less of the branch cannot pull it down (0.3-0.5 gave the same references with 6-15 mm lesions on the branches
#: above; without this start a 15 mm lesion pulled the reference down by up to 50 %).
REFERENCE_TRIM_FRACTION = 0.4
#: Tukey's biweight constant (robust standard deviations of the residuals): 4.685, its usual 95 %-efficiency value.
BIWEIGHT_C = 4.685
#: Floor of the residuals' robust standard deviation (mm), so noise-free diameters do not exclude every point off a
#: perfect polynomial (QCA's resolution is ~0.1 mm).
MIN_RESIDUAL_SCALE_MM = 0.05
#: Iterations of each stage of the robust fit at most (the weights settle within a few).
REFERENCE_ITERATIONS = 10

#: Columns of :func:`lesionRows`, in table order (units in the names; r/a/s: the MLD point in RAS mm). The distance
#: runs from the ostium through the branch's parents; it is NaN (an empty cell in stenoses.tsv) where the branch's
#: chain of parents does not reach the ostium's branch (:func:`~.centerlines.ostiumDistanceMm`).
LESION_COLUMNS = ["branch", "distance_from_ostium_mm", "mld_mm", "reference_diameter_mm", "diameter_stenosis_percent",
                  "area_stenosis_percent", "lesion_length_mm", "r_mm", "a_mm", "s_mm"]


@dataclass
class Lesion:
    """One lesion of a branch (mm; ``pointLps`` the MLD point in LPS mm, ``index`` its point of the branch)."""

    branch: str
    distanceFromOstiumMm: float
    mldMm: float
    referenceDiameterMm: float
    diameterStenosisPercent: float
    areaStenosisPercent: float
    lengthMm: float
    pointLps: np.ndarray
    index: int


def _arcWeights(arcMm: np.ndarray) -> np.ndarray:
    """[N] the arc length (mm) each point stands for: half of each neighbouring interval (sampling is not uniform)."""
    if len(arcMm) < 2:
        return np.ones(len(arcMm))
    steps = np.diff(arcMm)
    return np.maximum(np.concatenate([[0.0], steps]) / 2 + np.concatenate([steps, [0.0]]) / 2, 1e-6)


def smoothDiameters(arcMm, diametersMm, sigmaMm: float | None = None) -> np.ndarray:
    """[N] the diameters (mm) smoothed along the arc (mm) by a Gaussian of ``sigmaMm`` (default
    :data:`SMOOTHING_SIGMA_MM`): the kernel-weighted mean, each point weighted by the arc length it stands for and the
    weights normalised (at the ends too, so a constant stays constant)."""
    arcMm, diametersMm = np.asarray(arcMm, float), np.asarray(diametersMm, float)
    sigmaMm = SMOOTHING_SIGMA_MM if sigmaMm is None else sigmaMm
    if len(arcMm) < 2 or sigmaMm <= 0:
        return diametersMm.copy()
    kernel = np.exp(-0.5 * ((arcMm[:, None] - arcMm[None, :]) / sigmaMm) ** 2) * _arcWeights(arcMm)[None, :]
    return kernel @ diametersMm / kernel.sum(axis=1)


def referenceDiameter(arcMm, diametersMm) -> np.ndarray:
    """[N] the interpolated reference diameter (mm) along a branch: the diameter it would have without disease.

    QCA's interpolated reference diameter (CAAS): a low-order polynomial of diameter against arc length through the
    healthy parts of the vessel only, so that it follows the taper and is not pulled down by lesions. Each point is
    weighted by the arc length it stands for (the sampling is not uniform), and the fit is made robust in two stages:

    1. a one-sided trimmed fit: refitted until stable to all but the points lowest below the fit, making up
       :data:`REFERENCE_TRIM_FRACTION` of the arc; lesions shorter than that fraction of the branch lie below it;
    2. iteratively reweighted least squares from there, each point weighted by Tukey's biweight of its residual
       (in robust standard deviations: the median absolute deviation of the points still weighted, at least
       :data:`MIN_RESIDUAL_SCALE_MM`): narrowings, far below the fit, get no weight, healthy points whose noise the
       first stage cut off come back, so the reference is centred on the healthy diameters.

    The degree is 1, plus one per :data:`REFERENCE_DEGREE_SPAN_MM` of branch, at most :data:`MAX_REFERENCE_DEGREE`,
    and small enough for the number of points (below 8 points the reference is the median diameter).
    """
    arcMm, diametersMm = np.asarray(arcMm, float), np.asarray(diametersMm, float)
    length = arcMm[-1] - arcMm[0] if len(arcMm) else 0.0
    degree = int(min(MAX_REFERENCE_DEGREE, 1 + length // REFERENCE_DEGREE_SPAN_MM, (len(arcMm) - 4) // 4))
    if degree < 1 or length <= 0:
        return np.full(len(arcMm), float(np.median(diametersMm)) if len(arcMm) else 0.0)
    x = 2 * (arcMm - arcMm[0]) / length - 1  # [-1, 1]: a well-conditioned Legendre fit
    base = _arcWeights(arcMm)

    def polynomial(weights):
        coefficients = np.polynomial.legendre.legfit(x, diametersMm, degree, w=np.sqrt(weights))
        return np.polynomial.legendre.legval(x, coefficients)

    weights = base
    for _ in range(REFERENCE_ITERATIONS):  # a start that lesions cannot pull down: the lowest points left out
        fit = polynomial(weights)
        residuals = diametersMm - fit
        order = np.argsort(residuals)
        cutoff = residuals[order[np.searchsorted(np.cumsum(base[order]), REFERENCE_TRIM_FRACTION * base.sum())]]
        newWeights = base * (residuals >= cutoff)
        if np.array_equal(newWeights, weights):
            break
        weights = newWeights
    for _ in range(REFERENCE_ITERATIONS):  # then Tukey's biweight around it: healthy noise is symmetric
        kept = weights > 0
        centre = np.median(residuals[kept])  # 1.4826: a normal distribution's SD per median absolute deviation
        scale = max(1.4826 * float(np.median(np.abs(residuals[kept] - centre))), MIN_RESIDUAL_SCALE_MM)
        u = (residuals - centre) / (BIWEIGHT_C * scale)
        newWeights = base * np.where(np.abs(u) < 1, (1 - u ** 2) ** 2, 0.0)
        if np.allclose(newWeights, weights) or np.count_nonzero(newWeights) < 2 * (degree + 1):
            break
        weights = newWeights
        fit = polynomial(weights)
        residuals = diametersMm - fit
    return fit


def _runExtent(arcMm: np.ndarray, values: np.ndarray, threshold: float, index: int) -> tuple[float, float]:
    """(start, end) arc (mm) of the contiguous run of ``values >= threshold`` around ``index``: where the values cross
    the threshold, interpolated linearly (the branch's end where the run reaches it)."""
    first, last = index, index
    while first > 0 and values[first - 1] >= threshold:
        first -= 1
    while last < len(values) - 1 and values[last + 1] >= threshold:
        last += 1

    def crossing(inside, outside):
        fraction = (values[inside] - threshold) / max(values[inside] - values[outside], 1e-12)
        return arcMm[inside] + fraction * (arcMm[outside] - arcMm[inside])

    start = crossing(first, first - 1) if first > 0 else arcMm[0]
    end = crossing(last, last + 1) if last < len(values) - 1 else arcMm[-1]
    return float(start), float(end)


def findLesions(branch: Branch, branches: list[Branch] | None = None) -> list[Lesion]:
    """The lesions of ``branch``, proximal first.

    Each run where the smoothed diameter is at least :data:`LESION_EDGE_PERCENT` below the reference and somewhere
    at least :data:`MIN_DIAMETER_STENOSIS_PERCENT` is one lesion (tandem narrowings with no healthier lumen between
    them are one); its MLD is the smallest smoothed diameter relative to the reference there, its length the run's
    extent. Dropped: a run at or above the threshold shorter than :data:`MIN_LESION_LENGTH_MM`, an MLD within
    :data:`END_MARGIN_MM` of the branch's ends, every lesion of a branch shorter than :data:`MIN_BRANCH_LENGTH_MM`.

    :param branches: the whole tree: the distance from the ostium then adds the parents' arcs
        (:func:`~.centerlines.ostiumDistanceMm`); without it, it is the arc from the branch's first point.
    """
    from scipy import ndimage

    arc, diameters = branch.arcMm, branch.diametersMm
    if len(arc) < 3 or arc[-1] < MIN_BRANCH_LENGTH_MM:
        return []
    smooth = smoothDiameters(arc, diameters)
    reference = referenceDiameter(arc, smooth)
    stenosis = 100.0 * (1.0 - smooth / np.maximum(reference, 1e-6))
    offset = ostiumDistanceMm(branches, branch) if branches is not None else 0.0
    runs, count = ndimage.label(stenosis >= LESION_EDGE_PERCENT)
    lesions = []
    for members in (np.flatnonzero(runs == run) for run in range(1, count + 1)):
        mld = int(members[np.argmax(stenosis[members])])
        if stenosis[mld] < MIN_DIAMETER_STENOSIS_PERCENT or min(arc[mld], arc[-1] - arc[mld]) < END_MARGIN_MM:
            continue
        coreStart, coreEnd = _runExtent(arc, stenosis, MIN_DIAMETER_STENOSIS_PERCENT, mld)
        if coreEnd - coreStart < MIN_LESION_LENGTH_MM:
            continue
        start, end = _runExtent(arc, stenosis, LESION_EDGE_PERCENT, mld)
        ratio = smooth[mld] / reference[mld]
        lesions.append(Lesion(branch.name, float(offset + arc[mld]), float(smooth[mld]), float(reference[mld]),
                              float(100.0 * (1.0 - ratio)), float(100.0 * (1.0 - ratio ** 2)), end - start,
                              np.asarray(branch.pointsLps[mld], float).copy(), mld))
    return lesions


def branchSummary(branch: Branch) -> dict:
    """One branch's row (mm): its length, mean diameter (arc-weighted), reference diameter at its first and last
    point, and minimal (smoothed) diameter; all 0.0 for an empty branch."""
    arc, diameters = branch.arcMm, branch.diametersMm
    smooth = smoothDiameters(arc, diameters) if len(arc) else np.zeros(1)
    reference = referenceDiameter(arc, smooth) if len(arc) else np.zeros(1)
    return {"branch": branch.name, "length_mm": branch.lengthMm,
            "mean_diameter_mm": float(np.average(diameters, weights=_arcWeights(arc))) if len(arc) else 0.0,
            "reference_diameter_start_mm": float(reference[0]), "reference_diameter_end_mm": float(reference[-1]),
            "min_diameter_mm": float(smooth.min())}


def lesionRows(lesions: list[Lesion]) -> list[dict]:
    """Rows of the lesion table (:data:`LESION_COLUMNS`), worst (largest percent diameter stenosis) first; r/a/s are
    the MLD point in RAS mm."""
    rows = []
    for lesion in sorted(lesions, key=lambda lesion: -lesion.diameterStenosisPercent):
        right, anterior, superior = (float(value) for value in lpsToRas(lesion.pointLps))
        rows.append({"branch": lesion.branch, "distance_from_ostium_mm": lesion.distanceFromOstiumMm,
                     "mld_mm": lesion.mldMm, "reference_diameter_mm": lesion.referenceDiameterMm,
                     "diameter_stenosis_percent": lesion.diameterStenosisPercent,
                     "area_stenosis_percent": lesion.areaStenosisPercent, "lesion_length_mm": lesion.lengthMm,
                     "r_mm": right, "a_mm": anterior, "s_mm": superior})
    return rows


def treeReadouts(branches: list[Branch], lesions: list[Lesion]) -> dict:
    """The tree's QCA readouts: lesion counts (all, and those >= :data:`SIGNIFICANT_STENOSIS_PERCENT`), branch count,
    total centerline length (mm) and, when there is a lesion, the worst one (percent diameter stenosis, branch, MLD in
    mm). With no lesion those three are absent, not 0: an MLD of 0 mm would be an occlusion."""
    readouts = {"lesion_count": len(lesions),
                "lesions_50_percent_count": sum(lesion.diameterStenosisPercent >= SIGNIFICANT_STENOSIS_PERCENT
                                                for lesion in lesions),
                "branch_count": len(branches),
                "centerline_length_mm": float(sum(branch.lengthMm for branch in branches))}
    worst = max(lesions, key=lambda lesion: lesion.diameterStenosisPercent, default=None)
    if worst is not None:
        readouts.update(max_diameter_stenosis_percent=worst.diameterStenosisPercent, max_stenosis_branch=worst.branch,
                        max_stenosis_mld_mm=worst.mldMm)
    return readouts


def lesionLocationRas(table, row: int):
    """(R, A, S) in mm of the lesion in ``row`` of a lesion table node (:func:`lesionRows`' columns r_mm, a_mm,
    s_mm), or None when there is no table or no such row: where the widget centres the slice views."""
    if table is None or not 0 <= row < table.GetNumberOfRows():
        return None
    columns = [table.GetColumnIndex(name) for name in ("r_mm", "a_mm", "s_mm")]
    if min(columns) < 0:
        return None
    return tuple(table.GetTable().GetValue(row, column).ToDouble() for column in columns)

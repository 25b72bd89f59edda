"""3D centerlines from two views: the views' 2D centerlines matched under the epipolar constraint, triangulated.

Per view (:func:`~.skeleton2d.viewCenterlines`): the skeleton paths of the vessel map, refined to the middle of
their lumen edges and measured at the native resolution of the image (radii corrected for blur: :mod:`.lumenblur`).

Matching (:func:`matchPaths`): a point of view 1 lies, in view 2, on its epipolar line (the projection of its ray);
view 2's centerline points near that line (:data:`EPIPOLAR_TOLERANCE_MM`) are its candidates. Along each path of
view 1, the sequence of candidates is chosen by dynamic programming (Viterbi): each candidate costs its epipolar
distance and, when the generator's occupancy is given, how unlikely a vessel is at the triangulated point; each step
costs the 3D jump beyond what a vessel foreshortened in view 1 may step (a vessel is continuous in 3D, a wrong match
jumps); a point may stay unmatched (overlap, a vessel missing in view 2) at a fixed cost. Matched points are
triangulated (the midpoint of the two rays' closest approach), smoothed along the arc, and their half widths
converted to mm at their own depth in each view (the magnification of a point is SID / its distance from the
source along the central ray). Both ways are matched (view 1 into view 2, view 2 into view 1) and a point kept where
they agree (:func:`consistentPieces`); what that drops is taken back where it explains points of both views nothing
kept explains (:func:`recoveredPieces`) or closes a gap between kept pieces (:func:`_bridges`); where a vessel
stops on both sides of a severe stenosis, its two ends are joined and the lumen measured across (:mod:`.stenosisgaps`).

Branches (:func:`assembleBranches`): the matched pieces are joined where one's end meets another's end in 3D and
their directions continue, oriented wider end first (blood flows from the ostium to ever thinner vessels), numbered
by length and linked into a tree (:func:`~.centerlines.linkBranches`); a radius standing out above the running median
about it is clipped (:func:`_bumpsClipped`: the widening where a profile spans a branching's wedge).

Why written here: the epipolar matching of two centerline graphs with a 3D-continuity Viterbi is the method of
3D QCA (e.g. CAAS, QAngio XA 3D); no library in Slicer's Python does it.
"""

from __future__ import annotations

import numpy as np

from .centerlines import Branch, arcLength, endDirection, linkBranches
from .placement import occupancySampler
from .skeleton2d import ViewCenterlines, viewCenterlines
from .stenosisgaps import stenosisGapPieces

#: The epipolar line of a view-1 point: the projection into view 2 of its ray's points at these multiples of the
#: source-to-isocenter distance (any two distinct points of the ray give the same line).
EPIPOLAR_DEPTHS = (0.8, 1.2)
#: A view-2 point is a candidate match when it lies within this distance (mm at the isocenter) of the epipolar line.
#: The centerline points' own error is 0.1-0.2 mm (measured on rendered masks, 0.28 mm pixels); C-arm geometry
#: from DICOM angles is off by more on real systems, which this does not correct.
EPIPOLAR_TOLERANCE_MM = 1.0
#: Candidates kept per point (the nearest to the epipolar line).
MAX_CANDIDATES = 24
#: Costs of the Viterbi: epipolar distance (in units of EPIPOLAR_SIGMA_MM, squared), a 3D jump beyond the step
#: (in units of JUMP_SIGMA_MM, squared; jumps beyond MAX_JUMP_MM forbidden), an unmatched point, and the
#: occupancy (OCCUPANCY_WEIGHT x (1 - probability)).
EPIPOLAR_SIGMA_MM = 0.4
JUMP_SIGMA_MM = 0.5
MAX_JUMP_MM = 4.0
UNMATCHED_COST = 3.0
#: A 3D step up to FREE_JUMP_MM costs nothing: a path point 0.5 mm further along a view's vessel is up to
#: 0.5 / cos(angle) mm further in 3D where the vessel runs at that angle out of the view's plane (1.5 mm: up to 70 deg,
#: the foreshortened stretches each view has). Measured on the 20 tuning trees, true masks (2026-12-01): with 0.5 mm
#: (a step no longer than the path's own) and an unmatched cost of 3, recall 0.544, distance 1.69 mm, radius RMSE
#: 0.194 mm, lumen Dice 0.569; 1.5 mm and 3: 0.567, 1.65 mm, 0.207 mm, 0.590; 1.5 mm and 5: 0.594, 1.53 mm,
#: 0.219 mm, 0.593. An unmatched cost of 5 forces matches through the noise of faint angiograms: on 20
#: out-of-distribution angiograms outside the evaluation (seeds 1,000,200-1,000,219) false lesions >= 50 % per tree
#: 0.10 before, 0.50 with 1.5 mm and 5, 0.15 with 1.5 mm and 3 (recall 0.415, 0.498, 0.465), so 3 is kept.
#: The free step lets more of a wrong pair of views match too (the matched-share gate stopped 23 of 55 such pairs of
#: rendered angiograms instead of 30; 16 with a cost of 5), so the gate's share comes from a second matching whose free
#: step is GATE_FREE_JUMP_MM, the path's own (:func:`treeCenterlines`).
FREE_JUMP_MM = 1.5
GATE_FREE_JUMP_MM = 0.5
OCCUPANCY_WEIGHT = 2.0
#: The same vessel is as wide in both views (a circular lumen; an elliptical one differs by its ovality): a
#: candidate costs its width difference in units of WIDTH_SIGMA_MM, squared. This separates a true match from a
#: "ghost" (view 1's vessel paired with another vessel crossing its epipolar lines, a continuous 3D curve too).
#: The cost is capped at WIDTH_COST_CAP, below the unmatched point's: where another vessel overlaps it in one view
#: (or runs along it), a vessel's profile there spans both, and an uncapped cost left the stretch unmatched, cutting
#: the vessel in two, often at a lesion. Measured on tuning trees (2026-12-01, rendered angiograms; seeds
#: 1,000,220-1,000,259 as in training / out of distribution, outside both evaluations), uncapped -> capped at 1.5 with
#: WIDTH_UNRELIABLE 2.0: recall 0.594 -> 0.622 / 0.443 -> 0.505, distance 1.99 -> 1.78 / 2.84 -> 2.61 mm, Dice
#: 0.614 -> 0.630 / 0.422 -> 0.467, false lesions >= 50 % per tree 0.00 -> 0.03 / 0.28 -> 0.20, radius RMSE
#: 0.091 -> 0.113 / 0.239 -> 0.256 mm; stenoses >= 50 % found 0.19 -> 0.23 / 0.00 -> 0.10 (31 each). Capped at
#: 1.0 / 2.0, the smaller width taken (the first 20 tuning trees: 1,000,000-019, 1,000,200-219): recall 0.567 /
#: 0.574 and 0.547 / 0.492 (1.5: 0.583 and 0.525). A wrong pair of views matches more with the cap too (the gate
#: stopped 20 of 55 such pairs of rendered angiograms instead of 30), so the gate's strict matching has no cap.
WIDTH_SIGMA_MM = 0.5
WIDTH_COST_CAP = 1.5
#: Both ways: view 1 matched into view 2 and view 2 into view 1; a point is kept where the other way found one
#: within CONSISTENCY_MM. (Measured on the first 8 of the 20 tuning trees, true masks: recall 0.66 -> 0.57,
#: distance to the truth 1.45 -> 0.48 mm, radius RMSE 0.21 -> 0.10 mm. Repeating the matching with the points the
#: kept ones explain left out, 3 rounds, gave recall 0.58 and 0.68 mm: not kept.)
CONSISTENCY_MM = 1.0
#: Then what the check dropped is taken back in stretches of RECOVER_CHUNK_MM (:func:`recoveredPieces`), longest
#: first, where at least RECOVER_NEW_SHARE of a stretch's points fall, in each view, on centerline points (within
#: EXPLAINED_MM at the isocenter) that nothing kept explains yet, and the generator's mean occupancy along it is at
#: least RECOVER_MIN_OCCUPANCY. Measured on the 20 tuning trees (true masks): without it recall 0.48, both-ways
#: distance 2.31 mm, radius RMSE 0.17 mm; with it 0.55, 1.52 mm, 0.21 mm (share 0.5: recall 0.60 but 1.28 mm from
#: the truth; occupancy 0: 1.07 mm from the truth, 0.4: 0.79).
RECOVER_CHUNK_MM = 4.0
RECOVER_NEW_SHARE = 0.7
RECOVER_MIN_OCCUPANCY = 0.4
EXPLAINED_MM = 0.5
#: A dropped stretch is taken back too where it closes a gap between kept pieces (:func:`_bridges`; the thresholds
#: there). Tuning trees, as in training / out of distribution (2026-12-01, rendered angiograms, seeds 1,000,220-259):
#: recall 0.622 -> 0.631 / 0.505 -> 0.511, Dice 0.630 -> 0.633 / 0.467 -> 0.472, stenoses >= 50 % found 0.23 -> 0.26 /
#: 0.10, false lesions 0.03 / 0.20 unchanged; true masks (1,000,000-019) 0.606 -> 0.616. Bridges of bridges: recall
#: +0.03 on masks, false lesions 0.05 -> 0.20; stretches up to 90 % on kept points (half here): 0.20 -> 0.30 (OOD).
BRIDGE_END_MM = 1.5
BRIDGE_ANGLE_DEG = 30.0
BRIDGE_RADIUS_RATIO = 0.5
#: Spacing of the points along a view-1 path that are matched (mm at the isocenter).
STEP_MM = 0.5
#: Matched pieces shorter than this (mm) are dropped; a run of unmatched points longer than MAX_GAP_MM splits a piece.
MIN_PIECE_MM = 3.0
MAX_GAP_MM = 2.0
#: Smoothing of the triangulated points along the arc (Gaussian sigma, mm).
SMOOTHING_MM = 0.6
#: Pieces join when an end of one lies within JOIN_DISTANCE_MM of an end of another and their directions there
#: differ by less than JOIN_ANGLE_DEG.
JOIN_DISTANCE_MM = 2.5
JOIN_ANGLE_DEG = 40.0
#: Where the two views' widths differ by more than WIDTH_DISAGREEMENT, the smaller is taken for both: an overlapping
#: vessel or the branching's wedge widens a profile, nothing narrows it. Beyond WIDTH_UNRELIABLE neither is taken
#: (the point takes its neighbours' radius): one view's width is then an overlap, or the other's is noise, which the
#: smaller keeps as a false narrowing (with the width cost capped: false lesions >= 50 % per tree on the 20
#: out-of-distribution tuning trees 0.55 with the smaller taken, 0.15 with WIDTH_UNRELIABLE 2.0, 0.10 / 0.25 with
#: 1.7 / 2.5; 0.20 and 0.23 with 2.0 and 1.7 on 40 more, where 2.0 found more of the stenoses: 0.10 and 0.03).
WIDTH_DISAGREEMENT = 1.4
WIDTH_UNRELIABLE = 2.0
#: A radius is clipped to the median of the radii within +-BUMP_WINDOW_MM of arc (:func:`_bumpsClipped`). Measured
#: on the 20 tuning trees with true masks (2026-12-01): radius RMSE within 2.5 mm of a branching (a fifth of the
#: matched points) 0.47 mm (bias +0.22), elsewhere 0.088 mm; with a 1.5 / 3 / 5 mm window 0.36 / 0.29 / 0.25 near
#: branchings, 0.077 / 0.071 / 0.068 elsewhere; the whole run's radius RMSE 0.219 -> 0.137 (3 mm) / 0.126 mm (5 mm).
#: 3 mm: a window one-sided at a branch's ends lowers a tapering branch's first radii less. A radius is clipped only
#: where it exceeds the median by more than BUMP_TOLERANCE_SD robust standard deviations of the branch's radii about
#: their medians: clipping noisy widths at the median itself biases them low (20 out-of-distribution angiograms,
#: seeds 1,000,200-1,000,219: radius bias -0.225 mm, RMSE 0.301 mm, stenosis error -11.8 +- 11.3 points; with 1 / 2
#: SD -0.185 / -0.173 mm, 0.290 / 0.291 mm, -9.2 +- 10.0 / -7.2 +- 7.8; the tuning trees' masks 0.137 -> 0.148 /
#: 0.156 mm).
BUMP_WINDOW_MM = 3.0
BUMP_TOLERANCE_SD = 2.0


def _resampled(points: np.ndarray, widths: np.ndarray, stepPx: float) -> tuple[np.ndarray, np.ndarray]:
    arc = arcLength(points)
    if arc[-1] < stepPx:
        return points[[0, -1]], widths[[0, -1]]
    targets = np.linspace(0.0, arc[-1], int(np.ceil(arc[-1] / stepPx)) + 1)
    resampled = np.stack([np.interp(targets, arc, points[:, axis]) for axis in range(2)], 1)
    index = np.clip(np.searchsorted(arc, targets), 0, len(arc) - 1)
    return resampled, widths[index]


def _rays(geometry, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    source = geometry.sourcePositionLps
    directions = geometry.pixelToDetectorLps(pixels) - source
    return source, directions / np.linalg.norm(directions, axis=1, keepdims=True)


def _closestPoints(source1, directions1, source2, directions2):
    """Midpoints [N, C, 3] of the closest approach of rays 1 [N] and their candidate rays 2 [N, C]."""
    w0 = source1 - source2
    b = np.einsum("nd,ncd->nc", directions1, directions2)
    d = directions1 @ w0
    e = directions2 @ w0
    denominator = np.maximum(1.0 - b * b, 1e-9)
    t1 = (b * e - d[:, None]) / denominator
    t2 = (e - b * d[:, None]) / denominator
    return 0.5 * (source1 + t1[..., None] * directions1[:, None] + source2 + t2[..., None] * directions2)


def matchPaths(view1: ViewCenterlines, view2: ViewCenterlines, occupancy=None, freeJumpMm: float = FREE_JUMP_MM,
               widthCostCap: float = WIDTH_COST_CAP) -> list[tuple]:
    """Match every path of ``view1`` into ``view2``; returns pieces (points LPS [K, 3], half widths mm [K, 2]).

    ``occupancy``: optional callable (points LPS [N, 3] -> probability [N]) of the generator's result;
    ``freeJumpMm``: the 3D step the Viterbi lets a match take for free; ``widthCostCap``: the most a candidate's
    width difference costs."""
    pool = np.concatenate(view2.paths) if view2.paths else np.zeros((0, 2))
    poolWidths = np.concatenate(view2.widths) if view2.widths else np.zeros(0)
    if len(pool) == 0:
        return []
    source2, poolDirections = _rays(view2.geometry, pool)
    projection2 = view2.geometry.projectionMatrixLps()
    pieces = []
    for path, widths in zip(view1.paths, view1.widths):
        points, pathWidths = _resampled(path, widths, STEP_MM / view1.spacingMm)
        source1, directions = _rays(view1.geometry, points)
        depths = np.array(EPIPOLAR_DEPTHS) * view1.geometry.sourceToPatientMm
        near = np.concatenate([source1 + depths[0] * directions, source1 + depths[1] * directions])
        homogeneous = np.concatenate([near, np.ones((len(near), 1))], 1) @ projection2.T
        ends = homogeneous[:, :2] / homogeneous[:, 2:]
        first, second = ends[:len(points)], ends[len(points):]
        along = second - first
        normal = np.stack([-along[:, 1], along[:, 0]], 1) / np.maximum(np.linalg.norm(along, axis=1, keepdims=True),
                                                                       1e-9)
        distances = np.abs(np.einsum("ncd,nd->nc", pool[None] - first[:, None], normal)) * view2.spacingMm
        count = min(MAX_CANDIDATES, len(pool))
        candidates = np.argpartition(distances, count - 1, axis=1)[:, :count]
        candidateDistance = np.take_along_axis(distances, candidates, 1)
        valid = candidateDistance <= EPIPOLAR_TOLERANCE_MM
        triangulated = _closestPoints(source1, directions, source2, poolDirections[candidates])
        cost = (candidateDistance / EPIPOLAR_SIGMA_MM) ** 2
        widthMm = np.stack([
            pathWidths[:, None] * view1.depthScale(triangulated),
            poolWidths[candidates] * view2.depthScale(triangulated)])
        cost = cost + np.minimum(np.nan_to_num((np.diff(widthMm, axis=0)[0] / WIDTH_SIGMA_MM) ** 2, nan=1.0),
                                 widthCostCap)
        if occupancy is not None:
            cost = cost + OCCUPANCY_WEIGHT * (1.0 - occupancy(triangulated.reshape(-1, 3)).reshape(cost.shape))
        cost = np.where(valid, cost, np.inf)
        chosen = _viterbi(cost, triangulated, freeJumpMm)
        matched = chosen >= 0
        if not matched.any():
            continue
        rows = np.flatnonzero(matched)
        points3d = triangulated[rows, chosen[rows]]
        poolIndex = candidates[rows, chosen[rows]]
        half = np.stack([view1.lumenWidths(pathWidths[rows]) * view1.depthScale(points3d),
                         view2.lumenWidths(poolWidths[poolIndex]) * view2.depthScale(points3d)], 1) / 2
        pieces.extend(_splitPieces(rows, points3d, half))
    return pieces


def _viterbi(cost: np.ndarray, points: np.ndarray, freeJumpMm: float = FREE_JUMP_MM) -> np.ndarray:
    """Best candidate per step (-1: unmatched) for node costs [N, C] (inf: not a candidate) and their 3D points
    [N, C, 3]; a 3D step up to ``freeJumpMm`` is free."""
    steps, count = cost.shape
    total = np.concatenate([cost[0], [UNMATCHED_COST]])
    back = np.zeros((steps, count + 1), np.int64)
    for k in range(1, steps):
        jump = np.linalg.norm(points[k][None] - points[k - 1][:, None], axis=2)  # [previous, current]
        transition = (np.maximum(jump - freeJumpMm, 0.0) / JUMP_SIGMA_MM) ** 2
        transition[jump > MAX_JUMP_MM] = np.inf
        transition = np.concatenate([transition, np.zeros((1, count))], 0)  # from unmatched: free
        transition = np.concatenate([transition, np.zeros((count + 1, 1))], 1)  # to unmatched
        options = total[:, None] + transition
        back[k] = np.argmin(options, 0)
        total = options[back[k], np.arange(count + 1)] + np.concatenate([cost[k], [UNMATCHED_COST]])
    chosen = np.empty(steps, np.int64)
    state = int(np.argmin(total))
    for k in range(steps - 1, -1, -1):
        chosen[k] = state if state < count and np.isfinite(cost[k, state]) else -1
        state = int(back[k, state])
    return chosen


def _splitPieces(rows: np.ndarray, points: np.ndarray, half: np.ndarray) -> list[tuple]:
    """Cut at gaps of unmatched points longer than :data:`MAX_GAP_MM` and at 3D jumps longer than
    :data:`MAX_JUMP_MM` (leaving the unmatched state costs nothing, so a match may resume on another vessel); smooth;
    drop short pieces."""
    from scipy import ndimage

    jumps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    cuts = np.flatnonzero((np.diff(rows) * STEP_MM > MAX_GAP_MM) | (jumps > MAX_JUMP_MM)) + 1
    pieces = []
    for part in np.split(np.arange(len(rows)), cuts):
        if len(part) < 3 or arcLength(points[part])[-1] < MIN_PIECE_MM:
            continue
        sigma = SMOOTHING_MM / STEP_MM
        smooth = ndimage.gaussian_filter1d(points[part], sigma, axis=0, mode="nearest")
        pieces.append((smooth, half[part]))
    return pieces


def _lumenRadius(half: np.ndarray) -> np.ndarray:
    """Radius per point from the two views' half widths (the one measured where the other is not; the smaller where
    they disagree by more than :data:`WIDTH_DISAGREEMENT`; nan where they disagree by more than
    :data:`WIDTH_UNRELIABLE` or neither was measured)."""
    low, high = np.fmin(half[:, 0], half[:, 1]), np.fmax(half[:, 0], half[:, 1])
    return np.where(high > WIDTH_UNRELIABLE * low, np.nan, np.where(high > WIDTH_DISAGREEMENT * low, low,
                                                                     (low + high) / 2))


def _bumpsClipped(arcMm: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Radii no larger than their running median over +-:data:`BUMP_WINDOW_MM` of arc plus :data:`BUMP_TOLERANCE_SD`
    robust standard deviations (the median absolute deviation from those medians, x 1.4826): a profile across a
    branching or a crossing spans the other vessel's lumen too (a bump shorter than the window), while narrowings,
    below the median, are kept as measured."""
    start = np.searchsorted(arcMm, arcMm - BUMP_WINDOW_MM)
    end = np.searchsorted(arcMm, arcMm + BUMP_WINDOW_MM, side="right")
    medians = np.array([np.median(radii[a:b]) for a, b in zip(start, end)])
    spread = 1.4826 * float(np.median(np.abs(radii - medians)))
    return np.minimum(radii, medians + BUMP_TOLERANCE_SD * spread)


def assembleBranches(pieces: list[tuple]) -> list[Branch]:
    """Join continuing pieces end to end (greedy, closest first), orient them wider end first, number them by
    length ("branch 1" the longest) and link them from the ostium (:func:`~.centerlines.linkBranches`)."""
    pieces = [(np.asarray(points), np.asarray(half)) for points, half in pieces]
    while True:
        best = None
        for a, (pointsA, _) in enumerate(pieces):
            for b in range(a + 1, len(pieces)):
                pointsB = pieces[b][0]
                for endA in (False, True):
                    for endB in (False, True):
                        gap = np.linalg.norm(pointsA[-1 if endA else 0] - pointsB[-1 if endB else 0])
                        if gap > JOIN_DISTANCE_MM or (best is not None and gap >= best[0]):
                            continue
                        # leaving A through endA, one must enter B through endB: directions opposite
                        cosine = -endDirection(pointsA, endA) @ endDirection(pointsB, endB)
                        if cosine >= np.cos(np.radians(JOIN_ANGLE_DEG)):
                            best = (gap, a, b, endA, endB)
        if best is None:
            break
        _, a, b, endA, endB = best
        pointsA, halfA = pieces[a] if endA else (pieces[a][0][::-1], pieces[a][1][::-1])
        pointsB, halfB = pieces[b] if not endB else (pieces[b][0][::-1], pieces[b][1][::-1])
        joined = (np.concatenate([pointsA, pointsB]), np.concatenate([halfA, halfB]))
        pieces = [piece for index, piece in enumerate(pieces) if index not in (a, b)] + [joined]
    branches = []
    for points, half in pieces:
        radii = _lumenRadius(half)
        measured = np.isfinite(radii)
        if measured.sum() < 2:
            continue  # no width measured: no lumen to report
        arc = arcLength(points)  # points whose profile had no edge pair take their neighbours' radius
        radii = _bumpsClipped(arc, np.interp(arc, arc[measured], radii[measured]))
        third = max(len(radii) // 3, 1)
        if np.nanmedian(radii[-third:]) > np.nanmedian(radii[:third]):
            points, half, radii = points[::-1], half[::-1], radii[::-1]
        branches.append(Branch("", points, radii, half))
    branches.sort(key=lambda branch: -branch.lengthMm)
    for number, branch in enumerate(branches, 1):
        branch.name = f"branch {number}"
    linkBranches(branches)
    return branches


def treeCenterlines(views, workingMaps, isMask, probability=None, ijkToLps=None) -> tuple[list[Branch], list, list]:
    """The 3D centerline tree of two views, each view's share of centerline that the strict matching explains
    (:func:`matchedFraction`) and its :class:`ViewCenterlines` (:data:`GATE_FREE_JUMP_MM` and no width cost cap: the
    tree reported tolerates foreshortened and overlapped vessels, and so more of a wrong pair of views, which this
    share must expose): ``views`` the two
    XrayImage (native pixels and geometry), ``workingMaps`` their (vessel map, its geometry) from
    :func:`~.vessels.workingMap`, ``isMask`` per view whether the widths are measured on a vessel mask (given; its own
    pixels) or on the raw angiogram; the generator's ``probability`` on the grid placed by ``ijkToLps`` (LPS)
    resolves ambiguous matches."""
    measured, images = [], []
    for view, (vesselMap, mapGeometry), mask in zip(views, workingMaps, isMask):
        images.append(vesselMap if mask else view.pixels)
        measured.append(viewCenterlines(vesselMap, mapGeometry, images[-1], mapGeometry if mask else view.geometry,
                                        mask))
    occupancy = occupancySampler(probability, ijkToLps) if probability is not None else None

    def pieces(freeJumpMm, widthCostCap):
        forward = matchPaths(measured[0], measured[1], occupancy, freeJumpMm, widthCostCap)
        backward = [(points, half[:, ::-1])
                    for points, half in matchPaths(measured[1], measured[0], occupancy, freeJumpMm, widthCostCap)]
        kept = consistentPieces(forward, backward)
        kept += recoveredPieces(forward + backward, kept, measured, occupancy)
        if widthCostCap != np.inf:  # the tree reported, not the gate's strict matching (a share of each view)
            kept += stenosisGapPieces(kept, measured, images, isMask, JOIN_DISTANCE_MM)
        return _insideGrid(kept, ijkToLps, np.shape(probability)) if probability is not None else kept

    branches = assembleBranches(pieces(FREE_JUMP_MM, WIDTH_COST_CAP))
    strict = assembleBranches(pieces(GATE_FREE_JUMP_MM, np.inf))
    return branches, [matchedFraction(strict, view) for view in measured], measured


def _insideGrid(pieces: list[tuple], ijkToLps: np.ndarray, shape) -> list[tuple]:
    """The stretches of pieces inside the generator's grid (``shape`` [k, j, i] placed by ``ijkToLps``): the cube
    goes on the tree, so a match outside it is a ghost (and would stretch the lumen's labelmap box)."""
    lpsToIjk = np.linalg.inv(ijkToLps)
    kept = []
    for points, half in pieces:
        ijk = points @ lpsToIjk[:3, :3].T + lpsToIjk[:3, 3]
        kept += _runs(points, half, np.all((ijk >= -0.5) & (ijk <= np.asarray(shape[::-1]) - 0.5), axis=1))
    return kept


def _runs(points: np.ndarray, half: np.ndarray, keep: np.ndarray) -> list[tuple]:
    """The runs of consecutive points of a piece where ``keep`` holds, as pieces (those of 3 points and
    :data:`MIN_PIECE_MM` or more)."""
    rows = np.flatnonzero(keep)
    return [(points[part], half[part]) for part in np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
            if len(part) >= 3 and arcLength(points[part])[-1] >= MIN_PIECE_MM]


def _chunks(points: np.ndarray, half: np.ndarray) -> list[tuple]:
    """A piece cut into stretches of about :data:`RECOVER_CHUNK_MM` (a piece may be true in part only)."""
    arc = arcLength(points)
    count = max(int(round(arc[-1] / RECOVER_CHUNK_MM)), 1)
    edges = np.searchsorted(arc, np.linspace(0, arc[-1], count + 1)[1:-1])
    return [(points[part], half[part]) for part in np.split(np.arange(len(points)), edges) if len(part) >= 3]


def recoveredPieces(candidates: list[tuple], kept: list[tuple], views, occupancy=None) -> list[tuple]:
    """Stretches of either way's matches that the consistency check dropped, taken back (longest first) where they
    explain points of both views that nothing kept explains yet (:data:`RECOVER_NEW_SHARE` of their points in each
    view): a ghost match pairs one view's vessel with another vessel of the other view, and one of the two is
    usually explained already by a kept match."""
    from scipy.spatial import cKDTree

    pools = [np.concatenate(view.paths) if view.paths else np.zeros((0, 2)) for view in views]
    if any(len(pool) == 0 for pool in pools):
        return []
    trees = [cKDTree(pool) for pool in pools]
    explained = [np.zeros(len(pool), bool) for pool in pools]

    def explain(points):
        """Per view: the pool points within EXPLAINED_MM of the projected points, and each point's nearest."""
        found = []
        for view, tree, pool in zip(views, trees, pools):
            pixels = view.geometry.projectLps(points)
            distance, nearest = tree.query(pixels)
            near = tree.query_ball_point(pixels, EXPLAINED_MM / view.spacingMm)
            found.append((distance * view.spacingMm <= EXPLAINED_MM, nearest,
                          np.unique(np.concatenate([np.asarray(n, int) for n in near])) if len(near) else []))
        return found

    for points, _ in kept:
        for index, (_, _, near) in enumerate(explain(points)):
            explained[index][near] = True
    keptTree = cKDTree(np.concatenate([points for points, _ in kept])) if kept else None
    chunks = [chunk for points, half in candidates for chunk in _chunks(points, half)]
    chunks.sort(key=lambda chunk: -arcLength(chunk[0])[-1])
    recovered = []
    for points, half in chunks:
        if keptTree is not None and np.mean(keptTree.query(points)[0] <= CONSISTENCY_MM) > 0.5:
            continue  # kept already
        if occupancy is not None and np.mean(occupancy(points)) < RECOVER_MIN_OCCUPANCY:
            continue
        found = explain(points)
        if all(np.mean(onView & ~explained[index][nearest]) >= RECOVER_NEW_SHARE
               for index, (onView, nearest, _) in enumerate(found)):
            recovered.append((points, half))
            for index, (_, _, near) in enumerate(found):
                explained[index][near] = True
    return recovered + _bridges(chunks, kept + recovered, occupancy)  # those taken back are on kept points now


def _bridges(chunks: list[tuple], kept: list[tuple], occupancy=None) -> list[tuple]:
    """Dropped stretches that close a gap of the kept ones: both ends within :data:`BRIDGE_END_MM` of kept points
    whose radii differ by no more than :data:`BRIDGE_RADIUS_RATIO` (one vessel, or a branch and the vessel it
    leaves), one leaving in the kept centerline's direction there (:data:`BRIDGE_ANGLE_DEG`), the generator's mean
    occupancy along it at least :data:`RECOVER_MIN_OCCUPANCY`, not half on kept points or on a bridge taken already
    (within :data:`CONSISTENCY_MM`). Its half widths are clipped, per view, to the larger of the kept points' at its
    ends (a gap is no wider than the vessel it interrupts: a wider profile spans an overlapping vessel) and dropped
    where the views differ by more than :data:`WIDTH_DISAGREEMENT` (the point takes its neighbours' radius)."""
    from scipy.spatial import cKDTree

    if not kept:
        return []
    points, halves = np.concatenate([p for p, _ in kept]), np.concatenate([h for _, h in kept])
    radii, tangents = _lumenRadius(halves), np.concatenate([_tangents(p) for p, _ in kept])
    tree, bridges = cKDTree(points), []
    trees = [tree]  # the kept points', then each bridge's
    for chunkPoints, half in chunks:
        distances, indices = tree.query(chunkPoints[[0, -1]])
        ratio = np.fmin(*radii[indices]) / np.fmax(*radii[indices])
        if (distances.max() > BRIDGE_END_MM or not ratio >= BRIDGE_RADIUS_RATIO
                or not any(abs(endDirection(chunkPoints, atEnd) @ tangents[index])
                           >= np.cos(np.radians(BRIDGE_ANGLE_DEG)) for index, atEnd in zip(indices, (False, True)))
                or (occupancy is not None and np.mean(occupancy(chunkPoints)) < RECOVER_MIN_OCCUPANCY)
                or any(np.mean(other.query(chunkPoints)[0] <= CONSISTENCY_MM) > 0.5 for other in trees)):
            continue
        limit = np.fmax(halves[indices[0]], halves[indices[1]])
        half = np.where(half > limit, limit, half)
        disagree = np.fmax(*half.T) > WIDTH_DISAGREEMENT * np.fmin(*half.T)
        bridges.append((chunkPoints, np.where(disagree[:, None], np.nan, half)))
        trees.append(cKDTree(chunkPoints))
    return bridges


def _tangents(points: np.ndarray) -> np.ndarray:
    """[N, 3] unit tangents of a polyline."""
    tangent = np.gradient(points, axis=0)
    return tangent / np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)


def consistentPieces(forward: list[tuple], backward: list[tuple]) -> list[tuple]:
    """The points of ``forward``'s pieces that ``backward`` (view 2 matched into view 1) found too, within
    :data:`CONSISTENCY_MM`: a ghost match is seldom chosen from both sides."""
    from scipy.spatial import cKDTree

    if not forward or not backward:
        return []
    other = cKDTree(np.concatenate([points for points, _ in backward]))
    return [run for points, half in forward
            for run in _runs(points, half, other.query(points)[0] <= CONSISTENCY_MM)]


def matchedFraction(branches: list[Branch], view: ViewCenterlines) -> float:
    """Share of a view's 2D centerline points that the 3D centerlines project onto (within
    :data:`CONSISTENCY_MM` at the isocenter): how much of what the view shows the tree explains."""
    from scipy.spatial import cKDTree

    points = np.concatenate(view.paths) if view.paths else np.zeros((0, 2))
    if not branches or len(points) == 0:
        return 0.0
    projected = np.concatenate([view.geometry.projectLps(branch.pointsLps) for branch in branches])
    return float(np.mean(cKDTree(projected).query(points)[0] * view.spacingMm <= CONSISTENCY_MM))

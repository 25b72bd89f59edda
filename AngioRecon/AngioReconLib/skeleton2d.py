"""2D centerlines and lumen widths of one angiogram, at the image's own resolution.

:func:`centerlinePaths`: the vessel map is thinned to a one-pixel skeleton (:func:`skeleton`) and cut into
paths between nodes (end points and junctions: skeleton pixels whose number of skeleton neighbours is not 2); spurs
(a path ending free, shorter than :data:`SPUR_LENGTH_MM`) are dropped. Why written here: the skeleton's graph is a
few lines of neighbour counting and walking, and the libraries that do it (skan, scikit-image's graph tools) are not
in Slicer's Python.

:func:`measureProfiles`: along each path, the intensity profile across the vessel (normal to the path's smoothed
direction) is sampled at the native resolution and the two lumen edges found with sub-pixel precision: on a vessel
mask (given, or rendered) where the profile crosses 0.5; on a raw angiogram (vessels dark) where the profile's slope
is steepest on each side (the edge criterion of QCA's edge detection), after subtracting the background (a line
through the profile's ends), the profiles averaged along the path (:data:`PROFILE_ALONG_SMOOTHING_MM`) and the edges
searched within a reach of the peak that the caller gives (the vessel map's edges there). The edges' midpoint is the
refined centre and their distance the width (pixels). On a raw angiogram that width depends on the blur: the
steepest slope of a blurred cylinder's profile lies inside its edge (1.2 px narrow for a 12 px vessel under 1 px of
blur, Testing/test_angio_centerlines.py), and outside it for a lumen narrower than 2.4 blurs. With ``halfMax`` the
widths at half the profile's peak come too: :mod:`.lumenblur` finds the image's blur from both and corrects the
widths.

:func:`viewCenterlines`, one view's :class:`ViewCenterlines` for the matching (:mod:`.matching`): the skeleton paths
of the vessel map carried into the pixels of the image whose widths are measured (a given mask at its own size, or
the raw angiogram at its native resolution, so the working map's coarser pixels only find the vessels) and measured
there; on a raw angiogram the edges are searched no further from the profile's peak than twice the map's half width
there plus 0.5 mm (:data:`EDGE_REACH_FACTOR`), and the image's blur is found from all its profiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .centerlines import arcLength
from .lumenblur import correctedWidths, estimateBlurPx

#: Spurs of the skeleton (paths ending free) shorter than this (mm at the isocenter) are thinning artefacts of a
#: vessel's rough border, not branches: a side branch shorter than 2 mm cannot be measured either.
SPUR_LENGTH_MM = 2.0
#: A path's direction at a point: the chord over this arc length (mm at the isocenter) around it.
TANGENT_SPAN_MM = 1.5
#: Profiles are sampled every PROFILE_STEP_PX pixels, out to PROFILE_HALF_LENGTH_MM (mm at the isocenter) on each
#: side of the centre: the widest coronary lumen (LM, 5-6 mm) with room for the background on both sides.
PROFILE_STEP_PX = 0.25
PROFILE_HALF_LENGTH_MM = 6.0
#: Gaussian smoothing (pixels) of a raw angiogram's profile before its slope is taken: quantum noise makes single
#: pixels' slopes meaningless.
PROFILE_SMOOTHING_PX = 0.7

#: A raw angiogram's profiles are averaged along the path (Gaussian sigma, mm at the isocenter) before their edges
#: are found: quantum noise in single profiles makes false narrowings. Measured with AngioReconDev.qcacheck --raw
#: (40 held-out trees, --first 20; 2026-12-01), without / 0.5 / 1.0 mm: out of distribution, false lesions >= 50 %
#: per tree 0.58 / 0.18 / 0.16, recall 0.37 / 0.41 / 0.42, radius RMSE 0.35 / 0.29 / 0.25 mm; as in training, recall
#: 0.56 / 0.57 / 0.57, radius RMSE 0.16 mm at each. 0.5 mm: a lesion (4-15 mm long) is smoothed less.
PROFILE_ALONG_SMOOTHING_MM = 0.5
#: On a raw angiogram, a lumen edge is searched at most EDGE_REACH_FACTOR times the vessel map's half width there
#: plus EDGE_REACH_MARGIN_MM (mm at the isocenter) from the profile's peak: further out, the steepest slope of a
#: noisy profile is noise or a neighbouring vessel. Measured against the true masks' widths on the centerlines of 6
#: held-out trees (12 views, 512 px; 2026-12-01): without the limit, width error (detector mm) median 0.31, 90th
#: percentile 2.28 on angiograms drawn as in training and 1.25, 4.86 on the out-of-distribution renderer's (centre
#: error 90th percentile 1.02 and 1.90 mm); with factor 2 and 0.5 mm: 0.29, 0.66 and 0.60, 1.78 (centres 0.18, 0.69
#: mm); factor 1.5 or 1.2 narrowed the widths further (bias -0.41 and -0.66 mm out of distribution).
EDGE_REACH_FACTOR = 2.0
EDGE_REACH_MARGIN_MM = 0.5

_NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def _neighbourGroups(window: np.ndarray) -> int:
    """How many 8-connected groups the skeleton pixels of a 3x3 window form around its centre."""
    from scipy import ndimage

    ring = window.copy()
    ring[1, 1] = False
    return ndimage.label(ring, structure=np.ones((3, 3)))[1]


def _guoHall(binary: np.ndarray) -> np.ndarray:
    """Guo-Hall thinning (Commun. ACM 32(3), 1989, algorithm A1), vectorized: both sub-iterations until nothing
    changes.

    Why written here: SimpleITK's BinaryThinning thins a straight 7 pixel wide diagonal bar 90 pixels long to 3
    pixels, VTK's vtkImageSkeleton2D leaves spurs of several pixels along it (or, pruned, shortens every end), and
    scikit-image is not in Slicer's Python."""
    image = np.pad(np.asarray(binary, bool), 1)
    while True:
        changed = False
        for step in (0, 1):
            p2, p3, p4 = image[:-2, 1:-1], image[:-2, 2:], image[1:-1, 2:]
            p5, p6, p7 = image[2:, 2:], image[2:, 1:-1], image[2:, :-2]
            p8, p9 = image[1:-1, :-2], image[:-2, :-2]
            crossings = ((~p2 & (p3 | p4)).astype(np.int8) + (~p4 & (p5 | p6)) + (~p6 & (p7 | p8))
                         + (~p8 & (p9 | p2)))
            first = (p9 | p2).astype(np.int8) + (p3 | p4) + (p5 | p6) + (p7 | p8)
            second = (p2 | p3).astype(np.int8) + (p4 | p5) + (p6 | p7) + (p8 | p9)
            count = np.minimum(first, second)
            side = ((p6 | p7 | ~p9) & p8) if step == 0 else ((p2 | p3 | ~p5) & p4)
            remove = image[1:-1, 1:-1] & (crossings == 1) & (count >= 2) & (count <= 3) & ~side
            if remove.any():
                image[1:-1, 1:-1][remove] = False
                changed = True
        if not changed:
            return image[1:-1, 1:-1]


def skeleton(binary: np.ndarray) -> np.ndarray:
    """bool [rows, columns]: the one-pixel-wide, 8-connected skeleton of a binary map: Guo-Hall thinning
    (:func:`_guoHall`), then every corner pixel its 4-connected staircases keep removed (one with two or more
    skeleton neighbours that all hang together: removing it disconnects nothing), so a line's pixels have two
    neighbours and only branchings more."""
    bones = np.pad(_guoHall(np.asarray(binary) >= 0.5), 1)
    for _ in range(3):
        removed = 0
        for row, column in zip(*np.nonzero(neighbourCount(bones) >= 2)):
            window = bones[row - 1:row + 2, column - 1:column + 2]
            if window[1, 1] and window.sum() >= 3 and _neighbourGroups(window) == 1:
                bones[row, column] = False
                removed += 1
        if not removed:
            break
    return bones[1:-1, 1:-1]


def neighbourCount(mask: np.ndarray) -> np.ndarray:
    """Number of 8-connected neighbours in ``mask`` of each of its pixels (0 outside it)."""
    from scipy import ndimage

    kernel = np.ones((3, 3), np.int32)
    kernel[1, 1] = 0
    return ndimage.convolve(mask.astype(np.int32), kernel, mode="constant") * mask


def _skeletonPaths(bones: np.ndarray) -> tuple[list[list], np.ndarray]:
    """The skeleton's paths between nodes (pixel (row, column) lists) and its neighbour counts."""
    rows, columns = bones.shape
    count = neighbourCount(bones)
    node = bones & (count != 2)
    visited = np.zeros_like(bones)

    def neighbours(row, column):
        for dRow, dColumn in _NEIGHBOURS:
            r, c = row + dRow, column + dColumn
            if 0 <= r < rows and 0 <= c < columns and bones[r, c]:
                yield r, c

    def walk(start, first):
        path, previous, current = [start, first], start, first
        while not node[current] and not visited[current]:
            visited[current] = True
            following = [p for p in neighbours(*current) if p != previous and p not in path[-3:]]
            if not following:
                break
            previous, current = current, following[0]
            path.append(current)
        return path

    paths = []
    for start in zip(*np.nonzero(node)):
        for first in neighbours(*start):
            if visited[first] or (node[first] and first < start):
                continue  # an edge already walked from its other end, or a two-node edge taken once
            paths.append(walk(start, first))
    for start in zip(*np.nonzero(bones & ~node & ~visited)):  # loops without a node
        if not visited[start]:
            visited[start] = True
            following = list(neighbours(*start))
            paths.append([start] + walk(start, following[0])[1:])
    return paths, count


def centerlinePaths(binary: np.ndarray, spacingMm: float) -> list[np.ndarray]:
    """The skeleton of ``binary`` (pixels ``spacingMm`` wide at the isocenter) as paths between nodes: a list of
    float [M, 2] (column, row) pixel positions, M >= 2, each path's ends at nodes (end points or junctions) or closing
    on itself (a loop). Spurs (paths with a free end, shorter than :data:`SPUR_LENGTH_MM`) are erased from the
    skeleton and the paths found again, twice, so the junctions they made go too."""
    bones = skeleton(np.asarray(binary) >= 0.5)
    for _ in range(3):
        paths, count = _skeletonPaths(bones)
        spurs = [path for path in paths if (count[path[0]] <= 1 or count[path[-1]] <= 1)
                 and arcLength(np.asarray(path, float))[-1] * spacingMm < SPUR_LENGTH_MM and len(paths) > 1]
        for path in spurs:
            for pixel in path:
                if count[pixel] <= 2:  # the spur's own pixels, not the junction it leaves
                    bones[pixel] = False
        if not spurs:
            break
    else:
        paths, count = _skeletonPaths(bones)  # the paths after the last removal
    # two adjacent pixels of one junction (a branching's skeleton is often a small cluster of them) are no path
    inside = [len(path) == 2 and count[path[0]] >= 3 and count[path[1]] >= 3 for path in paths]
    return [np.asarray(path, dtype=float)[:, ::-1] for path, junction in zip(paths, inside)
            if len(path) >= 2 and not junction]


def pathNormals(points: np.ndarray, spacingMm: float) -> np.ndarray:
    """[M, 2] unit normals (column, row) of a path: its direction (the chord over :data:`TANGENT_SPAN_MM`) turned by
    90 degrees."""
    arc = arcLength(points) * spacingMm
    half = TANGENT_SPAN_MM / 2
    after = np.searchsorted(arc, arc + half).clip(0, len(points) - 1)
    before = (np.searchsorted(arc, arc - half, side="right") - 1).clip(0, len(points) - 1)
    direction = points[after] - points[before]
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-9)
    return np.stack([-direction[:, 1], direction[:, 0]], axis=1)


def _crossing(profile: np.ndarray, offsets: np.ndarray, level: float, side: int, centre: int) -> float:
    """Offset where ``profile`` first falls below ``level`` going from ``centre`` towards ``side`` (+1 / -1),
    linearly interpolated; nan when it never does."""
    indices = np.arange(centre, len(profile)) if side > 0 else np.arange(centre, -1, -1)
    values = profile[indices]
    below = np.flatnonzero(values < level)
    if len(below) == 0 or below[0] == 0:
        return np.nan
    inside, outside = indices[below[0] - 1], indices[below[0]]
    fraction = (profile[inside] - level) / (profile[inside] - profile[outside])
    return float(offsets[inside] + fraction * (offsets[outside] - offsets[inside]))


def _steepest(slope: np.ndarray, offsets: np.ndarray, side: int, centre: int, reach: int) -> float:
    """Offset of the steepest descent of a vessel profile (vessel positive) on ``side`` of ``centre``, at most
    ``reach`` samples from it, refined by a parabola through the three samples around it; nan at the profile's end."""
    if side > 0:
        index = centre + int(np.argmin(slope[centre:centre + reach + 1]))
    else:
        start = max(centre - reach, 0)
        index = start + int(np.argmax(slope[start:centre + 1]))
    if index <= 0 or index >= len(slope) - 1:
        return np.nan
    left, middle, right = slope[index - 1], slope[index], slope[index + 1]
    curvature = left - 2 * middle + right
    shift = 0.5 * (left - right) / curvature if abs(curvature) > 1e-12 else 0.0
    step = offsets[1] - offsets[0]
    return float(offsets[index] + np.clip(shift, -0.5, 0.5) * step)


def measureProfiles(image: np.ndarray, points: np.ndarray, normals: np.ndarray, spacingMm: float,
                    isMask: bool, reachPx=None, halfMax: bool = False) -> tuple[np.ndarray, ...]:
    """Lumen edges across a path on ``image`` (pixels ``spacingMm`` wide at the isocenter): (refined centres [M, 2]
    (column, row), widths [M] in pixels; nan where no edge pair was found).

    ``isMask``: ``image`` is a vessel mask (values 0-1, vessel 1: edges at 0.5); else a raw angiogram, vessels dark
    (edges at the steepest slope of the background-subtracted, smoothed profile, searched at most ``reachPx``
    pixels from the profile's peak: [M], nan for no limit). ``halfMax`` (raw angiograms): also the widths [M] at half
    the profile's peak (pixels), from which :func:`~.lumenblur.estimateBlurPx` finds the image's blur.
    """
    from scipy import ndimage

    halfPx = PROFILE_HALF_LENGTH_MM / spacingMm
    offsets = np.arange(-halfPx, halfPx + PROFILE_STEP_PX / 2, PROFILE_STEP_PX)
    samples = points[:, None, :] + offsets[None, :, None] * normals[:, None, :]  # [M, S, (column, row)]
    profiles = ndimage.map_coordinates(np.asarray(image, np.float32), [samples[..., 1], samples[..., 0]],
                                       order=1, mode="nearest")
    centre = len(offsets) // 2
    if not isMask:
        profiles = -profiles  # vessels positive
        ends = max(int(round(1.0 / PROFILE_STEP_PX)), 1)  # one pixel at each end
        low, high = profiles[:, :ends].mean(1), profiles[:, -ends:].mean(1)
        fraction = (offsets - offsets[0]) / (offsets[-1] - offsets[0])
        profiles = profiles - (low[:, None] + (high - low)[:, None] * fraction[None])
        profiles = ndimage.gaussian_filter1d(profiles, PROFILE_SMOOTHING_PX / PROFILE_STEP_PX, axis=1)
        if PROFILE_ALONG_SMOOTHING_MM > 0 and len(points) > 1:
            stepMm = arcLength(points)[-1] * spacingMm / (len(points) - 1)
            if stepMm > 0:
                profiles = ndimage.gaussian_filter1d(profiles, PROFILE_ALONG_SMOOTHING_MM / stepMm, axis=0,
                                                     mode="nearest")
        slopes = np.gradient(profiles, axis=1)
    edges = np.full((len(points), 2), np.nan)
    halfEdges = np.full((len(points), 2), np.nan)
    for index, profile in enumerate(profiles):
        if isMask:
            edges[index] = (_crossing(profile, offsets, 0.5, -1, centre), _crossing(profile, offsets, 0.5, 1, centre))
        else:
            peak = centre + int(np.argmax(profile[centre - int(1 / PROFILE_STEP_PX):centre + int(1 / PROFILE_STEP_PX)
                                                  + 1])) - int(1 / PROFILE_STEP_PX)
            reach = len(offsets)
            if reachPx is not None and np.isfinite(reachPx[index]):
                reach = max(int(np.ceil(reachPx[index] / PROFILE_STEP_PX)), 2)
            edges[index] = (_steepest(slopes[index], offsets, -1, peak, reach),
                            _steepest(slopes[index], offsets, 1, peak, reach))
            if halfMax and profile[peak] > 0:
                halfEdges[index] = (_crossing(profile, offsets, profile[peak] / 2, -1, peak),
                                    _crossing(profile, offsets, profile[peak] / 2, 1, peak))
    widths = edges[:, 1] - edges[:, 0]
    middle = edges.mean(1)
    centres = points + np.nan_to_num(middle)[:, None] * normals
    if halfMax:
        return centres, widths, halfEdges[:, 1] - halfEdges[:, 0]
    return centres, widths


@dataclass
class ViewCenterlines:
    """One view's 2D centerlines, in the pixels of ``geometry`` (column, row)."""

    paths: list  # [M, 2] refined centres
    widths: list  # [M] lumen widths on the detector as measured (mm; nan where not measured)
    geometry: object  # CArmGeometry of the image measured
    spacingMm: float  # its pixel spacing at the isocenter
    blurPx: float = float("nan")  # the raw angiogram's blur found from its profiles (pixels; nan: not corrected)

    def lumenWidths(self, widths: np.ndarray) -> np.ndarray:
        """``widths`` (detector mm, as measured: the matching compares those) corrected for the view's blur."""
        return correctedWidths(widths, self.blurPx * float(np.mean(self.geometry.pixelSpacingMm)))

    def depthScale(self, pointsLps: np.ndarray) -> np.ndarray:
        """mm at ``pointsLps`` per detector mm: their distance from the source along the central ray / SID."""
        geometry = self.geometry
        return ((pointsLps - geometry.sourcePositionLps) @ geometry.detectorDirectionLps) / geometry.sourceToDetectorMm


def viewCenterlines(vesselMap: np.ndarray, mapGeometry, image: np.ndarray, imageGeometry,
                    isMask: bool) -> ViewCenterlines:
    """A view's centerlines: paths of ``vesselMap`` (in ``mapGeometry``'s pixels) carried onto ``image`` (same
    field, ``imageGeometry``'s pixels), refined and measured there (``isMask``: the image is a vessel mask); widths
    in mm on the detector, across the path (rows and columns may differ in spacing)."""
    mapSpacing = mapGeometry.pixelSpacingMm[0] / mapGeometry.magnification
    spacing = imageGeometry.pixelSpacingMm[0] / imageGeometry.magnification
    scale = np.array([imageGeometry.columns / mapGeometry.columns, imageGeometry.rows / mapGeometry.rows])
    paths, widths, halfMax, toMm = [], [], [], []
    rowSpacing, columnSpacing = imageGeometry.pixelSpacingMm
    for path in centerlinePaths(vesselMap, mapSpacing):
        points = (path + 0.5) * scale - 0.5
        normals = pathNormals(points, spacing)
        reach = None
        if not isMask:  # the edges of a raw angiogram's lumen lie near those of its vessel map
            _, mapWidth = measureProfiles(vesselMap, path, pathNormals(path, mapSpacing), mapSpacing, True)
            reach = (EDGE_REACH_FACTOR * mapWidth / 2 * mapSpacing + EDGE_REACH_MARGIN_MM) / spacing
        centres, width, *half = measureProfiles(image, points, normals, spacing, isMask, reach, not isMask)
        paths.append(centres)
        widths.append(width)
        halfMax += half
        toMm.append(np.hypot(normals[:, 0] * columnSpacing, normals[:, 1] * rowSpacing))
    blurPx = estimateBlurPx(np.concatenate(widths), np.concatenate(halfMax)) if halfMax else float("nan")
    return ViewCenterlines(paths, [pixels * mm for pixels, mm in zip(widths, toMm)], imageGeometry, spacing, blurPx)

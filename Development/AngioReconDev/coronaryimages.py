"""Voxel labels and X-ray views of the synthetic coronary trees of :mod:`coronarytree` (training data).

Frames as in :mod:`coronarytree`: centerlines (N, 3) LPS mm; voxel arrays indexed [k, j, i] (k along LPS z, j
along y, i along x) with a 4x4 ijkToLps; images (rows, columns) as :class:`CArmGeometry` projects them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from AngioReconLib.conventions import CUBE_SIDE_MM, NETWORK_FIELD_MM
from ReconCoreLib.xraygeometry import CArmGeometry, viewSeparationDeg

from .coronaryanatomy import CoronaryCase, Vessel, _arcLength, _Heart, _normalize, _resample, _tangents

__all__ = [
    "STANDARD_VIEWS",
    "perturbVesselMap",
    "renderAngiogram",
    "renderVesselMap",
    "sampleViewPair",
    "voxelize",
]

#: Standard clinical view pairs (primary angle LAO+ / RAO-, secondary CRA+ / CAU-, deg): left coronary
#: RAO 30 CAU 25, LAO 45 CRA 25, AP CRA 30, LAO 50 CAU 30 ("spider"); right coronary LAO 30, RAO 30,
#: LAO 30 CRA 20. Source: the issue (standard cath-lab practice).
STANDARD_VIEWS = {"left": [(-30, -25), (45, 25), (0, 30), (50, -30)], "right": [(30, 0), (-30, 0), (30, 20)]}
#: View sampling (issue): jitter on each angle (deg), SID and SOD (mm), minimum separation (deg), and the
#: detector field-of-view factor (the 128 mm cube fills ~90 % of the image).
VIEW_JITTER_DEG = 8.0
SID_RANGE_MM = (900.0, 1200.0)
SOD_RANGE_MM = (700.0, 800.0)
MIN_VIEW_SEPARATION_DEG = 30.0
FIELD_OF_VIEW_FACTOR = NETWORK_FIELD_MM / CUBE_SIDE_MM  # 1.11

#: Vessel-map perturbation (imitates a vesselness segmentation): small leaf branches (radius < 0.8 mm at
#: their origin) each missed with probability 0.3, blur sigma 0-1 px, additive Gaussian noise, a random
#: sigmoid "threshold" mixed in.
DROP_RADIUS_MM = 0.8
DROP_PROBABILITY = 0.3

# ------------------------------------------------------------------------------------------------------
# Voxelization
def _freeEnds(case: CoronaryCase) -> dict[str, tuple[bool, bool]]:
    """Per vessel: (start is free, end is free). Free ends get a flat cap; joints stay round (no notch)."""
    endsWithChildren = set()
    for vessel in case.vessels:
        if vessel.parent is None:
            continue
        try:
            parent = case.vessel(vessel.parent)
        except KeyError:
            continue
        if np.linalg.norm(parent.pointsLps[-1] - vessel.pointsLps[0]) < 1e-6:
            endsWithChildren.add(parent.name)
    return {v.name: (v.parent is None, v.name not in endsWithChildren) for v in case.vessels}


def voxelize(case: CoronaryCase, size: int = 64, sideMm: float = 128.0) -> tuple[np.ndarray, np.ndarray]:
    """Fractional lumen occupancy on an axis-aligned LPS cube centred at the origin.

    Occupancy of a voxel centre x: ``clip((r - d) / voxel + 0.5, 0, 1)`` maximized over centerline samples
    (d = distance to the sample, r its radius) and over vessels, i.e. a one-voxel partial-volume ramp across
    the lumen wall: ``occupancy >= 0.5`` exactly where x is inside the lumen, and a 1 mm lumen on a 2 mm
    grid still shows. Free ends (ostia, distal tips) are cut flat. Summed over a tube, the occupancy
    integrates to ``pi (r**2 + voxel**2 / 12)`` per mm (the ramp adds ``voxel**2 / 12``).

    :param size: voxels per side.
    :param sideMm: cube side (mm); voxel centres at ``-side/2 + (index + 0.5) * side/size``.
    :returns: (float32 [k, j, i] occupancy with k along LPS z, j along y, i along x; 4x4 ijkToLps).
    """
    voxel = sideMm / size
    origin = -sideMm / 2 + voxel / 2
    volume = np.zeros(size ** 3, dtype=np.float32)
    freeEnds = _freeEnds(case)
    for vessel in case.vessels:
        points, radii = np.asarray(vessel.pointsLps, float), np.asarray(vessel.radiiMm, float)
        if len(points) == 0:
            continue
        half = int(math.ceil(radii.max() / voxel + 1.0))
        axis = np.arange(-half, half + 1)
        offsets = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
        centres = np.rint((points - origin) / voxel).astype(np.int64)
        arc = _arcLength(points)
        reach = radii.max() + 2 * voxel
        tangents = _tangents(points) if len(points) > 1 else np.zeros((1, 3))
        startFree, endFree = freeEnds[vessel.name]
        chunk = max(1, 400_000 // len(offsets))
        for first in range(0, len(points), chunk):
            part = slice(first, first + chunk)
            ijk = centres[part, None, :] + offsets[None]
            difference = origin + ijk * voxel - points[part, None, :]
            value = (radii[part, None] - np.linalg.norm(difference, axis=-1)) / voxel + 0.5
            if len(points) > 1 and startFree:
                near = arc[part] < reach
                value[near] = np.where(difference[near] @ tangents[0] < 0.0, 0.0, value[near])
            if len(points) > 1 and endFree:
                near = arc[part] > arc[-1] - reach
                value[near] = np.where(difference[near] @ tangents[-1] > 0.0, 0.0, value[near])
            keep = (value > 0.0) & np.all((ijk >= 0) & (ijk < size), axis=-1)
            flat = (ijk[..., 2] * size + ijk[..., 1]) * size + ijk[..., 0]
            np.maximum.at(volume, flat[keep], np.minimum(value[keep], 1.0).astype(np.float32))
    ijkToLps = np.diag([voxel, voxel, voxel, 1.0])
    ijkToLps[:3, 3] = origin
    return volume.reshape(size, size, size), ijkToLps


# ------------------------------------------------------------------------------------------------------
# Projections
def _splat(geometry: CArmGeometry, points: np.ndarray, radii: np.ndarray, labels: np.ndarray, layers: int,
           kind: str, tangents: np.ndarray | None = None) -> np.ndarray:
    """Per-layer max over samples of a disk splat; ``kind`` 'occupancy' (anti-aliased silhouette) or
    'chord' (lumen chord length through the tube, mm). Returns float32 (layers, rows, columns)."""
    rows, columns = geometry.rows, geometry.columns
    image = np.zeros(layers * rows * columns, dtype=np.float32)
    if len(points) == 0:
        return image.reshape(layers, rows, columns)
    pixels = geometry.projectLps(points)
    rays = points - geometry.sourcePositionLps
    depth = rays @ geometry.detectorDirectionLps  # along the central ray, from the source (mm)
    magnification = geometry.sourceToDetectorMm / depth
    radiusDetector = radii * magnification  # mm on the detector
    rowSpacing, columnSpacing = geometry.pixelSpacingMm
    meanSpacing = math.sqrt(rowSpacing * columnSpacing)
    marginColumns, marginRows = radiusDetector / columnSpacing + 2, radiusDetector / rowSpacing + 2
    inView = ((pixels[:, 0] > -marginColumns) & (pixels[:, 0] < columns - 1 + marginColumns)
              & (pixels[:, 1] > -marginRows) & (pixels[:, 1] < rows - 1 + marginRows))
    if kind == "chord":
        sine = np.linalg.norm(np.cross(tangents, _normalize(rays)), axis=1)
        obliquity = 1.0 / np.maximum(sine, 1.0 / 3.0)  # longer chords where the vessel runs along the ray
        pixelAtObject = meanSpacing / magnification
        effective = np.maximum(radii, 0.6 * pixelAtObject)  # sub-pixel vessels: widen, conserve area
        areaFactor = (radii / effective) ** 2
    keep = np.flatnonzero(inView)
    reachMm = radiusDetector[keep].max(initial=0.0)
    if kind == "chord":
        reachMm = max(reachMm, 0.6 * meanSpacing)
    half = int(math.ceil(reachMm / min(rowSpacing, columnSpacing) + 1.0))
    axis = np.arange(-half, half + 1)
    offsetRow, offsetColumn = (grid.ravel() for grid in np.meshgrid(axis, axis, indexing="ij"))
    chunk = max(1, 300_000 // len(offsetRow))
    for first in range(0, len(keep), chunk):
        part = keep[first:first + chunk]
        column = np.rint(pixels[part, 0]).astype(np.int64)[:, None] + offsetColumn
        row = np.rint(pixels[part, 1]).astype(np.int64)[:, None] + offsetRow
        distance = np.hypot((column - pixels[part, 0:1]) * columnSpacing, (row - pixels[part, 1:2]) * rowSpacing)
        if kind == "occupancy":
            value = np.clip((radiusDetector[part, None] - distance) / meanSpacing + 0.5, 0.0, 1.0)
        else:
            distanceObject = distance / magnification[part, None]
            r = effective[part, None]
            value = (2.0 * np.sqrt(np.maximum(r * r - distanceObject ** 2, 0.0))
                     * (areaFactor[part] * obliquity[part])[:, None])
        valid = (value > 0.0) & (row >= 0) & (row < rows) & (column >= 0) & (column < columns)
        flat = (labels[part, None] * rows + row) * columns + column
        np.maximum.at(image, flat[valid], value[valid].astype(np.float32))
    return image.reshape(layers, rows, columns)


def _stack(vessels: list[Vessel]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    points = np.concatenate([v.pointsLps for v in vessels]) if vessels else np.zeros((0, 3))
    radii = np.concatenate([v.radiiMm for v in vessels]) if vessels else np.zeros(0)
    labels = (np.concatenate([np.full(len(v.pointsLps), i) for i, v in enumerate(vessels)]) if vessels
              else np.zeros(0, int))
    tangents = np.concatenate([_tangents(v.pointsLps) if len(v.pointsLps) > 1 else np.zeros((1, 3))
                               for v in vessels]) if vessels else np.zeros((0, 3))
    return points, radii, labels.astype(np.int64), tangents


def renderVesselMap(case: CoronaryCase, geometry: CArmGeometry) -> np.ndarray:
    """Perspective silhouette of the lumen tubes: for each centerline sample a disk of radius
    ``r * SID / depth`` (depth from the source along the central ray) at its projection, anti-aliased
    ``clip(r_pix - d + 0.5, 0, 1)``, max over samples.

    :returns: float32 (rows, columns) in [0, 1], image frame of ``geometry`` (column, row).
    """
    points, radii, _, _ = _stack(case.vessels)
    return _splat(geometry, points, radii, np.zeros(len(points), np.int64), 1, "occupancy")[0]


def _catheter(case: CoronaryCase, rng: np.random.Generator) -> Vessel:
    """A contrast-filled guiding catheter (6 F, ~2 mm) engaged in the root's ostium, running up the aorta."""
    root = case.vessels[0]
    ostium = root.pointsLps[0]
    backwards = -_tangents(root.pointsLps[:10])[0]
    up = _normalize(np.array([0.0, 0.0, 1.0]) + 0.3 * rng.standard_normal(3))
    length = rng.uniform(60.0, 100.0)
    t = np.linspace(0.0, 1.0, 400)[:, None]
    control = (ostium, ostium + 15.0 * backwards, ostium + 15.0 * backwards + length * up)
    dense = (1 - t) ** 2 * control[0] + 2 * t * (1 - t) * control[1] + t ** 2 * control[2]
    points = _resample(dense)
    return Vessel("catheter", points, np.full(len(points), 1.0), None)


def _heartChord(case: CoronaryCase, geometry: CArmGeometry) -> np.ndarray:
    """Chord length (mm) of every pixel's ray through the heart ellipsoid (the cardiac shadow)."""
    if not case.heart:
        return np.zeros((geometry.rows, geometry.columns))
    heart = _Heart.fromDict(case.heart)
    columns, rows = np.meshgrid(np.arange(geometry.columns), np.arange(geometry.rows))
    pixels = np.stack([columns.ravel(), rows.ravel()], axis=1).astype(float)
    source = geometry.sourcePositionLps
    directions = _normalize(geometry.pixelToDetectorLps(pixels) - source)
    origin = ((source - heart.centre) @ heart.frame) / heart.semiAxes
    step = (directions @ heart.frame) / heart.semiAxes
    a = np.sum(step * step, axis=1)
    b = 2.0 * step @ origin
    c = origin @ origin - 1.0
    discriminant = np.maximum(b * b - 4 * a * c, 0.0)
    return (np.sqrt(discriminant) / a).reshape(geometry.rows, geometry.columns)


#: The renderer's ranges (contrast mu per mm, detector blur in pixels, photons per background pixel) of the training
#: data, and those of the out-of-distribution check (fainter contrast, blurrier, noisier: ``qcacheck --ood``).
TRAINING_STYLE = {"mu": (0.08, 0.25), "blurPx": (0.3, 0.8), "photons": (200.0, 2000.0)}
OOD_STYLE = {"mu": (0.06, 0.08), "blurPx": (0.8, 1.0), "photons": (120.0, 200.0)}


def renderAngiogram(case: CoronaryCase, geometry: CArmGeometry, rng: np.random.Generator,
                    style: dict = TRAINING_STYLE) -> np.ndarray:
    """X-ray-angiogram-like image of the tree (MONOCHROME2: contrast-filled vessels dark).

    Transmission ``exp(-tau)`` with ``tau`` = background (smooth random field, spine band, optional
    diaphragm edge and rib stripes, the cardiac shadow: ray chord through the heart ellipsoid x 0.001-0.004
    /mm, blurred) + ``mu * chord`` with mu 0.08-0.25 /mm (a tuned value for diluted iodinated contrast, giving
    25-60 % contrast on 3-4 mm vessels) and chord = lumen chord length (mm) ``2 sqrt(r**2 - d**2)`` at
    object scale (d: the pixel's distance to the projected centre de-magnified), /sin of the angle between
    vessel and ray (capped at 3x), max over a vessel's samples, summed over vessels; with p = 0.6 a guiding
    catheter at the ostium. Then detector blur (0.3-0.8 px), Poisson quantum noise (200-2000 photons per
    background pixel), log and a percentile window to [0, 1]. ``style`` draws mu, blur and photons from other ranges
    (:data:`OOD_STYLE`).

    :returns: float32 (rows, columns) in [0, 1].
    """
    rows, columns = geometry.rows, geometry.columns
    vessels = list(case.vessels)
    if rng.random() < 0.6 and vessels:
        vessels.append(_catheter(case, rng))
    points, radii, labels, tangents = _stack(vessels)
    chord = _splat(geometry, points, radii, labels, max(len(vessels), 1), "chord", tangents).sum(axis=0)
    mu = rng.uniform(*style["mu"])

    scaleRow, scaleColumn = np.meshgrid(np.linspace(-1, 1, rows), np.linspace(-1, 1, columns), indexing="ij")
    tau = np.full((rows, columns), rng.uniform(1.0, 2.0))
    field = ndimage.gaussian_filter(rng.standard_normal((rows, columns)), rng.uniform(6.0, 16.0) * rows / 128)
    tau += rng.uniform(0.05, 0.2) * field / max(field.std(), 1e-9)
    angle = math.radians(rng.uniform(-15.0, 15.0))  # spine: a darker (more attenuating) near-vertical band
    across = scaleColumn * math.cos(angle) - scaleRow * math.sin(angle) - rng.uniform(-0.6, 0.6)
    halfWidth, edge = rng.uniform(0.12, 0.25), rng.uniform(0.02, 0.06)
    tau += rng.uniform(0.15, 0.45) / (1.0 + np.exp(-(halfWidth - np.abs(across)) / edge))
    if rng.random() < 0.7:  # diaphragm / liver: dark below a curved edge
        angle = math.radians(rng.uniform(-20.0, 20.0))
        down = scaleRow * math.cos(angle) + scaleColumn * math.sin(angle)
        boundary = rng.uniform(0.2, 0.9) + rng.uniform(-0.3, 0.3) * scaleColumn ** 2
        tau += rng.uniform(0.3, 0.8) / (1.0 + np.exp(-(down - boundary) / rng.uniform(0.02, 0.08)))
    if rng.random() < 0.6:  # ribs: soft oblique stripes
        angle = math.radians(rng.uniform(-40.0, 40.0))
        along = scaleRow * math.cos(angle) + scaleColumn * math.sin(angle) + 0.3 * scaleColumn ** 2
        period = rng.uniform(0.2, 0.35)
        tau += rng.uniform(0.03, 0.08) * (0.5 + 0.5 * np.sin(2 * math.pi * along / period + rng.uniform(0, 6.3))) ** 2
    shadowSigma = rng.uniform(1.5, 4.0) * rows / 128  # the beating heart's edge is blurred
    tau += rng.uniform(0.001, 0.004) * ndimage.gaussian_filter(_heartChord(case, geometry), shadowSigma)
    tau += mu * chord
    tau = ndimage.gaussian_filter(tau, rng.uniform(*style["blurPx"]))
    photons = rng.uniform(*style["photons"])
    counts = rng.poisson(photons * np.exp(-(tau - np.median(tau))))
    logImage = np.log(np.maximum(counts, 0.5))
    low, high = np.percentile(logImage, [0.5, 99.5])
    return np.clip((logImage - low) / max(high - low, 1e-6), 0.0, 1.0).astype(np.float32)


def perturbVesselMap(vesselMap: np.ndarray, case: CoronaryCase, geometry: CArmGeometry,
                     rng: np.random.Generator) -> np.ndarray:
    """An imperfect vessel map, as a vesselness segmentation of a real angiogram would give.

    Small leaf branches (radius < :data:`DROP_RADIUS_MM` at their origin) are each dropped with probability
    :data:`DROP_PROBABILITY` (the map is re-rendered without them); with p = 0.2 a guiding catheter is added;
    then Gaussian blur (sigma 0-1 px), additive Gaussian noise (sigma 0-0.08) and a random sigmoid
    threshold (centre 0.2-0.6, gain 3-12) mixed in with weight 0-1.

    :param vesselMap: the clean map of ``case`` in ``geometry`` (:func:`renderVesselMap`).
    :returns: float32 (rows, columns) in [0, 1].
    """
    parents = {v.parent for v in case.vessels}
    kept = []
    for vessel in case.vessels:
        small = vessel.parent is not None and vessel.name not in parents and vessel.radiiMm[0] < DROP_RADIUS_MM
        if not (rng.random() < DROP_PROBABILITY and small):
            kept.append(vessel)
    image = np.asarray(vesselMap, dtype=np.float32)
    if len(kept) < len(case.vessels):
        image = renderVesselMap(CoronaryCase(case.tree, case.seed, kept, case.stenoses, case.heart), geometry)
    if rng.random() < 0.2 and case.vessels:
        catheter = _catheter(case, rng)
        image = np.maximum(image, _splat(geometry, catheter.pointsLps, catheter.radiiMm,
                                         np.zeros(len(catheter.pointsLps), np.int64), 1, "occupancy")[0])
    sigma = rng.uniform(0.0, 1.0)
    if sigma > 0.05:
        image = ndimage.gaussian_filter(image, sigma)
    image = image + rng.normal(0.0, rng.uniform(0.0, 0.08), size=image.shape)
    centre, gain, weight = rng.uniform(0.2, 0.6), rng.uniform(3.0, 12.0), rng.uniform(0.0, 1.0)

    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-gain * (x - centre)))

    thresholded = (sigmoid(image) - sigmoid(0.0)) / (sigmoid(1.0) - sigmoid(0.0))
    image = (1.0 - weight) * image + weight * thresholded
    return np.clip(image, 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------------------------------------
# Views
def _jitteredView(view: tuple, rng: np.random.Generator, rows: int, columns: int) -> CArmGeometry:
    primary = view[0] + rng.uniform(-VIEW_JITTER_DEG, VIEW_JITTER_DEG)
    secondary = view[1] + rng.uniform(-VIEW_JITTER_DEG, VIEW_JITTER_DEG)
    sid = rng.uniform(*SID_RANGE_MM)
    sod = rng.uniform(*SOD_RANGE_MM)
    fieldMm = FIELD_OF_VIEW_FACTOR * CUBE_SIDE_MM * sid / sod  # detector field of view
    return CArmGeometry(primary, secondary, sid, sod, (fieldMm / rows, fieldMm / columns), rows, columns)


def sampleViewPair(tree: str, rng: np.random.Generator, rows: int = 128,
                   columns: int = 128) -> tuple[CArmGeometry, CArmGeometry]:
    """Two different standard views of ``tree`` (:data:`STANDARD_VIEWS`) with +-8 deg jitter on each angle,
    SID 900-1200 mm, SOD 700-800 mm, pixel spacing ``1.11 * 128 * (SID/SOD) / rows`` (mm at the detector,
    so the 128 mm cube at the isocenter fills ~90 % of the image), redrawn until >= 30 deg apart."""
    views = STANDARD_VIEWS[tree]
    for _ in range(1000):
        first, second = rng.choice(len(views), size=2, replace=False)
        pair = (_jitteredView(views[first], rng, rows, columns), _jitteredView(views[second], rng, rows, columns))
        if viewSeparationDeg(*pair) >= MIN_VIEW_SEPARATION_DEG:
            return pair
    raise RuntimeError(f"no standard view pair of the {tree} tree is {MIN_VIEW_SEPARATION_DEG} deg apart")

"""CT-like phantoms of the proximal right femur (training data and atlas for FemurRegistration).

There is no CT collection in this project, so the femur CT volumes of the paper (Van Houtte et al. 2022,
"CT-data preprocessing and augmentation": femurs rotated to a reference frame, pose varied by +-10 deg of
flexion/extension, abduction/adduction and internal/external rotation, cropped around the femoral head, left
femurs flipped to right ones) are replaced by phantoms made here, deterministic by seed: a femur surface from
:mod:`FemurRegistrationDev.shapemodel`, posed, voxelized, and filled with tissue intensities.

Frame and grid
--------------
LPS millimetres of the canonical femur frame (see :mod:`FemurRegistrationLib.hipmeasures`: right femur, shaft
axis +z, medial +x, anterior -y, mean head centre at (+24, 0, +50)). The crop box is the runtime's
(:mod:`FemurRegistrationLib.grid`): 128 (x) x 112 (y) x 160 (z) mm centred on the origin; at 1 mm the arrays are
indexed [k, j, i] with shape :data:`GRID_SHAPE_KJI` = (160, 112, 128), identity direction, and the first voxel
centre at (-63.5, -55.5, -79.5).

Pose
----
Rotation about the femoral head centre, ``R = Rz(internal rotation) @ Ry(abduction) @ Rx(-flexion)``, each
uniform in +-:data:`POSE_ROTATION_RANGE_DEG`, then a translation uniform in +-:data:`POSE_TRANSLATION_RANGE_MM`
per axis. Positive flexion moves the knee anteriorly (-y), positive abduction laterally (-x for a right femur),
positive internal rotation turns the anterior surface medially (+x).

Tissues (HU, ranges of :meth:`TissueParameters.sample`)
-------------------------------------------------------
- cortical bone 1200-1800, shell thickness varying smoothly from 2-2.5 mm (head, neck, trochanters) to
  4.5-6 mm (diaphysis, from the lesser trochanter down to 50 mm below it), +-10 % smooth local variation;
- cancellous bone 150-400 with trabecular texture (band-pass filtered noise, wavelengths ~2-6 mm), denser in
  the head; fatty marrow (-80 to +10) fills the medullary canal from 20 mm below the lesser trochanter;
- soft tissue: muscle 35-55 with fat planes (-120 to -80, 4-12 % of the volume) from a smooth random field;
  the joint space between head and acetabulum is cartilage (~90);
- pelvis: an acetabular shell around the femoral head (opening lateral, anterior and inferior: inclination
  38-52 deg, anteversion 10-25 deg, half-angle of the cup 75-95 deg) with a subchondral plate, and the roots of
  the ilium, ischium and pubis; cortex 900-1400, cancellous 150-300. The pelvis is bone in ``hu`` only, never
  in the femur ``label``, so radiographs show the overlap real hips have;
- Gaussian image noise, standard deviation 5-20.
The values are textbook CT numbers (cortical bone > 1000 HU, cancellous bone a few hundred, muscle ~40,
fat ~ -100), not fitted to any data set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from FemurRegistrationLib.conventions import ATLAS_SPACING_MM
from FemurRegistrationLib.grid import gridIjkToLps, gridShapeKji
from FemurRegistrationLib.hipmeasures import FemurShapeModel, hipMeasurements, transformPoints

from .shapemodel import sampleFemur

__all__ = [
    "GRID_SHAPE_KJI",
    "GRID_SPACING_MM",
    "FemurCase",
    "TissueParameters",
    "makeAtlas",
    "makeCase",
    "poseMatrix",
    "synthesizeCt",
    "voxelize",
]

#: The crop box (runtime convention) at the phantoms' 1 mm: array shape [k, j, i] (160, 112, 128).
GRID_SPACING_MM = ATLAS_SPACING_MM
GRID_SHAPE_KJI = gridShapeKji(GRID_SPACING_MM)

POSE_ROTATION_RANGE_DEG = 10.0
POSE_TRANSLATION_RANGE_MM = 5.0

#: Second element of the seed sequences (``np.random.default_rng([seed, CASE_SEED_KEY])``).
CASE_SEED_KEY = 20220701
ATLAS_SEED_KEY = 20220702

HU_MIN, HU_MAX = -1024, 3071


def _gridAxesLps(ijkToLps: np.ndarray, shapeKji: tuple[int, int, int]) -> tuple[np.ndarray, ...]:
    """Broadcastable LPS coordinate arrays x (1, 1, I), y (1, J, 1), z (K, 1, 1) of an axis-aligned grid."""
    if not np.allclose(ijkToLps[:3, :3], np.diag(np.diag(ijkToLps[:3, :3]))):
        raise ValueError("the grid must have an axis-aligned direction matrix")
    k, j, i = shapeKji
    x = (ijkToLps[0, 3] + ijkToLps[0, 0] * np.arange(i, dtype=np.float32)).reshape(1, 1, i)
    y = (ijkToLps[1, 3] + ijkToLps[1, 1] * np.arange(j, dtype=np.float32)).reshape(1, j, 1)
    z = (ijkToLps[2, 3] + ijkToLps[2, 2] * np.arange(k, dtype=np.float32)).reshape(k, 1, 1)
    return x, y, z


# ------------------------------------------------------------------------------------------------------
# Voxelization


def voxelize(verticesLps: np.ndarray, triangles: np.ndarray, ijkToLps: np.ndarray,
             shapeKji: tuple[int, int, int]) -> np.ndarray:
    """Label (uint8, 1 inside) of a closed triangle mesh on a grid, voxel centres tested (VTK stencil).

    :param verticesLps: (V, 3) LPS mm; :param triangles: (F, 3) vertex indices (orientation does not matter).
    :param ijkToLps: 4x4 grid matrix (any direction); :param shapeKji: array shape [k, j, i].
    """
    from ReconCoreLib.surfaces import voxelizeSurface

    return voxelizeSurface(verticesLps, triangles, ijkToLps, shapeKji)


# ------------------------------------------------------------------------------------------------------
# Tissue intensities


@dataclass
class TissueParameters:
    """Per-case tissue values (HU, mm, deg); the defaults are the atlas's (middle of each range)."""

    corticalHu: float = 1500.0
    cancellousHu: float = 275.0
    marrowHu: float = -35.0
    proximalCortexMm: float = 2.25
    diaphysisCortexMm: float = 5.25
    muscleHu: float = 45.0
    fatHu: float = -100.0
    fatFraction: float = 0.08
    cartilageHu: float = 90.0
    jointSpaceMm: float = 2.25
    acetabulumInclinationDeg: float = 45.0
    acetabulumAnteversionDeg: float = 17.5
    acetabulumCoverageDeg: float = 85.0
    acetabulumWallMm: float = 12.0
    pelvisCortexHu: float = 1150.0
    pelvisCancellousHu: float = 225.0
    noiseHu: float = 12.0
    #: Jitter of the pelvic bone columns (mm, 9 values: ilium, ischium, pubis end points x, y, z).
    pelvisJitterMm: tuple = (0.0,) * 9

    RANGES: ClassVar[dict[str, tuple[float, float]]] = {
        "corticalHu": (1200.0, 1800.0), "cancellousHu": (150.0, 400.0), "marrowHu": (-80.0, 10.0),
        "proximalCortexMm": (2.0, 2.5), "diaphysisCortexMm": (4.5, 6.0), "muscleHu": (35.0, 55.0),
        "fatHu": (-120.0, -80.0), "fatFraction": (0.04, 0.12), "cartilageHu": (80.0, 100.0),
        "jointSpaceMm": (1.5, 3.0), "acetabulumInclinationDeg": (38.0, 52.0),
        "acetabulumAnteversionDeg": (10.0, 25.0), "acetabulumCoverageDeg": (75.0, 95.0),
        "acetabulumWallMm": (9.0, 15.0), "pelvisCortexHu": (900.0, 1400.0), "pelvisCancellousHu": (150.0, 300.0),
        "noiseHu": (5.0, 20.0),
    }

    @classmethod
    def sample(cls, rng: np.random.Generator, ranges: dict | None = None) -> TissueParameters:
        """Uniform draws in :attr:`RANGES`, or in ``ranges`` where it names a field (in field order), then the
        pelvis jitter (+-6 mm)."""
        ranges = {**cls.RANGES, **(ranges or {})}
        values = {name: float(rng.uniform(*ranges[name])) for name in
                  (item.name for item in fields(cls)) if name in ranges}
        return cls(**values, pelvisJitterMm=tuple(float(v) for v in rng.uniform(-6.0, 6.0, 9)))

    def asDict(self) -> dict:
        return {item.name: getattr(self, item.name) for item in fields(self)}


def _smoothstep(x, edge0: float, edge1: float):
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


class _SmoothField:
    """Gaussian random field with unit standard deviation and correlation length ~``sigmaMm``.

    Made on a coarse grid (half a sigma per node) and interpolated linearly, so it costs little whatever the sigma:
    :meth:`full` on the whole grid (separable interpolation), :meth:`at` at given voxels.
    """

    def __init__(self, rng: np.random.Generator, shapeKji: tuple[int, int, int], spacingMm: float, sigmaMm: float):
        from scipy import ndimage

        self.step = max(1.0, 0.5 * sigmaMm / spacingMm)  # voxels per coarse node
        self.shapeKji = tuple(shapeKji)
        coarseShape = tuple(int(math.ceil((n - 1) / self.step)) + 2 for n in shapeKji)
        coarse = ndimage.gaussian_filter(rng.standard_normal(coarseShape).astype(np.float32), 2.0, mode="wrap")
        self.coarse = coarse / (coarse.std() + 1e-12)

    def _weights(self, count: int, coarseCount: int) -> np.ndarray:
        position = np.arange(count) / self.step
        lower = np.floor(position).astype(int)
        fraction = (position - lower).astype(np.float32)
        weights = np.zeros((count, coarseCount), dtype=np.float32)
        weights[np.arange(count), lower] = 1.0 - fraction
        weights[np.arange(count), lower + 1] += fraction
        return weights

    def full(self) -> np.ndarray:
        wk, wj, wi = (self._weights(n, c) for n, c in zip(self.shapeKji, self.coarse.shape))
        field = np.einsum("abc,ic->abi", self.coarse, wi)
        field = np.einsum("abi,jb->aji", field, wj)
        return np.ascontiguousarray(np.einsum("aji,ka->kji", field, wk))

    def at(self, indices: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        from scipy import ndimage

        coordinates = np.stack([np.asarray(index, dtype=np.float32) / self.step for index in indices])
        return ndimage.map_coordinates(self.coarse, coordinates, order=1, mode="nearest")


def _bandPassNoise(rng: np.random.Generator, shapeKji: tuple[int, ...], spacingMm: float) -> np.ndarray:
    """Trabecular-like texture: difference of Gaussians of white noise (0.7 and 1.8 mm), unit std (float32)."""
    from scipy import ndimage

    white = rng.standard_normal(shapeKji, dtype=np.float32)
    fine = ndimage.gaussian_filter(white, max(0.5, 0.7 / spacingMm), mode="nearest")
    coarse = ndimage.gaussian_filter(white, max(0.8, 1.8 / spacingMm), mode="nearest")
    texture = fine - coarse
    return texture / (texture.std() + 1e-12)


def _boundingSlices(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    indices = np.nonzero(mask.any(axis=(1, 2)))[0], np.nonzero(mask.any(axis=(0, 2)))[0], np.nonzero(
        mask.any(axis=(0, 1)))[0]
    return tuple(slice(max(0, int(found[0]) - margin), min(size, int(found[-1]) + margin + 1))
                 for found, size in zip(indices, mask.shape))


def _insideDepthMm(mask: np.ndarray, spacingMm: float) -> np.ndarray:
    """Distance (mm) from each inside voxel centre to the mask surface (~half a voxel at the border), 0 outside."""
    from scipy import ndimage

    depth = np.zeros(mask.shape, dtype=np.float32)
    if not mask.any():
        return depth
    box = _boundingSlices(mask, 1)
    inner = ndimage.distance_transform_edt(np.pad(mask[box], 1), sampling=spacingMm)[1:-1, 1:-1, 1:-1]
    depth[box] = np.where(mask[box], inner - 0.5 * spacingMm, 0.0)
    return depth


def _capsuleInside(x, y, z, start, end, radius: float, scale=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Mask of points within ``radius`` of the segment start-end, distances measured after ``scale`` (x, y, z)."""
    start, end, scale = (np.asarray(v, dtype=np.float32) for v in (start, end, scale))
    axis = (end - start) * scale
    length2 = float(axis @ axis)
    px, py, pz = (x - start[0]) * scale[0], (y - start[1]) * scale[1], (z - start[2]) * scale[2]
    t = np.clip((px * axis[0] + py * axis[1] + pz * axis[2]) / length2, 0.0, 1.0)
    return (px - t * axis[0]) ** 2 + (py - t * axis[1]) ** 2 + (pz - t * axis[2]) ** 2 <= radius * radius


def _pelvisMask(x, y, z, shapeKji, headCentre: np.ndarray, headRadius: float, tissue: TissueParameters
                ) -> np.ndarray:
    """Pelvic bone mask of a right hip in LPS (outside the joint sphere; the femur is not yet excluded)."""
    inclination, anteversion = math.radians(tissue.acetabulumInclinationDeg), math.radians(
        tissue.acetabulumAnteversionDeg)
    # the cup opens laterally (-x), anteriorly (-y) and inferiorly (-z); its pole points into the pelvis
    opening = np.array([-math.sin(inclination) * math.cos(anteversion), -math.sin(anteversion),
                        -math.cos(inclination) * math.cos(anteversion)])
    inner = headRadius + tissue.jointSpaceMm
    outer = inner + tissue.acetabulumWallMm
    mask = np.zeros(shapeKji, dtype=bool)
    # roots of the ilium (up), ischium (down and back) and pubis (forwards, medially, down), relative to the head
    jitter = np.asarray(tissue.pelvisJitterMm, dtype=float).reshape(3, 3)
    parts = [(np.zeros(3), np.zeros(3), outer, None)]
    parts += [(np.array(start), np.array(end) + offset, radius, scale) for (start, end, radius, scale), offset in zip((
        ((4.0, 8.0, inner + 4.0), (14.0, 14.0, 90.0), 17.0, (1.6, 1.0, 1.0)),
        ((10.0, 14.0, -inner + 2.0), (22.0, 32.0, -80.0), 13.0, (1.0, 1.0, 1.0)),
        ((14.0, -10.0, -10.0), (70.0, -32.0, -28.0), 10.0, (1.0, 1.0, 1.0))), jitter)]
    for start, end, radius, scale in parts:
        start, end = headCentre + start, headCentre + end
        low, high = np.minimum(start, end) - radius, np.maximum(start, end) + radius
        box = []
        for axis, coordinate in enumerate((z.ravel(), y.ravel(), x.ravel())):
            inside = np.nonzero((coordinate >= low[2 - axis]) & (coordinate <= high[2 - axis]))[0]
            box.append(slice(int(inside[0]), int(inside[-1]) + 1) if len(inside) else slice(0, 0))
        bz, by, bx = z[box[0]], y[:, box[1]], x[:, :, box[2]]
        dx, dy, dz = bx - headCentre[0], by - headCentre[1], bz - headCentre[2]
        distance = np.sqrt(dx * dx + dy * dy + dz * dz)
        if scale is None:  # the cup: a thick spherical cap about the pole, opposite the opening
            cosine = -(dx * opening[0] + dy * opening[1] + dz * opening[2]) / np.maximum(distance, 1e-3)
            part = (distance <= outer) & (cosine >= math.cos(math.radians(tissue.acetabulumCoverageDeg)))
        else:
            part = _capsuleInside(bx, by, bz, start, end, radius, scale)
        mask[box[0], box[1], box[2]] |= part & (distance > inner)
    return mask


def _jointDistance(x, y, z, headCentre: np.ndarray, indices) -> np.ndarray:
    """Distance (mm) from the head centre of the voxels ``indices`` ([k, j, i] arrays)."""
    k, j, i = indices
    return np.sqrt((x.ravel()[i] - headCentre[0]) ** 2 + (y.ravel()[j] - headCentre[1]) ** 2
                   + (z.ravel()[k] - headCentre[2]) ** 2)


def synthesizeCt(label: np.ndarray, rng: np.random.Generator, ijkToLps: np.ndarray, measurements: dict,
                 tissue: TissueParameters | None = None) -> np.ndarray:
    """CT numbers (int16 HU, [k, j, i]) for a femur label on an axis-aligned isotropic grid.

    :param label: femur label (nonzero inside).
    :param rng: source of all texture and noise.
    :param ijkToLps: grid matrix; its spacing sets the texture scale in mm.
    :param measurements: :func:`~FemurRegistrationLib.hipmeasures.hipMeasurements` of the femur in this frame
        (head centre and diameter place the acetabulum; shaft axis and lesser trochanter grade the cortex).
    :param tissue: tissue values (default: :class:`TissueParameters` drawn from ``rng``).
    """
    from scipy import ndimage
    from scipy.special import erfinv

    if tissue is None:
        tissue = TissueParameters.sample(rng)
    shapeKji = label.shape
    spacing = float(abs(ijkToLps[0, 0]))
    x, y, z = _gridAxesLps(ijkToLps, shapeKji)
    femur = label > 0
    headCentre = np.asarray(measurements["head_centre_lps"], dtype=float)
    headRadius = 0.5 * float(measurements["head_diameter_mm"])
    joint = headRadius + tissue.jointSpaceMm
    shaft = np.asarray(measurements["shaft_axis_direction"], dtype=float)
    lesser = np.asarray(measurements["lesser_trochanter_lps"], dtype=float)

    # soft tissue: muscle with fat planes (where a smooth field crosses zero), slow muscle density variation
    planes = _SmoothField(rng, shapeKji, spacing, 7.0).full()
    halfWidth = math.sqrt(2.0) * float(erfinv(tissue.fatFraction))
    fat = 1.0 - _smoothstep(np.abs(planes), halfWidth, halfWidth + 0.12)
    hu = tissue.muscleHu + 6.0 * _SmoothField(rng, shapeKji, spacing, 15.0).full()
    hu += fat * (tissue.fatHu - hu)
    texture = _bandPassNoise(rng, shapeKji, spacing)
    thicknessVariation = _SmoothField(rng, shapeKji, spacing, 12.0)

    # cartilage in the joint space, pelvis around it (never inside the femur)
    box = tuple(slice(max(0, int(math.floor(c - joint - 1))), int(math.ceil(c + joint + 2)))
                for c in transformPoints(np.linalg.inv(ijkToLps), headCentre[None])[0][::-1])
    near = np.zeros(shapeKji, dtype=bool)
    near[box] = True
    indices = np.nonzero(near & ~femur)
    cartilage = _jointDistance(x, y, z, headCentre, indices) <= joint
    hu[tuple(index[cartilage] for index in indices)] = tissue.cartilageHu

    pelvis = _pelvisMask(x, y, z, shapeKji, headCentre, headRadius, tissue)
    pelvis &= ~ndimage.binary_dilation(femur, iterations=1)
    indices = np.nonzero(pelvis)
    if len(indices[0]):
        distance = _jointDistance(x, y, z, headCentre, indices)
        depth = _insideDepthMm(pelvis, spacing)[indices]
        subchondral = _smoothstep(-(distance - joint), -3.0, -1.5)
        cortexFraction = np.maximum(np.clip(1.8 - depth + 0.5, 0.0, 1.0), subchondral)
        cancellous = tissue.pelvisCancellousHu * (1.0 + 0.35 * texture[indices])
        hu[indices] = cortexFraction * tissue.pelvisCortexHu + (1.0 - cortexFraction) * cancellous

    # femur: cortex graded along the shaft, cancellous bone with texture, marrow in the canal
    indices = np.nonzero(femur)
    if len(indices[0]):
        k, j, i = indices
        depth = _insideDepthMm(femur, spacing)[indices]
        below = ((lesser[0] - x.ravel()[i]) * shaft[0] + (lesser[1] - y.ravel()[j]) * shaft[1]
                 + (lesser[2] - z.ravel()[k]) * shaft[2])
        thickness = (tissue.proximalCortexMm + (tissue.diaphysisCortexMm - tissue.proximalCortexMm)
                     * _smoothstep(below, 0.0, 50.0)) * (1.0 + 0.1 * thicknessVariation.at(indices))
        cortexFraction = np.clip(thickness - depth + 0.5, 0.0, 1.0)
        local = texture[indices]
        headBoost = 1.0 + 0.35 * (1.0 - _smoothstep(_jointDistance(x, y, z, headCentre, indices), 0.4 * headRadius,
                                                     1.1 * headRadius))
        cancellous = tissue.cancellousHu * headBoost * (1.0 + 0.35 * local)
        marrow = _smoothstep(below, 20.0, 60.0) * _smoothstep(depth - thickness, 1.0, 4.0)
        interior = cancellous + marrow * (tissue.marrowHu + 15.0 * local - cancellous)
        cortical = tissue.corticalHu * (1.0 + 0.04 * local)
        hu[indices] = cortexFraction * cortical + (1.0 - cortexFraction) * interior

    hu += rng.normal(0.0, tissue.noiseHu, shapeKji).astype(np.float32)
    return np.clip(np.rint(hu), HU_MIN, HU_MAX).astype(np.int16)


# ------------------------------------------------------------------------------------------------------
# Cases


@dataclass
class FemurCase:
    """One phantom.

    :ivar hu: int16 [k, j, i] CT numbers; :ivar label: uint8 [k, j, i] femur (1) only;
    :ivar ijkToLps: 4x4 grid matrix; :ivar verticesLps: (V, 3) posed surface, LPS mm; :ivar triangles: (F, 3);
    :ivar measurements: :func:`hipMeasurements` of the posed surface (the truth);
    :ivar parameters: PCA weights, targets, pose angles (deg) and translation (mm), tissue values.
    """

    hu: np.ndarray
    label: np.ndarray
    ijkToLps: np.ndarray
    verticesLps: np.ndarray
    triangles: np.ndarray
    measurements: dict
    parameters: dict = field(default_factory=dict)


def poseMatrix(flexionDeg: float, abductionDeg: float, internalRotationDeg: float, centreLps,
               translationMm=(0.0, 0.0, 0.0)) -> np.ndarray:
    """4x4 pose of a right femur about ``centreLps`` (head centre): see the module docstring for the signs."""

    def cosSin(angleDeg: float) -> tuple[float, float]:
        return math.cos(math.radians(angleDeg)), math.sin(math.radians(angleDeg))

    c, s = cosSin(-flexionDeg)
    rotationX = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    c, s = cosSin(abductionDeg)
    rotationY = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    c, s = cosSin(internalRotationDeg)
    rotationZ = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    rotationMatrix = rotationZ @ rotationY @ rotationX
    centre = np.asarray(centreLps, dtype=float)
    matrix = np.eye(4)
    matrix[:3, :3] = rotationMatrix
    matrix[:3, 3] = centre - rotationMatrix @ centre + np.asarray(translationMm, dtype=float)
    return matrix


def _finishCase(model: FemurShapeModel, vertices: np.ndarray, rng: np.random.Generator, tissue: TissueParameters,
                spacingMm: float, parameters: dict) -> FemurCase:
    ijkToLps = gridIjkToLps(spacingMm)
    shapeKji = gridShapeKji(spacingMm)
    measurements = hipMeasurements(vertices, model)
    label = voxelize(vertices, model.triangles, ijkToLps, shapeKji)
    hu = synthesizeCt(label, rng, ijkToLps, measurements, tissue)
    parameters["tissue"] = tissue.asDict()
    return FemurCase(hu, label, ijkToLps, vertices, model.triangles.copy(), measurements, parameters)


def makeCase(seed: int, pose: bool = True, spacingMm: float = GRID_SPACING_MM,
             model: FemurShapeModel | None = None, outOfDistribution=()) -> FemurCase:
    """A random phantom, deterministic by ``seed`` (``np.random.default_rng([seed, CASE_SEED_KEY])``).

    Shape (:meth:`FemurShapeModel.sample`), then pose (if ``pose``), tissue values, texture and noise, in this
    order from one generator. ``outOfDistribution``: the parts of :data:`.outofdistribution.PARTS` ("shape": the
    femur stretched, "pose", "tissue") drawn outside training's ranges (the measurements are the stretched femur's).
    """
    from . import outofdistribution

    model = model or FemurShapeModel.load()
    rng = np.random.default_rng([int(seed), CASE_SEED_KEY])
    shape = sampleFemur(model, rng)
    parameters = dict(shape.parameters)
    vertices = shape.verticesLps
    headCentre = hipMeasurements(vertices, model)["head_centre_lps"]
    if "shape" in outOfDistribution:
        vertices, scales = outofdistribution.stretch(vertices, headCentre, rng)
        parameters.update(scales)
    if pose and "pose" in outOfDistribution:
        angles, translation = outofdistribution.poseAngles(rng), np.zeros(3)
    elif pose:
        angles = rng.uniform(-POSE_ROTATION_RANGE_DEG, POSE_ROTATION_RANGE_DEG, 3)
        translation = rng.uniform(-POSE_TRANSLATION_RANGE_MM, POSE_TRANSLATION_RANGE_MM, 3)
    else:
        angles, translation = np.zeros(3), np.zeros(3)
    matrix = poseMatrix(*angles, headCentre, translation)
    parameters.update({"flexion_deg": float(angles[0]), "abduction_deg": float(angles[1]),
                       "internal_rotation_deg": float(angles[2]), "translation_mm": translation.copy(),
                       "pose_matrix": matrix, "seed": int(seed)})
    tissue = TissueParameters.sample(rng, outofdistribution.TISSUE_RANGES if "tissue" in outOfDistribution else None)
    return _finishCase(model, transformPoints(matrix, vertices), rng, tissue, spacingMm, parameters)


def makeAtlas(spacingMm: float = GRID_SPACING_MM, model: FemurShapeModel | None = None) -> FemurCase:
    """The atlas: mean shape (no extra variation, no pose), default tissue values, fixed texture seed."""
    model = model or FemurShapeModel.load()
    rng = np.random.default_rng([0, ATLAS_SEED_KEY])
    parameters = {"pca_weights_sd": np.zeros(model.numberOfModes), "flexion_deg": 0.0, "abduction_deg": 0.0,
                  "internal_rotation_deg": 0.0, "translation_mm": np.zeros(3), "pose_matrix": np.eye(4)}
    return _finishCase(model, model.meanVerticesLps.copy(), rng, TissueParameters(), spacingMm, parameters)

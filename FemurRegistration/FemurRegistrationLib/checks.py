"""Checks and readouts of a registration: image agreement, outlines on the radiographs, agreement with a reference,
and the plausibility gates of the result (:func:`gateResult`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ReconCoreLib.xraygeometry import CArmGeometry

from .conventions import ATLAS_SPACING_MM, IMAGE_SIZE, NETWORK_SPACING_MM, RAY_RADIUS_MM
from .grid import boxGrid

#: The projected outline is computed on pixels of about this size (detector mm: finer than the 2 mm grid of the
#: label it projects, so nothing is lost), then interpolated to the radiograph: the same at any pixel count.
OUTLINE_PIXEL_MM = 1.6
OUTLINE_SAMPLES_PER_RAY = 96
#: Output plausibility gates (readout key, (low, high), unit, what). A value outside is a failed reconstruction
#: far more likely than a patient:
#: - head diameter: adult femoral heads measure about 40-55 mm (means of about 43-45 mm in women and 48-50 mm in men,
#:   SD about 3 mm, in CT and radiographic series); 35 and 60 mm lie beyond 3 SD of either. The atlas's head is
#:   45.9 mm, the held-out phantoms' 43-55 mm.
#: - neck-shaft angle: about 125-130 deg in adults (SD about 5 deg), below 120 deg coxa vara and above 140 deg coxa
#:   valga; 100 and 160 deg lie beyond severe deformity of an adult hip. The atlas has 126.9 deg.
#: - femur volume inside the 128 x 112 x 160 mm crop box: the atlas has 182,600 mm3, the held-out phantoms
#:   175,000-231,000 mm3; the box holds the proximal 160 mm, so the volume scales about with the bone's width squared:
#:   a femur 0.7 to 1.4 times as wide as the atlas gives 90,000-350,000 mm3.
RESULT_GATES = (
    ("head_diameter_mm", (35.0, 60.0), "mm", "femoral head diameter"),
    ("neck_shaft_angle_deg", (100.0, 160.0), "deg", "neck-shaft angle"),
    ("femur_volume_mm3", (90_000.0, 350_000.0), "mm3", "femur volume in the crop box"),
)
#: Image agreement: NCC of each radiograph with the registered femur's DRR inside its mask. The bundled model gives
#: 0.02-0.58 (AP) and 0.08-0.79 (lateral) on 24 held-out phantom pairs with their true masks (orthogonal and +-30 deg
#: views), 0.17-0.49 and 0.46-0.68 on the samples; a lateral view whose pixel spacing was doubled gave -0.09 and -0.25.
#: Below -0.05 the registered femur is anti-correlated with the radiograph's bone pattern: a failed registration.
MIN_NCC = -0.05


def maskedNcc(image: np.ndarray, other: np.ndarray, mask: np.ndarray) -> float:
    """Normalized cross-correlation of two images over the pixels where ``mask`` is set (0 when flat)."""
    inside = np.asarray(mask) > 0
    first = np.asarray(image, float)[inside]
    second = np.asarray(other, float)[inside]
    first, second = first - first.mean(), second - second.mean()
    denominator = math.sqrt(float((first ** 2).sum() * (second ** 2).sum()))
    return float((first * second).sum() / denominator) if denominator > 0 else 0.0


def femurDrrs(hu: np.ndarray, label: np.ndarray, geometries) -> np.ndarray:
    """DRRs [N, rows, cols] of the femur only (relative attenuation inside the label) of a 1 mm box volume."""
    from .drr import downsample, projectVolume, relativeAttenuation

    factor = int(NETWORK_SPACING_MM / ATLAS_SPACING_MM)
    femur = downsample(relativeAttenuation(hu) * (label > 0), factor)
    ijkToLps, _ = boxGrid(NETWORK_SPACING_MM)
    return projectVolume(femur, ijkToLps, geometries, samplesPerRay=IMAGE_SIZE)


def projectedOutline(label: np.ndarray, ijkToLps: np.ndarray, geometry: CArmGeometry) -> np.ndarray:
    """Silhouette (uint8 0/1, geometry rows x columns) of a label volume (1 mm box grid, placed by ``ijkToLps``).

    Projected on pixels of about :data:`OUTLINE_PIXEL_MM` over the same field of view, then interpolated.
    """
    import torch
    from scipy.ndimage import map_coordinates

    from ReconCoreLib.projector import ConeBeamProjector, ViewGeometry, lpsToGridMatrix

    from .drr import downsample

    factors = [max(1, int(round(OUTLINE_PIXEL_MM / spacing))) for spacing in geometry.pixelSpacingMm]
    small = geometry.withImageSize(math.ceil(geometry.rows / factors[0]), math.ceil(geometry.columns / factors[1]))
    volume = downsample(np.asarray(label, np.float32), 2)
    coarseIjkToLps = np.asarray(ijkToLps, float) @ np.diag([2.0, 2.0, 2.0, 1.0])
    coarseIjkToLps[:3, 3] += np.asarray(ijkToLps, float)[:3, :3] @ np.full(3, 0.5)  # block centres
    center = coarseIjkToLps @ np.append((np.array(volume.shape[::-1]) - 1) / 2.0, 1.0)
    projector = ConeBeamProjector(small.rows, small.columns, OUTLINE_SAMPLES_PER_RAY, "max")
    views = ViewGeometry.fromCArm([small], center[:3], RAY_RADIUS_MM)
    lpsToGrid = torch.as_tensor(lpsToGridMatrix(coarseIjkToLps, volume.shape), dtype=torch.float32)[None]
    with torch.no_grad():
        silhouette = projector(torch.as_tensor(volume)[None, None], lpsToGrid, *views.tensors())[0, 0].numpy()
    scaleRow = geometry.pixelSpacingMm[0] / small.pixelSpacingMm[0]
    scaleColumn = geometry.pixelSpacingMm[1] / small.pixelSpacingMm[1]
    rows = (np.arange(geometry.rows) - (geometry.rows - 1) / 2.0) * scaleRow + (small.rows - 1) / 2.0
    columns = (np.arange(geometry.columns) - (geometry.columns - 1) / 2.0) * scaleColumn + (small.columns - 1) / 2.0
    grid = np.meshgrid(rows, columns, indexing="ij")
    full = map_coordinates(silhouette, grid, order=1, mode="constant", cval=0.0)
    return (full >= 0.5).astype(np.uint8)


def resampleLabel(label: np.ndarray, ijkToRas: np.ndarray, shapeKji: Sequence[int],
                  targetIjkToRas: np.ndarray) -> np.ndarray:
    """A label volume resampled (linear, >= 0.5) onto another grid (``shapeKji``, ``targetIjkToRas``): bool."""
    import torch
    import torch.nn.functional as F

    from ReconCoreLib.projector import gridPointsLps, lpsToGridMatrix

    if tuple(np.shape(label)) == tuple(shapeKji) and np.allclose(ijkToRas, targetIjkToRas, atol=1e-6):
        return np.asarray(label) > 0  # same grid: nothing to interpolate
    source = torch.as_tensor(np.asarray(label, np.float32))[None, None]
    toGrid = torch.as_tensor(lpsToGridMatrix(ijkToRas, label.shape) @ np.asarray(targetIjkToRas, float),
                             dtype=torch.float32)  # target ijk -> source grid_sample coordinates
    result = np.zeros(tuple(shapeKji), dtype=bool)
    depth, height, width = shapeKji
    slab = max(1, int(4_000_000 // max(height * width, 1)))
    with torch.no_grad():
        for first in range(0, depth, slab):
            count = min(slab, depth - first)
            ijkToFirst = np.eye(4)
            ijkToFirst[2, 3] = first
            ijk = gridPointsLps(ijkToFirst, (count, height, width))  # target voxel indices (i, j, k)
            grid = ijk @ toGrid[:3, :3].T + toGrid[:3, 3]
            values = F.grid_sample(source, grid[None], mode="bilinear", padding_mode="zeros", align_corners=True)
            result[first:first + count] = values[0, 0].numpy() >= 0.5
    return result


def referenceMetrics(label: np.ndarray, ijkToRas: np.ndarray, reference: np.ndarray,
                     referenceIjkToRas: np.ndarray) -> dict:
    """Dice, Jaccard, ASSD and HD95 (mm) of the registered label against a reference, on the reference's grid."""
    from ReconCoreLib.metrics import overlapMetrics, spacingKjiFromIjkToRas, surfaceMetrics

    truth = np.asarray(reference) > 0
    if not truth.any():
        raise ValueError("the reference segmentation is empty")
    predicted = resampleLabel(label, ijkToRas, truth.shape, referenceIjkToRas)
    metrics = overlapMetrics(predicted, truth)
    if predicted.any():
        union = np.argwhere(predicted | truth)
        low = np.maximum(union.min(0) - 3, 0)
        high = union.max(0) + 4
        crop = tuple(slice(a, b) for a, b in zip(low, high))  # surface distances do not change by cropping
        metrics.update(surfaceMetrics(predicted[crop], truth[crop], spacingKjiFromIjkToRas(referenceIjkToRas)))
    return metrics


def gateResult(readouts) -> None:
    """Output plausibility gates of a registration's readouts (:data:`RESULT_GATES`, then :data:`MIN_NCC`).

    A value outside its range stops the run (``ImplausibleResult``, a ``ValueError``), or is recorded as a failed
    check on ``readouts`` when the user keeps implausible results.
    """
    from ReconCoreLib.plausibility import gate

    values = readouts.values
    for key, (low, high), unit, what in RESULT_GATES:
        if key in values:
            gate(readouts, key, values[key], low, high, unit, what, "registered femur")
    for key, view in (("ncc_ap", "AP"), ("ncc_lat", "lateral")):
        if key in values:
            gate(readouts, key, values[key], MIN_NCC, 1.0, "",
                 f"agreement of the {view} radiograph with the registered femur's DRR inside the mask (NCC)",
                 "registered femur")

"""Checks and readouts of a registration: image agreement, outlines on the radiographs, agreement with a reference.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ReconCoreLib.xraygeometry import CArmGeometry

from .conventions import ATLAS_SPACING_MM, IMAGE_SIZE, NETWORK_SPACING_MM, RAY_RADIUS_MM
from .grid import boxGrid

#: The projected outline is computed at most this many pixels wide, then interpolated to the radiograph.
OUTLINE_MAX_PIXELS = 128
OUTLINE_SAMPLES_PER_RAY = 96


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

    Projected at most :data:`OUTLINE_MAX_PIXELS` wide with the same field of view, then interpolated.
    """
    import torch
    from scipy.ndimage import map_coordinates

    from ReconCoreLib.projector import ConeBeamProjector, ViewGeometry, lpsToGridMatrix

    from .drr import downsample

    factor = max(1, math.ceil(max(geometry.rows, geometry.columns) / OUTLINE_MAX_PIXELS))
    small = geometry.withImageSize(math.ceil(geometry.rows / factor), math.ceil(geometry.columns / factor))
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

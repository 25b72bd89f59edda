"""Left femurs are registered as mirrored right femurs: the working frame is the patient's LPS frame with x -> -x
for a left femur. These maps between the two frames need numpy only (no torch), so reading and checking the
radiographs works before torch is installed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

MIRROR = np.diag([-1.0, 1.0, 1.0, 1.0])


def mirrorGeometry(geometry):
    """The geometry that sees the x-mirrored patient: primary angle negated; the image's columns flip."""
    return replace(geometry, primaryAngleDeg=-geometry.primaryAngleDeg)


def mirrorIjkToLps(ijkToLps: np.ndarray, shapeKji: Sequence[int]) -> np.ndarray:
    """IJK -> LPS of the x-mirrored copy of a volume stored with its i axis reversed (``array[..., ::-1]``).

    The result keeps a right-handed grid: voxel i of the reversed array is voxel n-1-i of the original, whose
    position x -> -x.
    """
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1.0, shapeKji[2] - 1
    return MIRROR @ np.asarray(ijkToLps, dtype=float) @ flip


def toPatient(points: np.ndarray, side: str) -> np.ndarray:
    """Working-frame LPS points -> patient LPS (mirror x for a left femur)."""
    points = np.array(points, dtype=float)
    if side == "left":
        points[..., 0] *= -1.0
    return points


def volumeToPatient(array: np.ndarray, ijkToLps: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    if side == "left":
        return np.ascontiguousarray(array[..., ::-1]), mirrorIjkToLps(ijkToLps, array.shape)
    return array, np.asarray(ijkToLps, dtype=float)

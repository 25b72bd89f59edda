"""The crop box grids of FemurRegistration (LPS mm, arrays indexed [k, j, i], identity direction).

The box :data:`~.conventions.BOX_SIZE_MM` = 128 (x) x 112 (y) x 160 (z) mm is centred on the origin of the box frame
(the pipeline places that origin on the femur: :mod:`.placement`); at 1 mm its
arrays have shape (160, 112, 128) and the first voxel centre lies at (-63.5, -55.5, -79.5).
"""

from __future__ import annotations

import numpy as np

from .conventions import ATLAS_SPACING_MM, BOX_SIZE_MM


def gridShapeKji(spacingMm: float = ATLAS_SPACING_MM) -> tuple[int, int, int]:
    """Array shape [k, j, i] of the crop box at an isotropic spacing (mm) that divides it."""
    counts = [size / spacingMm for size in BOX_SIZE_MM]
    if any(abs(count - round(count)) > 1e-6 for count in counts):
        raise ValueError(f"spacing {spacingMm} mm does not divide the box {BOX_SIZE_MM} mm")
    return int(round(counts[2])), int(round(counts[1])), int(round(counts[0]))


def gridIjkToLps(spacingMm: float = ATLAS_SPACING_MM) -> np.ndarray:
    """4x4 IJK-to-LPS matrix of the crop box grid: identity direction, voxel centres, box centred on 0."""
    gridShapeKji(spacingMm)
    matrix = np.diag([spacingMm, spacingMm, spacingMm, 1.0])
    matrix[:3, 3] = -0.5 * np.asarray(BOX_SIZE_MM) + 0.5 * spacingMm
    return matrix


def boxGrid(spacingMm: float) -> tuple[np.ndarray, tuple[int, int, int]]:
    """(ijkToLps, shape [k, j, i]) of the crop box at ``spacingMm``."""
    return gridIjkToLps(spacingMm), gridShapeKji(spacingMm)

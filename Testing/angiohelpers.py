"""AngioRecon results compared in patient space: the cube is placed on the tree, so a result and a label on the
isocenter's cube lie on cubes of the same 2 mm lattice shifted by whole voxels."""

import numpy as np

from AngioReconLib.conventions import CUBE_SIDE_MM, GRID_SIZE
from ReconCoreLib.xraygeometry import LPS_TO_RAS

VOXEL_MM = CUBE_SIDE_MM / GRID_SIZE
#: LPS of the isocenter cube's first voxel centre (reprojection.cubeIjkToLps, without importing torch).
FIRST_VOXEL_LPS = -CUBE_SIDE_MM / 2 + VOXEL_MM / 2


def voxelOffset(ijkToRas: np.ndarray) -> np.ndarray:
    """(i, j, k) whole-voxel offset of a result's cube from the isocenter's cube."""
    shift = (LPS_TO_RAS @ ijkToRas)[:3, 3] - FIRST_VOXEL_LPS  # LPS_TO_RAS is its own inverse
    offset = np.rint(shift / VOXEL_MM).astype(int)
    assert np.allclose(offset * VOXEL_MM, shift), "the cube left the isocenter's voxel lattice"
    return offset


def onIsocenterCube(array: np.ndarray, ijkToRas: np.ndarray) -> np.ndarray:
    """A cube array [k, j, i] placed by ``ijkToRas`` on the isocenter's cube (0 where it does not reach)."""
    i, j, k = voxelOffset(ijkToRas)
    placed = np.zeros_like(array)
    size = GRID_SIZE
    target = tuple(slice(max(o, 0), min(size + o, size)) for o in (k, j, i))
    source = tuple(slice(max(-o, 0), min(size - o, size)) for o in (k, j, i))
    placed[target] = array[source]
    return placed


"""AngioRecon results compared in patient space: the cube is placed on the tree (``cubeCentreLps``), so a result and a
label on the isocenter's cube lie on cubes of the same 2 mm lattice shifted by whole voxels."""

import numpy as np

from AngioReconLib.conventions import CUBE_SIDE_MM, GRID_SIZE


def onIsocenterCube(array: np.ndarray, cubeCentreLps) -> np.ndarray:
    """A cube array [k, j, i] of a cube centred at ``cubeCentreLps`` placed on the isocenter's cube (0 where it does
    not reach)."""
    offset = np.asarray(cubeCentreLps, dtype=float) / (CUBE_SIDE_MM / GRID_SIZE)
    assert np.allclose(offset, np.rint(offset)), "the cube left the isocenter's voxel lattice"
    i, j, k = np.rint(offset).astype(int)
    placed = np.zeros_like(array)
    size = GRID_SIZE
    target = tuple(slice(max(o, 0), min(size + o, size)) for o in (k, j, i))
    source = tuple(slice(max(-o, 0), min(size - o, size)) for o in (k, j, i))
    placed[target] = array[source]
    return placed

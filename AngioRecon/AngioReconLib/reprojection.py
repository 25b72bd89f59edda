"""The reconstruction cube and the re-projection checks of AngioRecon.

The cube (:func:`~.placement.cubeIjkToLps`): :data:`~.conventions.GRID_SIZE`^3 voxels of side
:data:`~.conventions.CUBE_SIDE_MM`, axis-aligned in LPS, in its own frame centred at the origin (the pipeline places
it on the tree); arrays indexed [k, j, i].
The checks use the shared cone-beam projector: a volume's silhouette in a view (max along each ray) against that
view's vessel map (re-projection Dice), and the visual hull of the two vessel maps as the baseline.
"""

from __future__ import annotations

import numpy as np
import torch

from ReconCoreLib.projector import ConeBeamProjector, ViewGeometry, gridPointsLps, lpsToGridMatrix

from .conventions import CUBE_SIDE_MM, GRID_SIZE, IMAGE_SIZE
from .placement import cubeIjkToLps


class Reprojector(torch.nn.Module):
    """Occupancy [B, 1, 64^3] in the cube -> silhouettes [B, 1, 128, 128] in given views (max along each ray).

    The shared cone-beam projector on the reconstruction cube: the 2D weak supervision in training and the
    re-projection checks of the pipeline both use it.
    """

    def __init__(self, samplesPerRay: int = 2 * GRID_SIZE):
        super().__init__()
        self.projector = ConeBeamProjector(IMAGE_SIZE, IMAGE_SIZE, samplesPerRay, "max")
        lpsToGrid = lpsToGridMatrix(cubeIjkToLps(), (GRID_SIZE,) * 3)
        self.register_buffer("lpsToGrid", torch.as_tensor(lpsToGrid, dtype=torch.float32)[None], persistent=False)

    def forward(self, occupancy: torch.Tensor, geometries) -> torch.Tensor:
        """One occupancy volume per geometry (CArmGeometry at 128 x 128)."""
        views = ViewGeometry.fromCArm(geometries, radiusMm=CUBE_SIDE_MM * 0.87, device=occupancy.device)
        return self.projector(occupancy, self.lpsToGrid.expand(len(geometries), 4, 4), *views.tensors())


def visualHull(maps: np.ndarray, geometries) -> np.ndarray:
    """Voxels of the cube whose projections fall inside both silhouettes (maps >= 0.5): float 0/1 [k, j, i]."""
    from ReconCoreLib.projector import sampleImagesAtPoints

    points = gridPointsLps(cubeIjkToLps(), (GRID_SIZE,) * 3).reshape(-1, 3)
    masks = torch.as_tensor((np.asarray(maps) >= 0.5).astype(np.float32))[:, None]
    projections = torch.as_tensor(np.stack([g.projectionMatrixLps() for g in geometries]), dtype=torch.float32)
    inside = sampleImagesAtPoints(masks, projections, points)[:, 0] >= 0.5
    return (inside[0] & inside[1]).reshape((GRID_SIZE,) * 3).numpy().astype(np.float32)


def reprojectionDice(volume: np.ndarray, maps, geometries) -> list[float]:
    """Dice between each view's vessel map (>= 0.5) and the silhouette of ``volume`` (>= 0.5) in that view."""
    return reprojectionDices([volume], maps, geometries)[0]


def reprojectionDices(volumes, maps, geometries) -> list[list[float]]:
    """:func:`reprojectionDice` of several volumes, projected together (one channel each: the rays are made once)."""
    from ReconCoreLib.metrics import overlapMetrics

    binary = torch.as_tensor(np.stack([np.asarray(volume) >= 0.5 for volume in volumes]).astype(np.float32))[None]
    with torch.no_grad():
        silhouettes = Reprojector()(binary.expand(len(geometries), *binary.shape[1:]).contiguous(), geometries)
    return [[overlapMetrics(silhouettes[view, channel].numpy() >= 0.5, np.asarray(maps[view]) >= 0.5)["dice"]
             for view in range(len(geometries))] for channel in range(len(volumes))]

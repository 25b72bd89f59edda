"""The registration's maps and their geometry inputs (torch, LPS mm): what the network's output means.

The map from a patient point ``p`` to the atlas is ``T(p + u(p))``: ``u`` the displacement on the field grid,
``T`` the similarity (:func:`similarityMatrix`). Its inverse, used to move atlas landmarks and surfaces into the
patient, is ``q -> T^-1(q) + u_inv(T^-1(q))``. Fields are [B, 3 (x, y, z mm), D, H, W] on a grid placed by its
``lpsToGrid`` (``grid_sample``-normalized, :func:`ReconCoreLib.projector.lpsToGridMatrix`). Each view is given to
the network as 14 numbers (:func:`viewParameters`). The network itself (a TorchScript file at run time) is built
with these same functions by the development package.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ReconCoreLib.projector import ViewGeometry

from .conventions import RAY_RADIUS_MM

#: Numbers per view given to the network: source, pixel (0, 0) centre, column step, row step (LPS mm), near and far
#: sample distances (mm).
VIEW_PARAMETERS = 14


def viewParameters(geometries: Sequence, centerLps: Sequence[float] = (0.0, 0.0, 0.0),
                   radiusMm: float = RAY_RADIUS_MM) -> np.ndarray:
    """[N, 14] float32 view rows (LPS mm) of :class:`~ReconCoreLib.xraygeometry.CArmGeometry` objects."""
    views = ViewGeometry.fromCArm(geometries, centerLps, radiusMm, dtype=torch.float64)
    return torch.cat([views.source, views.pixelOrigin, views.columnStep, views.rowStep,
                      views.near[:, None], views.far[:, None]], 1).numpy().astype(np.float32)


def framedViewParameters(geometries: Sequence, frame: np.ndarray, radiusMm: float = RAY_RADIUS_MM) -> np.ndarray:
    """:func:`viewParameters` of the views as seen from a rigidly moved box frame: ``frame`` (4 x 4, rotation and
    translation) takes a point of the box frame to the moved one. Source and pixel origin move as points, the pixel
    steps turn; the rays are sampled over the same sphere, centred on the moved frame's origin, as training had it."""
    frame = np.asarray(frame, dtype=float)
    rotation, offset = frame[:3, :3], frame[:3, 3]
    views = viewParameters(geometries, np.linalg.solve(rotation, -offset), radiusMm).astype(np.float64)
    for start, isPoint in ((0, True), (3, True), (6, False), (9, False)):
        views[:, start:start + 3] = views[:, start:start + 3] @ rotation.T + (offset if isPoint else 0.0)
    return views.astype(np.float32)


def similarityMatrix(parameters: torch.Tensor, centerLps: torch.Tensor) -> torch.Tensor:
    """[B, 7] (rotation vector in 0.2 rad, translation in 10 mm, log-scale in 0.1) -> [B, 4, 4] LPS matrices.

    The similarity ``x -> s R (x - c) + c + t`` about ``centerLps`` (the atlas femoral head centre).
    """
    batch = parameters.shape[0]
    rotation = 0.2 * parameters[:, 0:3]
    translation = 10.0 * parameters[:, 3:6]
    scale = torch.exp(0.1 * parameters[:, 6])
    angle = torch.sqrt((rotation * rotation).sum(1) + 1e-12)
    axis = rotation / angle[:, None]
    zero = torch.zeros_like(angle)
    cross = torch.stack([torch.stack([zero, -axis[:, 2], axis[:, 1]], 1),
                         torch.stack([axis[:, 2], zero, -axis[:, 0]], 1),
                         torch.stack([-axis[:, 1], axis[:, 0], zero], 1)], 1)
    identity = torch.eye(3, dtype=parameters.dtype, device=parameters.device).expand(batch, 3, 3)
    matrix = (identity + torch.sin(angle)[:, None, None] * cross
              + (1 - torch.cos(angle))[:, None, None] * (cross @ cross)) * scale[:, None, None]
    offset = centerLps[None] + translation - (matrix @ centerLps[None, :, None])[:, :, 0]
    bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=parameters.dtype, device=parameters.device)
    return torch.cat([torch.cat([matrix, offset[:, :, None]], 2), bottom.expand(batch, 1, 4)], 1)


def sampleField(field: torch.Tensor, lpsToGrid: torch.Tensor, pointsLps: torch.Tensor) -> torch.Tensor:
    """A vector field [B, 3, D, H, W] (on the grid of ``lpsToGrid`` [B, 4, 4]) at points [B, ..., 3] -> [B, ..., 3].

    Outside the grid the border value is used (the field is smooth and near zero there).
    """
    batch = pointsLps.shape[0]
    flat = pointsLps.reshape(batch, -1, 1, 1, 3)
    grid = flat @ lpsToGrid[:, None, None, :3, :3].transpose(-1, -2) + lpsToGrid[:, None, None, None, :3, 3]
    grid = grid.reshape(batch, -1, 1, 1, 3)
    sampled = F.grid_sample(field, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return sampled[:, :, :, 0, 0].transpose(1, 2).reshape(pointsLps.shape)


def transformPoints(matrix: torch.Tensor, pointsLps: torch.Tensor) -> torch.Tensor:
    """[B, 4, 4] applied to [B, ..., 3]."""
    batch = pointsLps.shape[0]
    flat = pointsLps.reshape(batch, -1, 3)
    return (flat @ matrix[:, :3, :3].transpose(1, 2) + matrix[:, None, :3, 3]).reshape(pointsLps.shape)


def patientToAtlas(pointsLps: torch.Tensor, affine: torch.Tensor, displacement: torch.Tensor,
                   fieldLpsToGrid: torch.Tensor) -> torch.Tensor:
    """Atlas positions ``T(p + u(p))`` of patient points [B, ..., 3] (LPS mm)."""
    return transformPoints(affine, pointsLps + sampleField(displacement, fieldLpsToGrid, pointsLps))


def atlasToPatient(pointsLps: torch.Tensor, affine: torch.Tensor, inverseDisplacement: torch.Tensor,
                   fieldLpsToGrid: torch.Tensor) -> torch.Tensor:
    """Patient positions of atlas points [B, ..., 3]: ``q -> T^-1(q) + u_inv(T^-1(q))``."""
    moved = transformPoints(torch.linalg.inv(affine), pointsLps)
    return moved + sampleField(inverseDisplacement, fieldLpsToGrid, moved)


def warpVolume(volume: torch.Tensor, volumeLpsToGrid: torch.Tensor, pointsLps: torch.Tensor, affine: torch.Tensor,
               displacement: torch.Tensor | None, fieldLpsToGrid: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """The atlas ``volume`` [B, C, d, h, w] resampled at patient points [B, D, H, W, 3] -> [B, C, D, H, W].

    ``displacement`` None warps by the similarity alone (``V o T``).
    """
    if displacement is None:
        atlasPoints = transformPoints(affine, pointsLps)
    else:
        atlasPoints = patientToAtlas(pointsLps, affine, displacement, fieldLpsToGrid)
    grid = transformPoints(volumeLpsToGrid, atlasPoints)
    return F.grid_sample(volume, grid, mode=mode, padding_mode="zeros", align_corners=True)

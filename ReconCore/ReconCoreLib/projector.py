"""Differentiable cone-beam projector (ProST) and its inverse (inv-ProST), in torch.

ProST (Gao et al., used by the femur paper): K samples along each source-to-pixel ray form a beam-space
volume ``[B, C, K, H, W]`` sampled from a patient-space volume with ``grid_sample``; a line integral along K
gives a DRR, a max or soft-max gives an occupancy silhouette. inv-ProST samples a beam-space volume back
onto a patient-space grid, using for each voxel its distance to the source (the K axis) and where its ray
meets the detector (the H, W axes).

Frames: everything is patient LPS in mm. A volume ``[B, C, D, H, W]`` is indexed [k, j, i] and placed by
its 4x4 ``ijkToLps``; :func:`lpsToGridMatrix` turns that into the LPS -> grid_sample-normalized matrix the
layers take (``align_corners=True``: -1 and +1 are the centres of the first and last voxels). A rigid or
affine pose of the volume enters as ``lpsToGrid @ inverse(pose)``, so gradients reach the pose.

The layers are plain ``torch.nn.Module``s with tensor-only forward methods: ``torch.jit.script`` compiles
them, so they can sit inside an exported TorchScript model.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .xraygeometry import CArmGeometry

REDUCTIONS = ("integral", "max", "softmax")


class ViewGeometry:
    """Batched ray geometry of B views as tensors (LPS, mm), built from :class:`CArmGeometry`.

    Attributes: ``source`` [B, 3]; ``pixelOrigin`` [B, 3] (centre of pixel (0, 0) on the detector);
    ``columnStep``/``rowStep`` [B, 3] (detector vector of one pixel along a column / row);
    ``near``/``far`` [B] (distance from the source of the first / last sample, mm).
    """

    def __init__(self, source, pixelOrigin, columnStep, rowStep, near, far):
        self.source, self.pixelOrigin, self.columnStep, self.rowStep = source, pixelOrigin, columnStep, rowStep
        self.near, self.far = near, far

    @classmethod
    def fromCArm(cls, geometries: Sequence[CArmGeometry], centerLps: Sequence[float] = (0.0, 0.0, 0.0),
                 radiusMm: float = 100.0, dtype=torch.float32, device=None) -> "ViewGeometry":
        """Rays of each geometry, sampled over the sphere (``centerLps``, ``radiusMm``) that holds the volume."""
        center = np.asarray(centerLps, dtype=float)
        rows = []
        for geometry in geometries:
            source = geometry.sourcePositionLps
            distance = float(np.linalg.norm(center - source))
            rows.append((source, geometry.pixelToDetectorLps([[0.0, 0.0]])[0],
                         geometry.columnDirectionLps * geometry.pixelSpacingMm[1],
                         geometry.rowDirectionLps * geometry.pixelSpacingMm[0],
                         max(distance - radiusMm, 1.0), distance + radiusMm))

        def stack(index):
            return torch.as_tensor(np.array([row[index] for row in rows]), dtype=dtype, device=device)

        return cls(*(stack(index) for index in range(6)))

    def tensors(self):
        """(source, pixelOrigin, columnStep, rowStep, near, far): the projector's geometry arguments."""
        return self.source, self.pixelOrigin, self.columnStep, self.rowStep, self.near, self.far


def lpsToGridMatrix(ijkToLps: np.ndarray, shapeKji: Sequence[int]) -> np.ndarray:
    """4x4 matrix from LPS (mm) to ``grid_sample`` coordinates (x, y, z) = (i, j, k) in [-1, 1]."""
    depth, height, width = shapeKji
    normalize = np.array([
        [2.0 / max(width - 1, 1), 0, 0, -1.0],
        [0, 2.0 / max(height - 1, 1), 0, -1.0],
        [0, 0, 2.0 / max(depth - 1, 1), -1.0],
        [0, 0, 0, 1.0],
    ])
    return normalize @ np.linalg.inv(np.asarray(ijkToLps, dtype=float))


def gridPointsLps(ijkToLps: np.ndarray, shapeKji: Sequence[int], dtype=torch.float32) -> torch.Tensor:
    """Patient coordinates (LPS, mm) of every voxel centre, ``[D, H, W, 3]``."""
    depth, height, width = shapeKji
    return gridPoints(torch.as_tensor(np.asarray(ijkToLps, dtype=float)), depth, height, width).to(dtype)


def gridPoints(ijkToLps: torch.Tensor, depth: int, height: int, width: int) -> torch.Tensor:
    """:func:`gridPointsLps` for a float64 ``ijkToLps`` tensor; scriptable, so that a network can make its grid
    when it runs instead of storing it in its file (the repository's history keeps every model file)."""
    device = ijkToLps.device  # the model's (a CUDA model's grid is made there)
    k, j, i = torch.meshgrid(torch.arange(depth, dtype=torch.float64, device=device),
                             torch.arange(height, dtype=torch.float64, device=device),
                             torch.arange(width, dtype=torch.float64, device=device), indexing="ij")
    ijk = torch.stack([i, j, k, torch.ones_like(i)], dim=-1)
    return (ijk @ ijkToLps.to(torch.float64).T)[..., :3]


class ConeBeamProjector(torch.nn.Module):
    """ProST: project a patient-space volume along the rays of B views.

    :param rows, columns: image size (pixels).
    :param samplesPerRay: K, samples between ``near`` and ``far`` on each ray.
    :param reduction: "integral" (line integral, mm x volume units: a DRR), "max", or "softmax"
        (softmax-weighted mean along the ray with temperature ``softness``: a differentiable max).
    """

    def __init__(self, rows: int, columns: int, samplesPerRay: int = 128, reduction: str = "integral",
                 softness: float = 0.05):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if samplesPerRay < 2:
            raise ValueError("samplesPerRay must be at least 2")
        self.rows = int(rows)
        self.columns = int(columns)
        self.samplesPerRay = int(samplesPerRay)
        self.reduction = reduction
        self.softness = float(softness)

    def rayPoints(self, source: torch.Tensor, pixelOrigin: torch.Tensor, columnStep: torch.Tensor,
                  rowStep: torch.Tensor, near: torch.Tensor, far: torch.Tensor,
                  lpsToGrid: torch.Tensor | None = None) -> torch.Tensor:
        """Sample positions ``[B, K, H, W, 3]`` along each pixel's ray: LPS mm, or with ``lpsToGrid`` ([B, 4, 4])
        those positions in grid_sample's coordinates. The affine map is applied to the source and the ray
        directions (B x H x W of them) rather than to the K times more samples: the same points, one pass less."""
        dtype, device = source.dtype, source.device
        u = torch.arange(self.columns, dtype=dtype, device=device)
        v = torch.arange(self.rows, dtype=dtype, device=device)
        pixels = (pixelOrigin[:, None, None, :] + v[None, :, None, None] * rowStep[:, None, None, :]
                  + u[None, None, :, None] * columnStep[:, None, None, :])  # [B, H, W, 3]
        directions = pixels - source[:, None, None, :]
        directions = directions / torch.linalg.norm(directions, dim=-1, keepdim=True)
        fraction = torch.linspace(0.0, 1.0, self.samplesPerRay, dtype=dtype, device=device)
        distances = near[:, None] + (far - near)[:, None] * fraction[None, :]  # [B, K]
        if lpsToGrid is not None:
            linear = lpsToGrid[:, :3, :3].to(dtype)
            source = torch.einsum("bij,bj->bi", linear, source) + lpsToGrid[:, :3, 3].to(dtype)
            directions = torch.einsum("bij,bhwj->bhwi", linear, directions)
        return torch.addcmul(source[:, None, None, None, :], distances[:, :, None, None, None],
                             directions[:, None, :, :, :])

    def beamVolume(self, volume: torch.Tensor, lpsToGrid: torch.Tensor, source: torch.Tensor,
                   pixelOrigin: torch.Tensor, columnStep: torch.Tensor, rowStep: torch.Tensor,
                   near: torch.Tensor, far: torch.Tensor) -> torch.Tensor:
        """The beam-aligned volume ``[B, C, K, H, W]`` (ProST before the reduction)."""
        grid = self.rayPoints(source, pixelOrigin, columnStep, rowStep, near, far, lpsToGrid)
        return F.grid_sample(volume, grid, mode="bilinear", padding_mode="zeros", align_corners=True)

    def forward(self, volume: torch.Tensor, lpsToGrid: torch.Tensor, source: torch.Tensor,
                pixelOrigin: torch.Tensor, columnStep: torch.Tensor, rowStep: torch.Tensor,
                near: torch.Tensor, far: torch.Tensor) -> torch.Tensor:
        """Project ``volume`` [B, C, D, H, W] to images [B, C, rows, columns]."""
        beam = self.beamVolume(volume, lpsToGrid, source, pixelOrigin, columnStep, rowStep, near, far)
        if self.reduction == "max":
            return beam.amax(dim=2)
        if self.reduction == "softmax":
            weights = torch.softmax(beam / self.softness, dim=2)
            return (weights * beam).sum(dim=2)
        step = ((far - near) / (self.samplesPerRay - 1))[:, None, None, None]
        total = beam.sum(dim=2) - 0.5 * (beam[:, :, 0] + beam[:, :, -1])  # trapezoidal rule
        return total * step


class BeamToPatient(torch.nn.Module):
    """inv-ProST: sample a beam-space volume [B, C, K, H, W] at patient-space points.

    For each point its distance to the source gives the K coordinate and the pixel its ray hits gives
    (H, W), the exact inverse of :class:`ConeBeamProjector`'s sampling. Points outside the cone get 0.
    """

    def forward(self, beam: torch.Tensor, pointsLps: torch.Tensor, source: torch.Tensor,
                pixelOrigin: torch.Tensor, columnStep: torch.Tensor, rowStep: torch.Tensor,
                near: torch.Tensor, far: torch.Tensor) -> torch.Tensor:
        """``pointsLps`` [B, D, H, W, 3] -> values [B, C, D, H, W]."""
        rows, columns = beam.shape[3], beam.shape[4]
        batch = beam.shape[0]
        rays = pointsLps - source[:, None, None, None, :]
        distance = torch.linalg.norm(rays, dim=-1)
        normal = torch.linalg.cross(columnStep, rowStep, dim=-1)
        normal = normal / torch.linalg.norm(normal, dim=-1, keepdim=True)
        toOrigin = ((pixelOrigin - source) * normal).sum(-1)  # signed source-detector distance along normal
        along = (rays * normal[:, None, None, None, :]).sum(-1)
        scale = toOrigin.reshape(batch, 1, 1, 1) / along
        onDetector = source[:, None, None, None, :] + scale[..., None] * rays - pixelOrigin[:, None, None, None, :]
        u = (onDetector * columnStep[:, None, None, None, :]).sum(-1) / (columnStep * columnStep).sum(-1).reshape(
            batch, 1, 1, 1)
        v = (onDetector * rowStep[:, None, None, None, :]).sum(-1) / (rowStep * rowStep).sum(-1).reshape(
            batch, 1, 1, 1)
        t = (distance - near.reshape(batch, 1, 1, 1)) / (far - near).reshape(batch, 1, 1, 1)
        grid = torch.stack([2.0 * u / max(columns - 1, 1) - 1.0, 2.0 * v / max(rows - 1, 1) - 1.0,
                            2.0 * t - 1.0], dim=-1)
        grid = torch.where((scale > 0)[..., None], grid, torch.full_like(grid, 2.0))  # behind the source: outside
        return F.grid_sample(beam, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def sampleImagesAtPoints(images: torch.Tensor, projection: torch.Tensor, pointsLps: torch.Tensor) -> torch.Tensor:
    """Back-project 2D maps: the value of ``images`` [B, C, H, W] at the pixel where each point lands.

    ``projection`` [B, 3, 4] maps homogeneous LPS (mm) to homogeneous pixels (column, row, 1) of these
    images; ``pointsLps`` is [N, 3]. Returns [B, C, N]; points off the image or behind the source get 0.
    Scriptable. The visual hull of two silhouettes is the product of their back-projections.
    """
    height, width = images.shape[2], images.shape[3]
    homogeneous = torch.cat([pointsLps, torch.ones_like(pointsLps[:, :1])], 1)
    pixels = homogeneous[None] @ projection.transpose(1, 2)  # [B, N, 3]
    depth = pixels[..., 2:3]
    uv = pixels[..., :2] / torch.where(depth.abs() > 1e-6, depth, torch.full_like(depth, 1e-6))
    scale = torch.tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)], dtype=uv.dtype, device=uv.device)
    grid = uv * scale - 1.0
    grid = torch.where(depth > 0, grid, torch.full_like(grid, 2.0))
    sampled = F.grid_sample(images, grid[:, None], mode="bilinear", padding_mode="zeros", align_corners=True)
    return sampled[:, :, 0]

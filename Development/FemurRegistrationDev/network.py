"""FemurRegistration network: 2D/3D registration of a femur CT atlas to two calibrated radiographs.

After Van Houtte et al. 2022 (Fig. 1), at a resolution that trains on a CPU:

Affine module
    The atlas is projected (ProST, line integral) in both views; each projection is stacked with its
    radiograph (2 channels) and encoded by a per-view 2D encoder of five strided levels (conv, batch norm,
    Leaky-ReLU); at every level the AP and lateral features and the previous combined features are
    concatenated and convolved. A dense layer with zero bias and near-zero weights regresses 7 parameters
    (rotation vector, translation, log-scale), so training starts at the identity.
Local module
    One U-net per view: the affinely moved atlas is projected again, stacked with the radiograph, encoded
    by a 2D encoder (strided + plain convolution per level); the last 2D feature map is copied M = 4
    times along the ray axis and decoded in 3D beam space with skip connections (each 2D skip is copied
    along the ray axis and convolved in 3D). inv-ProST brings both beam volumes onto the patient grid; a
    convolution turns them into a stationary velocity field, integrated by scaling and squaring (MONAI
    ``DVF2DDF``) into a diffeomorphic displacement.

The total map from a patient point ``p`` (LPS, mm) to the atlas is ``T(p + u(p))``: ``u`` the local
displacement, ``T`` the similarity; its inverse uses ``u_inv``, the integral of the negated velocity field (the
maps: :mod:`FemurRegistrationLib.transforms`). The network is bundled as TorchScript; the runtime never needs
this definition, which is here to train and export it.

Geometry is an input: each view is 14 numbers (source, pixel (0,0) centre, column step, row step in LPS
mm, near and far sample distances), so one model serves any calibrated pair. The model is exported with
``torch.jit.trace`` because MONAI's ``Warp``/``DVF2DDF`` do not compile with ``torch.jit.script``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from FemurRegistrationLib.conventions import IMAGE_SIZE
from FemurRegistrationLib.transforms import similarityMatrix
from ReconCoreLib.projector import BeamToPatient, ConeBeamProjector, gridPointsLps, lpsToGridMatrix

SAMPLES_PER_RAY = 64


def _unpack(views: torch.Tensor):
    return (views[:, 0:3], views[:, 3:6], views[:, 6:9], views[:, 9:12], views[:, 12], views[:, 13])


def _block2d(inputs: int, outputs: int, stride: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1),
                               torch.nn.BatchNorm2d(outputs), torch.nn.LeakyReLU(0.2))


def _block3d(inputs: int, outputs: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Conv3d(inputs, outputs, 3, padding=1), torch.nn.BatchNorm3d(outputs),
                               torch.nn.LeakyReLU(0.2))


def normalizeImages(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance inside ``masks`` (per image), 0 outside. [B, C, H, W]."""
    count = masks.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    mean = (images * masks).sum(dim=(2, 3), keepdim=True) / count
    variance = (((images - mean) * masks) ** 2).sum(dim=(2, 3), keepdim=True) / count
    return (images - mean) / torch.sqrt(variance + 1e-8) * masks


class AffineModule(torch.nn.Module):
    """Two 2-channel images [B, 2, H, W] (AP, lateral) -> 7 similarity parameters [B, 7]."""

    def __init__(self, imageSize: int = IMAGE_SIZE, features: Sequence[int] = (8, 16, 32, 64, 64)):
        super().__init__()
        self.ap = torch.nn.ModuleList()
        self.lateral = torch.nn.ModuleList()
        self.mix = torch.nn.ModuleList()
        previous, combined = 2, 0
        for width in features:
            self.ap.append(_block2d(previous, width, 2))
            self.lateral.append(_block2d(previous, width, 2))
            self.mix.append(_block2d(2 * width + combined, width, 1))
            previous, combined = width, width
        side = imageSize // 2 ** len(features)
        self.regression = torch.nn.Linear(features[-1] * side * side, 7)
        torch.nn.init.zeros_(self.regression.bias)
        torch.nn.init.normal_(self.regression.weight, std=1e-5)

    def forward(self, ap: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
        combined = torch.zeros(0)
        first = True
        for apLevel, lateralLevel, mixLevel in zip(self.ap, self.lateral, self.mix):
            ap = apLevel(ap)
            lateral = lateralLevel(lateral)
            if first:
                combined = mixLevel(torch.cat([ap, lateral], 1))
                first = False
            else:
                combined = mixLevel(torch.cat([ap, lateral, F.avg_pool2d(combined, 2)], 1))
        return self.regression(combined.flatten(1))


class LocalBranch(torch.nn.Module):
    """2D encoder / 3D decoder U-net of one view: [B, 2, H, W] -> beam-space features [B, C, K', H', W']."""

    def __init__(self, features: Sequence[int] = (16, 32, 64), copies: int = 4, outputs: int = 8):
        super().__init__()
        self.copies = copies
        self.encoder = torch.nn.ModuleList()
        previous = 2
        for width in features:
            self.encoder.append(torch.nn.Sequential(_block2d(previous, width, 2), _block2d(width, width, 1)))
            previous = width
        self.up = torch.nn.ModuleList()
        self.skip = torch.nn.ModuleList()
        self.merge = torch.nn.ModuleList()
        for level in range(len(features) - 2, -1, -1):
            width = features[level]
            self.up.append(torch.nn.Sequential(torch.nn.ConvTranspose3d(previous, width, 2, stride=2),
                                               torch.nn.BatchNorm3d(width), torch.nn.LeakyReLU(0.2)))
            self.skip.append(_block3d(width, width // 2))
            self.merge.append(_block3d(width + width // 2, width))
            previous = width
        self.head = torch.nn.Conv3d(previous, outputs, 3, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        skips = []
        x = images
        for level in self.encoder:
            x = level(x)
            skips.append(x)
        volume = x[:, :, None].expand(-1, -1, self.copies, -1, -1)
        index = len(skips) - 2
        for up, skip, merge in zip(self.up, self.skip, self.merge):
            volume = up(volume)
            feature = skips[index]
            copied = feature[:, :, None].expand(-1, -1, volume.shape[2], -1, -1)
            volume = merge(torch.cat([volume, skip(copied)], 1))
            index -= 1
        return self.head(volume)


class FemurRegistrationNet(torch.nn.Module):
    """(radiographs, masks, views) -> (similarity [B, 4, 4], displacement [B, 3, D, H, W], inverse displacement).

    ``images``/``masks`` [B, 2, H, W] (AP then lateral; masks 0/1), ``views`` [B, 2, 14]. The atlas (a
    attenuation-like volume, femur only, on the network grid) and its grid are buffers. Displacements are
    in mm along LPS (x, y, z) on the network grid (``gridIjkToLps``, array [k, j, i]).
    """

    def __init__(self, atlas: np.ndarray, atlasIjkToLps: np.ndarray, gridIjkToLps: np.ndarray,
                 gridShapeKji: Sequence[int], headCenterLps: Sequence[float], imageSize: int = IMAGE_SIZE,
                 samplesPerRay: int = SAMPLES_PER_RAY, integrationSteps: int = 7):
        super().__init__()
        from monai.networks.blocks import DVF2DDF

        self.imageSize = imageSize
        self.gridShape = [int(size) for size in gridShapeKji]
        self.projector = ConeBeamProjector(imageSize, imageSize, samplesPerRay, "integral")
        self.inverseProjector = BeamToPatient()
        self.affine = AffineModule(imageSize)
        self.branchAp = LocalBranch()
        self.branchLateral = LocalBranch()
        self.fusion = torch.nn.Sequential(_block3d(16, 16), torch.nn.Conv3d(16, 3, 3, padding=1))
        torch.nn.init.zeros_(self.fusion[-1].bias)
        torch.nn.init.normal_(self.fusion[-1].weight, std=1e-5)
        self.integrate = DVF2DDF(num_steps=integrationSteps, mode="bilinear", padding_mode="border")
        self.register_buffer("atlas", torch.as_tensor(np.asarray(atlas, np.float32))[None, None])
        self.register_buffer("atlasLpsToGrid", torch.as_tensor(
            lpsToGridMatrix(atlasIjkToLps, atlas.shape), dtype=torch.float32)[None])
        self.register_buffer("gridPoints", gridPointsLps(gridIjkToLps, self.gridShape)[None])
        direction = np.asarray(gridIjkToLps, dtype=float)[:3, :3]
        spacing = np.linalg.norm(direction, axis=0)  # mm per voxel along i, j, k
        if not np.allclose(direction, np.diag(spacing)):
            raise ValueError("the network grid must be axis-aligned with LPS (i = x, j = y, k = z)")
        self.register_buffer("voxelToMm", torch.as_tensor(spacing, dtype=torch.float32))
        self.register_buffer("headCenter", torch.as_tensor(np.asarray(headCenterLps), dtype=torch.float32))

    def project(self, lpsToGrid: torch.Tensor, views: torch.Tensor) -> torch.Tensor:
        """DRRs of the atlas moved by ``lpsToGrid`` [B, 4, 4] in views [B, 14] -> [B, 1, H, W]."""
        return self.projector(self.atlas.expand(views.shape[0], -1, -1, -1, -1), lpsToGrid, *_unpack(views))

    def pairs(self, images: torch.Tensor, masks: torch.Tensor, views: torch.Tensor, affine: torch.Tensor):
        """Per view a [B, 2, H, W] stack of (normalized DRR of the moved atlas, normalized radiograph)."""
        batch = images.shape[0]
        lpsToGrid = self.atlasLpsToGrid @ affine
        drr = self.project(torch.cat([lpsToGrid, lpsToGrid]), torch.cat([views[:, 0], views[:, 1]]))
        drr = normalizeImages(drr, (drr > 1e-3).to(drr.dtype))
        radiographs = normalizeImages(images, masks)
        return (torch.cat([drr[:batch], radiographs[:, 0:1]], 1), torch.cat([drr[batch:], radiographs[:, 1:2]], 1))

    def velocityToMm(self, field: torch.Tensor) -> torch.Tensor:
        """[B, 3 (k, j, i voxels), D, H, W] -> [B, 3 (x, y, z mm), D, H, W]."""
        return torch.flip(field, [1]) * self.voxelToMm[None, :, None, None, None]

    def forward(self, images: torch.Tensor, masks: torch.Tensor, views: torch.Tensor):
        affine, velocity = self.register(images, masks, views)
        return affine, self.velocityToMm(self.integrate(velocity)), self.velocityToMm(self.integrate(-velocity))

    def register(self, images: torch.Tensor, masks: torch.Tensor, views: torch.Tensor):
        """(similarity [B, 4, 4], stationary velocity field [B, 3, D, H, W] in grid voxels (k, j, i))."""
        batch = images.shape[0]
        identity = torch.eye(4, dtype=images.dtype, device=images.device).expand(batch, 4, 4)
        ap, lateral = self.pairs(images, masks, views, identity)
        affine = similarityMatrix(self.affine(ap, lateral), self.headCenter)
        ap, lateral = self.pairs(images, masks, views, affine)
        points = self.gridPoints.expand(batch, -1, -1, -1, -1)
        volumes = []
        for index, branch in ((0, self.branchAp), (1, self.branchLateral)):
            beam = branch(ap if index == 0 else lateral)
            volumes.append(self.inverseProjector(beam, points, *_unpack(views[:, index])))
        return affine, self.fusion(torch.cat(volumes, 1))

"""AngioRecon networks: geometry-conditioned generator (after Wang et al. Fig. 2) and 3D critic (Fig. 3).

The generator is bundled as TorchScript (``AngioRecon/Resources/Models/AngioRecon.pt``): the runtime loads that
file and never needs this definition; it is here to train and export it.

Generator
---------
1. A 2D encoder per view (shared weights) turns each 128x128 vessel map into feature maps.
2. Fusion by back-projection: every voxel of the 64^3 reconstruction cube (side 128 mm, centred at the
   C-arm isocenter, LPS) is projected through each view's 3x4 projection matrix and reads that view's
   features at the pixel it lands on. The geometry is therefore an *input* (the two matrices), so one
   model serves any angle pair and any distances; this is the differentiable form of the classic
   visual hull, whose ghosts the decoder learns to remove. The element-wise product of the two
   back-projected vessel maps (the soft visual hull) and the tree (left 0 / right 1) are added as channels.
3. A 3D U-Net decoder (MONAI ``UNet``) maps the fused volume to a 64^3 sigmoid occupancy.

Critic
------
3D strided convolutions to one Wasserstein score, judging whether an occupancy volume looks like a
coronary tree (used with gradient penalty during training only; not exported).
"""

from __future__ import annotations

import torch

from AngioReconLib.conventions import CUBE_SIDE_MM, GRID_SIZE, IMAGE_SIZE
from AngioReconLib.reprojection import cubeIjkToLps
from ReconCoreLib.projector import gridPoints, sampleImagesAtPoints


class AngioGenerator(torch.nn.Module):
    """(vessel maps, projections LPS mm -> pixel, tree) -> occupancy probability [B, 1, 64, 64, 64] (k, j, i)."""

    def __init__(self, features: int = 8, channels: tuple = (12, 24, 48, 96), imageSize: int = IMAGE_SIZE,
                 gridSize: int = GRID_SIZE, cubeSideMm: float = CUBE_SIDE_MM):
        super().__init__()
        from monai.networks.nets import UNet

        self.imageSize = int(imageSize)
        self.gridSize = int(gridSize)
        self.encoder = torch.nn.Sequential(
            torch.nn.Conv2d(1, features, 3, padding=1), torch.nn.InstanceNorm2d(features), torch.nn.LeakyReLU(0.2),
            torch.nn.Conv2d(features, features, 3, padding=1), torch.nn.InstanceNorm2d(features),
            torch.nn.LeakyReLU(0.2),
            torch.nn.Conv2d(features, features, 3, padding=2, dilation=2), torch.nn.LeakyReLU(0.2),
        )
        self.decoder = UNet(spatial_dims=3, in_channels=2 * features + 4, out_channels=1, channels=channels,
                            strides=(2,) * (len(channels) - 1), num_res_units=1, norm="instance")
        # Start from the prior: vessels fill ~0.2 % of the cube, so the output begins near sigmoid(-5),
        # not 0.5 (otherwise the first hundreds of steps only learn this bias).
        last = [module for module in self.decoder.modules() if isinstance(module, (torch.nn.Conv3d,
                torch.nn.ConvTranspose3d)) and module.out_channels == 1][-1]
        torch.nn.init.constant_(last.bias, -5.0)
        # The voxel centres are made when the model runs, from this 4x4: stored, they were 3 MB of the file.
        self.register_buffer("cubeIjkToLps", torch.as_tensor(cubeIjkToLps(gridSize, cubeSideMm)), persistent=False)

    def backProject(self, images: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
        """Sample 2D maps [B, C, H, W] at every voxel's pixel under ``projection`` [B, 3, 4] -> [B, C, D, H, W]."""
        size = self.gridSize
        voxelsLps = gridPoints(self.cubeIjkToLps, size, size, size).to(images.dtype).reshape(-1, 3)  # [k, j, i]
        sampled = sampleImagesAtPoints(images, projection, voxelsLps)
        return sampled.reshape(images.shape[0], images.shape[1], self.gridSize, self.gridSize, self.gridSize)

    def forward(self, maps: torch.Tensor, projections: torch.Tensor, rightTree: torch.Tensor) -> torch.Tensor:
        """``maps`` [B, 2, H, W] in [0, 1], ``projections`` [B, 2, 3, 4], ``rightTree`` [B] (0 left, 1 right)."""
        batch = maps.shape[0]
        features = self.encoder(maps.reshape(batch * 2, 1, maps.shape[2], maps.shape[3]))
        features = torch.cat([features, maps.reshape(batch * 2, 1, maps.shape[2], maps.shape[3])], 1)
        volumes = self.backProject(features, projections.reshape(batch * 2, 3, 4))
        volumes = volumes.reshape(batch, 2, volumes.shape[1], self.gridSize, self.gridSize, self.gridSize)
        hull = volumes[:, 0, -1:] * volumes[:, 1, -1:]
        tree = rightTree.to(maps.dtype).reshape(batch, 1, 1, 1, 1).expand_as(hull)
        fused = torch.cat([volumes[:, 0], volumes[:, 1], hull, tree], 1)
        return torch.sigmoid(self.decoder(fused))


class AngioCritic(torch.nn.Module):
    """Wasserstein critic on occupancy volumes [B, 1, 64, 64, 64] -> scores [B]."""

    def __init__(self, channels: tuple = (8, 16, 32, 64)):
        super().__init__()
        layers = []
        previous = 1
        for width in channels:
            layers += [torch.nn.Conv3d(previous, width, 4, stride=2, padding=1), torch.nn.LeakyReLU(0.2)]
            previous = width
        self.features = torch.nn.Sequential(*layers)
        self.score = torch.nn.Linear(previous, 1)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(volume).mean(dim=(2, 3, 4)))[:, 0]

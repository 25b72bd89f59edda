"""EchoRecon network: S2MNet after Gong et al. (section 4.4, Fig. 2) with a light 2D segmentation branch.

forward(images [B, 6, 128, 128] float in [0, 1], views in :data:`~EchoReconLib.conventions.VIEWS` order)
    -> (displacement [B, V, 3] mm of every template vertex in the template's heart frame,
        segmentation logits [B, 6, 7, 128, 128]: labels 0 background, 1..6 the template's structures)

1. 2D segmentation (every view alone, shared weights): a small MONAI ``UNet`` -> 7-class logits. It gives
   the pipeline the LV cavity mask of A4C / A2C (biplane Simpson's) and each view's heart region (overlay check).
2. Encoder shared across the six views: a MONAI ``ResNet`` (2D, ``resnet10`` layout, half width) on the image
   and the segmentation's class probabilities (8 channels: the dense 2D supervision then shapes what the 3D
   branch reads, which trains much faster than from speckle alone), followed by three 2D convolutions; the six
   views' feature maps are flattened in the fixed view order (the view identity is its slot) and fused by a
   bottleneck linear layer into a coarse 3D volume [64, 4, 4, 4], then one 3D convolution.
3. Decoder: six 3D transposed convolutions (4^3 -> 8^3 -> 16^3); three of them emit coarse vector fields
   (at 8^3, 16^3, 16^3).
4. Weight generator: six 3D convolutions from the encoder volume (4^3 -> 8^3) -> one weight map per coarse field
   (softmax over the fields, per voxel); the fused field is the weighted sum of the coarse fields (at 16^3),
   trilinearly upsampled to :data:`FIELD_SIZE`^3.
5. The fused field covers the template's bounding box (plus a margin) and carries one 3-vector per structure
   (18 channels): it is sampled (``grid_sample``, trilinear) at the template vertices, each vertex reading the
   channels of its own structure, so the LV cavity and the epicardium 6-16 mm away can move differently
   (ventricular wall thickness and systolic thickening). Field values are in units of :data:`DISPLACEMENT_SCALE_MM`.

The field heads start at zero: an untrained network returns the template (zero displacement). The template
vertices, their structure indices and the template triangles are buffers, so the exported TorchScript module is
self-contained (``templateVertices`` [V, 3], ``templateTriangles`` int32 [F, 3], ``structureOfTriangle`` int32 [F]).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from EchoReconLib.conventions import IMAGE_SIZE, STRUCTURES, VIEWS

NUM_VIEWS = len(VIEWS)
NUM_STRUCTURES = len(STRUCTURES)
NUM_CLASSES = NUM_STRUCTURES + 1  # background + the structures
FIELD_SIZE = 32
DISPLACEMENT_SCALE_MM = 10.0
FIELD_MARGIN_MM = 6.0
NUM_COARSE_FIELDS = 3


def _block3d(transposed: bool, inChannels: int, outChannels: int, kernel: int, stride: int, padding: int):
    conv = (torch.nn.ConvTranspose3d if transposed else torch.nn.Conv3d)(inChannels, outChannels, kernel, stride,
                                                                          padding)
    return torch.nn.Sequential(conv, torch.nn.GroupNorm(min(8, outChannels), outChannels), torch.nn.LeakyReLU(0.1))


class EchoReconNet(torch.nn.Module):
    """S2MNet with a segmentation branch; see the module docstring."""

    def __init__(self, templateVertices: np.ndarray, structureOfVertex: np.ndarray, triangles: np.ndarray,
                 structureOfTriangle: np.ndarray, viewFeatures: int = 16,
                 latent: int = 256, segmentationChannels: tuple = (16, 32, 64, 128)):
        super().__init__()
        from monai.networks.nets import UNet, ResNet

        vertices = np.asarray(templateVertices, np.float32)
        structures = np.asarray(structureOfVertex, np.int64)
        low = vertices.min(axis=0) - FIELD_MARGIN_MM
        high = vertices.max(axis=0) + FIELD_MARGIN_MM
        # grid_sample coordinates (x, y, z) in [-1, 1] with align_corners=True: x -> W (last), z -> D (first)
        normalized = 2.0 * (vertices - low) / (high - low) - 1.0
        self.register_buffer("templateVertices", torch.as_tensor(vertices))
        self.register_buffer("sampleGrid", torch.as_tensor(normalized, dtype=torch.float32).reshape(1, 1, 1, -1, 3))
        onehot = np.zeros((NUM_STRUCTURES, 1, len(vertices)), np.float32)
        onehot[structures, 0, np.arange(len(vertices))] = 1.0
        self.register_buffer("structureOneHot", torch.as_tensor(onehot))
        # the template's surfaces travel with the model (volumes, meshes): int32 [F, 3] and [F]
        self.register_buffer("templateTriangles", torch.as_tensor(np.asarray(triangles, np.int32)))
        self.register_buffer("structureOfTriangle", torch.as_tensor(np.asarray(structureOfTriangle, np.int32)))
        self.register_buffer("fieldBoxMm", torch.as_tensor(np.stack([low, high]), dtype=torch.float32))

        self.segmenter = UNet(spatial_dims=2, in_channels=1, out_channels=NUM_CLASSES, channels=segmentationChannels,
                              strides=(2,) * (len(segmentationChannels) - 1), num_res_units=0)
        self.encoder = ResNet("basic", [1, 1, 1, 1], [64, 128, 256, 512], spatial_dims=2,
                              n_input_channels=1 + NUM_CLASSES, conv1_t_stride=2, widen_factor=0.5,
                              feed_forward=False)
        width = int(512 * 0.5)
        self.viewConvs = torch.nn.Sequential(
            torch.nn.Conv2d(width, 128, 3, padding=1), torch.nn.GroupNorm(8, 128), torch.nn.LeakyReLU(0.1),
            torch.nn.Conv2d(128, 64, 3, padding=1), torch.nn.GroupNorm(8, 64), torch.nn.LeakyReLU(0.1),
            torch.nn.Conv2d(64, viewFeatures, 1), torch.nn.LeakyReLU(0.1))
        mapSize = IMAGE_SIZE // 32
        self.fuse = torch.nn.Sequential(
            torch.nn.Linear(NUM_VIEWS * viewFeatures * mapSize * mapSize, latent), torch.nn.LeakyReLU(0.1),
            torch.nn.Linear(latent, 32 * 4 * 4 * 4), torch.nn.LeakyReLU(0.1))
        self.volumeConv = _block3d(False, 32, 64, 3, 1, 1)
        fieldChannels = 3 * NUM_STRUCTURES
        self.decoder1 = _block3d(True, 64, 48, 2, 2, 0)  # 4 -> 8
        self.decoder2 = _block3d(True, 48, 48, 3, 1, 1)
        self.decoder3 = _block3d(True, 48, 32, 2, 2, 0)  # 8 -> 16
        self.decoder4 = _block3d(True, 32, 24, 3, 1, 1)
        self.decoder5 = _block3d(True, 24, 24, 3, 1, 1)
        self.decoder6 = torch.nn.ConvTranspose3d(24, fieldChannels, 3, 1, 1)  # coarse field 3 (16^3)
        self.fieldHead1 = torch.nn.Conv3d(48, fieldChannels, 1)  # coarse field 1 (8^3)
        self.fieldHead2 = torch.nn.Conv3d(24, fieldChannels, 1)  # coarse field 2 (16^3)
        self.weightGenerator = torch.nn.Sequential(
            _block3d(False, 64, 32, 3, 1, 1), _block3d(False, 32, 32, 3, 1, 1),
            torch.nn.Upsample(scale_factor=2.0, mode="trilinear"),
            _block3d(False, 32, 16, 3, 1, 1), _block3d(False, 16, 16, 3, 1, 1), _block3d(False, 16, 8, 3, 1, 1),
            torch.nn.Conv3d(8, NUM_COARSE_FIELDS, 1))
        for head in (self.decoder6, self.fieldHead1, self.fieldHead2):
            torch.nn.init.zeros_(head.weight)
            torch.nn.init.zeros_(head.bias)

    @property
    def numberOfVertices(self) -> int:
        return int(self.templateVertices.shape[0])

    def fusedField(self, volume: torch.Tensor) -> torch.Tensor:
        """Encoder volume [B, 64, 4, 4, 4] -> fused vector field [B, 18, FIELD_SIZE^3] (units of the scale).

        The weighted sum is taken at 16^3 (field 1 and the weights trilinearly upsampled to it), then one trilinear
        upsampling to FIELD_SIZE^3: the same as upsampling every coarse field first, at a quarter of the cost."""
        x = self.decoder2(self.decoder1(volume))
        field1 = self.fieldHead1(x)
        x = self.decoder4(self.decoder3(x))
        field2 = self.fieldHead2(x)
        field3 = self.decoder6(self.decoder5(x))
        size = [field2.shape[2], field2.shape[3], field2.shape[4]]
        weights = torch.softmax(F.interpolate(self.weightGenerator(volume), size=size, mode="trilinear",
                                              align_corners=False), dim=1)
        fused = weights[:, 0:1] * F.interpolate(field1, size=size, mode="trilinear", align_corners=False)
        fused = fused + weights[:, 1:2] * field2 + weights[:, 2:3] * field3
        return F.interpolate(fused, size=[FIELD_SIZE, FIELD_SIZE, FIELD_SIZE], mode="trilinear", align_corners=False)

    def encode(self, images: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Images [B*6, 1, H, W] and their segmentation logits -> encoder volume [B, 64, 4, 4, 4]."""
        x = torch.cat([images, torch.softmax(logits, dim=1)], dim=1)
        e = self.encoder
        x = e.act(e.bn1(e.conv1(x)))
        x = e.maxpool(x)
        x = e.layer4(e.layer3(e.layer2(e.layer1(x))))
        x = self.viewConvs(x)
        batch = images.shape[0] // NUM_VIEWS
        x = self.fuse(x.reshape(batch, -1))
        return self.volumeConv(x.reshape(batch, 32, 4, 4, 4))

    def forward(self, images: torch.Tensor):
        batch = images.shape[0]
        flat = images.reshape(batch * NUM_VIEWS, 1, images.shape[2], images.shape[3])
        logits = self.segmenter(flat)
        field = self.fusedField(self.encode(flat, logits)) * DISPLACEMENT_SCALE_MM
        return self.sampleField(field), logits.reshape(batch, NUM_VIEWS, NUM_CLASSES, images.shape[2],
                                                       images.shape[3])

    def sampleField(self, field: torch.Tensor) -> torch.Tensor:
        """Per-structure vector field [B, 18, D, H, W] over the field box (channel 3 s + c: structure s, component
        c; grid node [k, j, i] at :meth:`fieldGridMm`) -> its value at every template vertex, read from the
        vertex's own structure [B, V, 3] (trilinear)."""
        batch = field.shape[0]
        sampled = F.grid_sample(field, self.sampleGrid.expand(batch, -1, -1, -1, -1), mode="bilinear",
                                padding_mode="border", align_corners=True)  # [B, 18, 1, 1, V]
        sampled = sampled.reshape(batch, NUM_STRUCTURES, 3, -1)
        return (sampled * self.structureOneHot[None]).sum(dim=1).transpose(1, 2)

    def fieldGridMm(self, size: int = FIELD_SIZE) -> torch.Tensor:
        """Positions (mm, heart frame) [size, size, size, 3] of the field's grid nodes, indexed [k, j, i] with x
        along i (last axis) and z along k."""
        low, high = self.fieldBoxMm[0], self.fieldBoxMm[1]
        steps = torch.linspace(0.0, 1.0, size, device=low.device)
        z, y, x = torch.meshgrid(steps, steps, steps, indexing="ij")
        return low + torch.stack([x, y, z], dim=-1) * (high - low)


def buildNetwork(template=None) -> EchoReconNet:
    """The network on the bundled template (:class:`~EchoReconLib.template.HeartTemplate`)."""
    from EchoReconLib.template import HeartTemplate

    template = template or HeartTemplate.load()
    return EchoReconNet(template.vertices, template.structureOfVertex, template.triangles,
                        template.structureOfTriangle)


def countParameters(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())

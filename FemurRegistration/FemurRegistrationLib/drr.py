"""Projections of CT-like volumes on the crop box: attenuation, block downsampling and DRRs / silhouettes.

The pipeline projects the warped atlas with these (image agreement, outlines, refinement); the development
package simulates its training radiographs with the same functions.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ReconCoreLib.projector import ConeBeamProjector, ViewGeometry, lpsToGridMatrix

from .conventions import RAY_RADIUS_MM


def relativeAttenuation(hu: np.ndarray) -> np.ndarray:
    """Attenuation relative to water, ``1 + HU / 1000`` clipped at 0 (air)."""
    return np.clip(1.0 + np.asarray(hu, np.float32) / 1000.0, 0.0, None)


def projectVolume(volume: np.ndarray, ijkToLps: np.ndarray, geometries, reduction: str = "integral",
                  samplesPerRay: int = 128) -> np.ndarray:
    """DRRs (``integral``, volume units x mm) or silhouettes (``max``) of a [k, j, i] or [C, k, j, i] volume.

    The rays are sampled over :data:`RAY_RADIUS_MM` about the volume's centre, wherever ``ijkToLps`` puts it.
    Returns [N, rows, cols] (or [N, C, rows, cols] for a multi-channel volume).
    """
    first = geometries[0]
    volume = np.asarray(volume, np.float32)
    channels = volume if volume.ndim == 4 else volume[None]
    centre = np.asarray(ijkToLps, dtype=float) @ np.append((np.array(channels.shape[1:][::-1]) - 1) / 2.0, 1.0)
    projector = ConeBeamProjector(first.rows, first.columns, samplesPerRay, reduction)
    views = ViewGeometry.fromCArm(geometries, centre[:3], radiusMm=RAY_RADIUS_MM)
    lpsToGrid = torch.as_tensor(lpsToGridMatrix(ijkToLps, channels.shape[1:]), dtype=torch.float32)
    tensor = torch.as_tensor(channels)[None].expand(len(geometries), -1, -1, -1, -1)
    with torch.no_grad():
        images = projector(tensor, lpsToGrid[None].expand(len(geometries), 4, 4), *views.tensors())
    return images.numpy() if volume.ndim == 4 else images[:, 0].numpy()


def downsample(volume: np.ndarray, factor: int = 2) -> np.ndarray:
    """Block mean by ``factor`` along each axis (the 1 mm crop box -> the network's grid)."""
    tensor = torch.as_tensor(np.asarray(volume, np.float32))[None, None]
    return F.avg_pool3d(tensor, factor)[0, 0].numpy()

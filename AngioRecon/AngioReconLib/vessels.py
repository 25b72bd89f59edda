"""AngioRecon's first stage: a binary vessel map of each angiogram, resampled to the network's input.

A given mask (or an image that already is a binary map) is used as it is; a raw angiogram goes through
SimpleITK's multi-scale Hessian objectness (dark tubes) and a triangle threshold. The map is then resampled
(area averaging) to :data:`~.conventions.IMAGE_SIZE` x IMAGE_SIZE with the view's geometry scaled to match.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ReconCoreLib.xraygeometry import CArmGeometry
from ReconCoreLib.xrayio import XrayImage, checkImage

from .conventions import IMAGE_SIZE

VESSEL_SCALES_PX = (1.0, 2.0, 3.0)


def vesselness(image: np.ndarray) -> np.ndarray:
    """Multi-scale Hessian objectness of dark tubes (SimpleITK ObjectnessMeasure), max over scales.

    The image is first windowed to [0, 100] (1st-99th percentile), so the structureness parameter gamma
    means the same for any detector's grey levels.
    """
    import SimpleITK as sitk

    low, high = np.percentile(image, [1, 99])
    windowed = np.clip((np.asarray(image, np.float32) - low) / max(high - low, 1e-6), 0, 1) * 100
    itkImage = sitk.GetImageFromArray(windowed.astype(np.float32))
    responses = []
    for sigma in VESSEL_SCALES_PX:
        smoothed = sitk.SmoothingRecursiveGaussian(itkImage, sigma)
        objectness = sitk.ObjectnessMeasure(smoothed, alpha=0.5, beta=0.5, gamma=5.0, scaleObjectnessMeasure=True,
                                            objectDimension=1, brightObject=False)
        responses.append(sitk.GetArrayFromImage(objectness) * sigma ** 2)  # scale-normalized
    return np.max(responses, axis=0)


def vesselContrastScore(frame: np.ndarray) -> float:
    """How strongly a frame shows contrast-filled vessels: the 99th percentile of its vesselness."""
    small = frame[::2, ::2] if min(frame.shape) > 256 else frame
    return float(np.percentile(vesselness(small), 99))


def vesselMapFromAngiogram(image: np.ndarray) -> np.ndarray:
    """Binary vessel map (float 0/1) of a raw angiogram: objectness, then a triangle threshold.

    (The triangle method suits the objectness histogram: a large peak at 0 and a long tail of vessels;
    on the bundled samples it gives Dice 0.78-0.86 against the true masks, Otsu 0.26-0.60.)
    """
    import SimpleITK as sitk

    response = vesselness(image)
    if float(response.max()) <= 0:
        raise ValueError("no vessel-like structure found in the angiogram (is it a contrast-filled frame?)")
    mask = sitk.TriangleThreshold(sitk.GetImageFromArray(response.astype(np.float32)), 0, 1)
    return sitk.GetArrayFromImage(mask).astype(np.float32)


def isVesselMap(image: np.ndarray) -> bool:
    """A given image is already a vessel map when it has at most two distinct values."""
    return len(np.unique(image)) <= 2


def prepareView(view: XrayImage, mask: Optional[np.ndarray] = None) -> tuple[np.ndarray, CArmGeometry]:
    """Vessel map at 128x128 in [0, 1] and the geometry of that resampled image."""
    import torch
    import torch.nn.functional as F

    if mask is not None:
        mask = checkImage(mask, "vessel mask") if np.any(mask) else None
        if mask is None:
            raise ValueError(f"{view.sourcePath}: the vessel mask is empty")
        if mask.shape != view.pixels.shape:
            raise ValueError(f"{view.sourcePath}: vessel mask {mask.shape} and image {view.pixels.shape} differ in "
                             "size")
        vesselMap = (mask > 0).astype(np.float32)
    elif isVesselMap(view.pixels):
        vesselMap = (view.pixels > view.pixels.min()).astype(np.float32)
    else:
        vesselMap = vesselMapFromAngiogram(view.pixels)
    resampled = F.interpolate(torch.as_tensor(vesselMap)[None, None], size=(IMAGE_SIZE, IMAGE_SIZE), mode="area")
    return resampled[0, 0].numpy().clip(0, 1), view.geometry.withImageSize(IMAGE_SIZE, IMAGE_SIZE)

"""Femur mask proposals by a 2D segmentation network (MONAI U-Net, TorchScript ``FemurMask.pt``), for the user to
check and edit.

The radiograph is area-averaged onto a grid of :data:`MASK_PIXEL_MM` detector pixels (:func:`gridShape`), scaled by
its own 1st and 99th percentiles (:func:`normalise`), padded to a multiple of :data:`SIZE_MULTIPLE` and segmented;
the femur probability is brought back to the radiograph's pixels (bilinear) and the largest component of at least
half probability, its holes filled, is the proposal. The network learned the femur's shape beside the pelvis on
radiographs of every exposure the training draws (``FemurRegistrationDev.maskdata``, card ``FemurMask.md``), where
a threshold on brightness takes whichever bone is brightest.

Collimation: radiographs as hospitals store them are collimated, and most systems show the shutters (the unexposed
border bands) white, as bright as bone; the network, trained on uncollimated radiographs, took such a band for the
femur (the model card, ``positions --hospital``). Bright uniform bands along the image's edges
(:func:`whiteShutters`) are set to the image's background before the network sees it, and are never part of a
proposal. Black shutters look like the air around the body the network knows.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

#: Detector pixel size (mm) of the grid the network segments on; without a known pixel spacing, the radiograph is
#: shrunk to at most :data:`FALLBACK_PIXELS` pixels a side.
MASK_PIXEL_MM = 2.0
FALLBACK_PIXELS = 192
SIZE_MULTIPLE = 16
MODEL_NAME = "FemurMask.pt"
#: A white shutter (:func:`whiteShutters`): a run of image lines from an edge, rows for the top and bottom bands and
#: columns for the side ones, each with at least SHUTTER_SHARE of its pixels within SHUTTER_TOLERANCE of the line's
#: median, that median at least SHUTTER_BRIGHTNESS of the way from the image's 1st to its 99th percentile; lines of
#: burned-in text on the band (up to SHUTTER_GAP_MM of lines in a row, on the detector) do not end the run. Lines
#: through a patient vary more: bone, soft tissue of varying depth, air.
SHUTTER_SHARE, SHUTTER_TOLERANCE, SHUTTER_BRIGHTNESS, SHUTTER_GAP_MM = 0.7, 0.03, 0.5, 8.0
#: Without a pixel spacing, the gap is this share of the lines.
SHUTTER_GAP_SHARE = 0.02


def modelPath() -> Path:
    """The bundled ``FemurMask.pt`` (source tree or installed extension, as the module's other models)."""
    from ReconCoreLib.models import modelSearchDirectories

    candidates = [directory / MODEL_NAME for directory in modelSearchDirectories("FemurRegistration")]
    found = [path for path in candidates if path.is_file()]
    if not found:
        raise ValueError(f"the femur mask network is not bundled (expected {candidates[0]}); draw the masks")
    return found[0]


def gridShape(shape: Sequence[int], pixelSpacingMm: Optional[Sequence[float]]) -> tuple[int, int]:
    """(rows, columns) of a radiograph of ``shape`` on the network's grid (never larger than the radiograph)."""
    if pixelSpacingMm is None:
        factor = max(1, math.ceil(max(shape) / FALLBACK_PIXELS))
        return tuple(max(1, int(round(count / factor))) for count in shape)
    return tuple(min(int(count), max(1, int(round(count * float(spacing) / MASK_PIXEL_MM))))
                 for count, spacing in zip(shape, pixelSpacingMm))


def normalise(image: np.ndarray) -> np.ndarray:
    """``image`` (float32) scaled so its 1st percentile is 0 and its 99th is 1."""
    image = np.asarray(image, np.float32)
    low, high = np.percentile(image, [1.0, 99.0])
    return (image - low) / max(float(high - low), 1e-6)


def _runFromStart(uniform: np.ndarray, gap: int) -> int:
    """The number of lines from the first that belong to the band: up to the last uniform line reached through
    non-uniform stretches of at most ``gap`` lines."""
    end, missing = 0, 0
    for index, isUniform in enumerate(uniform):
        if isUniform:
            end, missing = index + 1, 0
        else:
            missing += 1
            if missing > gap or end == 0:
                break
    return end


def whiteShutters(image: np.ndarray, pixelSpacingMm: Optional[Sequence[float]] = None) -> np.ndarray:
    """Where the radiograph shows a white collimator shutter (bool, its shape): the bright uniform bands along its
    edges (constants above); ``pixelSpacingMm`` (row, column) sizes the gap text may leave in a band."""
    image = np.asarray(image, np.float32)
    low, high = np.percentile(image, [1.0, 99.0])
    spread = max(float(high - low), 1e-6)
    shutter = np.zeros(image.shape, bool)
    for axis, lines in ((0, image), (1, image.T)):
        median = np.median(lines, axis=1)
        share = (np.abs(lines - median[:, None]) <= SHUTTER_TOLERANCE * spread).mean(axis=1)
        uniform = (share >= SHUTTER_SHARE) & (median >= low + SHUTTER_BRIGHTNESS * spread)
        gap = (int(SHUTTER_GAP_MM / float(pixelSpacingMm[axis])) if pixelSpacingMm is not None else
               int(SHUTTER_GAP_SHARE * len(uniform)))
        first, last = _runFromStart(uniform, gap), _runFromStart(uniform[::-1], gap)
        for band in (slice(0, first), slice(len(uniform) - last, len(uniform))):
            shutter[(band, slice(None)) if axis == 0 else (slice(None), band)] = True
    return shutter


def loadModel(path: Optional[Path] = None, device: str = "cpu"):
    """The bundled mask network (or the one at ``path``), loaded once per file version and device
    (:class:`~ReconCoreLib.models.ModelFile`)."""
    from ReconCoreLib.models import ModelFile

    return ModelFile(path or modelPath()).load(device)


def femurProbability(pixels: np.ndarray, pixelSpacingMm: Optional[Sequence[float]] = None, model=None,
                     device: str = "cpu") -> np.ndarray:
    """The network's femur probability (float32, the radiograph's size); ``ValueError`` for a flat radiograph.

    The network was trained on radiographs that show a femur: on one without, it may still mark a region (the run's
    input gates, :func:`~.checks.checkMasks`, judge whether a proposal looks like a femur)."""
    import torch
    import torch.nn.functional as functional

    from ReconCoreLib.resample import areaAverage

    image = np.asarray(pixels, np.float32)
    shutter = whiteShutters(image, pixelSpacingMm)
    if shutter.any() and not shutter.all():
        image = np.where(shutter, np.float32(np.percentile(image[~shutter], 1.0)), image)
    shape = gridShape(image.shape, pixelSpacingMm)
    small = areaAverage(image, *shape)
    low, high = np.percentile(small, [1.0, 99.0])
    if float(high - low) <= 1e-6 * max(1.0, abs(float(high))):
        raise ValueError("the radiograph is flat (no contrast): no femur found for a mask proposal; draw the mask")
    small = normalise(small)
    padded = [int(math.ceil(count / SIZE_MULTIPLE) * SIZE_MULTIPLE) for count in shape]
    tensor = torch.zeros(1, 1, *padded)
    tensor[0, 0, :shape[0], :shape[1]] = torch.from_numpy(small)
    model = model if model is not None else loadModel(device=device)
    with torch.inference_mode():
        logits = model(tensor.to(device)).float().cpu()[:, :, :shape[0], :shape[1]]
        probability = functional.interpolate(torch.sigmoid(logits), size=image.shape, mode="bilinear",
                                             align_corners=False)
    probability = probability[0, 0].numpy()
    probability[shutter] = 0.0
    return probability


def proposeFemurMask(pixels: np.ndarray, pixelSpacingMm: Optional[Sequence[float]] = None, model=None,
                     device: str = "cpu") -> np.ndarray:
    """A femur mask proposal (uint8 0/1, the radiograph's size): the largest component where the network's femur
    probability is at least 0.5, holes filled (SimpleITK).

    :raises ValueError: a flat radiograph, or the network finds no femur.
    """
    import SimpleITK as sitk

    femur = (femurProbability(pixels, pixelSpacingMm, model, device) >= 0.5).astype(np.uint8)
    if not femur.any():
        raise ValueError("no femur found in the radiograph for a mask proposal; draw the mask")
    components = sitk.RelabelComponent(sitk.ConnectedComponent(sitk.GetImageFromArray(femur)), sortByObjectSize=True)
    return sitk.GetArrayFromImage(sitk.BinaryFillhole(sitk.Cast(components == 1, sitk.sitkUInt8))).astype(np.uint8)

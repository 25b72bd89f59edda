"""The radiographs as the network sees them: side, femur masks, the virtual detector, input checks.

1. Side: the network knows right femurs. A left femur is registered as the mirrored (x -> -x, LPS) right femur:
   primary angles negated and image columns flipped (:func:`~.mirroring.mirrorGeometry`). "Working frame" below
   means the right-femur frame the network sees (the patient frame for a right femur, its mirror image for a left
   one). The side comes from the user, else the files' DICOM laterality (:func:`resolveSide`).
2. Femur masks: given (one per view, same size as its radiograph), else a proposal (:func:`proposeFemurMask`:
   multi-level Otsu, largest bright component, holes filled) that the user can correct.
3. Virtual detector: each radiograph and mask is resampled (after a Gaussian anti-aliasing filter) onto the
   network's detector, :data:`~.conventions.IMAGE_SIZE` x IMAGE_SIZE pixels of
   :data:`~.conventions.DETECTOR_PIXEL_MM`, centred on the principal point, same angles and distances: every
   virtual pixel is placed on the detector plane (LPS) and projected back to the original image's pixel.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ReconCoreLib.progress import Progress
from ReconCoreLib.xraygeometry import CArmGeometry, viewSeparationDeg
from ReconCoreLib.xrayio import XrayImage, checkImage, isDicom, sidecarPath

from .conventions import DETECTOR_PIXEL_MM, IMAGE_SIZE, SIDES, VIEW_NAMES
from .mirroring import mirrorGeometry

MIN_SEPARATION_DEG = 30.0
WARN_SEPARATION_DEG = 60.0
#: Primary angles of the training views (working frame): AP 0 +- 30 deg, lateral -90 +- 30 deg; secondary 0.
TRAINED_PRIMARY_DEG = ((-30.0, 30.0), (-120.0, -60.0))
TRAINED_SECONDARY_DEG = 5.0
#: Mask proposals are computed on a copy at most this many pixels wide.
PROPOSAL_PIXELS = 128
#: The dark side of a split is air when its mean is this close (fraction of the range) to the darkest pixels.
PROPOSAL_AIR_FRACTION = 0.15


def lateralityOfFile(path) -> Optional[str]:
    """'left' / 'right' from a radiograph's DICOM ImageLaterality (else Laterality) or its JSON sidecar; else None."""
    path = Path(path)
    value = None
    if isDicom(path):
        import pydicom

        try:
            dataset = pydicom.dcmread(str(path), stop_before_pixels=True)
        except Exception:  # unreadable files are reported by the image reader, with a better message
            return None
        value = dataset.get("ImageLaterality") or dataset.get("Laterality")
    elif sidecarPath(path).is_file():
        try:
            attributes = json.loads(sidecarPath(path).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if isinstance(attributes, dict):
            value = attributes.get("ImageLaterality") or attributes.get("Laterality")
    return {"L": "left", "R": "right"}.get(str(value or "").strip().upper())


def resolveSide(side: Optional[str], paths: Sequence = ()) -> str:
    """``side`` when it is 'left' or 'right'; for None / 'auto' the files' laterality, else 'right'.

    :raises ValueError: an unknown side, or files that disagree on laterality.
    """
    if side in SIDES:
        return side
    if side not in (None, "", "auto"):
        raise ValueError(f"side must be 'left', 'right' or 'auto', got {side!r}")
    found = {lateralityOfFile(path) for path in paths if path}
    found.discard(None)
    if len(found) > 1:
        raise ValueError("the radiographs disagree on laterality (one says left, the other right); give the side")
    return found.pop() if found else "right"


def checkMask(mask, shape, name: str) -> np.ndarray:
    """A femur mask as bool (rows, columns): 2D, finite, non-empty, the size of its radiograph."""
    array = np.asarray(mask)
    if array.ndim == 3 and 1 in array.shape:
        array = array.reshape([size for size in array.shape if size != 1])
    if array.ndim != 2:
        raise ValueError(f"{name} femur mask: expected a 2D image, got shape {np.shape(mask)}")
    if array.shape != tuple(shape):
        raise ValueError(f"{name} femur mask {array.shape[0]} x {array.shape[1]} and radiograph {shape[0]} x "
                         f"{shape[1]} differ in size")
    if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
        raise ValueError(f"{name} femur mask: values are not numbers ({array.dtype})")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} femur mask contains NaN or infinite values")
    binary = array > 0
    if not binary.any():
        raise ValueError(f"{name} femur mask is empty")
    return binary


def _otsuLevel(values: np.ndarray) -> float:
    import SimpleITK as sitk

    otsu = sitk.OtsuThresholdImageFilter()
    otsu.SetInsideValue(0)
    otsu.SetOutsideValue(1)
    otsu.Execute(sitk.GetImageFromArray(np.asarray(values, np.float32).reshape(1, -1)))
    return float(otsu.GetThreshold())


def proposeFemurMask(pixels: np.ndarray) -> np.ndarray:
    """A femur mask proposal (uint8 0/1, the radiograph's size) for a radiograph with bright bone, to check and edit.

    On a smoothed copy at most :data:`PROPOSAL_PIXELS` wide, Otsu's threshold splits the region (first the whole
    image) and the largest bright component is kept. When the dark side of the split is air (its mean within
    :data:`PROPOSAL_AIR_FRACTION` of the intensity range above the darkest pixels), that component is the body,
    and the split is repeated inside it (border eroded by 4 %). The bone component is then closed and its holes
    filled (SimpleITK). Pelvic bone touching the femoral head may be included.

    :raises ValueError: nothing bright enough to be bone.
    """
    import SimpleITK as sitk

    image = np.asarray(pixels, np.float32)
    factor = max(1, math.ceil(max(image.shape) / PROPOSAL_PIXELS))
    rows, columns = math.ceil(image.shape[0] / factor), math.ceil(image.shape[1] / factor)
    padded = np.pad(image, ((0, rows * factor - image.shape[0]), (0, columns * factor - image.shape[1])), mode="edge")
    small = padded.reshape(rows, factor, columns, factor).mean(axis=(1, 3))
    smoothed = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(small), 1.0))
    region = np.ones(smoothed.shape, bool)
    margin = max(1, int(round(0.04 * max(small.shape))))
    low, high = np.percentile(smoothed, [1, 99])
    bone = None
    for _ in range(2):
        values = smoothed[region]
        if values.size < 10 or float(values.max() - values.min()) <= 1e-6 * max(1.0, float(np.abs(values).max())):
            break
        level = _otsuLevel(values)
        bright = sitk.GetImageFromArray(((smoothed > level) & region).astype(np.uint8))
        bright = sitk.BinaryMorphologicalOpening(bright, [1, 1])
        largest = sitk.RelabelComponent(sitk.ConnectedComponent(bright), sortByObjectSize=True) == 1
        if not sitk.GetArrayViewFromImage(largest).any():
            break
        bone = largest
        dark = values[values <= level]
        if dark.size == 0 or float(dark.mean()) - low > PROPOSAL_AIR_FRACTION * (high - low):
            break  # the dark side is soft tissue: the bright component is bone
        region = sitk.GetArrayFromImage(sitk.BinaryErode(largest, [margin, margin])) > 0
    if bone is None:
        raise ValueError("no bone-like bright region found for a femur mask proposal; draw the mask")
    filled = sitk.GetArrayFromImage(sitk.BinaryFillhole(sitk.BinaryMorphologicalClosing(
        sitk.Cast(bone, sitk.sitkUInt8), [2, 2])))
    full = np.repeat(np.repeat(filled.astype(np.uint8), factor, axis=0), factor, axis=1)
    return full[:image.shape[0], :image.shape[1]]


def virtualDetector(geometry: CArmGeometry) -> CArmGeometry:
    """The network's detector for a view: same angles and distances, 96 x 96 pixels of 2.03 mm, same centre."""
    return CArmGeometry(geometry.primaryAngleDeg, geometry.secondaryAngleDeg, geometry.sourceToDetectorMm,
                        geometry.sourceToPatientMm, (DETECTOR_PIXEL_MM, DETECTOR_PIXEL_MM), IMAGE_SIZE, IMAGE_SIZE)


def resampleToDetector(pixels: np.ndarray, geometry: CArmGeometry, target: CArmGeometry) -> np.ndarray:
    """Resample an image of ``geometry`` onto the detector of ``target`` (float32, target rows x columns).

    Each target pixel is placed on its detector plane (LPS) and projected through ``geometry`` onto the source
    image (bilinear; 0 outside it). When target pixels are larger, a Gaussian of sigma (scale - 1) / 2 source
    pixels is applied first (anti-aliasing).
    """
    from scipy.ndimage import gaussian_filter, map_coordinates

    image = np.asarray(pixels, np.float32)
    magnification = geometry.sourceToDetectorMm / target.sourceToDetectorMm  # target mm -> source detector mm
    scale = [target.pixelSpacingMm[axis] * magnification / geometry.pixelSpacingMm[axis] for axis in (0, 1)]
    sigma = [max(0.0, (value - 1.0) / 2.0) for value in scale]
    if max(sigma) > 0:
        image = gaussian_filter(image, sigma, mode="nearest")
    columns, rows = np.meshgrid(np.arange(target.columns, dtype=float), np.arange(target.rows, dtype=float))
    detector = target.pixelToDetectorLps(np.stack([columns.ravel(), rows.ravel()], axis=1))
    source = geometry.projectLps(detector)
    values = map_coordinates(image, [source[:, 1], source[:, 0]], order=1, mode="constant", cval=0.0)
    return values.reshape(target.rows, target.columns).astype(np.float32)


@dataclass
class NetworkView:
    """One view as the network sees it (working frame): image, mask, geometry, and the mask at full size."""

    image: np.ndarray  # float32 [96, 96]
    mask: np.ndarray  # float32 0/1 [96, 96]
    geometry: CArmGeometry  # virtual detector, mirrored for a left femur
    fullMask: np.ndarray  # uint8 (rows, columns) on the input radiograph
    maskProposed: bool


def prepareView(view: XrayImage, mask, side: str, name: str) -> NetworkView:
    """Mask (given or proposed), then image and mask on the virtual detector, mirrored for a left femur."""
    view = XrayImage(checkImage(view.pixels, view.sourcePath or f"{name} radiograph"), view.geometry, view.sourcePath,
                     view.modality, view.frameIndex, view.numberOfFrames)
    if (view.geometry.rows, view.geometry.columns) != view.pixels.shape:
        raise ValueError(f"{name} radiograph: geometry says {view.geometry.rows} x {view.geometry.columns} pixels, "
                         f"the image is {view.pixels.shape[0]} x {view.pixels.shape[1]}")
    if mask is None:
        fullMask, proposed = proposeFemurMask(view.pixels), True
    else:
        fullMask, proposed = checkMask(mask, view.pixels.shape, name).astype(np.uint8), False
    target = virtualDetector(view.geometry)
    image = resampleToDetector(view.pixels, view.geometry, target)
    networkMask = (resampleToDetector(fullMask.astype(np.float32), view.geometry, target) >= 0.5).astype(np.float32)
    if not networkMask.any():
        raise ValueError(f"{name} femur mask lies outside the network's field of view "
                         f"({IMAGE_SIZE * DETECTOR_PIXEL_MM:.0f}"
                         " mm square on the detector, centred on the central ray)")
    if side == "left":
        image, networkMask = image[:, ::-1].copy(), networkMask[:, ::-1].copy()
        target = mirrorGeometry(target)
    return NetworkView(image, networkMask, target, fullMask, proposed)


def checkSeparation(first: CArmGeometry, second: CArmGeometry) -> float:
    """The angle between the two views (deg); ``ValueError`` below :data:`MIN_SEPARATION_DEG`."""
    separation = viewSeparationDeg(first, second)
    if separation < MIN_SEPARATION_DEG:
        raise ValueError(f"the AP and lateral views are only {separation:.1f} deg apart; at least "
                         f"{MIN_SEPARATION_DEG:.0f} deg is needed to register in 3D")
    return separation


def prepareInputs(apView: XrayImage, latView: XrayImage, apMask=None, latMask=None, side: str = "right",
                  progress: Optional[Progress] = None) -> tuple[list, list[str]]:
    """The two :class:`NetworkView` (working frame) and the warnings about the inputs.

    Warnings: views less than :data:`WARN_SEPARATION_DEG` apart, views outside the training range, proposed masks.
    :raises ValueError: views too close, unknown side, bad image or mask.
    """
    separation = checkSeparation(apView.geometry, latView.geometry)
    if side not in SIDES:
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    warnings = []
    if separation < WARN_SEPARATION_DEG:
        warnings.append(f"the views are {separation:.1f} deg apart (< {WARN_SEPARATION_DEG:.0f} deg): depth is poorly "
                        "determined, check the result against both radiographs")
    progress = Progress.of(progress)
    progress(0.02, "femur masks")
    views = []
    for index, (name, view, mask) in enumerate(zip(VIEW_NAMES, (apView, latView), (apMask, latMask))):
        views.append(prepareView(view, mask, side, name))
        if views[-1].maskProposed:
            warnings.append(f"no {name} femur mask was given: an automatic proposal was used (check it)")
        progress(0.08 + 0.08 * index, "femur masks")
    return views, warnings + trainingRangeWarnings([view.geometry for view in views])


def trainingRangeWarnings(geometries) -> list[str]:
    warnings = []
    for name, geometry, (low, high) in zip(VIEW_NAMES, geometries, TRAINED_PRIMARY_DEG):
        if not low <= geometry.primaryAngleDeg <= high or abs(geometry.secondaryAngleDeg) > TRAINED_SECONDARY_DEG:
            warnings.append(f"{name} view (primary {geometry.primaryAngleDeg:.0f} deg, secondary "
                            f"{geometry.secondaryAngleDeg:.0f} deg in the right-femur frame) is outside the views the "
                            f"network was trained on (primary {low:.0f} to {high:.0f} deg, secondary 0): check the "
                            "result against the radiographs")
    return warnings

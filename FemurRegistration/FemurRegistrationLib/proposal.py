"""The map of every bright bone region on a radiograph (:func:`proposeBoneMap`), which shows whether both hips are in
view, and its largest region (:func:`proposeFemurMask`: the femur mask proposal before the network of
:mod:`.femurmask` replaced it; kept as the baseline ``FemurRegistrationDev.maskevaluate`` compares with).

Why written here: Otsu's threshold and the morphology are SimpleITK's; the two-step split (body from air, then bone
inside the body) is specific to radiographs that may or may not show the air around the patient.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from ReconCoreLib.resample import areaAverage

#: Mask proposals are computed on a copy of pixels of about this size (detector mm; 128 pixels over the samples'
#: 205 mm detector), with the filters below in mm: the proposal is the same at any pixel count.
PROPOSAL_PIXEL_MM = 1.6
#: Without a pixel spacing the copy is at most this many pixels wide.
PROPOSAL_PIXELS = 128
#: Gaussian smoothing (sigma), opening and closing radii, and the body border left out of the second split (mm).
PROPOSAL_SMOOTHING_MM, PROPOSAL_OPENING_MM, PROPOSAL_CLOSING_MM, PROPOSAL_BORDER_MM = 1.6, 1.6, 3.2, 8.0
#: The dark side of a split is air when its mean is this close (fraction of the range) to the darkest pixels.
PROPOSAL_AIR_FRACTION = 0.15

def _otsuLevel(values: np.ndarray) -> float:
    import SimpleITK as sitk

    otsu = sitk.OtsuThresholdImageFilter()
    otsu.SetInsideValue(0)
    otsu.SetOutsideValue(1)
    otsu.Execute(sitk.GetImageFromArray(np.asarray(values, np.float32).reshape(1, -1)))
    return float(otsu.GetThreshold())


def proposeFemurMask(pixels: np.ndarray, pixelSpacingMm: Optional[Sequence[float]] = None) -> np.ndarray:
    """A femur mask proposal (uint8 0/1, the radiograph's size) for a radiograph with bright bone, to check and edit.

    On a copy of about :data:`PROPOSAL_PIXEL_MM` pixels over the same field (area means, :func:`areaAverage`; without
    ``pixelSpacingMm``, (row, column) detector mm, a copy at most :data:`PROPOSAL_PIXELS` wide), smoothed by a
    Gaussian of :data:`PROPOSAL_SMOOTHING_MM`, Otsu's threshold splits the region (first the whole image) and the
    largest bright component is kept (opened by :data:`PROPOSAL_OPENING_MM`). When the dark side of the split is air
    (its mean within :data:`PROPOSAL_AIR_FRACTION` of the intensity range above the darkest pixels), that component is
    the body, and the split is repeated inside it (its border eroded by :data:`PROPOSAL_BORDER_MM`). The bone
    component is then closed (:data:`PROPOSAL_CLOSING_MM`) and its holes filled (SimpleITK). Every size is in mm, so
    the proposal does not depend on the image's pixel count. Pelvic bone touching the femoral head may be included.

    :raises ValueError: nothing bright enough to be bone.
    """
    return _boneSplit(pixels, pixelSpacingMm, largestOnly=True)


def proposeBoneMap(pixels: np.ndarray, pixelSpacingMm: Optional[Sequence[float]] = None) -> np.ndarray:
    """Every bright component of :func:`proposeFemurMask`'s split, not only the largest (uint8 0/1, the radiograph's
    size): both femurs when both hips are in view.

    :raises ValueError: nothing bright enough to be bone.
    """
    return _boneSplit(pixels, pixelSpacingMm, largestOnly=False)


def _boneSplit(pixels: np.ndarray, pixelSpacingMm: Optional[Sequence[float]], largestOnly: bool) -> np.ndarray:
    import SimpleITK as sitk

    image = np.asarray(pixels, np.float32)
    if pixelSpacingMm is None:  # no spacing known: at most PROPOSAL_PIXELS wide, pixels taken as PROPOSAL_PIXEL_MM
        factor = max(1, math.ceil(max(image.shape) / PROPOSAL_PIXELS))
        shape = tuple(max(1, int(round(count / factor))) for count in image.shape)
        workingMm = (PROPOSAL_PIXEL_MM, PROPOSAL_PIXEL_MM)
    else:  # the field at the pixel size closest to PROPOSAL_PIXEL_MM (none finer than the image's own)
        shape = tuple(min(count, max(1, int(round(count * float(spacing) / PROPOSAL_PIXEL_MM))))
                      for count, spacing in zip(image.shape, pixelSpacingMm))
        workingMm = tuple(float(spacing) * count / size
                          for spacing, count, size in zip(pixelSpacingMm, image.shape, shape))

    def radius(mm: float) -> list[int]:  # SimpleITK order (x = column, y = row), at least one pixel
        return [max(1, int(round(mm / workingMm[1]))), max(1, int(round(mm / workingMm[0])))]

    small = areaAverage(image, *shape)
    smallImage = sitk.GetImageFromArray(small)
    smallImage.SetSpacing((workingMm[1], workingMm[0]))
    smoothed = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(smallImage, PROPOSAL_SMOOTHING_MM))
    region = np.ones(smoothed.shape, bool)
    low, high = np.percentile(smoothed, [1, 99])
    bone = None
    for _ in range(2):
        values = smoothed[region]
        if values.size < 10 or float(values.max() - values.min()) <= 1e-6 * max(1.0, float(np.abs(values).max())):
            break
        level = _otsuLevel(values)
        bright = sitk.GetImageFromArray(((smoothed > level) & region).astype(np.uint8))
        bright = sitk.BinaryMorphologicalOpening(bright, radius(PROPOSAL_OPENING_MM))
        largest = sitk.RelabelComponent(sitk.ConnectedComponent(bright), sortByObjectSize=True) == 1
        if not sitk.GetArrayViewFromImage(largest).any():
            break
        bone = largest if largestOnly else bright
        dark = values[values <= level]
        if dark.size == 0 or float(dark.mean()) - low > PROPOSAL_AIR_FRACTION * (high - low):
            break  # the dark side is soft tissue: the bright component is bone
        region = sitk.GetArrayFromImage(sitk.BinaryErode(largest, radius(PROPOSAL_BORDER_MM))) > 0
    if bone is None:
        raise ValueError("no bone-like bright region found for a femur mask proposal; draw the mask")
    filled = sitk.GetArrayFromImage(sitk.BinaryFillhole(sitk.BinaryMorphologicalClosing(
        sitk.Cast(bone, sitk.sitkUInt8), radius(PROPOSAL_CLOSING_MM))))
    rows, columns = (np.floor((np.arange(count) + 0.5) * size / count).astype(int)  # the copy's pixel of each pixel
                     for count, size in zip(image.shape, shape))
    return filled.astype(np.uint8)[rows][:, columns]

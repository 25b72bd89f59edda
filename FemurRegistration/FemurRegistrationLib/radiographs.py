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
   virtual pixel is placed on the detector plane (LPS) and projected back to the original image's pixel. Every
   filter is in mm (anti-aliasing, mask proposal, mask figures): the network's inputs do not depend on the pixel count.
4. Input plausibility (:func:`checkMasks`): each mask is measured in mm at the isocenter (detector mm divided by the
   magnification SID / SOD) and must look like an adult femur on its own radiograph (shaft and proximal widths, bone
   brighter than around it, outline on bone edges); the two views must see the same bone length and the neck must
   be wider on the AP view. A pixel spacing off by 2x, masks swapped between the views or a mask of another place
   stop the run with a one-line message (:mod:`ReconCoreLib.plausibility`).
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
from ReconCoreLib.dicomvalues import text
from ReconCoreLib.xrayio import XrayImage, checkImage, isDicom, sidecarPath

from .conventions import DETECTOR_PIXEL_MM, IMAGE_SIZE, SIDES, VIEW_NAMES
from .mirroring import mirrorGeometry

MIN_SEPARATION_DEG = 30.0
WARN_SEPARATION_DEG = 60.0
#: Point spread of the network's view of a radiograph: a Gaussian of this sigma in virtual detector pixels (0.81 mm
#: on the detector), the same at any source resolution (the former filter, sigma (scale - 1) / 2 source pixels, gave
#: 0.41 pixel at the samples' 0.4 mm pixels but 0.36 pixel at 0.8 mm and 0.48 pixel at 0.1 mm).
DETECTOR_SIGMA_PIXELS = 0.4
#: Primary angles of the training views (working frame): AP 0 +- 30 deg, lateral -90 +- 30 deg; secondary 0.
TRAINED_PRIMARY_DEG = ((-30.0, 30.0), (-120.0, -60.0))
TRAINED_SECONDARY_DEG = 5.0
#: Input plausibility (:func:`checkMasks`), sizes in mm at the isocenter. The masks are measured on copies of about
#: this pixel size, with these filters: the inferior quarter of a mask is its shaft; the bone contrast compares the
#: mask with a band this wide around it; edges are found after a Gaussian of this sigma.
FIGURES_PIXEL_MM, SHAFT_SHARE, CONTRAST_BAND_MM, EDGE_SMOOTHING_MM = 0.5, 0.25, 5.0, 2.0
#: Ranges, with the figures of the samples' true masks and of 24 held-out phantom radiograph pairs (12 phantoms,
#: orthogonal and +-30 deg views, 512 x 0.4 mm, ``FemurRegistrationDev``):
#: - shaft width 20-40 mm: adult femoral shafts measure about 25-35 mm across below the lesser trochanter (phantoms
#:   26.3-35.5 mm, samples 25.2-28.1 mm). The range spans exactly a factor 2, so an ImagerPixelSpacing (or SID / SOD)
#:   off by 2x in either direction takes any femur inside it out of it.
#: - proximal width 35-130 mm: at least the femoral head's diameter (>= 35 mm in adults; a sphere, seen whole on every
#:   view), at most the head-to-greater-trochanter span of a large femur seen AP (head radius <= 30 mm + offset
#:   <= 55 mm + trochanter <= 30 mm lateral of the shaft axis, with margin). Phantoms: AP 74-102 mm, lateral 45-71 mm;
#:   samples: AP 72.2-82.9 mm, lateral 44.4-52.2 mm.
#: - height >= 50 mm: the femoral head and neck at least (phantoms 150-162 mm: their crop box).
#: - bone contrast >= 0.03: a femur is brighter than the soft tissue around it (phantoms 0.13-0.32, samples 0.14-0.23;
#:   a mask of air or soft tissue is 0 or below; a mask of the other view still overlaps the bone: 0.06-0.15).
#: - outline on edges >= 0.87: true masks 0.99-1.00, masks drawn 3 mm too wide or narrow >= 0.92; a mask shifted by
#:   10 mm 0.53-0.70, mirrored 0.47-0.71, the other view's 0.48-0.98 (caught by the width ratio below).
#: - proximal width ratio AP / lateral >= 1.0 (both views within the trained range): the femoral neck is seen
#:   along its length on an AP view and end-on on a lateral one (phantoms 1.14-1.76, samples 1.38 and 1.87; swapped
#:   masks give the inverse, 0.53-0.88).
#: - height ratio <= (SOD + 64) / (SOD - 64) + 0.05 (1.20 at the samples' SOD 925 mm): both views see the same bone
#:   length; a bone edge up to 64 mm (half the crop box) from the isocenter along a ray is magnified up to that much
#:   more on one view than the other, plus 5 % for drawing. Phantoms 1.00-1.03, samples 1.00 and 1.02.
SHAFT_WIDTH_RANGE_MM = (20.0, 40.0)
PROXIMAL_WIDTH_RANGE_MM = (35.0, 130.0)
MIN_FEMUR_HEIGHT_MM = 50.0
MIN_BONE_CONTRAST = 0.03
MIN_OUTLINE_ON_EDGES = 0.87
MIN_PROXIMAL_WIDTH_RATIO = 1.0
FEMUR_DEPTH_MM = 64.0
HEIGHT_DRAWING_TOLERANCE = 0.05
#: Mask proposals are computed on a copy of pixels of about this size (detector mm; 128 pixels over the samples'
#: 205 mm detector), with the filters below in mm: the proposal is the same at any pixel count.
PROPOSAL_PIXEL_MM = 1.6
#: Without a pixel spacing the copy is at most this many pixels wide.
PROPOSAL_PIXELS = 128
#: Gaussian smoothing (sigma), opening and closing radii, and the body border left out of the second split (mm).
PROPOSAL_SMOOTHING_MM, PROPOSAL_OPENING_MM, PROPOSAL_CLOSING_MM, PROPOSAL_BORDER_MM = 1.6, 1.6, 3.2, 8.0
#: The dark side of a split is air when its mean is this close (fraction of the range) to the darkest pixels.
PROPOSAL_AIR_FRACTION = 0.15
#: DICOM laterality codes -> side.
LATERALITY_SIDES = {"L": "left", "R": "right"}


def _lateralityValue(value, keyword: str, source: str) -> Optional[str]:
    """'left' / 'right' of one ImageLaterality / Laterality value (R, L; U unpaired and B both say nothing)."""
    text = str(value or "").strip().upper()
    if text in ("", "U", "B"):
        return None
    if text not in LATERALITY_SIDES:
        raise ValueError(f"{source}: {keyword} is {value!r}; expected R, L, U or B (give the side)")
    return LATERALITY_SIDES[text]


def lateralityOfFile(path) -> Optional[str]:
    """'left' / 'right' from a radiograph's DICOM ImageLaterality (else Laterality) or its JSON sidecar; else None.

    :raises ValueError: a multi-valued or unknown laterality, or a sidecar laterality that is not text.
    """
    path = Path(path)
    if isDicom(path):
        import pydicom

        try:
            dataset = pydicom.dcmread(str(path), stop_before_pixels=True)
        except Exception:  # unreadable files are reported by the image reader, with a better message
            return None
        for keyword in ("ImageLaterality", "Laterality"):
            side = _lateralityValue(text(dataset, keyword, str(path)), keyword, str(path))
            if side:
                return side
        return None
    if not sidecarPath(path).is_file():
        return None
    sidecar = sidecarPath(path)
    try:
        attributes = json.loads(sidecar.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # the image reader reports it
    if not isinstance(attributes, dict):
        return None
    for keyword in ("ImageLaterality", "Laterality"):
        value = attributes.get(keyword)
        if value is not None and not isinstance(value, str):  # a boolean, number or list is no laterality
            raise ValueError(f"{sidecar}: {keyword} must be the text \"L\" or \"R\", got {json.dumps(value)}")
        side = _lateralityValue(value, keyword, str(sidecar))
        if side:
            return side
    return None


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


def _blockMean(image: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """Mean over blocks of ``factors`` (rows, columns) pixels; the last blocks repeat the edge."""
    rowFactor, columnFactor = factors
    rows, columns = math.ceil(image.shape[0] / rowFactor), math.ceil(image.shape[1] / columnFactor)
    padded = np.pad(image, ((0, rows * rowFactor - image.shape[0]), (0, columns * columnFactor - image.shape[1])),
                    mode="edge")
    return padded.reshape(rows, rowFactor, columns, columnFactor).mean(axis=(1, 3))


def _blockFactors(pixelSpacingMm: Sequence[float], workingPixelMm: float) -> tuple[int, int]:
    """Integer block sizes (rows, columns) that bring pixels of ``pixelSpacingMm`` closest to ``workingPixelMm``."""
    return tuple(max(1, int(round(workingPixelMm / float(spacing)))) for spacing in pixelSpacingMm)


def proposeFemurMask(pixels: np.ndarray, pixelSpacingMm: Optional[Sequence[float]] = None) -> np.ndarray:
    """A femur mask proposal (uint8 0/1, the radiograph's size) for a radiograph with bright bone, to check and edit.

    On a copy of about :data:`PROPOSAL_PIXEL_MM` pixels (block means; without ``pixelSpacingMm``, (row, column)
    detector mm, a copy at most :data:`PROPOSAL_PIXELS` wide), smoothed by a Gaussian of
    :data:`PROPOSAL_SMOOTHING_MM`, Otsu's threshold splits the region (first the whole image) and the largest bright
    component is kept (opened by :data:`PROPOSAL_OPENING_MM`). When the dark side of the split is air (its mean
    within :data:`PROPOSAL_AIR_FRACTION` of the intensity range above the darkest pixels), that component is the
    body, and the split is repeated inside it (its border eroded by :data:`PROPOSAL_BORDER_MM`). The bone component
    is then closed (:data:`PROPOSAL_CLOSING_MM`) and its holes filled (SimpleITK). Every size is in mm, so the
    proposal does not depend on the image's pixel count. Pelvic bone touching the femoral head may be included.

    :raises ValueError: nothing bright enough to be bone.
    """
    import SimpleITK as sitk

    image = np.asarray(pixels, np.float32)
    if pixelSpacingMm is None:  # no spacing known: the nominal working pixel over at most PROPOSAL_PIXELS
        factors = (max(1, math.ceil(max(image.shape) / PROPOSAL_PIXELS)),) * 2
        workingMm = (PROPOSAL_PIXEL_MM, PROPOSAL_PIXEL_MM)
    else:
        factors = _blockFactors(pixelSpacingMm, PROPOSAL_PIXEL_MM)
        workingMm = tuple(float(spacing) * factor for spacing, factor in zip(pixelSpacingMm, factors))

    def radius(mm: float) -> list[int]:  # SimpleITK order (x = column, y = row), at least one pixel
        return [max(1, int(round(mm / workingMm[1]))), max(1, int(round(mm / workingMm[0])))]

    small = _blockMean(image, factors)
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
        bone = largest
        dark = values[values <= level]
        if dark.size == 0 or float(dark.mean()) - low > PROPOSAL_AIR_FRACTION * (high - low):
            break  # the dark side is soft tissue: the bright component is bone
        region = sitk.GetArrayFromImage(sitk.BinaryErode(largest, radius(PROPOSAL_BORDER_MM))) > 0
    if bone is None:
        raise ValueError("no bone-like bright region found for a femur mask proposal; draw the mask")
    filled = sitk.GetArrayFromImage(sitk.BinaryFillhole(sitk.BinaryMorphologicalClosing(
        sitk.Cast(bone, sitk.sitkUInt8), radius(PROPOSAL_CLOSING_MM))))
    full = np.repeat(np.repeat(filled.astype(np.uint8), factors[0], axis=0), factors[1], axis=1)
    return full[:image.shape[0], :image.shape[1]]


def virtualDetector(geometry: CArmGeometry) -> CArmGeometry:
    """The network's detector for a view: same angles and distances, 96 x 96 pixels of 2.03 mm, same centre."""
    return CArmGeometry(geometry.primaryAngleDeg, geometry.secondaryAngleDeg, geometry.sourceToDetectorMm,
                        geometry.sourceToPatientMm, (DETECTOR_PIXEL_MM, DETECTOR_PIXEL_MM), IMAGE_SIZE, IMAGE_SIZE)


def antiAliasingSigmaPixels(sourceSpacingMm: float, targetSpacingMm: float) -> float:
    """Gaussian sigma (source pixels) that gives a resampled image the point spread :data:`DETECTOR_SIGMA_PIXELS`
    target pixels, whatever the source's pixel size (both sizes in the same detector mm).

    The source pixel's aperture (variance s^2/12) and the bilinear interpolation (s^2/6) already blur by s^2/4;
    the filter adds the rest (none when the source pixels are that coarse).
    """
    variance = (DETECTOR_SIGMA_PIXELS * targetSpacingMm) ** 2 - sourceSpacingMm ** 2 / 4.0
    return math.sqrt(variance) / sourceSpacingMm if variance > 0 else 0.0


def resampleToDetector(pixels: np.ndarray, geometry: CArmGeometry, target: CArmGeometry) -> np.ndarray:
    """Resample an image of ``geometry`` onto the detector of ``target`` (float32, target rows x columns).

    Each target pixel is placed on its detector plane (LPS) and projected through ``geometry`` onto the source
    image (bilinear; 0 outside it). A Gaussian filter first (:func:`antiAliasingSigmaPixels`) gives every source
    resolution the same point spread in mm, so the result does not depend on the radiograph's pixel count.
    """
    from scipy.ndimage import gaussian_filter, map_coordinates

    image = np.asarray(pixels, np.float32)
    magnification = geometry.sourceToDetectorMm / target.sourceToDetectorMm  # target mm -> source detector mm
    sigma = [antiAliasingSigmaPixels(geometry.pixelSpacingMm[axis], target.pixelSpacingMm[axis] * magnification)
             for axis in (0, 1)]
    if max(sigma) > 0:
        image = gaussian_filter(image, sigma, mode="nearest", truncate=3.0)
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
        fullMask, proposed = proposeFemurMask(view.pixels, view.geometry.pixelSpacingMm), True
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


@dataclass(frozen=True)
class MaskFigures:
    """A femur mask measured on its radiograph, in mm at the isocenter (detector mm / magnification SID / SOD).

    Heights are along the image rows (superior-inferior for secondary angles near 0), positive above the central
    ray; widths along the columns.
    """

    topMm: float  #: superior end of the mask
    bottomMm: float  #: inferior end of the mask
    fieldMm: tuple  #: (bottom, top) of the radiograph's field
    shaftWidthMm: float  #: median width over the mask's inferior quarter (the shaft)
    proximalWidthMm: float  #: widest row (head, neck and trochanters)
    boneContrast: float  #: (mean inside - mean of the band around) / (99th - 1st percentile of the radiograph)
    outlineOnEdges: float  #: share of the outline where the radiograph darkens outwards (a bone edge)

    @property
    def heightMm(self) -> float:
        return self.topMm - self.bottomMm


def maskFigures(pixels: np.ndarray, mask: np.ndarray, geometry: CArmGeometry) -> MaskFigures:
    """Measure a femur mask on its radiograph (:class:`MaskFigures`), on a copy of about :data:`FIGURES_PIXEL_MM`
    pixels (block means) with every filter in mm, so the figures do not depend on the pixel count."""
    from scipy.ndimage import binary_erosion, distance_transform_edt, gaussian_filter

    isocenterMm = [spacing / geometry.magnification for spacing in geometry.pixelSpacingMm]  # (row, column)
    factors = _blockFactors(isocenterMm, FIGURES_PIXEL_MM)
    pixelMm = [spacing * factor for spacing, factor in zip(isocenterMm, factors)]
    image = _blockMean(np.asarray(pixels, np.float32), factors)
    share = _blockMean((np.asarray(mask) > 0).astype(np.float32), factors)
    inside = share >= 0.5 if (share >= 0.5).any() else share > 0  # a mask smaller than a block keeps its blocks
    rows = np.flatnonzero(inside.any(axis=1))

    def height(edge: float) -> float:  # ``edge``: a block row boundary -> mm above the central ray
        return float(((geometry.rows - 1) / 2.0 - (edge * factors[0] - 0.5)) * isocenterMm[0])

    widths = inside.sum(axis=1)[rows] * pixelMm[1]
    shaftRows = rows >= rows.max() - SHAFT_SHARE * (rows.max() - rows.min())
    band = ~inside & (distance_transform_edt(~inside, sampling=pixelMm) <= CONTRAST_BAND_MM)
    low, high = np.percentile(image, [1, 99])
    contrast = (float(image[inside].mean()) - float(image[band].mean())) / max(float(high - low), 1e-12) \
        if band.any() else 0.0
    sigma = [EDGE_SMOOTHING_MM / size for size in pixelMm]
    gradient = np.stack(np.gradient(gaussian_filter(image, sigma)))
    outward = -np.stack(np.gradient(gaussian_filter(inside.astype(np.float32), sigma)))
    outline = inside & ~binary_erosion(inside)
    outward = outward[:, outline] / np.maximum(np.linalg.norm(outward[:, outline], axis=0), 1e-12)
    darkening = -(gradient[:, outline] * outward).sum(axis=0)
    return MaskFigures(height(rows.min()), height(rows.max() + 1), (height(geometry.rows / factors[0]), height(0)),
                       float(np.median(widths[shaftRows])), float(widths.max()), contrast,
                       float(np.mean(darkening > 0)) if outline.any() else 0.0)


def heightAgreementLimit(geometries: Sequence[CArmGeometry]) -> float:
    """The largest plausible ratio of the femur's heights on two views (see :data:`FEMUR_DEPTH_MM`)."""
    distance = min(geometry.sourceToPatientMm for geometry in geometries)
    return (distance + FEMUR_DEPTH_MM) / (distance - FEMUR_DEPTH_MM) + HEIGHT_DRAWING_TOLERANCE


def heightRatio(first: MaskFigures, second: MaskFigures) -> float:
    """Ratio (>= 1) of the two masks' heights within the field both radiographs see (mm at the isocenter)."""
    bottom, top = max(first.fieldMm[0], second.fieldMm[0]), min(first.fieldMm[1], second.fieldMm[1])
    heights = [max(0.0, min(top, figures.topMm) - max(bottom, figures.bottomMm)) for figures in (first, second)]
    return max(heights) / max(min(heights), 1e-6)


def checkMasks(views: Sequence[XrayImage], networkViews: Sequence, readouts=None) -> list[MaskFigures]:
    """Input plausibility gates of the two femur masks on their radiographs (sizes in mm at the isocenter).

    The bone contrast gate always stops the run; the size and outline gates are recorded as failed checks on
    ``readouts`` when the user keeps implausible results (:mod:`ReconCoreLib.plausibility`).
    :raises ImplausibleResult: (a ``ValueError``) a mask or a pixel spacing that cannot be a femur's.
    """
    from ReconCoreLib.plausibility import gate

    figures = []
    for name, view, networkView in zip(VIEW_NAMES, views, networkViews):
        measured = maskFigures(view.pixels, networkView.fullMask, view.geometry)
        source = f"{name} femur mask{' (proposed)' if networkView.maskProposed else ''} on {view.sourcePath or name}"
        gate(None, "bone_contrast", measured.boneContrast, MIN_BONE_CONTRAST, None, "",
             "mask brighter than the 5 mm band around it (share of the image range): not on the femur", source)
        gate(readouts, "outline_on_edges", measured.outlineOnEdges, MIN_OUTLINE_ON_EDGES, 1.0, "",
             "share of the mask outline on a bone edge (a mask of another view or place?)", source)
        gate(readouts, "shaft_width_mm", measured.shaftWidthMm, *SHAFT_WIDTH_RANGE_MM, "mm",
             "femoral shaft width at the isocenter (check ImagerPixelSpacing and the distances)", source)
        gate(readouts, "proximal_width_mm", measured.proximalWidthMm, *PROXIMAL_WIDTH_RANGE_MM, "mm",
             "proximal femur width at the isocenter (check ImagerPixelSpacing and the distances)", source)
        gate(readouts, "height_mm", measured.heightMm, MIN_FEMUR_HEIGHT_MM, None, "mm",
             "femur mask height at the isocenter", source)
        figures.append(measured)
    if not trainingRangeWarnings([view.geometry for view in networkViews]):  # views near AP and lateral
        gate(readouts, "proximal_width_ratio", figures[0].proximalWidthMm / max(figures[1].proximalWidthMm, 1e-6),
             MIN_PROXIMAL_WIDTH_RATIO, None, "", "widest AP row of the femur / widest lateral row (the neck is seen "
             "whole on the AP view and end-on on the lateral: are the masks swapped?)", "AP and lateral femur masks")
    limit = heightAgreementLimit([view.geometry for view in views])
    gate(readouts, "height_ratio", heightRatio(*figures), 1.0, limit, "",
         "ratio of the femur's heights on the AP and lateral views within their common field (the same bone; check "
         "ImagerPixelSpacing, the distances and the masks)", "AP and lateral femur masks")
    return figures


def checkSeparation(first: CArmGeometry, second: CArmGeometry) -> float:
    """The angle between the two views (deg); ``ValueError`` below :data:`MIN_SEPARATION_DEG`."""
    separation = viewSeparationDeg(first, second)
    if separation < MIN_SEPARATION_DEG:
        raise ValueError(f"the AP and lateral views are only {separation:.1f} deg apart; at least "
                         f"{MIN_SEPARATION_DEG:.0f} deg is needed to register in 3D")
    return separation


def prepareInputs(apView: XrayImage, latView: XrayImage, apMask=None, latMask=None, side: str = "right",
                  progress: Optional[Progress] = None, readouts=None) -> tuple[list, list[str]]:
    """The two :class:`NetworkView` (working frame) and the warnings about the inputs.

    Warnings: views less than :data:`WARN_SEPARATION_DEG` apart, views outside the training range, proposed masks.
    The masks pass :func:`checkMasks` (failed gates are recorded on ``readouts`` when keeping implausible results).
    :raises ValueError: views too close, unknown side, bad image or mask, a mask or spacing that is no femur's.
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
    checkMasks((apView, latView), views, readouts)
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

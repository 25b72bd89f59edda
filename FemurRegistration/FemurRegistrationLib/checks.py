"""Checks and readouts of a registration: the plausibility gates of the inputs (femur masks measured on their
radiographs, :func:`checkMasks`; views outside the trained range, :func:`trainingRangeWarnings`), image agreement,
outlines on the radiographs, agreement with a reference, and the plausibility gates of the result
(:func:`gateResult`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ReconCoreLib.virtualdetector import oppositeDetector
from ReconCoreLib.xraygeometry import CArmGeometry

from .conventions import ATLAS_SPACING_MM, IMAGE_SIZE, NETWORK_SPACING_MM, RAY_RADIUS_MM, VIEW_NAMES
from .grid import boxGrid
from .mirroring import mirrorGeometry

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

#: The projected outline is computed on pixels of about this size (detector mm: finer than the 2 mm grid of the
#: label it projects, so nothing is lost), then interpolated to the radiograph: the same at any pixel count.
OUTLINE_PIXEL_MM = 1.6
OUTLINE_SAMPLES_PER_RAY = 96
#: Output plausibility gates (readout key, (low, high), unit, what). A value outside is a failed reconstruction
#: far more likely than a patient:
#: - head diameter: adult femoral heads measure about 40-55 mm (means of about 43-45 mm in women and 48-50 mm in men,
#:   SD about 3 mm, in CT and radiographic series); 35 and 60 mm lie beyond 3 SD of either. The atlas's head is
#:   45.9 mm, the held-out phantoms' 43-55 mm.
#: - neck-shaft angle: about 125-130 deg in adults (SD about 5 deg), below 120 deg coxa vara and above 140 deg coxa
#:   valga; 100 and 160 deg lie beyond severe deformity of an adult hip. The atlas has 126.9 deg.
#: - femur volume inside the 128 x 112 x 160 mm crop box: the atlas has 182,600 mm3, the held-out phantoms
#:   175,000-231,000 mm3; the box holds the proximal 160 mm, so the volume scales about with the bone's width squared:
#:   a femur 0.7 to 1.4 times as wide as the atlas gives 90,000-350,000 mm3.
RESULT_GATES = (
    ("head_diameter_mm", (35.0, 60.0), "mm", "femoral head diameter"),
    ("neck_shaft_angle_deg", (100.0, 160.0), "deg", "neck-shaft angle"),
    ("femur_volume_mm3", (90_000.0, 350_000.0), "mm3", "femur volume in the crop box"),
)
#: Image agreement: NCC of each radiograph with the registered femur's DRR inside its mask. The bundled model gives
#: 0.02-0.58 (AP) and 0.08-0.79 (lateral) on 24 held-out phantom pairs with their true masks (orthogonal and +-30 deg
#: views), 0.17-0.49 and 0.46-0.68 on the samples; a lateral view whose pixel spacing was doubled gave -0.09 and -0.25.
#: Below -0.05 the registered femur is anti-correlated with the radiograph's bone pattern: a failed registration.
MIN_NCC = -0.05


def maskedNcc(image: np.ndarray, other: np.ndarray, mask: np.ndarray) -> float:
    """Normalized cross-correlation of two images over the pixels where ``mask`` is set (0 when flat)."""
    inside = np.asarray(mask) > 0
    first = np.asarray(image, float)[inside]
    second = np.asarray(other, float)[inside]
    first, second = first - first.mean(), second - second.mean()
    denominator = math.sqrt(float((first ** 2).sum() * (second ** 2).sum()))
    return float((first * second).sum() / denominator) if denominator > 0 else 0.0


def femurDrrs(hu: np.ndarray, label: np.ndarray, geometries) -> np.ndarray:
    """DRRs [N, rows, cols] of the femur only (relative attenuation inside the label) of a 1 mm box volume."""
    from .drr import downsample, projectVolume, relativeAttenuation

    factor = int(NETWORK_SPACING_MM / ATLAS_SPACING_MM)
    femur = downsample(relativeAttenuation(hu) * (label > 0), factor)
    ijkToLps, _ = boxGrid(NETWORK_SPACING_MM)
    return projectVolume(femur, ijkToLps, geometries, samplesPerRay=IMAGE_SIZE)


def projectedOutline(label: np.ndarray, ijkToLps: np.ndarray, geometry: CArmGeometry) -> np.ndarray:
    """Silhouette (uint8 0/1, geometry rows x columns) of a label volume (1 mm box grid, placed by ``ijkToLps``).

    Projected on pixels of about :data:`OUTLINE_PIXEL_MM` over the same field of view, then interpolated.
    """
    import torch
    from scipy.ndimage import map_coordinates

    from ReconCoreLib.projector import ConeBeamProjector, ViewGeometry, lpsToGridMatrix

    from .drr import downsample

    factors = [max(1, int(round(OUTLINE_PIXEL_MM / spacing))) for spacing in geometry.pixelSpacingMm]
    small = geometry.withImageSize(math.ceil(geometry.rows / factors[0]), math.ceil(geometry.columns / factors[1]))
    volume = downsample(np.asarray(label, np.float32), 2)
    coarseIjkToLps = np.asarray(ijkToLps, float) @ np.diag([2.0, 2.0, 2.0, 1.0])
    coarseIjkToLps[:3, 3] += np.asarray(ijkToLps, float)[:3, :3] @ np.full(3, 0.5)  # block centres
    center = coarseIjkToLps @ np.append((np.array(volume.shape[::-1]) - 1) / 2.0, 1.0)
    projector = ConeBeamProjector(small.rows, small.columns, OUTLINE_SAMPLES_PER_RAY, "max")
    views = ViewGeometry.fromCArm([small], center[:3], RAY_RADIUS_MM)
    lpsToGrid = torch.as_tensor(lpsToGridMatrix(coarseIjkToLps, volume.shape), dtype=torch.float32)[None]
    with torch.no_grad():
        silhouette = projector(torch.as_tensor(volume)[None, None], lpsToGrid, *views.tensors())[0, 0].numpy()
    scaleRow = geometry.pixelSpacingMm[0] / small.pixelSpacingMm[0]
    scaleColumn = geometry.pixelSpacingMm[1] / small.pixelSpacingMm[1]
    rows = (np.arange(geometry.rows) - (geometry.rows - 1) / 2.0) * scaleRow + (small.rows - 1) / 2.0
    columns = (np.arange(geometry.columns) - (geometry.columns - 1) / 2.0) * scaleColumn + (small.columns - 1) / 2.0
    grid = np.meshgrid(rows, columns, indexing="ij")
    full = map_coordinates(silhouette, grid, order=1, mode="constant", cval=0.0)
    return (full >= 0.5).astype(np.uint8)


def resampleLabel(label: np.ndarray, ijkToRas: np.ndarray, shapeKji: Sequence[int],
                  targetIjkToRas: np.ndarray) -> np.ndarray:
    """A label volume resampled (linear, >= 0.5) onto another grid (``shapeKji``, ``targetIjkToRas``): bool."""
    import torch
    import torch.nn.functional as F

    from ReconCoreLib.projector import gridPointsLps, lpsToGridMatrix

    if tuple(np.shape(label)) == tuple(shapeKji) and np.allclose(ijkToRas, targetIjkToRas, atol=1e-6):
        return np.asarray(label) > 0  # same grid: nothing to interpolate
    source = torch.as_tensor(np.asarray(label, np.float32))[None, None]
    toGrid = torch.as_tensor(lpsToGridMatrix(ijkToRas, label.shape) @ np.asarray(targetIjkToRas, float),
                             dtype=torch.float32)  # target ijk -> source grid_sample coordinates
    result = np.zeros(tuple(shapeKji), dtype=bool)
    depth, height, width = shapeKji
    slab = max(1, int(4_000_000 // max(height * width, 1)))
    with torch.no_grad():
        for first in range(0, depth, slab):
            count = min(slab, depth - first)
            ijkToFirst = np.eye(4)
            ijkToFirst[2, 3] = first
            ijk = gridPointsLps(ijkToFirst, (count, height, width))  # target voxel indices (i, j, k)
            grid = ijk @ toGrid[:3, :3].T + toGrid[:3, 3]
            values = F.grid_sample(source, grid[None], mode="bilinear", padding_mode="zeros", align_corners=True)
            result[first:first + count] = values[0, 0].numpy() >= 0.5
    return result


def referenceMetrics(label: np.ndarray, ijkToRas: np.ndarray, reference: np.ndarray,
                     referenceIjkToRas: np.ndarray) -> dict:
    """Dice, Jaccard, ASSD and HD95 (mm) of the registered label against a reference, on the reference's grid."""
    from ReconCoreLib.metrics import overlapMetrics, spacingKjiFromIjkToRas, surfaceMetrics

    truth = np.asarray(reference) > 0
    if not truth.any():
        raise ValueError("the reference segmentation is empty")
    predicted = resampleLabel(label, ijkToRas, truth.shape, referenceIjkToRas)
    metrics = overlapMetrics(predicted, truth)
    if predicted.any():
        union = np.argwhere(predicted | truth)
        low = np.maximum(union.min(0) - 3, 0)
        high = union.max(0) + 4
        crop = tuple(slice(a, b) for a, b in zip(low, high))  # surface distances do not change by cropping
        metrics.update(surfaceMetrics(predicted[crop], truth[crop], spacingKjiFromIjkToRas(referenceIjkToRas)))
    return metrics


def gateResult(readouts) -> None:
    """Output plausibility gates of a registration's readouts (:data:`RESULT_GATES`, then :data:`MIN_NCC`).

    A value outside its range stops the run (``ImplausibleResult``, a ``ValueError``), or is recorded as a failed
    check on ``readouts`` when the user keeps implausible results.
    """
    from ReconCoreLib.plausibility import gate

    values = readouts.values
    for key, (low, high), unit, what in RESULT_GATES:
        if key in values:
            gate(readouts, key, values[key], low, high, unit, what, "registered femur")
    for key, view in (("ncc_ap", "AP"), ("ncc_lat", "lateral")):
        if key in values:
            gate(readouts, key, values[key], MIN_NCC, 1.0, "",
                 f"agreement of the {view} radiograph with the registered femur's DRR inside the mask (NCC)",
                 "registered femur")


# -- input plausibility: the femur masks on their radiographs -------------------------------------------------------


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


def checkMasks(networkViews: Sequence, readouts=None) -> list[MaskFigures]:
    """Input plausibility gates of the two femur masks (AP, lateral :class:`~.radiographs.NetworkView`) on their
    radiographs' working copies (sizes in mm at the isocenter).

    The bone contrast gate always stops the run; the size and outline gates are recorded as failed checks on
    ``readouts`` when the user keeps implausible results (:mod:`ReconCoreLib.plausibility`).
    :raises ImplausibleResult: (a ``ValueError``) a mask or a pixel spacing that cannot be a femur's.
    """
    from ReconCoreLib.plausibility import gate

    figures = []
    views = [networkView.working for networkView in networkViews]
    for name, view, networkView in zip(VIEW_NAMES, views, networkViews):
        measured = maskFigures(view.pixels, networkView.workingMask, view.geometry)
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
    geometries = [view.geometry for view in networkViews]  # the patient frame: the side is not known yet
    # views near AP and lateral, as a right femur or as a left one
    if not trainingRangeWarnings(geometries) or not trainingRangeWarnings([mirrorGeometry(g) for g in geometries]):
        gate(readouts, "proximal_width_ratio", figures[0].proximalWidthMm / max(figures[1].proximalWidthMm, 1e-6),
             MIN_PROXIMAL_WIDTH_RATIO, None, "", "widest AP row of the femur / widest lateral row (the neck is seen "
             "whole on the AP view and end-on on the lateral: are the masks swapped?)", "AP and lateral femur masks")
    limit = heightAgreementLimit([view.geometry for view in views])
    gate(readouts, "height_ratio", heightRatio(*figures), 1.0, limit, "",
         "ratio of the femur's heights on the AP and lateral views within their common field (the same bone; check "
         "ImagerPixelSpacing, the distances and the masks)", "AP and lateral femur masks")
    return figures


def inTrainedRange(geometry: CArmGeometry, slot: int) -> bool:
    """Whether a view (working frame) lies within the angles the network was trained on for ``slot`` (0 AP, 1
    lateral; :data:`TRAINED_PRIMARY_DEG`, :data:`TRAINED_SECONDARY_DEG`)."""
    low, high = TRAINED_PRIMARY_DEG[slot]
    return low <= geometry.primaryAngleDeg <= high and abs(geometry.secondaryAngleDeg) <= TRAINED_SECONDARY_DEG


def seenFromOppositeSide(geometry: CArmGeometry, slot: int) -> bool:
    """Whether the network sees this view (working frame) from the other side
    (:func:`~ReconCoreLib.virtualdetector.oppositeDetector`): its central ray runs against that of the views trained
    on for ``slot`` (the middle of :data:`TRAINED_PRIMARY_DEG`, secondary 0), as a lateral with the detector on the
    far side of the femur or a PA view does. (Not the trained ranges themselves: a box placed above or below the
    isocenter tilts the network's detector beyond their secondary 0, from either side.)"""
    primary = math.radians(sum(TRAINED_PRIMARY_DEG[slot]) / 2.0)
    trained = np.array([math.sin(primary), -math.cos(primary), 0.0])  # CArmGeometry.detectorDirectionLps
    return float(geometry.detectorDirectionLps @ trained) < 0.0


def trainingRangeWarnings(geometries: Sequence[CArmGeometry]) -> list[str]:
    """A warning for each of the two views (AP, lateral; working frame) outside the angles the network was trained
    on (:func:`inTrainedRange`) from either side (the network is given a view from the other side turned around:
    :func:`seenFromOppositeSide`)."""
    warnings = []
    for slot, (name, geometry) in enumerate(zip(VIEW_NAMES, geometries)):
        if not inTrainedRange(geometry, slot) and not inTrainedRange(oppositeDetector(geometry), slot):
            low, high = TRAINED_PRIMARY_DEG[slot]
            warnings.append(f"{name} view (primary {geometry.primaryAngleDeg:.0f} deg, secondary "
                            f"{geometry.secondaryAngleDeg:.0f} deg in the right-femur frame) is outside the views the "
                            f"network was trained on (primary {low:.0f} to {high:.0f} deg or the opposite side, "
                            "secondary 0): check the result against the radiographs")
    return warnings

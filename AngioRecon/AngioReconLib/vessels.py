"""AngioRecon's first stage: a binary vessel map of each angiogram, resampled to the network's input.

Everything here is in millimetres at the C-arm isocenter (detector pixel spacing divided by the magnification
SID/SOD), never in pixels, so the same field of view gives the same vessel map at any detector resolution.
A raw angiogram is resampled once (area averaging when finer, linear interpolation when coarser) to the working
spacing :data:`WORKING_SPACING_MM`, then goes through SimpleITK's multi-scale Hessian objectness (dark tubes, scales
:data:`VESSEL_SCALES_MM`), a hysteresis threshold set from the response's triangle threshold, the removal of specks
and bridges across the gaps severe stenoses leave (:func:`vesselMapFromAngiogram`). A given mask (or an image that
already is a binary map) is used as it is (:func:`workingMap`). :func:`checkVesselMap` refuses maps no coronary tree
can give. The map is then resampled onto the network's detector about the cube's centre (:func:`networkMap`: a
:data:`~.conventions.NETWORK_FIELD_MM` field of :data:`~.conventions.IMAGE_SIZE` x IMAGE_SIZE pixels, as in
training, wherever the tree lies).

The frame of a cine (when none is given) is chosen in two stages (:data:`VESSEL_FRAME_CHOOSER`): every frame,
block-averaged to about :data:`QUICK_SPACING_MM`, gets a cheap dark-tube score (:func:`quickVesselScore`); the
:data:`FULL_SCORE_CANDIDATES` best get the full one (:func:`vesselContrastScore`), which decides.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ReconCoreLib.cineframes import FrameChooser
from ReconCoreLib.plausibility import gate
from ReconCoreLib.resample import resizeImage
from ReconCoreLib.xraygeometry import CArmGeometry
from ReconCoreLib.xrayio import XrayImage, checkImage, readXrayImage

from .conventions import IMAGE_SIZE, NETWORK_FIELD_MM

#: DICOM modalities of an angiogram: X-ray angiography and radio fluoroscopy.
ANGIO_MODALITIES = ("XA", "RF")
#: Spacing at the isocenter (mm per pixel) at which raw angiograms are filtered: that of the bundled samples
#: (256 px of 0.74 mm at the detector, SID/SOD 1000/750), on whose vessel maps the generator was trained.
WORKING_SPACING_MM = 0.555
#: Gaussian scales of the Hessian objectness (mm at the isocenter): 1, 2 and 3 pixels of the samples, the scales
#: the filter and its threshold were tuned with (coronary lumen 1.5-5 mm wide).
VESSEL_SCALES_MM = (0.555, 1.11, 1.665)
#: Choosing a cine's frame: the spacing (mm at the isocenter) every frame is block-averaged to for the quick score,
#: that score's Gaussian scales (mm at the isocenter), and how many of the best frames by it get the full score.
#: Measured on 42 synthetic cines (Testing/benchmarks/cine_frames.py: 40-150 frames at 512 and 1024 px, left and
#: right trees, contrast washing in and out, heart motion, quantum noise), the chosen frame's full score as a share of
#: the best frame's: worst 97.7 %, mean 99.8 % (3 or 5 candidates: the same worst). The quick score favours frames a
#: little early (it sees the large proximal vessels, which fill first, better than the thin distal ones); with 1.0 or
#: 1.2 mm blocks the worst was 95.5-96 %, with 1.7-2 mm 93-94 %, with one scale (1.5 mm) 96 %.
QUICK_SPACING_MM = 1.4
QUICK_SCALES_MM = (1.0, 2.0)
FULL_SCORE_CANDIDATES = 4
#: Thresholds of the objectness (:func:`vesselMapFromAngiogram`), as multiples of its triangle threshold: a pixel is
#: vessel when its response reaches HYSTERESIS_LOW and it is connected to pixels reaching HYSTERESIS_HIGH; then
#: pieces smaller than MIN_PIECE_AREA_MM2 (mm^2 at the isocenter) go. Measured against the true masks on 30 held-out
#: trees, 60 views at 512 px (2026-12-01; AngioReconDev.vesselmapcheck --cases 30 [--ood] prints the figures of the
#: settings chosen, bridges included): the triangle threshold alone gives Dice 0.867 (mean; precision 0.92, recall
#: 0.82) on angiograms drawn as in training and 0.473 (precision 0.43, 60 of which 23 fail the map gates) on the
#: out-of-distribution renderer's fainter, noisier ones, where noise crosses the threshold in specks; low 0.5 / high
#: 3 / 10 mm^2 gives 0.883 and 0.728 (2 fail: the faint tree is found in pieces); low 1 / high 2: 0.864 and 0.697,
#: low 0.4: 0.886 and 0.728 with precision 0.81 out of distribution.
HYSTERESIS_LOW = 0.5
HYSTERESIS_HIGH = 3.0
MIN_PIECE_AREA_MM2 = 10.0
#: Gaps of the map at severe stenoses (:func:`bridgeGaps`): a free end bridged to a centerline within BRIDGE_GAP_MM
#: (mm at the isocenter) and BRIDGE_ANGLE_DEG of its direction over its last BRIDGE_TANGENT_MM, where the objectness
#: on the bridge's pixels outside the map averages at least BRIDGE_MIN_RESPONSE times the threshold. Measured on 30
#: held-out trees at 512 px drawn as in training (2026-12-01): the centre of a >= 50 % stenosis lies in the map in 20
#: of 36 views without bridges, 25 with them (true masks: 36); the whole run's lesions >= 50 % found (40 trees, 23
#: lesions) 1 without, 2 with.
BRIDGE_GAP_MM = 6.0
BRIDGE_ANGLE_DEG = 35.0
BRIDGE_TANGENT_MM = 2.0
BRIDGE_MIN_RESPONSE = 0.1
#: Point spread (Gaussian sigma, network pixels) of a vessel map resampled to the network's detector, the same at any
#: source resolution; about what the area averaging of the samples' 256 px maps to 128 px gave (0.29 pixel) plus
#: the bilinear interpolation.
NETWORK_POINT_SPREAD_PIXELS = 0.4

# Plausible vessel maps (mm at the isocenter). Measured on the bundled samples (142 mm fields) with their true masks
# and the built-in maps of every frame: vessels cover 2.0-5.1 % of the field, centrelines 227-686 mm long of which
# the largest connected vessel holds 188-492 mm, mean width 1.4-2.2 mm (lengths of the Guo-Hall skeleton's steps;
# ITK's thinning, used before, gave 216-890, 195-490 and 1.2-2.2). White noise gives maps covering 43-47 %,
# a disc a width of metres. Anatomy: a coronary tree in a 100-200 mm field shows a main vessel of >= 40 mm (the
# proximal and mid LAD, LCx or RCA) with a lumen 1-6 mm wide.
#: Vessel area as a fraction of the field: below, no tree was found; above, the map holds background (noise,
#: the heart's shadow, the whole image).
VESSEL_AREA_FRACTION_RANGE = (0.005, 0.25)
#: Centreline length of the largest connected vessel (mm): at least one main coronary segment.
MIN_LARGEST_VESSEL_MM = 40.0
#: Mean vessel width, area / centreline length (mm): coronary lumen 1-6 mm (a one-pixel-wide map of the working
#: spacing measures about 0.6 mm); blobs and filled regions are wider.
VESSEL_WIDTH_RANGE_MM = (0.8, 6.0)
#: Share of the whole centreline in the largest connected vessel: a tree is one or a few long pieces, a map of
#: noise or texture many similar ones (samples: 0.66-1.0, 0.48-0.97 with ITK's thinning; smoothed noise: 0.06).
MIN_LARGEST_SHARE = 0.2
#: A given mask's vessels are darker than the pixels 1-3 mm around them in a raw angiogram (contrast agent absorbs):
#: (mean of the ring - mean inside) / (99th - 1st percentile of the image). Samples' true masks: 0.18-0.33; the mask
#: of the case's other view: 0.016-0.031, of the other case: -0.037-0.058. The bound is half the weakest true mask.
MIN_MASK_CONTRAST = 0.09


def spacingAtIsocenterMm(geometry: CArmGeometry) -> tuple[float, float]:
    """(row, column) pixel spacing at the isocenter (mm): the detector spacing divided by SID/SOD."""
    scale = geometry.sourceToPatientMm / geometry.sourceToDetectorMm
    return geometry.pixelSpacingMm[0] * scale, geometry.pixelSpacingMm[1] * scale


def workingSize(geometry: CArmGeometry) -> tuple[int, int]:
    """Rows and columns of the view's field at :data:`WORKING_SPACING_MM` per pixel at the isocenter."""
    rowMm, columnMm = spacingAtIsocenterMm(geometry)
    return (max(int(round(geometry.rows * rowMm / WORKING_SPACING_MM)), 8),
            max(int(round(geometry.columns * columnMm / WORKING_SPACING_MM)), 8))


def workingSpacingMm(geometry: CArmGeometry) -> float:
    """The pixel spacing (mm at the isocenter, mean of rows and columns) of the view's field at its working size:
    :data:`WORKING_SPACING_MM` up to the rounding of the size."""
    rows, columns = workingSize(geometry)
    rowMm, columnMm = spacingAtIsocenterMm(geometry)
    return (geometry.rows * rowMm / rows + geometry.columns * columnMm / columns) / 2


def toWorkingSpacing(image: np.ndarray, geometry: CArmGeometry) -> tuple[np.ndarray, float]:
    """The image resampled to the working spacing and the spacing it then has (mm at the isocenter). An image
    already at the working spacing (the samples) is not resampled."""
    if np.shape(image) != (geometry.rows, geometry.columns):
        raise ValueError(f"image {np.shape(image)} and its geometry {geometry.rows} x {geometry.columns} differ "
                         "in size")
    return resizeImage(image, *workingSize(geometry)), workingSpacingMm(geometry)


def vesselness(image: np.ndarray, spacingMm: float) -> np.ndarray:
    """Multi-scale Hessian objectness of dark tubes (SimpleITK ObjectnessMeasure), max over the scales
    :data:`VESSEL_SCALES_MM`, of an image whose pixels are ``spacingMm`` wide at the isocenter.

    The image is first windowed to [0, 100] (1st-99th percentile), so the structureness parameter gamma
    means the same for any detector's grey levels. Responses are scale-normalized (times sigma squared in pixels).
    """
    import SimpleITK as sitk

    low, high = np.percentile(image, [1, 99])
    windowed = np.clip((np.asarray(image, np.float32) - low) / max(high - low, 1e-6), 0, 1) * 100
    itkImage = sitk.GetImageFromArray(windowed.astype(np.float32))
    responses = []
    for scaleMm in VESSEL_SCALES_MM:
        sigma = scaleMm / spacingMm  # pixels
        smoothed = sitk.SmoothingRecursiveGaussian(itkImage, sigma)
        objectness = sitk.ObjectnessMeasure(smoothed, alpha=0.5, beta=0.5, gamma=5.0, scaleObjectnessMeasure=True,
                                            objectDimension=1, brightObject=False)
        responses.append(sitk.GetArrayFromImage(objectness) * sigma ** 2)
    return np.max(responses, axis=0)


def vesselContrastScore(frame: np.ndarray, geometry: CArmGeometry) -> float:
    """How strongly a frame shows contrast-filled vessels: the 99th percentile of its vesselness at the working
    spacing."""
    image, spacing = toWorkingSpacing(frame, geometry)
    return float(np.percentile(vesselness(image, spacing), 99))


def darkTubeScore(image: np.ndarray, spacingMm: float) -> float:
    """A cheap measure of dark tubes in an image whose pixels are ``spacingMm`` wide at the isocenter: the 99th
    percentile of the larger Hessian eigenvalue (the curvature across a dark valley), scale-normalized (times sigma
    squared in pixels), max over the scales :data:`QUICK_SCALES_MM`, of the image windowed to [0, 100] (1st-99th
    percentile) as :func:`vesselness` windows it. Gaussian smoothing, then central differences."""
    from scipy import ndimage

    low, high = np.percentile(image, [1, 99])
    windowed = np.clip((np.asarray(image, np.float32) - low) / max(high - low, 1e-6), 0, 1) * 100
    response = np.zeros((windowed.shape[0] - 2, windowed.shape[1] - 2), np.float32)
    for scaleMm in QUICK_SCALES_MM:
        sigma = max(scaleMm / spacingMm, 0.5)  # pixels
        smooth = ndimage.gaussian_filter(windowed, sigma, mode="nearest")
        centre = smooth[1:-1, 1:-1]
        alongRows = smooth[2:, 1:-1] + smooth[:-2, 1:-1] - 2 * centre
        alongColumns = smooth[1:-1, 2:] + smooth[1:-1, :-2] - 2 * centre
        mixed = (smooth[2:, 2:] + smooth[:-2, :-2] - smooth[2:, :-2] - smooth[:-2, 2:]) / 4
        larger = (alongRows + alongColumns) / 2 + np.sqrt(((alongRows - alongColumns) / 2) ** 2 + mixed ** 2)
        np.maximum(response, larger * sigma ** 2, out=response)
    return float(np.percentile(response, 99))


def quickVesselScore(frame: np.ndarray, geometry: CArmGeometry) -> float:
    """:func:`darkTubeScore` of a (block-averaged) frame at its own spacing at the isocenter (mean of rows and
    columns, from ``geometry``): the first stage of choosing a cine's frame, on every frame."""
    rowMm, columnMm = spacingAtIsocenterMm(geometry)
    return darkTubeScore(frame, (rowMm + columnMm) / 2)


#: How AngioRecon chooses the frame of a cine: :func:`quickVesselScore` at :data:`QUICK_SPACING_MM` on every frame,
#: :func:`vesselContrastScore` on the :data:`FULL_SCORE_CANDIDATES` best.
VESSEL_FRAME_CHOOSER = FrameChooser(quickVesselScore, vesselContrastScore, QUICK_SPACING_MM, FULL_SCORE_CANDIDATES)


def vesselMapFromAngiogram(image: np.ndarray, geometry: CArmGeometry) -> tuple[np.ndarray, float]:
    """Binary vessel map (float 0/1) of a raw angiogram at the working spacing, and that spacing (mm at the
    isocenter): objectness, a hysteresis threshold (SimpleITK DoubleThreshold: :data:`HYSTERESIS_LOW` and
    :data:`HYSTERESIS_HIGH` times the response's triangle threshold), then pieces under :data:`MIN_PIECE_AREA_MM2`
    removed (8-connected).

    (The triangle method suits the objectness histogram: a large peak at 0 and a long tail of vessels;
    on the bundled samples it gives Dice 0.78-0.86 against the true masks, Otsu 0.26-0.60. Alone, it lets the
    noise of faint, low-dose angiograms through in specks and cuts thin vessels; the hysteresis keeps what is
    connected to clear vessel.)
    """
    import SimpleITK as sitk

    working, spacing = toWorkingSpacing(image, geometry)
    response = vesselness(working, spacing)
    if float(response.max()) <= 0:
        raise ValueError("no vessel-like structure found in the angiogram (is it a contrast-filled frame?)")
    responseImage = sitk.GetImageFromArray(response.astype(np.float32))
    triangle = sitk.TriangleThresholdImageFilter()
    triangle.Execute(responseImage)
    level = float(triangle.GetThreshold())
    top = float(response.max()) + 1.0
    mask = sitk.DoubleThreshold(responseImage, HYSTERESIS_LOW * level, min(HYSTERESIS_HIGH * level, float(
        response.max())), top, top, 1, 0)
    pieces = sitk.RelabelComponent(sitk.ConnectedComponent(mask, True),
                                   int(np.ceil(MIN_PIECE_AREA_MM2 / spacing ** 2)))
    vesselMap = sitk.GetArrayFromImage(pieces) > 0
    if BRIDGE_GAP_MM > 0:
        vesselMap = bridgeGaps(vesselMap, response, level, spacing)
    return vesselMap.astype(np.float32), spacing


def bridgeGaps(vesselMap: np.ndarray, response: np.ndarray, level: float, spacingMm: float) -> np.ndarray:
    """The map with a one-pixel line drawn across each gap a vessel's free end points over: from the end, along the
    direction of its last :data:`BRIDGE_TANGENT_MM`, to the nearest centerline point of another path within
    :data:`BRIDGE_GAP_MM` and :data:`BRIDGE_ANGLE_DEG` of that direction, whose own direction there is within
    BRIDGE_ANGLE_DEG of the free end's (either way along it), where the objectness on the line's pixels outside the
    map averages at least :data:`BRIDGE_MIN_RESPONSE` times the threshold ``level``. (At a severe stenosis the narrow
    lumen's faint contrast falls below the threshold, so the map, and the centerline, would end at the lesion.)
    On angiograms drawn as in training about 1 % of the background reaches that response; on the faint, noisy
    out-of-distribution ones 21-35 % (measured on one held-out tree), so there the distance and the directions do
    the filtering.

    Why written here: gap linking of a skeleton's free ends is a few lines over :func:`~.skeleton2d.centerlinePaths`.
    """
    from .skeleton2d import centerlinePaths, neighbourCount, skeleton as thinned

    paths = centerlinePaths(vesselMap, spacingMm)
    if len(paths) < 2:
        return vesselMap
    counts = neighbourCount(thinned(vesselMap))
    span = max(int(round(BRIDGE_TANGENT_MM / spacingMm)), 2)

    def tangents(path):
        ahead = path[np.minimum(np.arange(len(path)) + span // 2, len(path) - 1)]
        behind = path[np.maximum(np.arange(len(path)) - span // 2, 0)]
        return (ahead - behind) / np.maximum(np.linalg.norm(ahead - behind, axis=1, keepdims=True), 1e-9)

    targets = np.concatenate(paths)  # (column, row)
    targetDirections = np.concatenate([tangents(path) for path in paths])
    targetOwner = np.concatenate([np.full(len(path), index) for index, path in enumerate(paths)])
    bridged = vesselMap.copy()
    cosine = np.cos(np.radians(BRIDGE_ANGLE_DEG))
    for index, path in enumerate(paths):
        for end, inner in ((path[0], path[min(span, len(path) - 1)]), (path[-1], path[max(len(path) - 1 - span, 0)])):
            direction = end - inner
            if counts[int(end[1]), int(end[0])] != 1 or np.linalg.norm(direction) < 1e-6:
                continue  # a junction, not a free end
            direction /= np.linalg.norm(direction)
            offsets = targets - end
            distance = np.linalg.norm(offsets, axis=1)
            fits = ((targetOwner != index) & (distance * spacingMm <= BRIDGE_GAP_MM) & (distance > 0)
                    & (offsets @ direction >= cosine * distance)
                    & (np.abs(targetDirections @ direction) >= cosine))
            if not fits.any():
                continue
            candidates = np.flatnonzero(fits)
            target = targets[candidates[np.argmin(distance[candidates])]]
            line = end + np.linspace(0.0, 1.0, int(np.ceil(np.linalg.norm(target - end) * 2)) + 1)[:, None] * (
                target - end)
            rows, columns = np.round(line[:, 1]).astype(int), np.round(line[:, 0]).astype(int)
            gap = ~vesselMap[rows, columns]
            if gap.any() and response[rows[gap], columns[gap]].mean() >= BRIDGE_MIN_RESPONSE * level:
                bridged[rows, columns] = True
    return bridged


def isVesselMap(image: np.ndarray) -> bool:
    """A given image is already a vessel map when it has at most two distinct values."""
    return len(np.unique(image)) <= 2


def vesselMapMeasures(vesselMap: np.ndarray, spacingMm: float) -> dict:
    """Sizes of a binary vessel map whose pixels are ``spacingMm`` wide at the isocenter.

    :returns: ``area_fraction`` (of the field), ``centreline_mm`` (total skeleton length: the steps between
        neighbouring skeleton pixels, 1 or sqrt 2 pixels; :func:`~.skeleton2d.skeleton`), ``largest_vessel_mm``
        (skeleton length of the connected piece that holds most of it), ``largest_share`` (that piece's share of the
        centreline), ``width_mm`` (vessel area / centreline length).
    """
    from scipy import ndimage

    from .skeleton2d import skeleton as thinned

    binary = np.asarray(vesselMap) >= 0.5
    measures = {"area_fraction": float(binary.mean()), "centreline_mm": 0.0, "largest_vessel_mm": 0.0,
                "largest_share": 0.0, "width_mm": 0.0}
    if not binary.any():
        return measures
    skeleton = thinned(binary)
    labels, count = ndimage.label(binary, structure=np.ones((3, 3)))
    lengths = np.zeros(count + 1)
    for (dRow, dColumn), step in (((0, 1), 1.0), ((1, 0), 1.0), ((1, 1), np.sqrt(2)), ((1, -1), np.sqrt(2))):
        rows, columns = skeleton.shape  # every pair of neighbouring skeleton pixels: one step of the centreline
        first = skeleton[:rows - dRow, max(-dColumn, 0):columns - max(dColumn, 0)]
        second = skeleton[dRow:, max(dColumn, 0):columns - max(-dColumn, 0)]
        where = labels[:rows - dRow, max(-dColumn, 0):columns - max(dColumn, 0)][first & second]
        lengths += np.bincount(where, minlength=count + 1) * step
    lengths = lengths[1:] * spacingMm
    centreline = float(lengths.sum())
    measures.update(centreline_mm=centreline, largest_vessel_mm=float(lengths.max(initial=0.0)),
                    largest_share=float(lengths.max(initial=0.0) / max(centreline, 1e-9)),
                    width_mm=float(binary.sum() * spacingMm ** 2 / max(centreline, spacingMm)))
    return measures


def checkVesselMap(vesselMap: np.ndarray, spacingMm: float, source: str) -> dict:
    """Stop the run (``ImplausibleResult``, a ValueError naming the value and its range) unless ``vesselMap``
    (binary, pixels ``spacingMm`` wide at the isocenter) looks like a coronary tree: area, longest vessel,
    connectedness and width in the plausible ranges above. Returns the measures."""
    measures = vesselMapMeasures(vesselMap, spacingMm)
    what = "vessel map"
    gate(None, "area_fraction", measures["area_fraction"], *VESSEL_AREA_FRACTION_RANGE, "",
         f"{what} vessel area fraction of the field", source)
    gate(None, "largest_vessel_mm", measures["largest_vessel_mm"], MIN_LARGEST_VESSEL_MM, None, "mm",
         f"{what} longest connected vessel", source)
    gate(None, "largest_share", measures["largest_share"], MIN_LARGEST_SHARE, None, "",
         f"{what} share of the centreline in its largest vessel (not a tree: noise?)", source)
    gate(None, "width_mm", measures["width_mm"], *VESSEL_WIDTH_RANGE_MM, "mm",
         f"{what} mean vessel width (not thin vessels: blobs?)", source)
    return measures


def maskContrast(image: np.ndarray, mask: np.ndarray, spacingMm: float) -> float:
    """How much darker an angiogram is inside a vessel mask than in a ring 1-3 mm around it, as a fraction of the
    image's 1st-99th percentile range (positive: the mask lies on dark, contrast-filled vessels)."""
    from scipy import ndimage

    inside = np.asarray(mask) >= 0.5
    near = ndimage.binary_dilation(inside, iterations=max(int(round(1.0 / spacingMm)), 1))
    far = ndimage.binary_dilation(inside, iterations=max(int(round(3.0 / spacingMm)), 2))
    ring = far & ~near
    if not inside.any() or not ring.any():
        return 0.0
    low, high = np.percentile(image, [1, 99])
    return float((image[ring].mean() - image[inside].mean()) / max(high - low, 1e-6))


def readAngiogram(path, frame: Optional[int] = None) -> XrayImage:
    """Read one angiogram (DICOM XA or RF, or an image with a JSON sidecar): ``frame`` of a multi-frame file (only
    that frame decoded), or the frame with the strongest vessel contrast (:data:`VESSEL_FRAME_CHOOSER`: a quick score
    of every frame, :func:`vesselContrastScore` of the best few; in mm from the view's geometry)."""
    return readXrayImage(path, frame, VESSEL_FRAME_CHOOSER, modalities=ANGIO_MODALITIES)


def checkMaskOnImage(view: XrayImage, mask: np.ndarray, spacingMm: float, source: str) -> None:
    """A given vessel mask must lie on dark (contrast-filled) vessels of its own raw angiogram."""
    image, _ = toWorkingSpacing(view.pixels, view.geometry)
    contrast = maskContrast(image, mask, spacingMm)
    gate(None, "mask_contrast", contrast, MIN_MASK_CONTRAST, None, "",
         "vessel mask contrast on its angiogram (darker inside than around; is it the mask of this view?)", source)


def workingMap(view: XrayImage, mask: Optional[np.ndarray] = None,
               maskSource: str = "") -> tuple[np.ndarray, CArmGeometry]:
    """The view's vessel map (float 0/1) and the geometry of its pixels: a given ``mask`` (same size as the view;
    ``maskSource`` names it) or a view that already is a binary map at the view's size, else the map of the raw
    angiogram at the working spacing (:func:`vesselMapFromAngiogram`).

    The map (at the working spacing) must look like a coronary tree (:func:`checkVesselMap`), and a given ``mask``
    must lie on dark vessels when the view is a raw angiogram (:func:`checkMaskOnImage`); otherwise
    ``ImplausibleResult`` stops the run, whatever implausible results are kept.
    """
    source = maskSource or view.sourcePath or "view"
    if mask is not None:
        if np.squeeze(mask).shape != view.pixels.shape:
            raise ValueError(f"{source}: vessel mask {np.shape(mask)} and image {view.pixels.shape} differ in size")
        if not np.any(mask):
            raise ValueError(f"{source}: the vessel mask is empty")
        givenMap = (checkImage(mask, source) > 0).astype(np.float32)
    elif isVesselMap(view.pixels):
        givenMap = (view.pixels > view.pixels.min()).astype(np.float32)
    else:
        givenMap = None
    if givenMap is None:
        working, spacing = vesselMapFromAngiogram(view.pixels, view.geometry)
    else:
        working = (resizeImage(givenMap, *workingSize(view.geometry)) >= 0.5).astype(np.float32)
        spacing = workingSpacingMm(view.geometry)
    checkVesselMap(working, spacing, source)
    if mask is not None and not isVesselMap(view.pixels):
        checkMaskOnImage(view, working, spacing, source)
    if givenMap is not None:
        return givenMap, view.geometry
    return working, view.geometry.withImageSize(*working.shape)


def networkMap(vesselMap: np.ndarray, geometry: CArmGeometry, cubeCentreLps) -> tuple[np.ndarray, CArmGeometry]:
    """The network's input for a cube centred at ``cubeCentreLps`` (LPS mm): the vessel map resampled onto the
    :data:`~.conventions.IMAGE_SIZE` pixels of a detector about the cube centre
    (:func:`ReconCoreLib.virtualdetector.virtualDetector`: the view's source, the central ray through the centre, a
    field of :data:`~.conventions.NETWORK_FIELD_MM` at the centre, as in training), values 0-1, and that detector's
    geometry in the cube's frame (cube centre at the origin)."""
    from ReconCoreLib.virtualdetector import resampleToDetector, virtualDetector

    target = virtualDetector(geometry, cubeCentreLps, NETWORK_FIELD_MM * geometry.magnification / IMAGE_SIZE,
                             IMAGE_SIZE)
    resampled = resampleToDetector(vesselMap, geometry, target, cubeCentreLps, NETWORK_POINT_SPREAD_PIXELS)
    return resampled.clip(0, 1), target

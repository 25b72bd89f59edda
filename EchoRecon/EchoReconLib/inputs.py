"""Checks of the views given for each phase, and each image resampled to the network's input.

A phase is ``{view: image}`` with views of :data:`~.conventions.VIEWS` (A4C, A2C, A3C, SAXB, SAXM, SAXA): A4C and A2C
(:data:`~.conventions.REQUIRED_VIEWS`) always, the others when the study has them (the network was trained with them
dropped, never A4C or A2C); both phases have the same views. A file's own view and phase labels must match what it
is given for; ED and ES of one view must be two frames of one cine.

Physical size (:func:`checkPhysicalSize`, before the network runs; these always stop the run: a spacing in the wrong
unit would make every volume wrong by its cube). Each view's field depth, sector apex to the bottom of the imaging
region, must lie in :data:`FIELD_DEPTH_RANGE_MM`; its pixels must be square within
:data:`MAX_SPACING_ANISOTROPY`; the deepest and the shallowest view of one study must lie within
:data:`MAX_DEPTH_RATIO` of each other. A pixel spacing in cm instead of mm gives an 18 mm sector, one 3x too large a
540 mm sector: both are refused, naming the view, its depth and spacing.

Network input (:func:`networkInput`). Every image is resampled to 128 x 128 at the pixel spacing the network was
trained with for its view (:data:`~.conventions.FIELD_DEPTH_MM` / 127: 1.417 mm for the apical views, 1.102 mm for
the short-axis views), one isotropic scale so the aspect ratio is kept, with the sector apex at row 0 and the middle
column: the DICOM ultrasound region's reference pixel when the file has one, else the top middle of the image. What
lies beyond the field of view is cut, what the image does not cover is black (as outside the sector); a downsampled
image is smoothed first (Gaussian, sigma = (factor - 1) / 2 pixels). Without a pixel spacing (a PNG without
sidecar) the image height is taken as the training field depth (180 mm apical, 140 mm short axis) and the pipeline
warns: every volume scales with the cube of that guess.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .conventions import FIELD_DEPTH_MM, IMAGE_SIZE, PHASE_NAMES, REQUIRED_VIEWS, VIEWS
from .echoio import EchoImage

#: Relative pixel spacing difference above which ED and ES of one view are not frames of one cine.
SPACING_TOLERANCE = 0.01
#: Plausible depth of an adult transthoracic echo sector (mm), apex to the bottom of the image. Below 80 mm a sector
#: cannot hold an adult heart: the apical views span the heart from apex to atrial roof (LV 70-100 mm plus the atria),
#: the short-axis views the chest wall, RV and LV (20 + 20 + 45-60 mm); above 300 mm no cardiac phased-array preset
#: images (they stop at 240-300 mm, beyond the reach of 1.5-4 MHz transthoracic ultrasound). The network was
#: trained at 180 mm (apical) and 140 mm (short axis).
FIELD_DEPTH_RANGE_MM = (80.0, 300.0)
#: Largest ratio of the row and column pixel spacing: scan-converted echo has square pixels (the DICOM ultrasound
#: region's PhysicalDeltaX = PhysicalDeltaY); 20 % apart means one axis is in another unit or mistyped.
MAX_SPACING_ANISOTROPY = 1.2
#: Largest ratio of the field depths of the views of one study: apical views are imaged at 140-200 mm and short-axis
#: views at 120-180 mm in one patient; twice the depth means views of another patient or one view's unit is wrong.
MAX_DEPTH_RATIO = 2.0


def givenViews(images: Mapping[str, EchoImage]) -> tuple:
    """The views of a phase that have an image, in :data:`VIEWS` order."""
    return tuple(view for view in VIEWS if images.get(view) is not None)


def checkPhase(images: Mapping[str, EchoImage], phase: str) -> None:
    """A4C and A2C and any of the other views, each a different image, each labelled (when the file says) as the
    view and phase it is given for. Raises ``ValueError`` naming the problem."""
    phaseName = PHASE_NAMES[phase]
    unknown = sorted(set(images) - set(VIEWS))
    if unknown:
        raise ValueError(f"unknown {phaseName} view(s) {', '.join(unknown)} (views: {', '.join(VIEWS)})")
    missing = [view for view in REQUIRED_VIEWS if images.get(view) is None]
    if missing:
        raise ValueError(f"missing {phaseName} view(s): {', '.join(missing)}; EchoRecon needs at least "
                         f"{' and '.join(REQUIRED_VIEWS)} (and takes any of the other views: "
                         f"{', '.join(view for view in VIEWS if view not in REQUIRED_VIEWS)})")
    views = givenViews(images)
    for view in views:
        image = images[view]
        if image.viewLabel and image.viewLabel != view:
            raise ValueError(f"{image.name}: given as the {phaseName} {view} view but its file labels it "
                             f"{image.viewLabel}")
        if image.phaseLabel and image.phaseLabel != phase:
            raise ValueError(f"{image.name}: given as the {phaseName} {view} view but its file labels it "
                             f"{image.phaseLabel}")
    for index, first in enumerate(views):
        for second in views[index + 1:]:
            if _sameImage(images[first], images[second]):
                raise ValueError(f"the {phaseName} {first} and {second} views are the same image "
                                 f"({images[second].name}); a view given twice?")


def _sameImage(first: EchoImage, second: EchoImage) -> bool:
    return first.pixels.shape == second.pixels.shape and np.array_equal(first.pixels, second.pixels)


def checkPhasePair(endDiastole: Mapping[str, EchoImage], endSystole: Mapping[str, EchoImage]) -> None:
    """Both phases have the same views; ED and ES of each view must be two different frames of one cine: same size
    and pixel spacing."""
    edViews, esViews = givenViews(endDiastole), givenViews(endSystole)
    if edViews != esViews:
        onlyEd = [view for view in edViews if view not in esViews]
        onlyEs = [view for view in esViews if view not in edViews]
        raise ValueError("end-diastole and end-systole need the same views: "
                         + "; ".join(text for text in (f"{', '.join(onlyEd)} given for end-diastole only" if onlyEd
                                                       else "", f"{', '.join(onlyEs)} for end-systole only"
                                                       if onlyEs else "") if text))
    for view in edViews:
        ed, es = endDiastole[view], endSystole[view]
        if ed.pixels.shape != es.pixels.shape or (ed.pixelSpacingMm is None) != (es.pixelSpacingMm is None) or (
                ed.pixelSpacingMm is not None and not np.allclose(ed.pixelSpacingMm, es.pixelSpacingMm,
                                                                   rtol=SPACING_TOLERANCE)):
            raise ValueError(
                f"{view}: the end-diastolic image ({_describe(ed)}) and the end-systolic image ({_describe(es)}) "
                "differ in size or pixel spacing; ED and ES must be two frames of the same cine")
        if _sameImage(ed, es):
            raise ValueError(f"{view}: the end-diastolic and end-systolic images are identical ({es.name}); "
                             "choose the two frames of the cine")


def checkPhysicalSize(phases: Mapping[str, Mapping[str, EchoImage]]) -> None:
    """The physical size of the views ({phase: {view: image}}): field depth, square pixels, depths consistent across
    the study (module docstring). Raises :class:`~ReconCoreLib.plausibility.ImplausibleResult` (a ``ValueError``)
    naming the view, its value and the plausible range; views without a pixel spacing are skipped (the pipeline warns
    about them)."""
    from ReconCoreLib.plausibility import gate

    low, high = FIELD_DEPTH_RANGE_MM
    depths = {}
    for phase, images in phases.items():
        for view in VIEWS:
            image = images.get(view)
            if image is None or image.pixelSpacingMm is None:
                continue
            rowMm, columnMm = (float(value) for value in image.pixelSpacingMm)
            where = f"{PHASE_NAMES[phase]} {view} ({image.name}, pixel spacing {rowMm:.4g} x {columnMm:.4g} mm)"
            depth = image.fieldDepthMm
            gate(None, "field depth (sector apex to image bottom)", depth, low, high, "mm", source=where)
            gate(None, "pixel spacing ratio row/column", rowMm / columnMm, 1.0 / MAX_SPACING_ANISOTROPY,
                 MAX_SPACING_ANISOTROPY, "", source=where)
            depths[f"{PHASE_NAMES[phase]} {view}"] = depth
    if len(depths) > 1:
        deepest, shallowest = max(depths, key=depths.get), min(depths, key=depths.get)
        gate(None, "field depth ratio deepest/shallowest view", depths[deepest] / depths[shallowest], None,
             MAX_DEPTH_RATIO, "", source=f"{deepest} {depths[deepest]:.0f} mm deep, {shallowest} "
             f"{depths[shallowest]:.0f} mm (views of one study?)")


def _describe(image: EchoImage) -> str:
    spacing = "unknown spacing" if image.pixelSpacingMm is None else \
        f"{image.pixelSpacingMm[0]:.3g} x {image.pixelSpacingMm[1]:.3g} mm"
    return f"{image.pixels.shape[0]} x {image.pixels.shape[1]} pixels, {spacing}"


def trainingPixelMm(view: str) -> float:
    """Pixel spacing (mm) of the network's input for ``view`` (that of the training images)."""
    return FIELD_DEPTH_MM[view] / (IMAGE_SIZE - 1)


def networkInput(image: EchoImage, view: str) -> np.ndarray:
    """The image resampled to the network's input for ``view``: float32 [128, 128] in [0, 1] (module docstring).

    Output pixel (column c, row r) lies (c - 63.5) * s mm lateral of and r * s mm deep below the sector apex,
    s = :func:`trainingPixelMm`; without a pixel spacing the image's height is taken as the training depth.
    """
    from scipy import ndimage

    target = trainingPixelMm(view)
    rows, columns = image.pixels.shape
    if image.pixelSpacingMm is None:
        spacing = (FIELD_DEPTH_MM[view] / (rows - 1),) * 2
    else:
        spacing = tuple(float(value) for value in image.pixelSpacingMm)
    apexRow, apexColumn = image.apexPixel if image.apexPixel is not None else (0.0, (columns - 1) / 2.0)
    factors = np.array([target / spacing[0], target / spacing[1]])
    factors[np.abs(factors - 1.0) < 1e-4] = 1.0  # spacings written with 6 decimals: no needless interpolation
    pixels = image.pixels
    sigma = np.maximum((factors - 1.0) / 2.0, 0.0)
    if np.any(sigma > 0):
        pixels = ndimage.gaussian_filter(pixels, sigma, mode="nearest")
    grid = np.arange(IMAGE_SIZE, dtype=np.float64)
    sourceRows = apexRow + grid * factors[0]
    sourceColumns = apexColumn + (grid - (IMAGE_SIZE - 1) / 2.0) * factors[1]
    if np.allclose(factors, 1.0) and float(apexRow).is_integer() and float(apexColumn - (IMAGE_SIZE - 1) / 2.0) \
            .is_integer():  # a pure shift: copy pixels (the bundled samples land here, bit for bit)
        output = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
        rowIndex, columnIndex = sourceRows.astype(int), sourceColumns.astype(int)
        rowsInside = (rowIndex >= 0) & (rowIndex < rows)
        columnsInside = (columnIndex >= 0) & (columnIndex < columns)
        output[np.ix_(rowsInside, columnsInside)] = pixels[np.ix_(rowIndex[rowsInside], columnIndex[columnsInside])]
        return output
    coordinates = np.meshgrid(sourceRows, sourceColumns, indexing="ij")
    output = ndimage.map_coordinates(pixels, coordinates, order=1, mode="constant", cval=0.0)
    return np.clip(output, 0.0, 1.0).astype(np.float32)

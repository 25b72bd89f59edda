"""The radiographs as the network sees them: side, femur masks, the virtual detector, input checks.

1. Side: the network knows right femurs. A left femur is registered as the mirrored (x -> -x, LPS) right femur:
   primary angles negated and image columns flipped (:func:`~.mirroring.mirrorGeometry`). "Working frame" below
   means the right-femur frame the network sees (the patient frame for a right femur, its mirror image for a left
   one). The side comes from the user, else the files' DICOM laterality (:func:`resolveSideAndSource`), else the
   femur's shape in the images (:func:`~.placement.locateFemur`), else the run stops and asks for it.
2. Working copy (:func:`toWorkingSpacing`): a radiograph whose pixels are finer than :data:`WORKING_PIXEL_MM` at the
   isocenter is area-averaged once, as soon as it is read, to about that pixel size over the same field (its mask
   with it); every later step (mask proposal, virtual detector, mask figures, outlines, the radiographs kept in the
   scene) works on that copy, so a 3000-pixel radiograph costs about what a 512-pixel one does. Coarser radiographs
   (the samples' 0.37 mm) are used as they are.
   Femur masks: given (one per view, same size as its radiograph), else a proposal
   (:func:`~.femurmask.proposeFemurMask`: a 2D segmentation network, largest component, holes filled) the user can
   correct.
3. Input plausibility (:func:`~.checks.checkMasks`): each mask is measured in mm at the isocenter (detector mm
   divided by the magnification SID / SOD) and must look like an adult femur on its own radiograph (shaft and proximal
   widths, bone brighter than around it, outline on bone edges); the two views must see the same bone length and the
   neck must be wider on the AP view. A pixel spacing off by 2x, masks swapped between the views or a mask of another
   place stop the run with a one-line message (:mod:`ReconCoreLib.plausibility`).
4. The crop box goes where the femur is (:func:`~.placement.locateFemur`: both views' masks matched with the atlas
   silhouette), not on the isocenter: the network knows femurs near one place in its box. Views that do not agree on
   where the femur is are refused (:func:`~.placement.checkAgreement`).
5. Virtual detector (:func:`virtualDetector`): each working radiograph and mask is resampled (after a Gaussian
   anti-aliasing filter) onto the network's detector, :data:`~.conventions.IMAGE_SIZE` x IMAGE_SIZE pixels of
   :data:`~.conventions.DETECTOR_PIXEL_MM` of a C-arm with the radiograph's source whose central ray goes through the
   box centre: every virtual pixel is placed on its detector plane (LPS) and projected back to the original image's
   pixel. Every filter is in mm (anti-aliasing, mask proposal, mask figures): the network's inputs do not depend on
   the pixel count. The network works in the box frame (box centre at the origin).
   The network was trained on laterals with the detector on the femur's side and on AP views. A view from the other
   side (a lateral with the detector beyond the other leg, LAO 90 for a right femur; a PA view) is given to the
   network on the opposite detector (:func:`~ReconCoreLib.virtualdetector.oppositeDetector`, the same central ray
   run the other way: :func:`~.checks.seenFromOppositeSide`); every other step (the choice among the network's
   registrations, the refinement, the image agreement) uses the view as taken.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ReconCoreLib.progress import Progress
from ReconCoreLib.xraygeometry import CArmGeometry, viewSeparationDeg
from ReconCoreLib.dicomvalues import sideOf, text
from ReconCoreLib import virtualdetector
from ReconCoreLib.resample import areaAverage, finerFieldSize
from ReconCoreLib.xrayio import XrayImage, checkImage, isDicom, sidecarPath

from .checks import checkMasks, seenFromOppositeSide, trainingRangeWarnings
from .conventions import DETECTOR_PIXEL_MM, FEMUR_MODALITIES, IMAGE_SIZE, SIDES, VIEW_NAMES
from .mirroring import mirrorGeometry, toPatient
from .femurmask import proposeFemurMask

MIN_SEPARATION_DEG = 30.0
WARN_SEPARATION_DEG = 60.0
#: Point spread of the network's view of a radiograph: a Gaussian of this sigma in virtual detector pixels (0.81 mm
#: on the detector), the same at any source resolution (the former filter, sigma (scale - 1) / 2 source pixels, gave
#: 0.41 pixel at the samples' 0.4 mm pixels but 0.36 pixel at 0.8 mm and 0.48 pixel at 0.1 mm).
DETECTOR_SIGMA_PIXELS = 0.4
#: Working copy: pixels finer than this (mm at the isocenter) are area-averaged to about this size, half the finest
#: pixel a later step uses (the mask figures' :data:`~.checks.FIGURES_PIXEL_MM`), so that step's block means still
#: average at least two working pixels; the network's detector (2.03 mm, point spread 0.81 mm), the proposals and the
#: outlines (1.6 mm) are far coarser. 0.25 mm at the isocenter is 0.27 mm on a detector at the samples' magnification
#: 1.08: a 43 cm detector keeps about 1600 pixels, enough to show the radiograph under the outlines in the scene.
WORKING_PIXEL_MM = 0.25
#: A working copy keeps at least this many pixels along each axis.
MIN_WORKING_PIXELS = 16
#: Working copies of the radiograph files read last (:func:`readRadiograph`), for the summary picture drawn after a
#: run.
READ_CACHE_SIZE = 4
_readCache: "OrderedDict[tuple, WorkingRadiograph]" = OrderedDict()


def lateralityAndSource(path) -> tuple[Optional[str], str]:
    """('left' / 'right' or None, where it was read) from a radiograph's DICOM attributes or its JSON sidecar's, by
    :func:`ReconCoreLib.dicomvalues.sideOf` (ImageLaterality, Laterality, then a side named in BodyPartExamined or
    SeriesDescription).

    :raises ValueError: a multi-valued or unknown laterality, or a sidecar laterality that is not text.
    """
    path = Path(path)
    if isDicom(path):
        import pydicom

        try:
            dataset = pydicom.dcmread(str(path), stop_before_pixels=True)
        except Exception:  # unreadable files are reported by the image reader, with a better message
            return None, ""
        side, where = sideOf(lambda keyword: text(dataset, keyword, str(path)), str(path))
        return side, f"DICOM {where}" if side else ""
    if not sidecarPath(path).is_file():
        return None, ""
    sidecar = sidecarPath(path)
    try:
        attributes = json.loads(sidecar.read_text())
    except (OSError, json.JSONDecodeError):
        return None, ""  # the image reader reports it
    if not isinstance(attributes, dict):
        return None, ""
    for keyword in ("ImageLaterality", "Laterality"):
        value = attributes.get(keyword)
        if value is not None and not isinstance(value, str):  # a boolean, number or list is no laterality
            raise ValueError(f"{sidecar}: {keyword} must be the text \"L\" or \"R\", got {json.dumps(value)}")
    side, where = sideOf(lambda keyword: attributes.get(keyword) if isinstance(attributes.get(keyword), str) else "",
                         str(sidecar))
    return side, f"sidecar {where}" if side else ""


def lateralityOfFile(path) -> Optional[str]:
    """'left' / 'right' as :func:`lateralityAndSource` reads it from a radiograph's file, else None."""
    return lateralityAndSource(path)[0]


def resolveSide(side: Optional[str], paths: Sequence = ()) -> Optional[str]:
    """The side of :func:`resolveSideAndSource` (None: the files do not say it)."""
    return resolveSideAndSource(side, paths)[0]


def resolveSideAndSource(side: Optional[str], paths: Sequence = ()) -> tuple[Optional[str], str]:
    """('left' / 'right', where it came from): ``side`` itself when it is one ("given"); for None / 'auto' the files'
    laterality (:func:`lateralityAndSource`); (None, "") when the files do not say it (ImageLaterality and Laterality
    absent, or U or B, and no side named in their descriptions): the images then decide, or the run stops and asks
    (:func:`~.placement.locateFemur`). Never assumed: a left femur registered as a right one is a mirror image, and
    nothing in the result would say so.

    :raises ValueError: an unknown side, or files that disagree on laterality.
    """
    if side in SIDES:
        return side, "given"
    if side not in (None, "", "auto"):
        raise ValueError(f"side must be 'left', 'right' or 'auto', got {side!r}")
    read = [lateralityAndSource(path) for path in paths if path]
    sides = {value for value, _ in read if value}
    if len(sides) > 1:
        raise ValueError("the radiographs disagree on laterality (one says left, the other right); give the side")
    if not sides:
        return None, ""
    return sides.pop(), "; ".join(dict.fromkeys(source for value, source in read if value))


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


def workingSize(geometry: CArmGeometry) -> tuple[int, int]:
    """(rows, columns) of a radiograph's working copy: its field at about :data:`WORKING_PIXEL_MM` per pixel at the
    isocenter along an axis whose pixels are finer, its own count along the others."""
    return finerFieldSize(geometry, WORKING_PIXEL_MM, MIN_WORKING_PIXELS)


@dataclass
class WorkingRadiograph(XrayImage):
    """A radiograph's working copy (:func:`toWorkingSpacing`): pixels and geometry of the copy, the pixel count of the
    radiograph it was made from (its femur masks come at that size)."""

    inputRows: int = 0
    inputColumns: int = 0

    @property
    def inputShape(self) -> tuple[int, int]:
        return self.inputRows, self.inputColumns


def toWorkingSpacing(view: XrayImage) -> WorkingRadiograph:
    """The working copy of a checked radiograph (:func:`workingSize`): area-averaged over the same field, its geometry
    with the pixel spacing scaled to match (same detector plane, centre and extent); the same pixels when they are
    coarse already. A working copy is its own."""
    if isinstance(view, WorkingRadiograph):
        return view
    rows, columns = workingSize(view.geometry)
    geometry = view.geometry.withImageSize(rows, columns) if (rows, columns) != view.pixels.shape else view.geometry
    return WorkingRadiograph(areaAverage(view.pixels, rows, columns), geometry, view.sourcePath, view.modality,
                             view.frameIndex, view.numberOfFrames, view.frameChoice, *view.pixels.shape)


def workingToInputIjk(inputShape: Sequence[int], workingShape: Sequence[int]) -> np.ndarray:
    """4x4 matrix from a working copy's IJK (i = column, j = row) to its radiograph's IJK, both (rows, columns) shapes
    over the same field: working pixel centres inside the input pixels they average."""
    scaleRow, scaleColumn = (float(count) / float(working) for count, working in zip(inputShape[:2], workingShape[:2]))
    return np.array([[scaleColumn, 0.0, 0.0, 0.5 * scaleColumn - 0.5],
                     [0.0, scaleRow, 0.0, 0.5 * scaleRow - 0.5],
                     [0.0, 0.0, 1.0, 0.0],
                     [0.0, 0.0, 0.0, 1.0]])


def readRadiograph(path) -> WorkingRadiograph:
    """The working copy of a radiograph file (DICOM DX/CR/RF or image + JSON sidecar; :func:`toWorkingSpacing`).

    The file is read once while it is unchanged (same path, size, modification time): the last
    :data:`READ_CACHE_SIZE` working copies are kept, read-only, so the summary picture drawn after a run reuses them.
    :raises ValueError: as :func:`~ReconCoreLib.xrayio.readXrayImage`.
    """
    from ReconCoreLib.xrayio import readXrayImage

    try:
        status = Path(path).stat()
        key = (str(Path(path).resolve()), status.st_size, status.st_mtime_ns, status.st_ino)
    except OSError:
        key = None  # the reader says what is wrong with the path
    if key in _readCache:
        _readCache.move_to_end(key)
        return _readCache[key]
    working = toWorkingSpacing(readXrayImage(path, modalities=FEMUR_MODALITIES))
    working.pixels.flags.writeable = False  # shared by every reader of the cache
    if key is not None:
        _readCache[key] = working
        while len(_readCache) > READ_CACHE_SIZE:
            _readCache.popitem(last=False)
    return working


def virtualDetector(geometry: CArmGeometry, boxCentreLps: Sequence[float]) -> CArmGeometry:
    """The network's detector for a view and a crop box centre (LPS mm, the radiograph's frame):
    :func:`ReconCoreLib.virtualdetector.virtualDetector` of 96 x 96 pixels of 2.03 mm."""
    return virtualdetector.virtualDetector(geometry, boxCentreLps, DETECTOR_PIXEL_MM, IMAGE_SIZE)


@dataclass
class NetworkView:
    """One view as the network sees it (working frame): image, mask, geometry; and the radiograph's working copy
    (patient frame, :func:`toWorkingSpacing`) with its femur mask. Before the crop box is placed (:func:`workingView`)
    ``image`` and ``mask`` are None and ``geometry`` is the radiograph's own C-arm (patient frame: the side is not
    known yet)."""

    image: Optional[np.ndarray]  # float32 [96, 96]
    mask: Optional[np.ndarray]  # float32 0/1 [96, 96]
    geometry: CArmGeometry  # virtual detector about the box centre (box frame), mirrored for a left femur
    workingMask: np.ndarray  # uint8 (rows, columns) on the working copy
    maskProposed: bool
    working: Optional[WorkingRadiograph] = None  # the radiograph's working copy (patient frame)
    share: Optional[np.ndarray] = None  # float32 share of each working pixel covered by the femur mask
    boxCentreLps: Optional[np.ndarray] = None  # crop box centre (working frame, LPS mm) the view is placed for
    # what the network is given: image, mask and geometry as above, or the view seen from the opposite side
    # (:func:`~.checks.seenFromOppositeSide`)
    networkImage: Optional[np.ndarray] = None
    networkMask: Optional[np.ndarray] = None
    networkGeometry: Optional[CArmGeometry] = None

    @property
    def fromOppositeSide(self) -> bool:
        """The network is given this view seen from the opposite side."""
        return self.networkGeometry is not None and self.networkGeometry is not self.geometry


def workingView(view: XrayImage, mask, name: str) -> NetworkView:
    """The radiograph's working copy (:func:`toWorkingSpacing`; ``view`` may be one already) and its femur mask (given
    at the radiograph's size, or proposed on the copy), not yet on the network's detector (:func:`placeView`). A given
    mask goes onto the copy as the share of each working pixel it covers: the detector resamples that share, the
    copy's mask is the pixels at least half covered."""
    if not isinstance(view, WorkingRadiograph):
        view = replace(view, pixels=checkImage(view.pixels, view.sourcePath or f"{name} radiograph"))
        if (view.geometry.rows, view.geometry.columns) != view.pixels.shape:
            raise ValueError(f"{name} radiograph: geometry says {view.geometry.rows} x {view.geometry.columns} "
                             f"pixels, the image is {view.pixels.shape[0]} x {view.pixels.shape[1]}")
    working = toWorkingSpacing(view)
    if mask is None:
        workingMask, proposed = proposeFemurMask(working.pixels, working.geometry.pixelSpacingMm), True
        share = workingMask.astype(np.float32)
    else:
        share = areaAverage(checkMask(mask, working.inputShape, name), *working.pixels.shape)
        workingMask, proposed = (share >= 0.5).astype(np.uint8), False
        if not workingMask.any():
            raise ValueError(f"{name} femur mask is smaller than a working pixel ({WORKING_PIXEL_MM} mm at the "
                             "isocenter)")
    return NetworkView(None, None, working.geometry, workingMask, proposed, working, share)


def _onDetector(view: NetworkView, target: CArmGeometry, centrePatient: np.ndarray, side: str, name: str):
    """(image, mask, geometry) of ``view``'s working radiograph and mask on ``target`` (patient frame, its isocenter
    at ``centrePatient``), mirrored into the working frame for a left femur."""
    working = view.working
    image = virtualdetector.resampleToDetector(working.pixels, working.geometry, target, centrePatient,
                                               DETECTOR_SIGMA_PIXELS)
    mask = (virtualdetector.resampleToDetector(view.share, working.geometry, target, centrePatient,
                                               DETECTOR_SIGMA_PIXELS) >= 0.5).astype(np.float32)
    if not mask.any():
        raise ValueError(f"{name} femur mask lies outside the network's field of view "
                         f"({IMAGE_SIZE * DETECTOR_PIXEL_MM:.0f} mm square on the detector, centred on the femur "
                         "found in both views)")
    if side == "left":
        return image[:, ::-1].copy(), mask[:, ::-1].copy(), mirrorGeometry(target)
    return image, mask, target


def placeView(view: NetworkView, side: str, boxCentreLps: Sequence[float], name: str) -> NetworkView:
    """``view`` (:func:`workingView`) on the network's detector for a crop box centred at ``boxCentreLps`` (working
    frame): image and mask resampled onto :func:`virtualDetector`, mirrored for a left femur; what the network is
    given also on the opposite detector where the view comes from the side it was not trained on
    (:func:`~.checks.seenFromOppositeSide`)."""
    centre = np.asarray(boxCentreLps, dtype=float)
    centrePatient = toPatient(centre, side)
    target = virtualDetector(view.working.geometry, centrePatient)
    image, mask, geometry = _onDetector(view, target, centrePatient, side, name)
    network = (image, mask, geometry)
    if seenFromOppositeSide(geometry, VIEW_NAMES.index(name)):
        network = _onDetector(view, virtualdetector.oppositeDetector(target), centrePatient, side, name)
    return replace(view, image=image, mask=mask, geometry=geometry, boxCentreLps=centre, networkImage=network[0],
                   networkMask=network[1], networkGeometry=network[2])


def prepareView(view: XrayImage, mask, side: str, name: str, boxCentreLps: Sequence[float]) -> NetworkView:
    """:func:`workingView` then :func:`placeView` for a given crop box centre (working frame, LPS mm)."""
    return placeView(workingView(view, mask, name), side, boxCentreLps, name)


def checkSeparation(first: CArmGeometry, second: CArmGeometry) -> float:
    """The angle between the two views (deg); ``ValueError`` below :data:`MIN_SEPARATION_DEG`."""
    separation = viewSeparationDeg(first, second)
    if separation < MIN_SEPARATION_DEG:
        raise ValueError(f"the AP and lateral views are only {separation:.1f} deg apart; at least "
                         f"{MIN_SEPARATION_DEG:.0f} deg is needed to register in 3D")
    return separation


def prepareInputs(apView: XrayImage, latView: XrayImage, apMask=None, latMask=None, side: Optional[str] = None,
                  progress: Optional[Progress] = None, readouts=None, atlas=None) -> tuple[list, list[str], object]:
    """The two :class:`NetworkView` (working frame) with their crop box placed on the femur both views show, the
    warnings about the inputs, and the :class:`~.placement.Placement` (with the side: ``side``, else the one the
    images show).

    Warnings: views less than :data:`WARN_SEPARATION_DEG` apart, views outside the training range, proposed masks.
    The masks pass :func:`~.checks.checkMasks` (failed gates are recorded on ``readouts`` when keeping implausible
    results) before the femur is looked for. ``atlas``: the atlas to be registered (default: the bundled one).
    :raises ValueError: views too close, unknown side, bad image or mask, a mask or spacing that is no femur's, views
        that do not show the same femur, no side given and the images do not show it clearly.
    """
    from .atlasfile import loadAtlas
    from .placement import checkAgreement, locateFemur

    separation = checkSeparation(apView.geometry, latView.geometry)
    if side is not None and side not in SIDES:
        raise ValueError(f"side must be 'left', 'right' or None (from the images), got {side!r}")
    warnings = []
    if separation < WARN_SEPARATION_DEG:
        warnings.append(f"the views are {separation:.1f} deg apart (< {WARN_SEPARATION_DEG:.0f} deg): depth is poorly "
                        "determined, check the result against both radiographs")
    progress = Progress.of(progress)
    progress(0.02, "femur masks")
    views = []
    for index, (name, view, mask) in enumerate(zip(VIEW_NAMES, (apView, latView), (apMask, latMask))):
        views.append(workingView(view, mask, name))
        if views[-1].maskProposed:
            warnings.append(f"no {name} femur mask was given: an automatic proposal was used (check it)")
        progress(0.06 + 0.05 * index, "femur masks")
    checkMasks(views, readouts)
    progress(0.16, "finding the femur")
    placement = locateFemur([view.working.pixels for view in views], [view.workingMask for view in views],
                            [view.geometry for view in views], atlas if atlas is not None else loadAtlas(), side,
                            readouts)
    checkAgreement(placement, readouts)
    # the views as taken (working frame), not the network's detectors: a box placed above or below the isocenter
    # tilts those, which the placement evaluation covers (the positions table of the model card)
    acquired = [mirrorGeometry(view.geometry) if placement.side == "left" else view.geometry for view in views]
    views = [placeView(view, placement.side, placement.boxCentreLps, name) for view, name in zip(views, VIEW_NAMES)]
    return views, warnings + trainingRangeWarnings(acquired), placement

"""Reading 2D echo images: DICOM (a chosen frame of a cine), image files with an optional JSON sidecar, Slicer volumes.

Images are 2D, row 0 at the top as displayed, the sector apex (transducer) at the top. Pixel spacing: DICOM
``PixelSpacing`` or the ultrasound region's ``PhysicalDeltaX/Y`` (cm); the sidecar's ``PixelSpacing`` ([row, column]
mm, the DICOM keyword, as the sample writer writes it); the header of ``.nrrd``/``.nii``/``.mha`` files. A sidecar's
``ViewLabel`` and ``CardiacPhase`` say which view and phase an image is. Grey levels: 8-bit images / 255, others
linearly from their minimum and maximum to [0, 1]; colour images are reduced to luminance.

Every DICOM attribute is read through :mod:`ReconCoreLib.dicomvalues` (one value where one is expected, two for
``PixelSpacing``, numbers that are numbers), and only Modality US is read; sidecar numbers refuse JSON booleans. A
malformed file is refused with one line naming the attribute and its value.

Console example::

    from EchoReconLib.echoio import readEchoImage
    image = readEchoImage("a4c.dcm", frame=12)
    print(image.pixels.shape, image.pixelSpacingMm, image.viewLabel)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
# the image formats read beside DICOM and those without a physical pixel spacing: the same as the X-ray reader's
from ReconCoreLib.xrayio import IMAGE_SUFFIXES, PICTURE_SUFFIXES as NO_SPACING_SUFFIXES

from .conventions import PHASES, VIEWS

#: Smallest image side (pixels) accepted.
MIN_IMAGE_SIZE = 32


@dataclass
class EchoImage:
    """One 2D echo image: grey levels in [0, 1] and what is known about it."""

    pixels: np.ndarray  #: float32 [rows, columns] in [0, 1], row 0 at the top
    pixelSpacingMm: Optional[tuple] = None  #: (row, column) mm, None when unknown
    sourcePath: str = ""
    viewLabel: str = ""  #: view named by the file itself (sidecar ViewLabel), "" when it names none
    phaseLabel: str = ""  #: phase named by the file (sidecar CardiacPhase: ED / ES), "" when none
    apexPixel: Optional[tuple] = None  #: (row, column) of the sector apex; None: top middle of the image
    frameIndex: int = 0
    numberOfFrames: int = 1
    lastImagingRow: Optional[int] = None  #: bottom row of the DICOM ultrasound region; None: the last image row

    @property
    def name(self) -> str:
        return self.sourcePath or "image"

    @property
    def fieldDepthMm(self) -> Optional[float]:
        """Depth of the field of view (mm): sector apex to the bottom of the imaging region (the last image row when
        the file names no region), along the rows; None without a pixel spacing."""
        if self.pixelSpacingMm is None:
            return None
        apexRow = self.apexPixel[0] if self.apexPixel is not None else 0.0
        bottom = self.lastImagingRow if self.lastImagingRow is not None else self.pixels.shape[0] - 1
        return float((bottom - apexRow) * self.pixelSpacingMm[0])


def _frameIndex(count: int, frame: Optional[int], source: str) -> int:
    """The index of the frame to read of ``count`` (``frame``; a cine needs one)."""
    if count == 1:
        if frame not in (None, 0):
            raise ValueError(f"{source}: frame {frame} requested but the image has a single frame")
        return 0
    if frame is None:
        raise ValueError(f"{source}: a cine of {count} frames; choose the frame of this phase (0-{count - 1}): "
                         "VIEW=FILE@FRAME on the command line, the frame box in Slicer")
    if not 0 <= frame < count:
        raise ValueError(f"{source}: frame {frame} does not exist (the cine has {count} frames, 0-{count - 1})")
    return frame


def _greyLevels(array: np.ndarray, eightBit: bool, source: str) -> np.ndarray:
    """2D grey image in [0, 1] from a 2D grey or colour array: checks shape, NaNs and contrast."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] in (3, 4):  # RGB(A): ITU-R BT.601 luminance, alpha ignored
        array = array[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    elif array.ndim == 3 and array.shape[-1] == 2:  # grey + alpha
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"{source}: expected a 2D image, got an array of shape {tuple(np.shape(array))}")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{source}: image pixels are not numbers ({array.dtype})")
    if min(array.shape) < MIN_IMAGE_SIZE:
        raise ValueError(f"{source}: image of {array.shape[0]} x {array.shape[1]} pixels is too small "
                         f"(at least {MIN_IMAGE_SIZE} x {MIN_IMAGE_SIZE})")
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{source}: image contains NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if high == low:
        raise ValueError(f"{source}: image is empty or constant")
    if eightBit and low >= 0.0 and high <= 255.0:
        return array / 255.0
    return (array - low) / (high - low)


def _spacing(attributes, source: str) -> tuple:
    """(row, column) mm of ``PixelSpacing`` in a pydicom dataset or a sidecar dict: exactly two positive numbers."""
    from ReconCoreLib.dicomvalues import numbers

    spacing = numbers(attributes, "PixelSpacing", 2, source)
    if min(spacing) <= 0:
        raise ValueError(f"{source}: PixelSpacing must be two positive numbers (row, column mm), got "
                         f"{spacing[0]:g}, {spacing[1]:g}")
    return spacing


def _label(attributes: dict, keyword: str, source: str) -> str:
    """A sidecar's text label (ViewLabel, CardiacPhase), upper case; "" when absent."""
    value = attributes.get(keyword)
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{source}: the sidecar's {keyword} must be a text such as \"A4C\" or \"ED\", got "
                         f"{json.dumps(value)}")
    return value.strip().upper()


def readSidecar(imagePath: str | Path) -> dict:
    """The JSON sidecar of an image file ({} when there is none): ``PixelSpacing``, ``ViewLabel``, ..."""
    from ReconCoreLib.xrayio import sidecarPath

    path = sidecarPath(imagePath)
    if not path.is_file():
        return {}
    try:
        attributes = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(attributes, dict):
        raise ValueError(f"{path}: expected a JSON object keyed by DICOM keywords")
    return attributes


def _applySidecar(image: EchoImage, attributes: dict, source: str) -> EchoImage:
    from ReconCoreLib.dicomvalues import number

    where = f"{source} (sidecar)"
    if attributes.get("PixelSpacing") is not None:
        image.pixelSpacingMm = _spacing(attributes, where)
    rows = number(attributes, "Rows", where, required=False, integer=True)
    columns = number(attributes, "Columns", where, required=False, integer=True)
    if rows is not None and columns is not None and (rows, columns) != image.pixels.shape:
        raise ValueError(f"{source}: the sidecar says Rows x Columns = {rows} x {columns} but the image is "
                         f"{image.pixels.shape[0]} x {image.pixels.shape[1]}")
    image.viewLabel = _label(attributes, "ViewLabel", where)
    image.phaseLabel = _label(attributes, "CardiacPhase", where)
    return image


def readEchoImage(path: str | Path, frame: Optional[int] = None) -> EchoImage:
    """Read one echo view: DICOM (``frame``: zero-based frame of a cine, required when it has several) or an image
    file (``.nrrd``, ``.png``, ...; a 3D file is a cine of its slices) with an optional JSON sidecar.

    :raises ValueError: unreadable file, not 2D, too small, NaNs, constant, bad sidecar, frame missing or absent.
    """
    return _readFile(Path(path), frame, every=False)


def readEchoFrames(path: str | Path) -> list[EchoImage]:
    """Every frame of an echo file (a cine, or a single image as one frame), the file read once: the cine whose
    end-diastole and end-systole are searched (:mod:`~.cinephases`). Errors as :func:`readEchoImage`."""
    return _readFile(Path(path), None, every=True)


def _readFile(path: Path, frame: Optional[int], every: bool):
    """A DICOM or image file's frame, or with ``every`` all its frames (:func:`readEchoImage`)."""
    from ReconCoreLib.xrayio import isDicom

    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if isDicom(path):
        return _readDicom(path, frame, every)
    if not path.name.lower().endswith(IMAGE_SUFFIXES):
        raise ValueError(f"{path}: not a DICOM file nor one of {', '.join(IMAGE_SUFFIXES)}")
    return _readImageFile(path, frame, every)


def _readImageFile(path: Path, frame: Optional[int], every: bool = False):
    """The image of ``frame`` (:func:`readEchoImage`), or with ``every`` the list of all frames."""
    import SimpleITK as sitk

    try:
        itkImage = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise ValueError(f"{path}: cannot be read as an image ({str(error).strip().splitlines()[-1]})") from None
    if itkImage.GetDimension() > 3:
        raise ValueError(f"{path}: expected a 2D image, got a {itkImage.GetDimension()}D image")
    array = sitk.GetArrayFromImage(itkImage)
    components = itkImage.GetNumberOfComponentsPerPixel()
    frames = array if itkImage.GetDimension() == 3 else array[None]
    if components > 1 and frames.ndim != 4 or components == 1 and frames.ndim != 3:
        raise ValueError(f"{path}: unexpected image layout {array.shape} with {components} components")
    spacing = None
    if not path.name.lower().endswith(NO_SPACING_SUFFIXES):
        spacing = (float(itkImage.GetSpacing()[1]), float(itkImage.GetSpacing()[0]))
    sidecar = readSidecar(path)
    images = [_applySidecar(EchoImage(_greyLevels(frames[index], array.dtype == np.uint8, str(path)), spacing,
                                      str(path), frameIndex=index, numberOfFrames=len(frames)), sidecar, str(path))
              for index in (range(len(frames)) if every else [_frameIndex(len(frames), frame, str(path))])]
    return images if every else images[0]


def _ultrasoundRegion(dataset, shape: tuple, source: str) -> Optional[dict]:
    """Spacing (mm), sector apex (row, column) and bounds of the first 2D ultrasound region measured in cm.

    Regions of another kind (M-mode, Doppler: RegionSpatialFormat other than 1) or in other units are skipped; a 2D
    region whose fields are malformed (several values where one is expected, text, a zero delta) is refused.
    """
    from ReconCoreLib.dicomvalues import number

    for index, region in enumerate(getattr(dataset, "SequenceOfUltrasoundRegions", None) or []):
        where = f"{source}: ultrasound region {index + 1}"
        if number(region, "RegionSpatialFormat", where, required=False, integer=True) != 1:
            continue
        unitsX = number(region, "PhysicalUnitsXDirection", where, integer=True)
        unitsY = number(region, "PhysicalUnitsYDirection", where, integer=True)
        if unitsX != 3 or unitsY != 3:  # 3: cm
            continue
        signedDeltaX, signedDeltaY = number(region, "PhysicalDeltaX", where), number(region, "PhysicalDeltaY", where)
        deltaX, deltaY = abs(signedDeltaX), abs(signedDeltaY)
        if deltaX == 0 or deltaY == 0:
            raise ValueError(f"{where}: PhysicalDeltaX, PhysicalDeltaY = {signedDeltaX:g}, {signedDeltaY:g} cm per "
                             "pixel; both must be non-zero")
        x0, y0 = (number(region, key, where, integer=True) for key in ("RegionLocationMinX0", "RegionLocationMinY0"))
        x1, y1 = (number(region, key, where, integer=True) for key in ("RegionLocationMaxX1", "RegionLocationMaxY1"))
        if x1 < x0 or y1 < y0:
            raise ValueError(f"{where}: the region's corners ({x0}, {y0}) - ({x1}, {y1}) are not ordered")
        apex = None
        referenceX = number(region, "ReferencePixelX0", where, required=False)
        referenceY = number(region, "ReferencePixelY0", where, required=False)
        if referenceX is not None and referenceY is not None:
            # the reference pixel is relative to the region's corner; the apex is where both physical values are 0
            physicalX = number(region, "ReferencePixelPhysicalValueX", where, required=False, default=0.0)
            physicalY = number(region, "ReferencePixelPhysicalValueY", where, required=False, default=0.0)
            apex = (y0 + referenceY - physicalY / signedDeltaY, x0 + referenceX - physicalX / signedDeltaX)
        bounds = (max(y0, 0), min(y1, shape[0] - 1), max(x0, 0), min(x1, shape[1] - 1))
        return {"spacing": (10.0 * deltaY, 10.0 * deltaX), "apex": apex, "bounds": bounds}
    return None


def _readDicom(path: Path, frame: Optional[int], every: bool = False):
    """The image of ``frame`` of a US DICOM file, or with ``every`` the list of all its frames (the file read once)."""
    from ReconCoreLib.dicomvalues import ULTRASOUND_SOP_CLASSES, checkModality, checkSopClass, number, text
    from ReconCoreLib.cineframes import iterDicomFrames, readDicomDataset

    source = str(path)

    def checkDataset(dataset) -> None:
        checkModality(dataset, ("US",), source, "ultrasound (echo) images")
        checkSopClass(dataset, ULTRASOUND_SOP_CLASSES, source)

    # that frame alone decoded (ReconCoreLib.cineframes; with pydicom 3 a cine's other frames are not even read)
    dataset = readDicomDataset(path, checkDataset)
    count = number(dataset, "NumberOfFrames", source, required=False, integer=True, default=1)
    if count < 1:
        raise ValueError(f"{source}: NumberOfFrames is {count}; it must be at least 1")
    indices = list(range(count)) if every else [_frameIndex(count, frame, source)]
    slope = number(dataset, "RescaleSlope", source, required=False, default=1.0)
    intercept = number(dataset, "RescaleIntercept", source, required=False, default=0.0)
    if slope == 0:
        raise ValueError(f"{source}: RescaleSlope is 0; every pixel would have the same value")
    inverted = text(dataset, "PhotometricInterpretation", source).upper() == "MONOCHROME1"
    bitsStored = number(dataset, "BitsStored", source, required=False, integer=True, default=8)
    eightBit = bitsStored <= 8 and slope == 1 and intercept == 0
    rows = number(dataset, "Rows", source, integer=True)
    columns = number(dataset, "Columns", source, integer=True)
    region = _ultrasoundRegion(dataset, (rows, columns), source)
    spacing = region["spacing"] if region is not None else (
        _spacing(dataset, source) if getattr(dataset, "PixelSpacing", None) is not None else None)
    images = []
    for index, stored in zip(indices, iterDicomFrames(dataset, path, indices)):
        selected = np.asarray(stored, np.float32) * slope + intercept
        if inverted:
            selected = selected.max() + selected.min() - selected
        if region is not None:  # only the imaging region: no annotations, ECG trace or colour bar
            top, bottom, left, right = region["bounds"]
            inside = np.zeros(selected.shape[:2], bool)
            inside[top:bottom + 1, left:right + 1] = True
            selected = np.where(inside if selected.ndim == 2 else inside[..., None], selected, 0)
        images.append(EchoImage(_greyLevels(selected, eightBit, source), spacing, source, frameIndex=index,
                                numberOfFrames=count, apexPixel=region["apex"] if region is not None else None,
                                lastImagingRow=region["bounds"][1] if region is not None else None))
    return images if every else images[0]


def echoImageFromVolumeNode(node, frame: Optional[int] = None) -> EchoImage:
    """An :class:`EchoImage` of a Slicer volume node: a single image, or a cine (one slice per frame, or the proxy of
    a sequence from Slicer's DICOM module) whose ``frame`` is taken; ``frame`` is ignored for a single image.

    The file behind the node (``ReconCoreLib.nodefiles.sourceFileForVolume``: its storage file, its DICOM file, or the
    bundled sample Sample Data loaded it from) decides the spacing: a DICOM file is read itself (its ultrasound region
    gives the spacing and the sector apex); an image file's JSON sidecar is read; a PNG or another format without
    physical spacing and no sidecar has no spacing. Otherwise the node's spacing is used.
    """
    from ReconCoreLib.nodefiles import frameCount

    frame = frame if frameCount(node) > 1 else None  # the frame box of a single image is ignored
    return _nodeFrames(node, frame, every=False)


def echoFramesFromVolumeNode(node) -> list[EchoImage]:
    """Every frame of a volume node (:func:`echoImageFromVolumeNode`), its file or its frames read once."""
    return _nodeFrames(node, None, every=True)


def _nodeFrames(node, frame: Optional[int], every: bool):
    from ReconCoreLib.nodefiles import framesOfVolumeNode, sourceFileForVolume
    from ReconCoreLib.xrayio import isDicom

    name = node.GetName()
    fileName = sourceFileForVolume(node)
    if fileName and isDicom(fileName):
        return _readDicom(Path(fileName), frame, every)  # the file itself: its frames are not copied out of the node
    frames = framesOfVolumeNode(node, grey=False)
    spacing = (float(node.GetSpacing()[1]), float(node.GetSpacing()[0]))
    if fileName and fileName.lower().endswith(NO_SPACING_SUFFIXES):
        spacing = None
    sidecar = readSidecar(fileName) if fileName else None
    images = []
    for index in range(len(frames)) if every else [_frameIndex(len(frames), frame, name)]:
        image = EchoImage(_greyLevels(frames[index], frames.dtype == np.uint8, name), spacing, name,
                          frameIndex=index, numberOfFrames=len(frames))
        images.append(_applySidecar(image, sidecar, name) if fileName else image)
    return images if every else images[0]


def viewAndPhaseOfNode(node) -> tuple[str, str]:
    """(view, phase) a volume node declares: its file's sidecar (ViewLabel, CardiacPhase), else its name's words
    (e.g. "EchoNormal ED A4C"); "" for what it does not say."""
    from ReconCoreLib.nodefiles import sourceFileForVolume

    fileName = sourceFileForVolume(node)
    try:
        attributes = readSidecar(fileName) if fileName else {}
        labels = _label(attributes, "ViewLabel", fileName), _label(attributes, "CardiacPhase", fileName)
    except ValueError:
        labels = "", ""
    words = {word.upper() for word in node.GetName().replace("_", " ").replace("-", " ").split()}
    view = labels[0] or next((v for v in VIEWS if v in words), "")
    phase = labels[1] or next((p for p in PHASES if p in words), "")
    return (view if view in VIEWS else ""), (phase if phase in PHASES else "")

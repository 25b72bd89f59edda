"""Read and write 2D X-ray images with their C-arm geometry.

Accepted inputs:
- DICOM (XA, RF, DX, CR; single- or multi-frame) read with pydicom; geometry from the header's
  PositionerPrimaryAngle, PositionerSecondaryAngle, DistanceSourceToDetector, DistanceSourceToPatient,
  ImagerPixelSpacing, Rows, Columns.
- ``.nrrd``, ``.nii``, ``.nii.gz``, ``.png``, ``.mha`` read with SimpleITK, plus a JSON sidecar beside it
  (same name, extension replaced by ``.json``) whose keys are those same DICOM keywords.

Pixel arrays are float32 (rows, columns), row 0 at the top, as displayed.

A multi-frame file is read one frame at a time (never all its frames as floats at once; :mod:`.cineframes`). Without
a frame number, :func:`~.cineframes.chooseFrame` picks one: a :class:`~.cineframes.FrameChooser` scores every frame
cheaply at a coarse spacing (mm at the isocenter) and the few best fully. :func:`readXrayGeometry` reads the geometry
alone (headers, no pixels).
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from .cineframes import (DEFAULT_FRAME_CHOOSER, FrameChooser, FrameScore, chooseFrame, frameChoice, iterDicomFrames,
                         rWaveFrames, readDicomDataset, readDicomFile)
from .xraygeometry import GEOMETRY_KEYWORDS, CArmGeometry

#: X-ray modalities any module may read; a module narrows them (angio: XA, RF; femur: DX, CR).
XRAY_MODALITIES = ("XA", "RF", "DX", "CR")
#: Smallest image side accepted (pixels): below this no filter or network input means anything.
MIN_IMAGE_PIXELS = 16

#: Picture formats: one 2D image each, without a physical pixel spacing (a header spacing of 1 means nothing there).
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Image files read beside DICOM, each with its JSON sidecar (:func:`sidecarPath`).
IMAGE_SUFFIXES = (".nrrd", ".nii.gz", ".nii", ".mha", ".mhd", *PICTURE_SUFFIXES)
DICOM_SOP_CLASS = {
    "XA": "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic Image Storage
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
    "CR": "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image Storage
}

log = logging.getLogger(__name__)


@dataclass
class XrayImage:
    """One 2D X-ray view: pixels, geometry and where they came from."""

    pixels: np.ndarray  #: float32 (rows, columns)
    geometry: CArmGeometry
    sourcePath: str = ""
    modality: str = ""
    frameIndex: int = 0
    numberOfFrames: int = 1
    frameChoice: str = ""  #: how the frame of a cine was chosen ("" for a single frame)


def sidecarPath(imagePath: str | Path) -> Path:
    """The JSON sidecar of an image file: the same name with its image extension replaced by ``.json``."""
    path = Path(imagePath)
    name = path.name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".json")
    return path.with_name(name + ".json")


def isDicom(path: Path) -> bool:
    """True for a .dcm/.dicom name or a file with the DICM preamble."""
    path = Path(path)
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    try:
        with open(path, "rb") as stream:
            stream.seek(128)
            return stream.read(4) == b"DICM"
    except OSError:
        return False


def checkImage(pixels: np.ndarray, source: str) -> np.ndarray:
    """Validate a 2D image: numeric, 2D, finite, not constant. Returns float32 (rows, columns)."""
    array = np.asarray(pixels)
    if array.ndim == 3 and 1 in array.shape:
        array = array.reshape([size for size in array.shape if size != 1] or [1])
    if array.ndim != 2:
        raise ValueError(f"{source}: expected a 2D image, got an array of shape {tuple(np.shape(pixels))}")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{source}: image pixels are not numbers ({array.dtype})")
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{source}: image contains NaN or infinite values")
    if array.size == 0 or float(array.max()) == float(array.min()):
        raise ValueError(f"{source}: image is empty or constant")
    if min(array.shape) < MIN_IMAGE_PIXELS:
        raise ValueError(f"{source}: image of {array.shape[0]} x {array.shape[1]} pixels is too small "
                         f"(at least {MIN_IMAGE_PIXELS} x {MIN_IMAGE_PIXELS})")
    return array


def readXrayImage(path: str | Path, frame: int | None = None,
                  frameScore: Union[FrameChooser, FrameScore] = DEFAULT_FRAME_CHOOSER,
                  modalities: Optional[Sequence[str]] = None) -> XrayImage:
    """Read one X-ray view and its geometry.

    :param path: DICOM file, or an image file with a JSON sidecar.
    :param frame: zero-based frame of a multi-frame DICOM (only that frame is decoded and nothing is scored);
        ``None`` picks one with :func:`chooseFrame` and ``frameScore``: a :class:`FrameChooser` (a quick score of
        every frame at a coarse spacing, a full score of the best few), or a plain ``frameScore(frame, geometry)``
        of every frame; each frame as shown (rescaled, MONOCHROME1 inverted), the view's geometry. The frames are
        decoded once, one at a time.
    :param modalities: the DICOM (or sidecar) Modality values accepted (default :data:`XRAY_MODALITIES`).
    :raises ValueError: unreadable file, not 2D, NaNs, constant image, missing or absurd geometry, another modality.
    """
    from .modules import existingFile

    path = existingFile(path)
    modalities = tuple(modalities or XRAY_MODALITIES)
    if isDicom(path):
        return _readDicom(path, frame, frameScore, modalities)
    if not any(path.name.lower().endswith(suffix) for suffix in IMAGE_SUFFIXES):
        raise ValueError(f"{path}: not a DICOM file nor one of {', '.join(IMAGE_SUFFIXES)}")
    return _readImageWithSidecar(path, frame, modalities)


def readXrayGeometry(path: str | Path, modalities: Optional[Sequence[str]] = None) -> CArmGeometry:
    """The C-arm geometry of an X-ray file from its headers alone: a DICOM file's attributes (its pixel data are
    not read), or an image's JSON sidecar and the image file's header (its size). Much cheaper than
    ``readXrayImage(path).geometry`` for a cine: no frame is decoded or scored.

    :raises ValueError: unreadable file, missing or absurd geometry, another modality (as :func:`readXrayImage`).
    """
    from .modules import existingFile

    path = existingFile(path)
    modalities = tuple(modalities or XRAY_MODALITIES)
    if isDicom(path):
        dataset = _readDicomHeader(path, modalities, stopBeforePixels=True)
        return _dicomGeometry(dataset, path)
    if not any(path.name.lower().endswith(suffix) for suffix in IMAGE_SUFFIXES):
        raise ValueError(f"{path}: not a DICOM file nor one of {', '.join(IMAGE_SUFFIXES)}")
    attributes, sidecar = _sidecarAttributes(path, modalities)
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise ValueError(f"{path}: cannot be read as an image ({str(error).strip().splitlines()[-1]})") from None
    size = reader.GetSize()  # (columns, rows[, slices])
    geometry = CArmGeometry.fromAttributes(attributes, rows=size[1], columns=size[0], source=str(sidecar))
    if (geometry.rows, geometry.columns) != (size[1], size[0]):
        raise ValueError(f"{path}: geometry says Rows x Columns = {geometry.rows} x {geometry.columns} but the "
                         f"image is {size[1]} x {size[0]}")
    return geometry


def _sidecarAttributes(path: Path, modalities: Sequence[str]) -> tuple[dict, Path]:
    """The JSON sidecar of an image file, checked: its keyword -> value object and its path."""
    sidecar = sidecarPath(path)
    if not sidecar.is_file():
        raise ValueError(f"{path}: no geometry: expected a JSON sidecar {sidecar.name} with keys "
                         f"{', '.join(GEOMETRY_KEYWORDS)}")
    try:
        attributes = json.loads(sidecar.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{sidecar}: not valid JSON ({error})") from None
    if not isinstance(attributes, dict):
        raise ValueError(f"{sidecar}: expected a JSON object keyed by DICOM keywords")
    modality = attributes.get("Modality")
    if modality is not None and str(modality).upper() not in modalities:
        raise ValueError(f"{sidecar}: Modality is {modality!r}; this module reads Modality {', '.join(modalities)}")
    return attributes, sidecar


def _readImageWithSidecar(path: Path, frame: int | None = None, modalities: Sequence[str] = XRAY_MODALITIES
                          ) -> XrayImage:
    import SimpleITK as sitk

    attributes, sidecar = _sidecarAttributes(path, modalities)
    if frame not in (None, 0):
        raise ValueError(f"{path}: frame {frame} requested but the image has a single frame")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise ValueError(f"{path}: cannot be read as an image ({str(error).strip().splitlines()[-1]})") from None
    array = sitk.GetArrayFromImage(image)
    if image.GetNumberOfComponentsPerPixel() >= 3:  # RGB(A): ITU-R BT.601 luminance, alpha ignored
        array = array[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    elif image.GetNumberOfComponentsPerPixel() == 2:  # grey + alpha
        array = array[..., 0]
    pixels = checkImage(array, str(path))
    geometry = CArmGeometry.fromAttributes(attributes, rows=pixels.shape[0], columns=pixels.shape[1],
                                           source=str(sidecar))
    _checkSize(geometry, pixels, str(path))
    return XrayImage(pixels, geometry, str(path), str(attributes.get("Modality", "")))


def _checkSize(geometry: CArmGeometry, pixels: np.ndarray, source: str) -> None:
    if (geometry.rows, geometry.columns) != pixels.shape:
        raise ValueError(f"{source}: geometry says Rows x Columns = {geometry.rows} x {geometry.columns} but the "
                         f"image is {pixels.shape[0]} x {pixels.shape[1]}")


def _readDicomHeader(path: Path, modalities: Sequence[str], stopBeforePixels: bool = False):
    """The dataset of an X-ray DICOM file, its modality and IOD checked; with ``stopBeforePixels`` its headers only,
    else with its pixel module checked (pixel data left in the file where pydicom 3 can, not decoded)."""
    from .dicomvalues import XRAY_SOP_CLASSES, checkModality, checkSopClass

    def checkDataset(dataset) -> None:
        checkModality(dataset, modalities, str(path), "X-ray images")
        checkSopClass(dataset, XRAY_SOP_CLASSES, str(path))

    if stopBeforePixels:
        dataset = readDicomFile(path, stopBeforePixels=True)
        checkDataset(dataset)
        return dataset
    return readDicomDataset(path, checkDataset)


def _dicomGeometry(dataset, path: Path) -> CArmGeometry:
    attributes = {key: _dicomValue(dataset, key, str(path)) for key in GEOMETRY_KEYWORDS}
    return CArmGeometry.fromAttributes(attributes, source=str(path))


def _readDicom(path: Path, frame: int | None, frameScore, modalities: Sequence[str] = XRAY_MODALITIES
               ) -> XrayImage:
    from .dicomvalues import number

    dataset = _readDicomHeader(path, modalities)
    frames = number(dataset, "NumberOfFrames", str(path), required=False, integer=True, default=1)
    slope = number(dataset, "RescaleSlope", str(path), required=False, default=1.0) or 1.0
    intercept = number(dataset, "RescaleIntercept", str(path), required=False, default=0.0)
    inverted = _photometric(dataset, str(path)) == "MONOCHROME1"
    geometry = _dicomGeometry(dataset, path)

    def shown(raw) -> np.ndarray:
        """A frame as displayed: rescaled, MONOCHROME1 turned into MONOCHROME2 (high = bright)."""
        values = np.asarray(raw, dtype=np.float32) * slope + intercept
        return values.max() + values.min() - values if inverted else values

    if frames > 1 and frame is not None and not 0 <= frame < frames:
        raise ValueError(f"{path}: frame {frame} does not exist (the file has {frames} frames, 0-{frames - 1})")
    if frames == 1 and frame not in (None, 0):
        raise ValueError(f"{path}: frame {frame} requested but the file has a single frame")
    choice = "given" if frames > 1 else ""
    if frames > 1 and frame is None:
        rWaves, origin = rWaveFrames(dataset, str(path), frames)
        candidates = rWaves or list(range(frames))
        chosen = chooseFrame(iterDicomFrames(dataset, path, candidates), geometry, frameScore, shown,
                             len(candidates), str(path))
        frame, raw = candidates[chosen.index], chosen.frame
        choice = frameChoice(rWaves, frames, origin)
        log.debug("%s: frame %d of %d chosen (decoding %.2f s, scoring %.2f s)", path, frame, frames,
                  chosen.decodeSeconds, chosen.scoreSeconds,
                  extra={"timing": {"decode": chosen.decodeSeconds, "choice": chosen.scoreSeconds}})
    else:
        started = time.perf_counter()
        raw = next(iterDicomFrames(dataset, path, [frame or 0]))
        seconds = time.perf_counter() - started
        log.debug("%s: frame %d of %d decoded in %.2f s", path, frame or 0, frames, seconds,
                  extra={"timing": {"decode": seconds, "choice": 0.0}})
    modality = str(getattr(dataset, "Modality", ""))
    del dataset  # the file's pixel data: only the frame is kept
    pixels = checkImage(shown(raw), str(path))
    _checkSize(geometry, pixels, str(path))
    return XrayImage(pixels, geometry, str(path), modality, frame or 0, frames, choice)


def _photometric(dataset, source: str) -> str:
    from .dicomvalues import text

    return text(dataset, "PhotometricInterpretation", source).upper()


def _dicomValue(dataset, keyword: str, source: str):
    """One geometry attribute with the multiplicity DICOM gives it (two numbers for the spacing); None when absent."""
    from .dicomvalues import number, numbers

    if keyword == "ImagerPixelSpacing":
        values = numbers(dataset, keyword, 2, source, required=False)
        return list(values) if values is not None else None
    return number(dataset, keyword, source, required=False, integer=keyword in ("Rows", "Columns"))


def writeSidecar(imagePath: str | Path, geometry: CArmGeometry, **extra) -> Path:
    """Write the JSON sidecar of ``imagePath`` (DICOM keywords) and return its path."""
    path = sidecarPath(imagePath)
    path.write_text(json.dumps({**geometry.toAttributes(), **extra}, indent=2) + "\n")
    return path


def writeXrayDicom(path: str | Path, frames: np.ndarray, geometry: CArmGeometry, modality: str = "XA",
                   patientName: str = "Recon2Dto3D^Sample", patientId: str = "R2D3D-0001",
                   seriesDescription: str = "", uidSeed: str | None = None, studySeed: str | None = None) -> Path:
    """Write a (frames, rows, columns) or (rows, columns) image as a DICOM XA/DX/CR file with its geometry.

    Pixels are stored as 16-bit unsigned MONOCHROME2 after a linear rescale to 0..4095 (12 bits stored).
    ``uidSeed`` makes the UIDs reproducible (same seed, same UIDs); ``studySeed`` gives the study and frame of reference
    UIDs of their own seed, so that the views of one patient and session share them as a scanner writes them.
    """
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    modality = modality.upper()
    if modality not in DICOM_SOP_CLASS:
        raise ValueError(f"modality must be one of {', '.join(DICOM_SOP_CLASS)}, got {modality!r}")
    array = np.asarray(frames, dtype=np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (geometry.rows, geometry.columns):
        raise ValueError(f"frames of shape {array.shape} do not match the geometry's {geometry.rows} x "
                         f"{geometry.columns}")
    if modality != "XA" and len(array) > 1:
        raise ValueError(f"{modality} images have a single frame")
    low, high = float(array.min()), float(array.max())
    stored = np.round((array - low) / max(high - low, 1e-12) * 4095).astype(np.uint16)

    def uid(suffix: str, seed: str | None = uidSeed) -> str:
        return generate_uid(entropy_srcs=[seed, suffix]) if seed else generate_uid()

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DICOM_SOP_CLASS[modality]
    meta.MediaStorageSOPInstanceUID = uid("sop")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.StudyInstanceUID = uid("study", studySeed or uidSeed)
    dataset.SeriesInstanceUID = uid("series")
    dataset.FrameOfReferenceUID = uid("frame-of-reference", studySeed or uidSeed)
    today = datetime.date(2026, 1, 1).strftime("%Y%m%d")
    dataset.StudyDate = dataset.SeriesDate = dataset.ContentDate = today
    dataset.Modality = modality
    dataset.PatientName = patientName
    dataset.PatientID = patientId
    dataset.PatientPosition = "HFS"
    dataset.SeriesDescription = seriesDescription
    dataset.Manufacturer = "Recon2Dto3D synthetic"
    dataset.ImageType = ["DERIVED", "SECONDARY"] if modality != "DX" else ["DERIVED", "PRIMARY"]
    dataset.PositionerPrimaryAngle = _decimalString(geometry.primaryAngleDeg)
    dataset.PositionerSecondaryAngle = _decimalString(geometry.secondaryAngleDeg)
    dataset.DistanceSourceToDetector = _decimalString(geometry.sourceToDetectorMm)
    dataset.DistanceSourceToPatient = _decimalString(geometry.sourceToPatientMm)
    dataset.ImagerPixelSpacing = [_decimalString(value) for value in geometry.pixelSpacingMm]
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.Rows, dataset.Columns = geometry.rows, geometry.columns
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
    dataset.PixelRepresentation = 0
    dataset.RescaleSlope = _decimalString((high - low) / 4095 if high > low else 1.0)
    dataset.RescaleIntercept = _decimalString(low)
    if len(stored) > 1:
        dataset.NumberOfFrames = len(stored)
        dataset.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
        dataset.FrameTime = 66.7
    dataset.PixelData = stored.tobytes() if len(stored) > 1 else stored[0].tobytes()
    return saveDicom(dataset, path)


def saveDicom(dataset, path: str | Path) -> Path:
    """Write a dataset as a DICOM file with its preamble and file meta information, with pydicom 3 (Slicer 5.12)
    or pydicom 2.4 (the version Slicer 5.10 bundles, which Slicer's own DICOM plugins need: never upgraded)."""
    import pydicom

    path = Path(path)
    if int(pydicom.__version__.split(".")[0]) >= 3:
        dataset.save_as(str(path), enforce_file_format=True)
    else:
        dataset.save_as(str(path), write_like_original=False)
    return path


def _decimalString(value: float) -> str:
    """The most precise DICOM decimal string (DS) of ``value`` that fits DICOM's 16-character limit."""
    for digits in range(12, 0, -1):
        text = f"{float(value):.{digits}g}"
        if len(text) <= 16:
            return text
    raise ValueError(f"{value!r} cannot be written as a DICOM decimal string")


def readMaskImage(path) -> np.ndarray:
    """A 2D mask file (PNG, NRRD, ...; a single-slice volume is fine; first component of colour) as an array."""
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError:
        raise ValueError(f"{path}: cannot be read as a mask image") from None
    if image.GetNumberOfComponentsPerPixel() > 1:
        image = sitk.VectorIndexSelectionCast(image, 0)
    array = sitk.GetArrayFromImage(image)
    return array.reshape(array.shape[-2:]) if array.ndim == 3 and array.shape[0] == 1 else array


def writeMaskImage(path, array: np.ndarray) -> None:
    """Write a 2D array (a mask or an 8-bit image) as PNG/NRRD/... by its extension (SimpleITK)."""
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(np.asarray(array)), str(path))

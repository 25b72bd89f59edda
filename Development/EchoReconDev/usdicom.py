"""Ultrasound DICOM files as scanners write them: the EchoNormalCine sample (:mod:`.samples`), the tests' cines and
(``singleFrame``) the tests' single-frame US files with missing or odd attributes are written here.

A file is an Ultrasound Multi-frame Image (8-bit MONOCHROME2, explicit VR little endian) with one 2D ultrasound
region in cm (``SequenceOfUltrasoundRegions``: the pixel spacing and the sector apex as the region's reference
pixel, what :func:`EchoReconLib.echoio.readEchoImage` reads), the frame time of a cine and the patient, study and
series a scanner names. The bytes depend on the arguments only: the UIDs come from a seed, and the file meta
information names this writer, not the pydicom version (pydicom 2.4 in Slicer 5.10, 3.0 in ``.venv``), so a sample
regenerates bit for bit in both.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np

#: Ultrasound Multi-frame Image Storage (DICOM PS3.4 B.5).
ULTRASOUND_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"
#: Ultrasound Image Storage (single frame).
ULTRASOUND_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
#: Keywords of the ultrasound region (the others are the dataset's).
REGION_KEYWORDS = ("Region", "Physical", "Reference")
#: File meta information naming this writer (ImplementationVersionName: at most 16 characters).
IMPLEMENTATION_VERSION_NAME = "RECON2DTO3D_DEV"
#: The fixed content date of the synthetic files (a date of today would change the bytes every day).
CONTENT_DATE = "20260101"


def writeUltrasoundDicom(path: str | Path, frames, spacingMm: float, apex: tuple,
                         region: Optional[tuple] = None, uidSeed: Optional[str] = None,
                         studySeed: Optional[str] = None, frameTimeMs: float = 33.3, singleFrame: bool = False,
                         pixelSpacing: bool = False, **attributes) -> Path:
    """Write ``frames`` (uint8 [frames, rows, columns], or one [rows, columns] image) as a multi-frame US DICOM file.

    ``spacingMm``: square pixel spacing. ``apex`` (row, column): the sector apex in pixels of the frame, whole or
    fractional; the region's reference pixel is its whole part and the reference pixel's physical value the rest
    (a reference pixel 0.5 pixel left of the apex has the physical X value -0.5 * PhysicalDeltaX), so the reader
    finds the apex exactly. ``region`` (x0, y0, x1, y1): the imaging region's corners (inclusive; default the whole
    frame): what lies outside it (annotations, a colour bar) is not read. ``uidSeed``: SOP instance and series UIDs
    from this text (default: the path); ``studySeed``: the study UID's (default ``uidSeed``), one for the views of
    one study. ``singleFrame``: an Ultrasound Image (one frame, no frame time). ``pixelSpacing``: ``PixelSpacing``
    instead of the region. ``attributes``: further keywords (PatientID, SeriesDescription, ...; those starting with
    Region, Physical or Reference set the region's), None deleting one.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.tag import Tag
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from ReconCoreLib.xrayio import saveDicom

    frames = np.asarray(frames, np.uint8)
    frames = frames[None] if frames.ndim == 2 else frames
    count, rows, columns = frames.shape
    uidSeed = uidSeed or str(path)

    def uid(*sources: str) -> str:
        return generate_uid(entropy_srcs=list(sources))

    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = ULTRASOUND_STORAGE if singleFrame else ULTRASOUND_MULTIFRAME_STORAGE
    meta.MediaStorageSOPInstanceUID = uid(uidSeed, "sop")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = uid("Recon2Dto3D", "EchoReconDev.usdicom")
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID, dataset.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    dataset.StudyInstanceUID = uid(studySeed or uidSeed, "study")
    dataset.SeriesInstanceUID = uid(uidSeed, "series")
    dataset.StudyDate = dataset.SeriesDate = dataset.ContentDate = CONTENT_DATE
    dataset.Modality = "US"
    dataset.Manufacturer = "Recon2Dto3D synthetic"
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.Rows, dataset.Columns = rows, columns
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 8, 8, 7, 0
    if singleFrame:
        if count != 1:
            raise ValueError(f"singleFrame: {count} frames given")
    else:
        dataset.NumberOfFrames = count
        dataset.FrameIncrementPointer = Tag("FrameTime")
        dataset.FrameTime = f"{frameTimeMs:g}"
    ultrasound = _region(region or (0, 0, columns - 1, rows - 1), spacingMm, apex)
    if pixelSpacing:
        dataset.PixelSpacing = [spacingMm, spacingMm]
    else:
        dataset.SequenceOfUltrasoundRegions = [ultrasound]
    for keyword, value in attributes.items():
        target = ultrasound if keyword.startswith(REGION_KEYWORDS) else dataset
        if value is None:
            delattr(target, keyword)
        else:
            setattr(target, keyword, value)
    dataset.PixelData = frames.tobytes()
    return saveDicom(dataset, path)


def _region(corners: tuple, spacingMm: float, apex: tuple):
    """One 2D ultrasound region in cm with the sector apex as its reference point (:func:`writeUltrasoundDicom`)."""
    from pydicom.dataset import Dataset

    x0, y0, x1, y1 = (int(value) for value in corners)
    region = Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0  # 2D tissue
    region.RegionLocationMinX0, region.RegionLocationMinY0 = x0, y0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = x1, y1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX = region.PhysicalDeltaY = spacingMm / 10.0
    referenceRow, referenceColumn = math.floor(apex[0]), math.floor(apex[1])
    region.ReferencePixelX0, region.ReferencePixelY0 = referenceColumn - x0, referenceRow - y0
    region.ReferencePixelPhysicalValueX = (referenceColumn - apex[1]) * region.PhysicalDeltaX
    region.ReferencePixelPhysicalValueY = (referenceRow - apex[0]) * region.PhysicalDeltaY
    return region

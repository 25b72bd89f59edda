"""EchoRecon test files: an ultrasound DICOM cine as scanners write it."""

import numpy as np

from ReconCoreLib.xrayio import saveDicom


def writeUltrasoundDicom(path, frames, spacingMm, apex):
    """A multi-frame 8-bit US DICOM with one 2D ultrasound region (cm) whose reference pixel is the apex."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    frames = np.asarray(frames, np.uint8)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"  # Ultrasound Multi-frame Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID, dataset.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    dataset.Modality = "US"
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.Rows, dataset.Columns = frames.shape[1:]
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 8, 8, 7, 0
    dataset.NumberOfFrames = len(frames)
    region = Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 10, 5
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = frames.shape[2] - 11, frames.shape[1] - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX = region.PhysicalDeltaY = spacingMm / 10.0
    region.ReferencePixelX0, region.ReferencePixelY0 = int(apex[1] - 10), int(apex[0] - 5)
    region.ReferencePixelPhysicalValueX = region.ReferencePixelPhysicalValueY = 0.0
    dataset.SequenceOfUltrasoundRegions = [region]
    dataset.PixelData = frames.tobytes()
    saveDicom(dataset, path)
    return path

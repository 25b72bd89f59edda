"""EchoRecon test files: an ultrasound DICOM cine as scanners write it (the writer is EchoReconDev.usdicom's, the one
the sample cine is written with)."""

from EchoReconDev.usdicom import writeUltrasoundDicom as writeCine


def writeUltrasoundDicom(path, frames, spacingMm, apex):
    """A multi-frame 8-bit US DICOM whose 2D ultrasound region (cm, reference pixel at the apex) leaves 5 rows above
    and 10 columns each side of the frames outside it, where a scanner writes its annotations."""
    rows, columns = frames.shape[-2:]
    return writeCine(path, frames, spacingMm, apex, region=(10, 5, columns - 11, rows - 1))

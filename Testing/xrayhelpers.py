"""X-ray I/O test helpers: a C-arm geometry, a known image pattern, image writing."""

import numpy as np
import pytest
import SimpleITK as sitk

from ReconCoreLib.xraygeometry import CArmGeometry

ROWS, COLUMNS = 64, 80
SID, SOD = 1100.0, 750.0
SPACING = (0.3, 0.25)  # (row, column), DICOM ImagerPixelSpacing order


def carm(primary=30.0, secondary=20.0, rows=ROWS, columns=COLUMNS, sid=SID, sod=SOD, spacing=SPACING):
    return CArmGeometry(primary, secondary, sid, sod, spacing, rows, columns)


def pattern(rows=ROWS, columns=COLUMNS):
    """A known, asymmetric pattern in physical units: ramp down the rows, ramp across the columns, a bright block."""
    row, column = np.mgrid[0:rows, 0:columns].astype(np.float64)
    image = -250.0 + 3.0 * row + 0.5 * column
    image[10:20, 50:70] += 400.0  # top-right block: tells rows from columns and up from down
    return image


def quantizationStep(array):
    return (float(np.max(array)) - float(np.min(array))) / 4095


def geometryMatches(read, written, rel=1e-6):
    assert read.primaryAngleDeg == pytest.approx(written.primaryAngleDeg, rel=rel)
    assert read.secondaryAngleDeg == pytest.approx(written.secondaryAngleDeg, rel=rel)
    assert read.sourceToDetectorMm == pytest.approx(written.sourceToDetectorMm, rel=rel)
    assert read.sourceToPatientMm == pytest.approx(written.sourceToPatientMm, rel=rel)
    assert read.pixelSpacingMm == pytest.approx(written.pixelSpacingMm, rel=rel)
    assert (read.rows, read.columns) == (written.rows, written.columns)


def writeSitk(path, array, isVector=False):
    sitk.WriteImage(sitk.GetImageFromArray(array, isVector=isVector), str(path))
    return path

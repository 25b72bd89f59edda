"""C-arm geometry: bead phantom against hand-computed projections, DICOM sign conventions, paper equivalence."""

import math

import numpy as np
import pytest

from ReconCoreLib.xraygeometry import (
    LPS_TO_RAS,
    CArmGeometry,
    lpsToRas,
    paperProjection,
    rasToLps,
    viewSeparationDeg,
)

SID, SOD = 1000.0, 750.0
ROWS, COLUMNS = 512, 480
SPACING = (0.3, 0.25)  # (row, column) as in DICOM ImagerPixelSpacing


def geometry(primary, secondary, rows=ROWS, columns=COLUMNS, spacing=SPACING):
    return CArmGeometry(primary, secondary, SID, SOD, spacing, rows, columns)


def handProjection(primaryDeg, secondaryDeg, pointLps):
    """Projection computed by hand, step by step, independently of the class.

    Detector direction for LAO a / CRA b: (sin a cos b, -cos a cos b, sin b) (detector towards the
    patient's left for LAO, towards the head for CRA). The image axes turn with the gantry from the AP
    pose (columns to the patient's left, rows to the feet).
    """
    a, b = math.radians(primaryDeg), math.radians(secondaryDeg)
    d = np.array([math.sin(a) * math.cos(b), -math.cos(a) * math.cos(b), math.sin(b)])
    # column axis: patient-left turned by the primary angle about the head-foot axis (unchanged by tilt)
    col = np.array([math.cos(a), math.sin(a), 0.0])
    row = np.cross(col, d)  # rows run towards the feet in AP: col x d = (x) x (-y) = -z
    source = -SOD * d
    ray = np.asarray(pointLps, float) - source
    hit = source + ray * (SID / (ray @ d))  # on the detector plane at distance SID from the source
    center = source + SID * d
    u = (hit - center) @ col / SPACING[1] + (COLUMNS - 1) / 2
    v = (hit - center) @ row / SPACING[0] + (ROWS - 1) / 2
    return np.array([u, v])


BEADS_LPS = np.array([
    [0.0, 0.0, 0.0],
    [40.0, 0.0, 0.0],  # patient's left
    [0.0, 0.0, 40.0],  # head
    [0.0, -40.0, 0.0],  # anterior
    [25.0, -30.0, -35.0],
    [-45.0, 20.0, 15.0],
    [10.0, 50.0, -20.0],
])


@pytest.mark.parametrize("primary, secondary", [(30, 20), (-30, -25), (0, 0), (90, 0), (-90, 0), (45, 25), (-50, 30)])
def test_bead_phantom_matches_hand_projection(primary, secondary):
    g = geometry(primary, secondary)
    projected = g.projectLps(BEADS_LPS)
    expected = np.array([handProjection(primary, secondary, bead) for bead in BEADS_LPS])
    assert np.abs(projected - expected).max() < 0.5
    assert np.abs(projected - expected).max() < 1e-9  # in fact exact


def test_isocenter_projects_to_image_centre_and_magnification():
    g = geometry(30, 20)
    assert np.allclose(g.projectLps([[0, 0, 0]]), [[(COLUMNS - 1) / 2, (ROWS - 1) / 2]])
    # a 10 mm offset along the column axis at the isocenter is magnified by SID/SOD
    pixel = g.projectLps([10.0 * g.columnDirectionLps])[0]
    assert pixel[0] - (COLUMNS - 1) / 2 == pytest.approx(10.0 * SID / SOD / SPACING[1])


def test_ap_view_is_displayed_as_in_the_cath_lab():
    g = geometry(0, 0)
    centre = g.projectLps([[0, 0, 0]])[0]
    right, left, head = g.projectLps([[-50.0, 0, 0], [50.0, 0, 0], [0, 0, 50.0]])
    assert right[0] < centre[0] < left[0]  # patient's right on the image left
    assert head[1] < centre[1]  # head at the top
    assert np.allclose(g.sourcePositionLps, [0, SOD, 0])  # source posterior (under the table)


def test_lao_and_cra_signs_follow_dicom():
    lao = geometry(90, 0)  # LAO 90: detector at the patient's left
    assert np.allclose(lao.detectorDirectionLps, [1, 0, 0])
    rao = geometry(-90, 0)
    assert np.allclose(rao.detectorDirectionLps, [-1, 0, 0])
    cra = geometry(0, 30)  # CRA: detector tilted towards the head
    assert cra.detectorDirectionLps[2] == pytest.approx(math.sin(math.radians(30)))
    assert cra.detectorDirectionLps[1] < 0
    cau = geometry(0, -30)
    assert cau.detectorDirectionLps[2] < 0
    # in LAO 90 the anterior chest is on the image left (viewed from the patient's left)
    centre = lao.projectLps([[0, 0, 0]])[0]
    anterior = lao.projectLps([[0, -50.0, 0]])[0]
    assert anterior[0] < centre[0]


def test_projection_matrix_is_consistent_in_ras_and_lps():
    g = geometry(-30, -25)
    pointsRas = lpsToRas(BEADS_LPS)
    assert np.allclose(g.projectRas(pointsRas), g.projectLps(BEADS_LPS))
    homogeneous = np.c_[pointsRas, np.ones(len(pointsRas))] @ g.projectionMatrixRas().T
    assert np.allclose(homogeneous[:, :2] / homogeneous[:, 2:], g.projectLps(BEADS_LPS))
    assert np.allclose(rasToLps(lpsToRas(BEADS_LPS)), BEADS_LPS)
    assert np.allclose(LPS_TO_RAS @ LPS_TO_RAS, np.eye(4))
    assert np.allclose(lpsToRas([1.0, 2.0, 3.0]), [-1.0, -2.0, 3.0])


def test_detector_pixels_round_trip_and_image_placement():
    g = geometry(45, 25)
    pixels = np.array([[0.0, 0.0], [COLUMNS - 1.0, 0.0], [13.5, 400.25]])
    onDetector = g.pixelToDetectorLps(pixels)
    assert np.allclose(g.projectLps(onDetector), pixels)
    ijkToLps = g.imageIjkToLps()
    assert np.allclose((ijkToLps @ [13.5, 400.25, 0, 1])[:3], onDetector[2])
    assert np.linalg.det(ijkToLps[:3, :3] / np.array([SPACING[1], SPACING[0], 1.0])) == pytest.approx(1.0)
    assert np.allclose(g.imageIjkToRas(), LPS_TO_RAS @ ijkToLps)
    # the detector plane lies SID - SOD from the isocenter, facing it
    assert np.allclose(g.detectorCenterLps, (SID - SOD) * g.detectorDirectionLps)


@pytest.mark.parametrize("primary, secondary", [(30, 20), (-30, -25), (0, 0), (90, 0), (45, 25), (-50, 30)])
def test_paper_equations_give_the_same_pixels(primary, secondary):
    """Eq. 1-8 of the angiography paper, with the parameter mapping documented in paperProjection."""
    g = geometry(primary, secondary)
    pointsPaper = BEADS_LPS[:, [0, 2, 1]]  # paper world (x left, y head, z towards the AP source)
    paper = paperProjection(pointsPaper, thetaDeg=secondary, phiDeg=-primary, distanceL=SOD, focal=SID,
                            sensorSize=(COLUMNS * SPACING[1], ROWS * SPACING[0]), imageSize=(COLUMNS, ROWS))
    assert np.abs((paper - 0.5) - g.projectLps(BEADS_LPS)).max() < 1e-6


def test_view_separation():
    assert viewSeparationDeg(geometry(30, 0), geometry(-30, 0)) == pytest.approx(60.0)
    assert viewSeparationDeg(geometry(0, 0), geometry(0, 25)) == pytest.approx(25.0)
    assert viewSeparationDeg(geometry(90, 0), geometry(0, 0)) == pytest.approx(90.0)


def test_attributes_round_trip_and_resampling():
    g = geometry(-30, -25)
    assert CArmGeometry.fromAttributes(g.toAttributes()) == g
    small = g.withImageSize(128, 120)
    assert small.pixelSpacingMm == pytest.approx((SPACING[0] * ROWS / 128, SPACING[1] * COLUMNS / 120))
    # the same physical point lands on the same relative image position
    full = (g.projectLps(BEADS_LPS) + 0.5) / [COLUMNS, ROWS]
    reduced = (small.projectLps(BEADS_LPS) + 0.5) / [120, 128]
    assert np.allclose(full, reduced)


@pytest.mark.parametrize("change, attribute", [
    ({"PositionerPrimaryAngle": 400}, "PositionerPrimaryAngle"),
    ({"PositionerSecondaryAngle": -95}, "PositionerSecondaryAngle"),
    ({"DistanceSourceToDetector": 50}, "DistanceSourceToDetector"),
    ({"DistanceSourceToPatient": float("nan")}, "DistanceSourceToPatient"),
    ({"DistanceSourceToPatient": 1200}, "DistanceSourceToPatient"),
    ({"ImagerPixelSpacing": [0.3]}, "ImagerPixelSpacing"),
    ({"ImagerPixelSpacing": [0.0, 0.3]}, "ImagerPixelSpacing"),
    ({"Rows": 0}, "Rows"),
    ({"Columns": 12.5}, "Columns"),
    ({"PositionerPrimaryAngle": "LAO"}, "PositionerPrimaryAngle"),
])
def test_absurd_attributes_are_named(change, attribute):
    attributes = {**geometry(30, 20).toAttributes(), **change}
    with pytest.raises(ValueError, match=attribute):
        CArmGeometry.fromAttributes(attributes, source="view1.dcm")


def test_missing_attributes_are_named():
    attributes = geometry(30, 20).toAttributes()
    del attributes["DistanceSourceToPatient"], attributes["ImagerPixelSpacing"]
    with pytest.raises(ValueError, match="DistanceSourceToPatient, ImagerPixelSpacing in view1.dcm"):
        CArmGeometry.fromAttributes(attributes, source="view1.dcm")

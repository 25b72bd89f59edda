"""EchoRecon places each view on the heart before the network's second pass (EchoReconLib.placement).

Where the heart's centre is measured, how a sector's angle is read, how a view is moved and cut to a sector, that a
moved view maps back to the right image pixels, which views a run moves, and (with the bundled model) that a
study imaged 25 mm deeper than usual is moved back and measured as the same study was.
"""

import numpy as np
import pytest

from EchoReconLib import pipeline, placement
from EchoReconLib.conventions import IMAGE_SIZE, VIEWS
from EchoReconLib.echoio import EchoImage
from EchoReconLib.inputs import networkInput, trainingPixelMm
from EchoReconLib.viewplanes import imageMapping
from ReconCoreLib.readouts import Readouts

CENTRE_COLUMN = (IMAGE_SIZE - 1) / 2.0


def disc(rowPx: float, columnPx: float, radiusPx: float, value=1) -> np.ndarray:
    rows, columns = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    return np.where(np.hypot(rows - rowPx, columns - columnPx) <= radiusPx, value, 0).astype(np.uint8)


def sectorImage(halfAngleDeg: float, seed: int = 0) -> np.ndarray:
    """Speckle-like values in (0.05, 1] inside a sector, zero outside."""
    values = np.random.default_rng(seed).uniform(0.05, 1.0, (IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32)
    return values * placement.sectorMask(halfAngleDeg)


def test_the_heart_centre_is_the_centroid_of_the_segmented_heart_in_mm_from_the_apex():
    labels = disc(60, CENTRE_COLUMN + 10, 20, 3)
    depth, lateral = placement.heartCentreMm(labels, "A4C")
    assert depth == pytest.approx(60 * trainingPixelMm("A4C"), abs=1e-6)
    assert lateral == pytest.approx(10 * trainingPixelMm("A4C"), abs=1e-6)
    assert placement.heartCentreMm(disc(60, 60, 3), "A4C") is None  # 29 pixels: too little heart to measure


@pytest.mark.parametrize("halfAngle", [30.0, 37.0, 45.0, 50.0])
def test_the_sector_angle_is_read_from_the_image_and_burned_in_text_beside_it_does_not_count(halfAngle):
    image = sectorImage(halfAngle)
    image[2:14, 2:30] = 1.0  # vendor text in the top left corner, beyond a gap
    image[2:14, 98:126] = 1.0
    assert placement.sectorHalfAngleDeg(image) == pytest.approx(halfAngle, abs=1.0)


def test_a_moved_view_shows_what_lay_shift_millimetres_deeper_and_further_right_cut_to_a_trained_sector():
    view = "SAXM"
    pixelMm = trainingPixelMm(view)
    image = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    image[:] = sectorImage(50.0) > 0  # a 100 deg sector, wider than any trained
    image += 0.5 * disc(80, CENTRE_COLUMN - 12, 8)  # a bright blob 80 rows down, 12 columns left
    image = np.clip(image, 0, 1)
    shift = (22.0, -6.0)  # 22 mm deeper and 6 mm left of where training put the heart
    moved = placement.shiftedImage(image, view, shift, halfAngleDeg=50.0)
    blob = moved >= 0.99
    rows, columns = np.nonzero(blob & (disc(80 - 22 / pixelMm, CENTRE_COLUMN - 12 + 6 / pixelMm, 12) > 0))
    assert rows.mean() == pytest.approx(80 - 22 / pixelMm, abs=0.3)
    assert columns.mean() == pytest.approx(CENTRE_COLUMN - 12 + 6 / pixelMm, abs=0.3)
    outside = placement.sectorMask(placement.MAX_HALF_ANGLE_DEG) == 0
    assert np.all(moved[outside] == 0)  # cut to a 90 deg sector, apex at row 0
    rows, columns = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    sourceRow, sourceLateral = rows + 22 / pixelMm, columns - CENTRE_COLUMN - 6 / pixelMm  # where each pixel came from
    sourceRadius, sourceAngle = np.hypot(sourceRow, sourceLateral), np.degrees(np.arctan2(sourceLateral, sourceRow))
    inside = ((sourceRadius < IMAGE_SIZE - 3) & (np.abs(sourceAngle) < 48.0)  # within the original 100 deg sector
              & (np.abs(sourceLateral) < CENTRE_COLUMN - 1))  # and the original grid
    beyond = (sourceRadius > IMAGE_SIZE + 1) | (np.abs(sourceAngle) > 52.0)
    assert moved[inside & ~outside].min() > 0.99 and np.all(moved[beyond] == 0)
    labels = placement.shiftedImage(disc(80, 60, 8, 4), view, shift, 50.0, order=0)
    assert labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 4}  # label images stay labels


def test_a_moved_view_maps_back_to_the_image_pixels_it_was_read_from():
    """Image -> network grid -> moved grid and back through imageMapping with the shift: the same pixel."""
    view = "A4C"
    spacing = 0.3
    rows, columns = 700, 640
    apex = (12.0, 330.0)
    pixels = np.zeros((rows, columns), np.float32)
    target = (apex[0] + 120.0 / spacing, apex[1] - 25.0 / spacing)  # 120 mm deep, 25 mm left of the apex
    rr, cc = np.mgrid[0:rows, 0:columns]
    pixels[np.hypot(rr - target[0], cc - target[1]) <= 4.0 / spacing] = 1.0
    image = EchoImage(pixels, (spacing, spacing), viewLabel=view, apexPixel=apex)
    shift = (18.0, -7.0)
    moved = placement.shiftedImage(networkInput(image, view), view, shift, 45.0)
    pixelMm = trainingPixelMm(view)
    found = np.argwhere(moved > 0.5).mean(axis=0)  # (row, column) on the moved grid
    depthMm, lateralMm = found[0] * pixelMm, (found[1] - CENTRE_COLUMN) * pixelMm
    assert depthMm == pytest.approx(120.0 - 18.0, abs=0.5) and lateralMm == pytest.approx(-25.0 + 7.0, abs=0.5)
    virtualApex, pixelSpacing = imageMapping(image, view, shift)
    back = virtualApex + np.array([depthMm, lateralMm]) / pixelSpacing
    assert back == pytest.approx(np.array(target), abs=0.5 / spacing)
    apex0, _ = imageMapping(image, view)
    assert apex0 == pytest.approx(np.array(apex))  # not moved: the real apex


def test_only_views_whose_heart_lies_beyond_the_tolerance_are_moved():
    segmentation = np.zeros((len(VIEWS), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    inputs = np.stack([sectorImage(40.0, seed) for seed in range(len(VIEWS))])
    placed = {"A4C": (20.0, 0.0), "A2C": (4.0, -5.0), "SAXM": (-3.0, 12.0)}
    for view, (depth, lateral) in placed.items():
        centre = np.asarray(placement.HEART_CENTRE_MM[view]) + (depth, lateral)
        pixelMm = trainingPixelMm(view)
        segmentation[VIEWS.index(view)] = disc(centre[0] / pixelMm, CENTRE_COLUMN + centre[1] / pixelMm, 18, 1)
    result = placement.Placement.measure(segmentation, inputs, ("A4C", "A2C", "SAXM"))
    assert set(result.offsets) == {"A4C", "A2C", "SAXM"}
    for view, offset in placed.items():
        assert result.offsets[view] == pytest.approx(offset, abs=0.2)
    assert set(result.shifts) == {"A4C", "SAXM"}  # 20 and 12.4 mm away; A2C 6.4 mm is left alone
    assert result.halfAngles["A4C"] == pytest.approx(40.0, abs=1.0)
    readouts = Readouts("EchoRecon")
    placement.recordPlacement(readouts, result)
    assert readouts.values["recentred_views"] == "A4C SAXM"
    assert readouts.values["heart_offset_depth_a4c_mm"] == pytest.approx(20.0, abs=0.2)
    assert placement.shiftOf(readouts.values, "A4C") == pytest.approx((20.0, 0.0), abs=0.2)
    assert placement.shiftOf(readouts.values, "A2C") == (0.0, 0.0)
    moved = result.apply(np.stack([segmentation, segmentation]), order=0)
    assert np.array_equal(moved[:, VIEWS.index("A2C")], segmentation[None, VIEWS.index("A2C")].repeat(2, 0))
    again = placement.Placement.measure(moved[0], inputs, ("A4C", "A2C", "SAXM"))
    assert not again.shifts and again.offsets["A4C"] == pytest.approx((0.0, 0.0), abs=0.3)


@pytest.fixture(scope="module")
def deeperStudy():
    """The bundled normal study, and the same views imaged 25 mm deeper (the apex row moved up: the heart lies
    25 mm further from it), as a patient with a thicker chest wall would be."""
    from test_echorecon import NORMAL

    phases = {phase: pipeline.readPhase(paths) for phase, paths in NORMAL.items()}
    deeper = {}
    for phase, images in phases.items():
        deeper[phase] = {}
        for view, image in images.items():
            apexRow = image.apexPixel[0] if image.apexPixel is not None else 0.0
            apexColumn = image.apexPixel[1] if image.apexPixel is not None else (image.pixels.shape[1] - 1) / 2
            deeper[phase][view] = EchoImage(image.pixels, image.pixelSpacingMm, viewLabel=image.viewLabel,
                                            apexPixel=(apexRow - 25.0 / image.pixelSpacingMm[0], apexColumn))
    return phases, deeper


@pytest.mark.torch
def test_a_study_imaged_deeper_is_moved_back_onto_the_heart_and_measured_as_before(deeperStudy):
    pytest.importorskip("torch")
    phases, deeper = deeperStudy
    usual = pipeline.reconstruct(phases["ED"], phases["ES"], "cpu")
    moved = pipeline.reconstruct(deeper["ED"], deeper["ES"], "cpu")
    assert usual.readouts.values["recentred_views"] == "A2C"  # its heart lies 13 mm shallower than training's
    assert moved.readouts.values["recentred_views"] == " ".join(VIEWS)
    for view in VIEWS:
        offset = (moved.readouts.values[f"heart_offset_depth_{view.lower()}_mm"]
                  - usual.readouts.values[f"heart_offset_depth_{view.lower()}_mm"])
        # the apical views' atria reach beyond the 180 mm field once 25 mm deeper: their centre then reads 1-3 mm short
        assert offset == pytest.approx(25.0, abs=1.0 if view.startswith("SAX") else 3.5)
    for key in ("lv_edv_ml", "lv_esv_ml"):
        assert moved.readouts.values[key] == pytest.approx(usual.readouts.values[key], rel=0.08)
    assert moved.readouts.values["lv_ef_percent"] == pytest.approx(usual.readouts.values["lv_ef_percent"], abs=3.0)

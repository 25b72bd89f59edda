"""AngioRecon's lumen widths on raw angiograms, corrected for the image's blur (:mod:`AngioReconLib.lumenblur`).

Dark contrast-filled cylinders of known widths (6-20 px) are drawn as their chord profiles, blurred by a known
Gaussian, with a background ramp and noise; the profiles across them are measured as the run measures them
(:func:`AngioReconLib.skeleton2d.measureProfiles`). The blur is found from the profiles themselves, and the corrected
widths come back within 0.2 px, where the steepest-slope widths are off by one to two pixels.
"""

import numpy as np
import pytest
from scipy import ndimage

from AngioReconLib import lumenblur, skeleton2d

WIDTHS_PX = (6.0, 9.0, 12.0, 16.0, 20.0)


def cylinders(blurPx: float, seed: int = 0):
    """An image of vertical dark cylinders (widths :data:`WIDTHS_PX`, 40 px apart), the blur ``blurPx``, and the
    profiles' sample points per vessel."""
    columns = np.arange(260, dtype=float)[None, :].repeat(120, 0)
    tau = 0.002 * columns
    centres = 30.3 + 50.0 * np.arange(len(WIDTHS_PX))
    for centre, width in zip(centres, WIDTHS_PX):
        tau += 0.04 * 2 * np.sqrt(np.clip((width / 2) ** 2 - (columns - centre) ** 2, 0, None))
    image = ndimage.gaussian_filter(1.0 - tau, blurPx) + np.random.default_rng(seed).normal(0, 0.004, tau.shape)
    points = [np.stack([np.full(80, centre), np.linspace(20, 100, 80)], 1) for centre in centres]
    return image.astype(np.float32), points


def measured(image, points, spacingMm=0.25):
    steepest, halfMax = [], []
    for path in points:
        normals = skeleton2d.pathNormals(path, spacingMm)
        _, width, half = skeleton2d.measureProfiles(image, path, normals, spacingMm, False, halfMax=True)
        steepest.append(width)
        halfMax.append(half)
    return steepest, halfMax


def test_the_table_inverts_exactly():
    t, steepest, halfMax = lumenblur._table()
    assert steepest[0] == pytest.approx(2.0, abs=0.03)  # a line under the blur: the slope's extremes at +-sigma
    assert halfMax[0] == pytest.approx(2.355, abs=0.05)  # its FWHM
    assert np.all(np.diff(steepest) >= 0)
    sigma = 1.3
    for width in (4.0, 7.0, 15.0, 40.0):  # resolved lumens (W / sigma >= MIN_RESOLVED_RATIO): the table inverted
        found = lumenblur.correctedWidths(np.array([sigma * np.interp(width, t, steepest)]), sigma)[0]
        assert found == pytest.approx(sigma * width, rel=0.01)


def test_unresolved_lumens_are_scaled_not_inverted():
    """Below MIN_RESOLVED_RATIO the measured width is scaled by the factor there: continuous, and noise of 0.1 sigma
    in W_s moves the width by 0.12 sigma, where inverting the table (its flat start) would move it by 0.5 sigma."""
    sigma, floor = 1.0, lumenblur.MIN_RESOLVED_RATIO
    t, steepest, _ = lumenblur._table()
    edge = np.interp(floor, t, steepest)
    below, at = lumenblur.correctedWidths(np.array([edge - 1e-6, edge]), sigma)
    assert below == pytest.approx(at, abs=1e-4) and at == pytest.approx(floor, rel=0.01)
    narrow = lumenblur.correctedWidths(np.array([2.1, 2.2]), sigma)
    assert np.diff(narrow)[0] == pytest.approx(0.1 * floor / edge, rel=1e-6)
    assert np.diff(np.interp([2.1, 2.2], steepest, t))[0] > 0.4  # inverting there: 0.5 sigma


@pytest.mark.parametrize("blurPx", [0.6, 1.4])
def test_the_blur_is_found_and_the_widths_corrected(blurPx):
    image, points = cylinders(blurPx)
    steepest, halfMax = measured(image, points)
    sigma = lumenblur.estimateBlurPx(np.concatenate(steepest), np.concatenate(halfMax))
    total = np.sqrt(blurPx ** 2 + skeleton2d.PROFILE_SMOOTHING_PX ** 2)  # the image's blur and the profile's
    assert total - 0.1 < sigma < total + 0.15  # measured +0.04 / +0.05: the samples' linear interpolation adds a little
    for width, raw in zip(WIDTHS_PX, steepest):
        corrected = lumenblur.correctedWidths(raw, sigma)
        assert abs(np.median(corrected) - width) < 0.2, (width, np.median(raw), np.median(corrected))  # measured <= 0.11
    wide = np.median(steepest[-1])
    assert wide < WIDTHS_PX[-1] - 1.0  # what the correction removes: the wide lumen's edges found inside it


def test_more_blur_is_found_as_more_blur():
    first = lumenblur.estimateBlurPx(*map(np.concatenate, measured(*cylinders(0.6))))
    second = lumenblur.estimateBlurPx(*map(np.concatenate, measured(*cylinders(1.8, seed=1))))
    assert second > first + 0.8


def test_too_few_profiles_leave_the_widths_as_measured():
    widths = np.array([8.0, 9.0, np.nan])
    assert np.isnan(lumenblur.estimateBlurPx(widths, widths * 0.95))
    assert np.array_equal(lumenblur.correctedWidths(widths, float("nan")), widths, equal_nan=True)
    assert np.isnan(lumenblur.correctedWidths(widths, 1.0)[2])


@pytest.mark.torch  # the pipeline module imports the projector
def test_the_run_reports_each_raw_views_blur_and_warns_where_none_was_found():
    from AngioReconLib.skeleton2d import ViewCenterlines
    from AngioReconLib.pipeline import recordEdgeBlur
    from ReconCoreLib.readouts import Readouts
    from ReconCoreLib.xraygeometry import CArmGeometry

    geometry = CArmGeometry(0.0, 0.0, 1000.0, 750.0, (0.3, 0.3), 512, 512)
    found = ViewCenterlines([], [], geometry, 0.225, blurPx=1.2)
    missing = ViewCenterlines([], [], geometry, 0.225)
    readouts = Readouts("AngioRecon")
    recordEdgeBlur(readouts, [found, missing], [False, False])
    assert readouts.values["edge_blur_view1_mm"] == pytest.approx(0.27)
    assert "edge_blur_view2_mm" not in readouts.values
    assert len(readouts.warnings) == 1 and readouts.warnings[0].startswith("view 2: the blur")
    given = Readouts("AngioRecon")
    recordEdgeBlur(given, [missing, missing], [True, True])  # vessel masks: nothing to correct, nothing to say
    assert given.values == {} and given.warnings == []
    widths = np.array([1.0, 2.0])
    assert np.array_equal(missing.lumenWidths(widths), widths)  # no blur found: the widths as measured
    assert np.all(found.lumenWidths(np.array([2.0])) > 2.0)  # a 2 mm lumen's steepest slope lies inside its edges

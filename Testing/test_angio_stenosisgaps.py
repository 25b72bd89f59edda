"""AngioRecon's stenosis gaps (:mod:`AngioReconLib.stenosisgaps`): where a vessel's 3D centerline stops on both sides
of a severe stenosis, the two ends are joined by a straight piece whose lumen is measured across it in both views.

A curved vessel of 1.3 mm radius with a 75 % narrowing, rendered as masks and as angiograms in two views; its
centerline is given in two pieces with a 13 mm gap at the lesion. The gap piece lies on the vessel, and its narrowest
radius is the lesion's, from each view; on angiograms only where the vessel's contrast falls, so a healthy vessel
across the same gap gets no width at all, nor does the stenosed one under noise that drowns its contrast (the noise
measure itself follows the pixel noise, not the vessels or the shading). No join to the end of a vessel that leaves
at an angle, to one a third as wide, across a gap that a kept piece already fills, or across 30 mm.
"""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from AngioReconDev.coronaryanatomy import CoronaryCase, Vessel
from AngioReconDev.coronaryimages import renderVesselMap
from AngioReconLib import skeleton2d, stenosisgaps
from AngioReconLib.matching import JOIN_DISTANCE_MM
from ReconCoreLib.xraygeometry import CArmGeometry

VIEWS = (CArmGeometry(-30.0, -25.0, 1000.0, 750.0, (0.3, 0.3), 512, 512),
         CArmGeometry(45.0, 20.0, 1100.0, 780.0, (0.32, 0.32), 512, 512))


def stenosedVessel():
    """A curved vessel (LPS mm, 0.3 mm steps) of radius 1.3 mm narrowed by 75 % over 8 mm about its middle."""
    t = np.linspace(0, 1, 200)[:, None]
    points = np.concatenate([-30 + 60 * t, 10 * np.sin(3 * t), 5 + 15 * t], 1)
    arc = np.r_[0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]
    distance = np.abs(arc - arc[100])
    radii = 1.3 * (1 - 0.75 * np.where(distance < 4, 0.5 * (1 + np.cos(np.pi * distance / 4)), 0))
    return points, radii


def maskViews(points, radii):
    case = CoronaryCase("left", 0, [Vessel("one", points, radii)])
    images = [(renderVesselMap(case, geometry) >= 0.5).astype(np.float32) for geometry in VIEWS]
    views = [skeleton2d.ViewCenterlines([], [], geometry, geometry.pixelSpacingMm[0] / geometry.magnification)
             for geometry in VIEWS]
    return views, images


def test_a_gap_at_a_severe_stenosis_is_joined_and_its_lumen_measured():
    points, radii = stenosedVessel()
    views, images = maskViews(points, radii)
    half = np.repeat(radii[:, None], 2, 1)
    kept = [(points[:80], half[:80]), (points[120:], half[120:])]  # the matches stop 6 mm each side of the lesion
    gaps = stenosisgaps.stenosisGapPieces(kept, views, images, [True, True], JOIN_DISTANCE_MM)
    assert len(gaps) == 1
    gapPoints, gapHalf = gaps[0]
    distance, nearest = cKDTree(points).query(gapPoints)
    assert distance.max() < 0.5 and nearest.min() >= 79 and nearest.max() <= 121  # on the vessel, in the gap
    narrowest = np.argmin(np.nanmean(gapHalf, 1))
    assert abs(nearest[narrowest] - 100) <= 3  # at the lesion
    assert np.allclose(gapHalf[narrowest], radii[100], atol=0.15)  # 0.33 mm from each view (pixels 0.3 mm)
    healthy = np.abs(nearest - 100) > 20
    assert np.allclose(gapHalf[healthy], 1.3, atol=0.15)


@pytest.mark.parametrize("case", ["angled", "thin", "filled", "far"])
def test_no_join_to_another_vessel_or_across_a_filled_gap(case):
    points, radii = stenosedVessel()
    half = np.repeat(radii[:, None], 2, 1)
    first = (points[:80], half[:80])
    second = (points[120:], half[120:])
    if case == "angled":  # the second piece turned 60 deg about the first one's end
        angle = np.radians(60)
        turn = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        second = ((points[120:] - points[79]) @ turn.T + points[79], half[120:])
    elif case == "thin":
        second = (points[120:], half[120:] / 3)
    elif case == "far":  # a 30 mm gap
        second = (points[170:], half[170:])
    pieces = [first, second] + ([(points[75:125], half[75:125])] if case == "filled" else [])
    assert stenosisgaps.gapCandidates(pieces, JOIN_DISTANCE_MM) == []


@pytest.mark.parametrize("stenosed", [True, False])
def test_on_angiograms_a_width_counts_only_where_the_contrast_falls(stenosed):
    from AngioReconDev.coronaryimages import renderAngiogram

    points, radii = stenosedVessel()
    radii = radii if stenosed else np.full(len(points), 1.3)
    case = CoronaryCase("left", 0, [Vessel("one", points, radii)])
    images = [renderAngiogram(case, geometry, np.random.default_rng(3)) for geometry in VIEWS]
    views = maskViews(points, radii)[0]
    half = np.repeat(radii[:, None], 2, 1)
    kept = [(points[:80], half[:80]), (points[120:], half[120:])]
    (gapPoints, gapHalf), = stenosisgaps.stenosisGapPieces(kept, views, images, [False, False], JOIN_DISTANCE_MM)
    if stenosed:  # measured where the lesion thins the vessel's contrast enough (view 1): 0.25 mm (truth 0.33)
        nearest = cKDTree(points).query(gapPoints)[1]
        measured = np.isfinite(gapHalf).any(1)
        assert measured.sum() >= 3 and np.all(np.abs(nearest[measured] - 100) <= 8)
        assert abs(np.nanmin(gapHalf) - radii[100]) < 0.1
    else:  # a healthy vessel that faded out of the map: its widths in noise do not count
        assert np.isnan(gapHalf).all()


def test_pixel_noise_is_the_noise_not_the_anatomy():
    rng = np.random.default_rng(0)
    rows, columns = np.mgrid[0:300, 0:300]
    shading = 0.3 + rows / 600 + columns / 1200  # smooth background
    vessel = 0.4 * np.exp(-((columns - 0.3 * rows - 100) / 6.0) ** 2)  # a dark vessel 10 px wide across the window
    image = shading - vessel + rng.normal(0, 0.05, shading.shape)
    assert abs(stenosisgaps.pixelNoise(image, np.array([150, 150]), 0.3) - 0.05) < 0.004
    assert stenosisgaps.pixelNoise(shading - vessel, np.array([150, 150]), 0.3) < 0.005
    assert np.isnan(stenosisgaps.pixelNoise(image, np.array([-100, 150]), 0.3))  # the window lies off the image


def test_on_a_noisy_angiogram_a_faint_vessel_gets_no_gap_width(monkeypatch):
    from AngioReconDev.coronaryimages import renderAngiogram

    points, radii = stenosedVessel()
    case = CoronaryCase("left", 0, [Vessel("one", points, radii)])
    rng = np.random.default_rng(3)
    # The vessel's contrast 0.42-0.61 against a pixel noise of about 0.17: under GAP_MIN_CONTRAST_NOISE x the noise.
    images = [renderAngiogram(case, geometry, rng) + rng.normal(0, 0.15, (512, 512)).astype(np.float32)
              for geometry in VIEWS]
    views = maskViews(points, radii)[0]
    half = np.repeat(radii[:, None], 2, 1)
    kept = [(points[:80], half[:80]), (points[120:], half[120:])]

    def gapHalf():
        (_, measured), = stenosisgaps.stenosisGapPieces(kept, views, images, [False, False], JOIN_DISTANCE_MM)
        return measured

    assert np.isnan(gapHalf()).all()
    monkeypatch.setattr(stenosisgaps, "GAP_MIN_CONTRAST_NOISE", 0.0)  # without the rule, the noise makes widths
    assert np.isfinite(gapHalf()).any()

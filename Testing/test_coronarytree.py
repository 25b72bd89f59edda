"""Synthetic coronary trees: determinism, anatomy, Murray's law, voxel and projection exactness, views."""

import functools
import math

import numpy as np
import pytest

from AngioReconDev import coronaryanatomy as anatomy
from AngioReconDev import coronaryimages as images
from AngioReconDev import coronarytree as ct
from AngioReconDev.coronaryanatomy import CoronaryCase, Vessel
from ReconCoreLib.xraygeometry import CArmGeometry, viewSeparationDeg

SEEDS = range(6)


@functools.lru_cache(maxsize=None)
def case(seed, tree):
    return ct.generateCase(seed, tree)


def family(name):
    return name.rstrip("0123456789")


def arc(points):
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def straightVessel(radius=2.0, length=60.0, direction=(1.0, 0.0, 0.0), centre=(0.0, 0.0, 0.0)):
    direction = np.asarray(direction, float) / np.linalg.norm(direction)
    s = np.linspace(-length / 2, length / 2, int(length / 0.4) + 1)
    points = np.asarray(centre, float) + s[:, None] * direction
    return CoronaryCase("left", -1, [Vessel("LM", points, np.full(len(points), radius), None)])


# --------------------------------------------------------------------------------------------------
# Determinism
def test_same_seed_gives_identical_arrays_and_different_seeds_differ():
    first, again = ct.generateCase(3, "left"), ct.generateCase(3, "left")
    assert [v.name for v in first.vessels] == [v.name for v in again.vessels]
    for a, b in zip(first.vessels, again.vessels):
        np.testing.assert_array_equal(a.pointsLps, b.pointsLps)
        np.testing.assert_array_equal(a.radiiMm, b.radiiMm)
    volume, _ = images.voxelize(first)
    np.testing.assert_array_equal(volume, images.voxelize(again)[0])
    assert not np.array_equal(volume, images.voxelize(ct.generateCase(4, "left"))[0])
    assert not np.array_equal(images.voxelize(ct.generateCase(3, "right"))[0], volume)
    with pytest.raises(ValueError, match="tree"):
        ct.generateCase(0, "both")


# --------------------------------------------------------------------------------------------------
# Anatomy
@pytest.mark.parametrize("seed", SEEDS)
def test_left_tree_has_named_vessels_with_anatomical_parents(seed):
    vessels = {v.name: v for v in case(seed, "left").vessels}
    assert {"LM", "LAD", "LCx"} <= set(vessels)
    assert vessels["LM"].parent is None and vessels["LAD"].parent == "LM" and vessels["LCx"].parent == "LM"
    counts = {prefix: sum(family(name) == prefix for name in vessels) for prefix in ("D", "S", "OM")}
    assert 2 <= counts["D"] <= 4 and 1 <= counts["OM"] <= 3 and 3 <= counts["S"] <= 6
    for name, vessel in vessels.items():
        expected = {"D": "LAD", "S": "LAD", "OM": "LCx"}.get(family(name))
        if expected:
            assert vessel.parent == expected
    length = arc(vessels["LM"].pointsLps)[-1]
    assert 5.0 - 1e-6 <= length <= 15.0 + 1e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_right_tree_has_rca_pda_and_branches(seed):
    vessels = {v.name: v for v in case(seed, "right").vessels}
    assert {"RCA", "PDA", "PLB"} <= set(vessels)
    assert vessels["RCA"].parent is None and vessels["PDA"].parent == "RCA" and vessels["PLB"].parent == "RCA"
    assert any(family(name) == "AM" and v.parent == "RCA" for name, v in vessels.items())
    assert any(family(name) == "PL" and v.parent == "PLB" for name, v in vessels.items())
    # PDA and PLB leave the RCA at its end (the crux)
    np.testing.assert_allclose(vessels["PDA"].pointsLps[0], vessels["RCA"].pointsLps[-1])


@pytest.mark.parametrize("seed", range(10))
def test_left_main_diameter_and_distal_radii(seed):
    left = case(seed, "left")
    diameters = 2 * left.vessel("LM").radiiMm
    assert diameters.min() >= 3.5 and diameters.max() <= 5.0
    for tree in ("left", "right"):
        current = case(seed, tree)
        parents = {v.parent for v in current.vessels}
        leaves = [v for v in current.vessels if v.name not in parents]
        distal = np.array([v.radiiMm[-1] for v in leaves])
        assert distal.min() >= 0.35 and distal.max() <= 0.56  # ~1 mm diameter distally
        # (branches starting at <= 0.65 mm, i.e. small septals, end at 0.85 x their start radius)
        distalOfLarger = np.array([v.radiiMm[-1] for v in leaves if v.radiiMm[0] > 0.65])
        assert np.all((distalOfLarger >= 0.45 - 1e-9) & (distalOfLarger <= 0.55 + 1e-9))
        stenosed = {s["vessel"] for s in current.stenoses}
        for vessel in current.vessels:  # tapering: never widens along a vessel (except out of a stenosis)
            if vessel.name not in stenosed:
                assert np.all(np.diff(vessel.radiiMm) <= 1e-12), vessel.name
                assert vessel.radiiMm[0] > vessel.radiiMm[-1]


@pytest.mark.parametrize("tree", ["left", "right"])
def test_murray_law_holds_at_every_bifurcation(tree):
    checked = 0
    for seed in SEEDS:
        current = case(seed, tree)
        groups = {}
        for child in current.vessels:
            if child.parent is None:
                continue
            parent = current.vessel(child.parent)
            distance = np.linalg.norm(parent.pointsLps - child.pointsLps[0], axis=1)
            index = int(np.argmin(distance))
            assert distance[index] < 1e-9  # a branch starts on a parent's centerline point
            groups.setdefault((parent.name, index), []).append(child.radiiMm[0])
        for (parentName, index), childRadii in groups.items():
            radii = current.vessel(parentName).radiiMm
            after = radii[index + 1] if index + 1 < len(radii) else 0.0
            assert radii[index] ** 3 == pytest.approx(after ** 3 + np.sum(np.power(childRadii, 3)), rel=0.05)
            checked += 1
    assert checked >= 4 * len(SEEDS)


@pytest.mark.parametrize("tree", ["left", "right"])
def test_trees_fit_the_cube_and_are_densely_sampled(tree):
    for seed in range(12):
        current = case(seed, tree)
        points = current.allPointsLps()
        assert np.abs(points).max() <= 60.0
        centre = (points.min(axis=0) + points.max(axis=0)) / 2
        assert np.abs(centre).max() <= anatomy.CENTRE_JITTER_MM + 1e-9  # roughly centred on the isocenter
        for vessel in current.vessels:
            steps = np.linalg.norm(np.diff(vessel.pointsLps, axis=0), axis=1)
            assert steps.max() <= 0.5 and len(vessel.pointsLps) == len(vessel.radiiMm) >= 2


@pytest.mark.parametrize("tree", ["left", "right"])
def test_vessels_lie_on_the_epicardium_and_septals_inside(tree):
    for seed in SEEDS:
        current = case(seed, tree)
        heart = current.heart
        assert 80.0 <= heart["longAxisMm"] <= 110.0
        assert all(70.0 <= d <= 100.0 for d in heart["shortAxisMm"])
        axis = np.asarray(heart["longAxisLps"])
        assert axis[0] > 0 and axis[1] < 0 and axis[2] < 0  # base -> apex: left, anterior, inferior
        azimuth = math.degrees(math.atan2(axis[0], -axis[1]))  # left of the sagittal plane
        tilt = math.degrees(math.asin(-axis[2]))
        assert abs(azimuth - 45.0) <= 15.0 + 1e-6 and abs(tilt - 25.0) <= 15.0 + 1e-6
        for vessel in current.vessels:
            radius = anatomy.normalizedHeartRadius(heart, vessel.pointsLps)
            if family(vessel.name) == "S":
                assert np.all(radius[arc(vessel.pointsLps) > 2.0] < 0.99), vessel.name  # in the septum
            elif vessel.name not in ("LM", "RCA"):  # (LM and proximal RCA run from the aortic root)
                assert np.mean(np.abs(radius - 1.0) < 0.01) > 0.95, vessel.name
    if tree == "left":  # the LAD reaches the apex and wraps around it
        lad = case(0, "left").vessel("LAD").pointsLps
        heart = case(0, "left").heart
        height = (lad - np.asarray(heart["centerLps"])) @ np.asarray(heart["longAxisLps"])
        assert height.max() > 0.97 * heart["longAxisMm"] and height[-1] < height.max() - 1.0


def test_stenoses_are_recorded_and_narrow_the_lumen():
    found = 0
    for seed in range(20):
        for tree in ("left", "right"):
            current = case(seed, tree)
            assert len(current.stenoses) <= 2
            for stenosis in current.stenoses:
                assert 30.0 <= stenosis["percent"] <= 90.0
                radii = current.vessel(stenosis["vessel"]).radiiMm
                s = arc(current.vessel(stenosis["vessel"]).pointsLps)
                index = int(np.argmin(np.abs(s - stenosis["arcMm"])))
                half = stenosis["lengthMm"] / 2
                reference = np.interp(stenosis["arcMm"], [s[index] - half - 0.5, s[index] + half + 0.5],
                                      [np.interp(s[index] - half - 0.5, s, radii),
                                       np.interp(s[index] + half + 0.5, s, radii)])
                assert radii[index] / reference == pytest.approx(1 - stenosis["percent"] / 100, abs=0.03)
                found += 1
    assert found >= 5


# --------------------------------------------------------------------------------------------------
# Voxelization
def test_voxelized_straight_vessel_matches_cylinder_volume():
    radius, length = 2.0, 60.0
    cylinder = straightVessel(radius, length, direction=(1.0, 0.31, 0.17), centre=(0.37, -0.21, 0.13))
    exact = math.pi * radius ** 2 * length
    fine, _ = images.voxelize(cylinder, size=128, sideMm=128.0)  # 1 mm voxels
    assert fine.sum() * 1.0 == pytest.approx(exact, rel=0.05)
    assert (fine >= 0.5).sum() * 1.0 == pytest.approx(exact, rel=0.05)
    coarse, _ = images.voxelize(cylinder)  # 2 mm voxels: the one-voxel ramp adds pi * voxel**2 / 12 per mm
    assert coarse.sum() * 8.0 == pytest.approx(math.pi * (radius ** 2 + 4.0 / 12) * length, rel=0.05)
    assert coarse.dtype == np.float32 and coarse.min() >= 0.0 and coarse.max() <= 1.0


def test_voxelize_frame_is_kji_in_lps():
    target = np.array([20.0, -10.0, 30.0])
    blob = straightVessel(1.0, 2.0, centre=target)
    volume, ijkToLps = images.voxelize(blob, size=64, sideMm=128.0)
    np.testing.assert_allclose(ijkToLps[:3, :3], 2.0 * np.eye(3))
    np.testing.assert_allclose(ijkToLps[:3, 3], [-63.0, -63.0, -63.0])
    k, j, i = np.unravel_index(np.argmax(volume), volume.shape)
    np.testing.assert_allclose((ijkToLps @ [i, j, k, 1.0])[:3], target, atol=1.0)


def test_voxelize_shows_thin_vessels():
    current = case(0, "left")
    volume, _ = images.voxelize(current)  # its time: Testing/benchmarks/benchmark_generators.py
    assert volume.shape == (64, 64, 64)
    points = current.allPointsLps()
    nearest = np.rint((points + 63.0) / 2.0).astype(int)
    assert np.mean(volume[nearest[:, 2], nearest[:, 1], nearest[:, 0]] > 0.0) > 0.95
    # a 1 mm lumen on the 2 mm grid is never lost: every voxel slice it crosses has some occupancy, and its
    # partial volume integrates to pi D**3 / (3 voxel) per mm (D = r + voxel / 2; the ramp is never full)
    radius, length, voxel = 0.5, 40.0, 2.0
    thin, _ = images.voxelize(straightVessel(radius, length, direction=(1.0, 0.23, -0.11), centre=(0.3, 0.7, -0.4)))
    slices = thin.max(axis=(0, 1))  # per i (x) slice
    halfSpanX = length / 2 / np.linalg.norm([1.0, 0.23, -0.11])
    crossed = np.flatnonzero(np.abs(-63.0 + 2.0 * np.arange(64) - 0.3) < halfSpanX - 0.5)
    assert slices[crossed].min() > 0.0
    reach = radius + voxel / 2
    assert thin.sum() * voxel ** 3 == pytest.approx(math.pi * reach ** 3 / (3 * voxel) * length, rel=0.1)


# --------------------------------------------------------------------------------------------------
# Projections
def test_vessel_map_width_matches_magnified_diameter():
    radius, spacing = 2.0, 0.8
    geometry = CArmGeometry(0, 0, 1000, 750, (spacing, spacing), 128, 128)
    vesselMap = images.renderVesselMap(straightVessel(radius, 60.0), geometry)
    assert vesselMap.dtype == np.float32 and vesselMap.shape == (128, 128)
    expected = 2 * radius * geometry.magnification / spacing
    for column in (50, 64, 80):
        profile = vesselMap[:, column]
        assert profile.sum() == pytest.approx(expected, abs=1.0)
        assert (profile >= 0.5).sum() == pytest.approx(expected, abs=1.0)
        assert np.sum(np.arange(128) * profile) / profile.sum() == pytest.approx(63.5, abs=0.1)
    # the vessel (along LPS x) is horizontal: columns run to the patient's left
    halfLength = 30.0 * geometry.magnification / spacing
    assert vesselMap[64, int(63.5 - halfLength) + 2] > 0.9 and vesselMap[64, int(63.5 + halfLength) + 6] == 0.0


def test_vessel_map_is_in_range():
    current = case(1, "left")
    geometry = images.sampleViewPair("left", np.random.default_rng(0))[0]
    vesselMap = images.renderVesselMap(current, geometry)  # its time: Testing/benchmarks/benchmark_generators.py
    assert vesselMap.min() >= 0.0 and vesselMap.max() == 1.0 and 0.02 < np.mean(vesselMap > 0.5) < 0.4
    # every projected centerline point shows: thick ones fully, sub-pixel ones anti-aliased
    # (r_pix + 0.5 - d with d <= 0.71 px to the nearest pixel centre)
    pixels = np.rint(geometry.projectLps(current.allPointsLps())).astype(int)
    values = vesselMap[pixels[:, 1], pixels[:, 0]]
    radii = np.concatenate([v.radiiMm for v in current.vessels])
    assert values.min() > 0.2 and values[radii > 1.5].min() == 1.0  # r_pix > 1.21 px: full at the centre


@pytest.mark.parametrize("tree", ["left", "right"])
def test_angiogram_vessels_are_darker_than_background(tree):
    rng = np.random.default_rng(5)
    for seed in range(3):
        current = case(seed, tree)
        for geometry in images.sampleViewPair(tree, rng):
            image = images.renderAngiogram(current, geometry, rng)
            vesselMap = images.renderVesselMap(current, geometry)
            assert image.dtype == np.float32 and image.shape == (128, 128)
            assert image.min() >= 0.0 and image.max() <= 1.0
            assert image[vesselMap > 0.5].mean() < image[vesselMap < 0.01].mean() - 0.05


def test_the_out_of_distribution_renderer_shows_fainter_vessels():
    current = case(1, "left")
    geometry = images.sampleViewPair("left", np.random.default_rng(2), 256, 256)[0]
    vesselMap = images.renderVesselMap(current, geometry)

    def contrast(style, seed):
        image = images.renderAngiogram(current, geometry, np.random.default_rng(seed), style)
        return image[vesselMap < 0.01].mean() - image[vesselMap > 0.5].mean()

    training = np.mean([contrast(images.TRAINING_STYLE, seed) for seed in range(6)])
    ood = np.mean([contrast(images.OOD_STYLE, seed) for seed in range(6)])
    assert training > 1.5 * ood and ood > 0.02  # fainter, yet still there (the windowed background varies too)
    assert all(low >= high for low, high in zip((images.OOD_STYLE["mu"][1], images.OOD_STYLE["photons"][1]),
                                                (images.TRAINING_STYLE["mu"][0], images.TRAINING_STYLE["photons"][0])))


def test_augmentation_ranges_can_be_widened():
    from AngioReconDev import coronarytree

    base = coronarytree.generateCase(4, "left")
    record = coronarytree.augment(base, np.random.default_rng(0), (20.0, 25.0), (12.0, 15.0)).augmentation[-1]
    assert 20.0 <= record["rotationDeg"] <= 25.0 and 0.12 <= abs(record["scale"] - 1.0) <= 0.15


def test_perturbed_vessel_map_stays_close_and_in_range():
    current = case(2, "left")
    rng = np.random.default_rng(11)
    geometry = images.sampleViewPair("left", rng)[0]
    clean = images.renderVesselMap(current, geometry)
    sums = []
    for _ in range(6):
        noisy = images.perturbVesselMap(clean, current, geometry, rng)
        assert noisy.dtype == np.float32 and noisy.shape == clean.shape
        assert noisy.min() >= 0.0 and noisy.max() <= 1.0
        assert np.corrcoef(noisy.ravel(), clean.ravel())[0, 1] > 0.6
        assert not np.array_equal(noisy, clean)
        sums.append(noisy.sum())
    assert np.std(sums) > 0


# --------------------------------------------------------------------------------------------------
# Augmentation and views
def test_augment_rotates_5_to_15_degrees_and_scales_3_to_10_percent():
    original = case(0, "right")
    points = original.allPointsLps()
    rng = np.random.default_rng(2)
    scales = []
    for _ in range(8):
        augmented = ct.augment(original, rng)
        moved = augmented.allPointsLps()
        # Procrustes about the isocenter: moved = s R points
        u, sigma, vt = np.linalg.svd(points.T @ moved)
        rotation = (u @ np.diag([1, 1, np.linalg.det(u @ vt)]) @ vt).T
        scale = sigma.sum() / np.sum(points ** 2)
        np.testing.assert_allclose(moved, scale * points @ rotation.T, atol=1e-6)
        angle = math.degrees(math.acos(np.clip((np.trace(rotation) - 1) / 2, -1, 1)))
        assert 5.0 - 1e-6 <= angle <= 15.0 + 1e-6
        assert 0.03 - 1e-9 <= abs(scale - 1) <= 0.10 + 1e-9
        np.testing.assert_allclose(np.concatenate([v.radiiMm for v in augmented.vessels]),
                                   scale * np.concatenate([v.radiiMm for v in original.vessels]))
        assert augmented.heart["longAxisMm"] == pytest.approx(scale * original.heart["longAxisMm"])
        scales.append(scale)
    assert min(scales) < 1 < max(scales)
    np.testing.assert_array_equal(original.allPointsLps(), points)  # the input is untouched


@pytest.mark.parametrize("tree", ["left", "right"])
def test_sample_view_pair_draws_separated_standard_views(tree):
    rng = np.random.default_rng(0)
    for _ in range(25):
        first, second = images.sampleViewPair(tree, rng)
        assert viewSeparationDeg(first, second) >= 30.0
        nearest = []
        for view in (first, second):
            assert 900.0 <= view.sourceToDetectorMm <= 1200.0 and 700.0 <= view.sourceToPatientMm <= 800.0
            assert (view.rows, view.columns) == (128, 128)
            assert view.pixelSpacingMm[0] == pytest.approx(1.11 * 128 * view.magnification / 128)
            distances = [max(abs(view.primaryAngleDeg - p), abs(view.secondaryAngleDeg - s))
                         for p, s in images.STANDARD_VIEWS[tree]]
            assert min(distances) <= 8.0
            nearest.append(int(np.argmin(distances)))
            # the 128 mm cube's central slab fills ~90 % of the image
            fieldAtIsocenter = view.rows * view.pixelSpacingMm[0] / view.magnification
            assert 128.0 / fieldAtIsocenter == pytest.approx(0.9, abs=0.01)
        assert nearest[0] != nearest[1]
    wide = images.sampleViewPair("left", np.random.default_rng(1), rows=256, columns=192)[0]
    assert (wide.rows, wide.columns) == (256, 192)
    assert wide.pixelSpacingMm[1] == pytest.approx(1.11 * 128 * wide.magnification / 192)

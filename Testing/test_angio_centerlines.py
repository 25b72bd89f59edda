"""AngioRecon's lumen-scale stage: 2D centerlines and widths per view, 3D centerlines from two views.

- :mod:`AngioReconLib.skeleton2d`: a Y of three vessels gives three paths meeting at one junction, a staircase
  diagonal one path (no false junctions from the thinning's corners), short spurs are dropped; widths of a mask's
  vessel and of a blurred dark cylinder in a noisy image are found to within a fraction of a pixel.
- :mod:`AngioReconLib.matching`: two curved vessels of known radius, seen in two views, come back in 3D within a few
  tenths of a millimetre of their true centerlines with their radii, wider end first; the 3D points project back onto
  the views' vessels (the geometry both ways); the generator's occupancy is sampled where it was put; a gap between
  kept pieces is closed by a dropped stretch of the same vessel once, not by a ghost, a stretch kept already or one
  ending on a vessel a third as wide, with its widths clipped to the gap's ends and dropped where the views differ.
"""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from AngioReconDev.coronaryanatomy import CoronaryCase, Vessel
from AngioReconDev.coronaryimages import renderVesselMap
from AngioReconLib import matching, placement, skeleton2d
from ReconCoreLib.xraygeometry import CArmGeometry


def line(image, start, end, halfWidth):
    """Draw a straight vessel of ``halfWidth`` pixels from ``start`` to ``end`` ((row, column)) into ``image``."""
    rows, columns = np.mgrid[:image.shape[0], :image.shape[1]]
    start, end = np.asarray(start, float), np.asarray(end, float)
    direction = (end - start) / np.linalg.norm(end - start)
    relative = np.stack([rows - start[0], columns - start[1]], -1)
    along = np.clip(relative @ direction, 0, np.linalg.norm(end - start))
    distance = np.linalg.norm(relative - along[..., None] * direction, axis=-1)
    image[distance <= halfWidth] = 1.0


def test_a_y_of_vessels_is_three_paths_at_one_junction():
    image = np.zeros((120, 120), np.float32)
    line(image, (10, 60), (60, 60), 3)
    line(image, (60, 60), (110, 20), 3)
    line(image, (60, 60), (110, 100), 3)
    paths = skeleton2d.centerlinePaths(image, 0.3)
    assert len(paths) == 3
    ends = np.concatenate([[path[0], path[-1]] for path in paths])
    junction = ends[np.argmin(np.linalg.norm(ends - [60, 60], axis=1))]
    assert sum(np.linalg.norm(end - junction) < 1.5 for end in ends) == 3  # all three meet there
    lengths = sorted(np.linalg.norm(np.diff(path, axis=0), axis=1).sum() for path in paths)
    assert lengths[0] == pytest.approx(50 - 3, abs=6)  # the trunk; free ends shortened by the thinning
    assert lengths[1] == pytest.approx(np.hypot(50, 40) - 3, abs=6)
    assert lengths[2] == pytest.approx(np.hypot(50, 40) - 3, abs=6)


def test_a_staircase_diagonal_is_one_path_and_spurs_are_dropped():
    image = np.zeros((100, 100), np.float32)
    line(image, (10, 10), (90, 60), 2.5)
    image[48:52, 36:41] = 1.0  # a bump on the border: a thinning spur of about 1 mm at 0.3 mm pixels
    paths = skeleton2d.centerlinePaths(image, 0.3)
    assert len(paths) == 1
    assert np.linalg.norm(np.diff(paths[0], axis=0), axis=1).sum() == pytest.approx(np.hypot(80, 50), abs=8)


def test_widths_on_a_mask_and_on_a_noisy_blurred_angiogram():
    from scipy import ndimage

    halfWidth = 6.0
    columns = np.arange(200)[None, :].repeat(100, 0).astype(float)
    distance = np.abs(columns - 100.3)
    mask = np.clip(halfWidth - distance + 0.5, 0, 1).astype(np.float32)  # anti-aliased, 12 px wide
    points = np.stack([np.full(40, 100.0), np.linspace(30, 70, 40)], 1)  # (column, row), 0.3 px off the middle
    normals = skeleton2d.pathNormals(points, 0.2)
    centres, widths = skeleton2d.measureProfiles(mask, points, normals, 0.2, isMask=True)
    assert np.allclose(widths, 12.0, atol=0.1) and np.allclose(centres[:, 0], 100.3, atol=0.1)
    chord = 2 * np.sqrt(np.clip(halfWidth ** 2 - distance ** 2, 0, None))  # a contrast-filled cylinder: darker
    image = ndimage.gaussian_filter(1.0 - 0.04 * chord + 0.001 * columns, 0.7)
    image += np.random.default_rng(3).normal(0, 0.005, image.shape)
    centres, widths = skeleton2d.measureProfiles(image, points, normals, 0.2, isMask=False)
    # the steepest slope of a blurred cylinder's profile lies inside its edge: 1.2 px narrow here (1 px total blur)
    assert -1.5 < np.median(widths) - 12.0 < -0.8 and abs(np.median(centres[:, 0]) - 100.3) < 0.2


VIEWS = (CArmGeometry(-30.0, -25.0, 1000.0, 750.0, (0.3, 0.3), 512, 512),
         CArmGeometry(45.0, 20.0, 1100.0, 780.0, (0.32, 0.32), 512, 512))


def twoVessels(offset=(0.0, 0.0, 0.0)) -> CoronaryCase:
    """Two curved vessels tapering from 1.6 to 1.0 mm and from 1.3 to 0.9 mm radius (LPS mm)."""
    t = np.linspace(0, 1, 200)[:, None]
    first = np.concatenate([-30 + 60 * t, 10 * np.sin(3 * t), 5 + 15 * t], 1) + offset
    second = np.concatenate([-10 + 5 * t, -20 + 50 * t, -15 + 10 * np.cos(2 * t)], 1) + offset
    return CoronaryCase("left", 0, [Vessel("one", first, 1.6 - 0.6 * t[:, 0]),
                                    Vessel("two", second, 1.3 - 0.4 * t[:, 0])])


@pytest.mark.parametrize("offset", [(0.0, 0.0, 0.0), (15.0, -20.0, 15.0)])
def test_two_vessels_come_back_in_3d_with_their_radii(offset):
    from AngioReconLib.vessels import workingMap
    from ReconCoreLib.xrayio import XrayImage

    case = twoVessels(offset)
    views = [XrayImage((renderVesselMap(case, geometry) >= 0.5).astype(np.float32), geometry, f"view {index}")
             for index, geometry in enumerate(VIEWS, 1)]
    working = [(view.pixels, view.geometry) for view in views]
    branches, matched, _ = matching.treeCenterlines(views, working, [True, True])
    assert min(matched) > 0.75  # what each view shows, the 3D tree explains (measured 0.82-1.0)
    truth = np.concatenate([vessel.pointsLps for vessel in case.vessels])
    radii = np.concatenate([vessel.radiiMm for vessel in case.vessels])
    points = np.concatenate([branch.pointsLps for branch in branches])
    distance, nearest = cKDTree(truth).query(points)
    assert np.mean(distance) < 0.3
    covered = cKDTree(points).query(truth)[0] < 1.0
    assert covered.mean() > 0.85
    found = np.concatenate([branch.radiiMm for branch in branches])
    assert np.sqrt(np.nanmean((found - radii[nearest]) ** 2)) < 0.15
    for branch in branches[:2]:
        assert branch.radiiMm[:5].mean() > branch.radiiMm[-5:].mean()  # wider end first
    for view in views:  # both ways: the 3D points project onto the vessels of each view
        pixels = np.rint(view.geometry.projectLps(points)).astype(int)
        assert view.pixels[pixels[:, 1], pixels[:, 0]].mean() > 0.98
    assert len(workingMap(views[0])[0]) == 512


def projectedViews(case, widths):
    """Each of VIEWS' ViewCenterlines of ``case``'s true centerlines, with the lumen widths (detector mm) that
    ``widths(view index, vessel index, points)`` gives."""
    views = []
    for index, geometry in enumerate(VIEWS):
        paths = [geometry.projectLps(vessel.pointsLps) for vessel in case.vessels]
        views.append(skeleton2d.ViewCenterlines(paths, [widths(index, number, path) for number, path in
                                                        enumerate(paths)], geometry,
                                                geometry.pixelSpacingMm[0] / geometry.magnification))
    return views


def test_dropped_matches_come_back_only_where_both_views_are_unexplained():
    case = twoVessels()
    views = projectedViews(case, lambda view, vessel, path: np.full(len(path), 8.0))
    first, second = (vessel.pointsLps for vessel in case.vessels)
    half = np.ones((len(first), 2))
    source = VIEWS[0].sourcePositionLps  # the first vessel moved 15 mm along view 1's rays: a ghost of it
    ghost = first + 15.0 * (first - source) / np.linalg.norm(first - source, axis=1, keepdims=True)
    recovered = matching.recoveredPieces([(second, half), (ghost, half), (first, half)], [(first, half)], views)
    points = np.concatenate([points for points, _ in recovered])
    assert cKDTree(second).query(points)[0].max() < 1e-9  # only the second vessel's stretches
    assert len(points) > 0.9 * len(second)


def test_a_gap_between_kept_pieces_is_bridged_by_a_dropped_stretch_of_the_same_vessel():
    vessel = twoVessels().vessels[0].pointsLps  # 200 points, 0.33 mm apart
    half = np.full((len(vessel), 2), 1.2)
    kept = [(vessel[:80], half[:80]), (vessel[120:], half[120:])]  # a 13 mm gap
    source = VIEWS[0].sourcePositionLps
    ghost = vessel + 15.0 * (vessel - source) / np.linalg.norm(vessel - source, axis=1, keepdims=True)
    wide = np.column_stack([np.full(60, 3.0), np.r_[np.full(30, 1.1), np.full(30, 0.5)]])  # too wide, then disagreeing
    stretch, onKept = vessel[70:130], (vessel[40:80], half[40:80])
    bridges = matching._bridges([(stretch, wide), (stretch, half[70:130]), (ghost[70:130], half[70:130]), onKept], kept)
    assert len(bridges) == 1 and np.array_equal(bridges[0][0], stretch)  # once; not the ghost, not onKept
    assert np.allclose(bridges[0][1][:30], [1.2, 1.1]) and np.isnan(bridges[0][1][30:]).all()
    thin = [(vessel[:80], half[:80]), (vessel[120:], half[120:] / 3)]  # a branch a third as wide is not the vessel
    assert matching._bridges([(stretch, half[70:130])], thin) == []


def test_branches_are_linked_to_the_wider_branch_they_leave():
    from AngioReconLib.centerlines import Branch, linkBranches, ostiumBranch, ostiumDistanceMm

    t = np.linspace(0, 1, 101)[:, None]
    trunk = Branch("branch 1", np.concatenate([0 * t, 0 * t, 50 - 50 * t], 1), 2.0 - t[:, 0], np.ones((101, 2)))
    side = Branch("branch 2", np.concatenate([1 + 30 * t, 0 * t, 20 + 0 * t], 1), np.full(101, 1.0),
                  np.ones((101, 2)))
    apart = Branch("branch 3", np.concatenate([40 + 0 * t, 40 + 20 * t, 0 * t], 1), np.full(101, 1.2),
                   np.ones((101, 2)))
    branches = [trunk, side, apart]
    linkBranches(branches)
    assert (side.parent, side.parentIndex) == ("branch 1", 60) and trunk.parent is None and apart.parent is None
    assert ostiumBranch(branches) is trunk and trunk.ostium  # the widest, at the top of the tree
    assert ostiumDistanceMm(branches, side) == pytest.approx(30.0)
    assert np.isnan(ostiumDistanceMm(branches, apart))  # not connected to the ostium: unknown, not 0


def _line(name, start, end, radius, count=101):
    from AngioReconLib.centerlines import Branch

    t = np.linspace(0, 1, count)[:, None]
    points = np.asarray(start, float) + t * (np.asarray(end, float) - start)
    radii = np.broadcast_to(np.asarray(radius, float), (count,)).copy()
    return Branch(name, points, radii, np.repeat(radii[:, None], 2, 1))


def test_the_ostium_is_the_wide_end_at_the_top_of_the_tree():
    from AngioReconLib.centerlines import chooseOstium, ostiumBranch

    trunk = _line("branch 1", (0, 0, 0), (0, 0, 60), np.linspace(1.2, 2.2, 101))  # wider at its top: reversed
    low = _line("branch 2", (20, 0, -40), (40, 0, -60), 2.6)  # wider still, but at the bottom of the tree
    short = _line("branch 3", (-30, 0, 55), (-30, 0, 59), 0.8, 9)
    branches = [trunk, low, short]
    assert chooseOstium(branches) is trunk and trunk.ostium and not low.ostium
    assert np.allclose(trunk.pointsLps[0], [0, 0, 60]) and trunk.radiiMm[0] == pytest.approx(2.2)
    assert ostiumBranch(branches) is trunk
    assert chooseOstium([]) is None


def test_the_ostium_is_not_where_other_vessels_leave():
    from AngioReconLib.centerlines import chooseOstium

    leftMain = _line("branch 1", (0, 0, 50), (8, 0, 51), 2.0, 17)  # two ends as wide and about as high
    lad = _line("branch 2", (9, 0, 49), (30, -20, 0), 1.5)  # the LAD and the LCx leave its far end
    lcx = _line("branch 3", (9, 1, 50), (30, 30, 20), 1.4)
    assert chooseOstium([leftMain, lad, lcx]) is leftMain
    assert np.allclose(leftMain.pointsLps[0], [0, 0, 50])  # the free end, though the other lies 1 mm higher


@pytest.mark.parametrize("case", ["continues", "reversed", "far", "angled", "wider"])
def test_pieces_left_off_the_tree_are_hung_on_it_across_a_gap(case):
    from AngioReconLib.centerlines import linkBranches, ostiumDistanceMm

    trunk = _line("branch 1", (0, 0, 60), (0, 0, 0), 2.0)
    start, end = {"continues": ((0, 0, -5), (0, 0, -45)), "reversed": ((0, 0, -45), (0, 0, -5)),
                  "far": ((0, 0, -12), (0, 0, -52)), "angled": ((0, 0, -5), (40, 0, -5)),
                  "wider": ((0, 0, -5), (0, 0, -45))}[case]
    piece = _line("branch 2", start, end, 3.0 if case == "wider" else 1.5)
    branches = [trunk, piece]
    linkBranches(branches)
    if case in ("continues", "reversed"):  # 5 mm beyond the trunk's end, on its line: hung, run from the trunk
        assert (piece.parent, piece.parentIndex) == ("branch 1", 100)
        assert np.allclose(piece.pointsLps[0], [0, 0, -5])
        assert ostiumDistanceMm(branches, piece) == pytest.approx(60.0)
    else:  # 12 mm away; leaving the trunk's end at 90 deg; wider than the trunk: left off, distance unknown
        assert piece.parent is None and np.isnan(ostiumDistanceMm(branches, piece))


def test_the_occupancy_is_sampled_where_the_grid_was_put():
    from AngioReconLib.placement import cubeIjkToLps

    probability = np.zeros((64, 64, 64), np.float32)
    probability[40, 20, 10] = 1.0  # voxel (i, j, k) = (10, 20, 40)
    ijkToLps = cubeIjkToLps(centreLps=(16.0, -8.0, 24.0))
    point = ijkToLps[:3, :3] @ [10, 20, 40] + ijkToLps[:3, 3]
    sample = placement.occupancySampler(probability, ijkToLps)
    values = sample(np.array([point, point + [1.0, 0, 0], point + [0, 0, 2.0], [500.0, 0, 0]]))
    assert values == pytest.approx([1.0, 0.5, 0.0, 0.0])


def test_a_foreshortened_stretch_is_matched_but_not_by_the_gates_strict_matching():
    steps = 12
    points = np.zeros((steps, 1, 3))
    points[:, 0, 2] = 1.4 * np.arange(steps)  # one candidate per point, 1.4 mm apart in 3D: a vessel running
    cost = np.zeros((steps, 1))  # at 69 deg out of the view's plane, where the path's own step is 0.5 mm
    assert (matching._viterbi(cost, points) == 0).all()
    strict = matching._viterbi(cost, points, matching.GATE_FREE_JUMP_MM)
    assert (strict == -1).sum() >= steps // 2  # every other point at most: leaving the unmatched state is free
    points[6:, 0, 0] = 5.0  # a jump of 5 mm is another vessel's point: the match leaves it
    chosen = matching._viterbi(cost, points)
    assert (chosen[:5] == 0).all() and (chosen[7:] == 0).all() and -1 in chosen[5:7]  # two runs, not one


def test_widenings_shorter_than_the_window_are_clipped_and_narrowings_kept():
    arc = np.arange(0.0, 30.0, 0.25)
    taper = 1.5 - 0.02 * arc
    widened = taper + 0.6 * (np.abs(arc - 10.0) < 1.0)  # a branching's wedge, 2 mm long
    narrowed = widened - 0.7 * (np.abs(arc - 20.0) < 2.5)  # a 5 mm lesion
    clipped = matching._bumpsClipped(arc, narrowed)
    inside = (arc > 4.0) & (arc < 26.0)  # away from the ends, where the window is one-sided
    away = inside & (np.abs(arc - 20.0) >= 2.5 + matching.BUMP_WINDOW_MM)  # the lesion's shoulders: a little lower
    assert np.abs(clipped - taper)[away].max() < 0.06  # the 0.6 mm wedge gone: the median over the window, + 2 SD
    lesion = np.abs(arc - 20.0) < 2.5
    assert np.array_equal(clipped[lesion], narrowed[lesion])  # the lesion is measured as it was
    assert np.array_equal(matching._bumpsClipped(arc, taper)[inside], taper[inside])
    noisy = 1.0 + np.random.default_rng(3).normal(0.0, 0.05, len(arc))  # measurement noise is left as it is
    assert abs(matching._bumpsClipped(arc, noisy).mean() - noisy.mean()) < 0.005  # clipped at the median: -0.02


def test_a_vessel_widened_by_an_overlap_in_one_view_is_matched_through_it():
    """Another vessel over it in view 2 makes a stretch three times as wide there: the width cost is capped
    (WIDTH_COST_CAP), so the vessel is matched through the overlap, in one piece, and the overlap's width (over
    WIDTH_UNRELIABLE times the other view's) is not its radius."""
    case = twoVessels()

    def widths(view, vessel, path):
        values = np.full(len(path), 2.4)
        if view == 1 and vessel == 0:
            values[80:110] = 7.2  # the overlap: about 6 mm along the vessel
        return values

    views = projectedViews(case, widths)
    first = case.vessels[0].pointsLps
    overlap = first[85:105]

    def coverage(pieces):
        points = np.concatenate([points for points, _ in pieces])
        return cKDTree(points).query(overlap)[0].max()

    assert coverage(matching.matchPaths(views[0], views[1])) < 0.5  # matched through the overlap
    uncapped = matching.matchPaths(views[0], views[1], widthCostCap=np.inf)  # as the gate's strict matching
    assert coverage(uncapped) > 1.0  # cut there
    branches = matching.assembleBranches(matching.matchPaths(views[0], views[1]))
    longest = branches[0]
    assert cKDTree(longest.pointsLps).query(overlap)[0].max() < 0.5  # one branch runs through it
    assert np.abs(longest.radiiMm - longest.radiiMm[len(longest.radiiMm) // 2]).max() < 0.1  # no bump, no dip


def test_the_two_views_widths_become_one_radius():
    half = np.array([[1.0, 1.2], [1.0, 1.6], [1.0, 2.5], [np.nan, 0.9], [np.nan, np.nan]])
    radius = matching._lumenRadius(half)
    assert radius[:2] == pytest.approx([1.1, 1.0])  # agreeing: the mean; over 1.4 x apart: the smaller
    assert np.isnan(radius[2])  # over WIDTH_UNRELIABLE x apart: neither (the neighbours' radius is taken)
    assert radius[3] == 0.9 and np.isnan(radius[4])  # one measured: that one


@pytest.mark.torch  # qcacheck runs the whole pipeline
def test_the_evaluation_scores_the_distance_from_the_ostium_along_the_true_tree():
    from AngioReconDev.coronaryanatomy import CoronaryCase, Vessel
    from AngioReconDev.qcacheck import treeScores, trueOstiumDistances

    t = np.linspace(0, 1, 41)[:, None]
    main = Vessel("LM", np.concatenate([0 * t, 0 * t, 40 - 40 * t], 1), np.full(41, 2.0))
    child = Vessel("LAD", np.concatenate([30 * t, 0 * t, 10 + 0 * t], 1), np.full(41, 1.0), "LM")
    case = CoronaryCase("left", 0, [main, child])
    assert np.allclose(trueOstiumDistances(case)[41:], 30 + 30 * t[:, 0])  # leaves the LM 30 mm from the ostium
    trunk = _line("branch 1", (0, 0, 40), (0, 0, 0), 2.0, 41)  # on the truth's own points
    side = _line("branch 2", (1, 0, 10), (30, 0, 10), 1.0, 117)  # more points than the trunk: the median is its
    side.parent, side.parentIndex = "branch 1", 36  # 6 mm too far down the trunk, starting 1 mm out: 5 mm too far
    scores = treeScores(case, [trunk, side])
    assert scores["ostium_connected"] == pytest.approx(1.0)
    assert scores["ostium_error_mm"] == pytest.approx(5.0, abs=0.5)  # the truth's points lie 1 mm apart
    side.parent, side.parentIndex = None, -1  # not linked: its distance is unknown, and not scored
    scores = treeScores(case, [trunk, side])
    assert scores["ostium_connected"] == pytest.approx(40 / 69) and scores["ostium_error_mm"] == pytest.approx(0.0)

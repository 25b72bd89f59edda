"""AngioRecon's centerlines and QCA against the truth of held-out synthetic trees.

    python -m AngioReconDev.qcacheck --cases 20 [--raw] [--pixels 512] [--ood] [--wrong-tree]

Each held-out tree (seeds from :data:`~.dataset.HELD_OUT_SEED_OFFSET`, two thirds left, augmented as in training) is
seen from a pair of standard views (:func:`.coronaryimages.sampleViewPair`) at ``--pixels`` pixels over the training
field; the input is the true vessel mask (default) or the rendered angiogram (``--raw``). The whole reconstruction
runs (:func:`AngioReconLib.pipeline.reconstruct`, implausible results kept) and its centerline tree is compared with
the true centerlines: mean distance both ways, recall within 1 mm of the true centerline of vessels >= 1.5 mm wide,
radius RMSE where a reconstructed point lies within 1 mm of the truth; the lumen segmentation's Dice at 0.5 mm and the
generator's IoU on its 64^3 cube (:func:`volumeScores`); the share of the tree linked to its ostium and the error of
the distance from the ostium there (:func:`treeScores`); per true stenosis, the reported lesion whose
minimal lumen diameter lies within :data:`LESION_MATCH_MM` of it (its percent diameter stenosis error), lesions >= 50 %
found, and reported lesions >= 50 % with no true stenosis near (false positives); the anatomical branch names
(:func:`nameScores`, and per matched stenosis whether its lesion's branch carries the true vessel's name).
``--wrong-tree`` gives each tree as the other side (the names' side check must warn). ``--mismatched`` pairs view 1
of each tree with view 2 of another held-out tree (which the matched-fraction gate must stop). ``--ood`` is the
out-of-distribution check: the trees rotated and scaled beyond the training augmentation and, with ``--raw``, rendered
fainter, blurrier and noisier than any training angiogram (:data:`OOD_ROTATION_DEG`, :data:`OOD_SCALE_PERCENT`,
:data:`~.coronaryimages.OOD_STYLE`).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from AngioReconLib import pipeline
from AngioReconLib.branchnames import isAnatomical
from AngioReconLib.centerlines import arcLength
from ReconCoreLib.plausibility import keepingImplausible
from ReconCoreLib.xrayio import XrayImage

from . import coronaryimages, coronarytree
from .branchnames import vesselClass
from .dataset import HELD_OUT_SEED_OFFSET, LABEL_THRESHOLD

#: True vessels counted in the recall: diameter >= 1.5 mm (the issue's target).
RECALL_MIN_RADIUS_MM = 0.75
RECALL_DISTANCE_MM = 1.0
#: A reported lesion is a true stenosis's when its minimal lumen diameter lies within this distance (mm) of the
#: stenosis's centre (true lesions are 4-15 mm long).
LESION_MATCH_MM = 5.0
#: A named branch is judged against the true vessel its points lie on when at least half lie within this (mm).
NAME_MATCH_MM = 1.5


#: The out-of-distribution check's trees (``--ood``): rotated and scaled beyond the training augmentation (5-15 deg,
#: 3-10 %), rendered with :data:`~.coronaryimages.OOD_STYLE` (fainter contrast, blurrier, noisier than training).
OOD_ROTATION_DEG = (15.0, 25.0)
OOD_SCALE_PERCENT = (10.0, 15.0)


def heldOutCase(seed: int, pixels: int, raw: bool, ood: bool = False) -> dict:
    rng = np.random.default_rng([seed, 23])
    tree = "left" if seed % 3 else "right"
    ranges = {"rotationDeg": OOD_ROTATION_DEG, "scalePercent": OOD_SCALE_PERCENT} if ood else {}
    case = coronarytree.augment(coronarytree.generateCase(seed, tree), rng, **ranges)
    style = coronaryimages.OOD_STYLE if ood else coronaryimages.TRAINING_STYLE
    views, masks = [], []
    for geometry in coronaryimages.sampleViewPair(tree, rng, pixels, pixels):
        mask = coronaryimages.renderVesselMap(case, geometry)
        image = (coronaryimages.renderAngiogram(case, geometry, rng, style) if raw
                 else (mask >= 0.5).astype(np.float32))
        views.append(XrayImage(image, geometry, f"tree {seed}"))
        masks.append(mask)
    return {"tree": tree, "case": case, "views": views, "masks": masks}


def centerlineScores(case, branches) -> dict:
    from scipy.spatial import cKDTree

    truthPoints = case.allPointsLps()
    truthRadii = np.concatenate([vessel.radiiMm for vessel in case.vessels])
    if not branches:
        return {"mean_distance_mm": np.inf, "recall": 0.0, "radius_rmse_mm": np.nan, "radius_bias_mm": np.nan}
    points = np.concatenate([branch.pointsLps for branch in branches])
    radii = np.concatenate([branch.radiiMm for branch in branches])
    toTruth, nearest = cKDTree(truthPoints).query(points)
    large = truthRadii >= RECALL_MIN_RADIUS_MM
    fromTruth, _ = cKDTree(points).query(truthPoints[large])
    close = (toTruth < RECALL_DISTANCE_MM) & np.isfinite(radii)
    error = radii[close] - truthRadii[nearest[close]]
    return {"mean_distance_mm": float((toTruth.mean() + fromTruth.mean()) / 2),
            "to_truth_mm": float(toTruth.mean()), "from_truth_mm": float(fromTruth.mean()),
            "recall": float((fromTruth < RECALL_DISTANCE_MM).mean()),
            "radius_rmse_mm": float(np.sqrt(np.mean(error ** 2))), "radius_bias_mm": float(error.mean())}


def trueOstiumDistances(case) -> np.ndarray:
    """[all points of ``case.allPointsLps()``] arc length (mm) from the tree's ostium along the true vessels."""
    def offset(vessel) -> float:  # the vessel's first point: a point of its parent
        if vessel.parent is None:
            return 0.0
        parent = case.vessel(vessel.parent)
        index = int(np.argmin(np.linalg.norm(parent.pointsLps - vessel.pointsLps[0], axis=1)))
        return offset(parent) + arcLength(parent.pointsLps)[index]

    offsets = {vessel.name: offset(vessel) for vessel in case.vessels}
    return np.concatenate([offsets[vessel.name] + arcLength(vessel.pointsLps) for vessel in case.vessels])


def treeScores(case, branches) -> dict:
    """How much of the reconstructed tree hangs from its ostium (fraction of its length whose chain of parents
    reaches the ostium's branch, :func:`~AngioReconLib.centerlines.ostiumDistanceMm`), and the error of the distance
    from the ostium it reports there: median absolute difference (mm) from the true one at the nearest true point,
    over points within 1 mm of the truth."""
    from scipy.spatial import cKDTree

    from AngioReconLib.centerlines import ostiumDistanceMm

    length = sum(branch.lengthMm for branch in branches)
    reported, points, connected = [], [], 0.0
    for branch in branches:
        start = ostiumDistanceMm(branches, branch)
        if np.isfinite(start):
            connected += branch.lengthMm
            reported.append(start + branch.arcMm)
            points.append(branch.pointsLps)
    scores = {"ostium_connected": connected / length if length > 0 else 0.0, "ostium_error_mm": np.nan}
    if points:
        distance, nearest = cKDTree(case.allPointsLps()).query(np.concatenate(points))
        close = distance < RECALL_DISTANCE_MM
        if close.any():
            error = np.concatenate(reported)[close] - trueOstiumDistances(case)[nearest[close]]
            scores["ostium_error_mm"] = float(np.median(np.abs(error)))
    return scores


def nameScores(case, branches) -> dict:
    """The anatomical names (:mod:`AngioReconLib.branchnames`): the share of the tree's length named, and of the named
    length whose branch lies on the truth (at least half its points within :data:`NAME_MATCH_MM` of a true
    centerline), the share whose name's class is that of the true vessel most of those points lie on; with the
    lengths behind both (mm) so that trees can be pooled."""
    from scipy.spatial import cKDTree

    classes = np.concatenate([[vesselClass(vessel.name)] * len(vessel.pointsLps) for vessel in case.vessels])
    truth = cKDTree(case.allPointsLps())
    total = named = judged = correct = 0.0
    for branch in branches:
        total += branch.lengthMm
        if not isAnatomical(branch.name):
            continue
        named += branch.lengthMm
        distance, nearest = truth.query(branch.pointsLps)
        close = distance < NAME_MATCH_MM
        if close.mean() < 0.5:
            continue
        values, counts = np.unique(classes[nearest[close]], return_counts=True)
        judged += branch.lengthMm
        correct += branch.lengthMm * (values[np.argmax(counts)] == vesselClass(branch.name))
    return {"named_fraction": named / total if total else 0.0,
            "name_correct": correct / judged if judged else np.nan,
            "length_mm": total, "named_mm": named, "judged_mm": judged, "correct_mm": correct}


def volumeScores(case, result) -> dict:
    """The lumen segmentation (0.5 mm voxels) against the true tree's, made by the same tube labelling from the true
    centerlines and radii (Dice), and the generator's occupancy (>= 0.5) on its 64^3 cube of 2 mm voxels against the
    voxel label there (the training label's threshold; IoU, as Wang et al. report it)."""
    from AngioReconLib.centerlineoutputs import fineLabelmap
    from AngioReconLib.centerlines import Branch
    from AngioReconLib.pipeline import SEGMENTATION_VOXEL_MM

    truthBranches = [Branch(vessel.name, vessel.pointsLps, vessel.radiiMm, np.stack([vessel.radiiMm] * 2, 1))
                     for vessel in case.vessels]
    scores = {"fine_dice": 0.0}
    if result.lumenLabels is None:
        return scores | {"iou_64": _iou64(case, result)}
    # The truth is labelled on the result's lattice (a fraction of a voxel off, rounding would cost up to 0.2 Dice):
    # fineLabelmap puts its box's corner at the lowest point minus the largest radius and a 2 mm margin, so a
    # thin branch at a lattice point below the tree moves that corner onto the lattice; its own voxels are dropped.
    grow = max(float(vessel.radiiMm.max()) for vessel in case.vessels) + 2.0
    lattice = result.lumenIjkToLps[:3, 3]
    lowest = np.min([vessel.pointsLps.min(axis=0) for vessel in case.vessels], axis=0) - grow
    corner = lattice + np.floor((lowest - lattice) / SEGMENTATION_VOXEL_MM) * SEGMENTATION_VOXEL_MM + grow
    anchor = Branch("anchor", np.stack([corner, corner + 0.01]), np.full(2, 1e-4), np.full((2, 2), 1e-4))
    truth, truthIjkToLps = fineLabelmap(truthBranches + [anchor], SEGMENTATION_VOXEL_MM)
    truth = (truth > 0) & (truth <= len(truthBranches))
    found = result.lumenLabels > 0
    ijk = np.argwhere(found)[:, ::-1]  # (i, j, k) of each lumen voxel
    centres = ijk @ result.lumenIjkToLps[:3, :3].T + result.lumenIjkToLps[:3, 3]
    offset = (centres - truthIjkToLps[:3, 3]) / SEGMENTATION_VOXEL_MM  # both axis-aligned, on one lattice
    assert np.allclose(offset, np.rint(offset), atol=1e-3), "the truth's grid is not on the result's lattice"
    index = np.rint(offset).astype(int)
    inside = np.all((index >= 0) & (index < truth.shape[::-1]), axis=1)
    overlap = truth[index[inside, 2], index[inside, 1], index[inside, 0]].sum()
    scores["fine_dice"] = float(2 * overlap / (found.sum() + truth.sum()))
    return scores | {"iou_64": _iou64(case, result)}


def _iou64(case, result) -> float:
    from dataclasses import replace

    from AngioReconLib.conventions import CUBE_SIDE_MM, GRID_SIZE

    centre = np.asarray(result.cubeCentreLps, float)
    shifted = replace(case, vessels=[replace(vessel, pointsLps=vessel.pointsLps - centre) for vessel in case.vessels])
    label = coronaryimages.voxelize(shifted, GRID_SIZE, CUBE_SIDE_MM)[0] >= LABEL_THRESHOLD
    occupied = np.asarray(result.probability) >= 0.5
    return float((label & occupied).sum() / max((label | occupied).sum(), 1))


def lesionScores(case, lesions) -> dict:
    """Per true stenosis: its percent and the matched lesion's (nan when none); false positives >= 50 %; per matched
    stenosis whether the lesion's branch name is its true vessel's class ("correct", "wrong" or "unnamed")."""
    truths = []
    for stenosis in case.stenoses:
        vessel = case.vessel(stenosis["vessel"])
        arc = arcLength(vessel.pointsLps)
        truths.append((vessel.pointsLps[int(np.argmin(np.abs(arc - stenosis["arcMm"])))], stenosis["percent"]))
    pairs, names, used = [], [], set()
    for (point, percent), stenosis in zip(truths, case.stenoses):
        distances = [np.linalg.norm(np.asarray(lesion.pointLps) - point) for lesion in lesions]
        best = int(np.argmin(distances)) if distances else -1
        found = best >= 0 and distances[best] <= LESION_MATCH_MM
        pairs.append((percent, lesions[best].diameterStenosisPercent if found else np.nan))
        if found:
            used.add(best)
            name = lesions[best].branch
            names.append("correct" if isAnatomical(name) and vesselClass(name) == vesselClass(stenosis["vessel"])
                         else "wrong" if isAnatomical(name) else "unnamed")
    falsePositives = sum(1 for index, lesion in enumerate(lesions) if lesion.diameterStenosisPercent >= 50
                         and index not in used and all(np.linalg.norm(np.asarray(lesion.pointLps) - point)
                                                       > LESION_MATCH_MM for point, _ in truths))
    return {"pairs": pairs, "false_positives_50": falsePositives, "names": names}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--pixels", type=int, default=512)
    parser.add_argument("--raw", action="store_true", help="rendered angiograms instead of the true masks")
    parser.add_argument("--mismatched", action="store_true", help="view 2 from another tree (gate check)")
    parser.add_argument("--wrong-tree", action="store_true", help="reconstruct each tree as the other side's "
                        "(the branch names' side check, side_warned, must catch it)")
    parser.add_argument("--ood", action="store_true", help="the out-of-distribution trees and renderer "
                        "(OOD_ROTATION_DEG, OOD_SCALE_PERCENT, coronaryimages.OOD_STYLE)")
    arguments = parser.parse_args(argv)
    rows, pairs, falsePositives, lesionNames, stopped = [], [], [], [], 0
    for index in range(arguments.first, arguments.first + arguments.cases):
        seed = HELD_OUT_SEED_OFFSET + index
        held = heldOutCase(seed, arguments.pixels, arguments.raw, arguments.ood)
        views = held["views"]
        if arguments.mismatched:
            views = [views[0], heldOutCase(seed + 500, arguments.pixels, arguments.raw, arguments.ood)["views"][1]]
        started = time.perf_counter()
        try:
            with keepingImplausible():
                given = {"left": "right", "right": "left"}[held["tree"]] if arguments.wrong_tree else held["tree"]
                result = pipeline.reconstruct(*views, given, device="cpu")
        except ValueError as error:  # the vessel-map gates stop whatever is kept
            stopped += 1
            print(f"{seed} stopped: {error}", flush=True)
            continue
        scores = centerlineScores(held["case"], result.branches)
        scores["seconds"] = time.perf_counter() - started
        scores.update(volumeScores(held["case"], result))
        scores.update(treeScores(held["case"], result.branches))
        scores.update(nameScores(held["case"], result.branches))
        for view in (1, 2):
            scores[f"matched_view{view}"] = result.readouts.values[f"centerline_matched_fraction_view{view}"]
        scores["failed_checks"] = len(result.readouts.failedChecks)
        scores["side_warned"] = float(any("check --tree" in warning for warning in result.readouts.warnings))
        rows.append(scores)
        lesions = lesionScores(held["case"], result.lesions)
        pairs += lesions["pairs"]
        falsePositives.append(lesions["false_positives_50"])
        lesionNames += lesions["names"]
        print(f"{seed} {held['tree']:5s} " + "  ".join(f"{key} {value:.3f}" for key, value in scores.items())
              + f"  lesions {[(round(t), round(f) if np.isfinite(f) else None) for t, f in lesions['pairs']]}",
              flush=True)
    if not rows:
        print(f"all {stopped} trees stopped")
        return
    keys = rows[0].keys()
    print(f"{len(rows)} trees ({stopped} stopped), {'raw angiograms' if arguments.raw else 'true masks'}, "
          f"{arguments.pixels} px{', mismatched views' if arguments.mismatched else ''}"
          f"{', out-of-distribution trees and renderer' if arguments.ood else ''}"
          f"{', each tree given as the other side' if arguments.wrong_tree else ''}")
    for key in keys:
        values = np.array([row[key] for row in rows], float)
        print(f"  {key}: mean {np.nanmean(values):.3f} median {np.nanmedian(values):.3f} "
              f"p5 {np.nanpercentile(values, 5):.3f} p95 {np.nanpercentile(values, 95):.3f}")
    truth = np.array([t for t, _ in pairs])
    found = np.array([f for _, f in pairs])
    significant = truth >= 50
    hit = np.isfinite(found)
    error = found[hit] - truth[hit]
    print(f"  true stenoses {len(truth)}: found {hit.mean() if len(truth) else np.nan:.2f}; >= 50 %: "
          f"{significant.sum()}, found {hit[significant].mean() if significant.any() else np.nan:.2f}; percent "
          f"diameter stenosis error {error.mean() if len(error) else np.nan:+.1f} +- "
          f"{error.std() if len(error) else np.nan:.1f} points; false positives >= 50 % per tree "
          f"{np.mean(falsePositives) if falsePositives else np.nan:.2f}")
    named = {key: sum(row[f"{key}_mm"] for row in rows) for key in ("length", "named", "judged", "correct")}
    print(f"  anatomical names, pooled over trees: named {named['named'] / max(named['length'], 1e-9):.3f} of the "
          f"length; "
          f"of the named length on the truth ({named['judged'] / max(named['named'], 1e-9):.3f} of it), "
          f"{named['correct'] / max(named['judged'], 1e-9):.3f} names its true vessel's class; matched lesions' "
          f"branch names: " + ", ".join(f"{outcome} {lesionNames.count(outcome)}"
                                        for outcome in ("correct", "wrong", "unnamed")))
    grades = [(f"{low:g}-{high:g} %" if high < 100 else f">= {low:g} %", (truth >= low) & (truth < high))
              for low, high in ((20, 50), (50, 70), (70, 100))]
    print("  found by grade: " + ", ".join(f"{name} {hit[inside].mean() if inside.any() else np.nan:.2f} "
                                           f"({inside.sum()} true)" for name, inside in grades))


if __name__ == "__main__":
    main()

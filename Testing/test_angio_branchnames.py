"""AngioRecon's anatomical branch names (AngioReconLib.branchnames) on true synthetic trees: the right names, none
on a tree turned out of the supine anatomy, none and a warning for the wrong side, parents renamed with them."""

import json

import numpy as np
import pytest

from AngioReconDev import coronarytree
from AngioReconDev.branchnames import fitClasses, vesselClass
from AngioReconDev.dataset import HELD_OUT_SEED_OFFSET
from AngioReconLib import branchnames
from AngioReconLib.centerlines import Branch, linkBranches


def trueTree(seed: int, rotation=None):
    """(side, branches numbered as the reconstruction numbers them, {branch name: true vessel name}) of held-out
    tree ``seed``, its points turned by ``rotation`` (3x3) about the origin when given."""
    side = "left" if seed % 3 else "right"
    case = coronarytree.augment(coronarytree.generateCase(seed, side), np.random.default_rng([seed, 23]))
    turn = np.eye(3) if rotation is None else rotation
    branches = [Branch(f"branch {number}", vessel.pointsLps @ turn.T, vessel.radiiMm,
                       np.stack([vessel.radiiMm] * 2, axis=1)) for number, vessel in enumerate(case.vessels, 1)]
    truth = {branch.name: vessel.name for branch, vessel in zip(branches, case.vessels)}
    linkBranches(branches)
    return side, branches, truth


def aboutLeftRight(angleDeg: float) -> np.ndarray:
    angle = np.radians(angleDeg)
    return np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])


def test_bundled_classes_are_what_the_builder_fits():
    """The JSON shipped is the builder's output, reproducibly (150 training trees per side)."""
    stored = json.loads(branchnames.MODEL_PATH.read_text())
    fitted = fitClasses(stored["trees"]["left"])
    assert stored["classes"].keys() == fitted["classes"].keys() == branchnames.CLASSES.keys()
    for side, classes in fitted["classes"].items():
        assert tuple(classes) == branchnames.CLASSES[side]
        for name, entry in classes.items():
            assert np.allclose(entry["mean"], stored["classes"][side][name]["mean"], atol=1e-6), (side, name)
            assert np.allclose(entry["covariance"], stored["classes"][side][name]["covariance"], atol=1e-7)


@pytest.mark.parametrize("seed", [HELD_OUT_SEED_OFFSET + 1, HELD_OUT_SEED_OFFSET + 2])
def test_true_held_out_trees_are_named_by_anatomy(seed):
    side, branches, truth = trueTree(seed)
    renamed, warning = branchnames.nameBranches(branches, side)
    assert warning == ""
    total = sum(branch.lengthMm for branch in branches)
    named = [(truth[old], new) for old, new in renamed.items()]
    # every name given is its vessel's class (measured: all of them; one diagonal or PL branch left numbered)
    assert all(vesselClass(true) == vesselClass(new) for true, new in named), named
    assert branchnames.namedFraction(branches) > 0.85 and total > 200
    mains = {"left": {"LM", "LAD", "LCx"}, "right": {"RCA", "PDA", "PLB"}}[side]
    assert mains <= {new for _, new in named}
    # parents follow the renaming: every parent named is a branch of the tree
    names = {branch.name for branch in branches}
    assert len(names) == len(branches)
    assert all(branch.parent is None or branch.parent in names for branch in branches)
    if side == "left":
        assert next(b for b in branches if b.name == "LAD").parent == "LM"


@pytest.mark.torch  # qcacheck runs the pipeline, whose generator is torch
def test_the_evaluation_scores_names_against_the_true_vessels():
    """qcacheck.nameScores (the card's figures): every name on a true tree right; a wrong name counted wrong."""
    from AngioReconDev.qcacheck import nameScores

    seed = HELD_OUT_SEED_OFFSET + 1
    side, branches, _ = trueTree(seed)
    case = coronarytree.augment(coronarytree.generateCase(seed, side), np.random.default_rng([seed, 23]))
    branchnames.nameBranches(branches, side)
    scores = nameScores(case, branches)
    assert scores["named_fraction"] == pytest.approx(branchnames.namedFraction(branches))
    assert scores["name_correct"] == 1.0 and scores["judged_mm"] == pytest.approx(scores["named_mm"])
    lad = next(branch for branch in branches if branch.name == "LAD")
    lad.name = "LCx (2)"
    wrong = nameScores(case, branches)
    assert wrong["correct_mm"] == pytest.approx(scores["correct_mm"] - lad.lengthMm)


@pytest.mark.parametrize("angle", [90.0, 180.0])
def test_a_tree_turned_out_of_the_supine_anatomy_keeps_its_numbers(angle):
    """A left tree turned about the left-right axis: no class is typical of its points (measured 0 % named)."""
    side, branches, _ = trueTree(HELD_OUT_SEED_OFFSET + 1, aboutLeftRight(angle))
    branchnames.nameBranches(branches, side)
    assert branchnames.namedFraction(branches) < 0.1


def test_the_wrong_side_is_warned_and_nothing_named():
    side, branches, _ = trueTree(HELD_OUT_SEED_OFFSET + 2)  # a right tree, given as left
    assert side == "right"
    renamed, warning = branchnames.nameBranches(branches, "left")
    assert renamed == {} and "fit the right coronary tree's anatomy better than the left" in warning and "check --tree" in warning
    assert not any(branchnames.isAnatomical(branch.name) for branch in branches)
    with pytest.raises(ValueError, match="'middle'"):
        branchnames.nameBranches(branches, "middle")


def test_numbering_follows_the_distance_from_the_ostium():
    """Two pieces of one single vessel and two diagonals: the nearer to the ostium takes the plain name / number 1."""
    side, branches, truth = trueTree(HELD_OUT_SEED_OFFSET + 1)
    lad = next(branch for branch in branches if truth[branch.name] == "LAD")
    half = len(lad.pointsLps) // 2
    distal = Branch("branch 99", lad.pointsLps[half:], lad.radiiMm[half:], lad.radiiViewsMm[half:], lad.name, half)
    lad.pointsLps, lad.radiiMm, lad.radiiViewsMm = lad.pointsLps[:half + 1], lad.radiiMm[:half + 1], \
        lad.radiiViewsMm[:half + 1]
    branches.append(distal)
    branchnames.nameBranches(branches, side)
    assert (lad.name, distal.name, distal.parent) == ("LAD", "LAD (2)", "LAD")
    diagonals = sorted((b for b in branches if b.name.startswith("D")), key=lambda b: b.name)
    ostium = next(b for b in branches if b.ostium).pointsLps[0]
    distances = [np.linalg.norm(b.pointsLps[0] - ostium) for b in diagonals]
    assert len(diagonals) >= 1 and distances == sorted(distances)

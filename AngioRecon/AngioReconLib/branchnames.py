"""Anatomical names for the reconstructed branches where the labelling is confident; the others keep their numbers.

Names after the AHA segment model (Austen et al., Circulation 1975;51:5-40): left tree ``LM``, ``LAD``, ``LCx``,
diagonals ``D``, septals ``S``, obtuse marginals ``OM``; right tree ``RCA``, acute marginals ``AM``, ``PDA``, ``PLB``,
posterolateral branches ``PL``.

Each centerline point is described by seven numbers: where it lies in the tree (its offset from the centroid of the
tree's wide vessels, radius >= :data:`FRAME_MIN_RADIUS_MM`, divided by their RMS distance from that centroid: the
patient's LPS axes, so where the heart lies and how large it is do not matter, its orientation in the patient does),
the direction it runs (proximal to distal, unit vector) and the log of its lumen radius. Each vessel class of the tree's
side is a Gaussian over these numbers, fitted on the true centerlines of training trees
(``python -m AngioReconDev.branchnames``, which writes :data:`MODEL_PATH`). A branch takes a class's name when the
mean of its points' posteriors for that class is at least :data:`NAME_CONFIDENCE` and its points are typical of the
class (median squared Mahalanobis distance at most :data:`TYPICAL_MAHALANOBIS2`); otherwise it keeps ``branch N``.
Trees whose orientation in the patient is far from the supine anatomy the classes were fitted on (prone, a heart
rotated by disease) get few names rather than wrong ones: that is what the typicality check is for.

Numbering: the classes with several members (D, S, OM, AM, PL) are numbered by how far each branch's first point lies
from the tree's ostium (D1 the nearest); a vessel the reconstruction broke into two pieces takes two numbers. Where
several branches take a class with one member (LM, LAD, LCx, RCA, PDA, PLB), the nearest to the ostium takes the
name and the others ``LAD (2)``, ``LAD (3)``.

What this reaches on held-out trees (the share of the tree named, the share of the named length whose name is its
true vessel's, and the lesions' branch names): the model card's section "Anatomical branch names".

Why written here: a Gaussian classifier is a few lines of numpy, and scikit-learn is not among Slicer's packages.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from .centerlines import Branch

MODEL_PATH = Path(__file__).resolve().parents[1] / "Resources" / "Models" / "AngioRecon-branchnames.json"

#: Vessel classes per tree side, and those with several members (numbered).
CLASSES = {"left": ("LM", "LAD", "LCx", "D", "S", "OM"), "right": ("RCA", "AM", "PDA", "PLB", "PL")}
NUMBERED = ("D", "S", "OM", "AM", "PL")
#: The tree's frame (centroid and scale) is taken from points whose lumen radius is at least this (mm): the wide
#: vessels, which every reconstruction finds, so a tree missing thin branches keeps its frame.
FRAME_MIN_RADIUS_MM = 0.8
#: Radii below this (mm) are taken as this in the features (a radius the lumen step could not measure).
MIN_RADIUS_MM = 0.2
#: A branch is named when its points' mean posterior for the class is at least this and their median squared
#: Mahalanobis distance to it at most TYPICAL_MAHALANOBIS2 (the chi-square 99th percentile for 7 degrees of freedom).
NAME_CONFIDENCE = 0.7
TYPICAL_MAHALANOBIS2 = 18.5


def pointFeatures(pointsLps: np.ndarray, radiiMm: np.ndarray, centreLps: np.ndarray, scaleMm: float) -> np.ndarray:
    """[N, 7] features of a branch's points (module docstring): offset / scale, unit direction, log radius."""
    points = np.asarray(pointsLps, float)
    direction = np.gradient(points, axis=0) if len(points) > 1 else np.zeros_like(points)
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-9)
    radius = np.log(np.maximum(np.nan_to_num(np.asarray(radiiMm, float), nan=MIN_RADIUS_MM), MIN_RADIUS_MM))
    return np.column_stack([(points - centreLps) / scaleMm, direction, radius])


def treeFrame(pointsLps: np.ndarray, radiiMm: np.ndarray) -> tuple[np.ndarray, float]:
    """(centroid LPS, RMS distance mm) of the points whose radius >= :data:`FRAME_MIN_RADIUS_MM` (all points when
    fewer than 10 are that wide)."""
    points = np.asarray(pointsLps, float)
    wide = np.nan_to_num(np.asarray(radiiMm, float)) >= FRAME_MIN_RADIUS_MM
    if wide.sum() >= 10:
        points = points[wide]
    centre = points.mean(axis=0)
    return centre, max(float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean())), 1e-6)


@lru_cache(maxsize=2)
def loadModel(path: str = str(MODEL_PATH)) -> dict:
    """{side: {class: (mean [7], inverse covariance [7, 7], log determinant, log prior)}} from the JSON file."""
    try:
        stored = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"branch name model {path} could not be read: {error}") from error
    return {side: {name: (np.asarray(entry["mean"]), np.linalg.inv(np.asarray(entry["covariance"])),
                          float(np.linalg.slogdet(np.asarray(entry["covariance"]))[1]), float(np.log(entry["prior"])))
                   for name, entry in classes.items()} for side, classes in stored["classes"].items()}


def classScores(features: np.ndarray, classes: dict) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(class names, [N, C] posteriors, [N, C] squared Mahalanobis distances, [N] log density of the mixture of all
    classes) of points under the class Gaussians."""
    names = list(classes)
    distances = np.stack([np.einsum("ij,jk,ik->i", features - mean, inverse, features - mean)
                          for mean, inverse, _, _ in classes.values()], axis=1)
    logLikelihood = -0.5 * distances + np.array([prior - 0.5 * logDet for _, _, logDet, prior in classes.values()])
    top = logLikelihood.max(axis=1, keepdims=True)
    posterior = np.exp(logLikelihood - top)
    total = posterior.sum(axis=1, keepdims=True)
    return names, posterior / total, distances, (top + np.log(total))[:, 0]


def branchFeatures(branches: list[Branch]) -> list[np.ndarray]:
    """[N, 7] features (:func:`pointFeatures`) of each branch's points in the tree's frame (:func:`treeFrame`)."""
    centre, scale = treeFrame(np.concatenate([b.pointsLps for b in branches]),
                              np.concatenate([b.radiiMm for b in branches]))
    return [pointFeatures(branch.pointsLps, branch.radiiMm, centre, scale) for branch in branches]


def classifyBranches(features: list[np.ndarray], classes: dict) -> tuple[list[str | None], float]:
    """(each branch's confident class under one side's ``classes``, None where not confident; the median over the
    tree's points of their log density under those classes), from :func:`branchFeatures`. A branch is confident when
    its points' mean posterior of its best class is at least :data:`NAME_CONFIDENCE` and their median squared
    Mahalanobis distance to that class at most :data:`TYPICAL_MAHALANOBIS2`."""
    found, densities = [], []
    for points in features:
        names, posterior, distances, density = classScores(points, classes)
        mean = posterior.mean(axis=0)
        best = int(np.argmax(mean))
        typical = float(np.median(distances[:, best])) <= TYPICAL_MAHALANOBIS2
        found.append(names[best] if mean[best] >= NAME_CONFIDENCE and typical else None)
        densities.append(density)
    return found, float(np.median(np.concatenate(densities)))


def nameBranches(branches: list[Branch], tree: str, model: dict | None = None) -> tuple[dict[str, str], str]:
    """Rename the confidently classified branches of a ``tree`` ("left"/"right") by anatomy (module docstring), the
    parents' references with them. Returns ({old name: new name} of the renamed branches, a warning or ""): where the
    other side's classes explain the tree's points better (a higher median log density), the tree looks like the
    other side's, no branch is renamed and the warning says so."""
    if tree not in CLASSES:
        raise ValueError(f"tree must be 'left' or 'right', not {tree!r}")
    if not branches:
        return {}, ""
    model = model or loadModel()
    features = branchFeatures(branches)
    other = "right" if tree == "left" else "left"
    found, density = classifyBranches(features, model[tree])
    _, otherDensity = classifyBranches(features, model[other])
    if otherDensity > density:
        return {}, (f"the centerlines fit the {other} coronary tree's anatomy better than the {tree} one given "
                    f"(median log density of their points under the {other} tree's vessels {otherDensity:.1f}, the "
                    f"{tree} tree's {density:.1f}): branches are left numbered; check --tree")
    ostium = next((b.pointsLps[0] for b in branches if b.ostium), branches[0].pointsLps[0])
    members: dict[str, list[Branch]] = {}
    for branch, name in zip(branches, found):
        if name is not None:
            members.setdefault(name, []).append(branch)
    renamed = {}
    for name, group in members.items():
        group.sort(key=lambda b: float(np.linalg.norm(b.pointsLps[0] - ostium)))
        for number, branch in enumerate(group, 1):
            if name in NUMBERED:
                renamed[branch.name] = f"{name}{number}"
            else:
                renamed[branch.name] = name if number == 1 else f"{name} ({number})"
    for branch in branches:
        branch.parent = renamed.get(branch.parent, branch.parent)
    for branch in branches:
        branch.name = renamed.get(branch.name, branch.name)
    return renamed, ""


def isAnatomical(name: str) -> bool:
    """Whether a branch name is an anatomical one (not the number ``branch N`` the reconstruction gives)."""
    return not name.startswith("branch ")


def namedFraction(branches: list[Branch]) -> float:
    """Share of the tree's centerline length whose branch carries an anatomical name (not ``branch N``)."""
    total = sum(b.lengthMm for b in branches)
    named = sum(b.lengthMm for b in branches if isAnatomical(b.name))
    return named / total if total > 0 else 0.0

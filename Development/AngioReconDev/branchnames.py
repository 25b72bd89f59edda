"""Fit AngioRecon's branch-name classes (:mod:`AngioReconLib.branchnames`) on the true centerlines of training trees.

    python -m AngioReconDev.branchnames [--trees 150] [--out AngioRecon/Resources/Models/AngioRecon-branchnames.json]

Trees: the training seeds (from 0) of each side, augmented as in training (:func:`.dataset.augmentedTree`); every
third point of every true vessel, its class the vessel's name without its number. Each class is a Gaussian (mean,
covariance with 1e-3 added on the diagonal, prior its share of the side's points). Deterministic.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from AngioReconLib.branchnames import CLASSES, MODEL_PATH, pointFeatures, treeFrame

from .dataset import augmentedTree

POINT_STRIDE = 3
COVARIANCE_RIDGE = 1e-3


def vesselClass(name: str) -> str:
    """A vessel's class: a true vessel's name or a branch's anatomical name without its number (D2 -> D,
    "LAD (2)" -> LAD)."""
    return name.split(" (")[0].rstrip("0123456789")


def caseFeatures(case) -> tuple[np.ndarray, np.ndarray]:
    """([N, 7] features of every POINT_STRIDE-th true centerline point, [N] their classes) of one true tree."""
    centre, scale = treeFrame(np.concatenate([v.pointsLps for v in case.vessels]),
                              np.concatenate([v.radiiMm for v in case.vessels]))
    features, labels = [], []
    for vessel in case.vessels:
        features.append(pointFeatures(vessel.pointsLps, vessel.radiiMm, centre, scale)[::POINT_STRIDE])
        labels += [vesselClass(vessel.name)] * len(features[-1])
    return np.concatenate(features), np.array(labels)


def fitClasses(trees: int) -> dict:
    """{"classes": {side: {class: mean, covariance, prior, points}}, "trees": {side: count}}."""
    collected = {side: ([], []) for side in CLASSES}
    seed = 0
    while min(len(found[0]) for found in collected.values()) < trees:
        side, case, _ = augmentedTree(seed)
        if len(collected[side][0]) < trees:
            features, labels = caseFeatures(case)
            collected[side][0].append(features)
            collected[side][1].append(labels)
        seed += 1
    model = {"classes": {}, "trees": {side: trees for side in CLASSES}, "last_seed": seed - 1,
             "command": "python -m AngioReconDev.branchnames", "point_stride": POINT_STRIDE}
    for side, (features, labels) in collected.items():
        features, labels = np.concatenate(features), np.concatenate(labels)
        if set(labels) != set(CLASSES[side]):
            raise ValueError(f"{side} trees hold classes {sorted(set(labels))}, expected {sorted(CLASSES[side])}")
        model["classes"][side] = {}
        for name in CLASSES[side]:
            members = features[labels == name]
            covariance = np.cov(members.T) + COVARIANCE_RIDGE * np.eye(members.shape[1])
            model["classes"][side][name] = {"mean": np.round(members.mean(axis=0), 6).tolist(),
                                            "covariance": np.round(covariance, 8).tolist(),
                                            "prior": round(len(members) / len(features), 6),
                                            "points": int(len(members))}
    return model


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=150, help="training trees per side")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    arguments = parser.parse_args(argv)
    model = fitClasses(arguments.trees)
    arguments.out.write_text(json.dumps(model, indent=1) + "\n")
    print(f"wrote {arguments.out}: "
          + ", ".join(f"{side} {list(classes)}" for side, classes in model["classes"].items()))


if __name__ == "__main__":
    main()

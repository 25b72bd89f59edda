"""AngioRecon's vessel maps of raw angiograms against the true vessel masks of held-out synthetic trees.

    python -m AngioReconDev.vesselmapcheck --cases 30 [--first 20] [--pixels 512] [--ood]

Each held-out tree of :mod:`.qcacheck` (the same seeds, views and renderer; ``--ood`` its out-of-distribution trees and
renderer) is rendered as two raw angiograms; :func:`AngioReconLib.vessels.vesselMapFromAngiogram` maps each, and the
map is compared with the true mask at the working spacing (Dice, precision, recall) and put through the runtime's
map gates (:func:`~AngioReconLib.vessels.checkVesselMap`). Also printed: of the true stenoses >= 50 %, in how many
views the stenosis's centre lies in the map (a map that breaks there ends the centerline at the lesion).
"""

from __future__ import annotations

import argparse

import numpy as np

from AngioReconLib import vessels
from AngioReconLib.centerlines import arcLength
from ReconCoreLib.plausibility import ImplausibleResult
from ReconCoreLib.resample import resizeImage

from .dataset import HELD_OUT_SEED_OFFSET
from .qcacheck import heldOutCase


def viewScores(view, mask, case) -> dict:
    vesselMap, spacing = vessels.vesselMapFromAngiogram(view.pixels, view.geometry)
    found, truth = vesselMap > 0.5, resizeImage(mask, *vesselMap.shape) >= 0.5
    overlap = float((found & truth).sum())
    scores = {"dice": 2 * overlap / max(found.sum() + truth.sum(), 1), "precision": overlap / max(found.sum(), 1),
              "recall": overlap / max(truth.sum(), 1), "passes_gates": 1.0}
    try:
        vessels.checkVesselMap(vesselMap, spacing, "view")
    except ImplausibleResult:
        scores["passes_gates"] = 0.0
    inMap = []
    projection = view.geometry.projectionMatrixLps()
    for stenosis in case.stenoses:
        if stenosis["percent"] < 50:
            continue
        vessel = case.vessel(stenosis["vessel"])
        centre = vessel.pointsLps[int(np.argmin(np.abs(arcLength(vessel.pointsLps) - stenosis["arcMm"])))]
        homogeneous = projection @ np.append(centre, 1.0)
        column, row = homogeneous[:2] / homogeneous[2]  # pixels of the view, then of the map (its own scale per axis)
        column = (column + 0.5) * found.shape[1] / view.geometry.columns - 0.5
        row = (row + 0.5) * found.shape[0] / view.geometry.rows - 0.5
        inside = 0 <= round(row) < found.shape[0] and 0 <= round(column) < found.shape[1]
        inMap.append(bool(inside and found[int(round(row)), int(round(column))]))
    scores["stenoses_in_map"] = inMap
    return scores


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--first", type=int, default=20)
    parser.add_argument("--pixels", type=int, default=512)
    parser.add_argument("--ood", action="store_true", help="the out-of-distribution trees and renderer")
    arguments = parser.parse_args(argv)
    rows, stenoses = [], []
    for seed in range(HELD_OUT_SEED_OFFSET + arguments.first, HELD_OUT_SEED_OFFSET + arguments.first + arguments.cases):
        held = heldOutCase(seed, arguments.pixels, raw=True, ood=arguments.ood)
        for index, (view, mask) in enumerate(zip(held["views"], held["masks"])):
            scores = viewScores(view, mask, held["case"])
            stenoses.extend(scores.pop("stenoses_in_map"))
            rows.append(scores)
            print(f"{seed} view {index + 1} " + "  ".join(f"{key} {value:.3f}" for key, value in scores.items()),
                  flush=True)
    print(f"{len(rows)} views of {arguments.cases} trees, {arguments.pixels} px"
          + (", out-of-distribution trees and renderer" if arguments.ood else ""))
    for key in rows[0]:
        values = np.array([row[key] for row in rows])
        print(f"  {key}: mean {values.mean():.3f} median {np.median(values):.3f}")
    print(f"  stenoses >= 50 %: centre in the map in {sum(stenoses)} of {len(stenoses)} views")


if __name__ == "__main__":
    main()

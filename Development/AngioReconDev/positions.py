"""AngioRecon with the heart off the isocenter: the whole reconstruction on held-out trees moved anywhere within
+-40 mm.

    python -m AngioReconDev.positions --cases 100                    # the cube placed on the tree (the run's)
    python -m AngioReconDev.positions --cases 100 --isocenter-cube   # the cube fixed on the isocenter, never moved
    python -m AngioReconDev.positions --cases 100 --unmoved          # trees where training has them

Each held-out tree (seeds from :data:`~.dataset.HELD_OUT_SEED_OFFSET`, two thirds left, augmented as in training) is
moved by a uniform offset within +-:data:`OFFSET_MM` mm along each LPS axis (none with ``--unmoved``) and seen from a
pair of standard views (:func:`.coronaryimages.sampleViewPair`: angles, SID and SOD as in training) on a detector
:data:`FIELD_FACTOR` times the training field (:data:`DETECTOR_PIXELS` pixels): a moved heart must stay in view.
The input maps are imperfect vessel maps as in training, thresholded at 0.5 (a binary map, as a user gives). Every
case goes through :func:`AngioReconLib.pipeline.reconstruct` (implausible results kept) and is scored against the
moved tree's voxel label (3D Dice on a 384 mm grid of the cube's voxels, so tree outside the cube counts as missed;
threshold 0.5, label at the training threshold). Prints one row per case and the medians and means.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from AngioReconLib import pipeline
from AngioReconLib.conventions import CUBE_SIDE_MM, GRID_SIZE
from ReconCoreLib.metrics import overlapMetrics
from ReconCoreLib.plausibility import keepingImplausible
from ReconCoreLib.xrayio import XrayImage

from . import coronaryimages, coronarytree
from .dataset import HELD_OUT_SEED_OFFSET, LABEL_THRESHOLD

OFFSET_MM = 40.0
#: Detector field as a multiple of the training field (1.11 x the 128 mm cube at the isocenter), and its pixels.
FIELD_FACTOR, DETECTOR_PIXELS = 1.8, 256
#: Side (mm) of the grid about the isocenter on which results are scored: any cube placed within +-128 mm fits.
SCORE_SIDE_MM = 384.0


def movedCase(seed: int, moved: bool = True, fieldFactor: float = FIELD_FACTOR, offsetMm=None) -> dict:
    """The held-out tree of ``seed`` moved by a random offset (none when not ``moved``; ``offsetMm`` when given: the
    views stay those of the seed), its two views' vessel maps (imperfect) and geometries."""
    rng = np.random.default_rng([seed, 17])
    tree = "left" if seed % 3 else "right"
    case = coronarytree.augment(coronarytree.generateCase(seed, tree), rng)
    drawn = rng.uniform(-OFFSET_MM, OFFSET_MM, 3)
    offset = np.asarray(offsetMm, dtype=float) if offsetMm is not None else drawn if moved else np.zeros(3)
    case = coronarytree.translate(case, offset)
    views = []
    for geometry in coronaryimages.sampleViewPair(tree, rng):
        wide = replace(geometry, pixelSpacingMm=tuple(spacing * fieldFactor * geometry.rows / DETECTOR_PIXELS
                                                      for spacing in geometry.pixelSpacingMm),
                       rows=DETECTOR_PIXELS, columns=DETECTOR_PIXELS)
        clean = coronaryimages.renderVesselMap(case, wide)
        imperfect = coronaryimages.perturbVesselMap(clean, case, wide, rng)
        views.append(XrayImage((imperfect >= 0.5).astype(np.float32), wide, f"tree {seed}"))  # a binary map
    return {"tree": tree, "case": case, "offset": offset, "views": views}


def score(moved: dict, result) -> float:
    """3D Dice of the result against the moved tree, both on a :data:`SCORE_SIDE_MM` grid about the isocenter of the
    cube's 2 mm voxels (the cube moves by whole voxels), so tree outside the cube counts as missed."""
    spacing = CUBE_SIDE_MM / GRID_SIZE
    size = int(round(SCORE_SIDE_MM / spacing))
    occupancy, _ = coronaryimages.voxelize(moved["case"], size, SCORE_SIDE_MM)
    start = np.rint((result.cubeCentreLps + (SCORE_SIDE_MM - CUBE_SIDE_MM) / 2) / spacing).astype(int)  # (i, j, k)
    placed = np.zeros((size,) * 3, bool)
    i, j, k = start
    placed[k:k + GRID_SIZE, j:j + GRID_SIZE, i:i + GRID_SIZE] = result.probability >= 0.5
    return overlapMetrics(placed, occupancy >= LABEL_THRESHOLD)["dice"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--isocenter-cube", action="store_true", help="the cube on the isocenter (no placement)")
    parser.add_argument("--unmoved", action="store_true", help="the trees where training has them")
    parser.add_argument("--field-factor", type=float, default=FIELD_FACTOR,
                        help="detector field as a multiple of the training field (default %(default)s)")
    arguments = parser.parse_args(argv)
    if arguments.isocenter_cube:
        pipeline.locateTree = lambda maps, geometries: (np.zeros(3), 0.0)
        pipeline.RECENTRE_PASSES = 0
    dices, stopped, started = [], [], time.time()
    for index in range(arguments.cases):
        seed = HELD_OUT_SEED_OFFSET + index
        moved = movedCase(seed, not arguments.unmoved, arguments.field_factor)
        line = f"{seed} {moved['tree']:5s} offset {np.round(moved['offset']).astype(int)}"
        try:
            with keepingImplausible():
                result = pipeline.reconstruct(*moved["views"], moved["tree"], device="cpu")
        except ValueError as error:  # the vessel-map gates stop a run whatever is kept
            stopped.append(seed)
            print(f"{line}  stopped: {error}", flush=True)
            continue
        dices.append(score(moved, result))
        values = result.readouts.values
        print(f"{line}  cube {values.get('cube_offset_mm', 0.0):.1f} mm from the isocenter, views "
              f"{values.get('tree_location_disagreement_mm', 0.0):.1f} mm apart  Dice {dices[-1]:.3f}", flush=True)
    dices = np.array(dices)
    print(f"{arguments.cases} trees, {time.time() - started:.0f} s, "
          f"{'unmoved' if arguments.unmoved else f'moved within +-{OFFSET_MM:g} mm'}, cube "
          f"{'on the isocenter' if arguments.isocenter_cube else 'placed on the tree'}, field "
          f"{arguments.field_factor:g} x the training field: 3D Dice median "
          f"{np.median(dices):.3f} mean {dices.mean():.3f} ({len(dices)} reconstructed; {len(stopped)} stopped by "
          "the vessel-map gates)")


if __name__ == "__main__":
    main()

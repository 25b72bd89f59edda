"""Training and evaluation data for AngioRecon, generated (there is no CCTA data here).

One sample = a synthetic coronary tree (:mod:`coronarytree`, deterministic by seed), augmented as in the
paper (rotation 5-15 deg, scale 3-10 %), voxelized into the 64^3 cube, and seen from two standard
clinical views with jitter. The network's input is an *imperfect* vessel map of each view (missed small
branches, blur, noise), the 2D target the clean silhouette, the 3D target the voxel label.

Seeds: training uses seeds from 0, held-out evaluation seeds from :data:`HELD_OUT_SEED_OFFSET`, so the
two never share a tree.
"""

from __future__ import annotations

import argparse
import multiprocessing
from pathlib import Path

import numpy as np

from ReconCoreLib.xraygeometry import CArmGeometry

from AngioReconLib.conventions import CUBE_SIDE_MM, GRID_SIZE, IMAGE_SIZE

from . import coronaryimages, coronarytree

HELD_OUT_SEED_OFFSET = 1_000_000
VIEW_PAIRS_PER_CASE = 3
#: Voxels with partial-volume occupancy >= this are vessel in the 3D label. 0.25 rather than 0.5 keeps the
#: lumens under ~1.4 mm (about 3/4 of a 2 mm voxel) that a 0.5 threshold mostly drops.
LABEL_THRESHOLD = 0.25


def augmentedTree(seed: int) -> tuple[str, object, np.random.Generator]:
    """(side, the augmented true tree, the random stream the sample goes on drawing from) of seed ``seed``."""
    rng = np.random.default_rng([seed, 7])
    tree = "left" if seed % 3 else "right"  # left trees are the more varied: two thirds of the data
    return tree, coronarytree.augment(coronarytree.generateCase(seed, tree), rng), rng


def makeSample(seed: int) -> dict:
    """All arrays of one tree (``VIEW_PAIRS_PER_CASE`` view pairs), deterministic by ``seed``."""
    tree, case, rng = augmentedTree(seed)
    occupancy, _ = coronaryimages.voxelize(case, GRID_SIZE, CUBE_SIDE_MM)
    inputs, targets, projections, geometries = [], [], [], []
    for _ in range(VIEW_PAIRS_PER_CASE):
        pair = coronaryimages.sampleViewPair(tree, rng, IMAGE_SIZE, IMAGE_SIZE)
        for geometry in pair:
            clean = coronaryimages.renderVesselMap(case, geometry)
            targets.append(clean)
            inputs.append(coronaryimages.perturbVesselMap(clean, case, geometry, rng))
            projections.append(geometry.projectionMatrixLps())
            geometries.append([geometry.primaryAngleDeg, geometry.secondaryAngleDeg, geometry.sourceToDetectorMm,
                               geometry.sourceToPatientMm, *geometry.pixelSpacingMm])
    shape = (VIEW_PAIRS_PER_CASE, 2)
    return {
        "seed": seed,
        "tree": 0 if tree == "left" else 1,
        "label": (occupancy >= LABEL_THRESHOLD).astype(np.uint8),
        "inputs": np.asarray(inputs, np.float16).reshape(*shape, IMAGE_SIZE, IMAGE_SIZE),
        "targets": np.asarray(targets, np.float16).reshape(*shape, IMAGE_SIZE, IMAGE_SIZE),
        "projections": np.asarray(projections, np.float32).reshape(*shape, 3, 4),
        "geometries": np.asarray(geometries, np.float64).reshape(*shape, 6),
    }


def geometryFromRow(row: np.ndarray) -> CArmGeometry:
    """The CArmGeometry stored in a ``geometries`` row."""
    return CArmGeometry(row[0], row[1], row[2], row[3], (row[4], row[5]), IMAGE_SIZE, IMAGE_SIZE)


def buildDataset(seeds: list[int], path: str | Path, workers: int = 2, progress=None) -> Path:
    """Generate samples for ``seeds`` (in parallel) and store them in one compressed ``.npz``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = []
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for index, sample in enumerate(pool.imap(makeSample, seeds, chunksize=4)):
            samples.append(sample)
            if progress is not None:
                progress((index + 1) / len(seeds), f"{index + 1}/{len(seeds)} trees")
    arrays = {key: np.stack([sample[key] for sample in samples]) for key in samples[0]}
    temporary = path.with_suffix(".partial.npz")
    np.savez_compressed(temporary, **arrays)
    temporary.replace(path)
    return path


def loadDataset(path: str | Path) -> dict:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Generate AngioRecon training / held-out data")
    parser.add_argument("--out", required=True)
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--held-out", action="store_true", help="use the held-out seed range")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    offset = HELD_OUT_SEED_OFFSET if args.held_out else 0
    from ReconCoreLib.cli import ProgressBar

    bar = ProgressBar(description="trees")
    buildDataset(list(range(offset, offset + args.cases)), args.out, args.workers, bar)
    bar.close()


if __name__ == "__main__":
    main()

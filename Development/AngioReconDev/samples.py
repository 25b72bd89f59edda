"""Write AngioRecon's bundled sample cases (``python -m AngioReconDev.samples``; the runtime registry of names,
files and checksums is :mod:`AngioReconLib.samples`).

Two synthetic patients (seeds outside the training and held-out ranges), a left tree seen from RAO 30 / CAU 25
and LAO 45 / CRA 25, and a right tree seen from LAO 30 and RAO 30: multi-frame X-ray angiograms (3 frames:
early filling, full opacification, wash-out) with every geometry attribute, plus the ground-truth vessel
masks of the fully opacified frame (PNG) and the ground-truth 3D label (``.nrrd``, cube of the network).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from AngioReconLib.conventions import CUBE_SIDE_MM, GRID_SIZE
from AngioReconLib.reprojection import cubeIjkToLps
from AngioReconLib.samples import SAMPLE_DIRECTORY, SAMPLES, sampleFiles
from ReconCoreLib.xraygeometry import LPS_TO_RAS, CArmGeometry
from ReconCoreLib.xrayio import writeMaskImage

from . import coronaryimages, coronarytree
from .dataset import LABEL_THRESHOLD

SAMPLE_SEED_OFFSET = 2_000_000
IMAGE_SIZE = 256
#: name -> (seed, (primary, secondary, SID, SOD) of view 1, (... of view 2)); the tree is the registry's.
SAMPLE_VIEWS = {
    "AngioLeft": (SAMPLE_SEED_OFFSET + 1, (-30.0, -25.0, 1000.0, 750.0), (45.0, 25.0, 1050.0, 760.0)),
    "AngioRight": (SAMPLE_SEED_OFFSET + 2, (30.0, 0.0, 1000.0, 740.0), (-30.0, 0.0, 1020.0, 750.0)),
}


def sampleGeometry(primary: float, secondary: float, sid: float, sod: float) -> CArmGeometry:
    """The detector field of view used in training (the 128 mm cube fills ~90 % of the image)."""
    fieldMm = coronaryimages.FIELD_OF_VIEW_FACTOR * CUBE_SIDE_MM * sid / sod
    return CArmGeometry(primary, secondary, sid, sod, (fieldMm / IMAGE_SIZE,) * 2, IMAGE_SIZE, IMAGE_SIZE)


def _proximal(case: coronarytree.CoronaryCase) -> coronarytree.CoronaryCase:
    """Only the main vessels and their first branches: contrast still filling (or washing out)."""
    names = {vessel.name for vessel in case.vessels if vessel.parent is None}
    kept = [vessel for vessel in case.vessels if vessel.parent is None or vessel.parent in names]
    return coronarytree.CoronaryCase(case.tree, case.seed, kept, case.stenoses, case.heart)


def writeSampleCases(directory: str | Path) -> list[Path]:
    """Write every sample case into ``directory``; returns the files written."""
    from ReconCoreLib import runtime, storage
    from ReconCoreLib.xrayio import writeXrayDicom

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (seed, *views) in SAMPLE_VIEWS.items():
        tree = SAMPLES[name]
        files = sampleFiles(name, directory)
        case = coronarytree.generateCase(seed, tree)
        for index, view in enumerate(views, 1):
            geometry = sampleGeometry(*view)
            frames = []
            for frameCase in (_proximal(case), case, _proximal(case)):
                frames.append(coronaryimages.renderAngiogram(frameCase, geometry,
                                                             np.random.default_rng([seed, index])))
            path = files[f"view{index}"]
            writeXrayDicom(path, np.stack(frames), geometry, "XA", patientName=f"Recon2Dto3D^{name}",
                           patientId=name, seriesDescription=f"{tree} coronary, view {index}",
                           uidSeed=f"{name}-{index}", studySeed=name)
            mask = coronaryimages.renderVesselMap(case, geometry) >= 0.5
            writeMaskImage(files[f"mask{index}"], mask.astype(np.uint8) * 255)
            written += [path, files[f"mask{index}"]]
        occupancy, _ = coronaryimages.voxelize(case, GRID_SIZE, CUBE_SIDE_MM)
        scene = runtime.newHeadlessScene()
        try:
            label = runtime.volumeNodeFromArray(scene, (occupancy >= LABEL_THRESHOLD).astype(np.uint8),
                                                LPS_TO_RAS @ cubeIjkToLps(), name, labelmap=True)
            written.append(storage.saveNode(label, files["label"]))
        finally:
            runtime.releaseScene(scene)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(SAMPLE_DIRECTORY))
    args = parser.parse_args(argv)
    for path in writeSampleCases(args.out):
        print(path)


if __name__ == "__main__":
    main()

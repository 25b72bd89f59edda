"""Write AngioRecon's bundled sample cases as DICOM XA files (regenerate with ``python -m AngioReconLib.samples``).

Two synthetic patients (seeds outside the training and held-out ranges), a left tree seen from RAO 30 / CAU 25
and LAO 45 / CRA 25, and a right tree seen from LAO 30 and RAO 30: multi-frame X-ray angiograms (3 frames:
early filling, full opacification, wash-out) with every geometry attribute, plus the ground-truth vessel
masks of the fully opacified frame (PNG) and the ground-truth 3D label (``.nrrd``, cube of the network).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ReconCoreLib.xraygeometry import LPS_TO_RAS, CArmGeometry
from ReconCoreLib.xrayio import writeMaskImage

from . import coronarytree
from .dataset import LABEL_THRESHOLD
from .network import CUBE_SIDE_MM, GRID_SIZE, cubeIjkToLps

SAMPLE_SEED_OFFSET = 2_000_000
IMAGE_SIZE = 256
SAMPLES = {
    # name: (seed, tree, ((primary, secondary, SID, SOD) of view 1), (... of view 2))
    "AngioLeft": (SAMPLE_SEED_OFFSET + 1, "left", (-30.0, -25.0, 1000.0, 750.0), (45.0, 25.0, 1050.0, 760.0)),
    "AngioRight": (SAMPLE_SEED_OFFSET + 2, "right", (30.0, 0.0, 1000.0, 740.0), (-30.0, 0.0, 1020.0, 750.0)),
}


#: SHA-256 of the bundled sample files (checked by the tests and by Slicer's SampleData module).
SAMPLE_SHA256 = {
    "AngioLeft-view1.dcm": "15c26c17398ac5cba0ea69890d4e64e0921eaa29605de50824cec5f6f6d96084",
    "AngioLeft-view2.dcm": "863c1afcc3e777569e4c2101ad1f8002494c04491192668f03565dbe8ce0849a",
    "AngioRight-view1.dcm": "6dc453546e5e61a6bc547bb0db1ec537635a44d2813b97190eb227a5313a2696",
    "AngioRight-view2.dcm": "3cde5fc846c882868fba86ac20791dc83d55724b60f390a60aca5d2f2e740219",
}


def sampleGeometry(primary: float, secondary: float, sid: float, sod: float) -> CArmGeometry:
    """The detector field of view used in training (the 128 mm cube fills ~90 % of the image)."""
    fieldMm = coronarytree.FIELD_OF_VIEW_FACTOR * CUBE_SIDE_MM * sid / sod
    return CArmGeometry(primary, secondary, sid, sod, (fieldMm / IMAGE_SIZE,) * 2, IMAGE_SIZE, IMAGE_SIZE)


def _proximal(case: coronarytree.CoronaryCase) -> coronarytree.CoronaryCase:
    """Only the main vessels and their first branches: contrast still filling (or washing out)."""
    names = {vessel.name for vessel in case.vessels if vessel.parent is None}
    kept = [vessel for vessel in case.vessels if vessel.parent is None or vessel.parent in names]
    return coronarytree.CoronaryCase(case.tree, case.seed, kept, case.stenoses, case.heart)


def writeSampleCases(directory: str | Path) -> list[Path]:
    """Write every sample case into ``directory``; returns the files written."""
    from ReconCoreLib import runtime
    from ReconCoreLib.xrayio import writeXrayDicom

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (seed, tree, *views) in SAMPLES.items():
        case = coronarytree.generateCase(seed, tree)
        for index, view in enumerate(views, 1):
            geometry = sampleGeometry(*view)
            frames = []
            for frameCase in (_proximal(case), case, _proximal(case)):
                frames.append(coronarytree.renderAngiogram(frameCase, geometry, np.random.default_rng([seed, index])))
            path = directory / f"{name}-view{index}.dcm"
            writeXrayDicom(path, np.stack(frames), geometry, "XA", patientName=f"Recon2Dto3D^{name}",
                           patientId=name, seriesDescription=f"{tree} coronary, view {index}",
                           uidSeed=f"{name}-{index}")
            mask = coronarytree.renderVesselMap(case, geometry) >= 0.5
            maskPath = directory / f"{name}-view{index}-mask.png"
            writeMaskImage(maskPath, mask.astype(np.uint8) * 255)
            written += [path, maskPath]
        occupancy, _ = coronarytree.voxelize(case, GRID_SIZE, CUBE_SIDE_MM)
        scene = runtime.newHeadlessScene()
        try:
            label = runtime.volumeNodeFromArray(scene, (occupancy >= LABEL_THRESHOLD).astype(np.uint8),
                                                LPS_TO_RAS @ cubeIjkToLps(), name, labelmap=True)
            written.append(runtime.saveNode(label, directory / f"{name}-label.nrrd"))
        finally:
            runtime.releaseScene(scene)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "Resources" / "SampleData"))
    args = parser.parse_args(argv)
    for path in writeSampleCases(args.out):
        print(path)


if __name__ == "__main__":
    main()

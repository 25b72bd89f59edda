"""Write FemurRegistration's bundled sample cases (regenerate with ``python -m FemurRegistrationLib.samples``).

Two synthetic hips (phantoms of :mod:`.phantom` with seeds from 2,000,000: never used in training or in the
held-out evaluation), each as two DICOM DX radiographs (512 x 512 pixels of 0.4 mm, every geometry attribute,
ImageLaterality) simulated with :func:`.dataset.simulateRadiographs`:

- ``FemurOrthogonal``: a right femur, AP (primary 0) and lateral (primary -90: detector on the patient's right);
- ``FemurOblique``: a left femur (the mirror image of a phantom), AP rotated by -15 deg and a lateral at +110 deg
  (detector on the patient's left, 20 deg past the true lateral): in the right-femur frame the network sees
  AP +15 / lateral -110.

Beside each: the true femur masks of both views (PNG, 0/255), the reference femur segmentation (``.seg.nrrd``,
RAS, the phantom's 1 mm label) and the true hip measurements and landmarks (``-truth.json``, RAS mm).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ReconCoreLib.xraygeometry import LPS_TO_RAS, CArmGeometry
from ReconCoreLib.xrayio import writeMaskImage

SAMPLE_SEED_OFFSET = 2_000_000
DETECTOR_PIXELS = 512
DETECTOR_PIXEL_MM = 0.4
#: name: (phantom seed, side, (primary, secondary, SID, SOD) of the AP view, (...) of the lateral view)
SAMPLES = {
    "FemurOrthogonal": (SAMPLE_SEED_OFFSET + 1, "right", (0.0, 0.0, 1000.0, 925.0), (-90.0, 0.0, 1000.0, 925.0)),
    "FemurOblique": (SAMPLE_SEED_OFFSET + 2, "left", (-15.0, 0.0, 1000.0, 925.0), (110.0, 0.0, 1000.0, 925.0)),
}
HIP_KEYS = ("head_diameter_mm", "neck_shaft_angle_deg", "femoral_offset_mm", "anteversion_deg")

#: SHA-256 of the bundled sample files (checked by the tests and by Slicer's SampleData module).
SAMPLE_SHA256 = {
    "FemurOrthogonal-ap.dcm": "c4fa3d43dc8685c330af7771b5225cfd029c532d63fdca3a53ad2b2ccd1990b3",
    "FemurOrthogonal-ap-mask.png": "3639667e7a9a70cd863a8df397a6e9cd7c2f3d1322d2a702f97a067a39293134",
    "FemurOrthogonal-lat.dcm": "4b4af606267a41bc1906bf4a0814954786879d580824aff5a19ece67d97eef46",
    "FemurOrthogonal-lat-mask.png": "0435f270c94896fbf13e49c1568f3788350b7c446ec5f0345a31fb767005da55",
    "FemurOrthogonal-reference.seg.nrrd": "e0d5616866001b3dafa799f7168b1fe02f13e1f6cab47e0b25d0cbd356c5f4c5",
    "FemurOrthogonal-truth.json": "fa7e26b321d1aa7e74165a4195e3f8f511cd9b2628f21a9811fb0bdec47bcd12",
    "FemurOblique-ap.dcm": "a81e98baf4693bfb7209d0dcb2c8ca6c5dccd6aeee39a9f1d147ab39b4d612e8",
    "FemurOblique-ap-mask.png": "d4defcbe8108f0ba6a2c2c6335c95f56cc02da7dd42917e5b07e477712f75cfd",
    "FemurOblique-lat.dcm": "7ef3591d119caeba5ca4f3b5db9b6cf0c4ceedc4edce412975a3816284347152",
    "FemurOblique-lat-mask.png": "ecfcabc59cda3f95b516310404060f28041bbc0bf7fdb8603b33a1cac916b50f",
    "FemurOblique-reference.seg.nrrd": "e10e33a426ae1ff68b09e3896816d056b4e603f4c2836f9250d01a320e32176e",
    "FemurOblique-truth.json": "82aa075ff00fcb329ed406d9f331d83873a2d79c5b17522c4dc1d28dcf739979",
}


def sampleGeometry(primary: float, secondary: float, sid: float, sod: float) -> CArmGeometry:
    """A 512 x 512 detector of 0.4 mm pixels (205 mm square)."""
    return CArmGeometry(primary, secondary, sid, sod, (DETECTOR_PIXEL_MM, DETECTOR_PIXEL_MM), DETECTOR_PIXELS,
                        DETECTOR_PIXELS)


def _field(case, key):
    return case[key] if isinstance(case, dict) else getattr(case, key)


def samplePhantom(seed: int, side: str) -> dict:
    """The phantom of a sample case in the patient frame (mirrored through x = 0 for a left femur)."""
    from . import phantom
    from .pipeline import mirrorIjkToLps

    case = phantom.makeCase(seed)
    hu, label = np.asarray(_field(case, "hu")), np.asarray(_field(case, "label"))
    ijkToLps = np.asarray(_field(case, "ijkToLps"), dtype=float)
    measurements = dict(_field(case, "measurements"))
    if side == "left":
        mirror = np.array([-1.0, 1.0, 1.0])
        ijkToLps = mirrorIjkToLps(ijkToLps, hu.shape)
        hu, label = np.ascontiguousarray(hu[..., ::-1]), np.ascontiguousarray(label[..., ::-1])
        measurements = {key: (np.asarray(value) * mirror if key.endswith("_lps") else value)
                        for key, value in measurements.items()}
    return {"hu": hu, "label": label, "ijkToLps": ijkToLps, "measurements": measurements}


def _truth(name: str, seed: int, side: str, measurements: dict) -> dict:
    truth = {"case": name, "seed": seed, "side": side}
    truth.update({key: round(float(measurements[key]), 4) for key in HIP_KEYS})
    for key, value in measurements.items():
        if key.endswith("_lps") and np.shape(value) == (3,):
            truth[key[:-4] + "_ras"] = [round(float(v), 4) for v in np.asarray(value) * np.array([-1.0, -1.0, 1.0])]
    return truth


def writeSampleCases(directory: str | Path, names=None) -> list[Path]:
    """Write the sample cases (all, or those in ``names``) into ``directory``; returns the files written."""
    import pydicom
    import torch

    from ReconCoreLib import runtime
    from ReconCoreLib.xrayio import writeXrayDicom

    from .dataset import simulateRadiographs
    from .pipeline import FEMUR_COLOR

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same float sums on any machine
    try:
        for name, (seed, side, *views) in SAMPLES.items():
            if names is not None and name not in names:
                continue
            case = samplePhantom(seed, side)
            rng = np.random.default_rng([seed, 7])
            for view, parameters, position in zip(("ap", "lat"), views, ("AP", "LL" if side == "left" else "RL")):
                geometry = sampleGeometry(*parameters)
                images, masks = simulateRadiographs(case["hu"], case["label"], case["ijkToLps"], [geometry], rng)
                path = directory / f"{name}-{view}.dcm"
                writeXrayDicom(path, images[0], geometry, "DX", patientName=f"Recon2Dto3D^{name}", patientId=name,
                               seriesDescription=f"{side} hip, {view.upper()} view", uidSeed=f"{name}-{view}")
                dataset = pydicom.dcmread(str(path))
                dataset.ImageLaterality = side[0].upper()
                dataset.ViewPosition = position
                dataset.save_as(str(path), enforce_file_format=True)
                maskPath = directory / f"{name}-{view}-mask.png"
                writeMaskImage(maskPath, masks[0].astype(np.uint8) * 255)
                written += [path, maskPath]
            scene = runtime.newHeadlessScene()
            try:
                segmentation = runtime.segmentationNodeFromLabelmap(
                    scene, case["label"], LPS_TO_RAS @ case["ijkToLps"], {1: ("femur", FEMUR_COLOR)},
                    f"{name} reference femur", closedSurface=False)
                _nameSegmentIds(segmentation)
                written.append(runtime.saveNode(segmentation, directory / f"{name}-reference.seg.nrrd"))
            finally:
                runtime.releaseScene(scene)
            truthPath = directory / f"{name}-truth.json"
            truthPath.write_text(json.dumps(_truth(name, seed, side, case["measurements"]), indent=2) + "\n")
            written.append(truthPath)
    finally:
        torch.set_num_threads(threads)
    return written


def _nameSegmentIds(segmentation) -> None:
    """Segment IDs = segment names (Slicer makes random ones), so the written file is the same every time."""
    contents = segmentation.GetSegmentation()
    for index in range(contents.GetNumberOfSegments()):
        segmentId = contents.GetNthSegmentID(index)
        segment = contents.GetSegment(segmentId)
        contents.RemoveSegment(segmentId)
        contents.AddSegment(segment, segment.GetName())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "Resources" / "SampleData"))
    args = parser.parse_args(argv)
    from ReconCoreLib.models import sha256

    for path in writeSampleCases(args.out):
        print(f'    "{path.name}": "{sha256(path)}",')


if __name__ == "__main__":
    main()

"""Write FemurRegistration's bundled sample cases (``python -m FemurRegistrationDev.samples``; the runtime registry
of names, files and checksums is :mod:`FemurRegistrationLib.samples`).

Three synthetic hips (phantoms of :mod:`.phantom` with seeds from 2,000,000: never used in training or in the
held-out evaluation), each as two DICOM DX radiographs (512 x 512 pixels of 0.4 mm, 0.6 mm for the hip-centred one,
every geometry attribute, ImageLaterality) simulated with :func:`.dataset.simulateRadiographs`:

- ``FemurOrthogonal``: a right femur, AP (primary 0) and lateral (primary -90: detector on the patient's right);
- ``FemurOblique``: a left femur (the mirror image of a phantom), AP rotated by -15 deg and a lateral at +110 deg
  (detector on the patient's left, 20 deg past the true lateral): in the right-femur frame the network sees
  AP +15 / lateral -110.
- ``FemurHipCentred``: a right femur, AP and lateral -90 as ``FemurOrthogonal``, moved so its femoral head centre
  lies on the central ray (the isocenter), as a hip-centred radiograph is taken (:data:`HIP_CENTRED`), on 0.6 mm
  pixels.

Beside each: the true femur masks of both views (PNG, 0/255), the reference femur segmentation (``.seg.nrrd``,
RAS, the phantom's 1 mm label) and the true hip measurements and landmarks (``-truth.json``, RAS mm).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from FemurRegistrationLib.mirroring import mirrorIjkToLps
from FemurRegistrationLib.outputs import FEMUR_COLOR
from FemurRegistrationLib.samples import SAMPLE_DIRECTORY, SAMPLES, sampleFiles
from ReconCoreLib.xraygeometry import LPS_TO_RAS, CArmGeometry
from ReconCoreLib.xrayio import writeMaskImage

from . import phantom
from .dataset import simulateRadiographs

SAMPLE_SEED_OFFSET = 2_000_000
DETECTOR_PIXELS = 512
DETECTOR_PIXEL_MM = 0.4
#: name: (phantom seed, (primary, secondary, SID, SOD) of the AP view, (...) of the lateral view); the side is the
#: registry's.
SAMPLE_VIEWS = {
    "FemurOrthogonal": (SAMPLE_SEED_OFFSET + 1, (0.0, 0.0, 1000.0, 925.0), (-90.0, 0.0, 1000.0, 925.0)),
    "FemurOblique": (SAMPLE_SEED_OFFSET + 2, (-15.0, 0.0, 1000.0, 925.0), (110.0, 0.0, 1000.0, 925.0)),
    "FemurHipCentred": (SAMPLE_SEED_OFFSET + 3, (0.0, 0.0, 1000.0, 925.0), (-90.0, 0.0, 1000.0, 925.0)),
}
#: Samples whose femoral head centre is moved onto the central ray, as a hip-centred radiograph is taken (the other
#: samples keep the phantom's own position, the head 51 and 58 mm off it), on a detector of 0.6 mm pixels (307 mm
#: square, so 150 mm of shaft below the head are seen, as on a hip radiograph; 0.4 mm pixels would show 100 mm).
HIP_CENTRED = ("FemurHipCentred",)
HIP_CENTRED_PIXEL_MM = 0.6
HIP_KEYS = ("head_diameter_mm", "neck_shaft_angle_deg", "femoral_offset_mm", "anteversion_deg")


def sampleGeometry(primary: float, secondary: float, sid: float, sod: float,
                   pixelMm: float = DETECTOR_PIXEL_MM) -> CArmGeometry:
    """A 512 x 512 detector of ``pixelMm`` pixels (0.4 mm: 205 mm square)."""
    return CArmGeometry(primary, secondary, sid, sod, (pixelMm, pixelMm), DETECTOR_PIXELS, DETECTOR_PIXELS)


def samplePixelMm(name: str) -> float:
    """The detector pixel size of a sample case (mm)."""
    return HIP_CENTRED_PIXEL_MM if name in HIP_CENTRED else DETECTOR_PIXEL_MM


def _field(case, key):
    return case[key] if isinstance(case, dict) else getattr(case, key)


def samplePhantom(seed: int, side: str) -> dict:
    """The phantom of a sample case in the patient frame (mirrored through x = 0 for a left femur)."""
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


def headOnCentralRay(case: dict) -> dict:
    """The phantom moved so its femoral head centre lies on the isocenter (every landmark with it)."""
    shift = -np.asarray(case["measurements"]["head_centre_lps"], dtype=float)
    ijkToLps = np.array(case["ijkToLps"], dtype=float)
    ijkToLps[:3, 3] += shift
    measurements = {key: (np.asarray(value) + shift if key.endswith("_lps") and np.shape(value) == (3,) else value)
                    for key, value in case["measurements"].items()}
    return dict(case, ijkToLps=ijkToLps, measurements=measurements)


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

    from ReconCoreLib import runtime, storage
    from ReconCoreLib.xrayio import saveDicom, writeXrayDicom

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same float sums on any machine
    try:
        for name, (seed, *views) in SAMPLE_VIEWS.items():
            if names is not None and name not in names:
                continue
            side = SAMPLES[name]
            files = sampleFiles(name, directory)
            case = samplePhantom(seed, side)
            if name in HIP_CENTRED:
                case = headOnCentralRay(case)
            rng = np.random.default_rng([seed, 7])
            for view, parameters, position in zip(("ap", "lat"), views, ("AP", "LL" if side == "left" else "RL")):
                geometry = sampleGeometry(*parameters, samplePixelMm(name))
                images, masks = simulateRadiographs(case["hu"], case["label"], case["ijkToLps"], [geometry], rng)
                path = files[view]
                writeXrayDicom(path, images[0], geometry, "DX", patientName=f"Recon2Dto3D^{name}", patientId=name,
                               seriesDescription=f"{side} hip, {view.upper()} view", uidSeed=f"{name}-{view}",
                               studySeed=name)
                dataset = pydicom.dcmread(str(path))
                dataset.ImageLaterality = side[0].upper()
                dataset.ViewPosition = position
                saveDicom(dataset, path)
                maskPath = files[f"{view}Mask"]
                writeMaskImage(maskPath, masks[0].astype(np.uint8) * 255)
                written += [path, maskPath]
            scene = runtime.newHeadlessScene()
            try:
                segmentation = runtime.segmentationNodeFromLabelmap(
                    scene, case["label"], LPS_TO_RAS @ case["ijkToLps"], {1: ("femur", FEMUR_COLOR)},
                    f"{name} reference femur", closedSurface=False)
                _nameSegmentIds(segmentation)
                written.append(storage.saveNode(segmentation, files["reference"]))
            finally:
                runtime.releaseScene(scene)
            truthPath = files["truth"]
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
    parser.add_argument("--out", default=str(SAMPLE_DIRECTORY))
    args = parser.parse_args(argv)
    from ReconCoreLib.models import sha256

    for path in writeSampleCases(args.out):
        print(f'    "{path.name}": "{sha256(path)}",')


if __name__ == "__main__":
    main()

"""Write EchoRecon's sample patients as PNG views with JSON sidecars and the sample cine case as DICOM US cines
(``python -m EchoReconDev.samples``; the runtime registry of names, files and checksums is :mod:`EchoReconLib.samples`).

Two synthetic patients made by the project's own generator (:func:`EchoReconDev.echosim.makeCase`, seeds outside
any training range): **EchoNormal** (EDV 120 mL, EF 60 %) and **EchoDilated** (dilated cardiomyopathy, EDV 250 mL,
EF 25 %), each at end-diastole (ED) and end-systole (ES) in the six views (A4C, A2C, A3C, SAXB, SAXM, SAXA).

Files: ``<patient>_<phase>_<view>.png`` (8-bit grey, 128 x 128, sector apex at the top middle) and
``<patient>_<phase>_<view>.json``: ``ViewLabel``, ``CardiacPhase``, ``PatientID``, ``PixelSpacing`` ([row, column]
mm, DICOM keyword), ``Rows``, ``Columns``, ``SectorHalfAngleDeg``, ``GroundTruth`` (LV EDV, ESV, EF, LV mass and
every structure's volume at this phase, from the generating mesh). With ``labels=True`` the true label images
(0 background, 1 LV cavity, 2 LV myocardium, 3 RV, 4 LA, 5 RA, 6 aortic root) go to ``GroundTruth/`` beside them.

The cine case **EchoNormalCine** (:data:`~EchoReconLib.samples.SAMPLE_CINES`) is the EchoNormal patient through one
cardiac cycle: ``EchoNormalCine_<view>.dcm``, one DICOM Ultrasound Multi-frame file per view
(:func:`~.usdicom.writeUltrasoundDicom`: Modality US, PatientID EchoNormal, the view as SeriesDescription) of
:data:`CINE_FRAMES` frames, 128 x 128 8-bit at the view's pixel spacing, the sector apex the ultrasound region's
reference point (row 0, between the two middle columns: the image is read on the network's grid as it is, no
resampling). Frame f shows the mesh (1 - w) ED + w ES, w = (1 - cos(2 pi f / 10)) / 2: ED at frame 0, ES at frame 5,
relaxing again; the view planes and renderer settings are makeCase's for that patient, and the ED and ES frames are
the EchoNormal ED and ES images pixel for pixel. ``EchoNormalCine.json``: ``PatientID``, ``NumberOfFrames``,
``FrameTimeMs`` and ``GroundTruth`` (LV EDV, ESV, EF, LV mass, ``edFrame`` 0, ``esFrame`` 5).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from EchoReconLib.conventions import IMAGE_SIZE, PHASES, VIEWS
from EchoReconLib.samples import (SAMPLE_CINES, SAMPLE_DIRECTORY, SAMPLE_PATIENTS, cineFiles, cineTruthFile,
                                  sampleFiles)
from EchoReconLib.template import HeartTemplate
from EchoReconLib.viewplanes import SECTOR_HALF_ANGLE_DEG, sliceLabels
from ReconCoreLib.xrayio import writeMaskImage

from .echosim import caseHeart, makeCase, standardNoise, standardSettings
from .ultrasound import simulateEcho
from .usdicom import writeUltrasoundDicom

SAMPLE_SEED_OFFSET = 3_000_000
#: Registry name -> generator settings.
SAMPLE_SETTINGS = {
    "EchoNormal": {"seed": SAMPLE_SEED_OFFSET + 1, "phenotype": "normal", "edvMl": 120.0, "efPercent": 60.0,
                   "wallThicknessMm": 9.0},
    "EchoDilated": {"seed": SAMPLE_SEED_OFFSET + 2, "phenotype": "dilated", "edvMl": 250.0, "efPercent": 25.0,
                    "wallThicknessMm": 8.0},
}
#: Frames of a sample cine (one cardiac cycle), its end-diastolic and end-systolic frames (zero-based).
CINE_FRAMES, CINE_ED_FRAME, CINE_ES_FRAME = 10, 0, 5
#: Frame time of a sample cine (ms): one cycle a second, a heart rate of 60 / min.
CINE_FRAME_TIME_MS = 100.0


def groundTruth(values, phenotype: str) -> dict:
    """A sample's true LV EDV, ESV, EF and LV mass (from ``values``: a simulated case or a heart's measurements),
    rounded as the sidecars hold them, and its phenotype."""
    return {"edvMl": round(values["edvMl"], 2), "esvMl": round(values["esvMl"], 2),
            "efPercent": round(values["efPercent"], 2), "lvMassG": round(values["lvMassG"], 1), "phenotype": phenotype}


def writeSamples(directory: str | Path, labels: bool = False) -> list[Path]:
    """Write both sample patients and the sample cine case into ``directory``; returns the files written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for patient in SAMPLE_PATIENTS:
        settings = dict(SAMPLE_SETTINGS[patient])
        files = sampleFiles(patient, directory)
        case = makeCase(settings.pop("seed"), phenotype=settings.pop("phenotype"), **settings)
        for phaseIndex, phase in enumerate(PHASES):
            volumes = case["volumesEdMl"] if phase == "ED" else case["volumesEsMl"]
            truth = {**groundTruth(case, case["phenotype"]),
                     "volumesMl": {name: round(value, 2) for name, value in volumes.items()}}
            for viewIndex, view in enumerate(VIEWS):
                png = files[phase][view]
                stem = png.stem
                image = case["images"][phaseIndex, viewIndex]
                writeMaskImage(png, np.round(image * 255.0).astype(np.uint8))
                spacing = round(float(case["pixelSpacingMm"][viewIndex]), 6)
                sidecar = {"ViewLabel": view, "CardiacPhase": phase, "PatientID": patient,
                           "PixelSpacing": [spacing, spacing], "Rows": int(image.shape[0]),
                           "Columns": int(image.shape[1]), "SectorHalfAngleDeg": SECTOR_HALF_ANGLE_DEG,
                           "GroundTruth": truth}
                png.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
                written += [png, png.with_suffix(".json")]
                if labels:
                    (directory / "GroundTruth").mkdir(exist_ok=True)
                    path = directory / "GroundTruth" / f"{stem}_labels.png"
                    writeMaskImage(path, case["labels"][phaseIndex, viewIndex])
                    written.append(path)
    for cineCase, patient in SAMPLE_CINES.items():
        written += writeCineSample(directory, cineCase, patient)
    return written


def cineWeight(frame: int) -> float:
    """How far frame ``frame`` of a sample cine is from end-diastole toward end-systole: 0 at ED, 1 at ES."""
    return 0.5 * (1.0 - math.cos(2.0 * math.pi * frame / CINE_FRAMES))


def cineFrames(seed: int, viewIndex: int, shape, template: HeartTemplate, plane) -> np.ndarray:
    """uint8 [:data:`CINE_FRAMES`, 128, 128]: view ``viewIndex`` (``plane``) of the heart ``shape`` of case ``seed``
    through one cycle (module docstring), with the renderer settings makeCase draws for that view; the ED and ES
    frames take makeCase's noise draws of those phases (its images), the others draw theirs from (seed, 6, frame,
    view), a stream makeCase does not use."""
    settings = standardSettings(seed, viewIndex)
    images = np.zeros((CINE_FRAMES, plane.size, plane.size), np.float32)  # makeCase's precision, then 8 bits
    for frame in range(CINE_FRAMES):
        if frame in (CINE_ED_FRAME, CINE_ES_FRAME):  # the phase's mesh itself, not an interpolation of it
            phaseIndex = 0 if frame == CINE_ED_FRAME else 1
            vertices = shape.verticesEd if phaseIndex == 0 else shape.verticesEs
            rng = standardNoise(seed, viewIndex, phaseIndex)
        else:
            weight = cineWeight(frame)
            vertices = (1.0 - weight) * shape.verticesEd + weight * shape.verticesEs
            rng = np.random.default_rng([int(seed), 6, frame, viewIndex])
        images[frame] = simulateEcho(sliceLabels(vertices, template, plane), rng, plane.pixelMm, settings)
    return np.round(images * 255.0).astype(np.uint8)


def writeCineSample(directory: str | Path, case: str, patient: str) -> list[Path]:
    """Write the DICOM cines of sample cine case ``case`` (the sample patient ``patient``) and its JSON into
    ``directory`` (module docstring); returns the files written."""
    directory = Path(directory)
    settings = dict(SAMPLE_SETTINGS[patient])
    seed = settings.pop("seed")
    template = HeartTemplate.load()
    shape, planes = caseHeart(seed, template, settings.pop("phenotype"), **settings)
    apex = (0, (IMAGE_SIZE - 1) / 2.0)  # the renderer's apex: row 0, between the two middle columns
    written = []
    for viewIndex, (view, path) in enumerate(cineFiles(case, directory).items()):
        frames = cineFrames(seed, viewIndex, shape, template, planes[view])
        written.append(writeUltrasoundDicom(
            path, frames, planes[view].pixelMm, apex, uidSeed=f"{case} {view}", studySeed=case,
            frameTimeMs=CINE_FRAME_TIME_MS, PatientName=f"Synthetic^{patient}", PatientID=patient,
            SeriesDescription=view, SeriesNumber=viewIndex + 1, InstanceNumber=1,
            HeartRate=round(60000 / (CINE_FRAMES * CINE_FRAME_TIME_MS))))
    measurements = shape.measurements
    truth = {**groundTruth(measurements, shape.phenotype), "edFrame": CINE_ED_FRAME, "esFrame": CINE_ES_FRAME}
    path = cineTruthFile(case, directory)
    path.write_text(json.dumps({"PatientID": patient, "NumberOfFrames": CINE_FRAMES,
                                "FrameTimeMs": CINE_FRAME_TIME_MS, "GroundTruth": truth}, indent=2) + "\n",
                    encoding="utf-8")
    return written + [path]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(SAMPLE_DIRECTORY))
    parser.add_argument("--labels", action="store_true", help="also write the true label images")
    args = parser.parse_args(argv)
    for path in writeSamples(args.out, args.labels):
        print(path)


if __name__ == "__main__":
    main()

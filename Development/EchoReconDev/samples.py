"""Write EchoRecon's sample patients as PNG views with JSON sidecars (``python -m EchoReconDev.samples``; the
runtime registry of names, files and checksums is :mod:`EchoReconLib.samples`).

Two synthetic patients made by the project's own generator (:func:`EchoReconDev.echosim.makeCase`, seeds outside
any training range): **EchoNormal** (EDV 120 mL, EF 60 %) and **EchoDilated** (dilated cardiomyopathy, EDV 250 mL,
EF 25 %), each at end-diastole (ED) and end-systole (ES) in the six views (A4C, A2C, A3C, SAXB, SAXM, SAXA).

Files: ``<patient>_<phase>_<view>.png`` (8-bit grey, 128 x 128, sector apex at the top middle) and
``<patient>_<phase>_<view>.json``: ``ViewLabel``, ``CardiacPhase``, ``PatientID``, ``PixelSpacing`` ([row, column]
mm, DICOM keyword), ``Rows``, ``Columns``, ``SectorHalfAngleDeg``, ``GroundTruth`` (LV EDV, ESV, EF, LV mass and
every structure's volume at this phase, from the generating mesh). With ``labels=True`` the true label images
(0 background, 1 LV cavity, 2 LV myocardium, 3 RV, 4 LA, 5 RA, 6 aortic root) go to ``GroundTruth/`` beside them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from EchoReconLib.conventions import PHASES, VIEWS
from EchoReconLib.samples import SAMPLE_DIRECTORY, SAMPLE_PATIENTS, sampleFiles
from EchoReconLib.viewplanes import SECTOR_HALF_ANGLE_DEG
from ReconCoreLib.xrayio import writeMaskImage

from .echosim import makeCase

SAMPLE_SEED_OFFSET = 3_000_000
#: Registry name -> generator settings.
SAMPLE_SETTINGS = {
    "EchoNormal": {"seed": SAMPLE_SEED_OFFSET + 1, "phenotype": "normal", "edvMl": 120.0, "efPercent": 60.0,
                   "wallThicknessMm": 9.0},
    "EchoDilated": {"seed": SAMPLE_SEED_OFFSET + 2, "phenotype": "dilated", "edvMl": 250.0, "efPercent": 25.0,
                    "wallThicknessMm": 8.0},
}


def writeSamples(directory: str | Path, labels: bool = False) -> list[Path]:
    """Write both sample patients into ``directory``; returns the files written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for patient in SAMPLE_PATIENTS:
        settings = dict(SAMPLE_SETTINGS[patient])
        files = sampleFiles(patient, directory)
        case = makeCase(settings.pop("seed"), phenotype=settings.pop("phenotype"), **settings)
        for phaseIndex, phase in enumerate(PHASES):
            volumes = case["volumesEdMl"] if phase == "ED" else case["volumesEsMl"]
            truth = {"edvMl": round(case["edvMl"], 2), "esvMl": round(case["esvMl"], 2),
                     "efPercent": round(case["efPercent"], 2), "lvMassG": round(case["lvMassG"], 1),
                     "phenotype": case["phenotype"],
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
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(SAMPLE_DIRECTORY))
    parser.add_argument("--labels", action="store_true", help="also write the true label images")
    args = parser.parse_args(argv)
    for path in writeSamples(args.out, args.labels):
        print(path)


if __name__ == "__main__":
    main()

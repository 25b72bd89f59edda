"""EchoRecon on fewer views: calibrate the runtime's interval per set of views, and evaluate every set.

    python -m EchoReconDev.viewsets --calibrate       # writes EchoRecon/Resources/Models/EchoRecon-intervals.json
    python -m EchoReconDev.viewsets --evaluate        # every view set on the held-out splits; writes
                                                      # runs/echo-varied/viewsets-evaluation.json (the card's table)
    python -m EchoReconDev.viewsets --calibrate --evaluate --processes 2   # the view sets in two processes

Every one of the 16 view sets (A4C and A2C with each subset of A3C, SAXB, SAXM, SAXA:
:func:`EchoReconLib.viewsets.optionalViewSets`) is run through the bundled model the way the runtime runs it: the
views not in the set are black images. Errors are against the generating meshes: EF in points, EDV and ESV
relative to the truth.

``--calibrate``: :data:`CALIBRATION_CASES` patients acquired as ``varied`` from seed :data:`CALIBRATION_SEED_OFFSET`
(never used by training, seeds 0-1999, nor by the held-out evaluation, seeds from 1,000,000); per set, the interval
half-width is the conformal quantile of the absolute errors (:func:`conformalQuantile`).
``--evaluate``: the held-out splits (``varied`` in runs/echo-varied, ``ood`` in runs/echo-ood, 200 patients each):
per set, EF mean and median absolute error, LV volume median absolute error, the patients the runtime's gates would
refuse (:func:`~.evaluate.refusedByGates`; the errors are over every patient), and how often the calibrated interval
holds the truth (coverage: about 0.9 on patients like the calibration ones).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from EchoReconLib.conventions import VIEWS
from EchoReconLib.placement import placedForward
from EchoReconLib.template import HeartTemplate, enclosedVolume
from EchoReconLib.viewsets import CALIBRATION_PATH, COVERAGE, optionalViewSets, viewSetName
from ReconCoreDev.training import sourceModelPath

from . import dataset
from .evaluate import heldOutData, refusedByGates

CALIBRATION_SEED_OFFSET = 2_000_000
CALIBRATION_CASES = 200
CALIBRATION_PREFIX = "calibration"
SPLITS = {"varied": "runs/echo-varied", "ood": "runs/echo-ood"}


def conformalQuantile(errors: np.ndarray, coverage: float = COVERAGE) -> float:
    """The ceil((n + 1) x coverage)-th smallest of the n absolute errors (split conformal prediction: a new case
    like these lies within it with probability >= coverage); the largest error when n is too small for that."""
    ordered = np.sort(np.abs(np.asarray(errors, float)))
    rank = min(math.ceil((len(ordered) + 1) * coverage), len(ordered))
    return float(ordered[rank - 1])


def viewSetErrors(model, data: dict, template: HeartTemplate, views) -> dict:
    """Per patient, the model given only ``views`` (the others black), each view placed on the heart as the runtime
    places it (:func:`~EchoReconLib.placement.placedForward`): predicted and true EDV, ESV (mL) and EF (%)."""
    keep = np.array([view in views for view in VIEWS], np.float32)[None, :, None, None]
    lv = template.structureTriangles("LV cavity")
    predicted = []
    for patient in range(len(data["seed"])):
        images = data["images"][patient].astype(np.float32) / 255.0 * keep  # [2, 6, H, W]
        displacement = placedForward(model, images, views)[0]
        predicted += [enclosedVolume(template.vertices + mesh, lv) / 1000.0 for mesh in displacement]
    volumes = np.asarray(predicted).reshape(-1, 2)
    truth = np.asarray(data["volumesMl"], float)
    return {"edv": volumes[:, 0], "esv": volumes[:, 1], "ef": 100.0 * (1.0 - volumes[:, 1] / volumes[:, 0]),
            "edv_true": truth[:, 0], "esv_true": truth[:, 1], "ef_true": 100.0 * (1.0 - truth[:, 1] / truth[:, 0])}


_SHARED: dict = {}  # a worker process's model, data and template (resultsBySet)


def _startWorker(modelPath: str, data: dict, threads: int = 1) -> None:
    from ReconCoreLib.models import ModelFile

    torch.set_num_threads(threads)
    _SHARED.update(model=ModelFile(modelPath).load("cpu"), data=data, template=HeartTemplate.load())


def _setResult(views) -> dict:
    return viewSetErrors(_SHARED["model"], _SHARED["data"], _SHARED["template"], views)


def resultsBySet(modelPath: Path, data: dict, processes: int = 1, threads: int = 1) -> dict:
    """{view set name: :func:`viewSetErrors`} of every view set for the model file at ``modelPath``: in this process
    on ``threads`` threads, or shared among ``processes`` processes of one thread each (started afresh, each loading
    the model: a forked copy of a process that has run TorchScript can hang)."""
    import multiprocessing

    sets = optionalViewSets()
    if processes <= 1:
        _startWorker(str(modelPath), data, threads)
        try:
            return {viewSetName(views): _setResult(views) for views in sets}
        finally:
            _SHARED.clear()
    with multiprocessing.get_context("spawn").Pool(processes, _startWorker, (str(modelPath), data)) as pool:
        return dict(zip(map(viewSetName, sets), pool.map(_setResult, sets)))


def errorsOf(result: dict) -> dict:
    """Signed errors: EF (points), EDV and ESV relative to the truth."""
    return {"ef_points": result["ef"] - result["ef_true"],
            "edv_relative": (result["edv"] - result["edv_true"]) / result["edv_true"],
            "esv_relative": (result["esv"] - result["esv_true"]) / result["esv_true"]}


def calibrate(modelPath: Path, folder: Path, cases: int, threads: int, processes: int = 1) -> dict:
    from ReconCoreLib.models import ModelFile

    torch.set_num_threads(threads)
    modelFile = ModelFile(modelPath)
    seeds = list(range(CALIBRATION_SEED_OFFSET, CALIBRATION_SEED_OFFSET + cases))
    data = dataset.loadShards(dataset.buildShards(seeds, folder, CALIBRATION_PREFIX, acquisition="varied"))
    data = {key: value[:cases] for key, value in data.items()}
    sets = {}
    for name, result in resultsBySet(modelPath, data, processes, threads).items():
        sets[name] = {key: round(conformalQuantile(value), 4) for key, value in errorsOf(result).items()}
        print(name, sets[name], flush=True)
    return {"modelSha256": modelFile.sha256, "coverage": COVERAGE, "patients": cases, "acquisition": "varied",
            "seeds": [seeds[0], seeds[-1]], "command": "python -m EchoReconDev.viewsets --calibrate", "sets": sets}


def evaluate(modelPath: Path, splits: dict, cases: int, threads: int, calibration: dict, processes: int = 1) -> dict:
    torch.set_num_threads(threads)
    results = {}
    for split, folder in splits.items():
        data = heldOutData(folder, cases, split)
        for name, result in resultsBySet(modelPath, data, processes, threads).items():
            errors = errorsOf(result)
            widths = calibration["sets"][name]
            volumeErrors = np.abs(np.concatenate([errors["edv_relative"], errors["esv_relative"]]))
            row = {"patients": len(data["seed"]), "views": len(name.split()),
                   "ef_mae_points": float(np.mean(np.abs(errors["ef_points"]))),
                   "ef_median_abs_points": float(np.median(np.abs(errors["ef_points"]))),
                   "refused_by_gates": refusedByGates(result["edv"], result["esv"], result["ef"]),
                   "lv_volume_median_abs_error_percent": float(100 * np.median(volumeErrors)),
                   "ef_half_width_points": widths["ef_points"],
                   "edv_half_width_percent": 100 * widths["edv_relative"]}
            for key in ("ef_points", "edv_relative", "esv_relative"):
                row[f"coverage_{key.split('_')[0]}"] = float(np.mean(np.abs(errors[key]) <= widths[key]))
            results.setdefault(split, {})[name] = row
            print(split, name, {key: round(value, 3) for key, value in row.items()}, flush=True)
    return {"modelSha256": calibration["modelSha256"], "cases": cases,
            "command": "python -m EchoReconDev.viewsets --evaluate", "splits": results}


def main(argv=None):
    parser = argparse.ArgumentParser(description="EchoRecon view sets: interval calibration and evaluation")
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--evaluate", action="store_true")
    parser.add_argument("--model", type=Path, default=sourceModelPath("EchoRecon"))
    parser.add_argument("--calibration", type=Path, default=CALIBRATION_PATH)
    parser.add_argument("--calibration-cases", type=int, default=CALIBRATION_CASES)
    parser.add_argument("--calibration-folder", type=Path, default=Path(SPLITS["varied"]),
                        help="cache of the calibration patients (varied acquisitions)")
    parser.add_argument("--cases", type=int, default=200, help="held-out patients per split")
    parser.add_argument("--results", type=Path, default=Path(SPLITS["varied"]) / "viewsets-evaluation.json")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--processes", type=int, default=1, help="view sets run in this many processes at once")
    args = parser.parse_args(argv)
    if not (args.calibrate or args.evaluate):
        parser.error("give --calibrate, --evaluate or both")
    if args.calibrate:
        calibration = calibrate(args.model, args.calibration_folder, args.calibration_cases, args.threads,
                                args.processes)
        args.calibration.write_text(json.dumps(calibration, indent=1) + "\n")
        print(f"wrote {args.calibration}")
    if args.evaluate:
        calibration = json.loads(args.calibration.read_text())
        from ReconCoreLib.models import ModelFile

        if calibration["modelSha256"] != ModelFile(args.model).sha256:
            raise SystemExit(f"{args.calibration} was calibrated for another model: run --calibrate first")
        results = evaluate(args.model, {split: Path(folder) for split, folder in SPLITS.items()}, args.cases,
                           args.threads, calibration, args.processes)
        args.results.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.results}")


if __name__ == "__main__":
    main()

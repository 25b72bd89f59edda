"""Held-out evaluation of the bundled EchoRecon model, its Bland-Altman plot and its model card.

    python -m EchoReconDev.evaluate --work runs/echo --cases 200          # or: make evaluate-echo
    python -m EchoReconDev.evaluate --work runs/echo --cases 200 --also varied=runs/echo-varied-heldout \
        --also ood=runs/echo-ood-heldout                                   # the same model on other acquisitions

Held-out patients are seeds from :data:`~EchoReconDev.dataset.HELD_OUT_SEED_OFFSET` (1,000,000), disjoint from the
training seeds (0 .. cases - 1); missing held-out shards are generated first. For every patient the exported
TorchScript model reconstructs the heart from the six end-diastolic and from the six end-systolic views, and this
compares with the generating meshes:

- LV EDV and ESV (divergence-theorem volume of the predicted LV cavity surface) and EF: absolute and relative
  errors, bias, Bland-Altman limits of agreement;
- biplane Simpson's EF (:mod:`EchoReconLib.simpson`) from the model's own 2D segmentation of the same A4C and A2C
  images (LV cavity: largest connected component, holes filled; the clinical baseline), and from the true label
  images (the method's own error);
- surface ASSD per structure (mm): symmetric mean of the point-to-surface distances between the predicted and
  the true closed surfaces, area-weighted over triangle centroids (exact point-to-triangle distances, VTK);
- vertex MSE: mean squared distance per vertex (mm^2), per structure, and per coordinate in cm^2 (our reading of
  the paper's unit; see the card), with a uniform random guess over the target range as the paper's baseline;
- Dice of the 2D segmentation per label over all held-out images;
- the template alone (zero displacement) as a naive baseline.

Splits (:func:`~EchoReconDev.echosim.makeCase`'s acquisitions): ``--acquisition`` is the kind of the held-out
shards in ``--work`` (standard: the simulator's one geometry and renderer; varied; ood); each ``--also NAME=FOLDER``
evaluates the same model on the same seeds acquired as NAME, cached in FOLDER (generated there when missing), and
the card compares the splits in one table.

Writes ``evaluation.json``, ``evaluation-cases.csv`` and ``evaluation-<NAME>.json`` per ``--also`` split to
``--results`` (default ``--work``: another folder evaluates an older model without overwriting these), the
Bland-Altman PNG and the model card beside the model (``EchoRecon.md``, ``EchoRecon-bland-altman.png``). The card's
table of view sets comes from ``viewsets-evaluation.json`` in ``--results`` (``python -m EchoReconDev.viewsets
--evaluate``) when it is there and is for the same model file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from EchoReconLib.conventions import STRUCTURES, VIEWS
from EchoReconLib.placement import placedForward
from EchoReconLib.template import HeartTemplate, enclosedVolume
from ReconCoreDev.training import sourceModelPath

from . import dataset
from .card import blandAltman, blandAltmanPlot, lossCurve, splitsTable, writeModelCard

MODEL_PATH = sourceModelPath("EchoRecon")
CARD_PATH = MODEL_PATH.with_suffix(".md")
PLOT_PATH = MODEL_PATH.with_name("EchoRecon-bland-altman.png")
TARGETS = {"lv_volume_median_abs_error_percent": 5.0, "ef_mae_points": 4.0, "assd_mm": 2.0}
#: The paper's held-out vertex MSE and its uniform-guess baseline (Gong et al., section 5.2).
PAPER_MSE, PAPER_UNIFORM_MSE = 1.84e-2, 2.77e1
ACQUISITIONS = ("standard", "varied", "ood")


# -- geometry ---------------------------------------------------------------------------------------------------


def _polyData(vertices: np.ndarray, triangles: np.ndarray):
    from ReconCoreLib.surfaces import polyDataFromTriangles

    return polyDataFromTriangles(vertices, triangles)


def _distancesToSurface(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unsigned distances (mm) of ``points`` [N, 3] to the triangle surface (exact point-to-triangle)."""
    import vtk
    from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

    distance = vtk.vtkImplicitPolyDataDistance()
    distance.SetInput(_polyData(vertices, triangles))
    query = numpy_to_vtk(np.ascontiguousarray(points, np.float64), deep=True)
    values = vtk.vtkDoubleArray()
    distance.FunctionValue(query, values)
    return np.abs(vtk_to_numpy(values))


def _centroidsAndAreas(vertices: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    return (a + b + c) / 3.0, 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def assdMm(predicted: np.ndarray, truth: np.ndarray, triangles: np.ndarray) -> float:
    """Average symmetric surface distance (mm) of two versions of one closed surface (same triangles), area-weighted
    over triangle centroids, exact distances to the other surface."""
    result = 0.0
    for source, target in ((predicted, truth), (truth, predicted)):
        centroids, areas = _centroidsAndAreas(source, triangles)
        result += 0.5 * float(np.sum(areas * _distancesToSurface(centroids, target, triangles)) / np.sum(areas))
    return result


# -- evaluation -------------------------------------------------------------------------------------------------


def heldOutData(work: Path, cases: int, acquisition: str = "standard") -> dict:
    """The first ``cases`` held-out patients acquired as ``acquisition``, from the shards in ``work`` (generated
    when missing; a folder of another acquisition is refused, :func:`~.dataset.checkAcquisition`)."""
    seeds = list(range(dataset.HELD_OUT_SEED_OFFSET, dataset.HELD_OUT_SEED_OFFSET + cases))
    paths = dataset.buildShards(seeds, work, dataset.HELD_OUT_PREFIX, acquisition=acquisition)
    data = dataset.loadShards(paths)
    return {key: value[:cases] for key, value in data.items()}


def lvCavityMask(labels: np.ndarray) -> np.ndarray:
    """The LV cavity (label 1) of a 2D label image as one region: its largest connected component, holes filled
    (the clean-up a reader's tracing implies; stray pixels would otherwise move the apex of Simpson's long axis)."""
    from scipy import ndimage

    mask = np.asarray(labels) == 1
    components, count = ndimage.label(mask)
    if count > 1:
        sizes = ndimage.sum(mask, components, index=np.arange(1, count + 1))
        mask = components == 1 + int(np.argmax(sizes))
    return ndimage.binary_fill_holes(mask)


def simpsonEf(a4c: np.ndarray, a2c: np.ndarray, spacing: tuple, a4cEs: np.ndarray, a2cEs: np.ndarray):
    """(EDV, ESV, EF) by biplane Simpson's from LV cavity masks; NaNs when a mask is unusable."""
    from EchoReconLib.simpson import biplaneSimpsonVolume

    try:
        edv = biplaneSimpsonVolume(a4c, a2c, spacing)
        esv = biplaneSimpsonVolume(a4cEs, a2cEs, spacing)
    except (ValueError, IndexError):
        return float("nan"), float("nan"), float("nan")
    return edv, esv, 100.0 * (edv - esv) / edv if edv > 0 else float("nan")


def evaluateModel(modelPath: Path, data: dict, template: HeartTemplate, threads: int = 1) -> tuple[dict, list]:
    """Per-patient rows and summary metrics of the model at ``modelPath`` on ``data`` (held-out shards)."""
    from ReconCoreLib.models import ModelFile

    torch.set_num_threads(threads)
    model = ModelFile(modelPath).load("cpu")
    triangles = template.triangles
    lvTriangles = template.structureTriangles("LV cavity")
    structureVertices = [template.structureVertexIndices(index) for index in range(len(STRUCTURES))]
    rows, confusion, seconds = [], np.zeros((7, 7), np.int64), []
    squaredByStructure = np.zeros(len(STRUCTURES))
    squaredCoordinates, squaredTemplate = [], []
    for patient in range(len(data["seed"])):
        images = data["images"][patient].astype(np.float32) / 255.0  # [2, 6, H, W] (ED, ES)
        started = time.perf_counter()
        displacement, segmentation, _, placement = placedForward(model, images, VIEWS)  # as the runtime does
        seconds.append((time.perf_counter() - started) / 2.0)
        predicted = template.vertices[None] + displacement  # [2, V, 3]
        truth = data["vertices"][patient].astype(np.float64)
        labels = placement.apply(data["labels"][patient], order=0)  # moved as the inputs were
        confusion += np.bincount((labels.astype(np.int64) * 7 + segmentation).ravel(), minlength=49).reshape(7, 7)
        row = {"seed": int(data["seed"][patient]),
               "phenotype": dataset.PHENOTYPES[int(data["phenotype"][patient])]}
        volumes = [enclosedVolume(predicted[phase], lvTriangles) / 1000.0 for phase in (0, 1)]
        templateVolume = enclosedVolume(template.vertices, lvTriangles) / 1000.0
        trueVolumes = [float(value) for value in data["volumesMl"][patient]]
        row.update(edv_true_ml=trueVolumes[0], esv_true_ml=trueVolumes[1], edv_ml=volumes[0], esv_ml=volumes[1],
                   ef_true=100.0 * (1 - trueVolumes[1] / trueVolumes[0]), ef=100.0 * (1 - volumes[1] / volumes[0]),
                   template_edv_ml=templateVolume)
        spacing = (float(data["pixelSpacingMm"][patient][0]), float(data["pixelSpacingMm"][patient][1]))
        masks = [[lvCavityMask(segmentation[phase, view]) for view in (0, 1)] for phase in (0, 1)]
        row["simpson_edv_ml"], row["simpson_esv_ml"], row["ef_simpson"] = simpsonEf(
            masks[0][0], masks[0][1], spacing, masks[1][0], masks[1][1])
        trueMasks = data["labels"][patient] == 1
        row["simpson_true_labels_edv_ml"], _, row["ef_simpson_true_labels"] = simpsonEf(
            trueMasks[0, 0], trueMasks[0, 1], spacing, trueMasks[1, 0], trueMasks[1, 1])
        for phase, name in ((0, "ed"), (1, "es")):
            squared = np.sum((predicted[phase] - truth[phase]) ** 2, axis=1)
            row[f"vertex_mse_mm2_{name}"] = float(squared.mean())
            squaredCoordinates.append(squared)
            squaredTemplate.append(np.sum((template.vertices - truth[phase]) ** 2, axis=1))
            for index, vertices in enumerate(structureVertices):
                squaredByStructure[index] += squared[vertices].mean()
            for index, structure in enumerate(STRUCTURES):
                structureTriangles = triangles[template.structureOfTriangle == index]
                row[f"assd_mm_{name}_{structure.replace(' ', '_')}"] = assdMm(predicted[phase], truth[phase],
                                                                               structureTriangles)
        rows.append(row)
    metrics = summarize(rows, template, data, confusion, squaredByStructure / (2 * len(rows)),
                        np.concatenate(squaredCoordinates), np.concatenate(squaredTemplate))
    metrics["inference_seconds_per_phase_cpu"] = round(float(np.median(seconds)), 3)
    metrics["threads"] = threads
    return metrics, rows


def refusedByGates(edv: np.ndarray, esv: np.ndarray, ef: np.ndarray) -> int:
    """How many patients the runtime would refuse instead of reporting: its own gates (:func:`EchoReconLib.measure.
    gateReadouts` on EDV, ESV, stroke volume and EF), whose failures are counted with implausible results kept; a
    value that is not a number stops a run too."""
    from EchoReconLib.measure import gateReadouts
    from ReconCoreLib.plausibility import keepingImplausible
    from ReconCoreLib.readouts import Readouts

    refused = 0
    with keepingImplausible():
        for values in zip(edv, esv, ef):
            if not np.all(np.isfinite(values)):
                refused += 1
                continue
            readouts = Readouts("EchoRecon")
            for key, value in zip(("lv_edv_ml", "lv_esv_ml", "lv_ef_percent"), values):
                readouts.values[key] = float(value)
            readouts.values["lv_sv_ml"] = float(values[0] - values[1])
            gateReadouts(readouts)
            refused += bool(readouts.failedChecks)
    return refused


def summarize(rows: list, template: HeartTemplate, data: dict, confusion: np.ndarray, mseByStructure: np.ndarray,
              squared: np.ndarray, squaredTemplate: np.ndarray) -> dict:
    def column(key):
        return np.array([row[key] for row in rows], float)

    edvError = np.abs(column("edv_ml") - column("edv_true_ml")) / column("edv_true_ml") * 100
    esvError = np.abs(column("esv_ml") - column("esv_true_ml")) / column("esv_true_ml") * 100
    templateError = np.abs(column("template_edv_ml") - column("edv_true_ml")) / column("edv_true_ml") * 100
    simpsonEdvError = np.abs(column("simpson_edv_ml") - column("edv_true_ml")) / column("edv_true_ml") * 100
    metrics = {
        "patients": len(rows), "seeds": [rows[0]["seed"], rows[-1]["seed"]],
        "edv_median_abs_error_percent": round(float(np.median(edvError)), 2),
        "esv_median_abs_error_percent": round(float(np.median(esvError)), 2),
        "lv_volume_median_abs_error_percent": round(float(np.median(np.r_[edvError, esvError])), 2),
        "edv_mean_abs_error_percent": round(float(np.mean(edvError)), 2),
        "esv_mean_abs_error_percent": round(float(np.mean(esvError)), 2),
        "edv_mae_ml": round(float(np.mean(np.abs(column("edv_ml") - column("edv_true_ml")))), 1),
        "esv_mae_ml": round(float(np.mean(np.abs(column("esv_ml") - column("esv_true_ml")))), 1),
        "ef": blandAltman(column("ef"), column("ef_true")),
        "ef_simpson": blandAltman(column("ef_simpson"), column("ef_true")),
        "ef_simpson_true_labels": blandAltman(column("ef_simpson_true_labels"), column("ef_true")),
        "simpson_edv_median_abs_error_percent": round(float(np.nanmedian(simpsonEdvError)), 2),
        "simpson_failures": int(np.sum(~np.isfinite(column("ef_simpson")))),
        "template_edv_median_abs_error_percent": round(float(np.median(templateError)), 2),
        "refused_by_gates": refusedByGates(column("edv_ml"), column("esv_ml"), column("ef")),
        "edv_bias": blandAltman(column("edv_ml"), column("edv_true_ml")),
        "esv_bias": blandAltman(column("esv_ml"), column("esv_true_ml")),
    }
    metrics["ef_mae_points"] = metrics["ef"]["mae"]
    metrics["ef_simpson_mae_points"] = metrics["ef_simpson"]["mae"]
    assd = {}
    for structure in STRUCTURES:
        key = structure.replace(" ", "_")
        values = np.r_[column(f"assd_mm_ed_{key}"), column(f"assd_mm_es_{key}")]
        assd[structure] = {"mean": round(float(values.mean()), 2), "median": round(float(np.median(values)), 2),
                           "p95": round(float(np.percentile(values, 95)), 2)}
    metrics["assd_mm"] = assd
    metrics["assd_mm_max_structure_mean"] = max(value["mean"] for value in assd.values())
    # vertex MSE: mm^2 per vertex (squared distance); per coordinate in cm^2 (/3 coordinates, /100 mm^2 per cm^2)
    truth = data["vertices"].reshape(-1, 3).astype(np.float64)
    rng = np.random.default_rng(0)
    low, high = truth.min(axis=0), truth.max(axis=0)
    sample = truth[rng.choice(len(truth), min(200_000, len(truth)), replace=False)]
    guesses = rng.uniform(low, high, size=sample.shape)
    uniform = float(np.mean(np.sum((guesses - sample) ** 2, axis=1)))
    metrics["vertex_mse_mm2"] = round(float(squared.mean()), 3)
    metrics["vertex_mse_mm2_sd_over_patients"] = round(float(np.std(
        [0.5 * (row["vertex_mse_mm2_ed"] + row["vertex_mse_mm2_es"]) for row in rows])), 3)
    metrics["vertex_rmse_mm"] = round(float(np.sqrt(squared.mean())), 3)
    metrics["vertex_mse_mm2_by_structure"] = {name: round(float(value), 3)
                                              for name, value in zip(STRUCTURES, mseByStructure)}
    metrics["template_vertex_mse_mm2"] = round(float(squaredTemplate.mean()), 3)
    metrics["vertex_mse_cm2_per_coordinate"] = round(float(squared.mean()) / 300.0, 5)
    metrics["uniform_guess_vertex_mse_cm2_per_coordinate"] = round(uniform / 300.0, 3)
    metrics["mse_to_uniform_ratio"] = float(f"{squared.mean() / uniform:.3g}")
    metrics["paper_mse_to_uniform_ratio"] = float(f"{PAPER_MSE / PAPER_UNIFORM_MSE:.3g}")
    dice = {}
    for label in range(1, 7):
        total = confusion[label, :].sum() + confusion[:, label].sum()
        dice[STRUCTURES[label - 1]] = round(float(2 * confusion[label, label] / total), 3) if total else 1.0
    metrics["segmentation_dice"] = dice
    foreground = confusion[1:, 1:].sum()
    metrics["heart_region_dice"] = round(float(2 * foreground / (confusion[1:, :].sum() + confusion[:, 1:].sum())), 3)
    metrics["targets_met"] = {
        "lv_volume_median_abs_error_percent<=5": metrics["lv_volume_median_abs_error_percent"] <= 5.0,
        "ef_mae_points<=4": metrics["ef_mae_points"] <= 4.0,
        "ef_mae_below_simpson": metrics["ef_mae_points"] < metrics["ef_simpson_mae_points"],
        "assd_mm<=2_every_structure": metrics["assd_mm_max_structure_mean"] <= 2.0,
    }
    return metrics


# -- Bland-Altman plot --------------------------------------------------------------------------------------------


def readRows(path: Path) -> list[dict]:
    """The per-patient rows of ``evaluation-cases.csv`` (numbers as floats, ``seed`` as int)."""
    lines = path.read_text().splitlines()
    keys = lines[0].split(",")
    rows = []
    for line in lines[1:]:
        row = {}
        for key, value in zip(keys, line.split(",")):
            try:
                row[key] = int(value) if key == "seed" else float(value)
            except ValueError:
                row[key] = value
        rows.append(row)
    return rows


def otherSplits(values: list, main: str) -> dict:
    """``--also NAME=FOLDER`` arguments as {NAME: Path}; refuses unknown, repeated or main-split names."""
    splits = {}
    for value in values or []:
        name, separator, folder = value.partition("=")
        if not separator or not folder or name not in ACQUISITIONS or name == main or name in splits:
            raise SystemExit(f"--also {value}: expected NAME=FOLDER, NAME one of {', '.join(ACQUISITIONS)}, each once "
                             f"and not the main split's --acquisition ({main})")
        splits[name] = Path(folder)
    return splits


def commandLine(args) -> str:
    """The evaluation command (the flags that decide the figures), for the card."""
    parts = ["python -m EchoReconDev.evaluate", f"--work {args.work}", f"--cases {args.cases}"]
    if args.model != str(MODEL_PATH):
        parts.append(f"--model {args.model}")
    parts.append(f"--acquisition {args.acquisition}")
    parts += [f"--also {value}" for value in args.also or []]
    if args.results:
        parts.append(f"--results {args.results}")
    if args.training:
        parts.append(f"--training {args.training}")
    return " ".join(parts)


def writeEvaluation(results: Path, metrics: dict, rows: list) -> None:
    """``evaluation.json`` (summary) and ``evaluation-cases.csv`` (one row per patient) in ``results``."""
    results.mkdir(parents=True, exist_ok=True)
    (results / "evaluation.json").write_text(json.dumps(metrics, indent=1) + "\n")
    keys = list(rows[0])
    lines = [",".join(keys)] + [",".join(str(row[key]) for key in keys) for row in rows]
    (results / "evaluation-cases.csv").write_text("\n".join(lines) + "\n")


def readEvaluation(results: Path, also: dict) -> tuple[dict, list, dict]:
    """(metrics, rows, {split: metrics}) of the last evaluation in ``results``: the ``--also`` splits named, or
    without names each split evaluated by the same command as ``evaluation.json`` (not an earlier run's)."""
    metrics = json.loads((results / "evaluation.json").read_text())
    rows = readRows(results / "evaluation-cases.csv")
    names = also or [name for name in ACQUISITIONS if (results / f"evaluation-{name}.json").exists()]
    splits = {name: json.loads((results / f"evaluation-{name}.json").read_text()) for name in names}
    if not also:
        splits = {name: value for name, value in splits.items() if value.get("command") == metrics.get("command")}
    return metrics, rows, splits


def evaluateOtherSplits(modelPath: Path, also: dict, args, template: HeartTemplate, results: Path) -> dict:
    """The model on the held-out patients of each ``--also`` split ({name: metrics}), each written to
    ``<results>/evaluation-<name>.json`` and printed on one line."""
    splits = {}
    for name, folder in also.items():
        started = time.time()
        data = heldOutData(folder, args.cases, name)
        metrics, _ = evaluateModel(modelPath, data, template, args.threads)
        metrics.update(evaluation_minutes=round((time.time() - started) / 60.0, 1), acquisition=name,
                       folder=str(folder), model=str(modelPath), command=commandLine(args))
        (results / f"evaluation-{name}.json").write_text(json.dumps(metrics, indent=1) + "\n")
        print(f"{name} ({folder}): {metrics['patients']} patients, LV volume median abs error "
              f"{metrics['lv_volume_median_abs_error_percent']} %, EF MAE {metrics['ef']['mae']} points (bias "
              f"{metrics['ef']['bias']:+}), Simpson's EF MAE {metrics['ef_simpson']['mae']}, worst ASSD "
              f"{metrics['assd_mm_max_structure_mean']} mm, Dice heart region {metrics['heart_region_dice']}, "
              f"LV cavity {metrics['segmentation_dice']['LV cavity']}", flush=True)
        splits[name] = metrics
    return splits


def main(argv=None):
    parser = argparse.ArgumentParser(description="Evaluate the EchoRecon model on held-out patients")
    parser.add_argument("--work", default="runs/echo", help="held-out shards (and the run's training.json)")
    parser.add_argument("--cases", type=int, default=200, help="held-out patients")
    parser.add_argument("--model", default=str(MODEL_PATH))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--acquisition", default="standard", choices=ACQUISITIONS,
                        help="how the held-out views in --work are acquired (EchoReconDev.echosim.makeCase)")
    parser.add_argument("--also", action="append", metavar="NAME=FOLDER",
                        help="also evaluate on the held-out patients acquired as NAME (standard, varied, ood), "
                        "cached in FOLDER (generated when missing); repeatable")
    parser.add_argument("--results", help="folder of evaluation.json, evaluation-cases.csv, evaluation-NAME.json "
                        "(default: --work)")
    parser.add_argument("--training", type=Path, help="the training.json of the run that made the model (default: "
                        "--work's); the card describes that run")
    parser.add_argument("--card", default=str(CARD_PATH), help="model card to write ('' for none)")
    parser.add_argument("--plot", default=str(PLOT_PATH))
    parser.add_argument("--card-only", action="store_true",
                        help="rewrite the plot and card from the last evaluation in --results (no inference)")
    args = parser.parse_args(argv)
    work, modelPath = Path(args.work), Path(args.model)
    results = Path(args.results) if args.results else work
    also = otherSplits(args.also, args.acquisition)
    if not modelPath.is_file():
        raise SystemExit(f"no model at {modelPath} (train it first: make train-echo)")
    if args.card_only:
        metrics, rows, splits = readEvaluation(results, also)
    else:
        for name, folder in ((args.acquisition, work), *also.items()):  # a mixed-up folder: refused before the work
            if folder.is_dir():
                try:
                    dataset.checkAcquisition(folder, name)
                except ValueError as error:
                    raise SystemExit(f"{error} (--acquisition / --also)")
        template = HeartTemplate.load()
        started = time.time()
        data = heldOutData(work, args.cases, args.acquisition)
        metrics, rows = evaluateModel(modelPath, data, template, args.threads)
        metrics.update(evaluation_minutes=round((time.time() - started) / 60.0, 1), acquisition=args.acquisition,
                       model=str(modelPath), command=commandLine(args))
        writeEvaluation(results, metrics, rows)
        print(json.dumps({key: value for key, value in metrics.items() if key != "seeds"}, indent=1), flush=True)
        splits = evaluateOtherSplits(modelPath, also, args, template, results)
        if splits:
            print(splitsTable({f"{args.acquisition} (main)": metrics, **splits}), flush=True)
    plot = blandAltmanPlot(rows, Path(args.plot))
    if args.card:
        trainingPath = args.training or work / "training.json"
        training = json.loads(trainingPath.read_text()) if trainingPath.exists() else {}
        viewSetsPath = results / "viewsets-evaluation.json"  # python -m EchoReconDev.viewsets --evaluate
        viewSets = json.loads(viewSetsPath.read_text()) if viewSetsPath.exists() else None
        training.setdefault("minutes_budget", training.get("minutes", 0))
        training["curve"] = lossCurve(training.get("log", []))
        writeModelCard(metrics, training, modelPath, Path(args.card), plot, splits, viewSets)


if __name__ == "__main__":
    main()

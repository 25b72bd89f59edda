"""Held-out evaluation of the bundled EchoRecon model, its Bland-Altman plot and its model card.

    python -m EchoReconLib.evaluate --work runs/echo --cases 200          # or: make evaluate-echo

Held-out patients are seeds from :data:`~EchoReconLib.dataset.HELD_OUT_SEED_OFFSET` (1,000,000), disjoint from the
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

Writes ``<work>/evaluation.json``, ``<work>/evaluation-cases.csv``, the Bland-Altman PNG and the model card
beside the model (``EchoRecon.md``, ``EchoRecon-bland-altman.png``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from . import dataset
from .hearttemplate import STRUCTURES, HeartTemplate, enclosedVolume

MODEL_DIRECTORY = Path(__file__).resolve().parents[1] / "Resources" / "Models"
MODEL_PATH = MODEL_DIRECTORY / "EchoRecon.pt"
CARD_PATH = MODEL_DIRECTORY / "EchoRecon.md"
PLOT_PATH = MODEL_DIRECTORY / "EchoRecon-bland-altman.png"
TARGETS = {"lv_volume_median_abs_error_percent": 5.0, "ef_mae_points": 4.0, "assd_mm": 2.0}
#: The paper's held-out vertex MSE and its uniform-guess baseline (Gong et al., section 5.2).
PAPER_MSE, PAPER_UNIFORM_MSE = 1.84e-2, 2.77e1


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


def heldOutData(work: Path, cases: int) -> dict:
    seeds = list(range(dataset.HELD_OUT_SEED_OFFSET, dataset.HELD_OUT_SEED_OFFSET + cases))
    paths = dataset.buildShards(seeds, work, dataset.HELD_OUT_PREFIX)
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
    from .simpson import biplaneSimpsonVolume

    try:
        edv = biplaneSimpsonVolume(a4c, a2c, spacing)
        esv = biplaneSimpsonVolume(a4cEs, a2cEs, spacing)
    except (ValueError, IndexError):
        return float("nan"), float("nan"), float("nan")
    return edv, esv, 100.0 * (edv - esv) / edv if edv > 0 else float("nan")


def evaluateModel(modelPath: Path, data: dict, template: HeartTemplate, threads: int = 1) -> tuple[dict, list]:
    """Per-patient rows and summary metrics of the model at ``modelPath`` on ``data`` (held-out shards)."""
    from ReconCoreLib.models import loadModel

    torch.set_num_threads(threads)
    model = loadModel(modelPath, "cpu")
    triangles = template.triangles
    lvTriangles = template.structureTriangles("LV cavity")
    structureVertices = [template.structureVertexIndices(index) for index in range(len(STRUCTURES))]
    rows, confusion, seconds = [], np.zeros((7, 7), np.int64), []
    squaredByStructure = np.zeros(len(STRUCTURES))
    squaredCoordinates, squaredTemplate = [], []
    for patient in range(len(data["seed"])):
        images = torch.as_tensor(data["images"][patient].astype(np.float32) / 255.0)  # [2, 6, H, W] (ED, ES)
        started = time.perf_counter()
        with torch.no_grad():
            displacement, logits = model(images)
        seconds.append((time.perf_counter() - started) / 2.0)
        predicted = template.vertices[None] + displacement.double().numpy()  # [2, V, 3]
        segmentation = logits.argmax(dim=2).numpy()  # [2, 6, H, W]
        truth = data["vertices"][patient].astype(np.float64)
        labels = data["labels"][patient]
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
        trueMasks = labels == 1
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


def _blandAltman(estimate: np.ndarray, truth: np.ndarray) -> dict:
    difference = estimate - truth
    ok = np.isfinite(difference)
    bias, sd = float(np.mean(difference[ok])), float(np.std(difference[ok], ddof=1))
    return {"bias": round(bias, 2), "sd": round(sd, 2), "loa_low": round(bias - 1.96 * sd, 2),
            "loa_high": round(bias + 1.96 * sd, 2), "mae": round(float(np.mean(np.abs(difference[ok]))), 2),
            "median_ae": round(float(np.median(np.abs(difference[ok]))), 2),
            "r": round(float(np.corrcoef(estimate[ok], truth[ok])[0, 1]), 3), "n": int(ok.sum())}


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
        "ef": _blandAltman(column("ef"), column("ef_true")),
        "ef_simpson": _blandAltman(column("ef_simpson"), column("ef_true")),
        "ef_simpson_true_labels": _blandAltman(column("ef_simpson_true_labels"), column("ef_true")),
        "simpson_edv_median_abs_error_percent": round(float(np.nanmedian(simpsonEdvError)), 2),
        "simpson_failures": int(np.sum(~np.isfinite(column("ef_simpson")))),
        "template_edv_median_abs_error_percent": round(float(np.median(templateError)), 2),
        "edv_bias": _blandAltman(column("edv_ml"), column("edv_true_ml")),
        "esv_bias": _blandAltman(column("esv_ml"), column("esv_true_ml")),
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


def blandAltmanPlot(rows: list, path: Path) -> Path:
    """Two panels (this model, biplane Simpson's from the model's segmentation): EF difference vs mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = np.array([row["ef_true"] for row in rows])
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True, dpi=100)
    for axis, key, title in ((axes[0], "ef", "EchoRecon (S2MNet) 3D EF"),
                             (axes[1], "ef_simpson", "Biplane Simpson's (model's A4C/A2C segmentation)")):
        estimate = np.array([row[key] for row in rows])
        ok = np.isfinite(estimate)
        mean, difference = (estimate[ok] + truth[ok]) / 2.0, estimate[ok] - truth[ok]
        stats = _blandAltman(estimate, truth)
        axis.scatter(mean, difference, s=10, alpha=0.6, color="tab:blue" if key == "ef" else "tab:orange")
        for value, style in ((stats["bias"], "-"), (stats["loa_low"], "--"), (stats["loa_high"], "--")):
            axis.axhline(value, color="k", linestyle=style, linewidth=1)
        axis.set_title(f"{title}\nbias {stats['bias']:+.1f}, LoA {stats['loa_low']:+.1f} to {stats['loa_high']:+.1f}, "
                       f"MAE {stats['mae']:.1f}", fontsize=9)
        axis.set_xlabel("mean of estimate and true EF (%)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("estimate - true EF (% points)")
    figure.suptitle(f"{len(rows)} held-out synthetic patients", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


# -- model card ---------------------------------------------------------------------------------------------------


def writeModelCard(metrics: dict, training: dict, modelPath: Path, cardPath: Path, plotPath: Path) -> Path:
    from ReconCoreLib.models import sha256

    from . import network, train
    from .hearttemplate import SOURCE_CITATION

    model = network.buildNetwork()
    m, t = metrics, training
    assdRows = "\n".join(
        f"| {name} | {value['mean']:.2f} | {value['median']:.2f} | {value['p95']:.2f} | "
        f"{m['vertex_mse_mm2_by_structure'][name]:.2f} | {m['segmentation_dice'][name]:.3f} |"
        for name, value in m["assd_mm"].items())
    yes = {True: "met", False: "**not met**"}
    met = m["targets_met"]
    card = CARD_TEMPLATE.format(
        size=modelPath.stat().st_size / 1e6, sha=sha256(modelPath), parameters=network.countParameters(model),
        vertices=model.numberOfVertices, triangles=int(model.templateTriangles.shape[0]), m=m, t=t,
        weights=(train.WEIGHT_VERTEX, train.WEIGHT_VOLUME, train.WEIGHT_EF, train.WEIGHT_SEGMENTATION),
        lastTrain=t.get("training_patients", 0) - 1, growth=_cacheGrowth(t.get("log", [])),
        history=_history(t), heldOutEnd=m["seeds"][1], heldOutStart=m["seeds"][0],
        assdRows=assdRows, plot=plotPath.name, citation=SOURCE_CITATION, field=network.FIELD_SIZE,
        segmentationNote=_segmentationNote(m["segmentation_dice"]),
        met1=yes[met["lv_volume_median_abs_error_percent<=5"]], met2=yes[met["ef_mae_points<=4"]],
        met3=yes[met["ef_mae_below_simpson"]], met4=yes[met["assd_mm<=2_every_structure"]],
        cpu=platform.processor() or platform.machine())
    cardPath.write_text(card)
    print(f"wrote {cardPath}", flush=True)
    return cardPath


CARD_TEMPLATE = """# EchoRecon network (S2MNet): model card

**File** `EchoRecon.pt` (TorchScript, traced; {size:.1f} MB, SHA-256 `{sha}`), {parameters:,} parameters.
Trained by `python -m EchoReconLib.train` (`make train-echo`); this card, the figures in it and the Bland-Altman plot
`{plot}` are written by `python -m EchoReconLib.evaluate` (`make evaluate-echo`) from the exported file.

## What it does
Input: the six standard views of one cardiac phase, `images` [B, 6, 128, 128] float in [0, 1], in the order A4C, A2C,
A3C, SAXB, SAXM, SAXA (sector apex at the top middle; apical views 180 mm deep, short-axis views 140 mm, as the
simulator of `EchoReconLib.echosim` makes them). Outputs: (1) the displacement [B, {vertices}, 3] (mm) of every
vertex of the labelled template heart (heart frame of `EchoReconLib.hearttemplate`: origin mitral annulus centre, +z
along the LV long axis to the apex, +x toward the RV); template + displacement is the patient's heart with the
template's numbering and triangles (6 closed surfaces: LV cavity, LV myocardium (epicardium), RV, LA, RA, aortic root;
{triangles} triangles, stored in the model as buffers `templateVertices`, `templateTriangles`, `structureOfTriangle`).
(2) 2D segmentation logits [B, 6, 7, 128, 128] (0 background, 1..6 the structures) of every input image: the
LV cavity of A4C / A2C for biplane Simpson's, the heart region for the per-view overlay check. Run it once on
the end-diastolic and once on the end-systolic views: EDV, ESV (LV cavity volume by the divergence theorem) and EF.

Architecture after Gong et al., S2MNet (section 4.4, Fig. 2): a 2D encoder shared across the six views (MONAI
`ResNet`, resnet10 layout at half width, 8 input channels: the image and the 7 class probabilities of the
segmentation branch, a small MONAI 2D `UNet` (16-32-64-128) on every view) followed by three 2D convolutions;
the six views' 4 x 4 feature maps are fused in their fixed order by a bottleneck linear layer into a 4^3 volume and
one 3D convolution; a decoder of six 3D transposed convolutions (4^3 -> 8^3 -> 16^3) emits three coarse vector
fields; a weight generator (six 3D convolutions) gives per-voxel softmax weights of the fields; the weighted sum is
trilinearly upsampled to {field}^3 over the template's bounding box and sampled at the template vertices
(`grid_sample`). Departures from the paper: ResNet-10 at half width instead of ResNet-50 (CPU training budget); the
segmentation branch and its probabilities as encoder input (the paper has no 2D output; the pipeline needs one, and
dense 2D supervision trains the encoder much faster); the field has 3 channels per structure (each vertex reads
its own structure's), so the LV endocardium and the epicardium 6-16 mm away can move differently. The field heads
start at zero (an untrained model returns the template).

## Training data (generated; nothing is committed)
Template: {citation}; see `EchoRecon/Resources/Template/`. Patients: `EchoReconLib.heartshapes` (smooth one-to-one
deformations of the template: size, chamber ratios, random low-frequency field, LV dilation / sphericity for a
sampled EDV 70-300 mL, wall thickness 6-16 mm; end-systole by base descent, twist, radial contraction to a sampled
EF 15-75 %, incompressible myocardium; phenotypes normal / reduced / dilated / hypertrophic), seen in six jittered
standard views (tilt and probe rotation +-10 deg, in-plane +-5 deg, shift +-5 mm; the probe stays put between ED
and ES) by `EchoReconLib.echosim`. **The images come from a physically motivated ultrasound simulator (tissue
echogenicity, speckle from scatterers convolved with a point spread function, attenuation with time-gain
compensation, near-field clutter, dropouts, log compression, scan conversion), not from a CycleGAN trained on real
echocardiograms as in the paper** (there are none here). Training patients: seeds 0-{lastTrain} (both phases each){growth};
intensity augmentation (gamma, gain, noise). Cache: `EchoReconLib.dataset` shards in `runs/echo`.

## Training
Command: `make train-echo MINUTES={t[minutes_budget]:g}` (= a generator process `python -m EchoReconLib.dataset
--work runs/echo --cases 2000` beside `python -m EchoReconLib.train --work runs/echo --minutes {t[minutes_budget]:g}
--threads {t[threads]} --no-generate`, which picks up new shards as they appear, then this evaluation); resumes from
`runs/echo/checkpoint.pt`; CUDA when present, `torchrun --nproc_per_node=N -m EchoReconLib.train ...` for several
GPUs.
Loss: {weights[0]} x vertex MSE (mm^2) + {weights[1]} x |relative LV cavity volume error| (divergence-theorem volume of
the predicted LV cavity, differentiable) + {weights[2]} x |EF error| (fraction; both phases of each patient in a batch)
+ {weights[3]} x (Dice + cross-entropy) of the 2D segmentation. Adam (lr {t[lr]}, cosine decay over the time budget to
5 %), {t[patients_per_batch]} patients x 2 phases per batch, gradient norm clipped at 5, seed {t[seed]}.
Run: {t[steps]} steps ({t[samples]} samples, {t[epochs]} epochs over the {t[training_patients]} training patients x 2
phases) in {t[minutes]} min on `{t[device]}` ({t[threads]} thread(s) of a CPU shared with other jobs; torch
{t[torch]}){history}. Loss curve: {t[curve]}.

## Held-out evaluation
{m[patients]} held-out synthetic patients (seeds {heldOutStart}-{heldOutEnd}, never seen in training), ED and ES,
images as simulated (no augmentation). Targets of the issue in brackets.

| quantity | this model | baseline |
|---|---|---|
| LV volume (EDV and ESV) median absolute error [<= 5 %] ({met1}) | {m[lv_volume_median_abs_error_percent]:.1f} % | template alone: EDV {m[template_edv_median_abs_error_percent]:.1f} %; Simpson's EDV {m[simpson_edv_median_abs_error_percent]:.1f} % |
| EDV / ESV median absolute error | {m[edv_median_abs_error_percent]:.1f} % / {m[esv_median_abs_error_percent]:.1f} % | |
| EDV / ESV mean absolute error | {m[edv_mae_ml]:.1f} mL / {m[esv_mae_ml]:.1f} mL | |
| EF mean absolute error [<= 4 points] ({met2}) | {m[ef][mae]:.2f} points | biplane Simpson's on the model's A4C/A2C segmentation (LV cavity: largest component, holes filled): {m[ef_simpson][mae]:.2f} points ({met3}: lower than Simpson's) |
| EF bias, 95 % limits of agreement | {m[ef][bias]:+.2f} ({m[ef][loa_low]:+.1f} to {m[ef][loa_high]:+.1f}) | Simpson's: {m[ef_simpson][bias]:+.2f} ({m[ef_simpson][loa_low]:+.1f} to {m[ef_simpson][loa_high]:+.1f}) |
| EF correlation with truth (r) | {m[ef][r]:.3f} | Simpson's: {m[ef_simpson][r]:.3f} |
| Simpson's on the *true* label images (the method's own error with perfect tracings) | | EF MAE {m[ef_simpson_true_labels][mae]:.2f} points, bias {m[ef_simpson_true_labels][bias]:+.2f} |
| vertex MSE (squared distance per vertex) | {m[vertex_mse_mm2]:.2f} mm^2 (SD over patients {m[vertex_mse_mm2_sd_over_patients]:.2f}; RMS {m[vertex_rmse_mm]:.2f} mm) | template alone: {m[template_vertex_mse_mm2]:.1f} mm^2 |
| vertex MSE per coordinate in cm^2 (paper: 1.84e-2) | {m[vertex_mse_cm2_per_coordinate]:.2e} | uniform guess over the target range: {m[uniform_guess_vertex_mse_cm2_per_coordinate]:.1f} (paper: 27.7) |
| MSE / uniform-guess MSE (unit-free) | {m[mse_to_uniform_ratio]:.2e} | paper: {m[paper_mse_to_uniform_ratio]:.2e} |
| surface ASSD, worst structure's mean [<= 2 mm each] ({met4}) | {m[assd_mm_max_structure_mean]:.2f} mm | |
| 2D heart-region Dice (all views) | {m[heart_region_dice]:.3f} | |

The paper does not state the unit of its MSE; reading it as cm^2 per coordinate makes its uniform-guess baseline
(27.7) match a target range of about +-6.4 cm, the size of a heart, so the cm^2 row is our best like-for-like
figure; the unit-free ratio to the uniform guess does not depend on that reading.

Per structure (ED and ES pooled):

| structure | ASSD mean (mm) | ASSD median | ASSD 95th percentile | vertex MSE (mm^2) | 2D Dice |
|---|---|---|---|---|---|
{assdRows}

Bland-Altman plot of EF (this model and biplane Simpson's against the true EF): `{plot}`.
Inference: {m[inference_seconds_per_phase_cpu]:.2f} s per phase (six views) on one CPU thread ({cpu}).

## Limits
Trained and evaluated on synthetic hearts and simulated echo images only: **not validated on real
echocardiograms**, whose appearance (and the CycleGAN-translated images of the paper) differ from this simulator.
The views must be the six standard views in the given order and orientation, with about the simulator's depths;
the heart is reconstructed in its own heart frame (mitral annulus centre, long axis), not in scanner coordinates.
Shapes outside the generator's population (congenital disease, aneurysms, prosthetic valves) are not represented.
{segmentationNote}CPU training was limited to {t[minutes]} minutes on a shared CPU; longer training (e.g. on a GPU) is one command with a
larger `MINUTES`.
"""


def _segmentationNote(dice: dict) -> str:
    weak = [name for name, value in dice.items() if value < 0.5]
    if not weak:
        return ""
    return (f"The 2D segmentation is light and coarse: it does not reliably find {', '.join(weak)} (2D Dice < 0.5 "
            "above); use it for the LV cavity and the heart region, as the pipeline does, not for those labels.\n")


def _history(training: dict) -> str:
    """The settings of each (re)start of the run, when it was resumed with other settings."""
    history = training.get("history", [])
    if len(history) < 2:
        return ""
    parts = []
    for index, entry in enumerate(history):
        end = history[index + 1]["from_step"] if index + 1 < len(history) else training.get("steps")
        minutes = (history[index + 1]["from_minutes"] if index + 1 < len(history) else training.get("minutes"))
        parts.append(f"steps {entry['from_step']}-{end} ({entry['from_minutes']:g}-{minutes:g} min, cosine schedule "
                     f"over {entry['minutes_budget']:g} min): segmentation weight {entry['segmentation_weight']:g}, "
                     f"Dice {'over the batch' if entry['dice_over_batch'] else 'per image'}")
    return "; the run was resumed with other settings: " + "; ".join(parts)


def _cacheGrowth(log: list) -> str:
    counts = [entry["patients"] for entry in log if "patients" in entry]
    if not counts or counts[0] == counts[-1]:
        return ""
    return (f"; the generator ran beside the training, so the cache grew from {counts[0]} to {counts[-1]} patients "
            f"during the run (epochs below are counted against the final {counts[-1]})")


def lossCurve(log: list) -> str:
    """A one-line summary of the training log: loss terms at the start, middle and end, and validation."""
    entries = [entry for entry in log if "vertex_mse_mm2" in entry]
    checks = [entry for entry in log if "val_ef_mae" in entry]
    if not entries:
        return "no log"

    def describe(entry):
        return (f"step {entry['step']}: vertex MSE {entry['vertex_mse_mm2']:.1f} mm^2, volume error "
                f"{100 * entry['volume_rel']:.1f} %, EF error {100 * entry['ef_abs']:.1f} points, segmentation "
                f"{entry['segmentation']:.3f}")

    picks = [entries[0], entries[len(entries) // 2], entries[-1]]
    text = "; ".join(describe(entry) for entry in picks) + " (batch means over 25 steps)"
    if checks:
        last = checks[-1]
        text += (f"; last in-training check on 16 held-out patients (step {last['step']}): median LV volume error "
                 f"{100 * last['val_volume_median_rel']:.1f} %, EF MAE {last['val_ef_mae']:.1f} points")
    return text


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


def main(argv=None):
    parser = argparse.ArgumentParser(description="Evaluate the EchoRecon model on held-out patients")
    parser.add_argument("--work", default="runs/echo")
    parser.add_argument("--cases", type=int, default=200, help="held-out patients")
    parser.add_argument("--model", default=str(MODEL_PATH))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--card", default=str(CARD_PATH), help="model card to write ('' for none)")
    parser.add_argument("--plot", default=str(PLOT_PATH))
    parser.add_argument("--card-only", action="store_true",
                        help="rewrite the plot and card from the last evaluation in --work (no inference)")
    args = parser.parse_args(argv)
    work, modelPath = Path(args.work), Path(args.model)
    if not modelPath.is_file():
        raise SystemExit(f"no model at {modelPath} (train it first: make train-echo)")
    if args.card_only:
        metrics = json.loads((work / "evaluation.json").read_text())
        rows = readRows(work / "evaluation-cases.csv")
    else:
        template = HeartTemplate.load()
        started = time.time()
        data = heldOutData(work, args.cases)
        metrics, rows = evaluateModel(modelPath, data, template, args.threads)
        metrics["evaluation_minutes"] = round((time.time() - started) / 60.0, 1)
        work.mkdir(parents=True, exist_ok=True)
        (work / "evaluation.json").write_text(json.dumps(metrics, indent=1) + "\n")
        keys = list(rows[0])
        lines = [",".join(keys)] + [",".join(str(row[key]) for key in keys) for row in rows]
        (work / "evaluation-cases.csv").write_text("\n".join(lines) + "\n")
        print(json.dumps({key: value for key, value in metrics.items() if key != "seeds"}, indent=1), flush=True)
    plot = blandAltmanPlot(rows, Path(args.plot))
    if args.card:
        trainingPath = work / "training.json"
        training = json.loads(trainingPath.read_text()) if trainingPath.exists() else {}
        training.setdefault("minutes_budget", training.get("minutes", 0))
        training["curve"] = lossCurve(training.get("log", []))
        writeModelCard(metrics, training, modelPath, Path(args.card), plot)


if __name__ == "__main__":
    main()

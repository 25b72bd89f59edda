"""Held-out evaluation of the bundled FemurRegistration model, and its model card.

    python -m FemurRegistrationDev.evaluate --cases 200 --work runs/femur      # or: make evaluate-femur

For each held-out phantom (seeds from 1,000,000: shapes and noise never seen in training) and each setting
- ``orthogonal`` (AP + lateral), ``generalized`` (each primary angle +-30 deg), ``angle_error_5deg``
(orthogonal radiographs, but the lateral angle given to the model is 5 deg off) - it registers the atlas,
warps the 1 mm atlas label and compares it with the phantom's 1 mm label (Dice, Jaccard, ASSD, HD95; MONAI),
compares the hip measurements of the warped atlas surface with those of the true surface, and records the
minimum Jacobian determinant (folding when <= 0). As in the run, a folded map is unfolded
(:func:`FemurRegistrationLib.inference.unfold`) before it is scored; ``network_min_jacobian`` is the network's own.
The same numbers after the affine module alone show what the local module adds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from FemurRegistrationLib import inference, transforms
from FemurRegistrationLib.atlasfile import loadAtlas
from FemurRegistrationLib.hipmeasures import FemurShapeModel, hipMeasurements
from FemurRegistrationLib.radiographs import NetworkView
from FemurRegistrationLib.refine import refineRegistration
from ReconCoreDev.training import sourceModelPath, writeModelCard as writeCardFile
from ReconCoreLib.metrics import overlapMetrics, surfaceMetrics

from . import dataset

SETTINGS = {"orthogonal": ("orthogonal", 0.0), "generalized": ("generalized", 0.0),
            "angle_error_5deg": ("orthogonal", 5.0)}
HIP_KEYS = ("head_diameter_mm", "neck_shaft_angle_deg", "femoral_offset_mm", "anteversion_deg")
MODEL_PATH = sourceModelPath("FemurRegistration")


def _boundingBox(*masks: np.ndarray, margin: int = 3) -> tuple[slice, ...]:
    union = np.logical_or.reduce(masks)
    box = []
    for axis in range(union.ndim):
        present = np.flatnonzero(union.any(axis=tuple(other for other in range(union.ndim) if other != axis)))
        box.append(slice(max(int(present[0]) - margin, 0), int(present[-1]) + margin + 1))
    return tuple(box)


def _scores(registration, atlas, shapeModel, case: dict, reference: np.ndarray) -> dict:
    """Overlap and surface metrics of the warped atlas label, and the hip-measurement errors."""
    _, label = inference.warpAtlas(atlas, registration, labelOnly=True)
    row = dict(overlapMetrics(label > 0, reference))
    box = _boundingBox(label > 0, reference)  # surface distances on the femur's neighbourhood only: faster
    row.update(surfaceMetrics(label[box] > 0, reference[box], (1.0, 1.0, 1.0)))
    predicted = hipMeasurements(inference.warpPoints(atlas["verticesLps"], registration), shapeModel)
    expected = hipMeasurements(case["verticesLps"], shapeModel)
    for key in HIP_KEYS:
        row[f"{key}_error"] = abs(float(predicted[key]) - float(expected[key]))
    return row


def evaluateCase(model, atlas, shapeModel, case: dict, setting: str, angleErrorDeg: float,
                 rng: np.random.Generator, refine: bool = False) -> dict:
    """One held-out case in one setting; ``refine`` adds the figures after test-time refinement
    (``refined_*``, and its time ``refine_s``)."""
    truth = dataset.viewGeometries(setting, rng)
    images, masks = dataset.simulateRadiographs(case["hu"], case["label"], case["ijkToLps"], truth, rng)
    given = dataset.viewGeometries(setting if setting == "orthogonal" else "orthogonal", None, angleErrorDeg) \
        if angleErrorDeg else truth
    registration = inference.register(model, images, masks, transforms.viewParameters(given))
    networkMinimum = inference.minimumJacobian(registration)
    registration, _ = inference.unfold(registration)
    reference = case["label"] > 0
    row = _scores(registration, atlas, shapeModel, case, reference)
    affineOnly = inference.Registration(registration.affine, np.zeros_like(registration.displacement),
                                        np.zeros_like(registration.inverseDisplacement))
    row["identity_dice"] = overlapMetrics(atlas["label"] > 0, reference)["dice"]  # the atlas as is
    row["affine_dice"] = overlapMetrics(inference.warpAtlas(atlas, affineOnly, labelOnly=True)[1] > 0,
                                        reference)["dice"]
    row["min_jacobian"], row["network_min_jacobian"] = inference.minimumJacobian(registration), networkMinimum
    if refine:
        views = [NetworkView(images[index], masks[index].astype(np.float32), given[index], masks[index], False)
                 for index in range(2)]
        started = time.perf_counter()
        refined = refineRegistration(registration, atlas, views)
        row["refined_unrepaired_min_jacobian"] = inference.minimumJacobian(refined)
        refined, _ = inference.unfold(refined)
        row["refine_s"] = time.perf_counter() - started
        row.update({f"refined_{key}": value for key, value in
                    _scores(refined, atlas, shapeModel, case, reference).items()})
        row["refined_min_jacobian"] = inference.minimumJacobian(refined)
    return row


_WORKER: dict = {}


def _startWorker(modelPath: str, threads: int, refine: bool = False) -> None:
    torch.set_num_threads(threads)
    _WORKER.update(model=torch.jit.load(modelPath, map_location="cpu").eval(), atlas=loadAtlas(),
                   shapeModel=FemurShapeModel.load(), refine=refine)


def _evaluateSeed(seed: int, work: Path | None) -> dict:
    """Rows of every setting for one held-out case (in the worker loaded by :func:`_startWorker`)."""
    case = dataset.loadOrMakeCase(seed, work)
    rows = {}
    for name, (setting, error) in SETTINGS.items():
        rng = np.random.default_rng([seed, 3, list(SETTINGS).index(name)])
        rows[name] = evaluateCase(_WORKER["model"], _WORKER["atlas"], _WORKER["shapeModel"], case, setting, error,
                                  rng, _WORKER.get("refine", False))
    return rows


def evaluateModel(modelPath: Path, cases: int, work: Path | None = None, progress: bool = True,
                  processes: int = 1, refine: bool = False) -> dict:
    """Mean figures per setting over ``cases`` held-out phantoms; ``processes`` > 1 shares the cases among
    that many worker processes of one thread each (same rows, in the same order, as one process);
    ``refine`` also measures the test-time refinement."""
    seeds = [dataset.HELD_OUT_SEED_OFFSET + index for index in range(cases)]
    rows = {name: [] for name in SETTINGS}
    started = time.time()

    def collect(index: int, caseRows: dict) -> None:
        for name in SETTINGS:
            rows[name].append(caseRows[name])
        if progress and (index + 1) % 10 == 0:
            print(f"{index + 1}/{cases} cases, {time.time() - started:.0f} s; orthogonal Dice so far "
                  f"{np.mean([row['dice'] for row in rows['orthogonal']]):.3f}", flush=True)

    if processes <= 1:
        _startWorker(str(modelPath), 2, refine)
        for index, seed in enumerate(seeds):
            collect(index, _evaluateSeed(seed, work))
    else:
        import multiprocessing
        from functools import partial

        context = multiprocessing.get_context("spawn")  # no fork after torch has started its threads
        with context.Pool(processes, initializer=_startWorker, initargs=(str(modelPath), 1, refine)) as pool:
            for index, caseRows in enumerate(pool.imap(partial(_evaluateSeed, work=work), seeds)):
                collect(index, caseRows)
    summary = {"cases": cases, "seconds": round(time.time() - started, 1)}
    for name, table in rows.items():
        keys = table[0].keys()
        summary[name] = {key: float(np.mean([row[key] for row in table])) for key in keys}
        summary[name]["dice_std"] = float(np.std([row["dice"] for row in table]))
        jacobians = ("min_jacobian", "network_min_jacobian") + (
            ("refined_min_jacobian", "refined_unrepaired_min_jacobian") if refine else ())
        for key in jacobians:  # the smallest, and the cases that fold (<= 0)
            summary[name][key] = float(np.min([row[key] for row in table]))
            summary[name][key.replace("min_jacobian", "folded_cases")] = int(sum(row[key] <= 0 for row in table))
        if refine:
            summary[name]["refined_dice_std"] = float(np.std([row["refined_dice"] for row in table]))
    return summary


def printSummary(summary: dict) -> None:
    print(f"held-out cases: {summary['cases']} ({summary['seconds']} s)")
    for name in SETTINGS:
        values = summary[name]
        print(f"{name:>18}: Dice {values['dice']:.3f} +- {values['dice_std']:.3f} (affine only "
              f"{values['affine_dice']:.3f}, unregistered atlas {values['identity_dice']:.3f}), Jaccard {values['jaccard']:.3f}, ASSD {values['assd_mm']:.2f} mm, "
              f"HD95 {values['hd95_mm']:.2f} mm, min Jacobian {values['min_jacobian']:.3f} "
              f"({values['folded_cases']} folded; the network's own {values['network_min_jacobian']:.3f}, "
              f"{values['network_folded_cases']} folded)")
        print(" " * 20 + ", ".join(f"{key} error {values[key + '_error']:.2f}" for key in HIP_KEYS))
        if "refined_dice" in values:
            print(" " * 20 + f"refined ({values['refine_s']:.1f} s): Dice {values['refined_dice']:.3f}, ASSD "
                  f"{values['refined_assd_mm']:.2f} mm, HD95 {values['refined_hd95_mm']:.2f} mm, min Jacobian "
                  f"{values['refined_min_jacobian']:.3f} ({values['refined_folded_cases']} folded; before "
                  f"unfolding {values['refined_unrepaired_folded_cases']}), " +
                  ", ".join(f"{key} error {values['refined_' + key + '_error']:.2f}" for key in HIP_KEYS))


def summaryPath(work: Path, refine: bool = False) -> Path:
    """Where the last evaluation's summary is kept (the card is written from these files)."""
    return Path(work) / ("metrics_refine.json" if refine else "metrics.json")


def writeModelCard(summary: dict, arguments=None, modelPath: Path | None = None, path: Path | None = None,
                   refineSummary: dict | None = None) -> Path:
    """The model card (default: beside the model) from the held-out ``summary`` (and the refinement's, measured
    separately when given)."""
    modelPath = Path(modelPath or MODEL_PATH)
    path = Path(path) if path is not None else modelPath.with_suffix(".md")
    work = Path(getattr(arguments, "work", "runs/femur"))
    state = {}
    if (work / "checkpoint.pt").exists():
        state = torch.load(work / "checkpoint.pt", map_location="cpu", weights_only=False)["state"]
    sha = hashlib.sha256(modelPath.read_bytes()).hexdigest()
    benchmark = work / "benchmark.txt"
    lines = [
        "# FemurRegistration model card", "",
        "ProST 2D/3D registration network after Van Houtte et al. 2022 (affine module + two 2D-encoder/3D-decoder",
        "U-nets in beam space, inv-ProST, scaling and squaring), TorchScript (traced), CPU or CUDA.", "",
        f"- File: `FemurRegistration.pt`, {modelPath.stat().st_size / 1e6:.1f} MB, sha256 `{sha}`",
        "- Atlas: `FemurAtlas.npz` (mean femur of the shape model as a CT-like phantom, 1 mm, HU + label + surface)",
        "- Input: two radiographs resampled to a 96 x 96 virtual detector (2.03 mm pixels), femur masks, and each",
        "  view's geometry (LPS mm); output: similarity + displacement fields (4 mm grid, mm) and their inverse.",
        "- Training data: `FemurRegistrationDev.dataset` (phantoms from the musculoskeletal-models femur shape",
        "  model, MPL-2.0, with added neck-shaft angle / anteversion / head-size variation and +-10 deg pose), training",
        "  seeds 0..N, held-out seeds from 1,000,000; 60 % orthogonal and 40 % generalized (+-30 deg) view pairs.",
        f"- Training: `make train-femur` (= `python -m FemurRegistrationDev.train --work runs/femur --minutes "
        f"{getattr(arguments, 'minutes', 60):g}`): {state.get('step', '?')} steps of batch "
        f"{getattr(arguments, 'batch', 2)}, {state.get('seconds', 0) / 60:.0f} min, device "
        f"{'CUDA' if torch.cuda.is_available() else 'CPU (2 cores)'} ({platform.processor() or platform.machine()}).",
        *([f"- Started from the weights of `{state['init']}` (an earlier run; see the training history below)."]
          if state.get("init") else []),
        "- Loss: local NCC(V o T) + local NCC(V o Psi) + 0.01 diffusion(velocity) + Dice of the warped label +",
        "  surface correspondence (mean vertex distance / 5 mm: similarity alone on all vertices, full map and",
        "  inverse map on the vertices in the crop box; the phantoms' shape model gives the correspondences).",
        "- A quarter of the training samples give the network a lateral angle off by up to 5 deg.", "",
        f"## Held-out evaluation ({summary['cases']} phantoms, `python -m FemurRegistrationDev.evaluate --cases "
        f"{summary['cases']}`)", "",
        "| setting | Dice | affine-only Dice | Jaccard | ASSD mm | HD95 mm | head diam. err mm | NSA err deg | "
        "offset err mm | anteversion err deg | min Jacobian |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in SETTINGS:
        values = summary[name]
        lines.append(f"| {name} | {values['dice']:.3f} +- {values['dice_std']:.3f} | {values['affine_dice']:.3f} | "
                     f"{values['jaccard']:.3f} | {values['assd_mm']:.2f} | {values['hd95_mm']:.2f} | "
                     f"{values['head_diameter_mm_error']:.2f} | {values['neck_shaft_angle_deg_error']:.2f} | "
                     f"{values['femoral_offset_mm_error']:.2f} | {values['anteversion_deg_error']:.2f} | "
                     f"{values['min_jacobian']:.3f} |")
    lines += ["", f"Baseline: the atlas as is (no registration) has Dice {summary['orthogonal']['identity_dice']:.3f} "
              "on the same phantoms.",
              "", "Paper targets: Dice 0.94 / ASSD 0.84 mm (orthogonal), 0.923 (generalized), 0.90 (5 deg error).",
              "Errors are mean absolute; the hip measurements come from the warped atlas surface.", ""]
    if refineSummary:
        lines += [f"## Test-time refinement (`--refine`; `python -m FemurRegistrationDev.evaluate --refine --cases "
                  f"{refineSummary['cases']}`)", "",
                  "| setting | Dice without -> with | ASSD mm | HD95 mm | head diam. err mm | NSA err deg | offset err mm |"
                  " anteversion err deg | min Jacobian | added time s |", "|---|---|---|---|---|---|---|---|---|---|"]
        for name in SETTINGS:
            values = refineSummary[name]
            lines.append(f"| {name} | {values['dice']:.3f} -> {values['refined_dice']:.3f} | "
                         f"{values['assd_mm']:.2f} -> {values['refined_assd_mm']:.2f} | "
                         f"{values['hd95_mm']:.2f} -> {values['refined_hd95_mm']:.2f} | " +
                         " | ".join(f"{values[key + '_error']:.2f} -> {values['refined_' + key + '_error']:.2f}"
                                    for key in HIP_KEYS) + f" | {values['min_jacobian']:.3f} -> "
                         f"{values['refined_min_jacobian']:.3f} | {values['refine_s']:.1f} |")
        lines += ["", "Time on one CPU thread of the evaluation's worker process.", ""]
    if benchmark.exists():
        lines += ["## Speed and memory", "", "```", benchmark.read_text().strip(), "```", ""]
    lines += ["## Limits", "",
              "Trained and evaluated on synthetic phantoms only (no femur CT or real radiographs were available);",
              "not validated clinically. The crop box holds the proximal femur: anteversion uses the condyle points",
              "of the atlas surface, which lie outside the box and follow the similarity part of the registration.",
              ""]
    return writeCardFile(path, "\n".join(lines))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Evaluate the bundled FemurRegistration model on held-out phantoms.")
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("runs/femur"))
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--card", action="store_true", help="also rewrite the model card")
    parser.add_argument("--processes", type=int, default=1, help="worker processes (one thread each)")
    parser.add_argument("--refine", action="store_true", help="also measure the test-time refinement")
    arguments = parser.parse_args(argv)
    summary = evaluateModel(arguments.model or MODEL_PATH, arguments.cases, arguments.work,
                            processes=arguments.processes, refine=arguments.refine)
    printSummary(summary)
    summaryPath(arguments.work, arguments.refine).write_text(json.dumps(summary, indent=2))
    if arguments.card:
        writeCardFromSummaries(arguments.work, arguments, arguments.model)


def writeCardFromSummaries(work: Path, arguments=None, modelPath: Path | None = None) -> Path:
    """The model card from the saved summaries of ``work`` (the refinement's when there is one)."""
    refine = summaryPath(work, True)
    return writeModelCard(json.loads(summaryPath(work).read_text()), arguments, modelPath,
                          refineSummary=json.loads(refine.read_text()) if refine.exists() else None)


if __name__ == "__main__":
    main()

"""How much the view fit (:mod:`EchoReconLib.viewfit`) changes EchoRecon's LV volumes and EF on held-out patients.

    python -m EchoReconDev.fitcheck --work runs/echo-varied --cases 50                  # network's 2D segmentation
    python -m EchoReconDev.fitcheck --work runs/echo-varied --cases 50 --true-labels    # the true label images

For each held-out patient of the shards in ``--work`` (:mod:`~.dataset`): the model's prediction, then the fit of
the plane poses and the heart's shape to a 2D segmentation of the views (the model's own, or with
``--true-labels`` the simulator's label images: what a perfect 2D segmentation would give), then EDV, ESV and EF
against the truth before and after. Prints one line per patient and a summary: median absolute EDV / ESV error,
EF mean absolute error, the per-view residuals' percentiles (pose-only fit: the readouts' distribution, from
which :data:`EchoReconLib.measure.HIGH_VIEW_RESIDUAL_MM` is set) and the seconds per fit.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from EchoReconLib.conventions import VIEWS
from EchoReconLib.placement import placedForward


def loadModel(path: str):
    """The TorchScript model, or the eager network of a training checkpoint (``checkpoint.pt``)."""
    import torch

    from ReconCoreLib.models import ModelFile

    if path.endswith("checkpoint.pt"):
        from .network import buildNetwork

        model = buildNetwork()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["model"])
        return model.eval()
    return ModelFile(path).load("cpu")


def main(argv=None):
    import torch

    from EchoReconLib import viewfit
    from EchoReconLib.template import HeartTemplate, enclosedVolume
    from ReconCoreDev.training import sourceModelPath

    from . import dataset

    parser = argparse.ArgumentParser(description="EchoRecon's view fit on held-out patients")
    parser.add_argument("--work", default="runs/echo-varied", help="folder of the held-out shards")
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--model", default=str(sourceModelPath("EchoRecon")))
    parser.add_argument("--true-labels", action="store_true", help="fit to the true label images")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = dataset.loadShards(dataset.availableShards(args.work, dataset.HELD_OUT_PREFIX))
    template = HeartTemplate.load()
    lvTriangles = template.structureTriangles("LV cavity")
    model = loadModel(args.model)
    errors, residuals, seconds = [], [], []
    for patient in range(min(args.cases, len(data["seed"]))):
        images = data["images"][patient].astype(np.float32) / 255.0
        displacement, labels, images, placement = placedForward(model, images, VIEWS)  # as the runtime does
        phases = ("ED", "ES")
        predicted = {phase: template.vertices + displacement[index] for index, phase in enumerate(phases)}
        if args.true_labels:
            labels = placement.apply(data["labels"][patient], order=0)
        segmentations = {phase: labels[index] for index, phase in enumerate(phases)}
        inputs = {phase: images[index] for index, phase in enumerate(phases)}
        started = time.perf_counter()
        pose = viewfit.fitToViews(predicted, segmentations, inputs, template, deform=False)
        middle = time.perf_counter()
        shape = viewfit.fitToViews(predicted, segmentations, inputs, template, deform=True)
        seconds.append((middle - started, time.perf_counter() - middle))
        residuals += [value for byView in pose.residualMm.values() for value in byView.values()]
        truth = [float(value) for value in data["volumesMl"][patient]]

        def volumes(vertices):
            return [enclosedVolume(vertices[phase], lvTriangles) / 1000.0 for phase in phases]

        row = []
        for ml in (volumes(predicted), volumes(shape.vertices)):
            ef, trueEf = 100 * (1 - ml[1] / ml[0]), 100 * (1 - truth[1] / truth[0])
            row += [abs(ml[0] - truth[0]) / truth[0] * 100, abs(ml[1] - truth[1]) / truth[1] * 100, abs(ef - trueEf)]
        errors.append(row)
        print(f"patient {int(data['seed'][patient])}: EDV / ESV error %, EF error points: network "
              f"{row[0]:.1f} / {row[1]:.1f}, {row[2]:.1f}; fitted {row[3]:.1f} / {row[4]:.1f}, {row[5]:.1f}",
              flush=True)
    errors, residuals, seconds = np.array(errors), np.array(residuals), np.array(seconds)
    finite = residuals[np.isfinite(residuals)]
    summary = {
        "patients": len(errors), "work": args.work, "model": args.model,
        "segmentation": "true labels" if args.true_labels else "network",
        "network": {"edv_median_abs_error_percent": round(float(np.median(errors[:, 0])), 2),
                    "esv_median_abs_error_percent": round(float(np.median(errors[:, 1])), 2),
                    "ef_mae_points": round(float(np.mean(errors[:, 2])), 2)},
        "fitted": {"edv_median_abs_error_percent": round(float(np.median(errors[:, 3])), 2),
                   "esv_median_abs_error_percent": round(float(np.median(errors[:, 4])), 2),
                   "ef_mae_points": round(float(np.mean(errors[:, 5])), 2)},
        "pose_fit_residual_mm": {f"p{q}": round(float(np.percentile(finite, q)), 2) for q in (50, 95, 99)}
        | {"max": round(float(finite.max()), 2), "not_measured_views": int(np.sum(~np.isfinite(residuals)))},
        "seconds_per_fit": {"pose": round(float(np.median(seconds[:, 0])), 2),
                            "pose_and_shape": round(float(np.median(seconds[:, 1])), 2)},
    }
    print(json.dumps(summary, indent=1), flush=True)


if __name__ == "__main__":
    main()

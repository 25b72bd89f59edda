"""Fit and evaluate EchoRecon's view classifier (:mod:`EchoReconLib.viewcheck`) on the bundled model's segmentations.

    python -m EchoReconDev.viewclassifier --fit --work runs/echo-viewcls --cases 200
    python -m EchoReconDev.viewclassifier --evaluate --work runs/echo-varied --also ood=runs/echo-ood --cases 200

``--fit``: patients of the training generator acquired as ``varied`` (seeds from :data:`FIT_SEED_OFFSET`, used by
neither training, seeds 0-1999, nor the held-out evaluation, 1,000,000 on, nor the intervals' calibration,
2,000,000 on; generated into ``--work`` when missing) go through the bundled model; each view's 2D labels give :func:`~EchoReconLib.viewcheck.viewFeatures`, and
the class means and the pooled covariance (a linear discriminant) are written to
:data:`~EchoReconLib.viewcheck.CLASSIFIER_PATH` with the model file's SHA-256 and the seeds.

``--evaluate``: the held-out shards in ``--work`` and each ``--also NAME=FOLDER`` (e.g. the out-of-distribution
split): accuracy of the most probable view, how often a correctly labelled view would be flagged (false warnings),
and how often an image given under another view's label is flagged (each image under each of the five other labels;
the phases of a patient together, as a run has them). Prints one table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from EchoReconLib import viewcheck
from EchoReconLib.conventions import APICAL_VIEWS, VIEWS

#: The fitting patients' first seed, and their shards' prefix.
FIT_SEED_OFFSET = 3_000_000
FIT_PREFIX = "viewcls"
#: Added to the pooled covariance's diagonal, relative to its mean variance: features that hardly vary (a share
#: that is almost always 0 in every class) must not make it singular.
RIDGE = 1e-3


def segmentations(work: str, cases: int, prefix: str):
    """[patients][phases][views] 2D labels of the bundled model for the first ``cases`` patients of the shards."""
    import torch

    from ReconCoreDev.training import sourceModelPath

    from EchoReconLib.placement import placedForward

    from . import dataset
    from .fitcheck import loadModel

    torch.set_num_threads(1)
    data = dataset.loadShards(dataset.availableShards(work, prefix))
    model = loadModel(str(sourceModelPath("EchoRecon")))
    labels = []
    for patient in range(min(cases, len(data["seed"]))):  # each view placed on the heart as the runtime does
        labels.append(placedForward(model, data["images"][patient].astype(np.float32) / 255.0, VIEWS)[1])
    return labels, [int(seed) for seed in data["seed"][:len(labels)]]


def features(labels) -> list:
    """[patients][views] -> list over phases of feature vectors (None where nothing was segmented)."""
    return [[[viewcheck.viewFeatures(phase[view]) for phase in patient] for view in range(len(VIEWS))]
            for patient in labels]


def fit(work: str, cases: int) -> dict:
    from ReconCoreDev.training import sourceModelPath
    from ReconCoreLib.models import ModelFile

    from . import dataset

    dataset.buildShards(list(range(FIT_SEED_OFFSET, FIT_SEED_OFFSET + cases)), work, FIT_PREFIX, acquisition="varied")
    labels, seeds = segmentations(work, cases, FIT_PREFIX)
    byView = [[vector for patient in features(labels) for vector in patient[view] if vector is not None]
              for view in range(len(VIEWS))]
    means = np.array([np.mean(vectors, axis=0) for vectors in byView])
    residuals = np.concatenate([np.asarray(vectors) - mean for vectors, mean in zip(byView, means)])
    covariance = np.cov(residuals.T)
    covariance += np.eye(len(covariance)) * RIDGE * np.trace(covariance) / len(covariance)
    return {"modelSha256": ModelFile(sourceModelPath("EchoRecon")).sha256, "views": list(VIEWS),
            "features": list(viewcheck.FEATURE_NAMES), "means": means.round(6).tolist(),
            "covariance": covariance.round(8).tolist(), "patients": len(seeds), "seeds": [min(seeds), max(seeds)],
            "acquisition": "varied", "samplesPerView": [len(vectors) for vectors in byView],
            "command": f"python -m EchoReconDev.viewclassifier --fit --work {work} --cases {cases}"}


def evaluate(work: str, cases: int, classifier: dict) -> dict:
    from . import dataset

    if not dataset.availableShards(work, dataset.HELD_OUT_PREFIX):
        raise SystemExit(f"no held-out shards in {work}: python -m EchoReconDev.dataset --work {work} --held-out ...")
    labels, _ = segmentations(work, cases, dataset.HELD_OUT_PREFIX)
    correct, falseWarnings, flagged, pairs, crossFlagged, crossPairs = 0, 0, 0, 0, 0, 0
    confusion = np.zeros((len(VIEWS), len(VIEWS)), int)
    for patient in features(labels):
        for view in range(len(VIEWS)):
            probability = viewcheck.posteriors(patient[view], classifier)
            if not np.all(np.isfinite(probability)):
                continue
            best = int(np.argmax(probability))
            confusion[view, best] += 1
            correct += best == view
            for label in range(len(VIEWS)):
                warned = bool(viewcheck.lookAlike(probability, classifier["views"], VIEWS[label]))
                if label == view:
                    falseWarnings += warned
                else:
                    flagged += warned
                    pairs += 1
                    if (VIEWS[label] in APICAL_VIEWS) != (VIEWS[view] in APICAL_VIEWS):
                        crossFlagged += warned
                        crossPairs += 1
    total = int(confusion.sum())
    return {"images": total, "accuracy": correct / max(total, 1), "false_warnings": falseWarnings / max(total, 1),
            "mislabels_flagged": flagged / max(pairs, 1),
            "mislabels_flagged_apical_short_axis": crossFlagged / max(crossPairs, 1), "confusion": confusion.tolist()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="folder of the shards")
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--fit", action="store_true", help="fit on the training-seed shards in --work and write it")
    parser.add_argument("--evaluate", action="store_true", help="evaluate on the held-out shards in --work")
    parser.add_argument("--also", action="append", default=[], help="NAME=FOLDER: another held-out split")
    parser.add_argument("--out", default=str(viewcheck.CLASSIFIER_PATH))
    args = parser.parse_args(argv)
    if args.fit:
        classifier = fit(args.work, args.cases)
        Path(args.out).write_text(json.dumps(classifier, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}: {classifier['patients']} patients, samples per view {classifier['samplesPerView']}")
    if args.evaluate:
        classifier = viewcheck.loadClassifier(Path(args.out))
        acquisition = Path(args.work, "acquisition.txt")  # the shards' acquisition (EchoReconDev.dataset)
        mainSplit = acquisition.read_text().strip() if acquisition.is_file() else "held out"
        splits = {mainSplit: args.work} | dict(item.split("=", 1) for item in args.also)
        print("| split | views (patients x 6, both phases) | accuracy | correctly labelled views flagged | "
              "mislabelled views flagged (apical <-> short axis) |\n|---|---|---|---|---|")
        results = {name: evaluate(folder, args.cases, classifier) for name, folder in splits.items()}
        for name, result in results.items():
            print(f"| {name} ({splits[name]}) | {result['images']} | {result['accuracy']:.3f} | "
                  f"{result['false_warnings']:.3f} | {result['mislabels_flagged']:.3f} "
                  f"({result['mislabels_flagged_apical_short_axis']:.3f}) |")
        classifier["evaluation"] = {name: {key: value for key, value in result.items()
                                                                if key != "confusion"}
                                    for name, result in results.items()}
        Path(args.out).write_text(json.dumps(classifier, indent=1) + "\n", encoding="utf-8")
        for name, result in results.items():
            print(f"{name} confusion (rows: true view, columns: most probable; {' '.join(VIEWS)}):")
            for view, row in zip(VIEWS, result["confusion"]):
                print(f"  {view:5s} {row}")


if __name__ == "__main__":
    main()

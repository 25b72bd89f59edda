"""Does each image show the view its label says? A view classifier on the network's own 2D segmentation.

The network segments every image alone (shared weights, no view label: network.py), so what it finds in an image
says which view the image is, whatever slot it was given in. :func:`viewFeatures` reads, from one view's 2D labels,
numbers that do not depend on the image's scale: each structure's share of the heart's area, the LV cavity's
elongation, and where the atria, the RV and the aortic root lie relative to the LV (an A4C shows the right heart
beside the LV and both atria beyond it, an A2C the LA only, an A3C the aortic root, a short-axis view a round LV with
the RV beside it and no atria). A linear discriminant (class means and one pooled covariance, fitted on patients
of the training generator: ``python -m EchoReconDev.viewclassifier --fit``, which writes :data:`CLASSIFIER_PATH`)
turns them into each view's posterior probability, the phases of a run together.

:func:`checkViewLabels` warns (it never stops a run: a classifier trained on simulated hearts is not the last word)
when the posterior of a view's own label falls below :data:`MIN_LABEL_POSTERIOR` while the image clearly looks like
another view or group of views (:func:`lookAlike`); its readout ``view_label_disagreements`` counts those views. A
classifier fitted for another model file is not used (a warning says so). Why written here: a linear discriminant is a few lines of numpy
and scikit-learn is not in Slicer's Python.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .conventions import STRUCTURES, VIEWS

#: The classifier of the bundled model (written by ``EchoReconDev.viewclassifier --fit``).
CLASSIFIER_PATH = Path(__file__).resolve().parents[1] / "Resources" / "Models" / "EchoRecon-views.json"
#: A view is flagged when its own label's posterior is below MIN_LABEL_POSTERIOR and the image looks like another
#: view (the other views' posteriors beside it sum to less than MAX_REST_POSTERIOR) or like another group of
#: VIEW_GROUPS (beside that group, less than MAX_REST_GROUP_POSTERIOR: the short-axis levels are often confused with
#: one another, a short-axis image with an apical view seldom). Measured with the bundled model (``python -m
#: EchoReconDev.viewclassifier --evaluate``: 200 held-out patients x 6 views, both phases; 2026-12-01), correctly
#: labelled views flagged / images given under another view's label flagged (under an apical label for a
#: short-axis image or the reverse): varied acquisitions 0.5 % / 79 % (98 %); the out-of-distribution split 6.0 %
#: / 41 % (57 %), where the network's 2D segmentation is poor and the classifier's accuracy falls from 0.87 to 0.36
#: (it reads many apical images as short-axis ones). The phases' log-likelihoods are summed, as if ED and ES were
#: independent looks: the figures are for runs with both phases; a run with one phase has half the evidence and is
#: warned less often, rightly or not. Other settings (own < 1e-6, best view > 0.9999 alone): 0.6 % /
#: 57 % and 0.4 % / 11 %; (own < 0.01, best view > 0.9): 3.4 % / 82 % and 26 % / 46 %.
MIN_LABEL_POSTERIOR = 1e-8
MAX_REST_POSTERIOR = 1e-4
MAX_REST_GROUP_POSTERIOR = 1e-10
VIEW_GROUPS = (("A4C",), ("A2C",), ("A3C",), ("SAXB", "SAXM", "SAXA"))
#: Names of :func:`viewFeatures`' numbers, in order.
FEATURE_NAMES = tuple(f"share {name}" for name in STRUCTURES) + (
    "LV cavity elongation (log)", "atria depth beyond the LV", "RV side of the LV", "RV depth",
    "aortic root depth", "heart area share of the image (log)")
#: Fewer heart pixels than this: the view's features are not judged (nothing segmented).
MIN_HEART_PIXELS = 100


def _centroid(mask: np.ndarray) -> np.ndarray | None:
    rows, columns = np.nonzero(mask)
    return np.array([rows.mean(), columns.mean()]) if len(rows) else None


def viewFeatures(labels: np.ndarray) -> np.ndarray | None:
    """The numbers of one view's 2D labels (0 background, 1..6 :data:`STRUCTURES`; sector apex at row 0): see
    :data:`FEATURE_NAMES`. Offsets are in units of the square root of the heart's area (scale-free), depth along
    the rows (away from the probe), side along the columns; a structure not found gives 0. None when the image
    holds fewer than :data:`MIN_HEART_PIXELS` heart pixels."""
    labels = np.asarray(labels)
    masks = [labels == index + 1 for index in range(len(STRUCTURES))]
    areas = np.array([mask.sum() for mask in masks], float)
    heart = areas.sum()
    if heart < MIN_HEART_PIXELS:
        return None
    size = np.sqrt(heart)
    cavity = masks[STRUCTURES.index("LV cavity")]
    lv = _centroid(cavity | masks[STRUCTURES.index("LV myocardium")])
    elongation = 0.0
    if cavity.sum() >= 10:
        rows, columns = np.nonzero(cavity)
        eigenvalues = np.linalg.eigvalsh(np.cov(np.stack([rows, columns]).astype(float)))
        elongation = 0.5 * np.log(max(eigenvalues[1], 1e-6) / max(eigenvalues[0], 1e-6))

    def offset(structures, axis):
        where = _centroid(np.logical_or.reduce([masks[STRUCTURES.index(name)] for name in structures]))
        return 0.0 if where is None or lv is None else float((where[axis] - lv[axis]) / size)

    return np.concatenate([areas / heart, [elongation, offset(("LA", "RA"), 0), offset(("RV",), 1),
                                           offset(("RV",), 0), offset(("aortic root",), 0),
                                           np.log(heart / labels.size)]])


def loadClassifier(path: Path = CLASSIFIER_PATH) -> dict | None:
    """The classifier resource ({"modelSha256", "views", "means" [V, F], "covariance" [F, F], ...}), or None."""
    path = Path(path)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def logLikelihoods(features: np.ndarray, classifier: dict) -> np.ndarray:
    """[V] Gaussian log-likelihood (up to a shared constant) of ``features`` [F] under each view's class."""
    means = np.asarray(classifier["means"], float)
    precision = np.linalg.inv(np.asarray(classifier["covariance"], float))
    difference = means - np.asarray(features, float)[None]
    return -0.5 * np.einsum("vf,fg,vg->v", difference, precision, difference)


def posteriors(featureSets, classifier: dict) -> np.ndarray:
    """[V] posterior of each view (equal priors) for one image seen in several phases (``featureSets``: one feature
    vector per phase; None entries skipped); NaN when none is usable."""
    usable = [features for features in featureSets if features is not None]
    if not usable:
        return np.full(len(classifier["views"]), np.nan)
    total = np.sum([logLikelihoods(features, classifier) for features in usable], axis=0)
    weights = np.exp(total - total.max())
    return weights / weights.sum()


def lookAlike(probability: np.ndarray, classes, label: str) -> str:
    """What an image labelled ``label`` looks like when the classifier disagrees with its label ("an A4C view",
    "a short-axis view"; module constants), else "" (``probability``: :func:`posteriors` over ``classes``)."""
    probability = np.asarray(probability, float)
    if not np.all(np.isfinite(probability)) or probability[list(classes).index(label)] >= MIN_LABEL_POSTERIOR:
        return ""
    best = int(np.argmax(probability))
    if classes[best] != label and probability.sum() - probability[best] < MAX_REST_POSTERIOR:
        return f"an {classes[best]} view"
    for group in VIEW_GROUPS:
        inGroup = np.isin(classes, group)
        if label not in group and probability[~inGroup].sum() < MAX_REST_GROUP_POSTERIOR:
            return f"an {group[0]} view" if len(group) == 1 else "a short-axis view"
    return ""


def checkViewLabels(result, modelSha256: str, classifierPath: Path = CLASSIFIER_PATH) -> None:
    """Warn for each view of ``result`` (:class:`~.pipeline.Reconstruction`) whose image the classifier reads as
    another view (module docstring); set ``view_label_disagreements``."""
    classifier = loadClassifier(classifierPath)
    name = Path(classifierPath).name
    problem = (f"{name} is missing" if classifier is None else
               f"{name} was fitted for another model file ({str(classifier.get('modelSha256'))[:12]}..., this one "
               f"{modelSha256[:12]}...)" if classifier.get("modelSha256") != modelSha256 else "")
    if problem:
        result.readouts.warn(f"the view labels were not checked: {problem}")
        return
    classes = list(classifier["views"])
    disagreements = 0
    for view in result.views:
        index = VIEWS.index(view)
        probability = posteriors([viewFeatures(result.segmentations[phase][index]) for phase in result.phases],
                                 classifier)
        looks = lookAlike(probability, classes, view)
        if looks:
            disagreements += 1
            result.readouts.warn(f"the network's segmentation of the image given as {view} looks like {looks} to "
                                 f"the view classifier ({view}: posterior {probability[classes.index(view)]:.0e}); "
                                 "check its label, or whether the network can read this image")
    result.readouts.set("view_label_disagreements", disagreements)

"""EchoRecon's view classifier (:mod:`EchoReconLib.viewcheck`): the numbers it reads from a view's 2D labels, the
posterior of each view, and the warning when an image does not look like its label.

- An apical four-chamber layout (long LV, atria beyond it, RV beside) and a short-axis layout (round LV, RV beside, no
  atria) give the shares, elongation and offsets they should; an empty image gives nothing to judge.
- A linear discriminant with known means gives the posteriors it should, and the phases of a run add up.
- A run whose A2C slot holds a four-chamber image gets one warning naming A2C and A4C; a classifier fitted for another
  model file is not used, and a warning says so.
- The bundled classifier belongs to the bundled model, and on the bundled sample it flags no view, while the A3C and
  SAXM images given under each other's label are both flagged.
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from EchoReconLib import pipeline, viewcheck
from EchoReconLib.conventions import STRUCTURES, VIEWS
from EchoReconLib.samples import SAMPLE_DIRECTORY
from ReconCoreLib.models import ModelFile
from ReconCoreLib.plausibility import keepingImplausible
from ReconCoreLib.readouts import Readouts


def ellipse(labels, centre, radii, value):
    rows, columns = np.mgrid[:labels.shape[0], :labels.shape[1]]
    inside = ((rows - centre[0]) / radii[0]) ** 2 + ((columns - centre[1]) / radii[1]) ** 2 <= 1
    labels[inside] = value


def label(name):
    return STRUCTURES.index(name) + 1


def fourChamber():
    """As the standard display shows an A4C: apex at the top, the LV on the right of the image, the RV on its left,
    the atria below."""
    labels = np.zeros((128, 128), np.uint8)
    ellipse(labels, (45, 78), (30, 14), label("LV myocardium"))
    ellipse(labels, (45, 78), (26, 10), label("LV cavity"))
    ellipse(labels, (45, 48), (25, 10), label("RV"))
    ellipse(labels, (92, 78), (14, 12), label("LA"))
    ellipse(labels, (92, 48), (14, 11), label("RA"))
    return labels


def shortAxis():
    """A short-axis section: a round LV, the crescent of the RV above and to its left."""
    labels = np.zeros((128, 128), np.uint8)
    ellipse(labels, (70, 72), (22, 22), label("LV myocardium"))
    ellipse(labels, (70, 72), (15, 15), label("LV cavity"))
    ellipse(labels, (56, 38), (18, 9), label("RV"))
    return labels


def test_features_of_a_four_chamber_and_a_short_axis_layout():
    four, short = viewcheck.viewFeatures(fourChamber()), viewcheck.viewFeatures(shortAxis())
    assert len(four) == len(viewcheck.FEATURE_NAMES) and four[:6].sum() == pytest.approx(1.0)
    names = list(viewcheck.FEATURE_NAMES)
    assert four[names.index("share LA")] > 0.1 and short[names.index("share LA")] == 0
    assert four[names.index("LV cavity elongation (log)")] == pytest.approx(np.log(26 / 10), abs=0.05)
    assert short[names.index("LV cavity elongation (log)")] == pytest.approx(0.0, abs=0.05)
    assert four[names.index("atria depth beyond the LV")] > 0.3  # the atria lie deeper than the LV (rows)
    assert short[names.index("atria depth beyond the LV")] == 0.0  # none found
    assert four[names.index("RV side of the LV")] < -0.1 and short[names.index("RV side of the LV")] < -0.1
    assert short[names.index("RV depth")] < -0.1  # the RV nearer the probe than the LV
    assert viewcheck.viewFeatures(np.zeros((128, 128), np.uint8)) is None


def toyClassifier(sha="abc"):
    """Six classes: the four-chamber layout's features as A4C, the short axis's as SAXM, the others far away."""
    four, short = viewcheck.viewFeatures(fourChamber()), viewcheck.viewFeatures(shortAxis())
    means = [four if view == "A4C" else short if view == "SAXM" else four + 5.0 * (index + 1)
             for index, view in enumerate(VIEWS)]
    return {"modelSha256": sha, "views": list(VIEWS), "means": np.array(means).tolist(),
            "covariance": (0.01 * np.eye(len(four))).tolist()}


def test_posteriors_of_a_linear_discriminant():
    classifier = toyClassifier()
    four = viewcheck.viewFeatures(fourChamber())
    probability = viewcheck.posteriors([four], classifier)
    assert probability.sum() == pytest.approx(1.0) and probability[VIEWS.index("A4C")] > 0.999
    halfway = (four + viewcheck.viewFeatures(shortAxis())) / 2  # equally far from A4C and SAXM
    probability = viewcheck.posteriors([halfway], classifier)
    assert probability[VIEWS.index("A4C")] == pytest.approx(0.5, abs=1e-6)
    both = viewcheck.posteriors([halfway, four], classifier)  # a second phase that looks like A4C decides
    assert both[VIEWS.index("A4C")] > 0.999
    assert np.isnan(viewcheck.posteriors([None, None], classifier)).all()


def test_a_label_is_judged_against_one_view_or_the_short_axis_levels_together():
    probability = np.array([0.0, 0.0, 1e-12, 0.6, 0.4, 0.0])  # A4C A2C A3C SAXB SAXM SAXA
    assert viewcheck.lookAlike(probability, VIEWS, "A3C") == "a short-axis view"  # neither level alone is sure
    assert viewcheck.lookAlike(probability, VIEWS, "SAXA") == ""  # a short-axis level: its own group
    assert viewcheck.lookAlike(np.array([0.99995, 5e-5, 0, 0, 0, 0]), VIEWS, "SAXB") == "an A4C view"
    assert viewcheck.lookAlike(np.array([0.9, 0.1, 0, 0, 0, 0]), VIEWS, "SAXB") == ""  # A4C or A2C: not sure
    assert viewcheck.lookAlike(np.full(6, np.nan), VIEWS, "A4C") == ""


def fakeResult(slots):
    labels = np.stack([slots.get(view, np.zeros((128, 128), np.uint8)) for view in VIEWS])
    return SimpleNamespace(phases=("ED",), segmentations={"ED": labels}, readouts=Readouts("EchoRecon"),
                           views=tuple(slots))


def test_a_four_chamber_image_given_as_a2c_is_named(tmp_path):
    path = tmp_path / "views.json"
    path.write_text(json.dumps(toyClassifier()))
    result = fakeResult({"A4C": fourChamber(), "A2C": fourChamber(), "SAXM": shortAxis()})
    viewcheck.checkViewLabels(result, "abc", path)
    assert result.readouts.warnings == ["the network's segmentation of the image given as A2C looks like an A4C "
                                        "view to the view classifier (A2C: posterior 0e+00); check its label, or "
                                        "whether the network can read this image"]
    assert result.readouts.values["view_label_disagreements"] == 1
    other = fakeResult({"A4C": fourChamber(), "A2C": fourChamber()})
    viewcheck.checkViewLabels(other, "another", path)
    assert other.readouts.warnings == ["the view labels were not checked: views.json was fitted for another model "
                                       "file (abc..., this one another...)"]
    assert "view_label_disagreements" not in other.readouts.values


BUNDLED = SAMPLE_DIRECTORY.parent / "Models" / "EchoRecon.pt"


@pytest.mark.torch
@pytest.mark.skipif(not BUNDLED.is_file(), reason="no bundled EchoRecon model")
def test_the_bundled_classifier_flags_swapped_labels_on_the_sample():
    from test_echorecon import NORMAL

    classifier = viewcheck.loadClassifier()
    assert classifier is not None and classifier["modelSha256"] == ModelFile(BUNDLED).sha256
    assert classifier["patients"] >= 100 and classifier["features"] == list(viewcheck.FEATURE_NAMES)
    images = {phase: pipeline.readPhase(paths) for phase, paths in NORMAL.items()}
    result = pipeline.reconstruct(images["ED"], images["ES"], "cpu")
    assert result.readouts.values["view_label_disagreements"] == 0
    from dataclasses import replace

    unlabelled = {phase: {view: replace(image, viewLabel="") for view, image in byView.items()}
                  for phase, byView in images.items()}  # as files that name no view
    swapped = {phase: dict(byView, A3C=byView["SAXM"], SAXM=byView["A3C"]) for phase, byView in unlabelled.items()}
    with keepingImplausible():  # other gates may judge the swapped heart too; the view check only warns
        result = pipeline.reconstruct(swapped["ED"], swapped["ES"], "cpu")
    assert result.readouts.values["view_label_disagreements"] == 2
    flagged = [warning for warning in result.readouts.warnings if "view classifier" in warning]
    assert [warning.split(" to the view classifier")[0] for warning in flagged] == [
        "the network's segmentation of the image given as A3C looks like a short-axis view",
        "the network's segmentation of the image given as SAXM looks like an A3C view"]

"""EchoRecon on fewer than six views: which views a run needs, what it reports, and the interval it gives.

The stand-in network of test_echorecon returns a known heart whatever the images; the bundled model's calibration
is checked against the bundled file.
"""

import json

import numpy as np
import pytest

from EchoReconLib import dicomcodes, inputs, pipeline, viewsets
from EchoReconLib.conventions import REQUIRED_VIEWS, VIEWS
from EchoReconLib.samples import SAMPLE_DIRECTORY
from ReconCoreLib.models import ModelFile
from ReconCoreLib.readouts import Readouts
from test_echorecon import NORMAL, saveKnownHeart

TWO = ("A4C", "A2C")


@pytest.fixture(scope="module")
def standIn(tmp_path_factory):
    return saveKnownHeart(tmp_path_factory.mktemp("model") / "EchoRecon.pt")


@pytest.fixture(scope="module")
def images():
    return {phase: pipeline.readPhase(paths) for phase, paths in NORMAL.items()}


def only(phase: dict, views) -> dict:
    return {view: image for view, image in phase.items() if view in views}


@pytest.fixture(scope="module")
def twoViewResult(standIn, images):
    return pipeline.reconstruct(only(images["ED"], TWO), only(images["ES"], TWO), "cpu", modelPath=str(standIn))


def test_the_view_sets_are_a4c_and_a2c_with_every_subset_of_the_others():
    sets = viewsets.optionalViewSets()
    assert len(sets) == 16 and len({frozenset(views) for views in sets}) == 16
    assert all(views[:2] == REQUIRED_VIEWS and len(set(views)) == len(views) for views in sets)
    assert sets[0] == TWO and sets[-1] == VIEWS
    assert viewsets.viewSetName(("SAXM", "A2C", "A4C")) == "A4C A2C SAXM"


def test_a4c_and_a2c_are_required_and_both_phases_have_the_same_views(images):
    inputs.checkPhase(only(images["ED"], TWO), "ED")  # enough
    with pytest.raises(ValueError, match=r"^missing end-diastolic view\(s\): A2C; EchoRecon needs at least A4C and "
                                         r"A2C \(and takes any of the other views: A3C, SAXB, SAXM, SAXA\)$"):
        inputs.checkPhase(only(images["ED"], ("A4C", "A3C", "SAXB")), "ED")
    with pytest.raises(ValueError, match="^end-diastole and end-systole need the same views: SAXM given for "
                                         "end-diastole only; SAXA for end-systole only$"):
        inputs.checkPhasePair(only(images["ED"], TWO + ("SAXM",)), only(images["ES"], TWO + ("SAXA",)))


def test_a_two_view_run_reports_its_views_and_only_their_measures(twoViewResult):
    values = twoViewResult.readouts.values
    assert twoViewResult.views == TWO
    assert values["views_used"] == "A4C A2C" and values["view_count"] == 2
    assert {"view_dice_a4c", "view_dice_a2c", "view_dice_es_a2c"} <= set(values)
    assert not [key for key in values if key.startswith(("view_dice", "view_residual"))
                and any(view.lower() in key for view in VIEWS if view not in TWO)]
    # the views not given reached the network as black images
    assert np.all(twoViewResult.inputs["ED"][[VIEWS.index(view) for view in VIEWS if view not in TWO]] == 0)
    assert np.all(twoViewResult.inputs["ES"][:2].max(axis=(1, 2)) > 0.5)
    # the stand-in model has no calibration: no interval, and a warning that says why
    assert "lv_ef_low_percent" not in values
    assert any(warning.startswith("no interval for the LV volumes and EF: EchoRecon-intervals.json ")
               for warning in twoViewResult.readouts.warnings)


def test_the_interval_comes_from_the_calibration_of_the_views_used(twoViewResult, standIn, tmp_path):
    sha = ModelFile(standIn).sha256
    sets = {viewsets.viewSetName(views): {"ef_points": 9.0, "edv_relative": 0.25, "esv_relative": 0.5}
            for views in viewsets.optionalViewSets()}
    sets["A4C A2C"] = {"ef_points": 12.0, "edv_relative": 0.2, "esv_relative": 0.3}
    path = tmp_path / "intervals.json"
    path.write_text(json.dumps({"modelSha256": sha, "coverage": 0.9, "sets": {"A4C A2C A3C": sets["A4C A2C"]}}))
    viewsets.recordViewSet(twoViewResult, sha, path)
    assert twoViewResult.readouts.warnings[-1] == ("no interval for the LV volumes and EF: intervals.json has no "
                                                   "calibration for the views A4C A2C")
    path.write_text(json.dumps({"modelSha256": sha, "coverage": 0.9, "sets": sets}))
    viewsets.recordViewSet(twoViewResult, sha, path)
    values = twoViewResult.readouts.values
    edv, esv, ef = values["lv_edv_ml"], values["lv_esv_ml"], values["lv_ef_percent"]
    # |estimate - truth| <= w x truth  <=>  estimate / (1 + w) <= truth <= estimate / (1 - w)
    assert values["lv_edv_low_ml"] == pytest.approx(edv / 1.2) and values["lv_edv_high_ml"] == pytest.approx(edv / 0.8)
    assert values["lv_esv_low_ml"] == pytest.approx(esv / 1.3) and values["lv_esv_high_ml"] == pytest.approx(esv / 0.7)
    assert values["lv_ef_low_percent"] == pytest.approx(ef - 12.0)
    assert values["lv_ef_high_percent"] == pytest.approx(min(ef + 12.0, 100.0))
    assert any(warning.startswith(f"EF {ef:.0f} % from 2 views (without A3C, SAXB, SAXM, SAXA): 90 % interval")
               for warning in twoViewResult.readouts.warnings)


def test_the_sr_codes_two_view_volumes_as_such():
    readouts = Readouts("EchoRecon")
    readouts.set("view_count", 2)
    assert dicomcodes.readoutMethod("lv_edv_ml", readouts) == dicomcodes.TWO_VIEWS
    assert dicomcodes.readoutMethod("lv_ef_percent", readouts) is None  # EF has no volume method
    readouts.set("view_count", 3)
    assert dicomcodes.readoutMethod("lv_edv_ml", readouts) is None  # the READOUTS method: three or more regions


def test_the_bundled_calibration_is_the_bundled_models():
    model = SAMPLE_DIRECTORY.parent / "Models" / "EchoRecon.pt"
    if not model.is_file():
        pytest.skip("no bundled EchoRecon model")
    calibration = viewsets.loadCalibration()
    assert calibration is not None and calibration["modelSha256"] == ModelFile(model).sha256
    assert set(calibration["sets"]) == {viewsets.viewSetName(views) for views in viewsets.optionalViewSets()}
    assert calibration["coverage"] == viewsets.COVERAGE and calibration["patients"] >= 100
    widths = calibration["sets"]
    # more views never give a much wider EF interval than A4C and A2C alone
    assert all(width["ef_points"] <= 1.2 * widths["A4C A2C"]["ef_points"] for width in widths.values())
    assert 0 < widths[" ".join(VIEWS)]["ef_points"] < widths["A4C A2C"]["ef_points"]


def test_view_dropout_blanks_the_same_optional_views_in_both_phases():
    pytest.importorskip("torch")
    from EchoReconDev.train import dropViews

    images = np.ones((8, len(VIEWS), 4, 4), np.float32)  # 4 patients x (ED, ES)
    labels = np.ones((8, len(VIEWS), 4, 4), np.int64)
    batch = dropViews({"images": images, "labels": labels}, np.random.default_rng(3), probability=1.0)
    kept = batch["images"].max(axis=(2, 3)) > 0  # [8, 6]
    assert np.all(kept[:, :2]) and np.array_equal(kept[0::2], kept[1::2])
    assert np.array_equal(kept, batch["labels"].max(axis=(2, 3)) > 0)  # a dropped view's label image: background
    assert not np.all(kept)  # with probability 1 some optional view goes (each with probability 0.5)
    untouched = dropViews({"images": images.copy() * 0 + 1, "labels": labels}, np.random.default_rng(3), 0.0)
    assert np.all(untouched["images"] == 1)


def test_conformal_quantile_is_the_rank_ceil_n_plus_one_times_coverage():
    pytest.importorskip("torch")
    from EchoReconDev.viewsets import conformalQuantile

    errors = -np.arange(1.0, 20.0)  # 19 errors, absolute values 1..19
    assert conformalQuantile(errors, 0.9) == 18.0  # ceil(20 x 0.9) = 18th smallest
    assert conformalQuantile(errors[:5], 0.9) == 5.0  # too few for 90 %: the largest


def test_the_command_line_runs_on_a4c_and_a2c_alone(standIn, bundleModel, tmp_path, capsys):
    from ReconCoreLib.cli import main
    from test_echorecon import caseArguments

    bundleModel("EchoRecon", standIn)
    others = dict.fromkeys(view for view in VIEWS if view not in TWO)
    assert main(caseArguments(tmp_path, others, others)) == 0, capsys.readouterr().err
    readouts = json.loads((tmp_path / "out" / "readouts.json").read_text())
    assert readouts["views_used"] == "A4C A2C" and readouts["lv_ef_percent"] == pytest.approx(48.8, abs=0.1)
    assert (tmp_path / "out" / "summary.png").stat().st_size > 10_000


def test_the_view_sets_give_the_same_errors_in_one_process_or_two(standIn, images):
    """The evaluation's view sets (EchoReconDev.viewsets, through the runtime's placement) split over processes."""
    pytest.importorskip("torch")
    from EchoReconDev.viewsets import resultsBySet

    stack = np.stack([[inputs.networkInput(images[phase][view], view) for view in VIEWS] for phase in ("ED", "ES")])
    data = {"seed": np.array([1, 2]), "images": np.round(np.stack([stack, stack[:, ::-1]]) * 255).astype(np.uint8),
            "volumesMl": np.array([[120.0, 48.0], [130.0, 60.0]])}
    one, two = resultsBySet(standIn, data, 1), resultsBySet(standIn, data, 2)
    assert list(one) == [viewsets.viewSetName(views) for views in viewsets.optionalViewSets()] == list(two)
    for name in one:
        for key in ("edv", "esv", "ef", "ef_true"):
            assert np.array_equal(one[name][key], two[name][key]), (name, key)
    assert one["A4C A2C"]["ef_true"] == pytest.approx([60.0, 100 * (1 - 60 / 130)])
    assert one["A4C A2C"]["ef"][0] == pytest.approx(48.8, abs=0.1)  # the stand-in's heart, whatever it is shown

"""Echo views as scanners record them (EchoReconDev.acquisition), the data kinds of makeCase and the dataset cache,
and the card's table of held-out splits (EchoReconDev.card).

The geometry tests rebuild what the network should see from first principles (the mesh cut at the acquired plane,
the runtime's :func:`~EchoReconLib.inputs.networkInput`) and compare it with what :func:`acquireView` returns, so
an image and its labels cannot drift apart unnoticed.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from EchoReconDev import acquisition, dataset, echosim, heartshapes, ultrasound
from EchoReconDev.acquisition import OUT_OF_DISTRIBUTION, VARIED, AcquisitionRanges
from EchoReconDev.card import splitsSection, splitsTable
from EchoReconLib.conventions import APICAL_VIEWS, FIELD_DEPTH_MM, IMAGE_SIZE, VIEWS
from EchoReconLib.echoio import EchoImage
from EchoReconLib.inputs import FIELD_DEPTH_RANGE_MM, checkPhysicalSize, networkInput, trainingPixelMm
from EchoReconLib.template import HeartTemplate
from EchoReconLib.viewplanes import ViewPlane, sliceLabels

SEED = 7
KINDS = {"varied": VARIED, "ood": OUT_OF_DISTRIBUTION}


@pytest.fixture(scope="module")
def template():
    return HeartTemplate.load()


@pytest.fixture(scope="module")
def cases(template):
    return {kind: echosim.makeCase(SEED, template=template, acquisition=kind) for kind in ("standard", *KINDS)}


@pytest.fixture(scope="module")
def heart(template):
    """ED vertices of one heart and its six jittered standard planes."""
    shape = heartshapes.sampleHeart(3, template=template)
    return shape.verticesEd, echosim.jitteredViewPlanes(shape.verticesEd, template, np.random.default_rng(1))


def _onNetworkGrid(mask: np.ndarray, pixelMm: float, view: str) -> np.ndarray:
    """A mask of an acquired image (sector apex at the top middle) as the runtime reads that image."""
    image = EchoImage(mask.astype(np.float32), (pixelMm, pixelMm), apexPixel=(0.0, (mask.shape[0] - 1) / 2.0))
    return networkInput(image, view) > 0.5


def _visible(jitter: dict, view: str) -> np.ndarray:
    """Where the acquired sector (drawn sector, depth, rows) lands on the network's grid."""
    pixelMm = jitter["depthMm"] / (jitter["rows"] - 1)
    return _onNetworkGrid(ultrasound.sectorMask(jitter["rows"], jitter["halfAngleDeg"]), pixelMm, view)


def _assertWithinRanges(jitter: dict, view: str, ranges: AcquisitionRanges) -> None:
    depths = ranges.apicalDepthMm if view in APICAL_VIEWS else ranges.shortAxisDepthMm
    for key, (low, high) in (("halfAngleDeg", ranges.halfAngleDeg), ("depthMm", depths), ("rows", ranges.rows),
                             ("lateralShiftMm", ranges.lateralShiftMm), ("depthShiftMm", ranges.depthShiftMm)):
        assert low <= jitter[key] <= high, (view, key, jitter[key])
    assert isinstance(jitter["rows"], int)


def _dice(first: np.ndarray, second: np.ndarray) -> float:
    return 2.0 * float((first & second).sum()) / float(first.sum() + second.sum())


# -- makeCase's acquisitions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_case_arrays_and_their_acquisition(template, cases, kind):
    case, ranges = cases[kind], KINDS[kind]
    assert case["images"].shape == case["labels"].shape == (2, 6, IMAGE_SIZE, IMAGE_SIZE)
    assert case["images"].dtype == np.float32 and case["labels"].dtype == np.uint8
    assert case["images"].min() >= 0.0 and case["images"].max() <= 1.0 and case["images"].max() > 0.5
    assert set(np.unique(case["labels"])) <= set(range(7))
    assert (case["labels"][:, 0] == 1).sum(axis=(1, 2)).min() > 300  # the LV cavity in A4C at ED and ES
    for index, view in enumerate(VIEWS):
        jitter = case["planeJitter"][index]
        _assertWithinRanges(jitter, view, ranges)
        assert "tiltDeg" in jitter  # the probe jitter is kept beside the acquisition
        assert case["pixelSpacingMm"][index] == pytest.approx(trainingPixelMm(view))  # the network's grid
        visible = _visible(jitter, view)
        origin, u, v, _ = case["planes"][index].astype(np.float64)
        plane = ViewPlane(view, origin, u, v, trainingPixelMm(view), IMAGE_SIZE, jitter["halfAngleDeg"])
        for phase, vertices in enumerate((case["verticesEd"], case["verticesEs"])):
            labels = case["labels"][phase, index]
            assert not labels[~visible].any()  # nothing where the acquired sector shows nothing
            expected = sliceLabels(vertices.astype(np.float64), template, plane) * visible
            assert (expected != labels).sum() <= 0.005 * max((labels > 0).sum(), 1)  # float32 planes: a few edges


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_cases_are_deterministic_by_seed(template, cases, kind):
    again = echosim.makeCase(SEED, template=template, acquisition=kind)
    for key in ("images", "labels", "planes", "pixelSpacingMm"):
        np.testing.assert_array_equal(again[key], cases[kind][key])
    assert again["planeJitter"] == cases[kind]["planeJitter"]
    other = echosim.makeCase(SEED + 1, template=template, acquisition=kind)
    assert other["planeJitter"][0]["depthMm"] != cases[kind]["planeJitter"][0]["depthMm"]


def test_standard_case_is_the_first_models_recipe(template, cases):
    """"standard" is what makeCase made before acquisitions existed: one call without the parameter gives the same
    arrays, and one view rebuilt from the old recipe (planes, label slices, EchoSettings.draw, simulateEcho at the
    plane's spacing and the 40 deg sector) matches bit for bit."""
    standard = cases["standard"]
    shape = heartshapes.sampleHeart(SEED, template=template)
    plain = echosim.makeCase(SEED, template=template)
    for key in ("images", "labels", "planes", "pixelSpacingMm", "verticesEd"):
        np.testing.assert_array_equal(plain[key], standard[key])
    assert set(standard["planeJitter"][0]) == {"tiltDeg", "rotationDeg", "inPlaneDeg", "offsetMm"}
    planes = echosim.jitteredViewPlanes(shape.verticesEd, template, np.random.default_rng([SEED, 2]))
    for index in (0, 4):  # A4C, SAXM
        plane = planes[VIEWS[index]]
        settings = ultrasound.EchoSettings.draw(np.random.default_rng([SEED, 3, index]))
        labels = sliceLabels(shape.verticesEs, template, plane)
        image = ultrasound.simulateEcho(labels, np.random.default_rng([SEED, 4, 1, index]), plane.pixelMm, settings)
        np.testing.assert_array_equal(labels, standard["labels"][1, index])
        np.testing.assert_array_equal(image, standard["images"][1, index])
    with pytest.raises(ValueError, match="unknown acquisition"):
        echosim.makeCase(SEED, template=template, acquisition="scanner")


# -- geometry of one acquisition ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("view", ["A4C", "SAXM"])
def test_image_and_labels_line_up(template, heart, kind, view):
    """The labels acquireView gives on the network's grid are the acquired plane's label image read as the runtime
    reads the acquired image (LV cavity Dice >= 0.9 in the visible sector), zero outside it, and the image shows
    them: the blood pool darker than the myocardium."""
    vertices, planes = heart
    for seed in range(2):
        rng = np.random.default_rng(seed)
        acquired = acquisition.acquisitionPlane(planes[view], rng, KINDS[kind])
        image, networkImage, labels, networkPlane = acquisition.acquireView(vertices, template, planes[view], rng,
                                                                            KINDS[kind], None, acquired)
        jitter = networkPlane.jitter
        assert image.pixels.shape == (jitter["rows"], jitter["rows"])
        assert image.fieldDepthMm == pytest.approx(jitter["depthMm"])
        np.testing.assert_array_equal(networkImage, networkInput(image, view))
        np.testing.assert_array_equal(networkPlane.origin, acquired.origin)
        assert networkPlane.pixelMm == trainingPixelMm(view) and networkPlane.size == IMAGE_SIZE
        visible = _visible(jitter, view)
        assert not labels[~visible].any()
        acquiredLabels = sliceLabels(vertices, template, acquired)
        cavity = _onNetworkGrid(acquiredLabels == 1, acquired.pixelMm, view) & visible
        assert cavity.sum() > 300 and _dice(cavity, labels == 1) >= 0.9
        assert _dice(_onNetworkGrid(acquiredLabels > 0, acquired.pixelMm, view) & visible, labels > 0) >= 0.9
        assert image.apexPixel == (0.0, (jitter["rows"] - 1) / 2.0)  # where the renderers put the sector apex
        contrast = _bloodMuscleContrast(networkImage, labels)
        assert networkImage[labels == 1].mean() < 0.8 * networkImage[labels == 2].mean()
        for shift in ((0, 4), (0, -4), (4, 0), (-4, 0)):  # labels moved 4 pixels: the image no longer fits them
            assert contrast > _bloodMuscleContrast(networkImage, np.roll(labels, shift, axis=(0, 1))) + 0.01


def _bloodMuscleContrast(image: np.ndarray, labels: np.ndarray) -> float:
    """Mean brightness of the LV myocardium minus that of the LV cavity under ``labels``."""
    return float(image[labels == 2].mean() - image[labels == 1].mean())


def _fixedRanges(lateralMm: float = 0.0, deeperMm: float = 0.0) -> AcquisitionRanges:
    """The standard geometry (40 deg half sector, training depths, 128 rows) with a given probe shift, no
    annotations."""
    return AcquisitionRanges(halfAngleDeg=(40.0, 40.0), apicalDepthMm=(FIELD_DEPTH_MM["A4C"],) * 2,
                             shortAxisDepthMm=(FIELD_DEPTH_MM["SAXM"],) * 2, rows=(IMAGE_SIZE, IMAGE_SIZE),
                             lateralShiftMm=(lateralMm, lateralMm), depthShiftMm=(deeperMm, deeperMm),
                             annotations=0.0, style="physical")


@pytest.mark.parametrize("view", ["A4C", "SAXM"])
def test_standard_geometry_reproduces_the_standard_view(template, heart, view):
    """Acquired at the training geometry, the view is the simulator's standard one: the image passes
    networkInput unchanged and the labels are the standard plane's, cleared outside the sector."""
    vertices, planes = heart
    settings = ultrasound.EchoSettings()
    image, networkImage, labels, networkPlane = acquisition.acquireView(
        vertices, template, planes[view], np.random.default_rng(3), _fixedRanges(), settings)
    standardLabels = sliceLabels(vertices, template, planes[view])
    sector = ultrasound.sectorMask()
    np.testing.assert_array_equal(labels, standardLabels * sector)
    rng = np.random.default_rng(3)
    acquisition.acquisitionPlane(planes[view], rng, _fixedRanges())  # the draws acquireView made first
    expected = ultrasound.simulateEcho(standardLabels, rng, planes[view].pixelMm, settings)
    np.testing.assert_array_equal(networkImage, expected)
    np.testing.assert_array_equal(image.pixels, expected)
    np.testing.assert_allclose(networkPlane.origin, planes[view].origin, atol=1e-12)


def test_probe_shift_moves_the_heart(template, heart):
    """A probe shift of whole network pixels moves the labels by those pixels: positive depth shift -> the heart
    lies deeper (rows down), positive lateral shift -> the heart lies to the image's right (columns up)."""
    vertices, planes = heart
    view, across, down = "A4C", 9, 6
    pixelMm = trainingPixelMm(view)
    ranges = _fixedRanges(across * pixelMm, down * pixelMm)
    _, _, shifted, _ = acquisition.acquireView(vertices, template, planes[view], np.random.default_rng(0), ranges,
                                               ultrasound.EchoSettings())
    standard = sliceLabels(vertices, template, planes[view])
    sector = ultrasound.sectorMask()
    expected = np.zeros_like(standard)
    expected[down:, across:] = standard[:-down, :-across]
    compared = sector.copy()  # acquireView clears what the sector does not show; the standard labels have no hole
    compared[:down, :] = compared[:, :across] = False
    heartPixels = (expected[compared] > 0).sum()
    assert heartPixels > 2000
    assert (shifted[compared] != expected[compared]).sum() <= 0.005 * heartPixels


# -- drawn values and the out-of-distribution split -----------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_drawn_acquisitions_fill_their_ranges(heart, kind):
    _, planes = heart
    ranges = KINDS[kind]
    rng = np.random.default_rng(0)
    for view in ("A4C", "SAXB"):
        plane = planes[view]
        draws = [acquisition.acquisitionPlane(plane, rng, ranges) for _ in range(300)]
        for drawn in draws:
            jitter = drawn.jitter
            _assertWithinRanges(jitter, view, ranges)
            assert jitter["tiltDeg"] == plane.jitter["tiltDeg"]
            assert drawn.size == jitter["rows"] and drawn.halfAngleDeg == jitter["halfAngleDeg"]
            assert drawn.pixelMm * (drawn.size - 1) == pytest.approx(jitter["depthMm"])
            np.testing.assert_allclose(drawn.origin, plane.origin - jitter["lateralShiftMm"] * plane.u
                                       - jitter["depthShiftMm"] * plane.v, atol=1e-9)
            np.testing.assert_array_equal(drawn.u, plane.u)
        depths = ranges.apicalDepthMm if view in APICAL_VIEWS else ranges.shortAxisDepthMm
        for key, (low, high) in (("halfAngleDeg", ranges.halfAngleDeg), ("depthMm", depths), ("rows", ranges.rows),
                                 ("depthShiftMm", ranges.depthShiftMm)):
            values = [drawn.jitter[key] for drawn in draws]
            assert min(values) < low + 0.05 * (high - low) and max(values) > high - 0.05 * (high - low), key


def test_out_of_distribution_lies_outside_the_training_ranges(heart):
    """Sector, depth, image size and how deep the heart lies: every out-of-distribution draw is beyond the varied
    (training) range, and it renders with the other style. (Its lateral shift and probe jitter only extend the
    training ranges: most of their draws fall inside them.)"""
    for key in ("halfAngleDeg", "apicalDepthMm", "shortAxisDepthMm", "rows", "depthShiftMm"):
        assert getattr(OUT_OF_DISTRIBUTION, key)[0] >= getattr(VARIED, key)[1], key
    assert OUT_OF_DISTRIBUTION.style == "B" and VARIED.style == "physical"
    assert acquisition.OOD_TILT_DEG > echosim.TILT_DEG and acquisition.OOD_OFFSET_MM > echosim.OFFSET_MM
    _, planes = heart
    rng = np.random.default_rng(1)
    for view in VIEWS:
        jitter = acquisition.acquisitionPlane(planes[view], rng, OUT_OF_DISTRIBUTION).jitter
        depths = VARIED.apicalDepthMm if view in APICAL_VIEWS else VARIED.shortAxisDepthMm
        assert jitter["halfAngleDeg"] >= VARIED.halfAngleDeg[1] and jitter["depthMm"] >= depths[1]
        assert jitter["rows"] > VARIED.rows[1]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_drawn_view_passes_the_runtimes_depth_gate(kind):
    """A view of either split is one a user could load: its field depth lies in the runtime's plausible range and
    its pixels are square (checkPhysicalSize on each extreme view alone)."""
    ranges = KINDS[kind]
    for view, depths in (("A4C", ranges.apicalDepthMm), ("SAXB", ranges.shortAxisDepthMm)):
        for depth in depths:
            assert FIELD_DEPTH_RANGE_MM[0] <= depth <= FIELD_DEPTH_RANGE_MM[1]
            for rows in ranges.rows:
                image = EchoImage(np.zeros((rows, rows), np.float32), (depth / (rows - 1),) * 2)
                checkPhysicalSize({"ED": {view: image}})


# -- annotations and the second renderer ----------------------------------------------------------------------


def _annotate(rows: int, halfAngleDeg: float, seed: int):
    """(changed pixels inside the sector that are neither in the ECG rows nor in the top-corner text, unit,
    changed pixels outside the sector) of burnInAnnotations on a flat sector image.

    Bounds from the drawing code: text lines start at row `unit`, at most 4 lines 5 units apart, 3 units high (rows <
    19 units), from column `unit` over at most 8 blocks of <= 5 units (left, < 41 units) and from 28 units before the
    right edge; the ECG baseline lies 4-12 % of the rows above the bottom and its QRS reaches 8 units above it."""
    unit = max(1, rows // 128)
    sector = ultrasound.sectorMask(rows, halfAngleDeg)
    image = np.where(sector, 0.3, 0.0).astype(np.float32)
    before = image.copy()
    out = acquisition.burnInAnnotations(image, np.random.default_rng(seed), halfAngleDeg)
    assert out is image  # in place
    changed = out != before
    row, column = np.mgrid[0:rows, 0:rows]
    ecg = row >= int(0.88 * rows) - 9 * unit
    corners = (row < 19 * unit) & ((column < 41 * unit) | (column >= rows - 28 * unit))
    return changed & sector & ~ecg & ~corners, unit, changed & ~sector


@pytest.mark.parametrize("rows, halfAngleDeg", [(128, 30.0), (200, 45.0), (320, 38.0), (500, 50.0), (700, 45.0)])
def test_annotations_stay_beside_the_image(rows, halfAngleDeg):
    """Annotations change pixels outside the sector, in the bottom (ECG) rows and the top-corner text; inside the
    image content at most the focus marker (2 x 1 units) and, at the widest sectors, corners of the depth-scale
    dots (12 dots of 1 x 1 unit)."""
    for seed in range(8):
        inside, unit, outside = _annotate(rows, halfAngleDeg, seed)
        assert outside.sum() > 20 * unit * unit  # text and scale drawn
        assert inside.sum() <= 2 * unit * unit + (12 * unit * unit if halfAngleDeg > 45.0 else 0)


def test_render_style_b(template, heart):
    vertices, planes = heart
    acquired = acquisition.acquisitionPlane(planes["A4C"], np.random.default_rng(0), OUT_OF_DISTRIBUTION)
    labels = sliceLabels(vertices, template, acquired)
    image = acquisition.renderStyleB(labels, np.random.default_rng(1), acquired.pixelMm, acquired.halfAngleDeg)
    again = acquisition.renderStyleB(labels, np.random.default_rng(1), acquired.pixelMm, acquired.halfAngleDeg)
    sector = ultrasound.sectorMask(acquired.size, acquired.halfAngleDeg)
    assert image.dtype == np.float32 and image.shape == labels.shape
    assert image.min() >= 0.0 and image.max() <= 1.0
    np.testing.assert_array_equal(image, again)
    assert not image[~sector].any() and image[sector].mean() > 0.05
    assert image[labels == 1].mean() + 0.1 < image[labels == 2].mean()  # dark blood, bright muscle


# -- the cache holds one kind -----------------------------------------------------------------------------------


def test_cache_folder_holds_one_acquisition(tmp_path):
    varied = tmp_path / "varied"
    varied.mkdir()
    dataset.checkAcquisition(varied, "varied")
    assert (varied / "acquisition.txt").read_text() == "varied\n"
    dataset.checkAcquisition(varied, "varied")  # the same kind again
    for other in ("standard", "ood"):
        with pytest.raises(ValueError, match="'varied'"):
            dataset.checkAcquisition(varied, other)
    with pytest.raises(ValueError):
        dataset.buildShards([dataset.HELD_OUT_SEED_OFFSET], varied, dataset.HELD_OUT_PREFIX, acquisition="ood")
    assert not list(varied.glob("*.npz"))  # refused before generating anything
    assert (varied / "acquisition.txt").read_text() == "varied\n"
    old = tmp_path / "old"  # shards written before there was a choice: standard
    old.mkdir()
    dataset.shardPath(old, dataset.HELD_OUT_PREFIX, dataset.HELD_OUT_SEED_OFFSET).write_bytes(b"")
    with pytest.raises(ValueError, match="'standard'"):
        dataset.checkAcquisition(old, "varied")
    dataset.checkAcquisition(old, "standard")
    assert (old / "acquisition.txt").read_text() == "standard\n"


# -- the card's table of held-out splits --------------------------------------------------------------------------


def _fakeMetrics(scale: float, failures: int = 0) -> dict:
    return {"patients": 200, "seeds": [1_000_000, 1_000_199], "acquisition": "standard",
            "command": "python -m EchoReconDev.evaluate --work runs/echo --cases 200",
            "lv_volume_median_abs_error_percent": 4.26 * scale, "edv_mae_ml": 7.04 * scale,
            "esv_mae_ml": 5.56 * scale,
            "ef": {"mae": 3.214 * scale, "bias": 0.5 * scale, "loa_low": -6.04 * scale, "loa_high": 7.16 * scale},
            "ef_simpson": {"mae": 5.5 * scale}, "simpson_failures": failures,
            "assd_mm_max_structure_mean": 1.87 * scale, "heart_region_dice": 0.9123 / scale,
            "segmentation_dice": {"LV cavity": 0.8876 / scale, "RV": 0.5}}


def test_splits_table():
    table = splitsTable({"standard (above)": _fakeMetrics(1.0), "ood": dict(_fakeMetrics(2.0, failures=3),
                                                                          refused_by_gates=8)})
    lines = table.splitlines()
    assert lines[0] == "| quantity | standard (above) | ood |" and lines[1] == "|---|---|---|"
    assert len(lines) == 12 and all(line.count("|") == 4 for line in lines)
    assert "| patients whose volumes or EF the runtime's gates refuse | - | 8 |" in lines  # "-": not counted
    assert "| patients | 200 | 200 |" in lines
    assert "| LV volume (EDV and ESV) median absolute error | 4.3 % | 8.5 % |" in lines
    assert "| EDV / ESV mean absolute error (mL) | 7.0 / 5.6 | 14.1 / 11.1 |" in lines
    assert "| EF mean absolute error (points) | 3.21 | 6.43 |" in lines
    assert "| EF bias (95 % limits of agreement) | +0.50 (-6.0 to +7.2) | +1.00 (-12.1 to +14.3) |" in lines
    assert "| biplane Simpson's EF MAE, model's segmentation (points) | 5.50 | 11.00 (3 failed) |" in lines
    assert "| surface ASSD, worst structure's mean (mm) | 1.87 | 3.74 |" in lines
    assert "| 2D heart-region Dice | 0.912 | 0.456 |" in lines
    assert "| 2D LV-cavity Dice | 0.888 | 0.444 |" in lines


def test_splits_section():
    metrics = _fakeMetrics(1.0)
    assert splitsSection(metrics, None) == "" and splitsSection(metrics, {}) == ""
    section = splitsSection(metrics, {"varied": _fakeMetrics(1.5), "ood": _fakeMetrics(3.0)})
    assert section.startswith("\n## Other held-out splits\n") and "seeds 1000000-1000199" in section
    assert "| quantity | standard (above) | varied | ood |" in section
    assert "Printed by `python -m EchoReconDev.evaluate --work runs/echo --cases 200`." in section
    assert "standard split's label images keep the structures outside" in section
    varied = dict(metrics, acquisition="varied")
    assert "standard split" not in splitsSection(varied, {"ood": _fakeMetrics(3.0)})


def test_refused_by_gates_counts_what_the_runtime_would_not_report():
    pytest.importorskip("torch", reason="needs torch: the pass with Slicer's packages runs without it")
    from EchoReconDev.evaluate import refusedByGates

    edv = np.array([120.0, 600.0, 100.0, 90.0, 150.0, 400.0, np.nan])
    esv = np.array([50.0, 300.0, 110.0, 88.0, 60.0, 120.0, 50.0])
    # 2nd: EDV 600 mL, 3rd: ESV above EDV, 4th: EF 2 %, 6th: stroke volume 280 mL, 7th: no EDV
    assert refusedByGates(edv, esv, 100 * (1 - esv / edv)) == 5


def test_evaluate_arguments(tmp_path):
    pytest.importorskip("torch", reason="needs torch: the pass with Slicer's packages runs without it")
    import json

    from EchoReconDev import evaluate

    assert evaluate.otherSplits(["varied=runs/v", "ood=/tmp/o"], "standard") == {
        "varied": evaluate.Path("runs/v"), "ood": evaluate.Path("/tmp/o")}
    for bad in (["scanner=x"], ["varied"], ["varied="], ["standard=x"], ["ood=a", "ood=b"]):
        with pytest.raises(SystemExit):
            evaluate.otherSplits(bad, "standard")
    args = SimpleNamespace(work="runs/echo", cases=4, model=str(evaluate.MODEL_PATH), acquisition="standard",
                           also=["ood=runs/o"], results="runs/old", training=None)
    assert evaluate.commandLine(args) == ("python -m EchoReconDev.evaluate --work runs/echo --cases 4 "
                                          "--acquisition standard --also ood=runs/o --results runs/old")
    assert evaluate.commandLine(SimpleNamespace(**{**vars(args), "training": "runs/v/training.json"})).endswith(
        "--results runs/old --training runs/v/training.json")
    # --card-only: the splits of the same evaluation, not an earlier run's
    command = evaluate.commandLine(args)
    (tmp_path / "evaluation.json").write_text(json.dumps({"command": command, "patients": 4}))
    (tmp_path / "evaluation-cases.csv").write_text("seed,ef\n1000000,55.5\n")
    (tmp_path / "evaluation-ood.json").write_text(json.dumps({"command": command, "patients": 4}))
    (tmp_path / "evaluation-varied.json").write_text(json.dumps({"command": "an earlier one", "patients": 9}))
    metrics, rows, splits = evaluate.readEvaluation(tmp_path, {})
    assert metrics["patients"] == 4 and rows == [{"seed": 1000000, "ef": 55.5}] and list(splits) == ["ood"]
    assert list(evaluate.readEvaluation(tmp_path, {"varied": None})[2]) == ["varied"]

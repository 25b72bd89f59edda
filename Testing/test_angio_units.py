"""AngioRecon in millimetres: the vessel maps and the reconstruction do not depend on the detector's pixel count, and
the plausibility gates refuse what no coronary tree gives.

The resolution tests make the same field of view as a bundled sample at other pixel counts (anti-aliased resize,
geometry by ``withImageSize``) and compare the network's 128 x 128 input maps (Dice) and, with torch, the
reconstructions with those of the sample as it is. Measured (2026, these files): input maps Dice 0.877-0.947 at 128
px (coarser than the working spacing), 0.953-0.996 at 512-2048 px; reconstructions at 1024 px 3D Dice 0.971 (left)
and 0.974 (right) against the native ones with both cubes on the isocenter (0.31 before the filter worked in mm).
Now each cube goes where its run finds the tree (in 8 mm steps), so the results are compared with the true tree.
"""

import re

import numpy as np
import pytest
from PIL import Image

from angiohelpers import onIsocenterCube
from AngioReconLib import vessels
from AngioReconLib.entry import caseFromArguments
from AngioReconLib.nodeinputs import treeProblem
from AngioReconLib.samples import SAMPLE_DIRECTORY, sampleFiles
from ReconCoreLib import cineframes
from ReconCoreLib.cineframes import FrameChooser
from ReconCoreLib.plausibility import ImplausibleResult, keepingImplausible
from ReconCoreLib.readouts import Readouts
from ReconCoreLib.xrayio import XrayImage, readMaskImage, readXrayImage, writeXrayDicom

#: Input maps at another pixel count agree with the sample's own at least this well (Dice of maps >= 0.5).
MAP_DICE_FINER = 0.92  # measured >= 0.953 at 512, 1024, 2048 px
MAP_DICE_COARSER = 0.8  # measured >= 0.877 at 128 px: half the working spacing's pixels, thin vessels blur
#: The sample at 1024 px: its cube within one placement step (mm) of the native run's on each axis (measured 0 for
#: both), its 3D Dice against the true tree within this of the native run's (measured 0.691 and 0.689 left, 0.561 and
#: 0.557 right).
CUBE_SHIFT_1024_MM, RECON_DICE_CHANGE_1024 = 8.0, 0.04
SAMPLE_VIEWS = [(name, key) for name in ("AngioLeft", "AngioRight") for key in ("view1", "view2")]


def resampled(view: XrayImage, size: int) -> XrayImage:
    """The same field of view at ``size`` x ``size`` pixels: Lanczos (anti-aliased) when shrinking, bicubic when
    growing; the geometry scaled to match."""
    method = Image.LANCZOS if size < view.pixels.shape[0] else Image.BICUBIC
    pixels = np.asarray(Image.fromarray(view.pixels.astype(np.float32)).resize((size, size), method), np.float32)
    return XrayImage(pixels, view.geometry.withImageSize(size, size), f"{view.sourcePath}@{size}")


def dice(first: np.ndarray, second: np.ndarray) -> float:
    first, second = np.asarray(first) >= 0.5, np.asarray(second) >= 0.5
    return float(2 * (first & second).sum() / max(first.sum() + second.sum(), 1))


# -- millimetres, not pixels ---------------------------------------------------------------------------------------
def test_working_spacing_is_the_samples_spacing_at_the_isocenter():
    """The filter's scales were tuned on the samples (1, 2, 3 pixels): in mm they are those pixels at the isocenter."""
    for name, key in SAMPLE_VIEWS:
        geometry = readXrayImage(sampleFiles(name)[key], 1).geometry
        rowMm, columnMm = vessels.spacingAtIsocenterMm(geometry)
        assert rowMm == pytest.approx(vessels.WORKING_SPACING_MM, rel=1e-6)
        assert columnMm == pytest.approx(vessels.WORKING_SPACING_MM, rel=1e-6)
        assert vessels.workingSize(geometry) == (geometry.rows, geometry.columns)  # samples are not resampled
    assert np.allclose(np.array(vessels.VESSEL_SCALES_MM) / vessels.WORKING_SPACING_MM, [1, 2, 3])


def test_resize_averages_areas_and_interpolates_linearly():
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(64, 96)).astype(np.float32)
    halved = vessels.resizeImage(image, 32, 48)
    assert np.allclose(halved, image.reshape(32, 2, 48, 2).mean(axis=(1, 3)), atol=1e-6)  # 2 x 2 means
    shrunk = vessels.resizeImage(image, 27, 41)  # non-integer factors: each output pixel the mean of its area
    assert shrunk.mean() == pytest.approx(image.mean(), abs=1e-5)
    ramp = np.add.outer(np.arange(40.0), 2 * np.arange(50.0)).astype(np.float32)
    grown = vessels.resizeImage(ramp, 80, 100)
    inner = grown[2:-2, 2:-2]  # a ramp stays a ramp (pixel centres: (i + 0.5) / 2 - 0.5 of the input)
    rows, columns = np.mgrid[2:78, 2:98]
    assert np.allclose(inner, ((rows + 0.5) / 2 - 0.5) + 2 * ((columns + 0.5) / 2 - 0.5), atol=1e-4)
    assert np.array_equal(vessels.resizeImage(image, 64, 96), image)


@pytest.mark.parametrize("name, key", SAMPLE_VIEWS)
def test_network_input_maps_do_not_depend_on_the_pixel_count(name, key):
    view = readXrayImage(sampleFiles(name)[key], 1)
    centre = (10.0, -6.0, 4.0)  # the cube's centre (LPS mm): the network's detector about it
    native, nativeGeometry = vessels.networkMap(*vessels.workingMap(view), centre)
    assert native.shape == (128, 128) and nativeGeometry.rows == 128
    for size in (128, 512, 1024, 2048):
        other = resampled(view, size)
        maps, geometry = vessels.networkMap(*vessels.workingMap(other), centre)
        assert np.allclose(geometry.projectionMatrixLps(), nativeGeometry.projectionMatrixLps(), atol=1e-6)
        tolerance = MAP_DICE_COARSER if size < view.pixels.shape[0] else MAP_DICE_FINER
        assert dice(maps, native) >= tolerance, (name, key, size, dice(maps, native))


def test_frame_with_the_strongest_vessels_is_chosen_at_any_pixel_count():
    view = readXrayImage(sampleFiles("AngioLeft")["view2"], 1)
    frames = [readXrayImage(sampleFiles("AngioLeft")["view2"], index).pixels for index in range(3)]
    for size in (256, 1024):
        geometry = view.geometry.withImageSize(size, size)
        scores = [vessels.vesselContrastScore(resampled(XrayImage(frame, view.geometry), size).pixels, geometry)
                  for frame in frames]
        assert int(np.argmax(scores)) == 1, (size, scores)


# -- the frame of a cine -------------------------------------------------------------------------------------------
#: Contrast in each frame of the synthetic cine: washing in, strongest in frame 7, washing out.
CINE_CONTRAST = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 0.7, 0.45, 0.25, 0.1)


def syntheticCine(size=256, seed=5):
    """Frames (12, size, size) of a field like the samples' (0.555 mm per pixel at the isocenter at 256 px): five
    curved dark vessels 1.1-2 mm wide whose contrast follows CINE_CONTRAST, over a background of a ramp, a broad
    shadow and a bright stripe, with noise of its own in every frame."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[:size, :size].astype(np.float64) * 256 / size  # pixels of the 256 px field
    tubes = np.zeros((size, size))
    for centre, amplitude, period, width in ((50, 12, 70, 2.0), (100, 20, 110, 3.5), (150, 8, 50, 1.8),
                                             (200, 15, 90, 3.0)):
        distance = rows - (centre + amplitude * np.sin(columns / period * 2 * np.pi))
        tubes = np.maximum(tubes, np.exp(-(distance / width) ** 2))
    tubes = np.maximum(tubes, np.exp(-((columns - 128 - 30 * np.sin(rows / 80)) / 2.5) ** 2))
    background = (1000 + 2 * rows + 150 * np.exp(-((rows - 128) ** 2 + (columns - 100) ** 2) / (2 * 60 ** 2))
                  + 60 * (np.abs(columns - 40) < 10))
    return np.stack([background - 300 * contrast * tubes + rng.normal(0, 8, (size, size))
                     for contrast in CINE_CONTRAST])


@pytest.fixture(scope="module")
def cinePath(tmp_path_factory):
    path = tmp_path_factory.mktemp("cine") / "cine.dcm"
    return writeXrayDicom(path, syntheticCine(), sampleGeometry(), "XA", uidSeed="angio-cine")


def recording(score, calls):
    def recorded(frame, geometry):
        calls.append((frame.shape, geometry))
        return score(frame, geometry)

    return recorded


def test_cine_frame_with_the_strongest_vessels_is_chosen_by_the_full_score_of_the_quick_scores_best(cinePath):
    fullScores = [vessels.vesselContrastScore(view.pixels, view.geometry)
                  for view in (vessels.readAngiogram(cinePath, index) for index in range(len(CINE_CONTRAST)))]
    assert int(np.argmax(fullScores)) == 7  # the full vesselness of every frame: the strongest contrast
    assert vessels.readAngiogram(cinePath).frameIndex == 7

    quickCalls, fullCalls = [], []
    chooser = FrameChooser(recording(vessels.quickVesselScore, quickCalls),
                           recording(vessels.vesselContrastScore, fullCalls), vessels.QUICK_SPACING_MM,
                           vessels.FULL_SCORE_CANDIDATES)
    view = readXrayImage(cinePath, None, chooser)
    assert view.frameIndex == 7
    # every frame in blocks of whole pixels (0.555 mm) nearest QUICK_SPACING_MM, the 4 best at full resolution
    factor = int(round(vessels.QUICK_SPACING_MM / vessels.WORKING_SPACING_MM))
    assert abs(factor * vessels.WORKING_SPACING_MM - vessels.QUICK_SPACING_MM) <= vessels.WORKING_SPACING_MM / 2
    coarse = quickCalls[0][1]
    assert [shape for shape, _ in quickCalls] == [(256 // factor, 256 // factor)] * len(CINE_CONTRAST)
    assert vessels.spacingAtIsocenterMm(coarse) == pytest.approx((factor * 0.555,) * 2, rel=1e-6)
    assert [shape for shape, _ in fullCalls] == [(256, 256)] * vessels.FULL_SCORE_CANDIDATES
    assert all(geometry == view.geometry for _, geometry in fullCalls)
    quickScores = [vessels.quickVesselScore(cineframes.blockMean(frame, factor, factor), coarse)
                   for frame in syntheticCine()]
    assert int(np.argmax(quickScores)) == 7 and np.all(np.diff(quickScores[2:8]) > 0)  # it rises with the contrast


def withRWaves(path, target, pointer):
    """A copy of a cine DICOM whose ECG R waves (RWavePointer, one-based frame numbers) are ``pointer``."""
    import pydicom

    dataset = pydicom.dcmread(str(path))
    dataset.add_new((0x0028, 0x6040), "US", pointer)
    dataset.save_as(str(target))
    return target


def test_a_cine_with_ecg_r_waves_gives_the_strongest_r_wave_frame(cinePath, tmp_path):
    """R waves at frames 3, 6 and 10 (zero-based 2, 5, 9: contrast 0.1, 0.5, 0.45 of CINE_CONTRAST): frame 5, at
    end-diastole, not frame 7 where the vessels are strongest; said in the readouts. Without R waves, frame 7."""
    view = vessels.readAngiogram(withRWaves(cinePath, tmp_path / "ecg.dcm", [3, 6, 10]))
    assert view.frameIndex == 5 and "3 R-wave frames" in view.frameChoice and "RWavePointer" in view.frameChoice
    plain = vessels.readAngiogram(cinePath)
    assert plain.frameIndex == 7 and plain.frameChoice == "strongest of all 12 frames (no ECG R waves in the file)"
    assert vessels.readAngiogram(cinePath, 3).frameChoice == "given"
    with pytest.raises(ValueError, match=r"ecg-broken.dcm: RWavePointer 40 is not a frame of the file \(1-12\)"):
        vessels.readAngiogram(withRWaves(cinePath, tmp_path / "ecg-broken.dcm", [3, 40]))


@pytest.mark.torch
@pytest.mark.skipif(not (SAMPLE_DIRECTORY.parent / "Models" / "AngioRecon.pt").is_file(),
                    reason="no bundled AngioRecon model")
def test_a_run_says_how_each_frame_was_chosen_and_warns_when_only_one_is_at_an_r_wave():
    from dataclasses import replace

    from AngioReconLib import pipeline
    from ReconCoreLib.cineframes import frameChoice

    views = [vessels.readAngiogram(sampleFiles("AngioLeft")[key]) for key in ("view1", "view2")]
    plain = pipeline.reconstruct(*views, "left", "cpu").readouts
    assert plain.values["frame_choice_view1"] == frameChoice([], 3) and not any("R wave" in w for w in plain.warnings)
    mixed = pipeline.reconstruct(replace(views[0], frameChoice=frameChoice([1], 3)), views[1], "left", "cpu").readouts
    assert "R-wave" in mixed.values["frame_choice_view1"]
    assert any("the two may show the heart at different phases" in warning for warning in mixed.warnings)


def test_an_explicit_frame_of_a_cine_is_not_scored(cinePath, monkeypatch):
    def refuse(frame, geometry):
        raise AssertionError("scored")

    monkeypatch.setattr(vessels, "VESSEL_FRAME_CHOOSER", FrameChooser(refuse, refuse))
    view = vessels.readAngiogram(cinePath, 3)
    assert (view.frameIndex, view.numberOfFrames) == (3, len(CINE_CONTRAST))
    with pytest.raises(AssertionError, match="scored"):
        vessels.readAngiogram(cinePath)


def test_quick_vessel_score_is_in_mm():
    """The same frames at 256 and 512 px, each block-averaged to about QUICK_SPACING_MM as the reader does: the same
    ranking, the scores of frames with visible vessels within 10 %; a constant frame scores 0."""
    geometry = sampleGeometry()
    scores = {}
    for size in (256, 512):
        fine = geometry.withImageSize(size, size)
        factors = vessels.VESSEL_FRAME_CHOOSER.blockFactors(fine)
        coarse = cineframes.coarseGeometry(fine, *factors)
        scores[size] = np.array([vessels.quickVesselScore(cineframes.blockMean(frame, *factors), coarse)
                                 for frame in syntheticCine(size)])
    assert int(np.argmax(scores[256])) == int(np.argmax(scores[512])) == 7
    visible = np.array(CINE_CONTRAST) >= 0.2  # blocks of 1.67 mm at 256 px, 1.39 mm at 512 px: the same scores
    assert np.allclose(scores[512][visible], scores[256][visible], rtol=0.1), scores
    assert vessels.darkTubeScore(np.full((64, 64), 5.0), 1.0) == 0.0


@pytest.mark.torch
@pytest.mark.skipif(not (SAMPLE_DIRECTORY.parent / "Models" / "AngioRecon.pt").is_file(),
                    reason="no bundled AngioRecon model")
@pytest.mark.parametrize("name, tree", [("AngioLeft", "left"), ("AngioRight", "right")])
def test_reconstruction_at_1024_pixels_matches_the_native_one(name, tree):
    from AngioReconLib import pipeline

    from ReconCoreLib import runtime, storage

    views = [readXrayImage(sampleFiles(name)[key], 1) for key in ("view1", "view2")]
    native = pipeline.reconstruct(views[0], views[1], tree, "cpu")
    fine = pipeline.reconstruct(resampled(views[0], 1024), resampled(views[1], 1024), tree, "cpu")
    # The cube goes where each run finds the tree: within a few mm, and as good a result against the true tree.
    assert np.abs(fine.ijkToRas[:3, 3] - native.ijkToRas[:3, 3]).max() <= CUBE_SHIFT_1024_MM
    label = runtime.arrayFromVolumeNode(storage.loadNode(runtime.newHeadlessScene(), sampleFiles(name)["label"]))
    scores = [dice(onIsocenterCube(result.probability, result.cubeCentreLps), label > 0) for result in (native, fine)]
    assert scores[1] == pytest.approx(scores[0], abs=RECON_DICE_CHANGE_1024), scores
    for key in ("reprojection_dice_view1", "reprojection_dice_view2"):
        assert fine.readouts.values[key] == pytest.approx(native.readouts.values[key], abs=0.05)


# -- plausibility of the vessel maps --------------------------------------------------------------------------------
def sampleGeometry():
    return readXrayImage(sampleFiles("AngioLeft")["view1"], 1).geometry


@pytest.mark.parametrize("name, key", SAMPLE_VIEWS)
def test_sample_maps_and_true_masks_are_plausible(name, key):
    files = sampleFiles(name)
    for frame in (0, 1):  # the least and the fully opacified frames
        view = readXrayImage(files[key], frame)
        vesselMap, spacing = vessels.vesselMapFromAngiogram(view.pixels, view.geometry)
        vessels.checkVesselMap(vesselMap, spacing, "sample")
    mask = readMaskImage(files["mask1" if key == "view1" else "mask2"]) > 0
    measures = vessels.checkVesselMap(mask, vessels.WORKING_SPACING_MM, "true mask")
    assert 1.5 <= measures["width_mm"] <= 2.5 and measures["largest_share"] == pytest.approx(1.0)
    view = readXrayImage(files[key], 1)
    vessels.checkMaskOnImage(view, mask, vessels.WORKING_SPACING_MM, "true mask")
    assert vessels.workingMap(view, mask.astype(np.float32))[0].shape == mask.shape


@pytest.mark.parametrize("kind, fragment", [
    ("white noise", "area fraction"),
    ("smooth noise", "largest vessel"),
    ("disc", "longest connected vessel"),
    ("tiny binary", "longest connected vessel"),
    ("random binary", "area fraction"),
])
def test_implausible_vessel_maps_are_refused(kind, fragment):
    rng = np.random.default_rng(3)
    geometry = sampleGeometry()
    rows, columns = np.mgrid[:256, :256]
    if kind == "white noise":
        image = rng.normal(size=(256, 256)).astype(np.float32)
    elif kind == "smooth noise":
        from scipy import ndimage

        image = ndimage.gaussian_filter(rng.normal(size=(256, 256)), 4).astype(np.float32)
    elif kind == "disc":
        image = (((rows - 128) ** 2 + (columns - 128) ** 2) < 40 ** 2).astype(np.float32)
    elif kind == "random binary":
        image = (rng.uniform(size=(256, 256)) > 0.5).astype(np.float32)
    else:  # 64 x 64 pixels over the sample's field (2.2 mm pixels): a bar 22 mm long
        geometry = geometry.withImageSize(64, 64)
        image = np.zeros((64, 64), np.float32)
        image[20:30, 24:28] = 1
    with pytest.raises(ImplausibleResult, match=fragment) as refusal:
        with keepingImplausible():  # input gates stop the run even when implausible results are kept
            vessels.workingMap(XrayImage(image, geometry, kind))
    message = str(refusal.value)
    assert "\n" not in message and message.startswith(kind) and "plausible range" in message


def test_mask_of_another_view_is_refused():
    files = sampleFiles("AngioLeft")
    view = readXrayImage(files["view1"], 1)
    otherMask = (readMaskImage(files["mask2"]) > 0).astype(np.float32)
    expected = (r"^view2-mask.png: vessel mask contrast .*\(mask_contrast\) = 0.0163 is outside the plausible "
                r"range >= 0.09$")
    with pytest.raises(ImplausibleResult, match=expected):
        vessels.workingMap(view, otherMask, "view2-mask.png")
    binaryView = XrayImage((readMaskImage(files["mask1"]) > 0).astype(np.float32), view.geometry, "map")
    vessels.workingMap(binaryView, otherMask)  # no angiogram to compare with: only the map's own checks


# -- plausibility of the result -------------------------------------------------------------------------------------
@pytest.mark.parametrize("volume, dices, fragment", [
    (100.0, (0.7, 0.7), "(vessel_volume_mm3) = 100 mm3 is outside the plausible range [300, 25000] mm3"),
    (40000.0, (0.7, 0.7), "(vessel_volume_mm3) = 40000 mm3"),
    (3000.0, (0.7, 0.12), "(reprojection_dice_view2) = 0.12 is outside the plausible range [0.3, 1]"),
])
def test_implausible_results_stop_or_are_kept_as_failed_checks(volume, dices, fragment):
    pytest.importorskip("torch", reason="the pipeline module is torch code")
    from AngioReconLib.pipeline import checkResult

    with pytest.raises(ImplausibleResult, match=re.escape(fragment)):
        checkResult(Readouts("AngioRecon"), volume, dices, "left")
    readouts = Readouts("AngioRecon")
    with keepingImplausible():
        checkResult(readouts, volume, dices, "left")
    assert readouts.failed and len(readouts.failedChecks) == 1 and fragment in readouts.failedChecks[0]
    plausible = Readouts("AngioRecon")
    checkResult(plausible, 3688.0, (0.68, 0.72), "left")  # the AngioLeft sample
    assert not plausible.failed


# -- the tree is never assumed --------------------------------------------------------------------------------------
def test_tree_is_required(tmp_path):
    from ReconCoreLib.cli import buildParser

    files = sampleFiles("AngioRight")
    arguments = ["angio", str(files["view1"]), str(files["view2"]), "--out", str(tmp_path / "out")]
    with pytest.raises(ValueError, match="^--tree is required: which coronary was injected, left or right$"):
        caseFromArguments(buildParser().parse_args(arguments))
    assert caseFromArguments(buildParser().parse_args([*arguments, "--tree", "right"])).tree == "right"
    with pytest.raises(ValueError, match="same file"):
        caseFromArguments(buildParser().parse_args(["angio", str(files["view1"]), str(files["view1"]), "--out",
                                                    str(tmp_path / "out"), "--tree", "right"]))
    assert treeProblem("") == "Choose the coronary tree the views show (left or right)."
    assert treeProblem("middle") and treeProblem("left") is None and treeProblem("right") is None

"""The femur mask network (FemurRegistrationLib.femurmask) and its training data (FemurRegistrationDev.maskdata,
.masktrain): grid, normalisation, the bundled model on the samples, refusals."""

import numpy as np
import pytest

from FemurRegistrationLib import femurmask
from FemurRegistrationLib.samples import sampleFiles
from ReconCoreLib.resample import resizeImage
from ReconCoreLib.xrayio import readMaskImage, readXrayImage

pytestmark = pytest.mark.torch

#: Dice of the bundled network's proposal with the samples' true masks: measured 0.969-0.985 on the four views (the
#: brightness proposal it replaced: 0.80-0.94).
MIN_SAMPLE_DICE = 0.95


def dice(first, second):
    first, second = np.asarray(first) > 0, np.asarray(second) > 0
    return 2.0 * (first & second).sum() / (first.sum() + second.sum())


def test_grid_is_two_mm_detector_pixels_and_never_larger_than_the_radiograph():
    assert femurmask.gridShape((640, 640), (0.6, 0.6)) == (192, 192)
    assert femurmask.gridShape((3000, 2500), (0.15, 0.15)) == (225, 188)
    assert femurmask.gridShape((100, 80), (3.0, 3.0)) == (100, 80)  # coarser than the grid: as it is
    assert femurmask.gridShape((1024, 768), None) == (171, 128)  # no spacing: at most 192 a side


def test_normalise_maps_the_first_and_99th_percentiles_to_0_and_1():
    image = np.random.default_rng(0).uniform(5.0, 9.0, (64, 64))
    low, high = np.percentile(femurmask.normalise(image), [1, 99])
    assert low == pytest.approx(0.0, abs=1e-5) and high == pytest.approx(1.0, abs=1e-5)
    assert np.isfinite(femurmask.normalise(np.ones((8, 8)))).all()  # flat: no division by zero


@pytest.mark.parametrize("name", ["FemurOrthogonal", "FemurOblique"])
def test_bundled_network_finds_the_samples_femurs_at_any_pixel_count(name):
    files = sampleFiles(name)
    for view, maskKey in (("ap", "apMask"), ("lat", "latMask")):
        image, truth = readXrayImage(files[view]), readMaskImage(files[maskKey]) > 0
        proposed = femurmask.proposeFemurMask(image.pixels, image.geometry.pixelSpacingMm)
        assert proposed.shape == truth.shape and proposed.dtype == np.uint8
        assert dice(proposed, truth) > MIN_SAMPLE_DICE, (name, view)
        rows, columns = image.pixels.shape  # twice the pixels over the same field: the same proposal
        finer = femurmask.proposeFemurMask(resizeImage(image.pixels, 2 * rows, 2 * columns),
                                           [value / 2 for value in image.geometry.pixelSpacingMm])
        assert dice(resizeImage(finer.astype(np.float32), rows, columns) >= 0.5, proposed) > 0.97, (name, view)


def test_a_flat_radiograph_is_refused():
    for value in (0.0, 3.0):
        with pytest.raises(ValueError, match="flat .*no femur found"):
            femurmask.proposeFemurMask(np.full((256, 256), value, np.float32), (1.0, 1.0))


def test_training_crops_keep_image_and_mask_together():
    from FemurRegistrationDev import masktrain

    rng = np.random.default_rng(3)
    image = np.zeros((120, 200), np.float32)
    mask = np.zeros((120, 200), np.uint8)
    image[30:90, 50:70], mask[30:90, 50:70] = 1.0, 1  # a bright bar and its mask
    for _ in range(5):
        crop, cropMask = masktrain.sample(image, mask, rng)
        assert crop.shape == cropMask.shape == (masktrain.CROP, masktrain.CROP)
        if cropMask.any():  # the bar is brighter than its surroundings in every augmented crop
            assert crop[cropMask > 0].mean() > crop[cropMask == 0].mean() + 0.5


def test_training_radiographs_stay_out_of_the_out_of_distribution_geometry():
    from FemurRegistrationDev import maskdata, outofdistribution

    draws = [maskdata.acquisition(seed) for seed in range(200)]
    sids = [draw["sourceToDetectorMm"] for draw in draws]
    assert max(sids) < outofdistribution.SID_RANGE_MM[0] and min(sids) >= maskdata.SID_RANGE_MM[0]
    fields = [draw["pixels"] * draw["pixelMm"] for draw in draws]
    assert min(fields) > 355.0 and max(fields) < 425.0


@pytest.mark.parametrize("name", ["FemurOrthogonal", "FemurHipCentred"])
def test_a_white_collimator_shutter_is_not_taken_for_the_femur(name, monkeypatch):
    """The sample's radiographs collimated (white bands 12-25 mm wide on three edges, noise of 1 % of the range, a
    line of text on one): the bands are found exactly and the proposal matches the true mask as on the radiograph as
    taken (Dice 0.960-0.989 measured). Without the shutter step the network took a band for the femur (Dice
    0.04-0.58). Nothing is found on the radiographs as taken."""
    files = sampleFiles(name)
    for view, maskKey in (("ap", "apMask"), ("lat", "latMask")):
        image, truth = readXrayImage(files[view]), readMaskImage(files[maskKey]) > 0
        assert not femurmask.whiteShutters(image.pixels, image.geometry.pixelSpacingMm).any()
        pixels = image.pixels.astype(np.float32).copy()
        spacing = image.geometry.pixelSpacingMm[0]
        top, left, right = (int(round(width / spacing)) for width in (12.0, 25.0, 18.0))
        band = np.zeros(pixels.shape, bool)
        band[:top], band[:, :left], band[:, pixels.shape[1] - right:] = True, True, True
        bright = float(np.percentile(pixels, 99.9))
        spread = bright - float(np.percentile(pixels, 0.1))
        pixels[band] = bright + np.random.default_rng(1).normal(0.0, 0.01 * spread, int(band.sum()))
        pixels[2:8, left + 5:left + 80] = 1.3 * bright  # burned-in text on the top band
        assert np.array_equal(femurmask.whiteShutters(pixels, image.geometry.pixelSpacingMm), band)
        proposed = femurmask.proposeFemurMask(pixels, image.geometry.pixelSpacingMm)
        assert not (proposed.astype(bool) & band).any()
        assert dice(proposed, truth & ~band) > MIN_SAMPLE_DICE, (name, view)
        monkeypatch.setattr(femurmask, "whiteShutters", lambda image, spacing: np.zeros(np.shape(image), bool))
        assert dice(femurmask.proposeFemurMask(pixels, image.geometry.pixelSpacingMm), truth & ~band) < 0.7
        monkeypatch.undo()

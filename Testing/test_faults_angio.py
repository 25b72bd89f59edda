"""``recon2d3d angio`` refuses what it cannot reconstruct truthfully, as a user meets it (a subprocess): exit 2, one
line naming the problem, no traceback, nothing written. Bad inputs are built at test time from the bundled samples.

The refusals happen before the network runs (argument checks, the reader, the vessel map gates); those after the
check for torch are marked ``torch``. An odd but valid input (the sample at 1024 px under a non-ASCII path) must give
the sample's own result.
"""

import json

import numpy as np
import pytest
from PIL import Image

from AngioReconLib.samples import SAMPLE_DIRECTORY, sampleFiles
from faultinjection import assertRefused, runCommand
from ReconCoreLib.xrayio import readXrayImage, writeXrayDicom

HAS_MODEL = (SAMPLE_DIRECTORY.parent / "Models" / "AngioRecon.pt").is_file()
needsModel = pytest.mark.skipif(not HAS_MODEL, reason="no bundled AngioRecon model")


def sample(name="AngioLeft"):
    return sampleFiles(name)


def imageWithSidecar(path, pixels, geometry):
    """``pixels`` as an image file (by the extension) with a JSON sidecar holding ``geometry`` and Modality XA."""
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(pixels), str(path))
    path.with_suffix(".json").write_text(json.dumps({**geometry.toAttributes(), "Modality": "XA"}))
    return path


def resampledFrames(path, size):
    """Every frame of a sample view at ``size`` x ``size`` pixels (bicubic), and the geometry of that image."""
    import pydicom

    view = readXrayImage(path, 1)
    frames = pydicom.dcmread(str(path)).pixel_array.astype(np.float32)
    resized = [np.asarray(Image.fromarray(frame).resize((size, size), Image.BICUBIC), np.float32) for frame in frames]
    return np.stack(resized), view.geometry.withImageSize(size, size)


def test_missing_tree_is_refused(tmp_path):
    files = sample("AngioRight")
    run = runCommand(["angio", files["view1"], files["view2"]], tmp_path / "out")
    assertRefused(run, 2, "--tree is required: which coronary was injected, left or right")


def test_same_file_for_both_views_is_refused(tmp_path):
    files = sample()
    run = runCommand(["angio", files["view1"], files["view1"], "--tree", "left"], tmp_path / "out")
    assertRefused(run, 2, "view1 and view2 are the same file", "AngioLeft-view1.dcm")


@pytest.mark.torch
@needsModel
@pytest.mark.parametrize("keep", [False, True])
def test_noise_image_is_not_a_vessel_map(tmp_path, keep):
    """White noise with the sample's geometry: the vesselness finds 'tubes' everywhere; input gates always stop."""
    files = sample()
    geometry = readXrayImage(files["view1"], 1).geometry
    noise = np.random.default_rng(5).normal(1000, 100, (geometry.rows, geometry.columns)).astype(np.float32)
    path = imageWithSidecar(tmp_path / "noise.nrrd", noise, geometry)
    run = runCommand(["angio", path, files["view2"], "--tree", "left", *(["--keep-implausible"] if keep else [])],
                     tmp_path / "out")
    assertRefused(run, 2, "noise.nrrd", "vessel area fraction", "plausible range [0.005, 0.25]")


@pytest.mark.torch
@needsModel
def test_tiny_binary_image_is_not_a_vessel_map(tmp_path):
    files = sample()
    geometry = readXrayImage(files["view2"], 1).geometry.withImageSize(64, 64)
    tiny = np.zeros((64, 64), np.uint8)
    tiny[20:30, 24:28] = 255  # a bar of 22 x 9 mm over the sample's field
    path = imageWithSidecar(tmp_path / "tiny.png", tiny, geometry)
    run = runCommand(["angio", files["view1"], path, "--tree", "left"], tmp_path / "out")
    assertRefused(run, 2, "tiny.png", "longest connected vessel (largest_vessel_mm)", ">= 40 mm")


@pytest.mark.torch
@needsModel
def test_mask_of_another_view_is_refused(tmp_path):
    files = sample()
    run = runCommand(["angio", files["view1"], files["view2"], "--tree", "left", "--frame1", "1",
                      "--mask1", files["mask2"]], tmp_path / "out")
    assertRefused(run, 2, "AngioLeft-view2-mask.png", "vessel mask contrast", "mask_contrast")


@pytest.mark.torch
@needsModel
def test_ct_image_is_refused(tmp_path):
    import pydicom

    files = sample()
    dataset = pydicom.dcmread(str(files["view1"]))
    dataset.Modality = "CT"
    path = tmp_path / "ct.dcm"
    dataset.save_as(str(path))
    run = runCommand(["angio", path, files["view2"], "--tree", "left"], tmp_path / "out")
    assertRefused(run, 2, "ct.dcm", "Modality is CT", "XA, RF")


@pytest.mark.torch
@needsModel
def test_sample_at_1024_pixels_under_a_unicode_path_gives_the_samples_result(tmp_path):
    """Both views written again as 3-frame XA at 1024 x 1024 (0.185 mm pixels) in a folder with non-ASCII
    characters: the frame choice, the vessel maps and the reconstruction are those of the sample."""
    import SimpleITK as sitk

    from AngioReconLib import pipeline
    from AngioReconLib.vessels import readAngiogram

    files = sample()
    folder = tmp_path / "Ångiø 血管 ü"
    folder.mkdir()
    paths = []
    for key in ("view1", "view2"):
        frames, geometry = resampledFrames(files[key], 1024)
        paths.append(writeXrayDicom(folder / f"{key} é.dcm", frames, geometry, uidSeed=key))
    run = runCommand(["angio", *paths, "--tree", "left", "--device", "cpu", "--quiet"], folder / "résultat")
    assert run.returncode == 0, run.stderr
    plain = pipeline.reconstruct(readAngiogram(files["view1"]), readAngiogram(files["view2"]), "left", "cpu")
    odd = json.loads((folder / "résultat" / "readouts.json").read_text())
    for key in ("reprojection_dice_view1", "reprojection_dice_view2"):
        assert odd[key] == pytest.approx(plain.readouts.values[key], abs=0.05), key
    assert odd["vessel_volume_mm3"] == pytest.approx(plain.readouts.values["vessel_volume_mm3"], rel=0.1)
    # volume.nrrd holds the probability in the cube's [k, j, i] order, as the pipeline gives it
    oddVolume = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "résultat" / "volume.nrrd"))) >= 0.5
    plainVolume = plain.probability >= 0.5
    dice = 2 * (oddVolume & plainVolume).sum() / (oddVolume.sum() + plainVolume.sum())
    assert dice >= 0.9, dice  # measured 0.97

"""``recon2d3d femur`` refuses bad inputs the way a user meets them (a subprocess; faultinjection.py), built at test
time from the bundled samples, and gives the plain sample's result for an odd but valid copy of it.

Each refusal comes before the network runs (input checks), with exit 2, one line on stderr, nothing written.
"""

import json

import numpy as np
import pytest

from faultinjection import assertRefused, runCommand
from femurhelpers import BUNDLED_MODEL
from FemurRegistrationLib.samples import sampleFiles
from ReconCoreLib.xrayio import readMaskImage, writeMaskImage

pytestmark = [pytest.mark.torch,  # the command needs torch before it reads the inputs (exit 5 without)
              pytest.mark.skipif(not BUNDLED_MODEL.is_file(), reason="no bundled FemurRegistration model")]

SAMPLE = sampleFiles("FemurOrthogonal")


def femurArguments(ap=SAMPLE["ap"], lat=SAMPLE["lat"], apMask=SAMPLE["apMask"], latMask=SAMPLE["latMask"]):
    return ["femur", ap, lat, "--ap-mask", apMask, "--lat-mask", latMask, "--device", "cpu", "--quiet"]


def dicomCopy(path, target, **attributes):
    import pydicom

    dataset = pydicom.dcmread(path)
    for keyword, value in attributes.items():
        setattr(dataset, keyword, value)
    dataset.save_as(target)
    return target


def test_masks_swapped_between_the_views(tmp_path):
    run = runCommand(femurArguments(apMask=SAMPLE["latMask"], latMask=SAMPLE["apMask"]), tmp_path / "out")
    assertRefused(run, 2, "AP femur mask", "outline_on_edges", "plausible range [0.87, 1]", "--keep-implausible")


def test_pixel_spacing_doubled_in_one_view(tmp_path):
    lateral = dicomCopy(SAMPLE["lat"], tmp_path / "lat.dcm", ImagerPixelSpacing=["0.8", "0.8"])
    run = runCommand(femurArguments(lat=lateral), tmp_path / "out")
    assertRefused(run, 2, "lateral femur mask", "shaft_width_mm) = 50.3 mm", "plausible range [20, 40] mm")


def test_a_ct_modality_copy(tmp_path):
    ct = dicomCopy(SAMPLE["ap"], tmp_path / "ap.dcm", Modality="CT")
    run = runCommand(femurArguments(ap=ct), tmp_path / "out")
    assertRefused(run, 2, "Modality is CT", "DX, CR, RF")


def test_an_xa_angiogram_copy(tmp_path):
    xa = dicomCopy(SAMPLE["lat"], tmp_path / "lat.dcm", Modality="XA")
    assertRefused(runCommand(femurArguments(lat=xa), tmp_path / "out"), 2, "Modality is XA")


def test_a_mask_of_a_dark_region(tmp_path):
    dark = np.zeros_like(readMaskImage(SAMPLE["apMask"]), dtype=np.uint8)
    dark[150:400, 20:40] = 255  # air beside the body
    writeMaskImage(tmp_path / "dark.png", dark)
    run = runCommand(femurArguments(apMask=tmp_path / "dark.png") + ["--keep-implausible"], tmp_path / "out")
    assertRefused(run, 2, "AP femur mask", "bone_contrast")  # not kept: the mask is not on a bone


def test_two_image_laterality_values(tmp_path):
    both = dicomCopy(SAMPLE["ap"], tmp_path / "ap.dcm", ImageLaterality=["L", "R"])
    assertRefused(runCommand(femurArguments(ap=both), tmp_path / "out"), 2, "ImageLaterality must have one value")


@pytest.mark.parametrize("content", ["text", "header cut", "data cut"])
def test_an_unreadable_reference_is_refused_not_aborted(tmp_path, content):
    """MRML's NRRD reader aborted the process (SIGABRT, no message, staging left) on these."""
    whole = SAMPLE["reference"].read_bytes()
    reference = tmp_path / "reference.seg.nrrd"
    reference.write_bytes({"text": b"not a segmentation\n", "header cut": whole[:200], "data cut": whole[:10000]}[
        content])
    run = runCommand(femurArguments() + ["--reference", reference], tmp_path / "out")
    assertRefused(run, 2, "reference.seg.nrrd: not a readable image")


def test_a_folder_given_as_a_mask(tmp_path):
    assertRefused(runCommand(femurArguments(apMask=tmp_path), tmp_path / "out"), 2, "--ap-mask", "is a folder")


def test_twice_the_pixels_at_half_the_spacing_in_a_unicode_folder(tmp_path):
    """The same field at 1024 x 1024 pixels of 0.2 mm (NRRD + JSON sidecar, PNG masks) under 'Hüfte 股骨' gives the
    sample's result."""
    from scipy.ndimage import map_coordinates

    from ReconCoreLib.xrayio import readXrayImage, writeSidecar

    folder = tmp_path / "Hüfte 股骨"
    folder.mkdir()
    arguments = []
    for key in ("ap", "lat"):
        view = readXrayImage(SAMPLE[key])
        centres = (np.arange(1024) + 0.5) / 2 - 0.5
        rows, columns = np.meshgrid(centres, centres, indexing="ij")
        pixels = map_coordinates(view.pixels, [rows, columns], order=1, mode="nearest")
        low, high = float(pixels.min()), float(pixels.max())
        image = folder / f"{key}.nrrd"
        writeMaskImage(image, ((pixels - low) / (high - low) * 4095).astype(np.uint16))
        writeSidecar(image, view.geometry.withImageSize(1024, 1024), Modality="DX", ImageLaterality="R")
        mask = readMaskImage(SAMPLE[key + "Mask"])
        writeMaskImage(folder / f"{key}-mask.png", np.repeat(np.repeat(mask, 2, axis=0), 2, axis=1))
        arguments.append(image)
    arguments += [folder / "ap-mask.png", folder / "lat-mask.png"]
    large = runCommand(femurArguments(*arguments), folder / "out")
    plain = runCommand(femurArguments(), tmp_path / "plain")
    assert large.returncode == 0 and plain.returncode == 0, large.stderr + plain.stderr
    first = json.loads((folder / "out" / "readouts.json").read_text())
    second = json.loads((tmp_path / "plain" / "readouts.json").read_text())
    assert first["failed_checks"] == second["failed_checks"] == []
    for key, tolerance in (("ncc_ap", 0.02), ("ncc_lat", 0.02), ("head_diameter_mm", 0.5),
                           ("neck_shaft_angle_deg", 1.0), ("femur_volume_mm3", 3000.0), ("femoral_offset_mm", 0.5)):
        assert first[key] == pytest.approx(second[key], abs=tolerance), key

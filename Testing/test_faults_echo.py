"""``recon2d3d echo`` refuses bad inputs as a user meets them (a subprocess: exit 2, one stderr line, no traceback,
nothing written) and gives the same result for an odd but valid input.

Every bad input is made here from the bundled EchoNormal sample: sidecars with the pixel spacing in cm or 3x too
large, A4C and A2C swapped with their labels removed, a CT DICOM given as a view, DICOM PixelSpacing with three values
or one, a boolean in a sidecar. The valid odd input: the twelve views upsampled 2x (spacing halved) in a folder with a
non-ASCII name.
"""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from EchoReconLib import samples
from EchoReconLib.conventions import VIEWS
from faultinjection import assertRefused, runCommand
from test_echo_gates import SAMPLE_SPACING_MM, samplePixels, writeEchoDicom, writeScaledSample

pytestmark = [pytest.mark.torch,
              pytest.mark.skipif(not (samples.SAMPLE_DIRECTORY.parent / "Models" / "EchoRecon.pt").is_file(),
                                 reason="no bundled EchoRecon model")]
NORMAL = samples.sampleFiles("EchoNormal")


def echoArguments(files, withEs=True, **replace):
    """``echo --ed VIEW=FILE ... [--es ...] --device cpu --quiet`` of {phase: {view: path}}; ``replace`` {"ED_A4C":
    path} swaps single views."""
    arguments = ["echo"]
    for phase in ("ED", "ES") if withEs else ("ED",):
        arguments += [f"--{phase.lower()}"] + [f"{view}={replace.get(f'{phase}_{view}', files[phase][view])}"
                                               for view in VIEWS]
    return arguments + ["--device", "cpu", "--quiet"]


@pytest.mark.parametrize("scale, fragments", [
    (0.1, ("end-diastolic A4C", "pixel spacing 0.1417 x 0.1417 mm", "field depth", "= 18 mm", "[80, 300] mm")),
    (3.0, ("end-diastolic A4C", "pixel spacing 4.252 x 4.252 mm", "field depth", "= 540 mm", "[80, 300] mm")),
])
def test_pixel_spacing_in_cm_or_3x_is_refused(scale, fragments, tmp_path):
    files = writeScaledSample(tmp_path / "views", scale)
    assertRefused(runCommand(echoArguments(files), tmp_path / "out"), 2, *fragments)


def test_unlabelled_a4c_and_a2c_swapped_are_refused(tmp_path):
    files = writeScaledSample(tmp_path / "views", dropLabels=True)
    swapped = {f"{phase}_{view}": files[phase][other] for phase in ("ED", "ES")
               for view, other in (("A4C", "A2C"), ("A2C", "A4C"))}
    assertRefused(runCommand(echoArguments(files, **swapped), tmp_path / "out"), 2,
                  "end-diastolic A4C and A2C look swapped", "(right heart/LV area) = 0.", ">= 0.4")


def test_a_ct_dicom_given_as_an_echo_view_is_refused(tmp_path):
    ct = writeEchoDicom(tmp_path / "ct.dcm", samplePixels(), SAMPLE_SPACING_MM["A4C"], modality="CT")
    run = runCommand(echoArguments(NORMAL, withEs=False, ED_A4C=ct), tmp_path / "out")
    assertRefused(run, 2, f"{ct}: Modality is CT; this module reads ultrasound (echo) images (Modality US)")


@pytest.mark.parametrize("spacing, fragment", [
    ([0.5, 0.5, 0.5], "PixelSpacing must have 2 values, got 3"),
    (0.5, "PixelSpacing must have 2 values, got 1"),
])
def test_dicom_pixel_spacing_with_the_wrong_number_of_values_is_refused(spacing, fragment, tmp_path):
    view = writeEchoDicom(tmp_path / "a4c.dcm", samplePixels(), 0.5, region=False, PixelSpacing=spacing)
    run = runCommand(echoArguments(NORMAL, withEs=False, ED_A4C=view), tmp_path / "out")
    assertRefused(run, 2, str(view), fragment)


def test_a_boolean_in_a_sidecar_is_refused(tmp_path):
    files = writeScaledSample(tmp_path / "views", sidecarChanges={"SAXM": {"PixelSpacing": [True, True]}})
    assertRefused(runCommand(echoArguments(files), tmp_path / "out"), 2,
                  "EchoNormal_ED_SAXM.png (sidecar): PixelSpacing must be a number, got the boolean true")


def test_views_upsampled_2x_under_a_non_ascii_path_give_the_same_result(tmp_path):
    from EchoReconLib import pipeline

    plain = pipeline.reconstruct(*(pipeline.readPhase(NORMAL[phase]) for phase in ("ED", "ES")), "cpu").readouts.values
    folder = tmp_path / "échographie 心エコー"
    folder.mkdir()
    files = {}
    for phase, paths in NORMAL.items():
        files[phase] = {}
        for view, path in paths.items():
            pixels = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
            fine = np.kron(pixels, np.ones((2, 2), pixels.dtype))  # pixel (r, c) -> (2r..2r+1, 2c..2c+1)
            destination = folder / path.name
            sitk.WriteImage(sitk.GetImageFromArray(fine), str(destination))
            sidecar = json.loads(path.with_suffix(".json").read_text())
            sidecar.update(PixelSpacing=[value / 2 for value in sidecar["PixelSpacing"]], Rows=256, Columns=256)
            destination.with_suffix(".json").write_text(json.dumps(sidecar, ensure_ascii=False), encoding="utf-8")
            files[phase][view] = destination
    run = runCommand(echoArguments(files), folder / "résultats")
    assert run.returncode == 0, run.stderr
    values = json.loads((folder / "résultats" / "readouts.json").read_text())
    assert values["failed_checks"] == []
    assert values["lv_ef_percent"] == pytest.approx(plain["lv_ef_percent"], abs=3.0)
    assert values["lv_edv_ml"] == pytest.approx(plain["lv_edv_ml"], rel=0.05)
    assert values["lv_esv_ml"] == pytest.approx(plain["lv_esv_ml"], rel=0.08)

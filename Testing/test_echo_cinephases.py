"""EchoRecon on cines: end-diastole and end-systole of each view from the LV cavity area curve (cinephases)."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from clihelpers import run
from EchoReconLib import cinephases, samples
from EchoReconLib.conventions import VIEWS
from EchoReconLib.echoio import EchoImage
from EchoReconLib.inputs import trainingPixelMm
from EchoReconLib.samples import SAMPLE_DIRECTORY


def test_phases_are_the_largest_and_smallest_lv_area():
    curves = {"A4C": [30.0, 33.0, 25.0, 19.0, 22.0, 29.0], "A2C": [20.0, 18.0, 28.0, 31.0]}
    phases = cinephases.choosePhases(curves, {"A4C": "a4c.nrrd", "A2C": "a2c.nrrd"})
    assert phases.endDiastole == {"A4C": 1, "A2C": 3} and phases.endSystole == {"A4C": 3, "A2C": 1}
    assert phases.areaChange("A4C") == pytest.approx((33 - 19) / 33)


def test_end_diastole_is_the_r_wave_frame_of_largest_area_when_the_file_has_an_ecg():
    """With R waves (from the DICOM file: R Wave Pointer or ECG waveform), end-diastole is the R-wave frame of largest
    LV area, not the curve's largest; end-systole stays the smallest; the readouts say how each was chosen."""
    from ReconCoreLib.readouts import Readouts

    curves = {"A4C": [30.0, 33.0, 25.0, 19.0, 22.0, 31.0], "A2C": [20.0, 18.0, 28.0, 31.0]}
    phases = cinephases.choosePhases(curves, {"A4C": "a4c.dcm", "A2C": "a2c.nrrd"},
                                     {"A4C": ([0, 5], "DICOM ECG waveform"), "A2C": ([], "")})
    assert phases.endDiastole == {"A4C": 5, "A2C": 3} and phases.endSystole == {"A4C": 3, "A2C": 1}
    readouts = Readouts("EchoRecon")
    cinephases.recordCinePhases(readouts, phases)
    assert readouts.values["ed_choice_a4c"] == "R wave (DICOM ECG waveform), largest LV area of 2"
    assert readouts.values["ed_choice_a2c"] == cinephases.LARGEST_AREA == "largest LV cavity area"


@pytest.mark.parametrize("curve, message", [
    ([30.0], "a4c.nrrd has one frame: a cine is needed"),
    ([0.1, 0.2, 0.1], "no frame shows the LV cavity"),
    ([30.0, 29.0, 30.5, 29.5], r"no identifiable cardiac cycle, the LV cavity area changes by 4.9 % over 4 frames"),
])
def test_no_cycle_is_refused_naming_the_view(curve, message):
    prefix = "A4C: " if "one frame" in message else "A4C: a4c.nrrd: "
    with pytest.raises(ValueError, match=f"^{prefix}{message}"):
        cinephases.choosePhases({"A4C": curve}, {"A4C": "a4c.nrrd"})


def diskFrames(radii, spacing, size=256):
    """Frames [N, size, size]: a dark disk (the LV cavity) of each radius (mm) on bright tissue."""
    rows, columns = np.mgrid[0:size, 0:size]
    frames = np.full((len(radii), size, size), 0.8, np.float32)
    for index, radius in enumerate(radii):
        frames[index][np.hypot((rows - 120) * spacing, (columns - (size - 1) / 2) * spacing) < radius] = 0.05
    return frames


def darkIsCavity(inputs: dict) -> dict:
    """Stand-in for the network's 2D branch: dark pixels inside the image are LV cavity."""
    return {view: ((value > 0) & (value < 0.3)).astype(np.uint8) for view, value in inputs.items()}


def test_area_curve_in_cm2_at_the_image_scale():
    """Frames at another pixel spacing than the network's: the curve is in cm2 of the patient, the segmenter sees the
    network's grid (a stand-in: dark pixels are LV cavity)."""
    spacing = 0.7  # mm, about half the network's 1.417 mm for an apical view
    radii = [30.0, 25.0, 20.0, 27.0]  # mm
    frames = [EchoImage(pixels, (spacing, spacing)) for pixels in diskFrames(radii, spacing)]
    areas = cinephases.lvAreaCurves({"A4C": frames}, darkIsCavity)["A4C"]
    assert areas == pytest.approx([np.pi * radius ** 2 / 100 for radius in radii], rel=0.05)
    assert trainingPixelMm("A4C") == pytest.approx(180 / 127)


@pytest.mark.torch
@pytest.mark.skipif(not (SAMPLE_DIRECTORY.parent / "Models" / "EchoRecon.pt").is_file(), reason="no bundled model")
def test_cines_on_the_command_line(tmp_path, capsys):
    """Six simulated cines (10 frames: end-diastole at frame 0, end-systole at frame 5, the heart relaxing again):
    the run finds the frames from the LV area curve, reports them and reconstructs from them."""
    from EchoReconDev import echosim, heartshapes
    from EchoReconDev.samples import cineFrames
    from EchoReconLib.template import HeartTemplate

    template = HeartTemplate.load()
    heart = heartshapes.sampleHeart(21, phenotype="normal", template=template)
    planes = echosim.jitteredViewPlanes(heart.verticesEd, template, np.random.default_rng(1))
    arguments = []
    for index, view in enumerate(VIEWS):
        frames = cineFrames(21, index, heart, template, planes[view])  # the sample cine's recipe, another heart
        image = sitk.GetImageFromArray(frames)
        image.SetSpacing((planes[view].pixelMm, planes[view].pixelMm, 1.0))
        path = tmp_path / f"{view}.nrrd"
        sitk.WriteImage(image, str(path))
        path.with_suffix(".json").write_text(json.dumps({"ViewLabel": view}))
        arguments.append(f"{view}={path}")
    status, out, err = run(capsys, ["echo", "--cine", *arguments, "--out", tmp_path / "out"])
    assert status == 0, err
    readouts = json.loads((tmp_path / "out" / "readouts.json").read_text())
    for view in VIEWS:
        assert readouts[f"ed_frame_{view.lower()}"] in (9, 0, 1), view
        assert readouts[f"es_frame_{view.lower()}"] in (4, 5, 6), view
        assert readouts[f"lv_area_change_{view.lower()}"] > 0.15, view
    assert readouts["lv_ef_percent"] == pytest.approx(heart.efPercent, abs=12)
    assert (tmp_path / "out" / "summary.png").is_file()


def test_cines_as_slicer_volume_nodes(scene):
    """In Slicer a cine is a volume of one slice per frame (or a sequence's proxy): only those views are searched."""
    from ReconCoreLib import runtime

    ijkToRas = np.diag([-0.7, -0.7, 1.0, 1.0])
    cine = runtime.volumeNodeFromArray(scene, diskFrames([24.0, 28.0, 31.0, 26.0, 20.0, 22.0], 0.7), ijkToRas, "A4C")
    still = runtime.volumeNodeFromArray(scene, diskFrames([30.0], 0.7), ijkToRas, "A2C")
    phases = cinephases.findNodeCinePhases({"A4C": cine, "A2C": still, "A3C": None}, darkIsCavity)
    assert phases.endDiastole == {"A4C": 2} and phases.endSystole == {"A4C": 4}
    with pytest.raises(ValueError, match="none of the end-diastolic views is a cine"):
        cinephases.findNodeCinePhases({"A2C": still}, darkIsCavity)


def test_cine_and_frames_together_are_refused(tmp_path, capsys):
    path = tmp_path / "a4c.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 16, 16), np.uint8)), str(path))
    status, _, err = run(capsys, ["echo", "--cine", f"A4C={path}", "--ed", f"A4C={path}", "--out", tmp_path / "o"])
    assert status != 0 and "--cine: give one cine per view, or the frames with --ed/--es, not both" in err
    assert not (tmp_path / "o").exists()


# -- the sample cine case (EchoNormalCine: the EchoNormal patient as six DICOM US cines) ------------------------


def test_sample_cines_are_dicom_us_cines_read_on_the_networks_grid():
    """Each view's file: a DICOM Ultrasound Multi-frame of the EchoNormal patient (its view in SeriesDescription),
    10 frames at the network's pixel spacing with the sector apex where the network has it, so every frame is the
    network's input as it is (no resampling); its end-diastolic and end-systolic frames are the EchoNormal sample's
    ED and ES images. (That the files regenerate bit for bit: test_echorecon.py's sample data test.)"""
    import pydicom

    from EchoReconLib.conventions import FIELD_DEPTH_MM
    from EchoReconLib.echoio import readEchoFrames, readEchoImage
    from EchoReconLib.inputs import networkInput

    truth = json.loads(samples.cineTruthFile("EchoNormalCine").read_text())
    normal = json.loads(samples.sampleFiles("EchoNormal")["ED"]["A4C"].with_suffix(".json").read_text())
    assert (truth["PatientID"], truth["NumberOfFrames"]) == ("EchoNormal", 10)
    assert (truth["GroundTruth"]["edFrame"], truth["GroundTruth"]["esFrame"]) == (0, 5)
    for key in ("edvMl", "esvMl", "efPercent", "lvMassG"):
        assert truth["GroundTruth"][key] == normal["GroundTruth"][key], key
    assert samples.SAMPLE_CINES == {"EchoNormalCine": "EchoNormal"}
    for view, path in samples.cineFiles("EchoNormalCine").items():
        header = pydicom.dcmread(path, stop_before_pixels=True)
        assert (header.Modality, header.SOPClassUID, header.PatientID, header.SeriesDescription) == (
            "US", "1.2.840.10008.5.1.4.1.1.3.1", "EchoNormal", view)
        frames = readEchoFrames(path)  # the whole cine, read once
        assert {(image.numberOfFrames, image.apexPixel) for image in frames} == {(10, (0.0, 63.5))}
        assert frames[0].pixels.shape == (128, 128)
        assert frames[0].pixelSpacingMm == pytest.approx((trainingPixelMm(view),) * 2, rel=1e-12)
        assert frames[0].fieldDepthMm == pytest.approx(FIELD_DEPTH_MM[view])
        assert all(np.array_equal(networkInput(image, view), image.pixels) for image in frames), view
        for frame, phase in ((0, "ED"), (5, "ES")):
            png = readEchoImage(samples.sampleFiles("EchoNormal")[phase][view])
            assert np.array_equal(frames[frame].pixels, png.pixels), (view, phase)
        assert not np.array_equal(frames[2].pixels, frames[8].pixels)  # every frame has its own speckle


def test_sample_cine_case_runs_as_cines():
    from EchoReconLib.entry import ENTRY

    case = ENTRY.sampleCases()["EchoNormalCine"]
    assert case.autoFrames and case.endDiastole == case.endSystole == samples.cineFiles("EchoNormalCine")
    assert list(ENTRY.sampleCases()) == [*samples.SAMPLE_PATIENTS, "EchoNormalCine"]  # the demo's order


@pytest.mark.torch
@pytest.mark.skipif(not (SAMPLE_DIRECTORY.parent / "Models" / "EchoRecon.pt").is_file(), reason="no bundled model")
def test_bundled_model_on_the_sample_cines(tmp_path, capsys):
    """``recon2d3d echo --cine`` on the six sample cines (as the README shows it): end-diastole found within a frame
    of frame 0 and end-systole within a frame of frame 5 in most views, and an EF near the truth. Loose bounds: the
    bundled model is retrained now and then (the current one: ED 5 of 6 views, SAXA at frame 8; ES 6 of 6; EF 56 %
    for 60 %)."""
    truth = json.loads(samples.cineTruthFile("EchoNormalCine").read_text())["GroundTruth"]
    cines = [f"{view}={path}" for view, path in samples.cineFiles("EchoNormalCine").items()]
    status, out, err = run(capsys, ["echo", "--cine", *cines, "--out", tmp_path / "out", "--device", "cpu"])
    assert status == 0, err
    readouts = json.loads((tmp_path / "out" / "readouts.json").read_text())
    frames = {phase: cinephases.framesFromReadouts(readouts, phase) for phase in ("ED", "ES")}
    print(f"ED frames {frames['ED']}, ES frames {frames['ES']}, EF {readouts['lv_ef_percent']:.1f} % "
          f"(true {truth['efPercent']:.1f} %)")
    assert sum(frames["ED"][view] in (9, 0, 1) for view in VIEWS) >= 5, frames["ED"]
    assert sum(frames["ES"][view] in (4, 5, 6) for view in VIEWS) >= 5, frames["ES"]
    assert readouts["lv_ef_percent"] == pytest.approx(truth["efPercent"], abs=15)
    assert (tmp_path / "out" / "summary.png").is_file()

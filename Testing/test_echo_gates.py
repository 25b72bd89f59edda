"""EchoRecon's plausibility gates and checked DICOM / sidecar reading, without the network (both test passes).

Inputs: the bundled sample views with their pixel spacing rewritten (a sidecar copy in tmp_path: spacing in cm, 3x,
10x, a third, anisotropic, one view twice as deep as another) are refused before the network runs, naming the view,
its depth and its spacing. Outputs: the gates of every readout on a :class:`Readouts` directly (refused, or kept as
a failed check), the view-content check (A4C shows the RV, A2C does not) and the LV size gate on segmentations made
here. DICOM: attributes with the wrong multiplicity, text where a number is expected, another modality.
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from EchoReconLib import echoio, inputs, measure, samples
from EchoReconLib.conventions import FIELD_DEPTH_MM, PHASES, VIEWS
from ReconCoreLib.plausibility import ImplausibleResult, keepingImplausible
from ReconCoreLib.readouts import Readouts

NORMAL = samples.sampleFiles("EchoNormal")
SAMPLE_SPACING_MM = {view: FIELD_DEPTH_MM[view] / 127 for view in VIEWS}


def writeScaledSample(folder, scale=1.0, patient="EchoNormal", sidecarChanges=None, views=VIEWS, dropLabels=False):
    """Copies of a sample patient's PNGs in ``folder`` whose sidecars have the pixel spacing times ``scale`` (for
    ``views``), ``sidecarChanges`` {view: {key: value}} applied; ``dropLabels`` removes ViewLabel. Returns
    {phase: {view: path}}."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for phase, paths in samples.sampleFiles(patient).items():
        files[phase] = {}
        for view, source in paths.items():
            sidecar = json.loads(source.with_suffix(".json").read_text())
            if view in views:
                sidecar["PixelSpacing"] = [value * scale for value in sidecar["PixelSpacing"]]
            sidecar.update((sidecarChanges or {}).get(view, {}))
            if dropLabels:
                sidecar.pop("ViewLabel")
            destination = folder / source.name
            destination.write_bytes(source.read_bytes())
            destination.with_suffix(".json").write_text(json.dumps(sidecar))
            files[phase][view] = destination
    return files


def readAll(files):
    return {phase: {view: echoio.readEchoImage(path) for view, path in paths.items()}
            for phase, paths in files.items()}


def writeEchoDicom(path, pixels, spacingMm, modality="US", region=True, **attributes):
    """A single-frame 8-bit DICOM of ``pixels`` (apex at the top middle): with ``region`` one 2D ultrasound region in
    cm with the apex as reference pixel, else ``PixelSpacing``; ``attributes`` set (or, None, delete) any keyword
    of the dataset or, prefixed ``Region``/``Physical``/``Reference``, of the region
    (:func:`EchoReconDev.usdicom.writeUltrasoundDicom`)."""
    from EchoReconDev.usdicom import writeUltrasoundDicom

    pixels = np.asarray(pixels, np.uint8)
    return writeUltrasoundDicom(path, pixels, spacingMm, (0, (pixels.shape[1] - 1) // 2), singleFrame=True,
                                pixelSpacing=not region, **{"Modality": modality, **attributes})


def samplePixels(phase="ED", view="A4C"):
    return np.round(echoio.readEchoImage(NORMAL[phase][view]).pixels * 255).astype(np.uint8)


# -- input gates: physical size of the views ------------------------------------------------------------------


def test_the_sample_views_pass_the_input_gates_and_have_the_training_depth():
    images = readAll(NORMAL)
    for phase in PHASES:
        for view in VIEWS:
            assert images[phase][view].fieldDepthMm == pytest.approx(FIELD_DEPTH_MM[view], rel=1e-5)
    inputs.checkPhysicalSize(images)  # no exception


@pytest.mark.parametrize("scale, depth", [(0.1, "18 mm"), (10.0, "1800 mm"), (3.0, "540 mm"), (1 / 3, "60 mm")])
def test_a_pixel_spacing_in_cm_or_a_few_times_off_is_refused_naming_depth_and_spacing(scale, depth, tmp_path):
    images = readAll(writeScaledSample(tmp_path, scale))
    with pytest.raises(ImplausibleResult) as refusal:
        inputs.checkPhysicalSize(images)
    message = str(refusal.value)
    assert "\n" not in message
    spacing = f"{SAMPLE_SPACING_MM['A4C'] * scale:.4g} x {SAMPLE_SPACING_MM['A4C'] * scale:.4g} mm"
    assert message.startswith(f"end-diastolic A4C ({tmp_path / 'EchoNormal_ED_A4C.png'}, pixel spacing {spacing})")
    assert f"field depth (sector apex to image bottom) = {depth} is outside the plausible range [80, 300] mm" \
        in message


def test_a_shallow_short_axis_view_is_refused(tmp_path):
    # half the spacing: the apical views are still 90 mm deep, the short-axis views only 70 mm
    images = readAll(writeScaledSample(tmp_path, 0.5))
    with pytest.raises(ImplausibleResult, match=r"end-diastolic SAXB .*field depth .* = 70 mm is outside"):
        inputs.checkPhysicalSize(images)


def test_anisotropic_pixels_are_refused(tmp_path):
    spacing = SAMPLE_SPACING_MM["A2C"]
    files = writeScaledSample(tmp_path, sidecarChanges={"A2C": {"PixelSpacing": [spacing, spacing / 10]}})
    with pytest.raises(ImplausibleResult, match=r"end-diastolic A2C .*pixel spacing ratio row/column = 10 is "
                                                r"outside the plausible range \[0.833, 1.2\]"):
        inputs.checkPhysicalSize(readAll(files))


def test_views_of_very_different_depth_are_refused(tmp_path):
    # A4C 290 mm deep (plausible alone), the short-axis views 140 mm: 2.07 times deeper
    files = writeScaledSample(tmp_path, 290.0 / 180.0, views=("A4C",))
    with pytest.raises(ImplausibleResult) as refusal:
        inputs.checkPhysicalSize(readAll(files))
    assert str(refusal.value) == ("end-diastolic A4C 290 mm deep, end-diastolic SAXB 140 mm (views of one study?): "
                                  "field depth ratio deepest/shallowest view = 2.07 is outside the plausible range "
                                  "<= 2")


def test_field_depth_runs_from_the_apex_to_the_bottom_of_the_imaging_region(tmp_path):
    pixels = np.zeros((300, 200), np.uint8)
    pixels[40:, 20:180] = 90
    path = writeEchoDicom(tmp_path / "a4c.dcm", pixels, 0.8, RegionLocationMinY0=20, RegionLocationMaxY1=269,
                          ReferencePixelY0=10)
    image = echoio.readEchoImage(path)
    assert image.apexPixel == (30.0, 99.0) and image.lastImagingRow == 269
    assert image.fieldDepthMm == pytest.approx((269 - 30) * 0.8)
    assert echoio.EchoImage(pixels.astype(np.float32) / 255, (0.5, 0.5)).fieldDepthMm == pytest.approx(299 * 0.5)
    assert echoio.EchoImage(pixels.astype(np.float32) / 255).fieldDepthMm is None


# -- output gates on readouts ---------------------------------------------------------------------------------


SAMPLE_LIKE = {"lv_edv_ml": 123.6, "lv_esv_ml": 50.5, "lv_sv_ml": 73.1, "lv_ef_percent": 59.2, "lv_mass_g": 172.0,
               "rv_edv_ml": 184.1, "rv_esv_ml": 90.0, "la_volume_ed_ml": 77.6, "la_volume_es_ml": 88.3,
               "ra_volume_ed_ml": 112.8, "ra_volume_es_ml": 100.0}


def readoutsWith(**changes):
    readouts = Readouts("EchoRecon")
    for key, value in {**SAMPLE_LIKE, **changes}.items():
        readouts.set(key, value)
    return readouts


def test_plausible_readouts_pass_every_gate():
    readouts = readoutsWith()
    measure.gateReadouts(readouts)
    assert readouts.failedChecks == []


@pytest.mark.parametrize("key, value, expected", [
    ("lv_edv_ml", 19.0, "LV end-diastolic volume (lv_edv_ml) = 19 mL is outside the plausible range [20, 500] mL"),
    ("lv_edv_ml", 520.0, "(lv_edv_ml) = 520 mL is outside the plausible range [20, 500] mL"),
    ("lv_esv_ml", 3.0, "LV end-systolic volume (lv_esv_ml) = 3 mL is outside the plausible range [5, 450] mL"),
    ("lv_sv_ml", -68.0, "LV stroke volume (lv_sv_ml) = -68 mL is outside the plausible range [5, 250] mL"),
    ("lv_ef_percent", -314.2, "LV ejection fraction (lv_ef_percent) = -314 % is outside the plausible range "
                              "[5, 85] %"),
    ("lv_ef_percent", -1.9, "(lv_ef_percent) = -1.9 % is outside the plausible range [5, 85] %"),
    ("lv_ef_percent", 86.0, "(lv_ef_percent) = 86 % is outside the plausible range [5, 85] %"),
    ("lv_mass_g", 700.0, "LV mass (lv_mass_g) = 700 g is outside the plausible range [40, 600] g"),
    ("rv_edv_ml", 10.0, "RV end-diastolic volume (rv_edv_ml) = 10 mL is outside the plausible range [20, 600] mL"),
    ("rv_esv_ml", 510.0, "(rv_esv_ml) = 510 mL is outside the plausible range [5, 500] mL"),
    ("la_volume_ed_ml", 5.0, "LA volume at end-diastole (la_volume_ed_ml) = 5 mL is outside the plausible range "
                             "[10, 400] mL"),
    ("la_volume_es_ml", 450.0, "(la_volume_es_ml) = 450 mL is outside the plausible range [10, 400] mL"),
    ("ra_volume_ed_ml", 401.0, "(ra_volume_ed_ml) = 401 mL is outside the plausible range [10, 400] mL"),
    ("ra_volume_es_ml", 9.0, "(ra_volume_es_ml) = 9 mL is outside the plausible range [10, 400] mL"),
])
def test_each_output_gate_refuses_its_value_or_keeps_it_as_a_failed_check(key, value, expected):
    changes = {key: value, **({"lv_esv_ml": 8.0} if key == "lv_edv_ml" and value < 50 else {})}
    with pytest.raises(ImplausibleResult) as refusal:
        measure.gateReadouts(readoutsWith(**changes))
    assert expected in str(refusal.value) and "--keep-implausible" in str(refusal.value)
    readouts = readoutsWith(**changes)
    with keepingImplausible():
        measure.gateReadouts(readouts)
    assert len(readouts.failedChecks) == 1 and expected in readouts.failedChecks[0]
    assert readouts.values[key] == value and readouts.toDict()["failed_checks"] == readouts.failedChecks


def test_esv_above_edv_is_refused_before_the_ranges_and_every_failure_is_kept():
    swapped = {"lv_edv_ml": 21.6, "lv_esv_ml": 89.6, "lv_sv_ml": -68.0, "lv_ef_percent": -314.2}
    with pytest.raises(ImplausibleResult, match=r"LV end-systolic volume, above the end-diastolic volume \(ED and ES "
                                                r"swapped\?\) \(lv_esv_ml\) = 89.6 mL is outside the plausible range "
                                                r"<= 21.6 mL"):
        measure.gateReadouts(readoutsWith(**swapped))
    readouts = readoutsWith(**swapped)
    with keepingImplausible():
        measure.gateReadouts(readouts)
    assert [check.split(" = ")[0].rsplit("(", 1)[1] for check in readouts.failedChecks] == [
        "lv_esv_ml)", "lv_sv_ml)", "lv_ef_percent)"]


def test_implausible_simpson_readouts_are_left_out_with_a_warning():
    readouts = Readouts("EchoRecon")
    assert measure.plausibleSimpson({"ED": 90.8, "ES": 36.6}, readouts) == pytest.approx(
        {"simpson_edv_ml": 90.8, "simpson_esv_ml": 36.6, "simpson_ef_percent": 100 * (90.8 - 36.6) / 90.8})
    assert readouts.warnings == []
    assert measure.plausibleSimpson({"ED": 127.3, "ES": 136.9}, readouts) == {"simpson_edv_ml": 127.3}
    assert readouts.warnings[-1] == (
        "biplane Simpson's ESV and EF left out: biplane Simpson's LV ejection fraction -7.54 % outside [5, 85] %; "
        "end-systolic volume 137 mL not below the end-diastolic 127 mL (the 2D LV segmentation of A4C / A2C is "
        "unreliable here)")
    assert measure.plausibleSimpson({"ED": 6.7, "ES": 8.5}, readouts) == {}
    assert readouts.warnings[-1].startswith("biplane Simpson's volumes left out: biplane Simpson's LV end-diastolic "
                                            "volume 6.7 mL outside [20, 500] mL")


# -- view content and LV size as the network segments them ----------------------------------------------------


def segmentation(rvA4C=1.0, rvA2C=0.0, lvPixels=1200):
    """uint8 [6, 128, 128] labels: every view an LV (cavity ``lvPixels``, wall as much) and an RV of ``rv * lvPixels``
    pixels in A4C and A2C (0.5 x in the others)."""
    labels = np.zeros((len(VIEWS), 128, 128), np.uint8)
    for index, view in enumerate(VIEWS):
        rv = {"A4C": rvA4C, "A2C": rvA2C}.get(view, 0.5)
        flat = labels[index].reshape(-1)
        flat[:lvPixels] = 1
        flat[lvPixels:2 * lvPixels] = 2
        flat[2 * lvPixels:2 * lvPixels + int(round(rv * lvPixels))] = 3
    return labels


def fakeResult(**phases):
    return SimpleNamespace(phases=tuple(phases), segmentations=phases, readouts=Readouts("EchoRecon"), views=VIEWS)


def test_a4c_and_a2c_swapped_are_refused_or_kept():
    result = fakeResult(ED=segmentation(), ES=segmentation(1.6, 0.05))
    measure.checkApicalViews(result)
    assert result.readouts.warnings == [] and result.readouts.failedChecks == []
    swapped = fakeResult(ED=segmentation(0.1, 1.5), ES=segmentation(0.02, 1.7))
    expected = ("end-diastolic A4C and A2C look swapped: the image given as A2C shows the right heart at 1.50 x the LV "
                "area as an A4C does, an A2C shows none: right heart beside the LV in the image given as A4C (right "
                "heart/LV area) = 0.1 is outside the plausible range >= 0.4")
    with pytest.raises(ImplausibleResult) as refusal:
        measure.checkApicalViews(swapped)
    assert str(refusal.value).startswith(expected)
    with keepingImplausible():
        measure.checkApicalViews(swapped)
    assert swapped.readouts.failedChecks == [expected]


def test_a_swap_in_one_phase_or_an_a4c_without_rv_warns():
    partly = fakeResult(ED=segmentation(0.1, 1.5), ES=segmentation(1.6, 0.05))
    measure.checkApicalViews(partly)
    assert partly.readouts.warnings == ["the end-diastolic A4C and A2C images look swapped (the A2C image shows the "
                                        "right heart, the A4C image little of it); check the view labels"]
    noRv = fakeResult(ED=segmentation(0.2, 0.1))
    measure.checkApicalViews(noRv)
    assert noRv.readouts.warnings == ["the A4C image shows little right heart (RV and RA 0.20 x the LV area at "
                                      "end-diastole); is it an A4C view?"]
    tiny = fakeResult(ED=segmentation(0.1, 1.5, lvPixels=50))  # too little LV to judge
    measure.checkApicalViews(tiny)
    assert tiny.readouts.warnings == []


def test_lv_size_as_the_network_segments_it():
    measure.checkLvArea(fakeResult(ED=segmentation(), ES=segmentation(lvPixels=800)))  # 48 and 32 cm2 apical
    small = fakeResult(ED=segmentation(lvPixels=400))  # LV cavity + wall: 800 px x 2.01 mm2 = 16 cm2
    with pytest.raises(ImplausibleResult, match=r"end-diastolic LV \(cavity and wall\) as the network segments it "
                                                r"\(is the pixel spacing right\?\) \(LV area, apical views\) = 16.1 "
                                                r"cm2 is outside the plausible range \[20, 120\] cm2"):
        measure.checkLvArea(small)


# -- sidecars and DICOM attributes ----------------------------------------------------------------------------


@pytest.mark.parametrize("changes, fragment", [
    ({"PixelSpacing": [True, 1.4]}, "PixelSpacing must be a number, got the boolean true"),
    ({"PixelSpacing": 1.4}, "PixelSpacing must have 2 values, got 1"),
    ({"PixelSpacing": [1.4, 1.4, 1.4]}, "PixelSpacing must have 2 values, got 3"),
    ({"PixelSpacing": ["1.4", "wide"]}, "PixelSpacing must be a number, got 'wide'"),
    ({"PixelSpacing": [1.4, 0]}, "PixelSpacing must be two positive numbers (row, column mm), got 1.4, 0"),
    ({"Rows": True}, "Rows must be a number, got the boolean true"),
    ({"Columns": 128.5}, "Columns must be an integer, got 128.5"),
    ({"ViewLabel": 4}, "the sidecar's ViewLabel must be a text such as \"A4C\" or \"ED\", got 4"),
    ({"CardiacPhase": ["ED"]}, "the sidecar's CardiacPhase must be a text"),
])
def test_sidecar_values_are_checked(changes, fragment, tmp_path):
    files = writeScaledSample(tmp_path, sidecarChanges={"A4C": changes})
    with pytest.raises(ValueError) as refusal:
        echoio.readEchoImage(files["ED"]["A4C"])
    assert fragment in str(refusal.value) and "\n" not in str(refusal.value)
    assert str(tmp_path / "EchoNormal_ED_A4C.png") in str(refusal.value)


def test_an_ultrasound_dicom_gives_spacing_apex_and_the_sample_pixels(tmp_path):
    pixels = samplePixels()
    image = echoio.readEchoImage(writeEchoDicom(tmp_path / "a4c.dcm", pixels, SAMPLE_SPACING_MM["A4C"]))
    assert image.pixelSpacingMm == pytest.approx((SAMPLE_SPACING_MM["A4C"],) * 2)
    assert image.apexPixel == (0.0, 63.0) and image.fieldDepthMm == pytest.approx(180.0)
    assert np.array_equal(image.pixels, pixels / np.float32(255))
    plain = echoio.readEchoImage(writeEchoDicom(tmp_path / "plain.dcm", pixels, 0.9, region=False))
    assert plain.pixelSpacingMm == (0.9, 0.9) and plain.apexPixel is None


@pytest.mark.parametrize("attributes, fragment", [
    ({"modality": "CT"}, "Modality is CT; this module reads ultrasound (echo) images (Modality US)"),
    ({"modality": "XA"}, "Modality is XA"),
    ({"region": False, "PixelSpacing": [0.5, 0.5, 0.5]}, "PixelSpacing must have 2 values, got 3"),
    ({"region": False, "PixelSpacing": 0.5}, "PixelSpacing must have 2 values, got 1"),
    ({"region": False, "PixelSpacing": [0.5, -0.5]}, "PixelSpacing must be two positive numbers"),
    ({"PhysicalDeltaX": [0.05, 0.05]}, "ultrasound region 1: PhysicalDeltaX must have 1 value, got 2"),
    ({"PhysicalDeltaY": 0.0}, "ultrasound region 1: PhysicalDeltaX, PhysicalDeltaY = 0.05, 0 cm per pixel"),
    ({"RegionLocationMaxY1": None}, "ultrasound region 1: RegionLocationMaxY1 is missing"),
    ({"ReferencePixelX0": [3, 4]}, "ultrasound region 1: ReferencePixelX0 must have 1 value, got 2"),
    ({"RescaleSlope": [1, 2]}, "RescaleSlope must have 1 value, got 2"),
    ({"RescaleSlope": 0}, "RescaleSlope is 0"),
    ({"BitsStored": [8, 8]}, "BitsStored must have 1 value, got 2"),
    ({"PhotometricInterpretation": ["MONOCHROME2", "MONOCHROME1"]},
     "PhotometricInterpretation must have one value, got 2"),
])
def test_malformed_dicom_attributes_are_one_line_errors(attributes, fragment, tmp_path):
    attributes = dict(attributes)
    modality, region = attributes.pop("modality", "US"), attributes.pop("region", True)
    path = writeEchoDicom(tmp_path / "view.dcm", samplePixels(), 0.5, modality, region, **attributes)
    with pytest.raises(ValueError) as refusal:
        echoio.readEchoImage(path)
    message = str(refusal.value)
    assert fragment in message and "\n" not in message and message.startswith(str(path)), message



# ------------------------------------------------------------------------------------------------------------------
# the same field at 256-2048 px: the network sees the same image
def upsampled(image: echoio.EchoImage, factor: int) -> echoio.EchoImage:
    """``image`` with each pixel split into factor x factor pixels of 1/factor the spacing (the same field); the
    sector apex stays where it was (the centre of the original top-middle pixel)."""
    fine = np.kron(image.pixels, np.ones((factor, factor), np.float32))
    spacing = tuple(value / factor for value in image.pixelSpacingMm)
    return echoio.EchoImage(fine, spacing, image.sourcePath, apexPixel=((factor - 1) / 2.0, (fine.shape[1] - 1) / 2.0))


@pytest.mark.parametrize("view", ["A4C", "SAXM"])
@pytest.mark.parametrize("factor", [2, 4, 8, 16])  # 256, 512, 1024, 2048 px
def test_network_input_does_not_depend_on_the_pixel_count(view, factor):
    """Measured: mean difference 0.005 (256 px) to 0.012 (2048 px) of the grey range, correlation >= 0.996; the
    finer images are smoothed before they are resampled (sigma from the spacing ratio)."""
    native = echoio.readEchoImage(samples.sampleFiles("EchoNormal")["ED"][view])
    reference = inputs.networkInput(native, view)
    fine = inputs.networkInput(upsampled(native, factor), view)
    assert float(np.abs(fine - reference).mean()) < 0.02
    assert float(np.corrcoef(fine.ravel(), reference.ravel())[0, 1]) > 0.99


@pytest.mark.torch
def test_the_sample_at_1024_pixels_gives_the_samples_volumes():
    """The bundled model on EchoNormal, its twelve views at 1024 px (8x, 0.18 mm) against the native 128 px."""
    from EchoReconLib import pipeline

    files = samples.sampleFiles("EchoNormal")
    phases = [{view: echoio.readEchoImage(path) for view, path in files[phase].items()} for phase in ("ED", "ES")]
    native = pipeline.reconstruct(*phases, "cpu").readouts.values
    fine = pipeline.reconstruct(*({view: upsampled(image, 8) for view, image in phase.items()} for phase in phases),
                                "cpu").readouts.values
    assert fine["lv_edv_ml"] == pytest.approx(native["lv_edv_ml"], rel=0.05)
    assert fine["lv_esv_ml"] == pytest.approx(native["lv_esv_ml"], rel=0.08)
    assert fine["lv_ef_percent"] == pytest.approx(native["lv_ef_percent"], abs=3.0)

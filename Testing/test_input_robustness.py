"""Issue 14, shared part: DICOM values with the wrong multiplicity, pixel modules that disagree with their data,
booleans where numbers belong, modalities a module does not read, views that see along one line, and plausibility
gates that stop a run or mark its readouts as failed."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.multival import MultiValue
from pydicom.valuerep import DSfloat

from ReconCoreLib import plausibility
from ReconCoreLib.dicomvalues import checkModality, checkPixelModule, number, numbers, text, toNumber
from ReconCoreLib.readouts import Readouts
from ReconCoreLib.xraygeometry import CArmGeometry, viewSeparationDeg
from ReconCoreLib.xrayio import readXrayImage, writeSidecar, writeXrayDicom

GEOMETRY = CArmGeometry(30.0, 20.0, 1100.0, 750.0, (0.3, 0.3), 64, 64)


def sampleDicom(tmp_path, name="view.dcm", frames=1, modality="XA") -> Path:
    image = np.random.default_rng(0).random((frames, 64, 64)) * 100
    return writeXrayDicom(tmp_path / name, image if frames > 1 else image[0], GEOMETRY, modality=modality,
                          uidSeed="robustness")


def rewrite(path: Path, **attributes) -> Path:
    dataset = pydicom.dcmread(str(path))
    for keyword, value in attributes.items():
        if value is None:
            delattr(dataset, keyword)
        else:
            setattr(dataset, keyword, value)
    dataset.save_as(str(path))
    return path


# ------------------------------------------------------------------------------------------------------------------
# value multiplicity and booleans
def test_number_takes_exactly_one_value():
    dataset = pydicom.Dataset()
    dataset.DistanceSourceToDetector = ["1100", "1200"]
    dataset.ImagerPixelSpacing = "0.3"
    dataset.Rows = 64
    with pytest.raises(ValueError, match=r"f\.dcm: DistanceSourceToDetector must have 1 value, got 2"):
        number(dataset, "DistanceSourceToDetector", "f.dcm")
    with pytest.raises(ValueError, match=r"f\.dcm: ImagerPixelSpacing must have 2 values, got 1"):
        numbers(dataset, "ImagerPixelSpacing", 2, "f.dcm")
    assert number(dataset, "Rows", "f.dcm", integer=True) == 64
    assert number(dataset, "RescaleSlope", "f.dcm", required=False, default=1.0) == 1.0
    with pytest.raises(ValueError, match="f.dcm: RescaleSlope is missing"):
        number(dataset, "RescaleSlope", "f.dcm")


def test_numbers_accept_pydicom_and_json_forms():
    assert numbers({"PixelSpacing": [0.2, 0.25]}, "PixelSpacing", 2) == (0.2, 0.25)
    assert numbers({"PixelSpacing": "0.2\\0.25"}, "PixelSpacing", 2) == (0.2, 0.25)
    assert numbers({"PixelSpacing": MultiValue(DSfloat, ["0.2", "0.25"])}, "PixelSpacing", 2) == (0.2, 0.25)


@pytest.mark.parametrize("value, message", [(True, "boolean true"), (False, "boolean false"), ("abc", "'abc'"),
                                            (float("nan"), "finite"), (None, "None")])
def test_booleans_and_text_are_not_numbers(value, message):
    with pytest.raises(ValueError, match=f"src: PositionerPrimaryAngle must be .*{message}"):
        toNumber(value, "PositionerPrimaryAngle", "src")


def test_integer_attribute_refuses_fractions():
    with pytest.raises(ValueError, match="Rows must be an integer, got 63.5"):
        number({"Rows": 63.5}, "Rows", integer=True)


def test_text_refuses_several_values():
    dataset = pydicom.Dataset()
    dataset.Modality = "XA"
    dataset.ImageLaterality = ["L", "R"]  # wrong VM, as a broken writer makes it
    assert text(dataset, "Modality") == "XA"
    assert text(dataset, "PatientOrientation") == ""
    with pytest.raises(ValueError, match="src: ImageLaterality must have one value, got 2"):
        text(dataset, "ImageLaterality", "src")


@pytest.mark.parametrize("key, value", [("PositionerPrimaryAngle", True), ("DistanceSourceToDetector", False),
                                        ("ImagerPixelSpacing", [True, 0.3]), ("Rows", True)])
def test_sidecar_booleans_are_refused(tmp_path, key, value):
    import json

    path = tmp_path / "view.nrrd"
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(np.random.default_rng(1).random((64, 64)).astype(np.float32)), str(path))
    sidecar = writeSidecar(path, GEOMETRY)
    attributes = json.loads(sidecar.read_text())
    attributes[key] = value
    sidecar.write_text(json.dumps(attributes))
    with pytest.raises(ValueError, match=f"{key} must be .*(boolean|integer)"):
        readXrayImage(path)


@pytest.mark.parametrize("keyword, value, message", [
    ("DistanceSourceToDetector", ["1100", "1200"], "DistanceSourceToDetector must have 1 value, got 2"),
    ("ImagerPixelSpacing", "0.3", "ImagerPixelSpacing must have 2 values, got 1"),
    ("PositionerPrimaryAngle", ["30", "0", "1"], "PositionerPrimaryAngle must have 1 value, got 3"),
    ("RescaleSlope", ["1", "2"], "RescaleSlope must have 1 value, got 2"),
    ("PhotometricInterpretation", ["MONOCHROME2", "MONOCHROME1"], "PhotometricInterpretation must have one value"),
    ("PhotometricInterpretation", "HSV", "PhotometricInterpretation is HSV; expected one of MONOCHROME1"),
])
def test_dicom_multiplicity_errors_are_one_line(tmp_path, keyword, value, message):
    path = rewrite(sampleDicom(tmp_path), **{keyword: value})
    with pytest.raises(ValueError, match=message) as error:
        readXrayImage(path)
    assert "view.dcm" in str(error.value) and "\n" not in str(error.value)


# ------------------------------------------------------------------------------------------------------------------
# pixel module
@pytest.mark.parametrize("attributes, message", [
    ({"BitsAllocated": 8, "BitsStored": 8, "HighBit": 7}, r"pixel data hold 8192 bytes but the header .* needs 4096"),
    ({"BitsAllocated": 12}, "BitsAllocated is 12; expected 1, 8, 16 or 32"),
    ({"BitsStored": 20}, "BitsStored 20 does not fit BitsAllocated 16"),
    ({"HighBit": 15}, "HighBit 15 disagrees with BitsStored 12"),
    ({"PixelRepresentation": 2}, "PixelRepresentation is 2"),
    ({"Rows": 32}, r"pixel data hold 8192 bytes but the header \(Rows 32"),
    ({"NumberOfFrames": 3}, r"needs 24576"),
])
def test_pixel_module_must_agree_with_the_pixel_data(tmp_path, attributes, message):
    path = rewrite(sampleDicom(tmp_path), **attributes)
    with pytest.raises(ValueError, match=message):
        readXrayImage(path)


def test_a_consistent_pixel_module_passes(tmp_path):
    dataset = pydicom.dcmread(str(sampleDicom(tmp_path, frames=3)))
    checkPixelModule(dataset, "x")  # no error
    assert readXrayImage(tmp_path / "view.dcm", frame=1).numberOfFrames == 3


def test_compressed_pixel_data_without_a_decoder_is_refused_in_one_line(tmp_path, caplog):
    path = sampleDicom(tmp_path)
    dataset = pydicom.dcmread(str(path))
    dataset.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.90"  # JPEG 2000 lossless, data not really encoded
    dataset.PixelData = pydicom.encaps.encapsulate([b"\x00" * 100])
    dataset["PixelData"].VR = "OB"
    dataset.save_as(str(path))
    with pytest.raises(ValueError, match=r"view\.dcm: cannot decode DICOM pixel data \(JPEG 2000") as error:
        readXrayImage(path)
    assert "\n" not in str(error.value) and "install pylibjpeg" in str(error.value)
    assert [record for record in caplog.records if record.name.startswith("pydicom")] == []  # no decoder traceback


# ------------------------------------------------------------------------------------------------------------------
# modality and files
@pytest.mark.parametrize("modality", ["CT", "US", "MR", "OT"])
def test_non_xray_modalities_are_refused(tmp_path, modality):
    path = rewrite(sampleDicom(tmp_path), Modality=modality)
    with pytest.raises(ValueError, match=f"view.dcm: Modality is {modality}; this module reads X-ray images "
                                         r"\(Modality XA, RF, DX, CR\)"):
        readXrayImage(path)


def test_a_module_narrows_the_modalities(tmp_path):
    path = sampleDicom(tmp_path, modality="DX")
    assert readXrayImage(path, modalities=("DX", "CR")).modality == "DX"
    with pytest.raises(ValueError, match=r"Modality is DX; this module reads X-ray images \(Modality XA, RF\)"):
        readXrayImage(path, modalities=("XA", "RF"))
    assert checkModality(pydicom.dcmread(str(path)), ("DX",), "x", "radiographs") == "DX"


def test_sidecar_modality_is_checked(tmp_path):
    import SimpleITK as sitk

    path = tmp_path / "view.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.random.default_rng(1).random((64, 64)).astype(np.float32)), str(path))
    writeSidecar(path, GEOMETRY, Modality="CT")
    with pytest.raises(ValueError, match=r"view\.json: Modality is 'CT'; this module reads Modality XA, RF"):
        readXrayImage(path, modalities=("XA", "RF"))


def test_frame_of_a_single_image_file_is_refused(tmp_path):
    import SimpleITK as sitk

    path = tmp_path / "view.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.random.default_rng(1).random((64, 64)).astype(np.float32)), str(path))
    writeSidecar(path, GEOMETRY)
    assert readXrayImage(path, frame=0).pixels.shape == (64, 64)
    with pytest.raises(ValueError, match="view.nrrd: frame 3 requested but the image has a single frame"):
        readXrayImage(path, frame=3)


def test_a_folder_is_named_a_folder(tmp_path):
    with pytest.raises(ValueError, match="is a folder; expected a file"):
        readXrayImage(tmp_path)


# ------------------------------------------------------------------------------------------------------------------
# view separation modulo 180 deg
def geometryAt(primary, secondary=0.0) -> CArmGeometry:
    return CArmGeometry(primary, secondary, 1100.0, 750.0, (0.3, 0.3), 64, 64)


@pytest.mark.parametrize("first, second, expected", [((30, 0), (-30, 0), 60.0), ((0, 0), (180, 0), 0.0),
                                                     ((-90, 0), (90, 0), 0.0), ((0, 0), (150, 0), 30.0),
                                                     ((90, 0), (0, 0), 90.0), ((0, 0), (0, 25), 25.0)])
def test_view_separation_is_taken_modulo_180(first, second, expected):
    assert viewSeparationDeg(geometryAt(*first), geometryAt(*second)) == pytest.approx(expected, abs=1e-6)
    assert viewSeparationDeg(geometryAt(*second), geometryAt(*first)) == pytest.approx(expected, abs=1e-6)


# ------------------------------------------------------------------------------------------------------------------
# plausibility gates
def test_gate_passes_inside_and_stops_outside():
    readouts = Readouts("EchoRecon")
    assert plausibility.gate(readouts, "lv_ef_percent", 55.0, 5, 85, "%", "LV ejection fraction")
    with pytest.raises(plausibility.ImplausibleResult,
                       match=r"LV ejection fraction \(lv_ef_percent\) = -27.8 % is outside the plausible range "
                             r"\[5, 85\] % \(--keep-implausible keeps"):
        plausibility.gate(readouts, "lv_ef_percent", -27.8, 5, 85, "%", "LV ejection fraction")
    assert readouts.failedChecks == []


def test_gate_records_a_failed_check_when_keeping():
    readouts = Readouts("EchoRecon")
    with plausibility.keepingImplausible():
        assert not plausibility.gate(readouts, "lv_ef_percent", 86.0, 5, 85, "%", "LV ejection fraction")
        assert not plausibility.gate(readouts, "lv_esv_ml", float("nan"), 0, None, "mL")
    assert not plausibility.keepsImplausible()
    assert readouts.failed and len(readouts.failedChecks) == 2
    assert readouts.toDict()["failed_checks"][0].startswith("LV ejection fraction (lv_ef_percent) = 86 %")
    assert "lv_esv_ml = nan mL is outside the plausible range >= 0 mL" in readouts.failedChecks[1]
    assert "FAILED CHECKS: not measurements" in readouts.summary()
    assert {"readout": "FAILED CHECK", "value": readouts.failedChecks[0], "unit": ""} in readouts.tableRows()
    assert Readouts.fromDict(readouts.toDict()).failedChecks == readouts.failedChecks


def test_input_gates_stop_even_when_keeping():
    with plausibility.keepingImplausible():
        with pytest.raises(plausibility.ImplausibleResult,
                           match=r"a\.dcm: sector depth = 1600 mm is outside the plausible range \[60, 300\] mm$"):
            plausibility.gate(None, "sector depth", 1600.0, 60, 300, "mm", source="a.dcm")


@pytest.mark.parametrize("sopClass, name", [("1.2.840.10008.5.1.4.1.1.2", "CT Image Storage"),
                                            ("1.2.840.10008.5.1.4.1.1.12.1.1", "Enhanced XA Image Storage"),
                                            ("1.2.840.10008.5.1.4.1.1.7", "Secondary Capture Image Storage")])
def test_an_iod_the_reader_does_not_take_is_refused(tmp_path, sopClass, name):
    """A CT image tagged XA, an enhanced XA (geometry in functional groups, not read), a screen capture: each named."""
    path = rewrite(sampleDicom(tmp_path), SOPClassUID=sopClass)
    with pytest.raises(ValueError, match=f"view.dcm: the file is a {name} \\({sopClass}\\), not an image this "
                                         r"module reads \(Computed Radiography Image, Digital X-Ray"):
        readXrayImage(path)


def test_modality_is_named_before_a_broken_pixel_module(tmp_path):
    path = rewrite(sampleDicom(tmp_path), Modality="CT", BitsStored=20)
    with pytest.raises(ValueError, match="Modality is CT"):
        readXrayImage(path)


def test_ultrasound_iods(tmp_path):
    from ReconCoreLib.dicomvalues import ULTRASOUND_SOP_CLASSES, checkSopClass

    dataset = pydicom.Dataset()
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    assert checkSopClass(dataset, ULTRASOUND_SOP_CLASSES, "a.dcm") == "1.2.840.10008.5.1.4.1.1.3.1"
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.12.1"
    with pytest.raises(ValueError, match=r"a.dcm: the file is a X-Ray Angiographic Image Storage .*, not an image"):
        checkSopClass(dataset, ULTRASOUND_SOP_CLASSES, "a.dcm")

"""X-ray image I/O: every bad input is refused with a clear message naming the file and the problem."""

import json

import numpy as np
import pytest

from ReconCoreLib.xrayio import checkImage, readXrayImage, writeSidecar
from xrayhelpers import COLUMNS, ROWS, carm, pattern, writeSitk


# --------------------------------------------------------------------------------------------------
# Errors with a clear message
def validNrrd(tmp_path, name="view.nrrd", array=None):
    array = pattern().astype(np.float32) if array is None else array
    return writeSitk(tmp_path / name, array)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"nothere\.dcm: no such file"):
        readXrayImage(tmp_path / "nothere.dcm")


def test_missing_sidecar(tmp_path):
    path = validNrrd(tmp_path)
    with pytest.raises(ValueError) as error:
        readXrayImage(path)
    message = str(error.value)
    assert "no geometry" in message
    assert "view.json" in message
    assert "DistanceSourceToPatient" in message  # says which keys the sidecar needs


def test_sidecar_missing_source_to_patient(tmp_path):
    path = validNrrd(tmp_path)
    attributes = carm().toAttributes()
    del attributes["DistanceSourceToPatient"]
    (tmp_path / "view.json").write_text(json.dumps(attributes))
    with pytest.raises(ValueError) as error:
        readXrayImage(path)
    message = str(error.value)
    assert "missing X-ray geometry attribute DistanceSourceToPatient" in message
    assert "view.json" in message
    assert "DistanceSourceToDetector" not in message


def test_sidecar_missing_two_attributes_names_both(tmp_path):
    path = validNrrd(tmp_path)
    attributes = carm().toAttributes()
    del attributes["PositionerPrimaryAngle"], attributes["ImagerPixelSpacing"]
    (tmp_path / "view.json").write_text(json.dumps(attributes))
    with pytest.raises(ValueError, match="missing X-ray geometry attributes PositionerPrimaryAngle, ImagerPixelSpacing"):
        readXrayImage(path)


@pytest.mark.parametrize("key, value, expected", [
    ("PositionerPrimaryAngle", 400, r"PositionerPrimaryAngle = 400 deg is outside the plausible range \[-180, 180\] deg"),
    ("PositionerSecondaryAngle", -95, r"PositionerSecondaryAngle = -95 deg is outside the plausible range"),
    ("DistanceSourceToDetector", 50000, r"DistanceSourceToDetector = 50000 mm is outside the plausible range"),
    ("ImagerPixelSpacing", [0.3, 0], r"ImagerPixelSpacing = 0 mm is outside the plausible range"),
    ("ImagerPixelSpacing", 0.3, r"ImagerPixelSpacing must be two numbers"),
    ("PositionerPrimaryAngle", "thirty", r"PositionerPrimaryAngle must be a number, got 'thirty'"),
])
def test_absurd_sidecar_values(tmp_path, key, value, expected):
    path = validNrrd(tmp_path)
    attributes = {**carm().toAttributes(), key: value}
    (tmp_path / "view.json").write_text(json.dumps(attributes))
    with pytest.raises(ValueError, match=expected) as error:
        readXrayImage(path)
    assert "view.json" in str(error.value)


@pytest.mark.parametrize("sod", [1100.0, 1500.0])
def test_source_to_patient_not_below_source_to_detector(tmp_path, sod):
    path = validNrrd(tmp_path)
    attributes = {**carm().toAttributes(), "DistanceSourceToPatient": sod}
    (tmp_path / "view.json").write_text(json.dumps(attributes))
    with pytest.raises(ValueError) as error:
        readXrayImage(path)
    message = str(error.value)
    assert f"DistanceSourceToPatient ({sod:g} mm) must be smaller than DistanceSourceToDetector (1100 mm)" in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels(tmp_path, bad):
    array = pattern().astype(np.float32)
    array[3, 4] = bad
    path = validNrrd(tmp_path, array=array)
    writeSidecar(path, carm())
    with pytest.raises(ValueError, match=r"view\.nrrd: image contains NaN or infinite values"):
        readXrayImage(path)


def test_constant_image(tmp_path):
    path = validNrrd(tmp_path, array=np.full((ROWS, COLUMNS), 3.5, np.float32))
    writeSidecar(path, carm())
    with pytest.raises(ValueError, match=r"view\.nrrd: image is empty or constant"):
        readXrayImage(path)


def test_3d_volume_is_refused(tmp_path):
    volume = np.random.default_rng(0).random((5, 20, 20)).astype(np.float32)
    path = validNrrd(tmp_path, "volume.nrrd", volume)
    writeSidecar(path, carm(rows=20, columns=20))
    with pytest.raises(ValueError, match=r"volume\.nrrd: expected a 2D image, got an array of shape \(5, 20, 20\)"):
        readXrayImage(path)


def test_text_file_is_not_an_image(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("LAO 30 CRA 20\n")
    with pytest.raises(ValueError, match=r"notes\.txt: not a DICOM file nor one of \.nrrd"):
        readXrayImage(text)


def test_text_file_with_an_image_suffix(tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_text("this is not a PNG\n")
    writeSidecar(fake, carm())
    with pytest.raises(ValueError) as error:
        readXrayImage(fake)
    message = str(error.value)
    assert "fake.png: cannot be read as an image" in message
    assert "\n" not in message


def test_text_file_with_a_dicom_suffix(tmp_path):
    fake = tmp_path / "fake.dcm"
    fake.write_text("this is not DICOM either\n")
    with pytest.raises(ValueError, match=r"fake\.dcm: not a readable DICOM file"):
        readXrayImage(fake)


@pytest.mark.parametrize("content, expected", [
    ("{not json", r"view\.json: not valid JSON"),
    ("[1, 2, 3]", r"view\.json: expected a JSON object keyed by DICOM keywords"),
])
def test_sidecar_not_a_json_object(tmp_path, content, expected):
    path = validNrrd(tmp_path)
    (tmp_path / "view.json").write_text(content)
    with pytest.raises(ValueError, match=expected):
        readXrayImage(path)


def test_sidecar_rows_columns_disagree_with_the_image(tmp_path):
    path = validNrrd(tmp_path)  # 64 rows x 80 columns
    writeSidecar(path, carm(rows=COLUMNS, columns=ROWS))  # the classic swap
    with pytest.raises(ValueError) as error:
        readXrayImage(path)
    message = str(error.value)
    assert "view.nrrd" in message
    assert "Rows x Columns = 80 x 64" in message
    assert "image is 64 x 80" in message


def test_check_image_directly():
    squeezed = checkImage(np.arange(320, dtype=np.int16).reshape(1, 16, 20), "x")
    assert squeezed.shape == (16, 20)
    assert squeezed.dtype == np.float32
    np.testing.assert_array_equal(squeezed, np.arange(320).reshape(16, 20))
    with pytest.raises(ValueError, match=r"src: image of 3 x 3 pixels is too small \(at least 16 x 16\)"):
        checkImage(np.arange(9.0).reshape(3, 3), "src")
    with pytest.raises(ValueError, match="src: image pixels are not numbers"):
        checkImage(np.array([["a", "b"], ["c", "d"]]), "src")
    with pytest.raises(ValueError, match=r"src: expected a 2D image, got an array of shape \(7,\)"):
        checkImage(np.arange(7.0), "src")
    with pytest.raises(ValueError, match="src: image is empty or constant"):
        checkImage(np.zeros((0, 3)), "src")

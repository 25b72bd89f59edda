"""X-ray image I/O: DICOM XA/DX/CR written and read back, image + JSON sidecar inputs."""

import json

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from ReconCoreLib.xraygeometry import GEOMETRY_KEYWORDS
from ReconCoreLib import xrayio
from ReconCoreLib.xrayio import (DICOM_SOP_CLASS, readXrayGeometry, readXrayImage, sidecarPath, writeSidecar,
                                 writeXrayDicom)
from xrayhelpers import COLUMNS, ROWS, carm, geometryMatches, pattern, quantizationStep, writeSitk


# --------------------------------------------------------------------------------------------------
# DICOM
def test_xa_dicom_round_trip(tmp_path):
    geometry = carm(30, 20)
    image = pattern()
    path = writeXrayDicom(tmp_path / "view1.dcm", image, geometry, uidSeed="xa")
    xray = readXrayImage(path)

    assert xray.modality == "XA"
    assert xray.sourcePath == str(path)
    assert (xray.frameIndex, xray.numberOfFrames) == (0, 1)
    geometryMatches(xray.geometry, geometry)
    assert xray.geometry.primaryAngleDeg == pytest.approx(30.0, rel=1e-6)  # LAO 30
    assert xray.geometry.secondaryAngleDeg == pytest.approx(20.0, rel=1e-6)  # CRA 20
    assert xray.pixels.dtype == np.float32
    assert xray.pixels.shape == (ROWS, COLUMNS)
    step = quantizationStep(image)
    assert np.abs(xray.pixels - image).max() <= step
    assert xray.pixels.min() == pytest.approx(image.min(), abs=step)
    assert xray.pixels.max() == pytest.approx(image.max(), abs=step)
    # orientation kept: the bright block is at the top right, rows still increase downwards
    assert xray.pixels[15, 60] > xray.pixels[15, 20] + 300
    assert xray.pixels[ROWS - 1, 0] > xray.pixels[0, 0]

    dataset = pydicom.dcmread(str(path))
    assert dataset.SOPClassUID == DICOM_SOP_CLASS["XA"]
    assert dataset.file_meta.MediaStorageSOPClassUID == DICOM_SOP_CLASS["XA"]
    assert dataset.PhotometricInterpretation == "MONOCHROME2"
    assert (dataset.BitsStored, int(dataset.pixel_array.max()), int(dataset.pixel_array.min())) == (12, 4095, 0)


def test_dicom_is_recognized_by_its_preamble_without_suffix(tmp_path):
    image = pattern()
    path = writeXrayDicom(tmp_path / "IM000001", image, carm(-25, -15), uidSeed="noext")
    xray = readXrayImage(path)
    assert xray.modality == "XA"
    geometryMatches(xray.geometry, carm(-25, -15))
    assert np.abs(xray.pixels - image).max() <= quantizationStep(image)


def test_uid_seed_makes_uids_reproducible(tmp_path):
    image, geometry = pattern(), carm()
    first = pydicom.dcmread(str(writeXrayDicom(tmp_path / "a.dcm", image, geometry, uidSeed="seed")))
    second = pydicom.dcmread(str(writeXrayDicom(tmp_path / "b.dcm", image, geometry, uidSeed="seed")))
    other = pydicom.dcmread(str(writeXrayDicom(tmp_path / "c.dcm", image, geometry, uidSeed="other")))
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert getattr(first, keyword) == getattr(second, keyword)
        assert getattr(first, keyword) != getattr(other, keyword)
    assert len({first.SOPInstanceUID, first.StudyInstanceUID, first.SeriesInstanceUID}) == 3


def multiFrame(frames=4, best=2):
    """Frames of the same scene; frame ``best`` has by far the highest contrast."""
    base = pattern()
    base = (base - base.min()) / (base.max() - base.min())  # 0..1
    stack = np.stack([100.0 + (40.0 if index == best else 5.0 + index) * base for index in range(frames)])
    return stack


def test_multiframe_xa_picks_the_highest_contrast_frame(tmp_path):
    stack = multiFrame(frames=4, best=2)
    path = writeXrayDicom(tmp_path / "run.dcm", stack, carm(), uidSeed="run")
    step = quantizationStep(stack)  # one rescale for the whole run

    default = readXrayImage(path)
    assert default.frameIndex == 2
    assert default.numberOfFrames == 4
    assert np.abs(default.pixels - stack[2]).max() <= step

    first = readXrayImage(path, frame=0)
    assert first.frameIndex == 0
    assert first.numberOfFrames == 4
    assert np.abs(first.pixels - stack[0]).max() <= step

    last = readXrayImage(path, frame=3)
    assert last.frameIndex == 3
    assert np.abs(last.pixels - stack[3]).max() <= step

    # a caller-supplied score: the darkest frame (lowest mean) is frame 0
    seen = []
    darkest = readXrayImage(path, frameScore=lambda frame, geometry: seen.append(geometry) or -float(frame.mean()))
    assert darkest.frameIndex == 0
    assert len(seen) == len(stack) and all(geometry == darkest.geometry for geometry in seen)  # scored with it
    geometryMatches(default.geometry, carm())


def test_geometry_is_read_from_the_headers_alone(tmp_path, monkeypatch):
    path = writeXrayDicom(tmp_path / "run.dcm", multiFrame(frames=4), carm(), uidSeed="run")

    def noPixels(*args, **kwargs):
        raise AssertionError("pixel data decoded")

    monkeypatch.setattr(xrayio, "iterDicomFrames", noPixels)
    geometry = readXrayGeometry(path)
    geometryMatches(geometry, carm())
    with pytest.raises(ValueError, match=r"run.dcm: Modality is XA; this module reads X-ray images \(Modality DX"):
        readXrayGeometry(path, modalities=("DX", "CR"))
    monkeypatch.undo()
    assert readXrayImage(path, 0).geometry == geometry

    image = writeSitk(tmp_path / "view.nrrd", pattern().astype(np.float32))
    attributes = {key: value for key, value in carm(-40, 10).toAttributes().items() if key not in ("Rows", "Columns")}
    (tmp_path / "view.json").write_text(json.dumps(attributes))
    geometry = readXrayGeometry(image)  # Rows and Columns from the image file's header
    assert geometry == carm(-40, 10) == readXrayImage(image).geometry
    writeSidecar(image, carm(rows=COLUMNS, columns=ROWS))
    with pytest.raises(ValueError, match=r"view.nrrd: geometry says Rows x Columns = 80 x 64 but the image is 64 x 80"):
        readXrayGeometry(image)


@pytest.mark.parametrize("frame", [5, 4, -1])
def test_multiframe_frame_out_of_range(tmp_path, frame):
    path = writeXrayDicom(tmp_path / "run.dcm", multiFrame(frames=4), carm(), uidSeed="run")
    with pytest.raises(ValueError) as error:
        readXrayImage(path, frame=frame)
    message = str(error.value)
    assert f"frame {frame}" in message
    assert "4 frames" in message
    assert "run.dcm" in message


def test_single_frame_refuses_other_frame_index(tmp_path):
    path = writeXrayDicom(tmp_path / "one.dcm", pattern(), carm(), uidSeed="one")
    assert readXrayImage(path, frame=0).frameIndex == 0
    with pytest.raises(ValueError, match="single frame"):
        readXrayImage(path, frame=1)


@pytest.mark.parametrize("modality", ["DX", "CR"])
def test_dx_and_cr_single_frame(tmp_path, modality):
    geometry = carm(0, 0, sid=1800.0, sod=1650.0, spacing=(0.15, 0.15))
    image = pattern()
    path = writeXrayDicom(tmp_path / f"{modality}.dcm", image, geometry, modality=modality.lower(), uidSeed="dx")
    xray = readXrayImage(path)
    assert xray.modality == modality
    assert (xray.frameIndex, xray.numberOfFrames) == (0, 1)
    geometryMatches(xray.geometry, geometry)
    assert np.abs(xray.pixels - image).max() <= quantizationStep(image)
    assert pydicom.dcmread(str(path)).SOPClassUID == DICOM_SOP_CLASS[modality]


def test_write_dicom_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="single frame"):
        writeXrayDicom(tmp_path / "dx.dcm", multiFrame(frames=2), carm(), modality="DX")
    with pytest.raises(ValueError, match="modality must be one of XA, DX, CR"):
        writeXrayDicom(tmp_path / "mr.dcm", pattern(), carm(), modality="MR")
    with pytest.raises(ValueError, match=r"do not match the geometry's 64 x 80"):
        writeXrayDicom(tmp_path / "t.dcm", pattern().T, carm())
    assert list(tmp_path.iterdir()) == []


def test_monochrome1_is_inverted_for_display(tmp_path):
    image = pattern()
    path = writeXrayDicom(tmp_path / "cr.dcm", image, carm(0, 0), modality="CR", uidSeed="m1")
    dataset = pydicom.dcmread(str(path))
    dataset.PhotometricInterpretation = "MONOCHROME1"
    dataset.save_as(str(path))

    xray = readXrayImage(path)
    expected = image.max() + image.min() - image  # high stored value = dark
    assert np.abs(xray.pixels - expected).max() <= 2 * quantizationStep(image)
    assert xray.pixels[15, 60] < xray.pixels[15, 20] - 300  # the bright block is now dark
    assert xray.pixels.min() == pytest.approx(image.min(), abs=quantizationStep(image))
    assert xray.pixels.max() == pytest.approx(image.max(), abs=quantizationStep(image))


def test_ybr_colour_dicom_is_read_as_rgb_with_either_pydicom(tmp_path):
    """pydicom 3 converts YCbCr to RGB itself, pydicom 2.4 (Slicer 5.10's) does not: the reader gives RGB with both."""
    from ReconCoreLib.cineframes import iterDicomFrames, readDicomDataset
    from ReconCoreLib.xrayio import saveDicom

    rgb = np.zeros((ROWS, COLUMNS, 3), np.uint8)
    rgb[..., 0], rgb[10:20, 50:70, 1], rgb[:, :40, 2] = 200, 180, 90
    full = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]  # ITU-R BT.601 luminance = Y
    ycbcr = np.stack([full, 128 - 0.168736 * rgb[..., 0] - 0.331264 * rgb[..., 1] + 0.5 * rgb[..., 2],
                      128 + 0.5 * rgb[..., 0] - 0.418688 * rgb[..., 1] - 0.081312 * rgb[..., 2]], axis=-1)
    path = writeXrayDicom(tmp_path / "colour.dcm", pattern(), carm(0, 0), modality="DX", uidSeed="ybr")
    dataset = pydicom.dcmread(str(path))
    dataset.SamplesPerPixel, dataset.PlanarConfiguration, dataset.PhotometricInterpretation = 3, 0, "YBR_FULL"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7
    dataset.PixelData = np.clip(np.round(ycbcr), 0, 255).astype(np.uint8).tobytes()
    saveDicom(dataset, path)
    pixels = next(iterDicomFrames(readDicomDataset(path), path))
    assert pixels.shape == (ROWS, COLUMNS, 3)
    assert np.abs(pixels.astype(float) - rgb).max() <= 3  # rounding of the 8-bit YCbCr


@pytest.mark.parametrize("keyword", ["DistanceSourceToDetector", "PositionerPrimaryAngle", "ImagerPixelSpacing"])
def test_dicom_with_a_geometry_tag_deleted(tmp_path, keyword):
    path = writeXrayDicom(tmp_path / "view.dcm", pattern(), carm(), uidSeed="del")
    dataset = pydicom.dcmread(str(path))
    delattr(dataset, keyword)
    dataset.save_as(str(path))
    assert keyword not in pydicom.dcmread(str(path))
    with pytest.raises(ValueError) as error:
        readXrayImage(path)
    message = str(error.value)
    assert f"missing X-ray geometry attribute {keyword}" in message
    assert "view.dcm" in message
    # only the deleted one is named
    others = [name for name in GEOMETRY_KEYWORDS if name != keyword and name not in ("Rows", "Columns")]
    assert not any(name in message for name in others)


def test_dicom_with_absurd_geometry_in_header(tmp_path):
    path = writeXrayDicom(tmp_path / "view.dcm", pattern(), carm(), uidSeed="abs")
    dataset = pydicom.dcmread(str(path))
    dataset.DistanceSourceToPatient = "1200"  # beyond the detector (SID 1100)
    dataset.save_as(str(path))
    with pytest.raises(ValueError, match=r"DistanceSourceToPatient \(1200 mm\) must be smaller than "
                                         r"DistanceSourceToDetector \(1100 mm\)"):
        readXrayImage(path)


def test_dicom_without_pixel_data(tmp_path):
    path = writeXrayDicom(tmp_path / "view.dcm", pattern(), carm(), uidSeed="nopix")
    dataset = pydicom.dcmread(str(path))
    del dataset.PixelData
    dataset.save_as(str(path))
    with pytest.raises(ValueError, match="DICOM file has no pixel data"):
        readXrayImage(path)


def test_constant_dicom_image(tmp_path):
    path = writeXrayDicom(tmp_path / "flat.dcm", np.full((ROWS, COLUMNS), 7.0), carm(), uidSeed="flat")
    with pytest.raises(ValueError, match="flat.dcm: image is empty or constant"):
        readXrayImage(path)


def test_dicom_decimal_strings_fit_the_16_byte_limit(tmp_path):
    geometry = carm(primary=0.1 + 0.2, secondary=1 / 3, sid=1100.123456789, sod=750.1)
    path = writeXrayDicom(tmp_path / "ds.dcm", pattern(), geometry, uidSeed="ds")
    dataset = pydicom.dcmread(str(path))
    for keyword in ("PositionerPrimaryAngle", "PositionerSecondaryAngle", "DistanceSourceToDetector",
                    "DistanceSourceToPatient", "RescaleSlope", "RescaleIntercept"):
        text = str(dataset[keyword].value)
        assert len(text) <= 16, f"{keyword} = {text!r} is {len(text)} bytes"
    geometryMatches(readXrayImage(path).geometry, geometry)


# --------------------------------------------------------------------------------------------------
# Image + JSON sidecar
@pytest.mark.parametrize("name, expected", [
    ("view.nrrd", "view.json"),
    ("view.nii.gz", "view.json"),
    ("view.nii", "view.json"),
    ("VIEW.PNG", "VIEW.json"),
    ("a.b.mha", "a.b.json"),
    ("a4c.jpg", "a4c.json"),  # every format the echo and X-ray readers take (a .jpg once looked for a4c.jpg.json)
    ("view.TIFF", "view.json"),
    ("scan.dat", "scan.dat.json"),
])
def test_sidecar_path(tmp_path, name, expected):
    assert sidecarPath(tmp_path / name) == tmp_path / expected


def test_png_with_sidecar_rows_are_the_first_axis(tmp_path):
    rows, columns = 30, 50
    array = np.zeros((rows, columns), dtype=np.uint16)
    array[:] = np.arange(columns, dtype=np.uint16)[None, :] * 3
    array[5:8, 40:45] = 1000  # top right
    path = writeSitk(tmp_path / "ap.png", array)
    geometry = carm(0, 0, rows=rows, columns=columns, sid=1000.0, sod=900.0, spacing=(0.2, 0.4))
    sidecar = writeSidecar(path, geometry, Modality="DX")
    assert sidecar == tmp_path / "ap.json"
    assert json.loads(sidecar.read_text())["Rows"] == rows

    xray = readXrayImage(path)
    assert xray.pixels.shape == (rows, columns)
    assert xray.pixels.dtype == np.float32
    np.testing.assert_array_equal(xray.pixels, array.astype(np.float32))
    assert (xray.geometry.rows, xray.geometry.columns) == (rows, columns)
    assert xray.geometry.pixelSpacingMm == (0.2, 0.4)
    assert xray.geometry.sourceToDetectorMm == 1000.0
    assert xray.geometry.sourceToPatientMm == 900.0
    assert xray.modality == "DX"
    assert xray.sourcePath == str(path)


def test_sidecar_without_rows_and_columns_takes_them_from_the_image(tmp_path):
    rows, columns = 24, 36
    array = np.arange(rows * columns, dtype=np.float32).reshape(rows, columns)
    path = writeSitk(tmp_path / "view.nrrd", array)
    attributes = {"PositionerPrimaryAngle": -30, "PositionerSecondaryAngle": 25,
                  "DistanceSourceToDetector": 1000, "DistanceSourceToPatient": 760,
                  "ImagerPixelSpacing": [0.3, 0.3]}
    (tmp_path / "view.json").write_text(json.dumps(attributes))
    xray = readXrayImage(path)
    assert (xray.geometry.rows, xray.geometry.columns) == (rows, columns)
    assert xray.geometry.primaryAngleDeg == -30.0
    assert xray.geometry.secondaryAngleDeg == 25.0
    assert xray.modality == ""
    np.testing.assert_array_equal(xray.pixels, array)


def test_nrrd_with_sidecar_float_values_exact(tmp_path):
    array = pattern().astype(np.float32)
    path = writeSitk(tmp_path / "view1.nrrd", array)
    writeSidecar(path, carm(30, 20))
    xray = readXrayImage(path)
    np.testing.assert_array_equal(xray.pixels, array)
    assert xray.geometry == carm(30, 20)
    assert (xray.frameIndex, xray.numberOfFrames) == (0, 1)


def test_nifti_gz_with_sidecar(tmp_path):
    array = pattern().astype(np.float32)
    path = writeSitk(tmp_path / "view2.nii.gz", array)
    writeSidecar(path, carm(-40, 0))
    assert (tmp_path / "view2.json").is_file()
    xray = readXrayImage(path)
    np.testing.assert_array_equal(xray.pixels, array)
    assert xray.geometry == carm(-40, 0)


def test_single_slice_volume_is_accepted_as_2d(tmp_path):
    array = pattern().astype(np.float32)[None]  # (1, rows, columns)
    path = writeSitk(tmp_path / "slice.nrrd", array)
    writeSidecar(path, carm())
    xray = readXrayImage(path)
    assert xray.pixels.shape == (ROWS, COLUMNS)
    np.testing.assert_array_equal(xray.pixels, array[0])


def test_gray_rgb_png(tmp_path):
    rows, columns = 20, 30
    gray = (np.add.outer(np.arange(rows) * 5, np.arange(columns) * 2)).astype(np.uint8)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    path = writeSitk(tmp_path / "rgb.png", rgb, isVector=True)
    assert sitk.ReadImage(str(path)).GetNumberOfComponentsPerPixel() == 3
    writeSidecar(path, carm(rows=rows, columns=columns))
    xray = readXrayImage(path)
    assert xray.pixels.shape == (rows, columns)
    assert xray.pixels.dtype == np.float32
    np.testing.assert_allclose(xray.pixels, gray.astype(np.float32), rtol=1e-5)  # luminance weights sum to 1


def test_rgba_png(tmp_path):
    rows, columns = 20, 30
    gray = (np.add.outer(np.arange(rows) * 3, np.arange(columns) * 4)).astype(np.uint8)
    rgba = np.concatenate([np.repeat(gray[:, :, None], 3, axis=2), np.full((rows, columns, 1), 255, np.uint8)], axis=2)
    path = writeSitk(tmp_path / "rgba.png", rgba, isVector=True)
    writeSidecar(path, carm(rows=rows, columns=columns))
    xray = readXrayImage(path)
    np.testing.assert_allclose(xray.pixels, gray.astype(np.float32), rtol=1e-5)


def test_colored_png_is_read_as_luminance(tmp_path):
    rows, columns = 16, 20
    rgb = np.zeros((rows, columns, 3), dtype=np.uint8)
    rgb[..., 0] = np.arange(columns, dtype=np.uint8)[None, :] * 10  # red ramp
    rgb[..., 1] = 200  # strong, constant green
    rgb[..., 2] = 50
    path = writeSitk(tmp_path / "color.png", rgb, isVector=True)
    writeSidecar(path, carm(rows=rows, columns=columns))
    luminance = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    assert np.abs(readXrayImage(path).pixels - luminance).max() <= 1.0

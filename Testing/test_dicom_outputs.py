"""DICOM SEG and SR of a finished case (``ReconCoreLib.dicomoutputs``), read back with highdicom and pydicom.

- Each module's bundled sample through its real entry (AngioRecon DICOM XA, FemurRegistration DICOM DX, EchoRecon
  as DICOM US copies of its PNG views): the SEG and SR are in the first input's study with its patient and study
  modules, in new series; the SEG's segment labels are the segmentation's segment names (EchoRecon: with the phase),
  its voxels are the segmentation file's voxels at the same patient positions (LPS, mm; checked both ways:
  SEG index -> LPS -> file index and file index -> LPS -> SEG index); the SR's coded measurements are readouts.json's
  values rounded to their coded precision, in their UCUM units, in groups referencing the SEG's segments; both
  reference the input images' series.
- Without a model (a segmentation file written here): an oblique, anisotropic grid with overlapping segments in two
  layers keeps its geometry; a run with failed plausibility checks writes no number; inputs from two studies are
  referenced as other studies' instances; a non-DICOM input is refused.
- Every code of the modules' ``dicomcodes`` tables is a code of DICOM PS3.16 (pydicom's concept dictionary) with its
  meaning, or a private code of the declared private scheme; units agree with the readout keys' suffixes.
- ``dciodvfy`` (dicom3tools), when installed, finds no error in either file.

The suite's second pass (Slicer 5.10's packages) has no highdicom: the whole file skips there.
"""

import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest

hd = pytest.importorskip("highdicom")

from ReconCoreLib import dicomoutputs  # noqa: E402
from ReconCoreLib.modules import moduleEntry  # noqa: E402
from ReconCoreLib.readouts import Readouts, unitOf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("AngioRecon", "FemurRegistration", "EchoRecon")
XA_VIEWS = [ROOT / f"AngioRecon/Resources/SampleData/AngioLeft-view{index}.dcm" for index in (1, 2)]
DX_VIEWS = [ROOT / f"FemurRegistration/Resources/SampleData/FemurOrthogonal-{view}.dcm" for view in ("ap", "lat")]
PATIENT_AND_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                     "StudyTime", "AccessionNumber", "ReferringPhysicianName", "StudyID")


def codesOf(moduleName):
    import importlib

    return importlib.import_module(f"{moduleName}Lib.dicomcodes")


# -- reading the files back -------------------------------------------------------------------------------------------


def segmentsOfFiles(directory, codes):
    """[(SEG label, mask [k, j, i])] and ijkToLps of the module's segmentation files, as the SEG should hold them."""
    segments, ijkToLps = [], None
    for fileName, phase in codes.SEGMENTATIONS.items():
        if (directory / fileName).is_file():
            ijkToLps, fileSegments = dicomoutputs.readSegmentationFile(directory / fileName)
            segments += [(f"{name} ({phase})" if phase else name, mask) for name, mask, _ in fileSegments]
    return segments, ijkToLps


def checkSegGeometry(segPath, segments, ijkToLps):
    """The SEG holds each segment's mask at the file's patient positions: per frame (its ImagePositionPatient, the
    shared ImageOrientationPatient and PixelSpacing against ijkToLps, its pixels against the mask's slice), and through
    highdicom's volume both ways (SEG index -> LPS -> file index, file index -> LPS -> SEG index)."""
    dataset = pydicom.dcmread(str(segPath))
    shared = dataset.SharedFunctionalGroupsSequence[0]
    orientation = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, float)
    measures = shared.PixelMeasuresSequence[0]
    rowSpacing, columnSpacing = (float(value) for value in measures.PixelSpacing)
    assert np.allclose(orientation[:3] * columnSpacing, ijkToLps[:3, 0], atol=1e-4)  # along a row: i
    assert np.allclose(orientation[3:] * rowSpacing, ijkToLps[:3, 1], atol=1e-4)  # down a column: j
    assert float(measures.SliceThickness) == pytest.approx(np.linalg.norm(ijkToLps[:3, 2]), abs=1e-4)
    assert (dataset.Rows, dataset.Columns) == segments[0][1].shape[1:]
    lpsToIjk = np.linalg.inv(ijkToLps)
    pixels = dataset.pixel_array.reshape(-1, dataset.Rows, dataset.Columns)
    seen = set()
    for frame, functionalGroups in enumerate(dataset.PerFrameFunctionalGroupsSequence):
        identification = functionalGroups.get("SegmentIdentificationSequence") or shared.SegmentIdentificationSequence
        number = int(identification[0].ReferencedSegmentNumber)
        position = np.array(functionalGroups.PlanePositionSequence[0].ImagePositionPatient, float)
        ijk = lpsToIjk @ np.append(position, 1.0)
        assert np.allclose(ijk[:2], 0, atol=1e-3) and ijk[2] == pytest.approx(round(ijk[2]), abs=1e-3)
        k = int(round(ijk[2]))
        assert np.array_equal(pixels[frame] > 0, segments[number - 1][1][k]), (number, k)
        seen.add((number, k))
    assert seen == {(number, k) for number in range(1, len(segments) + 1) for k in range(segments[0][1].shape[0])}

    volume = hd.seg.segread(str(segPath)).get_volume()
    segToLps = volume.affine
    rng = np.random.default_rng(0)
    shape = np.array(segments[0][1].shape)
    for number, (label, mask) in enumerate(segments, start=1):
        array = volume.array[..., number - 1]
        inside = np.argwhere(mask)
        kji = np.concatenate([inside[rng.integers(0, len(inside), 50)] if len(inside) else np.empty((0, 3), int),
                              rng.integers(0, shape, (50, 3))])
        for k, j, i in kji:  # file index -> LPS -> SEG index
            index = np.linalg.solve(segToLps, ijkToLps @ [i, j, k, 1.0])[:3]
            assert np.allclose(index, np.round(index), atol=1e-3)
            assert array[tuple(np.round(index).astype(int))] == mask[k, j, i], label
        for index in rng.integers(0, array.shape, (50, 3)):  # SEG index -> LPS -> file index
            i, j, k = np.round(lpsToIjk @ segToLps @ np.append(index, 1.0))[:3].astype(int)
            assert array[tuple(index)] == mask[k, j, i], label


def srGroups(srPath):
    """[(tracking identifier, referenced segment number or None, [measurement])] of the SR's measurement groups."""
    report = hd.sr.srread(str(srPath)).content
    groups = [(group.tracking_identifier, group.referenced_segment.referenced_segment_numbers[0], group)
              for group in report.get_volumetric_roi_measurement_groups()]
    groups += [(group.tracking_identifier, None, group) for group in report.get_image_measurement_groups()]
    return groups


def checkReport(srPath, seg, codes, readouts, headers, segmentLabels):
    """Each reported readout is one measurement of its concept, value (rounded to its decimals) and unit, in the
    group of its segment (tracking identifier = the SEG segment's label, the segment referenced) or of its site."""
    groups = srGroups(srPath)
    for identifier, number, group in groups:
        if number is not None:
            assert identifier == segmentLabels[number - 1]
            assert group.referenced_segment.referenced_sop_instance_uid == seg.SOPInstanceUID
    reported = dicomoutputs.reportedReadouts(codes, readouts)
    assert reported
    measurementCount = sum(len(group.get_measurements()) for _, _, group in groups)
    assert measurementCount == len(reported)
    for key in reported:
        spec = codes.READOUTS[key]
        label = next((label for label in spec.get("segment", ()) if label in segmentLabels), None)
        target = [group for identifier, number, group in groups
                  if (number is not None and label == segmentLabels[number - 1])
                  or (number is None and label is None and identifier == spec["site"][2])]
        assert len(target) == 1, key
        images = {headers[role].SOPInstanceUID for role in dicomoutputs._roles(spec)}
        found = [measurement for measurement in target[0].get_measurements()
                 if (measurement.name.value, measurement.name.scheme_designator) == spec["concept"][:2]
                 and {image.referenced_sop_instance_uid for image in measurement.referenced_images} == images]
        assert len(found) == 1, key
        assert found[0].value == pytest.approx(round(readouts.values[key], spec["decimals"]), abs=1e-9), key
        assert (found[0].unit.value, found[0].unit.scheme_designator) == (spec["unit"], "UCUM"), key


def checkStudyAndSeries(dataset, first, inputs):
    for keyword in PATIENT_AND_STUDY:
        assert str(dataset.get(keyword, "")) == str(first.get(keyword, "")), keyword
    assert dataset.SeriesInstanceUID not in {image.SeriesInstanceUID for image in inputs}
    assert dataset.Manufacturer == dicomoutputs.MANUFACTURER


def referencedSeries(seg):
    """{(study, series): {instance}} that the SEG references (its study's and other studies')."""
    found = {}
    for study, items in [(seg.StudyInstanceUID, seg.ReferencedSeriesSequence)] + [
            (other.StudyInstanceUID, other.ReferencedSeriesSequence)
            for other in seg.get("StudiesContainingOtherReferencedInstancesSequence", [])]:
        for item in items:
            found[(study, item.SeriesInstanceUID)] = {ref.ReferencedSOPInstanceUID
                                                      for ref in item.ReferencedInstanceSequence}
    return found


# -- the modules' samples through their entries ------------------------------------------------------------------


def echoDicomCase(folder):
    """EchoNormal's twelve PNG views as DICOM US files of one study (PixelSpacing from the sidecars)."""
    from EchoReconLib import echoio, samples
    from EchoReconLib.entry import EchoCase
    from pydicom.uid import generate_uid
    from test_echo_gates import writeEchoDicom

    folder.mkdir(parents=True, exist_ok=True)
    study = generate_uid(entropy_srcs=["EchoNormal study"])
    files = {}
    for phase, paths in samples.sampleFiles("EchoNormal").items():
        files[phase] = {}
        for view, source in paths.items():
            spacing = json.loads(source.with_suffix(".json").read_text())["PixelSpacing"][0]
            pixels = np.round(echoio.readEchoImage(source).pixels * 255).astype(np.uint8)
            files[phase][view] = writeEchoDicom(
                folder / f"{phase}_{view}.dcm", pixels, spacing, region=False, StudyInstanceUID=study,
                SeriesInstanceUID=generate_uid(entropy_srcs=[f"EchoNormal {phase} {view}"]),
                PatientName="Recon2Dto3D^EchoNormal", PatientID="EchoNormal", PatientSex="F",
                PatientBirthDate="19600101", StudyDate="20260101", StudyTime="101500", AccessionNumber="A1",
                StudyID="1", ReferringPhysicianName="")
    return EchoCase(files["ED"], files["ES"])


def moduleCase(moduleName, folder):
    entry = moduleEntry(moduleName)
    if moduleName == "EchoRecon":
        return entry, echoDicomCase(folder)
    return entry, entry.sampleCases()[{"AngioRecon": "AngioLeft", "FemurRegistration": "FemurOrthogonal"}[moduleName]]


@pytest.fixture(scope="module", params=MODULES)
def moduleRun(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    entry, case = moduleCase(request.param, folder / "inputs")
    directory = folder / "out"
    readouts = entry.runCase(case, directory, "cpu", None)
    paths = dicomoutputs.writeDicomOutputs(entry, case, directory, readouts)
    return SimpleNamespace(entry=entry, case=case, directory=directory, readouts=readouts, paths=paths)


@pytest.mark.torch
def test_seg_of_each_sample_holds_its_segments_where_the_segmentation_puts_them(moduleRun):
    segPath, srPath = moduleRun.paths
    assert [path.name for path in moduleRun.paths] == ["seg.dcm", "sr.dcm"]
    inputs = [pydicom.dcmread(str(path), stop_before_pixels=True)
              for path in moduleRun.entry.inputImages(moduleRun.case).values()]
    seg = hd.seg.segread(str(segPath))
    checkStudyAndSeries(seg, inputs[0], inputs)
    assert seg.SeriesNumber == dicomoutputs.SEG_SERIES_NUMBER and seg.SegmentationType == "BINARY"
    codes = codesOf(moduleRun.entry.moduleName)
    segments, ijkToLps = segmentsOfFiles(moduleRun.directory, codes)
    assert [item.SegmentLabel for item in seg.SegmentSequence] == [label for label, _ in segments]
    for item in seg.SegmentSequence:
        assert item.SegmentAlgorithmType == "AUTOMATIC"
        assert item.SegmentationAlgorithmIdentificationSequence[0].AlgorithmName == \
            f"Recon2Dto3D {moduleRun.entry.moduleName}"
    checkSegGeometry(segPath, segments, ijkToLps)
    expected = {}
    for image in inputs:
        expected.setdefault((image.StudyInstanceUID, image.SeriesInstanceUID), set()).add(image.SOPInstanceUID)
    assert referencedSeries(seg) == expected
    assert {item.ReferencedSOPInstanceUID for item in seg.SourceImageSequence} == {i.SOPInstanceUID for i in inputs}


@pytest.mark.torch
def test_sr_of_each_sample_codes_the_readouts_of_readouts_json(moduleRun):
    segPath, srPath = moduleRun.paths
    headers = {role: pydicom.dcmread(str(path), stop_before_pixels=True)
               for role, path in moduleRun.entry.inputImages(moduleRun.case).items()}
    inputs = list(headers.values())
    seg, sr = pydicom.dcmread(str(segPath)), hd.sr.srread(str(srPath))
    checkStudyAndSeries(sr, inputs[0], inputs)
    assert sr.SeriesNumber == dicomoutputs.SR_SERIES_NUMBER and sr.VerificationFlag == "UNVERIFIED"
    assert sr.SeriesInstanceUID != seg.SeriesInstanceUID
    readouts = Readouts.readJson(moduleRun.directory / "readouts.json")
    codes = codesOf(moduleRun.entry.moduleName)
    numeric = [key for key, value in readouts.values.items() if not isinstance(value, (str, bool))]
    assert set(numeric) <= set(codes.READOUTS) | set(codes.NOT_REPORTED)
    checkReport(srPath, seg, codes, readouts, headers, [item.SegmentLabel for item in seg.SegmentSequence])
    evidence = {ref.ReferencedSOPInstanceUID for key in ("CurrentRequestedProcedureEvidenceSequence",
                                                         "PertinentOtherEvidenceSequence")
                for study in sr.get(key, []) for series in study.ReferencedSeriesSequence
                for ref in series.ReferencedSOPSequence}
    assert evidence == {seg.SOPInstanceUID} | {image.SOPInstanceUID for image in inputs}


# -- without a model: a segmentation file written here ---------------------------------------------------------------


def writeSegmentationFile(path, layersKji, ijkToLps, segments):
    """A Slicer-style .seg.nrrd: ``layersKji`` [k, j, i, layer] uint8, ``segments`` [(name, layer, label value)]."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(layersKji, isVector=True)
    spacing = np.linalg.norm(ijkToLps[:3, :3], axis=0)
    image.SetSpacing(spacing.tolist())
    image.SetDirection((ijkToLps[:3, :3] / spacing).flatten().tolist())
    image.SetOrigin(ijkToLps[:3, 3].tolist())
    for index, (name, layer, value) in enumerate(segments):
        image.SetMetaData(f"Segment{index}_Name", name)
        image.SetMetaData(f"Segment{index}_Layer", str(layer))
        image.SetMetaData(f"Segment{index}_LabelValue", str(value))
        image.SetMetaData(f"Segment{index}_Color", "0.8 0.2 0.1")
    sitk.WriteImage(image, str(path), True)
    return path


def obliqueCase(tmp_path, inputs, failedCheck=None):
    """An EchoRecon-like finished case on an oblique, anisotropic grid: LV cavity inside the LV myocardium (two layers,
    overlapping), ED only; ``inputs`` {role: DICOM file}."""
    angle = np.deg2rad(20.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    rotation = rotation @ np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    ijkToLps = np.eye(4)
    ijkToLps[:3, :3] = rotation * [0.7, 0.9, 1.6]
    ijkToLps[:3, 3] = [12.5, -40.0, 7.25]
    k, j, i = np.mgrid[:9, :14, :11]
    cavity = ((i - 5) ** 2 + (j - 6) ** 2 + (k - 4) ** 2) <= 9
    myocardium = ((i - 5) ** 2 + (j - 7) ** 2 + (k - 4) ** 2) <= 16
    layers = np.stack([cavity.astype(np.uint8), myocardium.astype(np.uint8) * 3], axis=-1)
    directory = tmp_path / "out"
    directory.mkdir()
    writeSegmentationFile(directory / "segmentation.seg.nrrd", layers, ijkToLps,
                          [("LV cavity", 0, 1), ("LV myocardium", 1, 3)])
    readouts = Readouts("EchoRecon")
    readouts.set("lv_edv_ml", 123.456)
    readouts.set("lv_mass_g", 150.49)
    readouts.set("inference_s", 1.0)
    if failedCheck:
        readouts.failCheck(failedCheck)
    readouts.writeJson(directory / "readouts.json")
    entry = SimpleNamespace(moduleName="EchoRecon", inputImages=lambda case: dict(inputs))
    return entry, directory, readouts, ijkToLps


def test_an_oblique_grid_with_overlapping_segments_keeps_its_geometry(tmp_path):
    entry, directory, readouts, ijkToLps = obliqueCase(tmp_path, {"ED A4C": DX_VIEWS[0], "ED A2C": DX_VIEWS[1]})
    segPath, srPath = dicomoutputs.writeDicomOutputs(entry, None, directory, readouts)
    codes = codesOf("EchoRecon")
    segments, fileIjkToLps = segmentsOfFiles(directory, codes)
    assert np.allclose(fileIjkToLps, ijkToLps, atol=1e-6)
    assert [label for label, _ in segments] == ["LV cavity (end-diastole)", "LV myocardium (end-diastole)"]
    checkSegGeometry(segPath, segments, ijkToLps)
    seg = pydicom.dcmread(str(segPath))
    assert seg.SegmentsOverlap == "YES" and seg.FrameOfReferenceUID not in {
        pydicom.dcmread(str(path), stop_before_pixels=True).FrameOfReferenceUID for path in DX_VIEWS}
    headers = {role: pydicom.dcmread(str(path), stop_before_pixels=True) for role, path in
               entry.inputImages(None).items()}
    checkReport(srPath, seg, codes, readouts, headers, [item.SegmentLabel for item in seg.SegmentSequence])


def test_failed_plausibility_checks_leave_no_number_in_the_report(tmp_path):
    entry, directory, readouts, _ = obliqueCase(tmp_path, {"ED A4C": DX_VIEWS[0]},
                                                failedCheck="LV ejection fraction = 99 % is outside [5, 85] %")
    segPath, srPath = dicomoutputs.writeDicomOutputs(entry, None, directory, readouts)
    assert "FAILED CHECKS" in pydicom.dcmread(str(segPath)).SeriesDescription
    sr = pydicom.dcmread(str(srPath))
    assert "FAILED CHECKS" in sr.SeriesDescription

    def items(dataset):
        for item in dataset.get("ContentSequence", []):
            yield item
            yield from items(item)

    assert not [item for item in items(sr) if item.ValueType == "NUM"]
    groups = srGroups(srPath)
    assert {identifier for identifier, _, _ in groups} == {"LV cavity (end-diastole)",
                                                           "LV myocardium (end-diastole)"}
    for _, _, group in groups:
        evaluations = [(item.name.value, item.value.value) for item in group.get_qualitative_evaluations()]
        assert ("PLAUSIBILITY", "111224") in evaluations  # Plausibility check = Failed
        assert sum(value == "114006" for _, value in evaluations) == 1  # its readout: Measurement failure


def test_inputs_of_two_studies_are_referenced_as_other_studies(tmp_path):
    other = pydicom.dcmread(str(XA_VIEWS[1]))  # the AngioLeft views share a study: put view 2 into another one
    other.StudyInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["another study"])
    other.save_as(str(tmp_path / "view2-other-study.dcm"))
    paths = [XA_VIEWS[0], tmp_path / "view2-other-study.dcm"]
    views = {"ED A4C": paths[0], "ED A2C": paths[1]}
    headers = [pydicom.dcmread(str(path), stop_before_pixels=True) for path in paths]
    assert headers[0].StudyInstanceUID != headers[1].StudyInstanceUID
    entry, directory, readouts, _ = obliqueCase(tmp_path, views)
    segPath, srPath = dicomoutputs.writeDicomOutputs(entry, None, directory, readouts)
    assert any("2 DICOM studies" in warning for warning in readouts.warnings)
    seg, sr = pydicom.dcmread(str(segPath)), pydicom.dcmread(str(srPath))
    assert seg.StudyInstanceUID == sr.StudyInstanceUID == headers[0].StudyInstanceUID
    assert referencedSeries(seg) == {(image.StudyInstanceUID, image.SeriesInstanceUID): {image.SOPInstanceUID}
                                     for image in headers}
    other = sr.PertinentOtherEvidenceSequence
    assert [study.StudyInstanceUID for study in other] == [headers[1].StudyInstanceUID]


def test_an_input_that_is_not_dicom_is_refused(tmp_path):
    png = ROOT / "EchoRecon/Resources/SampleData/EchoNormal_ED_A4C.png"
    entry, directory, readouts, _ = obliqueCase(tmp_path, {"ED A4C": DX_VIEWS[0], "ED A2C": png})
    with pytest.raises(ValueError, match="not DICOM"):
        dicomoutputs.writeDicomOutputs(entry, None, directory, readouts)
    assert not (directory / "seg.dcm").exists()


def test_an_input_without_its_uids_gives_no_dicom_outputs_but_a_warning(tmp_path, monkeypatch):
    """A file lacking a Type 1 UID cannot be referenced: asked for (--dicom-out), the run stops naming it; by default
    the result stands, with a warning, and without seg.dcm and sr.dcm."""
    from ReconCoreLib import postrun

    broken = pydicom.dcmread(str(DX_VIEWS[1]))
    del broken.SeriesInstanceUID
    broken.save_as(str(tmp_path / "lat.dcm"))
    entry, directory, readouts, _ = obliqueCase(tmp_path, {"ED A4C": DX_VIEWS[0], "ED A2C": tmp_path / "lat.dcm"})
    with pytest.raises(ValueError, match=r"lat\.dcm: lacks SeriesInstanceUID \(Type 1\), so a DICOM SEG and SR"):
        dicomoutputs.writeDicomOutputs(entry, None, directory, readouts)
    monkeypatch.setattr(postrun, "_moduleLibrary", lambda moduleName, name: None)  # no summary picture here
    stub = SimpleNamespace(moduleName="EchoRecon", inputImages=lambda case: {"a": DX_VIEWS[0],
                                                                             "b": tmp_path / "lat.dcm"})
    with pytest.raises(ValueError, match="lacks SeriesInstanceUID"):
        postrun.finishCase(stub, None, directory, readouts, dicomOut=True)
    assert postrun.finishCase(stub, None, directory, readouts) == []
    assert readouts.warnings[-1].startswith("no DICOM SEG or SR written: ") and "lacks SeriesInstanceUID" in \
        readouts.warnings[-1]
    assert not (directory / "seg.dcm").exists() and not (directory / "sr.dcm").exists()


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")
def test_dciodvfy_finds_no_error(tmp_path):
    entry, directory, readouts, _ = obliqueCase(tmp_path, {"ED A4C": DX_VIEWS[0], "ED A2C": DX_VIEWS[1]})
    for path in dicomoutputs.writeDicomOutputs(entry, None, directory, readouts):
        result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
        assert not errors, f"{path.name}: {errors}"


# -- the codes --------------------------------------------------------------------------------------------------------


def standardCodes():
    """{(scheme, value): {meaning (lower case)}} of DICOM PS3.16 as pydicom ships it."""
    from pydicom.sr._concepts_dict import concepts

    found = {}
    for scheme, byKeyword in concepts.items():
        for byValue in byKeyword.values():
            for value, (meaning, _) in byValue.items():
                found.setdefault((scheme, value), set()).add(meaning.lower())
    return found


@pytest.mark.parametrize("moduleName", MODULES)
def test_codes_are_standard_codes_or_declared_private_ones(moduleName):
    codes, standard = codesOf(moduleName), standardCodes()
    triples = [codes.PROCEDURE] + [spec[key] for spec in codes.SEGMENTS.values() for key in ("category", "type")]
    triples += [spec[key] for spec in codes.READOUTS.values() for key in ("concept", "site", "method") if key in spec]
    triples += list(getattr(codes, "OTHER_METHODS", ()))
    for value, scheme, meaning in triples:
        if scheme.startswith("99"):
            assert scheme == dicomoutputs.PRIVATE_SCHEME, (value, scheme)
        else:
            assert meaning.lower() in standard.get((scheme, value), set()), (value, scheme, meaning)
    labels = {f"{name} ({phase})" if phase else name
              for name in codes.SEGMENTS for phase in codes.SEGMENTATIONS.values()}
    roles = set(moduleEntry(moduleName).inputImages(next(iter(moduleEntry(moduleName).sampleCases().values()))))
    assert not set(codes.READOUTS) & set(codes.NOT_REPORTED)
    for key, spec in codes.READOUTS.items():
        assert spec["unit"] == dicomoutputs.UCUM_OF_SUFFIX[unitOf(key)], key
        assert spec["unit"] in dicomoutputs.UCUM_MEANINGS and isinstance(spec["decimals"], int)
        assert set(spec.get("segment", ())) <= labels, key
        assert spec.get("segment") or spec.get("site"), key  # a group to go to
        assert set(dicomoutputs._roles(spec)) <= roles, key


@pytest.mark.torch
def test_echo_volumes_from_two_views_are_coded_as_such(tmp_path):
    from EchoReconLib import dicomcodes
    from EchoReconLib.entry import ENTRY, EchoCase

    full = echoDicomCase(tmp_path / "inputs")
    case = EchoCase(*({view: path for view, path in phase.items() if view in ("A4C", "A2C")}
                      for phase in (full.endDiastole, full.endSystole)))
    readouts = ENTRY.runCase(case, tmp_path / "out", "cpu", None)
    assert readouts.values["view_count"] == 2
    _, srPath = dicomoutputs.writeDicomOutputs(ENTRY, case, tmp_path / "out", readouts)
    methods = {(measurement.name.value, measurement.method.value if measurement.method else None)
               for _, _, group in srGroups(srPath) for measurement in group.get_measurements()}
    volumes = {method for name, method in methods if name in (dicomcodes.LV_EDV[0], dicomcodes.LV_ESV[0])}
    assert volumes == {dicomcodes.TWO_VIEWS[0]}
    assert (dicomcodes.LV_EF[0], None) in methods

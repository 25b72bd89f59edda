"""DICOM outputs of a finished case whose inputs are DICOM: a Segmentation (``seg.dcm``) of the result and a TID 1500
measurement report (``sr.dcm``, Comprehensive 3D SR) of its readouts, both in the input images' study (highdicom).

What they hold:

- Both: the StudyInstanceUID, patient module and study module of the first input image, new series (SEG
  :data:`SEG_SERIES_NUMBER`, SR :data:`SR_SERIES_NUMBER`), Manufacturer :data:`MANUFACTURER`, the module and
  ``ReconCoreLib.__version__`` as model name and software version; the input images as source images. Inputs of
  another study than the first (two views from two studies) are referenced through the Studies Containing Other
  Referenced Instances Sequence (SEG) and the Pertinent Other Evidence Sequence (SR), with a warning in the readouts.
- SEG: BINARY, one segment per segment of the module's segmentation files (``<Module>Lib.dicomcodes.SEGMENTATIONS``;
  EchoRecon's end-systolic segments are further segments of the same SEG, their labels naming the phase), coded by
  ``<Module>Lib.dicomcodes.SEGMENTS``, algorithm type AUTOMATIC, algorithm "Recon2Dto3D <module>" (family Artificial
  Intelligence), the segment's colour from the segmentation file, every frame kept (empty ones too) so the SEG's
  grid is the segmentation file's grid.
- SR: TID 1500 with one measurement group (TID 1411) per segment that has readouts, referencing that segment of the
  SEG (the group's tracking identifier is the segment's), and one group (TID 1501) per finding site for readouts that
  belong to no segment (EchoRecon's stroke volume and EF, the views' Dice). Readouts are coded by
  ``<Module>Lib.dicomcodes.READOUTS`` with UCUM units, rounded to their clinical precision; the others are listed in
  its ``NOT_REPORTED``. Codes without a standard code use the private coding scheme :data:`PRIVATE_SCHEME`, declared
  in each file's Coding Scheme Identification Sequence.

Geometry: the result is a 3D volume in patient space (LPS, mm) that no 3D source image has: the inputs are
projection radiographs or echo views. highdicom places a SEG's frames from its source images' Frame of Reference, so
the SEG is built on its own grid: a :class:`highdicom.Volume` whose affine is the segmentation file's ijkToLps
(frames along k, rows along j, columns along i), a new Frame of Reference UID (the inputs each have their own, none
of which is the reconstruction's patient frame; EchoRecon's heart is placed by convention), and a header-only
stand-in source image in that Frame of Reference carrying the first input's patient and study. The stand-in is
never written: after construction the SEG's references to it are replaced by references to the real input images.
Each frame's ImagePositionPatient, the shared ImageOrientationPatient, PixelSpacing and SliceThickness put voxel
(i, j, k) where ``segmentation.seg.nrrd`` puts it.

Failed plausibility checks (``readouts.failed_checks``, kept with ``--keep-implausible``): the numbers are not
measurements, so the SR holds none of them. Each group then carries qualitative evaluations instead: "Plausibility
check" (private) = "Failed" (DCM 111224), and per readout its concept = "Measurement failure" (DCM 114006, CID 42).
The SEG is written (it is the result the user chose to keep), its series description saying the checks failed.

Console example::

    from ReconCoreLib.modules import moduleEntry
    from ReconCoreLib.dicomoutputs import writeDicomOutputs
    entry = moduleEntry("AngioRecon")
    case = entry.sampleCases()["AngioLeft"]
    readouts = entry.runCase(case, Path("/tmp/angio-left"), "cpu", None)
    print(writeDicomOutputs(entry, case, Path("/tmp/angio-left"), readouts))   # [.../seg.dcm, .../sr.dcm]

Each module's codes are data in ``<Module>Lib/dicomcodes.py``. A code is ``(value, coding scheme designator,
meaning)``. Standard codes are from DICOM PS3.16 (the context group, CID, is named beside each; the same codes,
meanings and groups are in pydicom's concept dictionary,
``pydicom.sr._concepts_dict``, which ``Testing/test_dicom_outputs.py`` checks each code against). A figure without a
standard code has a private code of the scheme ``99RECON2D3D`` (declared in each SR and SEG's Coding Scheme
Identification Sequence).

- ``SEGMENTATIONS``: segmentation file of the output folder -> phase written after each segment's name in the SEG
  ("" for none).
- ``SEGMENTS``: segment name -> ``category`` (CID 7150), ``type`` (CID 7151 and its relatives) and optionally
  ``lateral`` (the laterality of the readout ``side`` qualifies the type).
- ``READOUTS``: readout key -> ``concept`` (the measurement's name), ``unit`` (UCUM), ``decimals`` (its clinical
  precision: the SR holds the value rounded to it), ``segment`` (the SEG segment labels the measurement
  belongs to, the first one present; none: a group of its finding site), ``site`` (finding site), ``method`` (CID
  7472 for volumes; an optional ``readoutMethod(key, readouts)`` gives another one for a run), ``image`` (the role,
  or roles, in ``ENTRY.inputImages`` of the input images the figure is about).
- ``NOT_REPORTED``: readouts kept out of the SR, with the reason.
"""

from __future__ import annotations

import importlib
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
from highdicom.coding_schemes import CodingSchemeIdentificationItem
import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from . import __version__
from .xrayio import isDicom, saveDicom

SEG_FILE, SR_FILE = "seg.dcm", "sr.dcm"
MANUFACTURER = "Recon2Dto3D"
SEG_SERIES_NUMBER, SR_SERIES_NUMBER = 900, 901
#: Private coding scheme of the figures without a standard code (DICOM PS3.3 8.2: a designator beginning "99").
PRIVATE_SCHEME = "99RECON2D3D"
PRIVATE_SCHEME_NAME = "Recon2Dto3D private codes"
#: UCUM unit code -> meaning, as DICOM PS3.16 CID 7181 / 7183 write them.
UCUM_MEANINGS = {"ml": "milliliter", "%": "percent", "g": "gram", "mm": "millimeter", "deg": "degree",
                 "mm3": "cubic millimeter", "1": "no units"}
#: Readout key suffix (``ReconCoreLib.readouts.UNIT_SUFFIXES``; "" for a ratio) -> UCUM unit code.
UCUM_OF_SUFFIX = {"ml": "ml", "percent": "%", "g": "g", "mm": "mm", "deg": "deg", "mm3": "mm3", "": "1"}
LATERALITY = {"left": Code("7771000", "SCT", "Left"), "right": Code("24028007", "SCT", "Right")}  # CID 244
ALGORITHM_FAMILY = Code("123110", "DCM", "Artificial Intelligence")  # CID 7162
MEASUREMENT_FAILURE = Code("114006", "DCM", "Measurement failure")  # CID 42
FAILED = Code("111224", "DCM", "Failed")  # CID 6042
PLAUSIBILITY_CHECK = Code("PLAUSIBILITY", PRIVATE_SCHEME, "Plausibility check")
_STANDIN_KEYWORDS = ("SpecificCharacterSet", "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                     "PatientAge", "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber",
                     "ReferringPhysicianName", "StudyID", "StudyDescription", "Manufacturer", "ManufacturerModelName",
                     "DeviceSerialNumber", "SoftwareVersions", "InstitutionName")
_STANDIN_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.2"
_TYPE2_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                   "AccessionNumber", "ReferringPhysicianName", "StudyID")


@dataclass
class Segment:
    """One segment of a segmentation file: its label in the SEG (name, and phase when the file has one)."""

    name: str
    label: str
    mask: np.ndarray  # bool [k, j, i]
    color: tuple  # r, g, b in 0..1
    codes: dict
    trackingUid: str = field(default_factory=generate_uid)


def code(triple) -> Code:
    """A pydicom Code of a ``(value, scheme, meaning)`` triple of a ``dicomcodes`` table."""
    value, scheme, meaning = triple
    return Code(value, scheme, meaning)


def unitCode(unit: str) -> Code:
    return Code(unit, "UCUM", UCUM_MEANINGS[unit])


def readSegmentationFile(path: Path) -> tuple[np.ndarray, list[tuple[str, np.ndarray, tuple]]]:
    """(ijkToLps 4x4 mm, [(segment name, mask [k, j, i] bool, colour)]) of a Slicer ``.seg.nrrd``.

    Slicer writes LPS (``space: left-posterior-superior``), a 3D labelmap or, with overlapping segments, a 4D one whose
    first axis is the layer; each segment is a ``LabelValue`` in its ``Layer`` (``Segment<N>_...`` header fields).
    SimpleITK reads the layers as vector components and the geometry in LPS."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    keys = set(image.GetMetaDataKeys())
    layers = sitk.GetArrayFromImage(image)
    if layers.ndim == 3:
        layers = layers[..., None]
    spacing = np.asarray(image.GetSpacing(), float)
    ijkToLps = np.eye(4)
    ijkToLps[:3, :3] = np.asarray(image.GetDirection(), float).reshape(3, 3) * spacing
    ijkToLps[:3, 3] = image.GetOrigin()

    def header(index: int, name: str, default: str = "") -> str:
        key = f"Segment{index}_{name}"
        return image.GetMetaData(key) if key in keys else default

    segments, index = [], 0
    while f"Segment{index}_Name" in keys:
        layer, value = int(header(index, "Layer", "0")), int(header(index, "LabelValue", "1"))
        color = tuple(float(part) for part in header(index, "Color", "0.5 0.5 0.5").split()[:3])
        segments.append((header(index, "Name"), layers[..., layer] == value, color))
        index += 1
    return ijkToLps, segments


#: What a SEG and SR need of each input image to reference it.
REFERENCE_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")


def _readInputs(images: dict) -> dict[str, Dataset]:
    """{role: header} of the input images; ``ValueError`` for one that is not DICOM."""
    headers = {}
    for role, path in images.items():
        if not isDicom(path):
            raise ValueError(f"{path}: not DICOM; a DICOM SEG and SR need DICOM input images to reference")
        headers[role] = dcmread(str(path), stop_before_pixels=True)
        missing = [keyword for keyword in REFERENCE_KEYWORDS if not str(getattr(headers[role], keyword, "") or "")]
        if missing:
            raise ValueError(f"{path}: lacks {', '.join(missing)} (Type 1), so a DICOM SEG and SR cannot reference it")
    return headers


def _segments(codes, directory: Path) -> tuple[np.ndarray, list[Segment]]:
    """The segments of every segmentation file the module wrote (one grid: their ijkToLps must agree)."""
    ijkToLps, segments = None, []
    for fileName, phase in codes.SEGMENTATIONS.items():
        path = Path(directory) / fileName
        if not path.is_file():
            continue
        fileIjkToLps, fileSegments = readSegmentationFile(path)
        if ijkToLps is None:
            ijkToLps, shape = fileIjkToLps, fileSegments[0][1].shape if fileSegments else None
        elif not np.allclose(fileIjkToLps, ijkToLps, atol=1e-4) or any(s[1].shape != shape for s in fileSegments):
            raise RuntimeError(f"{fileName}: its grid differs from {next(iter(codes.SEGMENTATIONS))}'s; one SEG "
                               "holds segments of one grid")
        for name, mask, color in fileSegments:
            if name not in codes.SEGMENTS:
                raise KeyError(f"segment {name!r} of {fileName} has no codes in {codes.__name__}.SEGMENTS")
            label = f"{name} ({phase})" if phase else name
            segments.append(Segment(name, label, mask, color, codes.SEGMENTS[name]))
    if not segments:
        raise RuntimeError(f"no segmentation in {directory} ({', '.join(codes.SEGMENTATIONS)})")
    return ijkToLps, segments


def _laterality(codes_: dict, readouts):
    side = readouts.values.get("side")
    return LATERALITY.get(side) if codes_.get("lateral") and isinstance(side, str) else None


def _standIn(first: Dataset, volume: hd.Volume, frameOfReferenceUid: str) -> Dataset:
    """A header-only image in the result's Frame of Reference with the first input's patient, study and equipment:
    what highdicom needs to build a SEG on the result's own grid (module docstring). Never written."""
    standIn = Dataset()
    for keyword in _STANDIN_KEYWORDS:
        if keyword in first:
            setattr(standIn, keyword, first.get(keyword))
    standIn = _withType2(standIn)
    # A single-frame image class with the Image Plane module (CT Image Storage): highdicom then takes the plane
    # geometry from the volume; the inputs' classes (XA, US) admit several frames and no plane geometry.
    standIn.SOPClassUID, standIn.Modality = _STANDIN_SOP_CLASS, first.Modality
    standIn.SOPInstanceUID, standIn.SeriesInstanceUID = generate_uid(), generate_uid()
    standIn.FrameOfReferenceUID, standIn.PositionReferenceIndicator = frameOfReferenceUid, ""
    standIn.Rows, standIn.Columns = volume.spatial_shape[1:]
    standIn.ImagePositionPatient = [float(value) for value in volume.position]
    standIn.ImageOrientationPatient = [float(value) for value in volume.direction_cosines]
    standIn.PixelSpacing = [float(volume.pixel_spacing[0]), float(volume.pixel_spacing[1])]
    standIn.SliceThickness = float(volume.spacing_between_slices)
    return standIn


def _withType2(header: Dataset) -> Dataset:
    """A copy of an input's header with its missing type 2 patient and study attributes present and empty (highdicom
    reads them all); only read, never written."""
    header = deepcopy(header)
    for keyword in _TYPE2_KEYWORDS:
        if keyword not in header or header.get(keyword) is None:
            setattr(header, keyword, "")
    return header


def _referenceInputs(dataset: Dataset, inputs: list[Dataset], standInUid: str) -> None:
    """Replace the stand-in's references in ``dataset`` (a SEG) by the input images: Source Image Sequence, Referenced
    Series Sequence (same study) and Studies Containing Other Referenced Instances Sequence (other studies)."""
    studies: dict[str, dict[str, list[Dataset]]] = {}
    sources = []
    for image in inputs:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = image.SOPClassUID, image.SOPInstanceUID
        sources.append(item)
        studies.setdefault(image.StudyInstanceUID, {}).setdefault(image.SeriesInstanceUID, []).append(item)

    def seriesItems(series: dict) -> list[Dataset]:
        items = []
        for seriesUid, instances in series.items():
            entry = Dataset()
            entry.SeriesInstanceUID, entry.ReferencedInstanceSequence = seriesUid, instances
            items.append(entry)
        return items

    dataset.SourceImageSequence = sources
    dataset.ReferencedSeriesSequence = seriesItems(studies.pop(dataset.StudyInstanceUID, {}))
    if studies:
        others = []
        for studyUid, series in studies.items():
            study = Dataset()
            study.StudyInstanceUID, study.ReferencedSeriesSequence = studyUid, seriesItems(series)
            others.append(study)
        dataset.StudiesContainingOtherReferencedInstancesSequence = others
    for frame in dataset.PerFrameFunctionalGroupsSequence:
        derivations = [item for item in frame.get("DerivationImageSequence", [])
                       if all(source.ReferencedSOPInstanceUID != standInUid
                              for source in item.get("SourceImageSequence", []))]
        frame.DerivationImageSequence = derivations


def _deviceSerialNumber(readouts) -> str:
    """DeviceSerialNumber (Type 1 in the SEG's Enhanced General Equipment module, so never empty): software has no
    serial number; the model that made the result (its SHA-256's first 16 hex digits) identifies the 'device'."""
    return f"model-{readouts.modelSha256[:16]}" if readouts.modelSha256 else f"recon2d3d-{__version__}"


def _codingSchemes() -> list:
    return [CodingSchemeIdentificationItem(designator=PRIVATE_SCHEME, name=PRIVATE_SCHEME_NAME,
                                                 responsible_organization=MANUFACTURER)]


def buildSegmentation(moduleName: str, inputs: list[Dataset], ijkToLps: np.ndarray, segments: list[Segment],
                      readouts) -> hd.seg.Segmentation:
    """The BINARY SEG of ``segments`` on the grid ``ijkToLps`` (module docstring), referencing ``inputs``."""
    frameOfReferenceUid = generate_uid()
    # highdicom.Volume indexes (frame, row, column) = (k, j, i); its affine is ijkToLps with the axes swapped.
    affine = ijkToLps[:, [2, 1, 0, 3]]
    stacked = np.stack([segment.mask for segment in segments], axis=-1).astype(np.uint8)
    volume = hd.Volume(stacked, affine, "PATIENT", frameOfReferenceUid,
                       channels={"SegmentNumber": list(range(1, len(segments) + 1))})
    algorithm = hd.AlgorithmIdentificationSequence(name=f"Recon2Dto3D {moduleName}", family=ALGORITHM_FAMILY,
                                                   version=__version__, source=MANUFACTURER)
    descriptions = []
    for number, segment in enumerate(segments, start=1):
        description = hd.seg.SegmentDescription(
            segment_number=number, segment_label=segment.label,
            segmented_property_category=code(segment.codes["category"]),
            segmented_property_type=code(segment.codes["type"]),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algorithm,
            tracking_uid=segment.trackingUid, tracking_id=segment.label,
            display_color=hd.color.CIELabColor.from_rgb(*(255.0 * np.clip(segment.color, 0, 1))))
        laterality = _laterality(segment.codes, readouts)
        if laterality is not None:
            description.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
                hd.sr.CodedConcept.from_code(laterality)]
        descriptions.append(description)
    standIn = _standIn(inputs[0], volume, frameOfReferenceUid)
    failed = " (FAILED CHECKS: not measurements)" if readouts.failed else ""
    seg = hd.seg.Segmentation(
        source_images=[standIn], pixel_array=volume, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=generate_uid(), series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer=MANUFACTURER,
        manufacturer_model_name=moduleName, software_versions=__version__,
        device_serial_number=_deviceSerialNumber(readouts),
        content_label="RECON2D3D", content_description=f"Recon2Dto3D {moduleName} result{failed}"[:64],
        series_description=f"Recon2Dto3D {moduleName} segmentation{failed}"[:64], omit_empty_frames=False,
        coding_schemes=_codingSchemes())
    _referenceInputs(seg, inputs, standIn.SOPInstanceUID)
    return seg


def _roles(spec: dict) -> tuple:
    image = spec.get("image", ())
    return (image,) if isinstance(image, str) else tuple(image)


def _method(codes, key: str, readouts):
    """The method of readout ``key``: the module's ``readoutMethod(key, readouts)`` where it has one and gives a code
    for this run (EchoRecon: volumes from two views), else the readout's ``method``, else none."""
    chosen = codes.readoutMethod(key, readouts) if hasattr(codes, "readoutMethod") else None
    method = chosen or codes.READOUTS[key].get("method")
    return code(method) if method else None


def _groupItems(keys, codes, readouts, headers, laterality):
    """(measurements, qualitative evaluations) of the readouts ``keys``: numbers, or, when the run failed a
    plausibility check, "Measurement failure" in their place (module docstring)."""
    if readouts.failed:
        evaluations = [hd.sr.QualitativeEvaluation(PLAUSIBILITY_CHECK, FAILED)]
        evaluations += [hd.sr.QualitativeEvaluation(code(codes.READOUTS[key]["concept"]), MEASUREMENT_FAILURE)
                        for key in keys]
        return None, evaluations
    measurements = []
    for key in keys:
        spec = codes.READOUTS[key]
        site = spec.get("site")
        images = [hd.sr.SourceImageForMeasurement(headers[role].SOPClassUID, headers[role].SOPInstanceUID)
                  for role in _roles(spec)]
        measurements.append(hd.sr.Measurement(
            name=code(spec["concept"]), value=float(round(float(readouts.values[key]), spec["decimals"])),
            unit=unitCode(spec["unit"]), method=_method(codes, key, readouts),
            finding_sites=[hd.sr.FindingSite(code(site), laterality)] if site else None,
            referenced_images=images or None))
    return measurements, None


def reportedReadouts(codes, readouts) -> list[str]:
    """The readout keys the SR codes: numeric readouts of ``codes.READOUTS``, in the readouts' order."""
    return [key for key, value in readouts.values.items()
            if key in codes.READOUTS and isinstance(value, (int, float)) and not isinstance(value, bool)]


def buildReport(moduleName: str, codes, seg: hd.seg.Segmentation, headers: dict, segments: list[Segment],
                readouts) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 measurement report of ``readouts`` (module docstring), referencing ``seg``'s segments."""
    algorithm = hd.sr.AlgorithmIdentification(name=f"Recon2Dto3D {moduleName}", version=__version__)
    inputs = list(headers.values())
    labels = [segment.label for segment in segments]
    bySegment: dict[int, list] = {}
    bySite: dict[tuple, list] = {}
    for key in reportedReadouts(codes, readouts):
        spec = codes.READOUTS[key]
        label = next((label for label in spec.get("segment", ()) if label in labels), None)
        if label is not None:
            bySegment.setdefault(labels.index(label), []).append(key)
        elif "site" in spec:
            bySite.setdefault(tuple(spec["site"]), []).append(key)
    groups = []
    for index, keys in sorted(bySegment.items()):
        segment = segments[index]
        laterality = _laterality(segment.codes, readouts)
        measurements, evaluations = _groupItems(keys, codes, readouts, headers, laterality)
        referenced = hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID, segment_number=index + 1,
            source_images=[hd.sr.SourceImageForSegmentation(image.SOPClassUID, image.SOPInstanceUID)
                           for image in inputs])
        groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=segment.trackingUid, identifier=segment.label),
            referenced_segment=referenced, finding_type=code(segment.codes["type"]),
            finding_category=code(segment.codes["category"]), algorithm_id=algorithm,
            finding_sites=[hd.sr.FindingSite(code(segment.codes["type"]), laterality)],
            measurements=measurements, qualitative_evaluations=evaluations))
    for site, keys in bySite.items():
        measurements, evaluations = _groupItems(keys, codes, readouts, headers, None)
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=site[2]),
            finding_type=code(site), algorithm_id=algorithm, finding_sites=[hd.sr.FindingSite(code(site))],
            measurements=measurements, qualitative_evaluations=evaluations))
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=generate_uid(entropy_srcs=[MANUFACTURER, moduleName, __version__]), name=f"Recon2Dto3D {moduleName}",
        manufacturer_name=MANUFACTURER, model_name=moduleName)
    context = hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=Code("121007", "DCM", "Device"), observer_identifying_attributes=device))
    report = hd.sr.MeasurementReport(observation_context=context, procedure_reported=code(codes.PROCEDURE),
                                     imaging_measurements=groups)
    failed = " (FAILED CHECKS: not measurements)" if readouts.failed else ""
    # The first input leads the evidence: the SR takes its patient, study and acquisition equipment from it.
    return hd.sr.Comprehensive3DSR(
        evidence=[_withType2(inputs[0]), seg, *inputs[1:]], content=report[0], series_instance_uid=generate_uid(),
        series_number=SR_SERIES_NUMBER, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=MANUFACTURER, is_complete=True, is_final=False, is_verified=False,
        series_description=f"Recon2Dto3D {moduleName} measurements{failed}"[:64],
        manufacturer_model_name=moduleName, software_versions=__version__, coding_schemes=_codingSchemes())


def writeDicomOutputs(entry, case, directory: Path, readouts) -> list[Path]:
    """Write ``seg.dcm`` and ``sr.dcm`` of a finished case into ``directory`` (which holds the module's segmentation
    files and ``readouts.json``); returns their paths.

    :param entry: the module's :class:`~ReconCoreLib.modules.ModuleEntry` (its ``inputImages(case)`` are referenced).
    :param readouts: the run's :class:`~ReconCoreLib.readouts.Readouts` (a warning is added when the inputs span
        several studies).
    :raises ValueError: an input image is not DICOM.
    """
    directory = Path(directory)
    codes = importlib.import_module(f"{entry.moduleName}Lib.dicomcodes")
    headers = _readInputs(entry.inputImages(case))
    inputs = list(headers.values())
    studies = {image.StudyInstanceUID for image in inputs}
    if len(studies) > 1:
        readouts.warn(f"the input images belong to {len(studies)} DICOM studies; the DICOM SEG and SR are filed in the "
                      "first image's study and reference the others")
    ijkToLps, segments = _segments(codes, directory)
    seg = buildSegmentation(entry.moduleName, inputs, ijkToLps, segments, readouts)
    sr = buildReport(entry.moduleName, codes, seg, headers, segments, readouts)
    return [saveDicom(seg, directory / SEG_FILE), saveDicom(sr, directory / SR_FILE)]

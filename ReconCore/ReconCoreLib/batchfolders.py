"""``recon2d3d batch FOLDER``: the cases found in a folder of DICOM files, from their headers (read without pixels).
The rules are in :func:`discoverCases`; ``OUT/cases.csv`` lists what was found as a manifest to check or edit."""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .batchcases import BatchCase, checkCaseNames

# -- finding the cases in a folder of DICOM files -------------------------------------------------------------------


#: Modalities a folder's cases are made of, by subcommand.
FOLDER_MODALITIES = {"angio": ("XA", "RF"), "femur": ("DX", "CR"), "echo": ("US",)}
_LEFT_TREE = {"LCA", "LEFT", "LAD", "LCX", "LMCA", "LM"}
_RIGHT_TREE = {"RCA", "RIGHT"}
_AP_POSITIONS = {"AP", "PA"}
_LATERAL_POSITIONS = {"LL", "RL", "LAT", "LATERAL", "LLD", "RLD"}
#: PositionerPrimaryAngle (deg) of an AP view (|angle| at most) and of a lateral one (|angle| within).
AP_ANGLE_DEG = 30.0
LATERAL_ANGLE_RANGE_DEG = (60.0, 120.0)


@dataclass
class _Image:
    path: Path
    modality: str
    study: str
    patient: str
    order: tuple
    labels: str  # SeriesDescription, ProtocolName, ImageComments (upper case)
    viewPosition: str = ""
    primaryAngle: Optional[float] = None
    laterality: str = ""
    frames: int = 1


def _text(dataset, keyword: str) -> str:
    value = dataset.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return " ".join(str(item) for item in value).strip()
    return str(value).strip()


def _float(dataset, keyword: str) -> Optional[float]:
    try:
        return float(_text(dataset, keyword).split()[0])
    except (ValueError, IndexError):
        return None


def _side(dataset, path: Path) -> str:
    """'left', 'right' or '' (unknown) by the femur run's own rule (:func:`~.dicomvalues.sideOf`), so a pair grouped
    here is a pair the run accepts; a laterality code the run refuses is left to its message."""
    from .dicomvalues import sideOf

    try:
        return sideOf(lambda keyword: _text(dataset, keyword), str(path))[0] or ""
    except ValueError:
        return ""


def _readHeader(path: Path) -> Optional[_Image]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError, AttributeError):
        return None
    try:
        when = (_text(dataset, "AcquisitionDateTime") or _text(dataset, "AcquisitionDate") + _text(
            dataset, "AcquisitionTime") or _text(dataset, "ContentDate") + _text(dataset, "ContentTime")
            or _text(dataset, "SeriesDate") + _text(dataset, "SeriesTime"))
        series, instance = _float(dataset, "SeriesNumber"), _float(dataset, "InstanceNumber")
        order = (when, series if series is not None else float("inf"),
                 instance if instance is not None else float("inf"), str(path))
        frames = _float(dataset, "NumberOfFrames")
        return _Image(path, _text(dataset, "Modality").upper(), _text(dataset, "StudyInstanceUID"),
                      _text(dataset, "PatientID"), order,
                      " ".join(_text(dataset, keyword) for keyword in ("SeriesDescription", "ProtocolName",
                                                                       "ImageComments")).upper(),
                      _text(dataset, "ViewPosition").upper(), _float(dataset, "PositionerPrimaryAngle"),
                      _side(dataset, path),
                      int(frames) if frames else 1)
    except (ValueError, TypeError, AttributeError, KeyError):  # a malformed value: the file is not used
        return None


def _words(labels: str) -> set:
    return set(re.findall(r"[A-Z0-9]+", labels))


def _treeOf(labels: str) -> Optional[str]:
    """"left" / "right" from a run's labels (LCA, LAD, LCX, LM(CA), left / RCA, right); None when none or both.
    "left/right anterior oblique" names the C-arm angle, not the tree, and is not read."""
    words = _words(re.sub(r"(LEFT|RIGHT)\s+ANTERIOR\s+OBLIQUE", " ", labels))
    left, right = bool(words & _LEFT_TREE), bool(words & _RIGHT_TREE)
    return "left" if left and not right else "right" if right and not left else None


def _femurView(image: _Image) -> Optional[str]:
    if image.viewPosition in _AP_POSITIONS:
        return "ap"
    if image.viewPosition in _LATERAL_POSITIONS:
        return "lat"
    if image.primaryAngle is not None:
        if abs(image.primaryAngle) <= AP_ANGLE_DEG or abs(image.primaryAngle) >= 180.0 - AP_ANGLE_DEG:
            return "ap"  # AP or PA
        if LATERAL_ANGLE_RANGE_DEG[0] <= abs(image.primaryAngle) <= LATERAL_ANGLE_RANGE_DEG[1]:
            return "lat"
    return None


def _echoLabels(image: _Image) -> tuple[Optional[str], str]:
    """(view, phase) of an echo image from its labels: one of EchoRecon's views, and ED / ES (ED when none)."""
    from EchoReconLib.conventions import VIEWS

    words = _words(image.labels)
    views = [view for view in VIEWS if view in words]
    phase = "ES" if words & {"ES", "SYSTOLE", "SYSTOLIC"} else "ED"
    return (views[0] if len(views) == 1 else None), phase


def _quote(paths) -> str:
    return shlex.join(str(path) for path in paths)


def discoverCases(folder: str | Path, exclude: Optional[Path] = None) -> tuple[list[BatchCase], list[str]]:
    """(cases, notes) found in the DICOM files of ``folder`` and its subfolders (headers only).

    - angio: XA and RF files of one study (StudyInstanceUID), grouped by the tree their SeriesDescription, ProtocolName
      or ImageComments names (LCA, LAD, LCX, LM, LMCA or "left"; RCA or "right"), each group in acquisition order
      (AcquisitionDateTime, then SeriesNumber, InstanceNumber, file name) taken two by two. A pair without a tree
      fails asking for a manifest row with ``--tree``; a run left without a partner fails too.
    - femur: DX and CR files of one study and laterality, AP (ViewPosition AP/PA, else |PositionerPrimaryAngle| <=
      30 deg or >= 150 deg, a PA) and lateral (ViewPosition LL/RL/LAT/LATERAL, else 60-120 deg), paired in
      acquisition order when the counts agree; else the group fails.
    - echo: US files of one study, one case, each view by the label A4C, A2C, A3C, SAXB, SAXM or SAXA in those
      texts, ES when they say ES / systole, else ED; a study of cines (several frames each, one per view) is run
      with ``--cine`` (the run finds end-diastole and end-systole); cines and single images together fail (their
      frames are chosen in a manifest, ``A4C=file.dcm@12``).
    Other modalities (SEG, SR, CT, ...) are not used. ``exclude`` (the batch's output folder) is not searched.

    :raises ValueError: no DICOM file of those modalities (images with JSON sidecars need a manifest).
    """
    folder = Path(os.path.abspath(folder))  # absolute paths: cases.csv is a manifest wherever it lies
    exclude = Path(os.path.abspath(exclude)) if exclude is not None else None
    images, others, unused = [], 0, {}
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts) or not path.is_file():
            continue
        if exclude is not None and Path(os.path.abspath(path)).is_relative_to(exclude):
            continue
        from .xrayio import isDicom

        image = _readHeader(path) if isDicom(path) else None
        if image is None:
            others += path.suffix.lower() not in (".json", ".csv", ".txt", ".md")
            continue
        command = next((name for name, modalities in FOLDER_MODALITIES.items() if image.modality in modalities), None)
        if command is None or not image.study:
            unused[image.modality or "no modality"] = unused.get(image.modality or "no modality", 0) + 1
            continue
        images.append((command, image))
    if not images:
        raise ValueError(f"{folder}: no DICOM XA/RF, DX/CR or US files found"
                         f"{f' ({others} other files)' if others else ''}; for images with JSON sidecars (.png, "
                         ".nrrd, ...) give a CSV manifest instead (case,module,arguments: see recon2d3d batch --help)")
    notes = [f"{count} DICOM file(s) of modality {modality} not used" for modality, count in sorted(unused.items())]
    if others:
        notes.append(f"{others} non-DICOM file(s) not used (masks, references and images with JSON sidecars are "
                     "given in a manifest)")
    cases: list[BatchCase] = []
    byStudy: dict[tuple, list[_Image]] = {}
    for command, image in images:
        byStudy.setdefault((command, image.study), []).append(image)
    studies = sorted(byStudy, key=lambda key: (min(image.order for image in byStudy[key]), key))
    for command, study in studies:
        group = sorted(byStudy[(command, study)], key=lambda image: image.order)
        patient = re.sub(r"[^A-Za-z0-9._+-]", "_", group[0].patient).lstrip("._+-")[:60] or f"study{study[-8:]}"
        make = {"angio": _angioCases, "femur": _femurCases, "echo": _echoCases}[command]
        for arguments, problem in make(group, study):
            cases.append(BatchCase(patient, command, arguments, problem=problem, where=f"study {study}"))
    _nameCases(cases)
    return cases, notes


def _nameCases(cases: list[BatchCase]) -> None:
    """PATIENT-COMMAND, numbered PATIENT-COMMAND1, 2, ... when a patient has several cases of a module."""
    counts: dict[tuple, int] = {}
    for case in cases:
        counts[(case.name, case.command)] = counts.get((case.name, case.command), 0) + 1
    numbers: dict[tuple, int] = {}
    for case in cases:
        key = (case.name, case.command)
        numbers[key] = numbers.get(key, 0) + 1
        case.name = f"{case.name}-{case.command}{numbers[key] if counts[key] > 1 else ''}"
    checkCaseNames(cases)


def _angioCases(group: list[_Image], study: str):
    byTree: dict[Optional[str], list[_Image]] = {}
    for image in group:
        byTree.setdefault(_treeOf(image.labels), []).append(image)
    for tree, runs in sorted(byTree.items(), key=lambda item: str(item[0])):
        for first in range(0, len(runs), 2):
            pair = runs[first:first + 2]
            arguments = _quote(image.path for image in pair) + (f" --tree {tree}" if tree else "")
            if len(pair) < 2:
                yield arguments, (f"error: {pair[0].path}: the only {tree or 'unlabelled'} XA/RF run of study "
                                  f"{study} left without a second view; pairs are made of two runs of one study "
                                  "(give the case in a manifest)")
            elif tree is None:
                yield arguments, (f"error: {', '.join(str(image.path) for image in pair)}: no coronary tree named in "
                                  "SeriesDescription, ProtocolName or ImageComments (LCA/RCA, left/right); --tree has "
                                  "no default: give the case in a manifest with --tree left or right (cases.csv in "
                                  "--out lists the cases found)")
            else:
                yield arguments, ""


def _femurCases(group: list[_Image], study: str):
    byLaterality: dict[str, dict] = {}
    for image in group:
        view = _femurView(image)
        if view is None:
            yield _quote([image.path]), (f"error: {image.path}: neither AP nor lateral (ViewPosition "
                                         f"{image.viewPosition or 'absent'}, PositionerPrimaryAngle "
                                         f"{image.primaryAngle if image.primaryAngle is not None else 'absent'}); "
                                         "give the case in a manifest")
            continue
        byLaterality.setdefault(image.laterality, {"ap": [], "lat": []})[view].append(image)
    for laterality, views in sorted(byLaterality.items()):
        if len(views["ap"]) != len(views["lat"]):
            files = views["ap"] + views["lat"]
            yield _quote(image.path for image in files), (
                f"error: study {study}{f' ({laterality})' if laterality else ''}: {len(views['ap'])} AP and "
                f"{len(views['lat'])} lateral radiograph(s); AP + lateral pairs are made when the counts agree: "
                "give the cases in a manifest")
            continue
        for ap, lat in zip(views["ap"], views["lat"]):
            yield _quote([ap.path, lat.path]), ""


def _echoCases(group: list[_Image], study: str):
    phases: dict[str, dict] = {"ED": {}, "ES": {}}
    cines: dict[str, Path] = {}
    problems = []
    for image in group:
        view, phase = _echoLabels(image)
        if view is None:
            problems.append(f"{image.path}: no single view label (A4C, A2C, A3C, SAXB, SAXM, SAXA) in "
                            "SeriesDescription, ProtocolName or ImageComments")
        elif view in (cines if image.frames > 1 else phases[phase]):
            problems.append(f"{image.path}: a second {view} {'cine' if image.frames > 1 else phase + ' view'}")
        elif image.frames > 1:
            cines[view] = image.path
        else:
            phases[phase][view] = image.path
    if cines and (phases["ED"] or phases["ES"]):
        problems.append(f"cines ({', '.join(cines)}) and single images together; the cines' frames are chosen in "
                        "a manifest (VIEW=FILE@FRAME)")
    if cines and not problems:
        yield "--cine " + " ".join(shlex.quote(f"{view}={path}") for view, path in cines.items()), ""
        return
    arguments = " ".join(f"--{phase.lower()} " + " ".join(shlex.quote(f"{view}={path}")
                                                          for view, path in views.items())
                         for phase, views in phases.items() if views)
    problem = (f"error: study {study}: {'; '.join(problems)}; give the case in a manifest" if problems else
               "" if phases["ED"] else f"error: study {study}: no end-diastolic view")
    yield arguments, problem

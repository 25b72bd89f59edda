"""What every finished case gets besides its module's own outputs, written into the same (staging) folder: the
picture to check it at a glance (``summary.png``) and, when its images are DICOM, a DICOM Segmentation and a DICOM
Structured Report that reference the input study.

One function, :func:`finishCase`, used by the single-case command, the demo and the batch command alike. A module
provides its picture with ``<Module>Lib/summary.py`` (``writeSummary(case, directory, readouts) -> Path``) and its DICOM
codes with ``<Module>Lib/dicomcodes.py``; the DICOM files themselves are written by :mod:`ReconCoreLib.dicomoutputs`.

Console example::

    from ReconCoreLib.modules import moduleEntry
    from ReconCoreLib.postrun import finishCase
    entry = moduleEntry("AngioRecon")
    case = entry.sampleCases()["AngioLeft"]
    readouts = entry.runCase(case, Path("/tmp/angio-left"), "cpu", None)
    print(finishCase(entry, case, Path("/tmp/angio-left"), readouts))   # ['summary.png', 'seg.dcm', 'sr.dcm']
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Optional


def _moduleLibrary(moduleName: str, name: str):
    """``<moduleName>Lib.<name>``, or None when the module does not provide it."""
    try:
        return importlib.import_module(f"{moduleName}Lib.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"{moduleName}Lib.{name}":
            return None
        raise


def allDicom(paths) -> bool:
    """True when every one of ``paths`` is a DICOM file."""
    from .xrayio import isDicom

    paths = [Path(path) for path in paths]
    return bool(paths) and all(isDicom(path) for path in paths)


def finishCase(entry, case, directory: Path, readouts, dicomOut: Optional[bool] = None) -> list[str]:
    """Write ``summary.png`` and, when asked (``dicomOut`` True) or by default when all input images are DICOM
    (``dicomOut`` None), the DICOM SEG and SR of a finished case into ``directory``; returns the names written.

    :raises ValueError: ``dicomOut`` True but the inputs are not DICOM (nothing to reference).
    """
    directory = Path(directory)
    written = []
    summary = _moduleLibrary(entry.moduleName, "summary")
    if summary is not None:
        written.append(Path(summary.writeSummary(case, directory, readouts)).name)
    images = entry.inputImages(case)
    dicomInputs = allDicom(images.values())
    if dicomOut and not dicomInputs:
        raise ValueError("--dicom-out needs DICOM input images: a DICOM SEG and SR reference the images' study "
                         f"({', '.join(str(path) for path in images.values() if not allDicom([path]))} "
                         "are not DICOM)")
    if dicomOut or (dicomOut is None and dicomInputs):
        try:
            dicomoutputs = importlib.import_module("ReconCoreLib.dicomoutputs")
        except ModuleNotFoundError as error:
            if error.name not in ("ReconCoreLib.dicomoutputs", "highdicom"):
                raise
            if dicomOut:
                raise ValueError(f"--dicom-out needs highdicom ({error.name} is missing); pip install highdicom") \
                    from None
            readouts.warn("no DICOM SEG or SR written: highdicom is not installed")
        else:
            try:
                written += [Path(path).name for path in dicomoutputs.writeDicomOutputs(entry, case, directory,
                                                                                       readouts)]
            except ValueError as error:  # asked for: a bad input; by default: the result stands without them
                if dicomOut:
                    raise
                from .conventions import oneLine

                readouts.warn(f"no DICOM SEG or SR written: {oneLine(error)}")
    if (directory / "readouts.json").is_file():
        readouts.writeJson(directory / "readouts.json")  # with what was added here (warnings)
    return written

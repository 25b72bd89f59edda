"""EchoRecon's entry for the command line (``recon2d3d echo``) and its sample cases; light to import.

Console example::

    from EchoReconLib.entry import ENTRY
    case = ENTRY.sampleCases()["EchoNormal"]
    print(ENTRY.runCase(case, Path("out/echo-normal"), "cpu", None).summary())
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ReconCoreLib.modules import ModuleEntry

from .conventions import VIEWS
from .samples import SAMPLE_CINES, SAMPLE_PATIENTS, cineFiles, sampleFiles


@dataclass(frozen=True)
class EchoCase:
    """One reconstruction's inputs: {view: file} at end-diastole and (optionally) end-systole, and the frame
    (zero-based) of each view that is a cine."""

    endDiastole: dict
    endSystole: Optional[dict] = None
    endDiastoleFrames: dict = field(default_factory=dict)
    endSystoleFrames: dict = field(default_factory=dict)
    #: the files are cines whose end-diastolic and end-systolic frames are found by the run
    #: (:mod:`~.cinephases`; the frames chosen are in the readouts)
    autoFrames: bool = False


def viewAssignments(values: Optional[list[str]], option: str) -> tuple[dict[str, Path], dict[str, int]]:
    """({view: file}, {view: frame}) of ``VIEW=FILE[@FRAME]`` items, refusing unknown or repeated views and missing
    files (``ValueError`` naming the option)."""
    views: dict[str, Path] = {}
    frames: dict[str, int] = {}
    for item in values or []:
        name, separator, path = item.partition("=")
        name = name.strip().upper()
        if not separator or not path:
            raise ValueError(f"{option}: expected VIEW=FILE, got {item!r}")
        if name not in VIEWS:
            raise ValueError(f"{option}: unknown view {name!r} (views: {', '.join(VIEWS)})")
        if name in views:
            raise ValueError(f"{option}: view {name} given twice")
        stem, at, frame = path.rpartition("@")
        if at and frame.isdigit() and not Path(path).is_file():
            path = stem
            frames[name] = int(frame)
        if not Path(path).is_file():
            raise ValueError(f"{option}: {name}: {path}: no such file")
        views[name] = Path(path)
    return views, frames


def addArguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ed", nargs="+", metavar="VIEW=FILE[@FRAME]",
                        help=f"end-diastolic views, VIEW one of {', '.join(VIEWS)}: A4C and A2C, and any of the "
                        "others the study has (fewer views widen the interval of the volumes and EF)")
    parser.add_argument("--es", nargs="+", metavar="VIEW=FILE[@FRAME]",
                        help="end-systolic views (gives ESV and EF); @FRAME picks the frame (0-based) of a cine")
    parser.add_argument("--cine", nargs="+", metavar="VIEW=FILE",
                        help="one cine per view instead of --ed/--es: end-diastole and end-systole are the frames "
                        "where the segmented LV cavity is largest and smallest")


def caseFromArguments(args: argparse.Namespace) -> EchoCase:
    """The case of ``recon2d3d echo``; ``ValueError`` naming a bad view assignment or a missing file."""
    if getattr(args, "cine", None):
        if args.ed or args.es:
            raise ValueError("--cine: give one cine per view, or the frames with --ed/--es, not both")
        cines, frames = viewAssignments(args.cine, "--cine")
        if frames:
            raise ValueError(f"--cine: the frames are found in the cine; drop @FRAME ({', '.join(frames)})")
        return EchoCase(cines, cines, autoFrames=True)
    endDiastole, endDiastoleFrames = viewAssignments(args.ed, "--ed")
    endSystole, endSystoleFrames = viewAssignments(args.es, "--es")
    if not endDiastole:
        raise ValueError("--ed: no end-diastolic views given (or give --cine)")
    return EchoCase(endDiastole, endSystole or None, endDiastoleFrames, endSystoleFrames)


def runCase(case: EchoCase, directory: Path, device: str = "auto", progress=None):
    """Reconstruct one case and write every output into ``directory`` (created when missing); returns the
    readouts."""
    from .pipeline import runCase as run

    Path(directory).mkdir(parents=True, exist_ok=True)
    return run(case, Path(directory), device, progress)


def sampleCases() -> dict[str, EchoCase]:
    """The bundled sample patients, both phases, then the sample cine cases (one DICOM cine per view, as
    ``--cine``: the run finds their end-diastolic and end-systolic frames)."""
    cases = {patient: EchoCase(sampleFiles(patient)["ED"], sampleFiles(patient)["ES"]) for patient in SAMPLE_PATIENTS}
    cases.update({case: EchoCase(cineFiles(case), cineFiles(case), autoFrames=True) for case in SAMPLE_CINES})
    return cases


def inputImages(case: EchoCase) -> dict[str, Path]:
    """The images the case reads, by role ("ED A4C", ..., "ES SAXA")."""
    images = {f"ED {view}": path for view, path in case.endDiastole.items()}
    images.update({f"ES {view}": path for view, path in (case.endSystole or {}).items()})
    return images


ENTRY = ModuleEntry(moduleName="EchoRecon", command="echo",
                    help="heart chambers, volumes and EF from A4C, A2C and up to four more echo views",
                    addArguments=addArguments,
                    caseFromArguments=caseFromArguments, runCase=runCase, sampleCases=sampleCases,
                    inputImages=inputImages)

"""FemurRegistration's entry for the command line (``recon2d3d femur``) and its sample cases; light to import.

Console example::

    from FemurRegistrationLib.entry import ENTRY, FemurCase
    case = FemurCase(Path("hip_ap.dcm"), Path("hip_lat.dcm"), side="right", refine=True)
    print(ENTRY.runCase(case, Path("out/hip1"), "cpu", None).summary())
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ReconCoreLib.modules import ModuleEntry, existingFile

from .conventions import SIDES
from .samples import SAMPLES, sampleFiles


@dataclass(frozen=True)
class FemurCase:
    """One registration's inputs: the AP and lateral radiographs (DICOM DX/CR/RF, or an image with a JSON geometry
    sidecar), optional femur masks (else proposed) and reference segmentation, the side (None: from the files'
    DICOM laterality, else from the femur's shape in the images) and whether to refine."""

    ap: Path
    lat: Path
    apMask: Optional[Path] = None
    latMask: Optional[Path] = None
    reference: Optional[Path] = None
    side: Optional[str] = None
    refine: bool = False


def addArguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ap", help="AP radiograph: DICOM DX/CR/RF, or image + JSON sidecar")
    parser.add_argument("lat", help="lateral radiograph")
    parser.add_argument("--ap-mask", help="femur mask of the AP view")
    parser.add_argument("--lat-mask", help="femur mask of the lateral view")
    parser.add_argument("--reference", help="reference femur segmentation (.seg.nrrd / .nrrd) for Dice, ASSD, HD95")
    parser.add_argument("--side", choices=SIDES,
                        help="which femur (default: the files' DICOM ImageLaterality / Laterality, else a side named "
                             "in BodyPartExamined / SeriesDescription, else the femur's shape in the AP view; when "
                             "that is not clear, e.g. both hips in view, the run stops and asks)")
    parser.add_argument("--refine", action="store_true",
                        help="test-time refinement of the deformation against the radiographs (slower)")


def caseFromArguments(args: argparse.Namespace) -> FemurCase:
    """The case of ``recon2d3d femur``; ``ValueError`` naming a missing file."""
    return FemurCase(existingFile(args.ap), existingFile(args.lat), existingFile(args.ap_mask, "--ap-mask"),
                     existingFile(args.lat_mask, "--lat-mask"), existingFile(args.reference, "--reference"),
                     args.side, bool(args.refine))


def runCase(case: FemurCase, directory: Path, device: str = "auto", progress=None):
    """Register one case and write every output into ``directory`` (created when missing); returns the
    readouts."""
    from .pipeline import runCase as run

    Path(directory).mkdir(parents=True, exist_ok=True)
    return run(case, Path(directory), device, progress)


def sampleCases() -> dict[str, FemurCase]:
    """The bundled sample cases with their true masks and reference segmentation."""
    cases = {}
    for name in SAMPLES:
        files = sampleFiles(name)
        cases[name] = FemurCase(files["ap"], files["lat"], files["apMask"], files["latMask"], files["reference"])
    return cases


def inputImages(case: FemurCase) -> dict[str, Path]:
    """The two radiographs the case reads, by role."""
    return {"ap": case.ap, "lat": case.lat}


ENTRY = ModuleEntry(moduleName="FemurRegistration", command="femur",
                    help="femur atlas registered to AP + lateral radiographs", addArguments=addArguments,
                    caseFromArguments=caseFromArguments, runCase=runCase, sampleCases=sampleCases,
                    inputImages=inputImages)

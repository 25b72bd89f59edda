"""AngioRecon's entry for the command line (``recon2d3d angio``) and its sample cases; light to import.

Console example::

    from AngioReconLib.entry import AngioCase, ENTRY
    case = AngioCase(Path("rao30cau25.dcm"), Path("lao45cra25.dcm"), tree="left")
    print(ENTRY.runCase(case, Path("out/case1"), "cpu", None).summary())
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ReconCoreLib.modules import ModuleEntry, existingFile

from .conventions import TREES
from .samples import SAMPLES, sampleFiles


@dataclass(frozen=True)
class AngioCase:
    """One reconstruction's inputs: two views (DICOM XA/RF, or an image with a JSON geometry sidecar), the
    injected tree ("left" or "right": no default, it decides the result), optional vessel masks (instead of the
    built-in vesselness) and frames of multi-frame views (None: the frame with the strongest vessel contrast)."""

    view1: Path
    view2: Path
    tree: str
    mask1: Optional[Path] = None
    mask2: Optional[Path] = None
    frame1: Optional[int] = None
    frame2: Optional[int] = None


def addArguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("view1", help="first view: DICOM XA, or .nrrd/.png with a JSON geometry sidecar")
    parser.add_argument("view2", help="second view")
    parser.add_argument("--tree", choices=TREES, help="injected coronary tree (required: left or right)")
    parser.add_argument("--mask1", help="vessel mask of view 1 (skips vessel enhancement)")
    parser.add_argument("--mask2", help="vessel mask of view 2")
    parser.add_argument("--frame1", type=int, help="frame of a multi-frame view 1 (default: best contrast)")
    parser.add_argument("--frame2", type=int, help="frame of a multi-frame view 2")


def caseFromArguments(args: argparse.Namespace) -> AngioCase:
    """The case of ``recon2d3d angio``; ``ValueError`` naming a missing file, the same file given as both views,
    or a missing ``--tree`` (the network reconstructs the tree it is told, so it is never assumed)."""
    view1, view2 = existingFile(args.view1), existingFile(args.view2)
    mask1, mask2 = existingFile(args.mask1, "--mask1"), existingFile(args.mask2, "--mask2")
    if view1.resolve() == view2.resolve():
        raise ValueError(f"view1 and view2 are the same file ({view1}); give two views at different C-arm angles")
    if args.tree is None:
        raise ValueError("--tree is required: which coronary was injected, left or right")
    return AngioCase(view1, view2, args.tree, mask1, mask2, args.frame1, args.frame2)


def runCase(case: AngioCase, directory: Path, device: str = "auto", progress=None):
    """Reconstruct one case and write every output into ``directory`` (created when missing); returns the
    readouts."""
    from .pipeline import runCase as run

    Path(directory).mkdir(parents=True, exist_ok=True)
    return run(case, Path(directory), device, progress)


def sampleCases() -> dict[str, AngioCase]:
    """The bundled sample cases, from their raw angiograms (built-in vesselness, default frames)."""
    return {name: AngioCase(sampleFiles(name)["view1"], sampleFiles(name)["view2"], tree)
            for name, tree in SAMPLES.items()}


def inputImages(case: AngioCase) -> dict[str, Path]:
    """The two views the case reads, by role."""
    return {"view1": case.view1, "view2": case.view2}


ENTRY = ModuleEntry(moduleName="AngioRecon", command="angio", help="coronary tree from two angiograms",
                    addArguments=addArguments, caseFromArguments=caseFromArguments, runCase=runCase,
                    sampleCases=sampleCases, inputImages=inputImages)

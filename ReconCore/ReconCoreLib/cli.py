"""``recon2d3d``: the Recon2Dto3D command line (batch use without the Slicer GUI).

Subcommands ``angio``, ``femur`` and ``echo`` run one module on one case; ``demo`` runs every module that
has a bundled model on its bundled sample cases. Exit status: 0 success, 2 bad input (one-line error),
3 the module has no trained model bundled yet, 4 results could not be written, 130 cancelled. Results are written to a staging folder
and moved into ``--out`` only when complete, so a failure never leaves half a result behind.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from pathlib import Path

from . import __version__

#: subcommand -> Slicer module name. A module's library provides ``<Module>Lib.pipeline`` with
#: ``runCommandLine(args, outputDirectory, device, progress) -> Readouts`` and
#: ``runDemo(outputDirectory, device, progress) -> dict[case name, Readouts]`` once its model is bundled.
MODULES = {"angio": "AngioRecon", "femur": "FemurRegistration", "echo": "EchoRecon"}
ECHO_VIEWS = ("A4C", "A2C", "A3C", "SAXB", "SAXM", "SAXA")

EXIT_BAD_INPUT = 2
EXIT_NO_MODEL = 3
EXIT_WRITE_FAILED = 4
EXIT_CANCELLED = 130


class ModelNotBundled(Exception):
    """The module has no trained model yet."""


class ProgressBar:
    """``progressCallback(fraction, message)`` drawn with tqdm on stderr (silent with ``--quiet``)."""

    def __init__(self, quiet: bool = False, description: str = ""):
        self.quiet = quiet
        self.description = description
        self._bar = None

    def __call__(self, fraction: float, message: str = "") -> None:
        if self.quiet:
            return
        if self._bar is None:
            from tqdm import tqdm

            # disable=None: no bar when stderr is not a terminal (logs, CI), so output stays readable there
            self._bar = tqdm(total=100, desc=self.description, file=sys.stderr, leave=False, disable=None,
                             bar_format="{desc} {bar} {percentage:3.0f}% {postfix}")
        self._bar.n = int(round(100 * min(max(fraction, 0.0), 1.0)))
        self._bar.set_postfix_str(message, refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _viewAssignments(values: list[str] | None, option: str, frames: dict[str, int] | None = None) -> dict[str, Path]:
    """Parse ``VIEW=FILE`` pairs of the echo command, refusing unknown or repeated views.

    ``VIEW=FILE@FRAME`` picks a frame (zero-based) of a cine; it goes into ``frames`` (view -> frame) when given.
    """
    views: dict[str, Path] = {}
    for item in values or []:
        name, separator, path = item.partition("=")
        name = name.strip().upper()
        if not separator or not path:
            raise ValueError(f"{option}: expected VIEW=FILE, got {item!r}")
        if name not in ECHO_VIEWS:
            raise ValueError(f"{option}: unknown view {name!r} (views: {', '.join(ECHO_VIEWS)})")
        if name in views:
            raise ValueError(f"{option}: view {name} given twice")
        stem, at, frame = path.rpartition("@")
        if at and frame.isdigit() and not Path(path).is_file():
            path = stem
            if frames is not None:
                frames[name] = int(frame)
        if not Path(path).is_file():
            raise ValueError(f"{option}: {name}: {path}: no such file")
        views[name] = Path(path)
    return views


def _checkInputs(args) -> None:
    """Input checks every module needs before its model runs: files exist and geometry is readable."""
    from .xrayio import readXrayImage

    if args.command == "angio":
        readXrayImage(args.view1, frame=args.frame1)
        readXrayImage(args.view2, frame=args.frame2)
    elif args.command == "femur":
        readXrayImage(args.ap)
        readXrayImage(args.lat)
    elif args.command == "echo":
        args.edFrames, args.esFrames = {}, {}
        args.edViews = _viewAssignments(args.ed, "--ed", args.edFrames)
        args.esViews = _viewAssignments(args.es, "--es", args.esFrames)
        if not args.edViews:
            raise ValueError("--ed: no end-diastolic views given")
    for option in ("mask1", "mask2", "ap_mask", "lat_mask", "reference"):
        value = getattr(args, option, None)
        if value is not None and not Path(value).is_file():
            raise ValueError(f"--{option.replace('_', '-')}: {value}: no such file")


def _pipeline(moduleName: str):
    from .models import findBundledModel, notBundledMessage

    if findBundledModel(moduleName) is None:
        raise ModelNotBundled(notBundledMessage(moduleName))
    return importlib.import_module(f"{moduleName}Lib.pipeline")


def _runModule(args) -> int:
    from .models import resolveDevice
    from .runtime import atomicOutputDirectory

    _checkInputs(args)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"--out {args.out}: exists and is not a folder")
    device = resolveDevice(args.device)
    pipeline = _pipeline(MODULES[args.command])
    progress = ProgressBar(args.quiet, MODULES[args.command])
    try:
        with atomicOutputDirectory(args.out) as staging:
            readouts = pipeline.runCommandLine(args, staging, device, progress)
    finally:
        progress.close()
    if not args.quiet:
        print(readouts.summary())
        print(f"results written to {args.out}")
    return 0


def _runDemo(args) -> int:
    from .models import resolveDevice
    from .runtime import atomicOutputDirectory

    device = resolveDevice(args.device)
    print(f"Recon2Dto3D {__version__} demo on {device}")
    for command, moduleName in MODULES.items():
        try:
            pipeline = _pipeline(moduleName)
        except ModelNotBundled as message:
            print(f"- {message}")
            continue
        started = time.perf_counter()
        progress = ProgressBar(args.quiet, moduleName)
        try:
            with atomicOutputDirectory(Path(args.out) / command) as staging:
                results = pipeline.runDemo(staging, device, progress)
        finally:
            progress.close()
        print(f"- {moduleName}: {len(results)} sample case(s) in {time.perf_counter() - started:.1f} s, "
              f"results in {Path(args.out) / command}")
        for name, readouts in results.items():
            print(f"{name} ({Path(args.out) / command / name}):")
            print(readouts.summary())
    return 0


def buildParser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where the network runs (auto: CUDA when available)")
    common.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    common.add_argument("--verbose", action="store_true", help="log details, including VTK warnings")

    parser = argparse.ArgumentParser(prog="recon2d3d", description="3D anatomy from 2D images (Recon2Dto3D).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    angio = commands.add_parser("angio", parents=[common], help="coronary tree from two angiograms")
    angio.add_argument("view1", help="first view: DICOM XA, or .nrrd/.png with a JSON geometry sidecar")
    angio.add_argument("view2", help="second view")
    angio.add_argument("--out", required=True, help="output folder")
    angio.add_argument("--tree", choices=("left", "right"), default="left", help="injected coronary tree")
    angio.add_argument("--mask1", help="vessel mask of view 1 (skips vessel enhancement)")
    angio.add_argument("--mask2", help="vessel mask of view 2")
    angio.add_argument("--frame1", type=int, help="frame of a multi-frame view 1 (default: best contrast)")
    angio.add_argument("--frame2", type=int, help="frame of a multi-frame view 2")

    femur = commands.add_parser("femur", parents=[common], help="femur atlas registered to AP + lateral radiographs")
    femur.add_argument("ap", help="AP radiograph: DICOM DX/CR/XA, or image + JSON sidecar")
    femur.add_argument("lat", help="lateral radiograph")
    femur.add_argument("--out", required=True, help="output folder")
    femur.add_argument("--ap-mask", help="femur mask of the AP view")
    femur.add_argument("--lat-mask", help="femur mask of the lateral view")
    femur.add_argument("--reference", help="reference femur segmentation (.seg.nrrd / .nrrd) for Dice, ASSD, HD95")
    femur.add_argument("--side", choices=("left", "right"),
                       help="which femur (default: the files' DICOM ImageLaterality / Laterality, else right)")
    femur.add_argument("--refine", action="store_true",
                       help="test-time refinement of the deformation against the radiographs (slower)")

    echo = commands.add_parser("echo", parents=[common], help="heart chambers, volumes and EF from six echo views")
    echo.add_argument("--ed", nargs="+", metavar="VIEW=FILE[@FRAME]", required=True,
                      help=f"end-diastolic views, VIEW one of {', '.join(ECHO_VIEWS)}")
    echo.add_argument("--es", nargs="+", metavar="VIEW=FILE[@FRAME]",
                      help="end-systolic views (gives ESV and EF); @FRAME picks the frame (0-based) of a cine")
    echo.add_argument("--out", required=True, help="output folder")

    demo = commands.add_parser("demo", parents=[common], help="run every module with a model on its sample data")
    demo.add_argument("--out", default="recon2d3d-demo", help="output folder (one subfolder per module)")
    return parser


def _quietVtk(verbose: bool) -> None:
    try:
        import vtk
    except ImportError:
        return
    if not verbose:
        vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_ERROR)
        vtk.vtkObject.GlobalWarningDisplayOff()


def main(argv: list[str] | None = None) -> int:
    args = buildParser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    _quietVtk(args.verbose)
    try:
        return _runDemo(args) if args.command == "demo" else _runModule(args)
    except ValueError as error:
        print(f"recon2d3d {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ModelNotBundled as error:
        print(f"recon2d3d {args.command}: {error}", file=sys.stderr)
        return EXIT_NO_MODEL
    except (KeyboardInterrupt, InterruptedError):
        print(f"recon2d3d {args.command}: cancelled; nothing was written", file=sys.stderr)
        return EXIT_CANCELLED
    except OSError as error:
        print(f"recon2d3d {args.command}: error: could not write the results ({error})", file=sys.stderr)
        return EXIT_WRITE_FAILED


if __name__ == "__main__":
    sys.exit(main())

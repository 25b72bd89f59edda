"""``recon2d3d``: the Recon2Dto3D command line (batch use without the Slicer GUI).

Subcommands ``angio``, ``femur`` and ``echo`` run one module on one case; ``demo`` runs every module that
has a bundled model on its bundled sample cases; each module gives its subcommand through its entry
(:mod:`ReconCoreLib.modules`). Exit status: 0 success, 2 bad input (one-line error), 3 the module has no trained
model bundled yet, 4 results could not be written, 5 this Python cannot run the models (torch or MONAI missing, or a
torch too old to load them), 1 an internal error (a bug: ``--verbose`` shows its traceback), 130 interrupted (Ctrl-C,
SIGINT), 143 terminated (SIGTERM, as batch schedulers and ``timeout`` send it). Every failure prints one line on
stderr. Results are written to a staging folder and become ``--out`` only when complete, so a failure never leaves
half a result behind; a second run into the same ``--out`` while one is writing there is refused; a run replaces
an earlier result in ``--out`` whole.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

from . import __version__
from .conventions import DEVICES
from .models import RuntimeUnavailable
from .signals import Terminated, handled, raisePending

EXIT_BAD_INPUT = 2
EXIT_NO_MODEL = 3
EXIT_WRITE_FAILED = 4
EXIT_NO_RUNTIME = 5
EXIT_INTERNAL_ERROR = 1
EXIT_CANCELLED = 130
EXIT_TERMINATED = 143


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


def _requireBundledModel(moduleName: str) -> None:
    from .models import findBundledModel, notBundledMessage

    if findBundledModel(moduleName) is None:
        raise ModelNotBundled(notBundledMessage(moduleName))


def _runModule(args) -> int:
    from .models import requireRuntimePackages, resolveDevice
    from .progress import Progress
    from .storage import atomicOutputDirectory

    from .plausibility import keepingImplausible
    from .postrun import finishCase
    from .storage import checkOutputFolder

    entry = args.entry
    case = entry.caseFromArguments(args)
    try:
        checkOutputFolder(args.out)
    except ValueError as error:
        raise ValueError(f"--out: {error}") from None
    _requireBundledModel(entry.moduleName)
    requireRuntimePackages()
    device = resolveDevice(args.device)
    progress = ProgressBar(args.quiet, entry.moduleName)
    try:
        with atomicOutputDirectory(args.out) as staging, keepingImplausible(args.keep_implausible):
            readouts = entry.runCase(case, staging, device, Progress(progress, raisePending))
            finishCase(entry, case, staging, readouts, args.dicom_out)
    finally:
        progress.close()
    if not args.quiet:
        print(readouts.summary())
        print(f"results written to {args.out}")
    return 0


def _runDemo(args) -> int:
    from .models import findBundledModel, requireRuntimePackages, resolveDevice
    from .modules import moduleEntries
    from .plausibility import keepingImplausible
    from .postrun import finishCase
    from .progress import Progress
    from .storage import atomicOutputDirectory

    if any(findBundledModel(entry.moduleName) is not None for entry in moduleEntries()):
        requireRuntimePackages()  # a module will run
    device = resolveDevice(args.device)
    print(f"Recon2Dto3D {__version__} demo on {device}")
    for entry in moduleEntries():
        try:
            _requireBundledModel(entry.moduleName)
        except ModelNotBundled as message:
            print(f"- {message}")
            continue
        started = time.perf_counter()
        folder = Path(args.out) / entry.command
        progress = ProgressBar(args.quiet, entry.moduleName)
        results = {}
        try:
            with atomicOutputDirectory(folder) as staging, keepingImplausible(args.keep_implausible):
                for name, case in entry.sampleCases().items():
                    (staging / name).mkdir(parents=True, exist_ok=True)
                    results[name] = entry.runCase(case, staging / name, device, Progress(progress, raisePending))
                    finishCase(entry, case, staging / name, results[name], args.dicom_out)
        finally:
            progress.close()
        print(f"- {entry.moduleName}: {len(results)} sample case(s) in {time.perf_counter() - started:.1f} s, "
              f"results in {folder}")
        for name, readouts in results.items():
            print(f"{name} ({folder / name}):")
            print(readouts.summary())
    return 0


def buildParser() -> argparse.ArgumentParser:
    from .modules import moduleEntries

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default="auto", choices=DEVICES,
                        help="where the network runs (auto: CUDA when available)")
    common.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    common.add_argument("--verbose", action="store_true",
                        help="log details, including third-party warnings and the traceback of an internal error")
    common.add_argument("--keep-implausible", action="store_true",
                        help="keep a result that fails a plausibility gate (EF, volumes, sizes) instead of stopping; "
                             "readouts.json then lists it under failed_checks")
    common.add_argument("--dicom-out", action=argparse.BooleanOptionalAction, default=None,
                        help="also write a DICOM Segmentation and Structured Report referencing the input study "
                             "(default: when the input images are DICOM)")

    parser = argparse.ArgumentParser(prog="recon2d3d", description="3D anatomy from 2D images (Recon2Dto3D).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for entry in moduleEntries():
        command = commands.add_parser(entry.command, parents=[common], help=entry.help)
        entry.addArguments(command)
        command.add_argument("--out", required=True, help="output folder")
        command.set_defaults(entry=entry)

    demo = commands.add_parser("demo", parents=[common], help="run every module with a model on its sample data")
    demo.add_argument("--out", default="recon2d3d-demo", help="output folder (one subfolder per module)")
    return parser


def _quietThirdParty(verbose: bool) -> None:
    """Without ``--verbose``, warnings of the packages we call (FutureWarning, DeprecationWarning, ...) and the
    warning streams of VTK and ITK stay off the user's terminal: what matters reaches it as our own messages."""
    if verbose:
        return
    warnings.filterwarnings("ignore")
    try:
        import vtk
    except ImportError:
        pass
    else:
        # VTK's and MRML's own error lines too: a failed read reaches the user as one message of ours, which quotes
        # the storage node's messages (storage.loadNode)
        vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_OFF)
        vtk.vtkObject.GlobalWarningDisplayOff()
    try:
        import SimpleITK as sitk
    except ImportError:
        return
    sitk.ProcessObject.SetGlobalWarningDisplay(False)


def main(argv: list[str] | None = None) -> int:
    command = "recon2d3d"
    try:
        with handled():
            args = buildParser().parse_args(argv)
            command = f"recon2d3d {args.command}"
            return _main(args, command)
    except (KeyboardInterrupt, InterruptedError):
        print(f"{command}: interrupted; nothing was written", file=sys.stderr)
        return EXIT_CANCELLED
    except Terminated:
        print(f"{command}: terminated (SIGTERM); nothing was written", file=sys.stderr)
        return EXIT_TERMINATED


def _main(args, command: str) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    _quietThirdParty(args.verbose)
    try:
        return _runDemo(args) if args.command == "demo" else _runModule(args)
    except ValueError as error:
        print(f"{command}: error: {_oneLine(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ModelNotBundled as error:
        print(f"{command}: {_oneLine(error)}", file=sys.stderr)
        return EXIT_NO_MODEL
    except RuntimeUnavailable as error:
        print(f"{command}: error: {_oneLine(error)}", file=sys.stderr)
        return EXIT_NO_RUNTIME
    except OSError as error:
        print(f"{command}: error: could not write the results ({_oneLine(error)})", file=sys.stderr)
        return EXIT_WRITE_FAILED
    except MemoryError:
        print(f"{command}: error: out of memory; nothing was written", file=sys.stderr)
        return EXIT_WRITE_FAILED
    except Exception as error:  # a bug: one line for the user, the traceback with --verbose
        if args.verbose:
            import traceback

            traceback.print_exc()
        print(f"{command}: internal error ({type(error).__name__}: {_oneLine(error)}); nothing was written. "
              "Please report it with the output of --verbose", file=sys.stderr)
        return EXIT_INTERNAL_ERROR


def _oneLine(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())

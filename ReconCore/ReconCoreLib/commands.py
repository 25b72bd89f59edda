"""What the single-case command (:mod:`ReconCoreLib.cli`) and the batch (:mod:`ReconCoreLib.batch`) share: exit codes,
the one-line message of each failure, the module subcommands' parsers, the progress bar, quiet third-party output and
running one case into its output folder.

Exit status: 0 success, 1 an internal error (a bug: ``--verbose`` shows its traceback), 2 bad input or an implausible
result (one line), 3 the module has no trained model bundled yet, 4 results could not be written, 5 this Python cannot
run the models (torch or MONAI missing, or a torch too old to load them), 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Callable, Optional

from .conventions import DEVICES, oneLine
from .models import RuntimeUnavailable

EXIT_INTERNAL_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_NO_MODEL = 3
EXIT_WRITE_FAILED = 4
EXIT_NO_RUNTIME = 5
EXIT_CANCELLED = 130
EXIT_TERMINATED = 143


class ModelNotBundled(Exception):
    """The module has no trained model yet."""


def failure(error: BaseException) -> tuple[int, str]:
    """(exit status, one-line message without the ``recon2d3d COMMAND: `` prefix) of a failed run."""
    if isinstance(error, ValueError):
        return EXIT_BAD_INPUT, f"error: {oneLine(error)}"
    if isinstance(error, ModelNotBundled):
        return EXIT_NO_MODEL, oneLine(error)
    if isinstance(error, RuntimeUnavailable):
        return EXIT_NO_RUNTIME, f"error: {oneLine(error)}"
    if isinstance(error, OSError):
        return EXIT_WRITE_FAILED, f"error: could not write the results ({oneLine(error)})"
    if isinstance(error, MemoryError):
        return EXIT_WRITE_FAILED, "error: out of memory; nothing was written"
    return EXIT_INTERNAL_ERROR, (f"internal error ({type(error).__name__}: {oneLine(error)}); nothing was written. "
                                 "Please report it with the output of --verbose")


def requireBundledModel(moduleName: str) -> None:
    """:class:`ModelNotBundled` when the module has no model bundled."""
    from .models import findBundledModel, notBundledMessage

    if findBundledModel(moduleName) is None:
        raise ModelNotBundled(notBundledMessage(moduleName))


def commonParser() -> argparse.ArgumentParser:
    """The options every subcommand takes (a parent parser)."""
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
    return common


def addModuleCommands(commands, common: argparse.ArgumentParser) -> dict:
    """Add each module's subcommand (its entry's arguments, ``--out``, the common options) to ``commands`` (an
    ``add_subparsers`` result); returns {subcommand: parser}."""
    from .modules import moduleEntries

    parsers = {}
    for entry in moduleEntries():
        command = commands.add_parser(entry.command, parents=[common], help=entry.help)
        entry.addArguments(command)
        command.add_argument("--out", required=True, help="output folder")
        command.set_defaults(entry=entry)
        parsers[entry.command] = command
    return parsers


def moduleParsers() -> dict:
    """{subcommand: parser} of the module subcommands, exactly as ``recon2d3d`` parses them."""
    parser = argparse.ArgumentParser(prog="recon2d3d")
    return addModuleCommands(parser.add_subparsers(dest="command", required=True), commonParser())


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


def quietThirdParty(verbose: bool) -> None:
    """Without ``--verbose``, warnings of the packages we call (FutureWarning, DeprecationWarning, ...) and the
    warning streams of VTK and ITK stay off the user's terminal: what matters reaches it as our own messages."""
    if verbose:
        return
    warnings.filterwarnings("ignore")
    try:
        from vtkmodules.vtkCommonCore import vtkLogger, vtkObject
    except ImportError:
        pass
    else:
        # VTK's and MRML's own error lines too: a failed read reaches the user as one message of ours, which quotes
        # the storage node's messages (storage.loadNode)
        vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_OFF)
        vtkObject.GlobalWarningDisplayOff()
    try:
        import SimpleITK as sitk
    except ImportError:
        return
    sitk.ProcessObject.SetGlobalWarningDisplay(False)


def runCaseInto(entry, case, folder, device: str, progressCallback: Optional[Callable[[float, str], None]] = None,
                keepImplausible: bool = False, dicomOut: Optional[bool] = None):
    """Run one case of ``entry`` into ``folder`` as the command does, all or nothing: model and runtime checked, the
    module's outputs and the post-run outputs (summary picture, DICOM SEG and SR) written to a staging folder that
    becomes ``folder`` when complete. Signals noted during imports stop it at its next progress report. Returns the
    readouts."""
    from .cpushare import startCase
    from .models import requireRuntimePackages, resolveDevice
    from .plausibility import keepingImplausible
    from .postrun import finishCase
    from .progress import Progress
    from .signals import raisePending
    from .storage import atomicOutputDirectory

    startCase()
    requireBundledModel(entry.moduleName)
    requireRuntimePackages()
    device = resolveDevice(device)
    with atomicOutputDirectory(Path(folder)) as staging, keepingImplausible(keepImplausible):
        readouts = entry.runCase(case, staging, device, Progress(progressCallback, raisePending))
        finishCase(entry, case, staging, readouts, dicomOut)
    return readouts

"""``recon2d3d``: the Recon2Dto3D command line (batch use without the Slicer GUI).

Subcommands ``angio``, ``femur`` and ``echo`` run one module on one case; ``demo`` runs every module that has a
bundled model on its bundled sample cases; ``batch`` runs many cases from a CSV manifest or a folder of DICOM files
(:mod:`ReconCoreLib.batch`); each module gives its subcommand through its entry (:mod:`ReconCoreLib.modules`).

Exit status (:mod:`ReconCoreLib.commands`): 0 success, 1 an internal error (a bug: ``--verbose`` shows its
traceback), 2 bad input or an implausible result (one line), 3 the module has no trained model bundled yet, 4 results
could not be written, 5 this Python cannot run the models (torch or MONAI missing, or a torch too old to load them),
130 interrupted (Ctrl-C, SIGINT), 143 terminated (SIGTERM, as batch schedulers and ``timeout`` send it). Every
failure prints one line on stderr. Results are written to a staging folder and become ``--out`` only when complete,
so a failure never leaves half a result behind; a second run into the same ``--out`` while one is writing there is
refused; a run replaces an earlier result in ``--out`` whole.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from . import __version__
from .commands import (EXIT_CANCELLED, EXIT_TERMINATED, ModelNotBundled, ProgressBar, addModuleCommands,
                       commonParser, failure, quietThirdParty, requireBundledModel, runCaseInto)
from .signals import Terminated, handled


def _runModule(args) -> int:
    entry = args.entry
    case = entry.caseFromArguments(args)
    from .storage import checkOutputFolder  # numpy: not for an argument error

    try:
        checkOutputFolder(args.out)
    except ValueError as error:
        raise ValueError(f"--out: {error}") from None
    quietThirdParty(args.verbose)  # after the arguments are checked: it loads VTK and SimpleITK
    progress = ProgressBar(args.quiet, entry.moduleName)
    try:
        readouts = runCaseInto(entry, case, args.out, args.device, progress, args.keep_implausible, args.dicom_out)
    finally:
        progress.close()
    if not args.quiet:
        print(readouts.summary())
        print(f"results written to {args.out}")
    return 0


def _runDemo(args) -> int:
    """Each module with a model on each of its sample cases, each case run as its single command runs it
    (:func:`~.commands.runCaseInto`) into ``OUT/<subcommand>/<sample>``."""
    from .models import findBundledModel, requireRuntimePackages, resolveDevice
    from .modules import moduleEntries

    if any(findBundledModel(entry.moduleName) is not None for entry in moduleEntries()):
        requireRuntimePackages()  # a module will run
    device = resolveDevice(args.device)
    print(f"Recon2Dto3D {__version__} demo on {device}")
    for entry in moduleEntries():
        try:
            requireBundledModel(entry.moduleName)
        except ModelNotBundled as message:
            print(f"- {message}")
            continue
        started = time.perf_counter()
        folder = Path(args.out) / entry.command
        progress = ProgressBar(args.quiet, entry.moduleName)
        results = {}
        try:
            for name, case in entry.sampleCases().items():
                results[name] = runCaseInto(entry, case, folder / name, device, progress, args.keep_implausible,
                                            args.dicom_out)
        finally:
            progress.close()
        print(f"- {entry.moduleName}: {len(results)} sample case(s) in {time.perf_counter() - started:.1f} s, "
              f"results in {folder}")
        for name, readouts in results.items():
            print(f"{name} ({folder / name}):")
            print(readouts.summary())
    return 0


def buildParser() -> argparse.ArgumentParser:
    common = commonParser()
    parser = argparse.ArgumentParser(prog="recon2d3d", description="3D anatomy from 2D images (Recon2Dto3D).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    addModuleCommands(commands, common)

    demo = commands.add_parser("demo", parents=[common], help="run every module with a model on its sample data")
    demo.add_argument("--out", default="recon2d3d-demo", help="output folder (one subfolder per module)")

    batch = commands.add_parser(
        "batch", parents=[common], help="run many cases: a CSV manifest, or a folder of DICOM files",
        description="Run many cases into OUT/CASE each, with OUT/results.csv (one row per case: status, message, "
                    "seconds, every readout). MANIFEST.csv has the columns case,module,arguments, one row per case "
                    "(e.g. left1,angio,\"view1.dcm view2.dcm --tree left\"; relative paths are read from the "
                    "manifest's folder); the DICOM files of a FOLDER are paired into cases from their headers "
                    "(OUT/cases.csv lists them). Exit status 0 when every case is done, 2 when any failed.")
    batch.add_argument("source", metavar="MANIFEST.csv|FOLDER", help="CSV manifest, or a folder of DICOM files")
    batch.add_argument("--out", required=True, help="output folder (one subfolder per case, results.csv)")
    batch.add_argument("--workers", type=int, default=1, help="processes on this machine (default 1)")
    batch.add_argument("--resume", action="store_true",
                       help="skip the cases results.csv lists as done whose folder holds their result")
    batch.add_argument("--dask-scheduler", metavar="ADDRESS",
                       help="run the cases on a Dask distributed cluster (e.g. tcp://host:8786; needs dask)")
    return parser


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
    try:
        if args.command == "batch":
            from .batch import runBatchCommand

            quietThirdParty(args.verbose)
            return runBatchCommand(args)
        if args.command == "demo":
            quietThirdParty(args.verbose)
            return _runDemo(args)
        return _runModule(args)
    except InterruptedError:  # cancelled (an OSError, but no failure to write): main says so
        raise
    except Exception as error:  # each failure is one line; a bug's traceback comes with --verbose
        status, message = failure(error)
        if status == 1 and args.verbose:
            import traceback

            traceback.print_exc()
        print(f"{command}: {message}", file=sys.stderr)
        return status


def run() -> None:
    """The ``recon2d3d`` console script: :func:`main`, then the process ends as soon as its output is flushed.

    Python's own finalisation tears torch, VTK and MRML down module by module, about 1 s after every result is written
    and the summary printed (0.4 s for torch alone); nothing of ours is left for it: the results were moved into place,
    the scene cache folder removed, a batch's worker processes joined and its Dask client closed."""
    status = main()
    endProcess(status)


def endProcess(status: int) -> None:
    """Flush the log handlers and the standard streams, then end the process with ``status`` (``os._exit``)."""
    import os

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a broken pipe: nothing more can reach it
            pass
    os._exit(status)


if __name__ == "__main__":
    run()

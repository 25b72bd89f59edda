"""``recon2d3d batch``: many cases in one command, from a CSV manifest or found in a folder of DICOM files.

Each case runs exactly as its single-case command (``recon2d3d angio|femur|echo``): its arguments are parsed by that
subcommand's own parser, its case made by the module's entry, run into ``OUT/CASE`` (all or nothing:
:func:`~ReconCoreLib.storage.atomicOutputDirectory`) and finished by :func:`~ReconCoreLib.postrun.finishCase`. A
failed case is a row of ``OUT/results.csv`` with the one-line message the single command prints; the batch goes on.

The manifest (CSV, a header row, one row per case; other columns are ignored, rows whose case starts with ``#`` and
empty rows are skipped)::

    case,module,arguments
    left1,angio,"view1.dcm view2.dcm --tree left"
    hip1,femur,"hip1/ap.dcm hip1/lat.dcm --refine"

``case`` names the case and its folder (letters, digits, ``.``, ``_``, ``-``, ``+``; unique, whatever the letter
case); ``module`` is the subcommand; ``arguments`` the rest of that subcommand's command line, shell-quoted, without
``--out``. Relative paths are read from the manifest's folder. A row may carry ``--device``, ``--keep-implausible``
and ``--dicom-out/--no-dicom-out``; the batch's options hold where a row gives none.

A folder is searched (with its subfolders) for DICOM files, read without their pixels
(:func:`~ReconCoreLib.batchfolders.discoverCases`), and
``OUT/cases.csv`` lists the cases found as a manifest to check or edit.

Console example::

    from ReconCoreLib import batch
    cases = batch.readManifest("cohort/manifest.csv")         # or batch.casesOf("cohort/dicom")[0]
    rows = batch.runBatch(cases, "out/cohort", workers=2)   # rows of out/cohort/results.csv
    print([row["status"] for row in rows])
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from .batchcases import (DISCOVERED_FILE, FIRST_COLUMNS, LAST_COLUMNS, MANIFEST_COLUMNS, RESULTS_FILE, STATUSES,
                         BatchCase, CaseResult, CaseTask, checkBatchFolder, checkCaseNames, parseCaseArguments,
                         prepareTask, readManifest, readResults, resultRow, resumableRow, writeManifest, writeResults)
from .conventions import oneLine

__all__ = ["DISCOVERED_FILE", "FIRST_COLUMNS", "LAST_COLUMNS", "MANIFEST_COLUMNS", "RESULTS_FILE", "STATUSES",
           "BatchCase", "CaseResult", "CaseTask", "checkBatchFolder", "checkCaseNames", "parseCaseArguments",
           "prepareTask", "readManifest", "readResults", "resultRow", "resumableRow", "writeManifest", "writeResults",
           "runTask", "runBatch", "runBatchCommand", "casesOf", "Interrupted", "STOP_TIMEOUT_S"]

#: Seconds the worker processes get to end their running cases after Ctrl-C / SIGTERM before they are killed.
STOP_TIMEOUT_S = 60.0

log = logging.getLogger(__name__)


# -- running one case (in this process, a worker process or a Dask worker) --------------------------------------------


_running = False  # a worker process is running a case (SIGTERM then ends the case, then the worker)
_stopping = False  # a worker process got SIGTERM: it leaves once its running case has removed its staging folder


def failureMessage(error: BaseException) -> str:
    """The one line the single-case command prints for ``error``, without its ``recon2d3d COMMAND: `` prefix."""
    from .commands import failure

    return failure(error)[1]


def runTask(task: CaseTask, progressCallback: Optional[Callable[[float, str], None]] = None) -> CaseResult:
    """Run one prepared case as the single-case command does; every failure becomes a failed :class:`CaseResult`.

    Ctrl-C, SIGTERM and a cancel (``InterruptedError``) are not failures: they go on, and the case's folder keeps
    what it held.
    """
    global _running
    from .commands import runCaseInto
    from .modules import moduleEntry

    started = time.perf_counter()
    _running = True
    try:
        readouts = runCaseInto(moduleEntry(task.moduleName), task.case, task.folder, task.device, progressCallback,
                               task.keepImplausible, task.dicomOut)
        return CaseResult(task.name, "done", "", time.perf_counter() - started, readouts.toDict())
    except InterruptedError:  # cancelled (an OSError, but no failure of the case)
        raise
    except Exception as error:  # noqa: BLE001 - one case's failure is its row, the batch goes on
        import traceback

        return CaseResult(task.name, "failed", failureMessage(error), time.perf_counter() - started,
                          traceback=traceback.format_exc() if task.verbose else "")
    finally:
        _running = False
        if _stopping:  # a worker told to stop: its case has cleaned up; the batch wants no result from it now
            os._exit(143)


def _workerTerminate(signum, frame) -> None:
    """SIGTERM in a worker process: end the running case as the command does (its staging folder is removed), then
    the worker; an idle worker leaves at once."""
    global _stopping
    _stopping = True
    if not _running:
        os._exit(143)
    from .signals import _handler

    _handler(signum, frame)


def _initWorker(threads: int, verbose: bool) -> None:
    """A worker process: Ctrl-C is the parent's to handle (the terminal sends it to every process), SIGTERM ends the
    case; torch gets ``threads`` threads; third-party warnings stay quiet as in the command."""
    from .commands import quietThirdParty

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _workerTerminate)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    quietThirdParty(verbose)
    try:
        import torch
    except ImportError:  # the run will say that torch is missing
        return
    from .cpushare import setThreadCeiling

    torch.set_num_threads(max(1, int(threads)))
    setThreadCeiling(threads)


# -- running a batch -------------------------------------------------------------------------------------------------


class Interrupted(Exception):
    """The batch stopped on Ctrl-C or SIGTERM; ``rows`` are the finished cases' rows (written to results.csv)."""

    def __init__(self, signal: BaseException, rows: list[dict]):
        super().__init__(type(signal).__name__)
        self.signal = signal
        self.rows = rows


class _Bar:
    """The progress bar over cases (tqdm on stderr; none when quiet or stderr is not a terminal)."""

    def __init__(self, total: int, quiet: bool):
        self._bar = None
        if not quiet:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc="batch", unit="case", file=sys.stderr, leave=False, disable=None)

    def note(self, message: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(message[:60], refresh=True)

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def runBatch(cases: list[BatchCase], out: str | Path, workers: int = 1, resume: bool = False,
             scheduler: Optional[str] = None, device: str = "auto", keepImplausible: bool = False,
             dicomOut: Optional[bool] = None, quiet: bool = True, verbose: bool = False,
             writeCases: bool = False) -> list[dict]:
    """Run ``cases`` into ``out`` (``out/CASE`` each, ``out/results.csv`` rewritten as each case ends); returns the
    rows, in the cases' order.

    :param workers: processes on this machine (1: in this process).
    :param scheduler: a Dask scheduler's address (``tcp://host:8786``): the cases run on its workers instead.
    :param writeCases: also write the cases as ``out/cases.csv`` (a manifest; folder mode), once ``out`` is locked.
    :raises ValueError: ``out`` cannot take the batch or is locked by another run.
    :raises Interrupted: Ctrl-C or SIGTERM stopped the batch; results.csv keeps the finished cases.
    """
    from .storage import _FolderLock

    out = Path(os.path.abspath(checkBatchFolder(out)))
    if int(workers) < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if scheduler:
        _requireDask()
    out.mkdir(parents=True, exist_ok=True)
    lock = _FolderLock(out)
    lock.acquire()
    try:
        if writeCases:
            writeManifest(out / DISCOVERED_FILE, cases)
        return _runLocked(cases, out, int(workers), resume, scheduler, device, keepImplausible, dicomOut, quiet,
                          verbose)
    finally:
        lock.release()


def _runLocked(cases, out, workers, resume, scheduler, device, keepImplausible, dicomOut, quiet, verbose):
    previous = {row.get("case"): row for row in readResults(out)} if resume else {}
    rows: dict[int, dict] = {}
    tasks: dict[int, CaseTask] = {}
    from .commands import moduleParsers

    subparsers = moduleParsers()
    for index, case in enumerate(cases):
        kept = resumableRow(case, previous, out) if resume and not case.problem else None
        if kept is not None:
            rows[index] = kept
            continue
        try:
            tasks[index] = prepareTask(case, out, device, keepImplausible, dicomOut, verbose, subparsers)
        except ValueError as error:  # the single command's message (the case names the row)
            message = case.problem or failureMessage(error)
            rows[index] = resultRow(case, CaseResult(case.name, "failed", message), out)
    ordered = lambda: [rows[index] for index in sorted(rows)]  # noqa: E731
    writeResults(out, ordered())
    bar = _Bar(len(cases), quiet)
    for _ in rows:
        bar.advance()

    def finished(index: int, result: CaseResult) -> None:
        rows[index] = resultRow(cases[index], result, out)
        if result.traceback:
            print(result.traceback, file=sys.stderr)
        writeResults(out, ordered())
        bar.advance()

    try:
        if scheduler:
            _runOnDask(tasks, scheduler, finished, bar)
        elif workers > 1 and len(tasks) > 1:
            _runInProcesses(tasks, workers, verbose, finished, bar)
        else:
            for index, task in tasks.items():
                bar.note(task.name)
                finished(index, runTask(task, lambda fraction, message, name=task.name: bar.note(
                    f"{name}: {message}")))
    except (KeyboardInterrupt, InterruptedError) as error:
        raise Interrupted(error, ordered()) from None
    except BaseException as error:
        from .signals import Terminated

        if isinstance(error, Terminated):
            raise Interrupted(error, ordered()) from None
        raise
    finally:
        bar.close()
    return ordered()


def _runInProcesses(tasks: dict, workers: int, verbose: bool, finished, bar) -> None:
    """Run the tasks in ``workers`` spawned processes (each loads each model once and uses cores // workers torch
    threads); Ctrl-C or SIGTERM here ends their running cases cleanly (SIGTERM to each worker)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    workers = min(workers, len(tasks))
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_initWorker, initargs=(threads, verbose))
    futures = {}
    try:
        futures = {pool.submit(runTask, task): index for index, task in tasks.items()}
        bar.note(f"{workers} workers")
        for future in as_completed(futures):
            index = futures[future]
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - a worker died (killed, out of memory): that case failed
                result = CaseResult(tasks[index].name, "failed", f"error: the worker process running it ended "
                                    f"({type(error).__name__}: {oneLine(error)})")
            finished(index, result)
    except BaseException:
        # No future is cancelled here: the pool fails them all once its workers are gone (cancelling first makes
        # Python 3.11's pool thread fail on them, with a traceback).
        processes = list((getattr(pool, "_processes", None) or {}).values())
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: a running case removes its staging folder, then the worker leaves
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
        for process in processes:
            if process.is_alive():  # stuck in a long native call: its staging folder is left to the next run
                process.kill()
                process.join(timeout=5)
        pool.shutdown(wait=False)
        raise
    pool.shutdown(wait=True)


def _requireDask() -> None:
    """:class:`~ReconCoreLib.models.RuntimeUnavailable` (one line) when dask.distributed cannot be imported."""
    import importlib

    try:
        importlib.import_module("dask.distributed")
    except ImportError:
        from .models import RuntimeUnavailable

        raise RuntimeUnavailable("--dask-scheduler needs dask.distributed, which is not installed in this Python: "
                                 "pip install 'dask[distributed]' (or the project's extra: pip install "
                                 "'recon2d3d[cluster]')") from None


def _runOnDask(tasks: dict, address: str, finished, bar) -> None:
    """Run the tasks on a Dask distributed cluster (the files must be at the same paths on its workers). A worker
    process loads each model once (the model registry caches it per process)."""
    from dask.distributed import Client, as_completed

    try:
        client = Client(address, timeout="30s", set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ValueError(f"--dask-scheduler {address}: cannot reach the scheduler ({oneLine(error)})") \
            from None
    futures = {}
    try:
        futures = {client.submit(runTask, task, pure=False, key=f"recon2d3d-{task.name}-{os.getpid()}-{index}"):
                   index for index, task in tasks.items()}
        bar.note(f"Dask {address}")
        for future in as_completed(list(futures), loop=client.loop):
            index = futures[future]
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - the worker died (KilledWorker) or the task was lost
                result = CaseResult(tasks[index].name, "failed", f"error: the Dask worker running it failed "
                                    f"({type(error).__name__}: {oneLine(error)})")
            finished(index, result)
    except BaseException:
        if futures:
            client.cancel(list(futures))  # cases already running on a worker finish: their folders are whole
        raise
    finally:
        client.close()


# -- the command --------------------------------------------------------------------------------------------------


def casesOf(source: str | Path, out: Optional[Path] = None) -> tuple[list[BatchCase], list[str]]:
    """(cases, notes) of ``recon2d3d batch SOURCE``: a CSV manifest, or a folder searched for DICOM files."""
    source = Path(source)
    if source.is_dir():
        from .batchfolders import discoverCases

        return discoverCases(source, exclude=out)
    if not source.exists():
        raise ValueError(f"{source}: no such file or folder")
    return readManifest(source), []


def runBatchCommand(args) -> int:
    """``recon2d3d batch``: exit 0 when every case is done (or kept by --resume), 2 when any failed, 130 / 143 when
    interrupted / terminated (results.csv keeps the finished cases)."""
    from .commands import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_TERMINATED
    from .signals import Terminated

    if args.dask_scheduler and args.workers != 1:
        raise ValueError("--workers is for this machine; with --dask-scheduler the cluster's workers run the cases")
    started = time.perf_counter()
    out = checkBatchFolder(args.out)  # before searching a folder that may be large
    cases, notes = casesOf(args.source, out)
    if not args.quiet:
        for note in notes:
            print(f"note: {note}")
    try:
        rows = runBatch(cases, out, args.workers, args.resume, args.dask_scheduler, args.device,
                        args.keep_implausible, args.dicom_out, args.quiet, args.verbose,
                        writeCases=Path(args.source).is_dir())
    except Interrupted as stopped:
        what = "terminated (SIGTERM)" if isinstance(stopped.signal, Terminated) else "interrupted"
        done = sum(row["status"] != "failed" for row in stopped.rows)
        print(f"recon2d3d batch: {what}; {len(stopped.rows)} finished case(s) ({done} done) are in "
              f"{Path(args.out) / RESULTS_FILE}, the running one(s) left nothing; --resume goes on", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(stopped.signal, Terminated) else EXIT_CANCELLED
    failed = [row for row in rows if row["status"] == "failed"]
    if not args.quiet:
        counts = ", ".join(f"{sum(row['status'] == status for row in rows)} {status}" for status in STATUSES)
        print(f"{len(rows)} case(s) in {time.perf_counter() - started:.1f} s: {counts}; results in "
              f"{Path(args.out) / RESULTS_FILE}")
    for row in failed:
        print(f"recon2d3d batch: {row['case']}: {row['message']}", file=sys.stderr)
    return EXIT_BAD_INPUT if failed else 0

"""The cases of ``recon2d3d batch`` and their records: the CSV manifest, a row's arguments parsed as its subcommand
parses them, and ``results.csv`` (see :mod:`ReconCoreLib.batch` for the formats)."""

from __future__ import annotations

import argparse
import csv
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

RESULTS_FILE = "results.csv"
#: Folder mode: the cases found, written into ``--out`` as a manifest.
DISCOVERED_FILE = "cases.csv"
MANIFEST_COLUMNS = ("case", "module", "arguments")
FIRST_COLUMNS = ("case", "module", "status", "message", "seconds")
LAST_COLUMNS = ("version", "model_sha256", "device", "warnings", "failed_checks", "arguments", "folder")
STATUSES = ("done", "failed", "skipped")
_CASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
_RESERVED_NAMES = {RESULTS_FILE, DISCOVERED_FILE}
_OUT_SENTINEL = "\0recon2d3d-batch-out"


@dataclass
class BatchCase:
    """One case of a batch: its name (the folder under ``--out``), subcommand and arguments (without ``--out``).

    :ivar arguments: the subcommand's arguments, shell-quoted as in the manifest.
    :ivar base: folder that relative paths in ``arguments`` are read from (the manifest's folder).
    :ivar problem: why the case cannot run (its failed row's message), "" when it can.
    :ivar where: where the case comes from ("manifest.csv line 3", "study 1.2.3"), for messages.
    """

    name: str
    command: str
    arguments: str
    base: Optional[Path] = None
    problem: str = ""
    where: str = ""


@dataclass
class CaseTask:
    """A prepared case, sent to a worker (picklable): the module's typed case and how to run it."""

    name: str
    command: str
    moduleName: str
    case: Any
    folder: str
    device: str = "auto"
    keepImplausible: bool = False
    dicomOut: Optional[bool] = None
    verbose: bool = False


@dataclass
class CaseResult:
    """What a case gives its row: status, the single command's one-line message, seconds, readouts.json's values."""

    name: str
    status: str
    message: str = ""
    seconds: float = 0.0
    readouts: dict = field(default_factory=dict)
    traceback: str = ""


# -- the manifest -------------------------------------------------------------------------------------------------


def readManifest(path: str | Path) -> list[BatchCase]:
    """The cases of a CSV manifest (see the module docstring); a row that cannot be a case becomes a case with its
    ``problem`` (a failed row), never an exception.

    :raises ValueError: the file cannot be read or lacks a column.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{path}: empty manifest; expected the header {','.join(MANIFEST_COLUMNS)}")
            columns = [name.strip().lower() for name in header]
            missing = [name for name in MANIFEST_COLUMNS if name not in columns]
            if missing:
                raise ValueError(f"{path}: the manifest lacks the column(s) {', '.join(missing)} (header: "
                                 f"{','.join(MANIFEST_COLUMNS)}; got {','.join(header)})")
            index = {name: columns.index(name) for name in MANIFEST_COLUMNS}
            cases = []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                values = {name: (row[column].strip() if column < len(row) else "") for name, column in index.items()}
                if values["case"].startswith("#"):
                    continue
                where = f"{path.name} line {reader.line_num}"
                cases.append(BatchCase(values["case"], values["module"].lower(), values["arguments"],
                                       path.resolve().parent, where=where))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path}: not a readable CSV manifest ({error})") from None
    if not cases:
        raise ValueError(f"{path}: the manifest has no cases")
    checkCaseNames(cases)
    return cases


def checkCaseNames(cases: list[BatchCase]) -> None:
    """Give a ``problem`` to each case whose name cannot be a folder under ``--out`` or repeats an earlier one."""
    seen = {}
    for case in cases:
        if case.problem:
            continue
        if not _CASE_NAME.fullmatch(case.name) or case.name.lower() in _RESERVED_NAMES:
            case.problem = (f"error: {case.where}: case name {case.name!r} cannot name its folder: use letters, "
                            "digits, '.', '_', '-', '+' (at most 100, starting with a letter or digit)")
        elif case.name.lower() in seen:
            case.problem = f"error: {case.where}: case name {case.name!r} is used by {seen[case.name.lower()]}"
        else:
            seen[case.name.lower()] = case.where or case.name


def writeManifest(path: str | Path, cases: list[BatchCase]) -> Path:
    """Write ``cases`` as a manifest (atomically); returns the path."""
    rows = [{"case": case.name, "module": case.command, "arguments": case.arguments} for case in cases]
    return _writeCsv(Path(path), list(MANIFEST_COLUMNS), rows)


# -- from a row to a module's case ----------------------------------------------------------------------------------


def _raiseParseError(message: str) -> None:
    raise ValueError(message)


def _isPathOption(action: argparse.Action) -> bool:
    """An option or positional whose values may be files: text values without choices."""
    return (type(action) in (argparse._StoreAction, argparse._AppendAction) and action.choices is None
            and action.type in (None, str) and action.dest not in ("out", "device", "help"))


def _resolvePath(value: str, base: Path) -> str:
    """``value`` read from ``base`` when relative; in ``KEY=FILE`` (echo's ``A4C=a4c.png@3``) the FILE part."""
    if not value:
        return value
    key, separator, rest = value.partition("=")
    if separator and re.fullmatch(r"[A-Za-z0-9_]+", key) and not (base / value).exists():
        return f"{key}={_resolvePath(rest, base)}"
    expanded = os.path.expanduser(value)
    return expanded if os.path.isabs(expanded) else str(base / expanded)


def parseCaseArguments(case: BatchCase, subparsers: Optional[dict] = None) -> argparse.Namespace:
    """The row's arguments parsed by its subcommand's parser, relative paths read from ``case.base``.

    :raises ValueError: unknown module, bad quoting, an argument the subcommand refuses (its own message), ``--out``.
    """
    from .modules import moduleEntries

    commands = [entry.command for entry in moduleEntries()]
    if case.command not in commands:
        raise ValueError(f"module {case.command!r} is not one of {', '.join(commands)}")
    try:
        tokens = shlex.split(case.arguments)
    except ValueError as error:
        raise ValueError(f"arguments: {error} in {case.arguments!r}") from None
    if any(token in ("-h", "--help") for token in tokens):
        raise ValueError(f"arguments: {case.arguments!r} asks for help, not a case")
    from .commands import moduleParsers

    parser = (subparsers or moduleParsers())[case.command]
    parser.error = _raiseParseError  # the parser's message as a ValueError instead of exiting the batch
    try:
        args = parser.parse_args(["--out", _OUT_SENTINEL, *tokens])
    except SystemExit:  # an abbreviation of --help
        raise ValueError(f"arguments: {case.arguments!r} asks for help, not a case") from None
    if args.out != _OUT_SENTINEL:
        raise ValueError("arguments: --out is not allowed in a batch row: the batch writes each case to OUT/CASE")
    if case.base is not None:
        for action in parser._actions:
            value = getattr(args, action.dest, None)
            if not _isPathOption(action) or value is None:
                continue
            if isinstance(value, list):
                setattr(args, action.dest, [_resolvePath(item, case.base) for item in value])
            elif isinstance(value, str):
                setattr(args, action.dest, _resolvePath(value, case.base))
    return args


def prepareTask(case: BatchCase, out: Path, device: str = "auto", keepImplausible: bool = False,
                dicomOut: Optional[bool] = None, verbose: bool = False, subparsers: Optional[dict] = None) -> CaseTask:
    """The :class:`CaseTask` of a batch case: its arguments parsed, the module's case made (files checked).

    :raises ValueError: the case cannot run (its message says why, as the single command says it).
    """
    if case.problem:
        raise ValueError(case.problem)
    args = parseCaseArguments(case, subparsers)
    entry = args.entry
    return CaseTask(name=case.name, command=case.command, moduleName=entry.moduleName,
                    case=entry.caseFromArguments(args), folder=str(Path(out) / case.name),
                    device=args.device if args.device != "auto" else device,
                    keepImplausible=bool(keepImplausible or args.keep_implausible),
                    dicomOut=args.dicom_out if args.dicom_out is not None else dicomOut, verbose=verbose)


# -- results.csv ------------------------------------------------------------------------------------------------


def _cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "; ".join(str(item) for item in value)
    return "" if value is None else str(value)


def resultRow(case: BatchCase, result: CaseResult, out: Path) -> dict:
    """The results.csv row of a finished case (readouts flattened: lists joined with "; ", full precision)."""
    row = {key: _cell(value) for key, value in result.readouts.items() if key != "module"}
    folder = Path(out) / case.name
    row.update(case=case.name, module=case.command, status=result.status, message=result.message,
               seconds=f"{result.seconds:.1f}", arguments=case.arguments,
               folder=str(folder) if result.status == "done" else "")
    return row


def resultColumns(rows: list[dict]) -> list[str]:
    """First columns, every readout key in order of first appearance, then metadata, arguments and folder."""
    columns = list(FIRST_COLUMNS)
    for row in rows:
        columns += [key for key in row if key not in columns and key not in LAST_COLUMNS]
    return columns + list(LAST_COLUMNS)


def _writeCsv(path: Path, columns: list[str], rows: list[dict]) -> Path:
    """Write a CSV file whole or not at all (a temporary file beside it, then renamed over it)."""
    temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=columns, restval="", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def writeResults(out: str | Path, rows: list[dict]) -> Path:
    """Write ``OUT/results.csv`` atomically."""
    return _writeCsv(Path(out) / RESULTS_FILE, resultColumns(rows), rows)


def readResults(out: str | Path) -> list[dict]:
    """The rows of ``OUT/results.csv`` ([] when there is none or it cannot be read)."""
    path = Path(out) / RESULTS_FILE
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            return list(csv.DictReader(stream))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def resumableRow(case: BatchCase, previous: dict, out: Path) -> Optional[dict]:
    """The earlier row of ``case`` kept by ``--resume`` (status skipped), or None when the case must run: its row
    says done (or skipped), with the same module and arguments, and its folder holds a finished result."""
    from .storage import isResultFolder

    row = previous.get(case.name)
    if (row is None or row.get("status") not in ("done", "skipped") or row.get("module") != case.command
            or row.get("arguments") != case.arguments or not isResultFolder(Path(out) / case.name)):
        return None
    kept = {key: value for key, value in row.items() if key is not None and value not in (None, "")}
    kept.update(status="skipped", message="finished in an earlier run; not run again (--resume)")
    return kept


# -- the output folder ----------------------------------------------------------------------------------------------


def checkBatchFolder(out) -> Path:
    """``--out`` of a batch as a Path: new, empty, or the folder of an earlier batch (it holds results.csv or
    cases.csv); anything else is refused (ValueError), so ``--out ~/Desktop`` is not filled with case folders."""
    if out is None or not str(out).strip():
        raise ValueError("the output folder is empty (''); give a folder for the results, e.g. --out results")
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target}: exists and is not a folder")
    if target.is_dir() and any(not item.name.startswith(".") for item in target.iterdir()) and not any(
            (target / name).is_file() for name in (RESULTS_FILE, DISCOVERED_FILE)):
        raise ValueError(f"{target}: the folder holds other files and no results.csv of an earlier batch; give a new "
                         "or empty folder")
    return target

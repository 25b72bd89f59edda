"""Helpers of the command-line tests (test_cli.py, test_batch.py, test_batch_samples.py): running the command
in-process and writing manifests."""

import contextlib
import csv
import io
import shlex
from pathlib import Path

from ReconCoreLib import batch, cli


def run(capsys, argv):
    status = cli.main([str(item) for item in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def quietly(argv):
    """``cli.main(argv)`` with its stdout and stderr captured (for module-scoped fixtures: no capsys there)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main([str(item) for item in argv])
    return status, out.getvalue(), err.getvalue()


def readRows(out):
    with open(Path(out) / batch.RESULTS_FILE, newline="") as stream:
        return {row["case"]: row for row in csv.DictReader(stream)}


def writeManifest(path, rows, header="case,module,arguments"):
    lines = [header] + [",".join(_csvCell(cell) for cell in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _csvCell(text):
    return '"' + text.replace('"', '""') + '"' if any(mark in text for mark in ',"\n ') else text


def caseArguments(command, case, base=None):
    """The subcommand arguments of a module's case (what a manifest row says), paths relative to ``base`` when
    they lie under it."""
    def path(value):
        value = Path(value)
        return str(value.relative_to(base)) if base is not None and value.is_relative_to(base) else str(value)

    if command == "angio":
        tokens = [path(case.view1), path(case.view2), "--tree", case.tree]
        for option, value in (("--mask1", case.mask1), ("--mask2", case.mask2)):
            tokens += [option, path(value)] if value else []
    elif command == "femur":
        tokens = [path(case.ap), path(case.lat)]
        for option, value in (("--ap-mask", case.apMask), ("--lat-mask", case.latMask),
                              ("--reference", case.reference)):
            tokens += [option, path(value)] if value else []
        tokens += (["--side", case.side] if case.side else []) + (["--refine"] if case.refine else [])
    elif case.autoFrames:  # one cine per view: the run finds end-diastole and end-systole
        tokens = ["--cine"] + [f"{view}={path(file)}" for view, file in case.endDiastole.items()]
    else:
        tokens = ["--ed"] + [f"{view}={path(file)}" for view, file in case.endDiastole.items()]
        tokens += ["--es"] + [f"{view}={path(file)}" for view, file in (case.endSystole or {}).items()]
    return shlex.join(tokens)

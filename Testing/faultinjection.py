"""Running ``recon2d3d`` as a user does (a subprocess) and checking how it refuses bad input.

Bad inputs are built at test time from the bundled samples (nothing broken is committed). A refusal must: exit with
the expected code, print one line on stderr naming the problem, show no traceback, and leave nothing behind (no
output folder when there was none, no ``.NAME.partial-*`` staging folder, no lock file).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
#: The quickest real run (the bundled EchoNormal case) for tests that interrupt a run while it works.
ECHO_SAMPLE = REPOSITORY / "EchoRecon" / "Resources" / "SampleData" / "EchoNormal"
ECHO_VIEWS = ("A4C", "A2C", "A3C", "SAXB", "SAXM", "SAXA")
#: Environment of the command: no progress bars, no colour, the repository's packages.
COMMAND_ENVIRONMENT = {**os.environ, "PYTHONWARNINGS": "", "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "2"}


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    out: Path


def runCommand(arguments, out: Path, timeout: float = 300, **popen) -> Run:
    """``recon2d3d ARGUMENTS --out OUT`` in a subprocess (``out`` None: no --out added)."""
    command = [sys.executable, "-m", "ReconCoreLib.cli", *map(str, arguments)]
    if out is not None:
        command += ["--out", str(out)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=COMMAND_ENVIRONMENT,
                               **popen)
    return Run(completed.returncode, completed.stdout, completed.stderr, Path(out) if out is not None else None)


def leftovers(out: Path) -> list[str]:
    """Staging folders and lock files beside ``out`` (what an interrupted or refused run must not leave)."""
    parent = Path(out).parent
    return sorted(item.name for item in parent.iterdir()
                  if item.name.startswith(f".{Path(out).name}.partial-") or item.name == f".{Path(out).name}.lock")


def assertRefused(run: Run, code: int, *fragments: str, outExisted: bool = False) -> None:
    """The command refused: exit ``code``, one stderr line holding every fragment (case-insensitive), no
    traceback, nothing written."""
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == code, f"exit {run.returncode} (expected {code}); stderr:\n{run.stderr}"
    assert "Traceback" not in run.stderr, run.stderr
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{run.stderr}"
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), f"{fragment!r} not in {lines[0]!r}"
    if run.out is not None:
        if not outExisted:
            assert not run.out.exists(), f"{run.out} was created by a refused run"
        assert leftovers(run.out) == [], leftovers(run.out)


def echoArguments(phases=("ED", "ES")) -> list:
    arguments = ["echo", "--device", "cpu", "--quiet"]
    for phase in phases:
        arguments += [f"--{phase.lower()}"] + [f"{view}={ECHO_SAMPLE}_{phase}_{view}.png" for view in ECHO_VIEWS]
    return arguments


def startEcho(out: Path, phases=("ED", "ES")) -> subprocess.Popen:
    command = [sys.executable, "-m", "ReconCoreLib.cli", *echoArguments(phases), "--out", str(out)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=COMMAND_ENVIRONMENT)


def pause(seconds: float) -> None:
    """Let a started command get on with its work (a wait, not a measurement)."""
    time.sleep(seconds)


def waitForStaging(process: subprocess.Popen, out: Path, timeout: float = 120, exclude=()) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        staging = [item for item in out.parent.glob(f".{out.name}.partial-*") if item not in exclude]
        if staging:
            return staging[0]
        assert process.poll() is None, f"the run ended before writing: {process.communicate()}"
        time.sleep(0.02)
    raise AssertionError("no staging folder appeared")


def cacheFolders(pid: int) -> list:
    """The headless scene cache folders of process ``pid``."""
    return list(Path(tempfile.gettempdir()).glob(f"recon2d3d-cache-{pid}-*"))

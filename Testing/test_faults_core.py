"""Issue 14, what every command shares, run as a user runs it (subprocess): the output folder, signals at any moment,
runs killed outright, two runs into one folder, folders given as files.

The runs that must be interrupted mid-way use the bundled EchoNormal case (the quickest real run); they wait for the
run's staging folder to appear, so the signal arrives while results are being computed and written.
"""

import os
import signal
import subprocess
import sys

import pytest

from faultinjection import (COMMAND_ENVIRONMENT, ECHO_SAMPLE, assertRefused, cacheFolders, echoArguments, leftovers,
                            pause, runCommand, startEcho, waitForStaging)

requiresModels = pytest.mark.torch


# ------------------------------------------------------------------------------------------------------------------
# refused before any work
@pytest.mark.parametrize("out", ["", " "])
def test_empty_out_is_refused(tmp_path, out):
    before = sorted(os.listdir(tmp_path))
    completed = subprocess.run([sys.executable, "-m", "ReconCoreLib.cli", *echoArguments(), "--out", out],
                               capture_output=True, text=True, env=COMMAND_ENVIRONMENT, cwd=tmp_path, timeout=120)
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 2 and len(lines) == 1 and "Traceback" not in completed.stderr, completed.stderr
    assert "the output folder is empty ('')" in lines[0]
    assert sorted(os.listdir(tmp_path)) == before  # nothing written into the working folder


def test_out_holding_other_files_is_refused(tmp_path):
    out = tmp_path / "Documents"
    out.mkdir()
    (out / "letter.txt").write_text("mine")
    run = runCommand(echoArguments(), out)
    assertRefused(run, 2, "holds other files and no earlier Recon2Dto3D result", outExisted=True)
    assert sorted(item.name for item in out.iterdir()) == ["letter.txt"]


def test_a_folder_given_as_an_image_is_named_a_folder(tmp_path):
    arguments = echoArguments()
    arguments[arguments.index(f"A4C={ECHO_SAMPLE}_ED_A4C.png")] = f"A4C={tmp_path}"
    run = runCommand(arguments, tmp_path / "out")
    assertRefused(run, 2, str(tmp_path), "folder")


@requiresModels  # without torch the run stops (exit 5) before the signal comes
def test_ctrl_c_during_start_up_is_exit_130_without_traceback(tmp_path):
    out = tmp_path / "out"
    process = startEcho(out)
    pause(0.6)  # importing: the parser, numpy, the module entries
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines() == ["recon2d3d echo: interrupted; nothing was "
                                                                         "written"]
    assert not out.exists() and leftovers(out) == []


# ------------------------------------------------------------------------------------------------------------------
# interrupted while working
@requiresModels
@pytest.mark.parametrize("signum, code, message", [(signal.SIGTERM, 143, "terminated (SIGTERM); nothing was written"),
                                                   (signal.SIGINT, 130, "interrupted; nothing was written")])
def test_signal_while_working_leaves_nothing(tmp_path, signum, code, message):
    out = tmp_path / "out"
    process = startEcho(out)
    waitForStaging(process, out)
    pause(0.5)  # inside the reconstruction
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines() == [f"recon2d3d echo: {message}"]
    assert not out.exists() and leftovers(out) == []
    assert cacheFolders(process.pid) == []  # the headless scene's cache went with it


@requiresModels
def test_a_killed_run_is_cleaned_up_by_the_next_run_and_a_second_run_is_refused_meanwhile(tmp_path):
    out = tmp_path / "out"
    # 1. SIGKILL (the OOM killer): nothing can run, the staging folder stays behind
    process = startEcho(out)
    staging = waitForStaging(process, out)
    process.kill()
    process.communicate(timeout=60)
    assert staging.is_dir() and not out.exists()
    # 2. the next run into the same folder removes it, and while it writes a second run is refused
    process = startEcho(out, phases=("ED", "ES"))
    waitForStaging(process, out, exclude=(staging,))
    assert not staging.exists()
    second = runCommand(echoArguments(("ED",)), out)
    assert second.returncode == 2 and "Traceback" not in second.stderr, second.stderr
    assert len(second.stderr.strip().splitlines()) == 1 and "another recon2d3d run is writing there now" in second.stderr
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert (out / "lv_cavity_es.vtk").is_file()
    assert leftovers(out) == []
    # 3. a later ED-only run replaces the ED+ES result whole: no end-systole file stays beside the new readouts
    third = runCommand(echoArguments(("ED",)), out)
    assert third.returncode == 0, third.stderr
    assert list(out.glob("*_es*")) == [] and (out / "readouts.json").is_file()
    assert leftovers(out) == []


@requiresModels
def test_a_completed_run_ends_with_its_output_flushed_and_nothing_left_behind(tmp_path):
    """The command ends its process at once after the run (``cli.run``: ``os._exit``, skipping Python's 1 s teardown
    of torch, VTK and MRML): what it printed still arrives through a pipe, and neither its scene cache nor a staging
    folder is left."""
    import json

    out = tmp_path / "out"
    arguments = [argument for argument in echoArguments() if argument != "--quiet"]  # the summary is printed
    process = subprocess.Popen([sys.executable, "-m", "ReconCoreLib.cli", *arguments, "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=COMMAND_ENVIRONMENT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert stdout.rstrip().splitlines()[-1] == f"results written to {out}"
    assert json.loads((out / "readouts.json").read_text())["module"] == "EchoRecon"
    assert cacheFolders(process.pid) == [] and leftovers(out) == []

"""The recon2d3d command line: exit codes, one-line errors, nothing half-written, the installed console script."""

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from clihelpers import run
from EchoReconLib.conventions import VIEWS as ECHO_VIEWS
from ReconCoreLib import __version__, cli, commands, models, modules, plausibility, postrun
from ReconCoreLib.readouts import Readouts
from ReconCoreLib.storage import RESULT_MARKER
from ReconCoreLib.xraygeometry import CArmGeometry
from ReconCoreLib.xrayio import writeXrayDicom

MODULE_NAMES = ("AngioRecon", "FemurRegistration", "EchoRecon")
NOT_BUNDLED = "no trained model is bundled yet"
SCRIPT = Path(sys.executable).parent / "recon2d3d"


def cudaAvailable():
    try:
        import torch
    except ImportError:  # the pass with Slicer's packages: no torch, no CUDA
        return False
    return torch.cuda.is_available()


def view(path, primary, secondary=0.0):
    rows, columns = 32, 40
    image = np.add.outer(np.arange(rows) * 2.0, np.arange(columns) * 1.0)
    image[8:12, 20:30] += 100.0
    geometry = CArmGeometry(primary, secondary, 1100.0, 750.0, (0.3, 0.3), rows, columns)
    return writeXrayDicom(path, image, geometry, uidSeed=str(path.name))


@pytest.fixture
def views(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    return view(folder / "view1.dcm", 30.0, 20.0), view(folder / "view2.dcm", -30.0, 20.0)


@pytest.fixture
def noModels(monkeypatch):
    """No module has a bundled model, whatever is on disk."""
    monkeypatch.setattr(models, "findBundledModel", lambda name: None)


def assertOneLineError(err, command, *fragments):
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"recon2d3d {command}: error:"), err
    for fragment in fragments:
        assert str(fragment) in lines[0], (fragment, err)
    assert "Traceback" not in err


def assertNothingWritten(out, parent):
    """``out`` is absent or empty, and no staging sibling is left in ``parent``."""
    assert not out.exists() or list(out.iterdir()) == []
    assert [item.name for item in parent.iterdir() if ".partial" in item.name] == []


# --------------------------------------------------------------------------------------------------
# Console script (installed entry point)
def test_console_script_version():
    if not SCRIPT.is_file():
        pytest.skip(f"console script not installed at {SCRIPT}")
    result = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"recon2d3d {__version__}"


@pytest.mark.torch
def test_console_script_demo(tmp_path):
    if not SCRIPT.is_file():
        pytest.skip(f"console script not installed at {SCRIPT}")
    out = tmp_path / "demo"
    result = subprocess.run([str(SCRIPT), "demo", "--out", str(out), "--device", "cpu", "--quiet"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Recon2Dto3D {__version__} demo on cpu"
    for name in MODULE_NAMES:
        assert name in result.stdout
        if models.findBundledModel(name) is not None:
            continue  # a model is bundled: this module really ran
        statement = next((line for line in lines if line.startswith(f"- {name}:")), None)
        assert statement is not None, result.stdout
        assert NOT_BUNDLED in statement
        assert f"{name}/Resources/Models/{name}.pt" in statement
        assert statement.endswith("nothing was computed")
        assert not (out / modules.moduleEntry(name).command).exists()


# --------------------------------------------------------------------------------------------------
# In-process: demo and parser
def test_demo_without_models(capsys, tmp_path, noModels):
    out = tmp_path / "demo"
    status, stdout, stderr = run(capsys, ["demo", "--out", out, "--device", "cpu"])
    assert status == 0
    lines = stdout.splitlines()
    assert lines == [f"Recon2Dto3D {__version__} demo on cpu"] + [
        f"- {models.notBundledMessage(name)}" for name in ("AngioRecon", "FemurRegistration", "EchoRecon")]
    assert all(NOT_BUNDLED in line for line in lines[1:])
    assertNothingWritten(out, tmp_path)


def test_missing_runtime_package_is_one_line_and_exit_5(capsys, tmp_path, monkeypatch):
    """Where torch or MONAI is missing (Slicer before the dependency installer ran, a bare Python) a run says so."""
    monkeypatch.setattr(models, "RUNTIME_PACKAGES", ("torch", "monai", "recon2d3d_no_such_package"))
    out = tmp_path / "demo"
    status, stdout, stderr = run(capsys, ["demo", "--out", out, "--device", "cpu"])
    assert status == commands.EXIT_NO_RUNTIME == 5
    assert stderr.count("\n") == 1 and "recon2d3d_no_such_package not installed in this Python" in stderr
    assert f"torch{models.TORCH_REQUIREMENT}" in stderr
    assertNothingWritten(out, tmp_path)


@pytest.mark.torch
def test_model_torch_cannot_load_is_named(tmp_path):
    damaged = tmp_path / "AngioRecon.pt"
    damaged.write_bytes(b"PK\x03\x04 not a TorchScript archive")
    with pytest.raises(models.RuntimeUnavailable, match=r"AngioRecon.pt: torch .* cannot load this model .* "
                                                        r"exported with torch 2\.13\.0"):
        models.ModelFile(damaged).load("cpu")


def test_version_in_process(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.strip() == f"recon2d3d {__version__}"


@pytest.mark.parametrize("argv", [[], ["angio", "only-one-view.dcm", "--out", "x"], ["angio", "a", "b"],
                                  ["demo", "--device", "tpu"], ["sculpt", "--out", "x"]])
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exit:
        cli.main(argv)
    assert exit.value.code == 2
    assert "usage: recon2d3d" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# Bad input: exit 2, one line, nothing written
def test_angio_missing_file(capsys, tmp_path, views):
    out = tmp_path / "out"
    missing = tmp_path / "in" / "missing.dcm"
    status, stdout, stderr = run(capsys, ["angio", views[0], missing, "--tree", "left", "--out", out])
    assert status == commands.EXIT_BAD_INPUT == 2
    assertOneLineError(stderr, "angio", missing, "no such file")
    assert stdout == ""
    assert not out.exists()
    assertNothingWritten(out, tmp_path)


def test_angio_missing_file_leaves_existing_out_empty(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    status, _, stderr = run(capsys, ["angio", tmp_path / "nope1.dcm", tmp_path / "nope2.dcm", "--tree", "left",
                                     "--out", out])
    assert status == 2
    assertOneLineError(stderr, "angio", "nope1.dcm")
    assert list(out.iterdir()) == []
    assertNothingWritten(out, tmp_path)


@pytest.mark.torch  # the views are read by the run, after the check for torch
def test_angio_png_without_sidecar(capsys, tmp_path, views):
    png = tmp_path / "in" / "view2.png"
    sitk.WriteImage(sitk.GetImageFromArray(np.arange(32 * 40, dtype=np.uint16).reshape(32, 40)), str(png))
    out = tmp_path / "out"
    status, _, stderr = run(capsys, ["angio", views[0], png, "--tree", "left", "--out", out])
    assert status == 2
    assertOneLineError(stderr, "angio", "view2.png", "view2.json", "sidecar")
    assertNothingWritten(out, tmp_path)


@pytest.mark.torch  # the views are read by the run, after the check for torch
def test_angio_file_that_is_not_dicom(capsys, tmp_path, views):
    fake = tmp_path / "in" / "fake.dcm"
    fake.write_text("not DICOM\nsecond line\n")
    status, _, stderr = run(capsys, ["angio", fake, views[1], "--tree", "left", "--out", tmp_path / "out"])
    assert status == 2
    assertOneLineError(stderr, "angio", "fake.dcm", "not a readable DICOM file")
    assertNothingWritten(tmp_path / "out", tmp_path)


@pytest.mark.torch  # the views are read by the run, after the check for torch
def test_angio_bad_frame(capsys, tmp_path, views):
    status, _, stderr = run(capsys, ["angio", views[0], views[1], "--tree", "left", "--frame1", "3",
                                     "--out", tmp_path / "out"])
    assert status == 2
    assertOneLineError(stderr, "angio", "view1.dcm", "frame 3", "single frame")


def test_angio_missing_mask(capsys, tmp_path, views):
    status, _, stderr = run(capsys, ["angio", *views, "--tree", "left", "--mask1", tmp_path / "mask1.nrrd",
                                     "--out", tmp_path / "out"])
    assert status == 2
    assertOneLineError(stderr, "angio", "--mask1", "mask1.nrrd", "no such file")


def test_angio_valid_views_without_model_exits_3(capsys, tmp_path, views, noModels):
    out = tmp_path / "out"
    status, stdout, stderr = run(capsys, ["angio", *views, "--tree", "left", "--out", out, "--device", "cpu"])
    assert status == commands.EXIT_NO_MODEL == 3
    lines = stderr.splitlines()
    assert lines == [f"recon2d3d angio: {models.notBundledMessage('AngioRecon')}"]
    assert NOT_BUNDLED in lines[0]
    assert stdout == ""
    assertNothingWritten(out, tmp_path)


def test_femur_missing_file(capsys, tmp_path):
    ap = view(tmp_path / "ap.dcm", 0.0)
    out = tmp_path / "out"
    status, _, stderr = run(capsys, ["femur", ap, tmp_path / "lat.dcm", "--out", out])
    assert status == 2
    assertOneLineError(stderr, "femur", "lat.dcm", "no such file")
    assertNothingWritten(out, tmp_path)


def test_femur_missing_reference(capsys, tmp_path):
    ap, lat = view(tmp_path / "ap.dcm", 0.0), view(tmp_path / "lat.dcm", 90.0)
    status, _, stderr = run(capsys, ["femur", ap, lat, "--reference", tmp_path / "ref.seg.nrrd",
                                     "--ap-mask", tmp_path / "apmask.nrrd", "--out", tmp_path / "out"])
    assert status == 2
    assertOneLineError(stderr, "femur", "--ap-mask", "apmask.nrrd")


def test_femur_valid_without_model_exits_3(capsys, tmp_path, noModels):
    ap, lat = view(tmp_path / "ap.dcm", 0.0), view(tmp_path / "lat.dcm", 90.0)
    out = tmp_path / "out"
    status, _, stderr = run(capsys, ["femur", ap, lat, "--out", out, "--device", "cpu"])
    assert status == 3
    assert stderr.splitlines() == [f"recon2d3d femur: {models.notBundledMessage('FemurRegistration')}"]
    assertNothingWritten(out, tmp_path)


def echoFile(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"echo view placeholder")
    return path


def test_echo_view_given_twice(capsys, tmp_path):
    a4c, other = echoFile(tmp_path, "a4c.png"), echoFile(tmp_path, "other.png")
    out = tmp_path / "out"
    status, _, stderr = run(capsys, ["echo", "--ed", f"A4C={a4c}", f"a4c={other}", "--out", out])
    assert status == 2
    assertOneLineError(stderr, "echo", "--ed", "A4C", "given twice")
    assertNothingWritten(out, tmp_path)


def test_echo_unknown_view(capsys, tmp_path):
    a4c = echoFile(tmp_path, "a4c.png")
    status, _, stderr = run(capsys, ["echo", "--ed", f"A5C={a4c}", "--out", tmp_path / "out"])
    assert status == 2
    assertOneLineError(stderr, "echo", "--ed", "unknown view 'A5C'", ", ".join(ECHO_VIEWS))
    assertNothingWritten(tmp_path / "out", tmp_path)


@pytest.mark.parametrize("item, fragment", [("A4C", "--es: expected VIEW=FILE, got 'A4C'"),
                                            ("A4C=", "--es: expected VIEW=FILE, got 'A4C='"),
                                            ("A2C={tmp}/missing.png", "--es: A2C: {tmp}/missing.png: no such file")])
def test_echo_malformed_or_missing_view(capsys, tmp_path, item, fragment):
    a4c = echoFile(tmp_path, "a4c.png")
    item, fragment = item.format(tmp=tmp_path), fragment.format(tmp=tmp_path)
    status, _, stderr = run(capsys, ["echo", "--ed", f"A4C={a4c}", "--es", item, "--out", tmp_path / "out"])
    assert status == 2
    assertOneLineError(stderr, "echo", fragment)
    assertNothingWritten(tmp_path / "out", tmp_path)


def test_echo_valid_views_without_model_exits_3(capsys, tmp_path, noModels):
    ed = [f"{name}={echoFile(tmp_path, name + '_ed.png')}" for name in ECHO_VIEWS]
    es = [f"{name.lower()}={echoFile(tmp_path, name + '_es.png')}" for name in ("A4C", "A2C")]
    status, _, stderr = run(capsys, ["echo", "--ed", *ed, "--es", *es, "--out", tmp_path / "out", "--device", "cpu"])
    assert status == 3
    assert stderr.splitlines() == [f"recon2d3d echo: {models.notBundledMessage('EchoRecon')}"]
    assertNothingWritten(tmp_path / "out", tmp_path)


@pytest.mark.torch
@pytest.mark.skipif(cudaAvailable(), reason="a CUDA GPU is available here")
def test_device_cuda_without_gpu(capsys, tmp_path, views):
    out = tmp_path / "out"
    status, _, stderr = run(capsys, ["angio", *views, "--tree", "left", "--out", out, "--device", "cuda"])
    assert status == 2
    assertOneLineError(stderr, "angio", "'cuda'", "no CUDA GPU")
    assertNothingWritten(out, tmp_path)
    status, stdout, stderr = run(capsys, ["demo", "--out", out, "--device", "cuda"])
    assert status == 2
    assertOneLineError(stderr, "demo", "cuda")
    assert stdout == ""


# --------------------------------------------------------------------------------------------------
# A module that runs (fake pipeline): results land in --out only when complete
def fakePipeline(monkeypatch, behaviour):
    """AngioRecon's entry with its case run replaced by a fake that writes files, then behaves as asked."""
    def runCase(case, outputDirectory, device, progress):
        assert case.view1.name == "view1.dcm" and case.tree == "left"  # the typed case of the arguments
        progress(0.5, "halfway")
        (Path(outputDirectory) / "tree.vtk").write_text("model")
        (Path(outputDirectory) / "sub").mkdir()
        (Path(outputDirectory) / "sub" / "mask.nrrd").write_text("mask")
        if behaviour == "bad-input":
            raise ValueError("vessel enhancement found no vessels in view 2")
        if behaviour == "cancel":
            raise KeyboardInterrupt
        if behaviour == "terminate":
            os.kill(os.getpid(), signal.SIGTERM)  # as `timeout` or a batch scheduler sends it
        if behaviour == "bug":
            return 1 / 0
        if behaviour == "implausible":
            plausibility.gate(Readouts(module="AngioRecon"), "lv_ef_percent", 99, 5, 85, "%", "LV EF")
        readouts = Readouts(module="AngioRecon", device=device)
        readouts.set("vessel_volume_mm3", 1234.5)
        readouts.writeJson(Path(outputDirectory) / "readouts.json")
        return readouts

    monkeypatch.setattr(models, "RUNTIME_PACKAGES", ())  # the fake needs neither torch nor MONAI
    monkeypatch.setattr(postrun, "finishCase", lambda *arguments, **options: [])  # no outputs to picture
    fake = dataclasses.replace(modules.moduleEntry("AngioRecon"), runCase=runCase)
    real = modules.moduleEntry
    monkeypatch.setattr(modules, "moduleEntry", lambda name: fake if name == "AngioRecon" else real(name))


def test_module_success_moves_results_into_out(capsys, tmp_path, views, monkeypatch):
    fakePipeline(monkeypatch, "ok")
    out = tmp_path / "out"
    out.mkdir()
    (out / "readouts.json").write_text("{}")  # an earlier result, replaced whole
    (out / "stale_es.vtk").write_text("from the earlier run")
    status, stdout, stderr = run(capsys, ["angio", *views, "--tree", "left",
                                          "--out", out, "--device", "cpu", "--quiet"])
    assert status == 0, stderr
    assert sorted(item.name for item in out.iterdir()) == [RESULT_MARKER, "readouts.json", "sub", "tree.vtk"]
    assert (out / "sub" / "mask.nrrd").read_text() == "mask"
    assert Readouts.readJson(out / "readouts.json").values == {"vessel_volume_mm3": 1234.5}
    assert stdout == ""  # --quiet
    assert [item.name for item in tmp_path.iterdir() if ".partial" in item.name] == []


def test_module_success_prints_summary(capsys, tmp_path, views, monkeypatch):
    fakePipeline(monkeypatch, "ok")
    out = tmp_path / "out"
    status, stdout, _ = run(capsys, ["angio", *views, "--tree", "left", "--out", out, "--device", "cpu"])
    assert status == 0
    assert "AngioRecon readouts:" in stdout
    assert "vessel_volume_mm3" in stdout and " 1234 mm3" in stdout  # shown to 1 mm3 (readouts.json: 1234.5)
    assert f"results written to {out}" in stdout


def test_out_is_an_existing_file(capsys, tmp_path, views, monkeypatch):
    fakePipeline(monkeypatch, "ok")
    out = tmp_path / "out"
    out.write_text("a file, not a folder")
    status, _, stderr = run(capsys, ["angio", *views, "--tree", "left", "--out", out, "--device", "cpu", "--quiet"])
    assert status == 2
    assertOneLineError(stderr, "angio", "out")
    assert out.read_text() == "a file, not a folder"
    assert [item.name for item in tmp_path.iterdir() if ".partial" in item.name] == []


@pytest.mark.parametrize("behaviour, status, fragment", [
    ("bad-input", 2, "error: vessel enhancement found no vessels"),
    ("cancel", 130, "interrupted; nothing was written"),
    ("terminate", 143, "terminated (SIGTERM); nothing was written"),
    ("bug", 1, "internal error (ZeroDivisionError: division by zero); nothing was written"),
    ("implausible", 2, "error: LV EF (lv_ef_percent) = 99 % is outside the plausible range [5, 85] %"),
])
def test_module_failure_writes_nothing(capsys, tmp_path, views, monkeypatch, behaviour, status, fragment):
    fakePipeline(monkeypatch, behaviour)
    out = tmp_path / "out"
    result, _, stderr = run(capsys, ["angio", *views, "--tree", "left", "--out", out, "--device", "cpu", "--quiet"])
    assert result == status
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("recon2d3d angio: ") and fragment in lines[0], stderr
    assertNothingWritten(out, tmp_path)


def test_keep_implausible_writes_the_result_marked_failed(capsys, tmp_path, views, monkeypatch):
    def runCase(case, outputDirectory, device, progress):
        readouts = Readouts(module="AngioRecon", device=device)
        readouts.set("lv_ef_percent", 99.0)
        plausibility.gate(readouts, "lv_ef_percent", 99.0, 5, 85, "%", "LV EF")  # recorded, not raised
        readouts.writeJson(Path(outputDirectory) / "readouts.json")
        return readouts

    monkeypatch.setattr(models, "RUNTIME_PACKAGES", ())
    monkeypatch.setattr(postrun, "finishCase", lambda *arguments, **options: [])
    fake = dataclasses.replace(modules.moduleEntry("AngioRecon"), runCase=runCase)
    real = modules.moduleEntry
    monkeypatch.setattr(modules, "moduleEntry", lambda name: fake if name == "AngioRecon" else real(name))
    out = tmp_path / "out"
    status, stdout, stderr = run(capsys, ["angio", *views, "--tree", "left", "--out", out, "--device", "cpu",
                                          "--keep-implausible"])
    assert status == 0, stderr
    written = Readouts.readJson(out / "readouts.json")
    assert written.failedChecks == ["LV EF (lv_ef_percent) = 99 % is outside the plausible range [5, 85] %"]
    assert "FAILED CHECK: LV EF (lv_ef_percent) = 99 %" in stdout and "(FAILED CHECKS: not measurements)" in stdout
    assert not plausibility.keepsImplausible()  # only for that run

"""``recon2d3d batch`` (ReconCoreLib.batch) and the logics' ``processBatch`` for Slicer's console.

``--resume``, Ctrl-C / SIGTERM, bad rows and exit codes are checked with the modules' runs replaced by a quick
stand-in; the folder mode on copies of the bundled DICOM samples. The bundled samples run as a batch, the Dask path
and the logics' processBatch are in test_batch_samples.py.
"""

import csv
import dataclasses
import importlib
import importlib.util
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from AngioReconLib.samples import sampleFiles as angioFiles
from clihelpers import readRows, run, writeManifest
from EchoReconLib.samples import cineFiles
from EchoReconLib.samples import sampleFiles as echoFiles
from FemurRegistrationLib.samples import sampleFiles as femurFiles
from ReconCoreLib import batch, batchfolders, commands, models, modules, postrun
from ReconCoreLib.readouts import Readouts
from ReconCoreLib.signals import Terminated
from ReconCoreLib.storage import RESULT_MARKER

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTED = importlib.util.find_spec("distributed") is not None




# -- the modules' runs replaced by a quick stand-in (no torch, no model) -------------------------------------------


@pytest.fixture
def standInRuns(monkeypatch):
    """Each case "runs" in a moment: readouts.json with one number; ``raising[case] = error`` makes a case raise.
    Returns (names of the cases run, in order; raising)."""
    calls, raising = [], {}
    realEntry = modules.moduleEntry

    def runCase(case, directory, device, progress):
        name = Path(directory).name.split(".partial-")[0].lstrip(".")
        calls.append(name)
        progress(0.5, "halfway")
        (Path(directory) / "half-written.txt").write_text("a case writes its files here")
        if name in raising:
            raise raising[name]
        readouts = Readouts("AngioRecon", device=device, values={"vessel_volume_mm3": 100.0 + len(calls)})
        readouts.set("inference_s", 0.25)
        readouts.warn("a warning; and another")
        readouts.writeJson(Path(directory) / "readouts.json")
        return readouts

    monkeypatch.setattr(modules, "moduleEntry", lambda name: dataclasses.replace(realEntry(name), runCase=runCase))
    monkeypatch.setattr(commands, "requireBundledModel", lambda name: None)
    monkeypatch.setattr(models, "requireRuntimePackages", lambda: None)
    monkeypatch.setattr(postrun, "finishCase", lambda *arguments, **options: [])
    return calls, raising


def angioRow(name, tree="left"):
    files = angioFiles("AngioLeft")
    return (name, "angio", shlex.join([str(files["view1"]), str(files["view2"]), "--tree", tree]))


def assertNothingLeft(out, *names):
    for name in names:
        assert not (out / name).exists()
    assert [item.name for item in out.iterdir() if ".partial-" in item.name or item.name.endswith(".lock")] == []


def test_failures_do_not_stop_the_batch_and_say_what_the_single_command_says(standInRuns, tmp_path, capsys):
    calls, raising = standInRuns
    raising["bad"] = ValueError("view1.dcm: PositionerPrimaryAngle is missing")
    raising["bug"] = RuntimeError("boom")
    manifest = writeManifest(tmp_path / "cases.csv", [angioRow("first"), angioRow("bad"), angioRow("bug"),
                                                      ("nofile", "angio", "gone.dcm other.dcm --tree left"),
                                                      angioRow("last")])
    out = tmp_path / "out"
    status, stdout, err = run(capsys, ["batch", manifest, "--out", out, "--device", "cpu"])
    assert status == commands.EXIT_BAD_INPUT
    rows = readRows(out)
    assert list(rows) == ["first", "bad", "bug", "nofile", "last"]  # the manifest's order
    assert calls == ["first", "bad", "bug", "last"]
    assert {name: row["status"] for name, row in rows.items()} == {
        "first": "done", "bad": "failed", "bug": "failed", "nofile": "failed", "last": "done"}
    assert rows["bad"]["message"] == "error: view1.dcm: PositionerPrimaryAngle is missing"
    assert rows["bug"]["message"].startswith("internal error (RuntimeError: boom); nothing was written")
    assert rows["first"]["vessel_volume_mm3"] == "101.0" and rows["first"]["inference_s"] == "0.25"
    assert rows["first"]["warnings"] == "a warning; and another" and rows["first"]["device"] == "cpu"
    assert rows["first"]["folder"] == str(out / "first") and rows["bad"]["folder"] == ""
    assert (out / "first" / RESULT_MARKER).is_file() and (out / "last" / "readouts.json").is_file()
    assertNothingLeft(out, "bad", "bug", "nofile")
    assert "3 failed" in stdout and "2 done" in stdout
    assert "recon2d3d batch: bad: error: view1.dcm: PositionerPrimaryAngle is missing" in err.splitlines()
    # a row's message is the single command's line without its "recon2d3d angio: " prefix
    single, _, singleErr = run(capsys, ["angio", *shlex.split(rows["nofile"]["arguments"]), "--out", tmp_path / "one"])
    assert single == commands.EXIT_BAD_INPUT
    assert singleErr.strip() == f"recon2d3d angio: {rows['nofile']['message']}".replace(
        str(tmp_path / "gone.dcm"), "gone.dcm")


def test_bad_rows_are_failed_cases_not_a_crashed_batch(standInRuns, tmp_path, capsys):
    calls, _ = standInRuns
    view1, view2 = (str(angioFiles("AngioLeft")[key]) for key in ("view1", "view2"))
    manifest = writeManifest(tmp_path / "cases.csv", [
        angioRow("good"),
        ("nomodule", "lung", "a.dcm"),
        ("quotes", "angio", f'"{view1} {view2} --tree left'),
        ("out", "angio", f"{view1} {view2} --tree left --out elsewhere"),
        ("good", "angio", f"{view1} {view2} --tree left"),  # the name again
        ("GOOD", "angio", f"{view1} {view2} --tree left"),  # again, in other letters
        ("../up", "angio", f"{view1} {view2} --tree left"),
        ("option", "angio", f"{view1} {view2} --tree left --bogus"),
        ("notree", "angio", f"{view1} {view2}"),
        ("help", "angio", "--help"),
        ("#commented", "angio", "not a case"),
    ])
    out = tmp_path / "out"
    status, _, err = run(capsys, ["batch", manifest, "--out", out, "--quiet"])
    assert status == commands.EXIT_BAD_INPUT and calls == ["good"]
    with open(out / batch.RESULTS_FILE, newline="") as stream:
        rows = list(csv.DictReader(stream))
    messages = {row["case"]: row["message"] for row in rows if row["status"] == "failed"}
    assert [row["case"] for row in rows] == ["good", "nomodule", "quotes", "out", "good", "GOOD", "../up", "option",
                                             "notree", "help"]
    assert rows[0]["status"] == "done" and len(messages) == 9  # the second "good" is failed
    assert "module 'lung' is not one of angio, femur, echo" in messages["nomodule"]
    assert "No closing quotation" in messages["quotes"]
    assert "--out is not allowed in a batch row" in messages["out"]
    assert "case name 'GOOD' is used by cases.csv line 2" in messages["GOOD"]
    assert "cannot name its folder" in messages["../up"]
    assert "unrecognized arguments: --bogus" in messages["option"]
    assert messages["notree"] == "error: --tree is required: which coronary was injected, left or right"
    assert "asks for help" in messages["help"]
    assert all(message.startswith("error: ") for message in messages.values())
    assert not (tmp_path / "up").exists() and "Traceback" not in err


def test_manifest_problems_and_out_folders_are_one_line_errors(standInRuns, tmp_path, capsys):
    noColumn = writeManifest(tmp_path / "nocolumn.csv", [("a", "angio")], header="case,module")
    status, _, err = run(capsys, ["batch", noColumn, "--out", tmp_path / "out"])
    assert status == commands.EXIT_BAD_INPUT and len(err.splitlines()) == 1
    assert "lacks the column(s) arguments" in err
    empty = writeManifest(tmp_path / "empty.csv", [])
    status, _, err = run(capsys, ["batch", empty, "--out", tmp_path / "out"])
    assert status == commands.EXIT_BAD_INPUT and "has no cases" in err
    busy = tmp_path / "desktop"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    manifest = writeManifest(tmp_path / "cases.csv", [angioRow("a")])
    status, _, err = run(capsys, ["batch", manifest, "--out", busy])
    assert status == commands.EXIT_BAD_INPUT and "holds other files" in err and sorted(busy.iterdir()) == [
        busy / "notes.txt"]
    status, _, err = run(capsys, ["batch", manifest, "--out", tmp_path / "o", "--workers", "0"])
    assert status == commands.EXIT_BAD_INPUT and "--workers must be at least 1" in err


def test_relative_paths_are_read_from_the_manifest_folder_and_row_options_hold(tmp_path):
    study = tmp_path / "study"
    angio, femur = angioFiles("AngioLeft"), femurFiles("FemurOrthogonal")
    study.mkdir()
    for source in (angio["view1"], angio["view2"], femur["ap"], femur["lat"], femur["apMask"]):
        shutil.copy(source, study / source.name)
    echo = echoFiles("EchoNormal")["ED"]
    cases = [batch.BatchCase("a", "angio", "study/AngioLeft-view1.dcm study/AngioLeft-view2.dcm --tree left "
                             "--keep-implausible --device cpu --no-dicom-out", tmp_path),
             batch.BatchCase("f", "femur", "study/FemurOrthogonal-ap.dcm study/FemurOrthogonal-lat.dcm "
                             "--ap-mask study/FemurOrthogonal-ap-mask.png --side right", tmp_path),
             batch.BatchCase("e", "echo", "--ed " + " ".join(f"{view}={path}" for view, path in echo.items()),
                             tmp_path)]
    tasks = [batch.prepareTask(case, tmp_path / "out", device="auto", dicomOut=True) for case in cases]
    assert tasks[0].case.view1 == study / "AngioLeft-view1.dcm" and tasks[0].case.tree == "left"
    assert (tasks[0].device, tasks[0].keepImplausible, tasks[0].dicomOut) == ("cpu", True, False)
    assert tasks[0].folder == str(tmp_path / "out" / "a") and tasks[0].moduleName == "AngioRecon"
    assert tasks[1].case.apMask == study / "FemurOrthogonal-ap-mask.png" and tasks[1].case.side == "right"
    assert (tasks[1].device, tasks[1].keepImplausible, tasks[1].dicomOut) == ("auto", False, True)
    assert tasks[2].case.endDiastole == echo  # absolute paths stay as they are
    relativeEcho = batch.BatchCase("e2", "echo", f"--ed A4C=study/a4c.png@3 A2C={echo['A2C']}", tmp_path)
    args = batch.parseCaseArguments(relativeEcho)
    assert args.ed == [f"A4C={tmp_path / 'study' / 'a4c.png'}@3", f"A2C={echo['A2C']}"]


def test_resume_skips_finished_cases_and_runs_the_others(standInRuns, tmp_path, capsys):
    calls, raising = standInRuns
    raising["b"] = ValueError("bad view")
    manifest = writeManifest(tmp_path / "cases.csv", [angioRow("a"), angioRow("b"), angioRow("c")])
    out = tmp_path / "out"
    assert run(capsys, ["batch", manifest, "--out", out, "--quiet"])[0] == commands.EXIT_BAD_INPUT
    first = readRows(out)
    marker = (out / "a" / RESULT_MARKER).stat().st_mtime_ns
    raising.clear()
    calls.clear()
    status, stdout, _ = run(capsys, ["batch", manifest, "--out", out, "--resume"])
    assert status == 0 and calls == ["b"]  # only the failed case ran again
    rows = readRows(out)
    assert [rows[name]["status"] for name in "abc"] == ["skipped", "done", "skipped"]
    for name in "ac":
        assert {key: value for key, value in rows[name].items() if key not in ("status", "message")} == {
            key: value for key, value in first[name].items() if key not in ("status", "message")}
        assert "--resume" in rows[name]["message"]
    assert (out / "a" / RESULT_MARKER).stat().st_mtime_ns == marker
    assert "2 skipped" in stdout
    # again: nothing runs; a changed row, a removed folder and a run without --resume run again
    calls.clear()
    assert run(capsys, ["batch", manifest, "--out", out, "--resume", "--quiet"])[0] == 0 and calls == []
    shutil.rmtree(out / "c")
    writeManifest(manifest, [angioRow("a", tree="right"), angioRow("b"), angioRow("c")])
    assert run(capsys, ["batch", manifest, "--out", out, "--resume", "--quiet"])[0] == 0
    assert calls == ["a", "c"] and readRows(out)["b"]["status"] == "skipped"
    calls.clear()
    assert run(capsys, ["batch", manifest, "--out", out, "--quiet"])[0] == 0 and calls == ["a", "b", "c"]
    assert {row["status"] for row in readRows(out).values()} == {"done"}


@pytest.mark.parametrize("signal, status", [(KeyboardInterrupt(), commands.EXIT_CANCELLED),
                                            (Terminated(), commands.EXIT_TERMINATED)])
def test_an_interrupted_batch_keeps_the_finished_rows_and_leaves_nothing_of_the_running_case(
        standInRuns, tmp_path, capsys, signal, status):
    calls, raising = standInRuns
    raising["b"] = signal
    manifest = writeManifest(tmp_path / "cases.csv", [angioRow("a"), angioRow("b"), angioRow("c")])
    out = tmp_path / "out"
    code, _, err = run(capsys, ["batch", manifest, "--out", out])
    assert code == status and calls == ["a", "b"]
    assert list(readRows(out)) == ["a"] and (out / "a" / "readouts.json").is_file()
    assertNothingLeft(out, "b", "c")
    assert len(err.strip().splitlines()) == 1 and "1 finished case(s)" in err and "--resume" in err
    calls.clear()
    raising.clear()
    assert run(capsys, ["batch", manifest, "--out", out, "--resume", "--quiet"])[0] == 0 and calls == ["b", "c"]


def test_without_dask_the_dask_scheduler_option_is_a_one_line_error(standInRuns, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # as when it is not installed
    manifest = writeManifest(tmp_path / "cases.csv", [angioRow("a")])
    status, _, err = run(capsys, ["batch", manifest, "--out", tmp_path / "out", "--dask-scheduler", "tcp://x:8786"])
    assert status == commands.EXIT_NO_RUNTIME and len(err.splitlines()) == 1
    assert "--dask-scheduler needs dask.distributed" in err and "recon2d3d[cluster]" in err
    status, _, err = run(capsys, ["batch", manifest, "--out", tmp_path / "out", "--dask-scheduler", "tcp://x:8786",
                                  "--workers", "2"])
    assert status == commands.EXIT_BAD_INPUT and "--workers is for this machine" in err


# -- the folder mode ------------------------------------------------------------------------------------------------


def copyDicom(source, target, **attributes):
    import pydicom

    dataset = pydicom.dcmread(source)
    for keyword, value in attributes.items():
        setattr(dataset, keyword, value)
    target.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(target)
    return target


def studyFolder(tmp_path):
    """Copies of the bundled DICOM samples, the two views of each case in one study as an acquisition has them (the
    samples give each view a study of its own), and an angio pair whose descriptions name no tree."""
    import pydicom

    folder = tmp_path / "dicom"
    expected = {}
    for name in ("AngioLeft", "AngioRight"):
        files = angioFiles(name)
        study = pydicom.dcmread(files["view1"], stop_before_pixels=True).StudyInstanceUID
        copies = [copyDicom(files[key], folder / name / f"run{index}", StudyInstanceUID=study)  # no .dcm suffix
                  for index, key in enumerate(("view2", "view1"))]
        expected[f"{name}-angio"] = ("angio", [str(copies[0]), str(copies[1]), "--tree",
                                               "left" if name == "AngioLeft" else "right"])
    for name in ("FemurOrthogonal", "FemurOblique"):
        files = femurFiles(name)
        study = pydicom.dcmread(files["ap"], stop_before_pixels=True).StudyInstanceUID
        lat = copyDicom(files["lat"], folder / "hips" / f"{name}-a.dcm", StudyInstanceUID=study)
        ap = copyDicom(files["ap"], folder / "hips" / f"{name}-b.dcm", StudyInstanceUID=study)
        expected[f"{name}-femur"] = ("femur", [str(ap), str(lat)])
    anonymous = [copyDicom(angioFiles("AngioLeft")[key], folder / "anon" / f"{key}.dcm", PatientID="Anon",
                           StudyInstanceUID="1.2.3.4", SeriesDescription="coronary run") for key in ("view1", "view2")]
    shutil.copy(echoFiles("EchoNormal")["ED"]["A4C"], folder / "a4c.png")  # not DICOM: noted, not used
    (folder / "echo").mkdir()
    cines = {view: shutil.copy(path, folder / "echo" / path.name)  # SeriesDescription names each view
             for view, path in cineFiles("EchoNormalCine").items()}
    expected["EchoNormal-echo"] = ("echo", ["--cine", *(f"{view}={path}" for view, path in cines.items())])
    return folder, expected, anonymous


def test_folder_mode_pairs_the_bundled_dicom_samples_from_their_headers(tmp_path):
    folder, expected, anonymous = studyFolder(tmp_path)
    cases, notes = batchfolders.discoverCases(folder)
    found = {case.name: case for case in cases}
    assert set(found) == set(expected) | {"Anon-angio"}
    for name, (command, tokens) in expected.items():
        assert found[name].command == command and shlex.split(found[name].arguments) == tokens, name
        assert found[name].problem == ""
    assert shlex.split(found["Anon-angio"].arguments) == [str(path) for path in anonymous]
    assert "--tree left or right" in found["Anon-angio"].problem and "manifest" in found["Anon-angio"].problem
    assert any("1 non-DICOM file(s) not used" in note for note in notes), notes


def test_folder_mode_reads_the_tree_and_the_view_from_the_labels():
    assert batchfolders._treeOf("LCA RAO 30 CAU 25") == "left" and batchfolders._treeOf("RIGHT CORONARY") == "right"
    assert batchfolders._treeOf("LEFT ANTERIOR OBLIQUE 45, RCA") == "right"  # the C-arm angle names no tree
    assert batchfolders._treeOf("CORONARY RUN 3") is None and batchfolders._treeOf("LCA AND RCA") is None
    image = batchfolders._Image(Path("x"), "DX", "1", "p", (), "", viewPosition="", primaryAngle=-88.0)
    assert batchfolders._femurView(image) == "lat"
    assert batchfolders._femurView(dataclasses.replace(image, primaryAngle=10.0)) == "ap"
    assert batchfolders._femurView(dataclasses.replace(image, primaryAngle=45.0)) is None
    assert batchfolders._femurView(dataclasses.replace(image, primaryAngle=-170.0)) == "ap"  # a PA
    assert batchfolders._femurView(dataclasses.replace(image, primaryAngle=140.0)) is None
    assert batchfolders._femurView(dataclasses.replace(image, viewPosition="PA", primaryAngle=90.0)) == "ap"
    echo = dataclasses.replace(image, modality="US", labels="APICAL A4C END SYSTOLE ES")
    assert batchfolders._echoLabels(echo) == ("A4C", "ES")
    assert batchfolders._echoLabels(dataclasses.replace(echo, labels="SAXM")) == ("SAXM", "ED")


def test_folder_mode_pairs_femur_views_by_the_side_the_run_reads(tmp_path):
    """The side is grouped by the femur run's own rule (dicomvalues.sideOf): a lateral whose side is named only in its
    SeriesDescription pairs with the AP coded L; a view of both hips (B) says no side."""
    files = femurFiles("FemurOblique")  # a left femur, both views coded ImageLaterality L
    lat = copyDicom(files["lat"], tmp_path / "hip" / "lat.dcm", ImageLaterality="", SeriesDescription="LEFT HIP LAT")
    ap = copyDicom(files["ap"], tmp_path / "hip" / "ap.dcm")
    cases, _ = batchfolders.discoverCases(tmp_path / "hip")
    assert [(case.command, shlex.split(case.arguments), case.problem) for case in cases] == [
        ("femur", [str(ap), str(lat)], "")]
    copyDicom(files["lat"], lat, ImageLaterality="B", SeriesDescription="PELVIS AND HIPS", BodyPartExamined="HIP")
    cases, _ = batchfolders.discoverCases(tmp_path / "hip")
    assert len(cases) == 2 and all("1 AP and 0 lateral" in case.problem or "0 AP and 1 lateral" in case.problem
                                   for case in cases)


def test_folder_mode_writes_the_cases_found_and_fails_the_ones_it_cannot_make(tmp_path, capsys):
    folder, _, anonymous = studyFolder(tmp_path)
    for item in folder.iterdir():
        if item.name != "anon":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    out = tmp_path / "out"
    status, _, err = run(capsys, ["batch", folder, "--out", out, "--quiet"])
    assert status == commands.EXIT_BAD_INPUT
    row = readRows(out)["Anon-angio"]
    assert row["status"] == "failed" and "--tree left or right" in row["message"]
    cases = batch.readManifest(out / batch.DISCOVERED_FILE)  # a manifest to edit: add --tree, run it
    assert [(case.name, case.command, shlex.split(case.arguments)) for case in cases] == [
        ("Anon-angio", "angio", [str(path) for path in anonymous])]


def test_a_folder_without_dicom_files_asks_for_a_manifest(tmp_path, capsys):
    folder = tmp_path / "pictures"  # the echo samples' PNG views with their JSON sidecars
    folder.mkdir()
    for path in echoFiles("EchoNormal")["ED"].values():
        shutil.copy(path, folder), shutil.copy(path.with_suffix(".json"), folder)
    status, _, err = run(capsys, ["batch", folder, "--out", tmp_path / "out"])
    assert status == commands.EXIT_BAD_INPUT and len(err.splitlines()) == 1
    assert "no DICOM XA/RF, DX/CR or US files found" in err and "CSV manifest" in err

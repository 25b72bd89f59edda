"""``recon2d3d batch`` on the bundled samples of every module plus one broken case (run once with ``--workers 2``),
compared with single ``recon2d3d angio|femur|echo`` runs of the same cases; ``--resume`` on it; the Dask path on a
LocalCluster (skipped without dask.distributed); the logics' ``processBatch`` for Slicer's console."""

import csv
import dataclasses
import importlib.util
import json
import shlex
import shutil
import sys
import types
from pathlib import Path

import pytest

from AngioReconLib.samples import sampleFiles as angioFiles
from clihelpers import caseArguments, quietly, readRows, writeManifest
from ReconCoreLib import batch, batchcases, commands, modules
from ReconCoreLib.readouts import Readouts
from ReconCoreLib.storage import RESULT_MARKER

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTED = importlib.util.find_spec("distributed") is not None


# -- the bundled samples of every module, run as a batch and one by one ------------------------------------------


@pytest.fixture(scope="module")
def sampleBatch(tmp_path_factory):
    """Every module's sample cases plus a broken one (a damaged DICOM view), as a manifest with paths relative to
    its folder where the files lie there; run once with --workers 2, and each case once with its own subcommand."""
    folder = tmp_path_factory.mktemp("samplebatch")
    (folder / "angio").mkdir()
    for key in ("view1", "view2"):
        shutil.copy(angioFiles("AngioLeft")[key], folder / "angio")
    (folder / "angio" / "damaged.dcm").write_bytes(angioFiles("AngioRight")["view1"].read_bytes()[:3000])
    rows = []
    for entry in modules.moduleEntries():
        for name, case in entry.sampleCases().items():
            if name == "AngioLeft":
                case = dataclasses.replace(case, view1=folder / "angio" / case.view1.name,
                                           view2=folder / "angio" / case.view2.name)
            rows.append((name, entry.command, caseArguments(entry.command, case, folder)))
    rows.append(("broken", "angio", f"angio/damaged.dcm {shlex.quote(str(angioFiles('AngioRight')['view2']))} "
                                    "--tree right"))
    manifest = writeManifest(folder / "manifest.csv", rows)
    out = folder / "out"
    status, stdout, err = quietly(["batch", manifest, "--out", out, "--workers", "2", "--device", "cpu"])
    singles = {}
    for name, command, arguments in rows:
        tokens = [token if Path(token).is_absolute() or "=" in token or not (folder / token).exists()
                  else str(folder / token) for token in shlex.split(arguments)]
        singles[name] = quietly([command, *tokens, "--out", folder / "single" / name, "--device", "cpu", "--quiet"])
    return types.SimpleNamespace(folder=folder, manifest=manifest, out=out, status=status, stdout=stdout, err=err,
                                 rows=readRows(out), singles=singles, names=[row[0] for row in rows])


def withoutTimings(readouts):
    return {key: value for key, value in readouts.items() if not key.endswith("_s")}


def assertSameReadouts(first, second, name):
    """The same readouts but the timings; numbers equal to 1e-6 relative: torch's CPU sums depend on its thread count
    (the workers run cores // workers threads each, this process 2), which moves EchoRecon's volumes in the 9th
    digit."""
    first, second = withoutTimings(first), withoutTimings(second)
    assert set(first) == set(second), name
    for key, value in first.items():
        expected = (pytest.approx(value, rel=1e-6, abs=1e-9) if isinstance(value, float) else value)
        assert second[key] == expected, (name, key)


def dicomStudyFolder(folder: Path) -> Path:
    """A folder of DICOM files as a PACS export gives them: the AngioRecon and FemurRegistration samples (DICOM XA and
    DX, one study per patient), EchoNormal's twelve views as DICOM US (one study, the view and phase in each
    SeriesDescription), and one broken case: an XA pair naming its tree whose second view's header disagrees with
    its pixel data."""
    import pydicom
    import SimpleITK as sitk

    from EchoReconLib.samples import sampleFiles as echoFiles
    from FemurRegistrationLib.samples import sampleFiles as femurFiles
    from test_echo_gates import writeEchoDicom

    folder.mkdir(parents=True)
    for name in ("AngioLeft", "AngioRight"):
        for key in ("view1", "view2"):
            dataset = pydicom.dcmread(angioFiles(name)[key])
            dataset.SeriesDescription = f"{'LCA' if name == 'AngioLeft' else 'RCA'} {dataset.SeriesDescription}"
            dataset.save_as(folder / f"{name}-{key}.dcm")
    for name in ("FemurOrthogonal", "FemurOblique"):
        for key in ("ap", "lat"):
            shutil.copy(femurFiles(name)[key], folder / f"{name}-{key}.dcm")
    for phase, views in echoFiles("EchoNormal").items():
        for view, png in views.items():
            spacing = json.loads(png.with_suffix(".json").read_text())["PixelSpacing"][0]
            writeEchoDicom(folder / f"echo-{phase}-{view}.dcm", sitk.GetArrayFromImage(sitk.ReadImage(str(png))),
                           spacing, StudyInstanceUID="1.2.826.0.1.3680043.8.498.77", PatientID="EchoNormal",
                           SeriesInstanceUID=pydicom.uid.generate_uid(entropy_srcs=[phase, view]),
                           SeriesDescription=f"{view} {phase}")
    for key in ("view1", "view2"):
        dataset = pydicom.dcmread(angioFiles("AngioLeft")[key])
        dataset.PatientID, dataset.StudyInstanceUID, dataset.SeriesDescription = "Broken", "1.2.3.4.5", "LCA run"
        if key == "view2":
            dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7  # the data are 16-bit
        dataset.save_as(folder / f"broken-{key}.dcm")
    return folder


@pytest.mark.torch
def test_a_folder_of_dicom_files_of_every_module_gives_each_case_as_its_single_command(sampleBatch, tmp_path):
    """The issue's check: a folder with every module's samples plus one broken case; one failed row, every other
    case as its single command gives it (readouts.json compared), a summary picture in each case's folder. The angio
    cases' single runs are the sample batch's (the same images and options); the femur cases (no masks here) and the
    echo case (DICOM here) run again."""
    folder = dicomStudyFolder(tmp_path / "dicom")
    out = tmp_path / "out"
    status, _, err = quietly(["batch", folder, "--out", out, "--device", "cpu", "--quiet"])
    assert status == commands.EXIT_BAD_INPUT, err
    rows = readRows(out)
    assert sorted(rows) == ["AngioLeft-angio", "AngioRight-angio", "Broken-angio", "EchoNormal-echo",
                            "FemurOblique-femur", "FemurOrthogonal-femur"]
    assert {name for name, row in rows.items() if row["status"] == "failed"} == {"Broken-angio"}
    assert "broken-view2.dcm: the pixel data hold" in rows["Broken-angio"]["message"]
    for case in batch.readManifest(out / batch.DISCOVERED_FILE):
        if case.name == "Broken-angio":
            continue
        sample = case.name.rsplit("-", 1)[0]
        single = sampleBatch.folder / "single" / sample
        if case.command != "angio":
            single = tmp_path / "single" / case.name
            result = quietly([case.command, *shlex.split(case.arguments), "--out", single, "--device", "cpu",
                              "--quiet"])
            assert result[0] == 0, (case.name, result[2])
        assertSameReadouts(json.loads((single / "readouts.json").read_text()),
                           json.loads((out / case.name / "readouts.json").read_text()), case.name)
        assert (out / case.name / "summary.png").is_file()
        expectDicom = importlib.util.find_spec("highdicom") is not None
        assert (out / case.name / "seg.dcm").is_file() == expectDicom, case.name


@pytest.mark.torch
def test_sample_batch_fails_the_broken_case_only_and_matches_single_runs(sampleBatch):
    rows = sampleBatch.rows
    assert sampleBatch.status == commands.EXIT_BAD_INPUT, sampleBatch.err
    assert list(rows) == sampleBatch.names and len(rows) == 9
    assert [name for name, row in rows.items() if row["status"] == "failed"] == ["broken"]
    status, _, err = sampleBatch.singles["broken"]
    assert status == commands.EXIT_BAD_INPUT and err.strip() == f"recon2d3d angio: {rows['broken']['message']}"
    for name in sampleBatch.names[:-1]:
        assert rows[name]["status"] == "done", rows[name]
        assert sampleBatch.singles[name][0] == 0, sampleBatch.singles[name]
        inBatch = json.loads((sampleBatch.out / name / "readouts.json").read_text())
        single = json.loads((sampleBatch.folder / "single" / name / "readouts.json").read_text())
        assertSameReadouts(inBatch, single, name)
        assert sorted(path.name for path in (sampleBatch.out / name).iterdir()) == sorted(
            path.name for path in (sampleBatch.folder / "single" / name).iterdir())
        for key, value in inBatch.items():  # every readout in results.csv, at full precision
            if key != "module":
                assert rows[name][key] == batchcases._cell(value), (name, key)
        assert rows[name]["folder"] == str(sampleBatch.out / name)
    assert {"lv_ef_percent", "head_diameter_mm", "vessel_volume_mm3"} <= set(next(iter(rows.values())))


@pytest.mark.torch
def test_sample_batch_resume_runs_only_the_failed_case(sampleBatch):
    before = sampleBatch.rows
    markers = {name: (sampleBatch.out / name / RESULT_MARKER).stat().st_mtime_ns for name in sampleBatch.names[:-1]}
    status, stdout, err = quietly(["batch", sampleBatch.manifest, "--out", sampleBatch.out, "--resume",
                                   "--device", "cpu"])
    assert status == commands.EXIT_BAD_INPUT
    rows = readRows(sampleBatch.out)
    assert [rows[name]["status"] for name in sampleBatch.names] == ["skipped"] * 8 + ["failed"]
    for name in sampleBatch.names[:-1]:
        assert (sampleBatch.out / name / RESULT_MARKER).stat().st_mtime_ns == markers[name]
        assert {key: value for key, value in rows[name].items() if key not in ("status", "message")} == {
            key: value for key, value in before[name].items() if key not in ("status", "message")}
    assert rows["broken"]["message"] == before["broken"]["message"]
    assert "8 skipped" in stdout


@pytest.mark.torch
@pytest.mark.skipif(not DISTRIBUTED, reason="dask.distributed is not installed (pip install 'recon2d3d[cluster]')")
def test_dask_gives_the_same_results_as_the_local_run(sampleBatch, tmp_path):
    from dask.distributed import LocalCluster

    names = ["AngioRight", "FemurOrthogonal", "EchoNormal", "broken"]
    with open(sampleBatch.manifest, newline="") as stream:
        rows = [row for row in csv.DictReader(stream) if row["case"] in names]
    manifest = writeManifest(sampleBatch.folder / "dask.csv", [(row["case"], row["module"], row["arguments"])
                                                               for row in rows])
    out = tmp_path / "dask"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        status, stdout, err = quietly(["batch", manifest, "--out", out, "--dask-scheduler", cluster.scheduler_address,
                                       "--device", "cpu"])
    assert status == commands.EXIT_BAD_INPUT, err
    onDask = readRows(out)
    assert list(onDask) == names
    for name in names:
        local, remote = sampleBatch.rows[name], onDask[name]
        assert (remote["status"], remote["message"], remote["arguments"]) == (
            local["status"], local["message"], local["arguments"]), name
        if name != "broken":
            assert remote["folder"] == str(out / name)
            assertSameReadouts(json.loads((sampleBatch.out / name / "readouts.json").read_text()),
                               json.loads((out / name / "readouts.json").read_text()), name)
            assert {key for key, value in remote.items() if value} == {key for key, value in local.items() if value}


# -- Slicer's console: the logics' processBatch ----------------------------------------------------------------------


@pytest.fixture
def slicerModules(monkeypatch):
    """Imports a module file (or ReconCoreSlicer) as Slicer does, against the stand-ins of slicerstandins.py; the
    stand-ins and what was imported with them are gone after the test."""
    import slicer

    from slicerstandins import App, standInModules

    recorded = {}
    for name, module in standInModules(recorded).items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(slicer, "app", App(recorded), raising=False)
    for name in ("i18n", "ScriptedLoadableModule", "parameterNodeWrapper"):
        monkeypatch.setattr(slicer, name, sys.modules[f"slicer.{name}"], raising=False)
    before = set(sys.modules)

    def load(name, folder=None):
        for path in ("ReconCore", folder or name):
            monkeypatch.syspath_prepend(str(ROOT / path))
        return importlib.import_module(name)

    yield load
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("ReconCoreSlicer", "AngioRecon", "FemurRegistration", "EchoRecon", "ReconCore"):
            sys.modules.pop(name)


def test_process_batch_runs_every_case_and_reports_each_failure(slicerModules, scene):
    logicModule = slicerModules("ReconCoreSlicer.logic", "ReconCore")
    from ReconCoreLib import runtime

    class StandInLogic(logicModule.ReconLogicBase):
        OUTPUTS = {"outputTable": ("vtkMRMLTableNode", "StandInReadouts")}

        def process(self, size, progressCallback=None, abortFlag=None, outputTable=None):
            if size <= 0:
                raise ValueError(f"size must be positive, got {size}")

            def pipeline(scene, progress, size, outputTable):
                progress(0.5, "measuring")
                readouts = Readouts("StandIn", values={"size_mm": float(size), "count": 3})
                readouts.warn("made up")
                readouts.toTableNode(scene, node=outputTable)

            return self.runPipeline(pipeline, {"outputTable": outputTable}, progressCallback, abortFlag, size=size)

    logic = StandInLogic(scene)
    reported = []
    results = logic.processBatch([{"name": "one", "size": 2.5}, {"size": -1}, {"size": 4, "colour": "red"},
                                  {"size": 7}], progressCallback=lambda fraction, message: reported.append(
                                      (fraction, message)))
    assert [result["status"] for result in results] == ["done", "failed", "failed", "done"]
    assert [result["name"] for result in results] == ["one", "case 2", "case 3", "case 4"]
    assert results[0]["readouts"] == {"size_mm": 2.5, "count": 3, "module": "StandIn", "version": Readouts(
        "x").version, "model_sha256": "", "device": "cpu", "warnings": ["made up"], "failed_checks": []}
    assert results[1]["error"] == "size must be positive, got -1" and results[1]["outputs"] == {}
    assert "unexpected keyword argument 'colour'" in results[2]["error"]
    assert results[3]["outputs"]["outputTable"].GetName() != results[0]["outputs"]["outputTable"].GetName()
    assert scene.GetNumberOfNodesByClass("vtkMRMLTableNode") == 2  # the failed cases left no node
    assert (0.125, "one: measuring") in reported and reported[-1] == (1.0, "2 of 4 case(s) done")
    assert [fraction for fraction, _ in reported] == sorted(fraction for fraction, _ in reported)
    assert runtime.rowsFromTableNode(results[0]["outputs"]["outputTable"])[0]["value"] == "2.5"
    calls = []
    cancelled = logic.processBatch([{"size": 1}, {"size": 2}, {"size": 3}],
                                   abortFlag=lambda: calls.append(1) or len(calls) > 2)
    assert [result["status"] for result in cancelled] == ["done", "cancelled", "cancelled"]


@pytest.mark.torch
def test_angio_process_batch_in_the_console_gives_the_commands_readouts(slicerModules, scene, sampleBatch):
    from mrmlhelpers import sampleDataNode

    angio = slicerModules("AngioRecon")
    logic = angio.AngioReconLogic(scene)
    cases = []
    for name, tree in (("AngioLeft", "left"), ("AngioRight", "right")):
        files = angioFiles(name)
        cases.append({"name": name, "view1": sampleDataNode(scene, files["view1"], f"{name} view1"),
                      "view2": sampleDataNode(scene, files["view2"], f"{name} view2"), "tree": tree, "device": "cpu",
                      "geometry1": logic.readGeometry(str(files["view1"])),
                      "geometry2": logic.readGeometry(str(files["view2"]))})
    cases.insert(1, dict(cases[0], name="no tree", tree=None))
    results = logic.processBatch(cases)
    assert [result["status"] for result in results] == ["done", "failed", "done"], results
    assert "tree" in results[1]["error"].lower()
    for result in (results[0], results[2]):
        command = json.loads((sampleBatch.out / result["name"] / "readouts.json").read_text())
        console = result["readouts"]
        measured = [key for key in command if key not in batch.LAST_COLUMNS and key != "module"
                    and not key.endswith("_s")]
        assert set(measured) <= set(console), result["name"]
        for key in measured:  # at full precision, from the table's copy of readouts.json
            expected = command[key]
            assert console[key] == (pytest.approx(expected, rel=1e-6) if isinstance(expected, float) else expected), \
                (result["name"], key)
        assert result["outputs"]["outputModel"].GetPolyData().GetNumberOfPoints() > 0

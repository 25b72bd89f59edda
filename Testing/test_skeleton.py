"""The module skeleton in ReconCoreLib: one progress/cancel helper, one model registry, one entry per module."""

import argparse
from pathlib import Path

import pytest

from ReconCoreLib import models
from ReconCoreLib.conventions import DEVICES
from ReconCoreLib.modules import MODULES, ModuleEntry, existingFile, moduleEntries, moduleEntry
from ReconCoreLib.progress import Progress

# -- progress and cancel -------------------------------------------------------------------------------------------


def test_progress_reports_and_the_abort_flag_is_the_one_way_to_stop():
    reports, stop = [], []
    progress = Progress(lambda fraction, message: reports.append((fraction, message)), lambda: bool(stop))
    progress(0.25, "quarter")
    progress(1.7, "clipped")
    assert reports == [(0.25, "quarter"), (1.0, "clipped")]
    stop.append(True)
    with pytest.raises(InterruptedError):
        progress(0.9, "too late")
    assert reports[-1] == (1.0, "clipped")  # stopped before reporting


def test_progress_parts_map_onto_the_whole_run():
    reports = []
    whole = Progress(lambda fraction, message: reports.append(round(fraction, 6)))
    part = whole.part(0.3, 0.6)
    part(0.0)
    part(0.5)
    part.part(0.5, 1.0)(1.0)
    assert reports == [0.3, 0.45, 0.6]
    assert Progress.of(whole) is whole and Progress.of(None).callback is None
    plain = Progress.of(lambda fraction, message: reports.append("plain"))
    plain(0.1)
    assert reports[-1] == "plain"
    with pytest.raises(ValueError):
        Progress.of(whole, lambda: True)  # one abort flag, on the Progress


# -- the model registry --------------------------------------------------------------------------------------------


@pytest.fixture
def modelFile(tmp_path):
    torch = pytest.importorskip("torch", reason="needs torch: the pass with Slicer's packages runs without it")
    path = tmp_path / "Model.pt"
    torch.jit.script(torch.nn.Linear(2, 1)).save(str(path))
    return path


def test_model_file_hashes_once_per_version_and_loads_once_per_device(modelFile, monkeypatch):
    import torch

    calls = []
    original = models.sha256
    monkeypatch.setattr(models, "sha256", lambda path: calls.append(path) or original(path))
    first, second = models.ModelFile(modelFile), models.ModelFile(str(modelFile))
    digest = first.sha256
    assert digest == second.sha256 == original(modelFile) and len(calls) == 1
    assert first.load("cpu") is second.load("cpu")
    loaded, saved = first.load("cpu"), torch.jit.load(str(modelFile)).eval()
    # on the CPU frozen for inference: the weights folded into the graph, the same outputs
    assert list(loaded.parameters()) == [] and len(list(saved.parameters())) == 2
    inputs = torch.tensor([[0.5, -2.0], [3.0, 1.0]])
    assert torch.allclose(loaded(inputs), saved(inputs))
    with pytest.raises(ValueError, match="checksum mismatch"):
        first.load("cpu", expectedSha256="0" * 64)
    torch.jit.script(torch.nn.Linear(2, 3)).save(str(modelFile))  # replaced on disk: hashed and loaded again
    assert first.sha256 != digest and len(calls) == 2
    assert first.load("cpu")(torch.ones(1, 2)).shape == (1, 3)


def test_require_model_names_what_is_missing(monkeypatch, modelFile):
    monkeypatch.setattr(models, "findBundledModel", lambda name: None)
    with pytest.raises(ValueError, match="AngioRecon: no trained model is bundled yet"):
        models.requireModel("AngioRecon")
    assert models.requireModel("AngioRecon", modelFile).path == modelFile.resolve()
    with pytest.raises(ValueError, match="no such model file"):
        models.ModelFile(modelFile.with_name("missing.pt"))


def test_devices():
    assert DEVICES == ("auto", "cpu", "cuda")
    assert models.resolveDevice("cpu") == "cpu" and models.resolveDevice("AUTO") in ("cpu", "cuda")
    with pytest.raises(ValueError, match="tpu"):
        models.resolveDevice("tpu")


def test_bundled_models_are_found_where_each_module_keeps_them():
    for name in MODULES:
        path = models.findBundledModel(name)
        assert path is None or path == models.modelSearchDirectories(name)[0] / f"{name}.pt"


# -- one entry per module ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODULES)
def test_each_module_has_an_entry_with_its_arguments_and_sample_cases(name):
    entry = moduleEntry(name)
    assert isinstance(entry, ModuleEntry) and entry.moduleName == name
    parser = argparse.ArgumentParser()
    entry.addArguments(parser)
    cases = entry.sampleCases()
    # EchoRecon: two patients and a cine case; FemurRegistration: two hips and a hip-centred pair
    assert len(cases) == {"EchoRecon": 3, "FemurRegistration": 3}.get(name, 2)
    for case in cases.values():  # typed cases whose files exist
        paths = [value for value in vars(case).values() if isinstance(value, Path)]
        paths += [path for value in vars(case).values() if isinstance(value, dict) for path in value.values()
                  if isinstance(path, Path)]
        assert paths and all(path.is_file() for path in paths), case


def test_entries_are_the_command_lines_subcommands_in_demo_order():
    from ReconCoreLib.cli import buildParser

    assert [entry.command for entry in moduleEntries()] == ["angio", "femur", "echo"]
    parser = buildParser()
    args = parser.parse_args(["femur", "ap.dcm", "lat.dcm", "--out", "x", "--side", "left"])
    assert args.entry is moduleEntry("FemurRegistration") and args.side == "left"


def test_case_from_arguments_is_typed_and_reads_nothing(tmp_path):
    from AngioReconLib.entry import AngioCase, caseFromArguments
    from ReconCoreLib.cli import buildParser

    view1, view2 = tmp_path / "a.dcm", tmp_path / "b.dcm"
    view1.write_text("not read yet")
    view2.write_text("not read yet")
    args = buildParser().parse_args(["angio", str(view1), str(view2), "--tree", "left", "--out", "x", "--frame2", "2"])
    assert caseFromArguments(args) == AngioCase(view1, view2, "left", None, None, None, 2)
    assert existingFile(None) is None
    with pytest.raises(ValueError, match="--mask1: .*missing.png: no such file"):
        existingFile(tmp_path / "missing.png", "--mask1")

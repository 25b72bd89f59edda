"""The training harness (ReconCoreDev.training) and the three retraining commands, a few steps each.

The retraining commands run here on a handful of generated cases for a few seconds: the point is that each
command still goes from data to an exported TorchScript file that loads and runs, not how good that file is (the
model cards measure the bundled models).
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch: the pass with Slicer's packages runs without it")

from ReconCoreDev.training import TrainingRun, exportTorchScript, saveAtomically, writeModelCard


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def test_run_counts_steps_logs_saves_and_resumes(tmp_path, capsys):
    torch.manual_seed(0)
    model = Tiny()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    run = TrainingRun(tmp_path / "work", minutes=0.0, device="cpu")
    assert run.resume({"model": model, "optimizer": optimizer}, samples=0) is False  # no checkpoint yet
    assert run.state == {"step": 0, "seconds": 0.0, "log": [], "samples": 0}
    run.budgetSeconds = 3600.0
    rates = []
    for fraction in run.steps():
        rates.append(run.cosineRate(optimizer, 0.1, fraction))
        model(torch.ones(1, 3)).sum().backward()
        optimizer.step()
        run.log({"loss": 1.0})
        if run.step == 3:
            run.budgetSeconds = 0.0  # spent: the loop ends after this step
    assert run.step == 3 and [entry["step"] for entry in run.state["log"]] == [1, 2, 3]
    assert all(0.005 < rate <= 0.1 for rate in rates)
    assert json.loads(capsys.readouterr().out.splitlines()[0])["loss"] == 1.0
    assert run.finish() is True
    assert (tmp_path / "work" / "checkpoint.pt").is_file()
    assert not list((tmp_path / "work").glob("*.partial"))  # written atomically

    other, otherOptimizer = Tiny(), torch.optim.Adam(Tiny().parameters(), lr=0.1)
    resumed = TrainingRun(tmp_path / "work", minutes=1.0, device="cpu")
    assert resumed.resume({"model": other, "optimizer": otherOptimizer}) is True
    assert resumed.step == 3 and len(resumed.state["log"]) == 3
    assert torch.equal(other.linear.weight, model.linear.weight)
    assert otherOptimizer.state_dict()["state"][0]["step"] == 3


def test_cosine_rate_runs_from_the_base_to_the_floor():
    optimizer = torch.optim.SGD(Tiny().parameters(), lr=1.0)
    assert TrainingRun.cosineRate(optimizer, 2.0, 0.0) == pytest.approx(2.0)
    assert TrainingRun.cosineRate(optimizer, 2.0, 0.5) == pytest.approx(2.0 * (0.05 + 0.95 * 0.5))
    assert TrainingRun.cosineRate(optimizer, 2.0, 1.0) == pytest.approx(0.1)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


def test_checkpoints_are_written_on_time_with_the_hook_first(tmp_path):
    calls = []
    run = TrainingRun(tmp_path, minutes=1.0, device="cpu", checkpointSeconds=0.0, onCheckpoint=lambda: calls.append(1))
    run.resume({"model": Tiny()})
    for _ in run.steps():
        if run.step == 2:
            run.budgetSeconds = 0.0
    assert len(calls) == 2 and (tmp_path / "checkpoint.pt").is_file()


def test_export_checks_the_saved_file_against_the_eager_model(tmp_path):
    model = Tiny().eval()
    example = (torch.ones(2, 3),)
    path = exportTorchScript(torch.jit.script(model), tmp_path / "model.pt", model, example, {"meta.json": "{}"})
    extra = {"meta.json": ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    assert torch.allclose(loaded(*example), model(*example)) and json.loads(extra["meta.json"]) == {}
    other = Tiny()  # not the module that was scripted: the check must refuse it
    with pytest.raises(RuntimeError, match="differs"):
        exportTorchScript(torch.jit.script(model), tmp_path / "wrong.pt", other, example)
    assert not (tmp_path / "wrong.pt").exists() and not list(tmp_path.glob("*.partial"))


def test_atomic_writes_leave_nothing_on_failure(tmp_path):
    def failing(path):
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        saveAtomically(failing, tmp_path / "card.md")
    assert list(tmp_path.iterdir()) == []
    assert writeModelCard(tmp_path / "card.md", "# card\n").read_text() == "# card\n"


# -- the retraining commands, a few steps each ---------------------------------------------------------------


def loadsAndRuns(path, *inputs):
    from ReconCoreLib.models import floatWeights

    model = floatWeights(torch.jit.load(str(path), map_location="cpu"))  # as ModelFile.load does
    with torch.no_grad():
        return model(*inputs)


def test_angio_retraining_command(tmp_path):
    from AngioReconDev import train

    export = tmp_path / "AngioRecon.pt"
    train.main(["--work", str(tmp_path / "work"), "--cases", "2", "--held-out-cases", "1", "--minutes", "0.02",
                "--batch", "1", "--workers", "1", "--device", "cpu", "--export", str(export)])
    metrics = json.loads((tmp_path / "work" / "metrics.json").read_text())
    assert metrics["steps"] >= 1 and metrics["cases"] == 1 and 0.0 <= metrics["dice_3d"] <= 1.0
    card = export.with_suffix(".md").read_text()
    assert "Written by `python -m AngioReconDev.train`" in card and f"{metrics['steps']} generator steps" in card
    output = loadsAndRuns(export, torch.rand(1, 2, 128, 128), torch.rand(1, 2, 3, 4), torch.zeros(1))
    assert output.shape == (1, 1, 64, 64, 64)
    # the file holds the weights, not the 64^3 voxel grid (3.1 MB, made when the model runs): the history keeps it
    weights = sum(value.numel() * 4 for value in torch.jit.load(str(export)).state_dict().values())
    assert weights < 1.5e6 and export.stat().st_size < weights + 0.2e6


def test_femur_retraining_command(tmp_path):
    from FemurRegistrationDev import dataset, train
    from FemurRegistrationLib.conventions import IMAGE_SIZE

    work = tmp_path / "work"
    dataset.loadOrMakeCase(0, work)  # what the generator process beside training writes
    export = tmp_path / "FemurRegistration.pt"
    train.main(["--work", str(work), "--minutes", "0.02", "--batch", "1", "--threads", "1", "--device", "cpu",
                "--cases", "0", "--export", str(export)])
    state = torch.load(work / "checkpoint.pt", weights_only=False)["state"]
    assert state["step"] >= 1
    affine, displacement, inverse = loadsAndRuns(export, torch.rand(1, 2, IMAGE_SIZE, IMAGE_SIZE),
                                                 torch.ones(1, 2, IMAGE_SIZE, IMAGE_SIZE), torch.rand(1, 2, 14))
    assert affine.shape == (1, 4, 4) and displacement.shape == inverse.shape == (1, 3, 40, 28, 32)


def test_echo_retraining_command(tmp_path):
    from EchoReconDev import train
    from EchoReconLib.template import HeartTemplate

    work = tmp_path / "work"
    export = tmp_path / "EchoRecon.pt"
    train.main(["--work", str(work), "--cases", "2", "--held-out-cases", "1", "--minutes", "0.02", "--patients", "1",
                "--device", "cpu", "--export", str(export)])
    summary = json.loads((work / "training.json").read_text())
    assert summary["steps"] >= 1 and summary["training_patients"] == 2
    displacement, logits = loadsAndRuns(export, torch.rand(1, 6, 128, 128))
    assert displacement.shape == (1, HeartTemplate.load().numberOfVertices, 3) and logits.shape == (1, 6, 7, 128, 128)
    assert np.isfinite(displacement.numpy()).all()
    # stage 3: another run's shards (--data), its own checkpoint and training.json, view dropout, from the export
    views = tmp_path / "views"
    train.main(["--work", str(views), "--data", str(work), "--no-generate", "--minutes", "0.02", "--patients", "1",
                "--device", "cpu", "--view-dropout", "1", "--init", str(export), "--export", str(tmp_path / "v.pt")])
    stage = json.loads((views / "training.json").read_text())
    assert stage["history"][0]["view_dropout"] == 1 and stage["history"][0]["init"] == str(export)
    assert json.loads((work / "training.json").read_text()) == summary and (views / "checkpoint.pt").is_file()


def test_half_weights_halve_the_file_and_load_as_float32(tmp_path):
    from ReconCoreLib.models import ModelFile

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.Tanh(), torch.nn.Linear(256, 3)).eval()
    model.register_buffer("templateMm", torch.tensor([123.456789, -0.001234]))  # buffers keep their precision
    inputs = (torch.rand(4, 64),)
    full = exportTorchScript(torch.jit.trace(model, inputs), tmp_path / "full.pt", model, inputs)
    half = exportTorchScript(torch.jit.trace(model, inputs), tmp_path / "half.pt", model, inputs, tolerance=1e-2,
                             halfWeights=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    assert {p.dtype for p in torch.jit.load(str(half)).parameters()} == {torch.float16}
    loaded = ModelFile(half).load("cpu")  # the runtime's loader computes in float32
    with torch.no_grad():
        output = loaded(*inputs)
        expected = model(*inputs)
    assert output.dtype == torch.float32 and torch.allclose(output, expected, atol=1e-2)
    assert torch.equal(torch.jit.load(str(half)).templateMm, model.templateMm)
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # the eager model is left as it was
    with pytest.raises(RuntimeError, match="differs"):  # the check runs on the halved file, at its tolerance
        exportTorchScript(torch.jit.trace(model, inputs), tmp_path / "strict.pt", model, inputs, tolerance=1e-7,
                          halfWeights=True)

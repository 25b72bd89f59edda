"""FemurRegistration end to end: the command line, the Slicer entry point, the sample data, the bundled model and
its held-out evaluation (the stand-in model and its fixtures: ``femurhelpers.py``, conftest.py).
"""

import json

import numpy as np
import pytest

from femurhelpers import BUNDLED_MODEL, DICOM_OUTPUT_FILES, OUTPUT_FILES, READOUT_KEYS
from FemurRegistrationLib import outputs, radiographs
from FemurRegistrationLib.samples import SAMPLE_DIRECTORY, SAMPLE_SHA256, SAMPLES, sampleFiles
from ReconCoreLib import runtime, storage
from ReconCoreLib.xrayio import readMaskImage, readXrayImage

try:  # the registration is torch code; without torch the tests that run it skip through their fixtures
    from FemurRegistrationLib import pipeline, refine
except ModuleNotFoundError as error:
    if error.name != "torch":
        raise


def test_command_line_writes_every_output(fixedModel, tmp_path, capsys, monkeypatch):
    from ReconCoreLib.cli import main

    monkeypatch.setattr(refine, "REFINE_STEPS", 2)  # --refine wiring, not its effect (see the refinement test)
    files = sampleFiles("FemurOblique")
    out = tmp_path / "case"
    status = main(["femur", str(files["ap"]), str(files["lat"]), "--out", str(out), "--ap-mask",
                   str(files["apMask"]), "--lat-mask", str(files["latMask"]), "--reference", str(files["reference"]),
                   "--refine", "--device", "cpu", "--quiet"])
    assert status == 0, capsys.readouterr().err
    assert sorted(item.name for item in out.iterdir()) == sorted(OUTPUT_FILES + DICOM_OUTPUT_FILES)
    readouts = json.loads((out / "readouts.json").read_text())
    assert readouts["module"] == "FemurRegistration" and readouts["device"] == "cpu"
    assert readouts["side"] == "left" and readouts["side_source"] == "DICOM ImageLaterality"
    assert readouts["refine_steps"] == 2 and readouts["refine_s"] > 0
    assert READOUT_KEYS | {"dice", "jaccard", "assd_mm", "hd95_mm"} <= set(readouts)
    assert len(readouts["model_sha256"]) == 64
    scene = runtime.newHeadlessScene()
    volume = storage.loadNode(scene, out / "volume.nrrd")
    assert np.allclose(volume.GetSpacing(), [1, 1, 1])
    grid = storage.loadNode(scene, out / "transform.h5", "vtkMRMLGridTransformNode")
    displacement, gridIjkToRas = runtime.displacementFromGridTransformNode(grid)
    assert displacement.shape == (40, 28, 32, 3) and np.allclose(np.abs(np.diag(gridIjkToRas))[:3], 4.0)
    landmarks, labels = runtime.pointsFromMarkupsNode(storage.loadNode(scene, out / "landmarks.mrk.json"))
    assert labels[0] == "head centre" and landmarks.shape == (7, 3)
    bundle = storage.loadScene(out / "scene.mrb")
    assert bundle.GetNodesByClass("vtkMRMLSegmentationNode").GetNumberOfItems() >= 3  # femur + two outlines


def test_command_line_bad_input_leaves_nothing(fixedModel, tmp_path, capsys):
    import pydicom

    from ReconCoreLib.cli import main

    files = sampleFiles("FemurOrthogonal")
    dataset = pydicom.dcmread(files["lat"])
    del dataset.DistanceSourceToPatient
    broken = tmp_path / "broken.dcm"
    dataset.save_as(broken)
    out = tmp_path / "out"
    assert main(["femur", str(files["ap"]), str(broken), "--out", str(out), "--quiet"]) == 2
    assert "DistanceSourceToPatient" in capsys.readouterr().err
    near = tmp_path / "near.dcm"
    dataset = pydicom.dcmread(files["ap"])
    dataset.PositionerPrimaryAngle = "20"
    dataset.save_as(near)
    assert main(["femur", str(files["ap"]), str(near), "--out", str(out), "--quiet"]) == 2
    assert "deg apart" in capsys.readouterr().err
    small = tmp_path / "small.png"
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(np.full((10, 10), 255, np.uint8)), str(small))
    assert main(["femur", str(files["ap"]), str(files["lat"]), "--out", str(out), "--ap-mask", str(small),
                 "--quiet"]) == 2
    assert "differ in size" in capsys.readouterr().err
    assert not out.exists()
    assert sorted(item.name for item in tmp_path.iterdir()) == ["broken.dcm", "near.dcm", "small.png"]


def test_slicer_entry_point_fills_given_nodes(fixedModel, scene):
    """What FemurRegistrationLogic.process calls: volume nodes, segmentation masks, reference -> given nodes."""
    files = sampleFiles("FemurOrthogonal")
    radiographNodes, viewGeometries, masks = [], [], []
    for key in ("ap", "lat"):
        view = readXrayImage(files[key])
        node = runtime.volumeNodeFromArray(scene, view.pixels[None], view.geometry.imageIjkToRas(), key)
        radiographNodes.append(node)
        viewGeometries.append(view.geometry)
        masks.append(runtime.segmentationNodeFromLabelmap(
            scene, readMaskImage(files[key + "Mask"])[None] > 0, view.geometry.imageIjkToRas(),
            {1: ("femur", (1.0, 1.0, 1.0))}, f"{key} mask", closedSurface=False))
    label, ijkToRas = outputs.readReference(scene, files["reference"])
    reference = runtime.segmentationNodeFromLabelmap(scene, label, ijkToRas, {1: ("femur", (1.0, 1.0, 1.0))},
                                                     "reference", closedSurface=False)
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", "my readouts")
    transform = scene.AddNewNodeByClass("vtkMRMLTransformNode", "my transform")
    nodes = pipeline.run(scene, *radiographNodes, *viewGeometries, apMask=masks[0], latMask=masks[1],
                         reference=reference, side="right", device="cpu", outputTable=table, outputTransform=transform)
    assert nodes["outputTable"] is table and nodes["outputTransform"] is transform
    assert transform.GetTransformToParent() is not None
    values = {row["readout"]: row["value"] for row in runtime.rowsFromTableNode(table)}
    assert {"dice", "hd95_mm", "ncc_ap", "neck_shaft_angle_deg"} <= set(values) and "anteversion_deg" not in values
    assert {"readout": "warning", "value": pipeline.ANTEVERSION_NOT_REPORTED} in [
        {key: row[key] for key in ("readout", "value")} for row in runtime.rowsFromTableNode(table)]
    assert not any(row["readout"] == "warning" and "mask" in row["value"] for row in runtime.rowsFromTableNode(table))
    outline, outlineIjkToRas, _ = runtime.labelmapFromSegmentation(nodes["outputApOutline"], radiographNodes[0])
    assert outline.shape == (1, 512, 512) and outline.any()
    assert np.allclose(outlineIjkToRas, viewGeometries[0].imageIjkToRas())


@pytest.mark.torch  # the sample writer simulates with torch
def test_sample_data_files_and_truth():
    from FemurRegistrationDev.samples import SAMPLE_VIEWS, sampleGeometry, samplePixelMm
    from ReconCoreLib.models import sha256

    assert set(SAMPLE_SHA256) == {path.name for path in SAMPLE_DIRECTORY.iterdir()}
    for fileName, digest in SAMPLE_SHA256.items():
        assert sha256(SAMPLE_DIRECTORY / fileName) == digest, fileName
    total = sum(path.stat().st_size for path in SAMPLE_DIRECTORY.iterdir())
    assert total < 4_000_000
    assert set(SAMPLE_VIEWS) == set(SAMPLES)
    for name, side in SAMPLES.items():
        files = sampleFiles(name)
        seed, *parameters = SAMPLE_VIEWS[name]
        assert seed >= 2_000_000
        for key, view in zip(("ap", "lat"), parameters):
            image = readXrayImage(files[key])
            assert image.modality == "DX" and image.pixels.shape == (512, 512)
            assert image.geometry == sampleGeometry(*view, samplePixelMm(name))
            assert radiographs.lateralityOfFile(files[key]) == side
        truth = json.loads(files["truth"].read_text())
        assert truth["side"] == side and 35 < truth["head_diameter_mm"] < 60
        assert 100 < truth["neck_shaft_angle_deg"] < 150
        label, ijkToRas = outputs.readReference(runtime.newHeadlessScene(), files["reference"])
        assert label.sum() > 100_000 and np.allclose(np.abs(np.diag(ijkToRas))[:3], 1.0)
        head = np.linalg.inv(ijkToRas) @ np.append(truth["head_centre_ras"], 1.0)
        assert label[tuple(np.round(head[2::-1]).astype(int))]  # the true head centre lies inside the femur


@pytest.mark.torch
@pytest.mark.skipif(not BUNDLED_MODEL.is_file(), reason="no bundled FemurRegistration model")
def test_bundled_model_on_the_sample_cases():
    """Regression check of the bundled network: sample radiographs with their masks -> Dice, hip measurements."""
    for name in SAMPLES:
        files = sampleFiles(name)
        scene = runtime.newHeadlessScene()
        result = pipeline.registerFemur(readXrayImage(files["ap"]), readXrayImage(files["lat"]),
                                        readMaskImage(files["apMask"]), readMaskImage(files["latMask"]),
                                        radiographs.resolveSide(None, [files["ap"]]), "cpu",
                                        reference=outputs.readReference(scene, files["reference"]))
        readouts = result.readouts.toDict()
        truth = json.loads(files["truth"].read_text())
        print(name, {key: round(readouts[key], 3) for key in ("dice", "assd_mm", "ncc_ap", "ncc_lat")},
              {key: (round(readouts[key], 1), truth[key]) for key in pipeline.HIP_READOUTS if key in readouts})
        # measured 0.841 / 0.858 / 0.751: with the head on the central ray the femur lies far from where the
        # training phantoms put it; the box goes on the femur (56 mm), but the network alone is weaker there (model
        # card, positions; with --refine this sample reaches 0.926, and 0.920 from its DICOM files alone)
        minimum = 0.7 if name == "FemurHipCentred" else 0.8
        assert readouts["dice"] > minimum and readouts["min_jacobian"] > 0, (name, readouts)
        assert abs(readouts["head_diameter_mm"] - truth["head_diameter_mm"]) < 5


@pytest.mark.torch
@pytest.mark.skipif(not BUNDLED_MODEL.is_file(), reason="no bundled FemurRegistration model")
def test_held_out_evaluation_in_worker_processes(tmp_path):
    """`evaluate --processes 2` gives the rows one process gives; the figures are sane for the bundled model."""
    from FemurRegistrationDev import dataset, evaluate

    summary = evaluate.evaluateModel(BUNDLED_MODEL, 2, tmp_path, progress=False, processes=2)
    assert summary["cases"] == 2 and sorted(path.name for path in (tmp_path / "cases").glob("*.npz")) == [
        "1000000.npz", "1000001.npz"]  # the held-out seeds, cached in the work folder
    evaluate._startWorker(str(BUNDLED_MODEL), 2)
    rows = [evaluate._evaluateSeed(dataset.HELD_OUT_SEED_OFFSET + index, tmp_path) for index in range(2)]
    for name in evaluate.SETTINGS:
        values = summary[name]
        assert values["dice"] == pytest.approx(np.mean([row[name]["dice"] for row in rows]), abs=1e-3)
        assert values["folded_cases"] == 0 and values["min_jacobian"] > 0
        assert values["identity_dice"] < values["affine_dice"] <= 1.0 and 0.0 < values["assd_mm"] < values["hd95_mm"]
        assert all(np.isfinite(values[key + "_error"]) for key in evaluate.HIP_KEYS)
    # the refinement's figures come beside the network's, for the same radiographs
    seed = dataset.HELD_OUT_SEED_OFFSET
    case = dataset.loadOrMakeCase(seed, tmp_path)
    refined = evaluate.evaluateCase(evaluate._WORKER["model"], evaluate._WORKER["atlas"], evaluate._WORKER["shapeModel"],
                                    case, "orthogonal", 0.0, np.random.default_rng([seed, 3, 0]), refine=True)
    assert refined["dice"] == pytest.approx(rows[0]["orthogonal"]["dice"], abs=1e-6)
    assert refined["refine_s"] > 0 and refined["refined_dice"] > refined["dice"] - 0.02
    # the card is written from the saved summaries, with the refinement's table when one was measured
    refineSummary = {name: refined for name in evaluate.SETTINGS}  # one measured row stands for every setting
    from types import SimpleNamespace

    card = evaluate.writeModelCard(summary, SimpleNamespace(work=tmp_path), BUNDLED_MODEL, tmp_path / "card.md",
                                   refineSummary={"cases": 1, **refineSummary}).read_text()
    assert f"| orthogonal | {summary['orthogonal']['dice']:.3f} +- " in card
    assert f"{refined['dice']:.3f} -> {refined['refined_dice']:.3f}" in card and "## Test-time refinement" in card

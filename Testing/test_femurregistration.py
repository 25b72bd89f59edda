"""FemurRegistration pipeline: virtual detector, masks, side and mirroring, outputs in patient space, readouts,
bad input, command line, sample data.

Most tests run a TorchScript stand-in with the network's interface that returns a known registration (a
similarity and a constant displacement with its exact inverse), on radiographs simulated from the atlas moved by
that same registration: the expected outputs are then known by hand (landmarks, Dice 1, outlines on the masks).
One test runs an untrained network built and traced here, so the real model interface is exercised without
depending on training; the bundled model, when present, is checked on the sample cases.
"""

import json
import shutil

import numpy as np
import pytest
import torch

from FemurRegistrationLib import inference, network, pipeline
from FemurRegistrationLib.dataset import projectVolume, relativeAttenuation
from ReconCoreLib import runtime
from ReconCoreLib.xraygeometry import LPS_TO_RAS, CArmGeometry
from ReconCoreLib.xrayio import XrayImage, readXrayImage, writeXrayDicom

BUNDLED_MODEL = pipeline.SAMPLE_DIRECTORY.parent / "Models" / "FemurRegistration.pt"
OUTPUT_FILES = ["volume.nrrd", "segmentation.seg.nrrd", "model.vtk", "transform.h5", "landmarks.mrk.json",
                "readouts.json", "scene.mrb"]
READOUT_KEYS = {"side", "view_separation_deg", "inference_s", "ncc_ap", "ncc_lat", "min_jacobian",
                "femur_volume_mm3", "head_diameter_mm", "neck_shaft_angle_deg", "femoral_offset_mm",
                "anteversion_deg"}
#: The known registration of the stand-in: similarity parameters (network units) and a constant displacement (mm).
SIMILARITY = [[0.3, -0.2, 0.5, 0.3, -0.2, 0.4, 0.05]]
SHIFT_MM = (1.5, -1.0, 2.0)
DETECTOR = 128  # simulated radiographs: 128 x 128 pixels of 1.6 mm (205 mm, like a 512 x 0.4 mm detector)


class FixedRegistration(torch.nn.Module):
    """Stand-in with the network's TorchScript interface returning one known registration."""

    def __init__(self, affine: np.ndarray, displacement: np.ndarray):
        super().__init__()
        self.register_buffer("affine", torch.as_tensor(affine, dtype=torch.float32))
        self.register_buffer("displacement", torch.as_tensor(displacement, dtype=torch.float32))

    def forward(self, images: torch.Tensor, masks: torch.Tensor, views: torch.Tensor):
        batch = images.shape[0]
        shape = [batch] + list(self.displacement.shape)
        return (self.affine[None].expand(batch, 4, 4), self.displacement[None].expand(shape),
                -self.displacement[None].expand(shape))


@pytest.fixture(scope="session")
def atlasFile(tmp_path_factory):
    """The bundled atlas, or one built here (the shape model's mean femur) when it is not bundled yet."""
    if inference.defaultAtlasPath().is_file():
        return inference.defaultAtlasPath()
    path = tmp_path_factory.mktemp("atlas") / "FemurAtlas.npz"
    inference.writeAtlas(path)
    return path


@pytest.fixture(scope="session")
def atlas(atlasFile):
    return pipeline.loadAtlas(atlasFile)


@pytest.fixture(scope="session")
def knownRegistration(atlas):
    centre = torch.as_tensor(pipeline._atlasHeadCentre(atlas), dtype=torch.float32)
    affine = network.similarityMatrix(torch.tensor(SIMILARITY), centre)[0].double().numpy()
    _, shape = inference.boxGrid(inference.FIELD_SPACING_MM)
    displacement = np.broadcast_to(np.array(SHIFT_MM, np.float32)[:, None, None, None], (3, *shape)).copy()
    return inference.Registration(affine, displacement, -displacement)


@pytest.fixture(scope="session")
def fixedModelFile(tmp_path_factory, atlasFile, knownRegistration):
    folder = tmp_path_factory.mktemp("fixed-model")
    torch.jit.script(FixedRegistration(knownRegistration.affine, knownRegistration.displacement)).save(
        str(folder / "FemurRegistration.pt"))
    shutil.copy(atlasFile, folder / "FemurAtlas.npz")
    return folder / "FemurRegistration.pt"


@pytest.fixture
def fixedModel(fixedModelFile, monkeypatch):
    monkeypatch.setattr("ReconCoreLib.models.findBundledModel",
                        lambda name: fixedModelFile if name == "FemurRegistration" else None)
    return fixedModelFile


def geometries(side="right", primaries=(0.0, -90.0)):
    sign = -1.0 if side == "left" else 1.0
    return [CArmGeometry(sign * primary, 0.0, 1000.0, 925.0, (1.6, 1.6), DETECTOR, DETECTOR) for primary in primaries]


@pytest.fixture(scope="session")
def knownCase(atlas, knownRegistration):
    """The atlas moved by the known registration (right femur), and the same case mirrored (left femur).

    The radiographs are DRRs of the femur alone, so the registered femur's DRRs match them (NCC ~ 1).
    """
    hu, label = inference.warpAtlas(atlas, knownRegistration)
    ijkToLps, _ = inference.boxGrid(inference.ATLAS_SPACING_MM)
    cases = {}
    for side in ("right", "left"):
        volumeHu, volumeLabel, matrix = hu, label, ijkToLps
        if side == "left":
            volumeHu, volumeLabel = hu[..., ::-1].copy(), label[..., ::-1].copy()
            matrix = pipeline.mirrorIjkToLps(ijkToLps, hu.shape)
        views = geometries(side)
        images = projectVolume(relativeAttenuation(volumeHu) * volumeLabel, matrix, views)  # femur only
        masks = projectVolume(volumeLabel.astype(np.float32), matrix, views, "max") > 0.5
        cases[side] = {"views": [XrayImage(image, view, f"{side} {index}") for index, (image, view) in
                                 enumerate(zip(images, views))], "masks": list(masks), "label": volumeLabel,
                       "ijkToRas": LPS_TO_RAS @ matrix}
    return cases


@pytest.fixture(scope="session")
def knownResults(knownCase, fixedModelFile):
    results = {}
    for side, case in knownCase.items():
        results[side] = pipeline.registerFemur(*case["views"], *case["masks"], side=side, device="cpu",
                                               reference=(case["label"], case["ijkToRas"]), modelPath=fixedModelFile)
    return results


# -- virtual detector, mirroring, masks, side ---------------------------------------------------------------


def blob(geometry, pointLps, sigmaPx=5.0):
    column, row = geometry.projectLps([pointLps])[0]
    rows, columns = np.mgrid[0:geometry.rows, 0:geometry.columns]
    return np.exp(-((columns - column) ** 2 + (rows - row) ** 2) / (2 * sigmaPx ** 2)).astype(np.float32)


def centroid(image):
    weights = np.clip(image - 0.2 * image.max(), 0, None)
    rows, columns = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    return np.array([(weights * columns).sum(), (weights * rows).sum()]) / weights.sum()


def test_virtual_detector_resampling_matches_hand_computed_projection():
    # AP view, SID 1000, SOD 925: a point at depth 0 is magnified 1000/925 on the detector.
    ap = CArmGeometry(0.0, 0.0, 1000.0, 925.0, (0.4, 0.4), 512, 512)
    point = np.array([10.0, 0.0, 20.0])  # LPS: 10 mm to the patient's left, 20 mm up
    virtual = pipeline.virtualDetector(ap)
    assert (virtual.rows, virtual.columns, virtual.pixelSpacingMm) == (96, 96, (2.03, 2.03))
    resampled = pipeline.resampleToDetector(blob(ap, point, 12.0), ap, virtual)
    magnified = np.array([10.0, -20.0]) * 1000.0 / 925.0 / 2.03  # columns to the left, rows down
    assert np.allclose(centroid(resampled), 47.5 + magnified, atol=0.05)
    # An oblique view with anisotropic pixels and another SID: the blob lands where the point projects.
    oblique = CArmGeometry(25.0, -10.0, 1100.0, 800.0, (0.3, 0.35), 700, 600)
    point = np.array([-30.0, 15.0, 40.0])
    virtual = pipeline.virtualDetector(oblique)
    resampled = pipeline.resampleToDetector(blob(oblique, point, 15.0), oblique, virtual)
    assert np.allclose(centroid(resampled), virtual.projectLps([point])[0], atol=0.1)
    # Outside the original image the virtual detector reads 0; a constant image stays constant inside it.
    small = CArmGeometry(0.0, 0.0, 1000.0, 925.0, (0.2, 0.2), 400, 400)  # 80 mm wide, the virtual one 195 mm
    constant = pipeline.resampleToDetector(np.full((400, 400), 3.0, np.float32), small, pipeline.virtualDetector(small))
    assert constant[0, 0] == 0.0 and np.allclose(constant[40:56, 40:56], 3.0)


def test_mirror_geometry_flips_the_columns():
    geometry = CArmGeometry(-75.0, 12.0, 1000.0, 925.0, (2.03, 2.03), 96, 96)
    mirrored = inference.mirrorGeometry(geometry)
    points = np.array([[10.0, -20.0, 30.0], [-40.0, 5.0, -15.0]])
    column, row = geometry.projectLps(points).T
    mirroredColumn, mirroredRow = mirrored.projectLps(points * [-1.0, 1.0, 1.0]).T
    assert np.allclose(mirroredColumn, 95.0 - column) and np.allclose(mirroredRow, row)
    matrix = pipeline.mirrorIjkToLps(np.diag([1.0, 1.0, 1.0, 1.0]), (2, 3, 4))
    assert np.allclose(matrix @ [0, 0, 0, 1], [-3, 0, 0, 1]) and np.allclose(matrix @ [3, 2, 1, 1], [0, 2, 1, 1])


def test_mask_proposal_finds_the_bright_bone_and_fills_holes():
    rows, columns = np.mgrid[0:200, 0:160]
    image = np.where(((rows - 100) / 95.0) ** 2 + ((columns - 80) / 75.0) ** 2 < 1, 1.0, 0.0)  # soft tissue
    femur = ((columns > 70) & (columns < 95) & (rows > 60) & (rows < 180)) | ((rows - 55) ** 2 + (columns - 60) ** 2 < 22 ** 2)
    image[femur] = 3.0
    image[120:130, 78:86] = 1.0  # the medullary canal: a hole to fill
    image[20:30, 120:128] = 3.0  # a small bright fragment elsewhere
    image += np.random.default_rng(0).normal(0, 0.05, image.shape)
    proposal = pipeline.proposeFemurMask(image)
    assert proposal.dtype == np.uint8
    dice = 2 * (proposal.astype(bool) & femur).sum() / (proposal.sum() + femur.sum())
    assert dice > 0.95 and proposal[125, 82] == 1 and proposal[25, 124] == 0
    with pytest.raises(ValueError, match="no bone-like"):
        pipeline.proposeFemurMask(np.zeros((50, 50)) + np.eye(50) * 1e-9)


def test_side_from_dicom_laterality_and_sidecar(tmp_path):
    import pydicom

    geometry = CArmGeometry(0.0, 0.0, 1000.0, 925.0, (0.4, 0.4), 16, 16)
    paths = []
    for name, laterality in (("left.dcm", "L"), ("right.dcm", "R"), ("none.dcm", None)):
        path = writeXrayDicom(tmp_path / name, np.arange(256.0).reshape(16, 16), geometry, "DX", uidSeed=name)
        if laterality:
            dataset = pydicom.dcmread(path)
            dataset.ImageLaterality = laterality
            dataset.save_as(path)
        paths.append(path)
    assert pipeline.resolveSide(None, [paths[0], paths[2]]) == "left"
    assert pipeline.resolveSide("auto", [paths[1]]) == "right"
    assert pipeline.resolveSide(None, [paths[2]]) == "right"  # no laterality: right
    assert pipeline.resolveSide("left", [paths[1]]) == "left"  # given side wins
    with pytest.raises(ValueError, match="disagree"):
        pipeline.resolveSide(None, paths[:2])
    with pytest.raises(ValueError, match="side"):
        pipeline.resolveSide("middle", [])
    image = tmp_path / "view.nrrd"
    image.write_bytes(b"")
    (tmp_path / "view.json").write_text(json.dumps({"ImageLaterality": "L"}))
    assert pipeline.lateralityOfFile(image) == "left"


def sphere(shapeKji, ijkToRas, centreRas, radiusMm):
    k, j, i = np.indices(shapeKji)
    ras = np.stack([i, j, k, np.ones_like(i)], -1) @ np.asarray(ijkToRas).T
    return np.linalg.norm(ras[..., :3] - centreRas, axis=-1) <= radiusMm


def test_reference_comparison_on_the_reference_grid():
    source = np.array([[-1.0, 0, 0, 40], [0, -1.0, 0, 40], [0, 0, 1.0, -40], [0, 0, 0, 1]])  # 1 mm, LPS-like
    shape = (80, 80, 80)
    label = sphere(shape, source, [5.0, -3.0, 10.0], 20.0)
    target = np.array([[0, 1.5, 0, -30], [1.5, 0, 0, -35], [0, 0, -1.5, 45], [0, 0, 0, 1]])  # axes swapped, 1.5 mm
    targetShape = (50, 48, 44)
    truth = sphere(targetShape, target, [5.0, -3.0, 10.0], 20.0)
    resampled = pipeline.resampleLabel(label, source, targetShape, target)
    assert resampled.shape == targetShape
    assert 2 * (resampled & truth).sum() / (resampled.sum() + truth.sum()) > 0.97
    shifted = sphere(targetShape, target, [5.0, -3.0, 13.0], 20.0)  # the reference 3 mm higher
    metrics = pipeline.referenceMetrics(label, source, shifted, target)
    assert set(metrics) == {"dice", "jaccard", "assd_mm", "hd95_mm"}
    assert 0.8 < metrics["dice"] < 0.95 and 2.0 < metrics["hd95_mm"] < 4.0
    with pytest.raises(ValueError, match="empty"):
        pipeline.referenceMetrics(label, source, np.zeros(targetShape), target)


def test_markups_helper_round_trip(scene, tmp_path):
    points = np.array([[1.0, 2.0, 3.0], [-4.5, 5.0, 6.25]])
    node = runtime.markupsNodeFromPoints(scene, points, ["head centre", "greater trochanter"], "landmarks",
                                         ["a", "b"])
    runtime.saveNode(node, tmp_path / "landmarks.mrk.json")
    runtime.saveScene(scene, tmp_path / "scene.mrb")
    loaded = runtime.loadNode(runtime.newHeadlessScene(), tmp_path / "landmarks.mrk.json")
    positions, labels = runtime.pointsFromMarkupsNode(loaded)
    assert np.allclose(positions, points) and labels == ["head centre", "greater trochanter"]
    assert loaded.GetNthControlPointDescription(1) == "b"
    reloaded = runtime.loadScene(tmp_path / "scene.mrb").GetFirstNodeByClass("vtkMRMLMarkupsFiducialNode")
    assert np.allclose(runtime.pointsFromMarkupsNode(reloaded)[0], points)
    with pytest.raises(ValueError):
        runtime.markupsNodeFromPoints(scene, points, ["one"], "bad")


# -- the pipeline on a case with a known answer ---------------------------------------------------------------


def test_outputs_land_in_patient_space(knownResults, knownRegistration, atlas, scene):
    result = knownResults["right"]
    # Warped atlas on the 1 mm crop box, RAS: origin (63.5, 55.5, -79.5), directions (-1, -1, 1).
    assert result.hu.shape == result.label.shape == (160, 112, 128)
    assert np.allclose(result.ijkToRas, np.array([[-1, 0, 0, 63.5], [0, -1, 0, 55.5], [0, 0, 1, -79.5],
                                                  [0, 0, 0, 1.0]]))
    readouts = result.readouts.toDict()
    assert READOUT_KEYS | {"dice", "jaccard", "assd_mm", "hd95_mm"} <= set(readouts)
    assert readouts["dice"] > 0.999 and readouts["hd95_mm"] < 0.01  # the truth is the atlas moved the same way
    assert readouts["min_jacobian"] == pytest.approx(np.linalg.det(knownRegistration.affine[:3, :3]), rel=1e-4)
    assert readouts["ncc_ap"] > 0.99 and readouts["ncc_lat"] > 0.99  # femur-only radiographs: the DRRs match
    assert readouts["side"] == "right" and readouts["view_separation_deg"] == pytest.approx(90.0)
    assert [w for w in readouts["warnings"] if not w.startswith("hip measurements come from the registered atlas")] == []
    # Landmarks by hand: atlas head centre q -> T^-1 q - shift (LPS), then RAS.
    headAtlas = pipeline._atlasHeadCentre(atlas)
    expected = (np.linalg.inv(knownRegistration.affine) @ np.append(headAtlas, 1.0))[:3] - SHIFT_MM
    assert result.landmarkNames[0] == "head centre"
    assert np.allclose(result.landmarksRas[0], expected * [-1, -1, 1], atol=0.05)
    assert len(result.landmarkNames) == 7
    # The outline of the registered femur covers the true femur masks on the radiographs.
    for outline, mask in zip(result.outlines, result.masks):
        assert outline.shape == (DETECTOR, DETECTOR)
        assert 2 * (outline.astype(bool) & (mask > 0)).sum() / (outline.sum() + mask.sum()) > 0.95
    # Scene nodes: volume geometry in RAS, grid transform maps atlas points onto the registered landmarks.
    nodes = pipeline.addToScene(result, scene)
    volume = nodes["outputVolume"]
    assert np.allclose(volume.GetSpacing(), [1, 1, 1]) and np.allclose(volume.GetOrigin(), [63.5, 55.5, -79.5])
    direction = np.zeros((3, 3))
    volume.GetIJKToRASDirections(direction)
    assert np.allclose(direction, np.diag([-1.0, -1.0, 1.0]))
    transform = nodes["outputTransform"].GetTransformToParent()
    moved = transform.TransformPoint(*(headAtlas * [-1, -1, 1]))
    assert np.allclose(moved, result.landmarksRas[0], atol=0.1)
    assert nodes["outputSegmentation"].GetSegmentation().ContainsRepresentation("Closed surface")
    assert nodes["outputModel"].GetPolyData().GetNumberOfPoints() > 1000
    assert runtime.pointsFromMarkupsNode(nodes["outputLandmarks"])[1][0] == "head centre"
    outline, _, _ = runtime.labelmapFromSegmentation(nodes["outputApOutline"])
    assert outline.sum() == result.outlines[0].sum()


def test_left_femur_round_trip_through_the_mirrored_right_femur(knownResults):
    right, left = knownResults["right"], knownResults["left"]
    # The network sees the same right femur: inputs identical, in the right-femur frame.
    for leftView, rightView in zip(left.networkViews, right.networkViews):
        assert np.allclose(leftView.image, rightView.image, atol=1e-3 * np.abs(rightView.image).max())
        assert np.array_equal(leftView.mask, rightView.mask)
        assert leftView.geometry == rightView.geometry
    # Every output comes back mirrored (x -> -x in LPS and in RAS).
    assert np.array_equal(left.label, right.label[..., ::-1])
    assert np.allclose(left.ijkToRas @ [127, 0, 0, 1], LPS_TO_RAS @ [63.5, -55.5, -79.5, 1])
    assert np.allclose(left.landmarksRas, right.landmarksRas * [-1, 1, 1], atol=1e-4)
    for leftOutline, rightOutline in zip(left.outlines, right.outlines):
        assert (leftOutline != rightOutline[:, ::-1]).mean() < 1e-3
    leftReadouts, rightReadouts = left.readouts.toDict(), right.readouts.toDict()
    assert leftReadouts["side"] == "left" and leftReadouts["dice"] > 0.999
    for key in pipeline.HIP_READOUTS + ("min_jacobian", "femur_volume_mm3"):
        assert leftReadouts[key] == pytest.approx(rightReadouts[key], abs=1e-6)
    for key in ("ncc_ap", "ncc_lat"):
        assert leftReadouts[key] == pytest.approx(rightReadouts[key], abs=1e-3)
    # The transform maps the mirrored (left) atlas onto the left patient.
    assert np.allclose(left.transformDisplacementRas[..., 1:], right.transformDisplacementRas[:, :, ::-1, 1:],
                       atol=1e-4)


def test_bad_inputs_are_refused(knownCase, fixedModel):
    views, masks = knownCase["right"]["views"], knownCase["right"]["masks"]
    near = CArmGeometry(-25.0, 0.0, 1000.0, 925.0, (1.6, 1.6), DETECTOR, DETECTOR)  # 25 deg from the AP view
    with pytest.raises(ValueError, match="deg apart"):
        pipeline.registerFemur(views[0], XrayImage(views[1].pixels, near), *masks, device="cpu")
    with pytest.raises(ValueError, match="differ in size"):
        pipeline.registerFemur(*views, masks[0], np.ones((10, 10)), device="cpu")
    with pytest.raises(ValueError, match="empty"):
        pipeline.registerFemur(*views, np.zeros_like(masks[0]), masks[1], device="cpu")
    withNan = masks[0].astype(np.float32)
    withNan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pipeline.registerFemur(*views, withNan, masks[1], device="cpu")
    pixels = views[0].pixels.copy()
    pixels[5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pipeline.registerFemur(XrayImage(pixels, views[0].geometry), views[1], *masks, device="cpu")
    with pytest.raises(ValueError, match="side"):
        pipeline.registerFemur(*views, *masks, side="both", device="cpu")
    outside = np.zeros_like(masks[0])
    outside[0:3, 0:3] = True  # a corner the virtual detector does not see
    with pytest.raises(ValueError, match="field of view"):
        pipeline.registerFemur(*views, outside, masks[1], device="cpu")


def test_progress_and_cancel(knownCase, fixedModel):
    views, masks = knownCase["right"]["views"], knownCase["right"]["masks"]
    calls = []
    with pytest.raises(InterruptedError):
        pipeline.registerFemur(*views, *masks, device="cpu", progressCallback=lambda f, m: calls.append(f),
                               abortFlag=lambda: len(calls) >= 3)
    assert len(calls) == 3 and calls == sorted(calls)
    messages = []  # cancel during the refinement
    with pytest.raises(InterruptedError):
        pipeline.registerFemur(*views, *masks, device="cpu", refine=True,
                               progressCallback=lambda fraction, message: messages.append(message),
                               abortFlag=lambda: f"refinement 2/{pipeline.REFINE_STEPS}" in messages)
    assert messages[-1] == f"refinement 2/{pipeline.REFINE_STEPS}"


def test_warnings_for_oblique_views_and_proposed_masks(knownCase):
    views = knownCase["right"]["views"]
    oblique = CArmGeometry(-45.0, 0.0, 1000.0, 925.0, (1.6, 1.6), DETECTOR, DETECTOR)
    prepared, warnings = pipeline.prepareInputs(views[0], XrayImage(views[1].pixels, oblique), None,
                                                knownCase["right"]["masks"][1])
    warnings = " ".join(warnings)
    assert "45.0 deg apart" in warnings and "outside the views the network was trained on" in warnings
    assert "no AP femur mask" in warnings and [view.maskProposed for view in prepared] == [True, False]
    assert pipeline.prepareInputs(*views, *knownCase["right"]["masks"])[1] == []


def test_refinement_recovers_a_displaced_registration(knownCase, knownRegistration, atlas):
    views, _ = pipeline.prepareInputs(*knownCase["right"]["views"], *knownCase["right"]["masks"])
    shift = np.array([4.0, -3.0, 3.0], np.float32)[:, None, None, None]  # mm, added to the known displacement
    start = inference.Registration(knownRegistration.affine, knownRegistration.displacement + shift,
                                   knownRegistration.inverseDisplacement - shift)
    vertices = atlas["verticesLps"]
    vertices = vertices[np.all(np.abs(vertices) < [60.0, 52.0, 76.0], axis=1)]  # inside the crop box
    truth = inference.warpPoints(vertices, knownRegistration)
    before = np.linalg.norm(inference.warpPoints(vertices, start) - truth, axis=1).mean()
    steps = []
    refined = pipeline.refineRegistration(start, atlas, views, progress=lambda step, total: steps.append(step))
    after = np.linalg.norm(inference.warpPoints(vertices, refined) - truth, axis=1).mean()
    assert before == pytest.approx(np.sqrt(34.0), rel=0.02) and after < 0.5 * before, (before, after)
    assert steps == list(range(1, pipeline.REFINE_STEPS + 1))
    assert inference.minimumJacobian(refined) > 0.5
    # The recomputed inverse is the inverse of the refined map.
    affine, displacement, _, fieldLpsToGrid = refined.tensors()
    patient = torch.as_tensor(inference.warpPoints(vertices, refined), dtype=torch.float32)[None]
    back = network.patientToAtlas(patient, affine, displacement, fieldLpsToGrid)[0].numpy()
    error = np.linalg.norm(back - vertices, axis=1)  # trilinear interpolation of two fields on the 4 mm grid
    assert error.mean() < 0.03 and error.max() < 0.25, (error.mean(), error.max())


# -- command line, sample data ------------------------------------------------------------------------------


def test_command_line_writes_every_output(fixedModel, tmp_path, capsys, monkeypatch):
    from ReconCoreLib.cli import main

    monkeypatch.setattr(pipeline, "REFINE_STEPS", 2)  # --refine wiring, not its effect (see the refinement test)
    files = pipeline.sampleCases()["FemurOblique"]
    out = tmp_path / "case"
    status = main(["femur", str(files["ap"]), str(files["lat"]), "--out", str(out), "--ap-mask",
                   str(files["apMask"]), "--lat-mask", str(files["latMask"]), "--reference", str(files["reference"]),
                   "--refine", "--device", "cpu", "--quiet"])
    assert status == 0, capsys.readouterr().err
    assert sorted(item.name for item in out.iterdir()) == sorted(OUTPUT_FILES)
    readouts = json.loads((out / "readouts.json").read_text())
    assert readouts["module"] == "FemurRegistration" and readouts["device"] == "cpu"
    assert readouts["side"] == "left"  # from the DICOM ImageLaterality
    assert readouts["refine_steps"] == 2 and readouts["refine_s"] > 0
    assert READOUT_KEYS | {"dice", "jaccard", "assd_mm", "hd95_mm"} <= set(readouts)
    assert len(readouts["model_sha256"]) == 64
    scene = runtime.newHeadlessScene()
    volume = runtime.loadNode(scene, out / "volume.nrrd")
    assert np.allclose(volume.GetSpacing(), [1, 1, 1])
    grid = runtime.loadNode(scene, out / "transform.h5", "vtkMRMLGridTransformNode")
    displacement, gridIjkToRas = runtime.displacementFromGridTransformNode(grid)
    assert displacement.shape == (40, 28, 32, 3) and np.allclose(np.abs(np.diag(gridIjkToRas))[:3], 4.0)
    landmarks, labels = runtime.pointsFromMarkupsNode(runtime.loadNode(scene, out / "landmarks.mrk.json"))
    assert labels[0] == "head centre" and landmarks.shape == (7, 3)
    bundle = runtime.loadScene(out / "scene.mrb")
    assert bundle.GetNodesByClass("vtkMRMLSegmentationNode").GetNumberOfItems() >= 3  # femur + two outlines


def test_command_line_bad_input_leaves_nothing(fixedModel, tmp_path, capsys):
    import pydicom

    from ReconCoreLib.cli import main

    files = pipeline.sampleCases()["FemurOrthogonal"]
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
    files = pipeline.sampleCases()["FemurOrthogonal"]
    radiographs, geometries, masks = [], [], []
    for key in ("ap", "lat"):
        view = readXrayImage(files[key])
        node = runtime.volumeNodeFromArray(scene, view.pixels[None], view.geometry.imageIjkToRas(), key)
        radiographs.append(node)
        geometries.append(view.geometry)
        masks.append(runtime.segmentationNodeFromLabelmap(
            scene, pipeline.readMask(files[key + "Mask"])[None] > 0, view.geometry.imageIjkToRas(),
            {1: ("femur", (1.0, 1.0, 1.0))}, f"{key} mask", closedSurface=False))
    label, ijkToRas = pipeline.readReference(scene, files["reference"])
    reference = runtime.segmentationNodeFromLabelmap(scene, label, ijkToRas, {1: ("femur", (1.0, 1.0, 1.0))},
                                                     "reference", closedSurface=False)
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", "my readouts")
    transform = scene.AddNewNodeByClass("vtkMRMLTransformNode", "my transform")
    outputs = pipeline.run(scene, *radiographs, *geometries, apMask=masks[0], latMask=masks[1], reference=reference,
                           side="right", device="cpu", outputTable=table, outputTransform=transform)
    assert outputs["outputTable"] is table and outputs["outputTransform"] is transform
    assert transform.GetTransformToParent() is not None
    values = {row["readout"]: row["value"] for row in runtime.rowsFromTableNode(table)}
    assert {"dice", "hd95_mm", "ncc_ap", "anteversion_deg"} <= set(values)
    assert not any(row["readout"] == "warning" and "mask" in row["value"] for row in runtime.rowsFromTableNode(table))
    outline, outlineIjkToRas, _ = runtime.labelmapFromSegmentation(outputs["outputApOutline"], radiographs[0])
    assert outline.shape == (1, 512, 512) and outline.any()
    assert np.allclose(outlineIjkToRas, geometries[0].imageIjkToRas())


def test_sample_data_files_and_truth():
    from FemurRegistrationLib import samples
    from ReconCoreLib.models import sha256

    assert set(samples.SAMPLE_SHA256) == {path.name for path in pipeline.SAMPLE_DIRECTORY.iterdir()}
    for fileName, digest in samples.SAMPLE_SHA256.items():
        assert sha256(pipeline.SAMPLE_DIRECTORY / fileName) == digest, fileName
    total = sum(path.stat().st_size for path in pipeline.SAMPLE_DIRECTORY.iterdir())
    assert total < 4_000_000
    for name, files in pipeline.sampleCases().items():
        seed, side, *parameters = samples.SAMPLES[name]
        assert seed >= 2_000_000
        for key, view in zip(("ap", "lat"), parameters):
            image = readXrayImage(files[key])
            assert image.modality == "DX" and image.pixels.shape == (512, 512)
            assert image.geometry == samples.sampleGeometry(*view)
            assert pipeline.lateralityOfFile(files[key]) == side
        truth = json.loads(files["truth"].read_text())
        assert truth["side"] == side and 35 < truth["head_diameter_mm"] < 60
        assert 100 < truth["neck_shaft_angle_deg"] < 150
        label, ijkToRas = pipeline.readReference(runtime.newHeadlessScene(), files["reference"])
        assert label.sum() > 100_000 and np.allclose(np.abs(np.diag(ijkToRas))[:3], 1.0)
        head = np.linalg.inv(ijkToRas) @ np.append(truth["head_centre_ras"], 1.0)
        assert label[tuple(np.round(head[2::-1]).astype(int))]  # the true head centre lies inside the femur


@pytest.mark.skipif(not BUNDLED_MODEL.is_file(), reason="no bundled FemurRegistration model")
def test_bundled_model_on_the_sample_cases():
    """Regression check of the bundled network: sample radiographs with their masks -> Dice, hip measurements."""
    for name, files in pipeline.sampleCases().items():
        scene = runtime.newHeadlessScene()
        result = pipeline.registerFemur(readXrayImage(files["ap"]), readXrayImage(files["lat"]),
                                        pipeline.readMask(files["apMask"]), pipeline.readMask(files["latMask"]),
                                        pipeline.resolveSide(None, [files["ap"]]), "cpu",
                                        reference=pipeline.readReference(scene, files["reference"]))
        readouts = result.readouts.toDict()
        truth = json.loads(files["truth"].read_text())
        print(name, {key: round(readouts[key], 3) for key in ("dice", "assd_mm", "ncc_ap", "ncc_lat")},
              {key: (round(readouts[key], 1), truth[key]) for key in pipeline.HIP_READOUTS})
        assert readouts["dice"] > 0.8 and readouts["min_jacobian"] > 0, (name, readouts)
        assert abs(readouts["head_diameter_mm"] - truth["head_diameter_mm"]) < 5


@pytest.mark.skipif(not BUNDLED_MODEL.is_file(), reason="no bundled FemurRegistration model")
def test_held_out_evaluation_in_worker_processes(tmp_path):
    """`evaluate --processes 2` gives the rows one process gives; the figures are sane for the bundled model."""
    from FemurRegistrationLib import dataset, evaluate

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

"""FemurRegistration pipeline: virtual detector, masks, side and mirroring, outputs in patient space, readouts,
bad input, refinement.

Most tests run a TorchScript stand-in with the network's interface that returns a known registration (a
similarity and a constant displacement with its exact inverse; ``femurhelpers.py``, fixtures in conftest.py), on
radiographs simulated from the atlas moved by that same registration: the expected outputs are then known by hand
(landmarks, Dice 1, outlines on the masks). The command line, Slicer entry point, sample data and the bundled model
are tested in test_femur_commandline.py.
"""

import json

import numpy as np
import pytest

from femurhelpers import DETECTOR, ISOCENTER, READOUT_KEYS, SHIFT_MM, blob, centroid
from FemurRegistrationLib import checks, mirroring, outputs, proposal, radiographs
from ReconCoreLib import runtime, storage
from ReconCoreLib.plausibility import keepingImplausible
from ReconCoreLib.progress import Progress
from ReconCoreLib.readouts import Readouts
from ReconCoreLib.xraygeometry import CArmGeometry
from ReconCoreLib.xrayio import XrayImage, writeXrayDicom

try:  # the registration itself is torch code; without torch (the pass with Slicer's packages) the tests that
    # need it skip through their fixtures (conftest.py)
    import torch

    from FemurRegistrationLib import inference, pipeline, refine, transforms
except ModuleNotFoundError as error:
    if error.name != "torch":
        raise


# -- virtual detector, mirroring, masks, side ---------------------------------------------------------------


def test_virtual_detector_resampling_matches_hand_computed_projection():
    from ReconCoreLib.virtualdetector import resampleToDetector

    SIGMA = radiographs.DETECTOR_SIGMA_PIXELS
    # AP view, SID 1000, SOD 925: a point at depth 0 is magnified 1000/925 on the detector.
    ap = CArmGeometry(0.0, 0.0, 1000.0, 925.0, (0.4, 0.4), 512, 512)
    point = np.array([10.0, 0.0, 20.0])  # LPS: 10 mm to the patient's left, 20 mm up
    virtual = radiographs.virtualDetector(ap, ISOCENTER)
    assert (virtual.rows, virtual.columns, virtual.pixelSpacingMm) == (96, 96, (2.03, 2.03))
    resampled = resampleToDetector(blob(ap, point, 12.0), ap, virtual, ISOCENTER, SIGMA)
    magnified = np.array([10.0, -20.0]) * 1000.0 / 925.0 / 2.03  # columns to the left, rows down
    assert np.allclose(centroid(resampled), 47.5 + magnified, atol=0.05)
    # An oblique view with anisotropic pixels and another SID: the blob lands where the point projects.
    oblique = CArmGeometry(25.0, -10.0, 1100.0, 800.0, (0.3, 0.35), 700, 600)
    point = np.array([-30.0, 15.0, 40.0])
    virtual = radiographs.virtualDetector(oblique, ISOCENTER)
    resampled = resampleToDetector(blob(oblique, point, 15.0), oblique, virtual, ISOCENTER, SIGMA)
    assert np.allclose(centroid(resampled), virtual.projectLps([point])[0], atol=0.1)
    # Outside the original image the virtual detector reads 0; a constant image stays constant inside it.
    small = CArmGeometry(0.0, 0.0, 1000.0, 925.0, (0.2, 0.2), 400, 400)  # 80 mm wide, the virtual one 195 mm
    constant = resampleToDetector(np.full((400, 400), 3.0, np.float32), small,
                                  radiographs.virtualDetector(small, ISOCENTER), ISOCENTER, SIGMA)
    assert constant[0, 0] == 0.0 and np.allclose(constant[40:56, 40:56], 3.0)


def test_mirror_geometry_flips_the_columns():
    geometry = CArmGeometry(-75.0, 12.0, 1000.0, 925.0, (2.03, 2.03), 96, 96)
    mirrored = mirroring.mirrorGeometry(geometry)
    points = np.array([[10.0, -20.0, 30.0], [-40.0, 5.0, -15.0]])
    column, row = geometry.projectLps(points).T
    mirroredColumn, mirroredRow = mirrored.projectLps(points * [-1.0, 1.0, 1.0]).T
    assert np.allclose(mirroredColumn, 95.0 - column) and np.allclose(mirroredRow, row)
    matrix = mirroring.mirrorIjkToLps(np.diag([1.0, 1.0, 1.0, 1.0]), (2, 3, 4))
    assert np.allclose(matrix @ [0, 0, 0, 1], [-3, 0, 0, 1]) and np.allclose(matrix @ [3, 2, 1, 1], [0, 2, 1, 1])


def test_mask_proposal_finds_the_bright_bone_and_fills_holes():
    rows, columns = np.mgrid[0:200, 0:160]
    image = np.where(((rows - 100) / 95.0) ** 2 + ((columns - 80) / 75.0) ** 2 < 1, 1.0, 0.0)  # soft tissue
    femur = ((columns > 70) & (columns < 95) & (rows > 60) & (rows < 180)) | ((rows - 55) ** 2 + (columns - 60) ** 2 < 22 ** 2)
    image[femur] = 3.0
    image[120:130, 78:86] = 1.0  # the medullary canal: a hole to fill
    image[20:30, 120:128] = 3.0  # a small bright fragment elsewhere
    image += np.random.default_rng(0).normal(0, 0.05, image.shape)
    proposed = proposal.proposeFemurMask(image)
    assert proposed.dtype == np.uint8
    dice = 2 * (proposed.astype(bool) & femur).sum() / (proposed.sum() + femur.sum())
    assert dice > 0.95 and proposed[125, 82] == 1 and proposed[25, 124] == 0
    bone = proposal.proposeBoneMap(image)  # every bright region: the fragment too
    assert bone[25, 124] == 1 and np.array_equal(bone[:, :110], proposed[:, :110])
    with pytest.raises(ValueError, match="no bone-like"):
        proposal.proposeFemurMask(np.zeros((50, 50)) + np.eye(50) * 1e-9)


def test_side_from_dicom_laterality_and_sidecar(tmp_path):
    import pydicom

    geometry = CArmGeometry(0.0, 0.0, 1000.0, 925.0, (0.4, 0.4), 16, 16)
    paths = []
    for name, laterality in (("left.dcm", "L"), ("right.dcm", "R"), ("none.dcm", None), ("both.dcm", "B")):
        path = writeXrayDicom(tmp_path / name, np.arange(256.0).reshape(16, 16), geometry, "DX", uidSeed=name)
        if laterality:
            dataset = pydicom.dcmread(path)
            dataset.ImageLaterality = laterality
            dataset.save_as(path)
        paths.append(path)
    assert radiographs.resolveSide(None, [paths[0], paths[2]]) == "left"
    assert radiographs.resolveSide("auto", [paths[1]]) == "right"
    for unknown in ([paths[2]], [paths[3]], [paths[2], paths[3]], []):  # no laterality, or both hips: the images tell
        assert radiographs.resolveSideAndSource(None, unknown) == (None, "")
    assert radiographs.resolveSide("right", [paths[2]]) == "right"
    assert radiographs.resolveSide("left", [paths[1]]) == "left"  # given side wins
    with pytest.raises(ValueError, match="disagree"):
        radiographs.resolveSide(None, paths[:2])
    with pytest.raises(ValueError, match="side"):
        radiographs.resolveSide("middle", [])
    image = tmp_path / "view.nrrd"
    image.write_bytes(b"")
    (tmp_path / "view.json").write_text(json.dumps({"ImageLaterality": "L"}))
    assert radiographs.lateralityOfFile(image) == "left"
    (tmp_path / "view.json").write_text(json.dumps({"SeriesDescription": "Hip RT ap"}))
    assert radiographs.resolveSideAndSource(None, [image]) == ("right", "sidecar SeriesDescription 'Hip RT ap'")


@pytest.mark.parametrize("attributes, expected", [
    ({"BodyPartExamined": "LEFT HIP", "SeriesDescription": "Femur RIGHT"},
     ("left", "DICOM BodyPartExamined 'LEFT HIP'")),  # in the order of SIDE_TEXT_KEYWORDS
    ({"SeriesDescription": "Hüfte links a.p."}, ("left", "DICOM SeriesDescription 'Hüfte links a.p.'")),
    ({"SeriesDescription": "HANCHE DROITE"}, ("right", "DICOM SeriesDescription 'HANCHE DROITE'")),
    ({"SeriesDescription": "FEMUR_RT_LAT"}, ("right", "DICOM SeriesDescription 'FEMUR_RT_LAT'")),
    ({"ImageLaterality": "R", "SeriesDescription": "LEFT HIP"}, ("right", "DICOM ImageLaterality")),  # the code wins
    ({"SeriesDescription": "HIP L AP"}, None),  # single letters are not read: L may mean lateral
    ({"SeriesDescription": "PELVIS BILATERAL HIPS"}, None),
    ({"SeriesDescription": "HIPS LEFT AND RIGHT"}, None),
    ({"BodyPartExamined": "HIP", "PatientOrientation": ["L", "F"]}, None),  # image directions, not a side
])
def test_side_from_the_descriptions_when_no_laterality_code(tmp_path, attributes, expected):
    import pydicom

    geometry = CArmGeometry(0.0, 0.0, 1000.0, 925.0, (0.4, 0.4), 16, 16)
    path = writeXrayDicom(tmp_path / "view.dcm", np.arange(256.0).reshape(16, 16), geometry, "DX", uidSeed="side")
    dataset = pydicom.dcmread(path)
    for keyword, value in attributes.items():
        setattr(dataset, keyword, value)
    dataset.save_as(path)
    assert radiographs.resolveSideAndSource(None, [path]) == (expected or (None, ""))  # None: the images tell


def sphere(shapeKji, ijkToRas, centreRas, radiusMm):
    k, j, i = np.indices(shapeKji)
    ras = np.stack([i, j, k, np.ones_like(i)], -1) @ np.asarray(ijkToRas).T
    return np.linalg.norm(ras[..., :3] - centreRas, axis=-1) <= radiusMm


@pytest.mark.torch  # the metrics are MONAI's
def test_reference_comparison_on_the_reference_grid():
    source = np.array([[-1.0, 0, 0, 40], [0, -1.0, 0, 40], [0, 0, 1.0, -40], [0, 0, 0, 1]])  # 1 mm, LPS-like
    shape = (80, 80, 80)
    label = sphere(shape, source, [5.0, -3.0, 10.0], 20.0)
    target = np.array([[0, 1.5, 0, -30], [1.5, 0, 0, -35], [0, 0, -1.5, 45], [0, 0, 0, 1]])  # axes swapped, 1.5 mm
    targetShape = (50, 48, 44)
    truth = sphere(targetShape, target, [5.0, -3.0, 10.0], 20.0)
    resampled = checks.resampleLabel(label, source, targetShape, target)
    assert resampled.shape == targetShape
    assert 2 * (resampled & truth).sum() / (resampled.sum() + truth.sum()) > 0.97
    shifted = sphere(targetShape, target, [5.0, -3.0, 13.0], 20.0)  # the reference 3 mm higher
    metrics = checks.referenceMetrics(label, source, shifted, target)
    assert set(metrics) == {"dice", "jaccard", "assd_mm", "hd95_mm"}
    assert 0.8 < metrics["dice"] < 0.95 and 2.0 < metrics["hd95_mm"] < 4.0
    with pytest.raises(ValueError, match="empty"):
        checks.referenceMetrics(label, source, np.zeros(targetShape), target)


def test_markups_helper_round_trip(scene, tmp_path):
    points = np.array([[1.0, 2.0, 3.0], [-4.5, 5.0, 6.25]])
    node = runtime.markupsNodeFromPoints(scene, points, ["head centre", "greater trochanter"], "landmarks",
                                         ["a", "b"])
    storage.saveNode(node, tmp_path / "landmarks.mrk.json")
    storage.saveScene(scene, tmp_path / "scene.mrb")
    loaded = storage.loadNode(runtime.newHeadlessScene(), tmp_path / "landmarks.mrk.json")
    positions, labels = runtime.pointsFromMarkupsNode(loaded)
    assert np.allclose(positions, points) and labels == ["head centre", "greater trochanter"]
    assert loaded.GetNthControlPointDescription(1) == "b"
    reloaded = storage.loadScene(tmp_path / "scene.mrb").GetFirstNodeByClass("vtkMRMLMarkupsFiducialNode")
    assert np.allclose(runtime.pointsFromMarkupsNode(reloaded)[0], points)
    with pytest.raises(ValueError):
        runtime.markupsNodeFromPoints(scene, points, ["one"], "bad")


# -- the pipeline on a case with a known answer ---------------------------------------------------------------


def test_outputs_land_in_patient_space(knownResults, knownRegistration, atlas, scene):
    result = knownResults["right"]
    # The crop box is moved onto the femur: the atlas head centre lands where the known registration puts it.
    headAtlas = refine.atlasHeadCentre(atlas)
    headShift = (np.linalg.inv(knownRegistration.affine) @ np.append(headAtlas, 1.0))[:3] - headAtlas
    centre = result.networkViews[0].boxCentreLps
    # The box is the one placed from the masks or one the network moved it to (whole mm); the registrations agree.
    assert np.linalg.norm(headShift) > 3.0 and np.array_equal(centre, np.round(centre))
    assert np.abs(centre - headShift).max() < 6.0
    assert result.readouts.values["box_offset_mm"] == pytest.approx(np.linalg.norm(centre))
    # Warped atlas on the 1 mm crop box, RAS: origin (63.5, 55.5, -79.5) on the isocenter, moved by the box centre;
    # directions (-1, -1, 1).
    assert result.hu.shape == result.label.shape == (160, 112, 128)
    origin = np.array([63.5, 55.5, -79.5]) + centre * [-1, -1, 1]
    assert np.allclose(result.ijkToRas, np.array([[-1, 0, 0, origin[0]], [0, -1, 0, origin[1]],
                                                  [0, 0, 1, origin[2]], [0, 0, 0, 1.0]]))
    readouts = result.readouts.toDict()
    assert READOUT_KEYS | {"dice", "jaccard", "assd_mm", "hd95_mm"} <= set(readouts)
    assert readouts["dice"] > 0.999 and readouts["hd95_mm"] < 0.01  # the truth is the atlas moved the same way
    assert readouts["min_jacobian"] == pytest.approx(np.linalg.det(knownRegistration.affine[:3, :3]), rel=1e-4)
    # Femur-only radiographs: the DRRs match, but for the shaft the box cut off: the radiographs are of the femur that
    # filled the isocenter's box, the DRRs of the box moved onto the head (measured 0.97 / 0.98; 0.996 / 0.998 with
    # the box left on the isocenter).
    assert readouts["ncc_ap"] > 0.96 and readouts["ncc_lat"] > 0.97
    assert readouts["side"] == "right" and readouts["view_separation_deg"] == pytest.approx(90.0)
    # Anteversion needs the posterior condyles, some 330 mm below the box: not reported, and the warning says why.
    assert "anteversion_deg" not in readouts and pipeline.ANTEVERSION_NOT_REPORTED in readouts["warnings"]
    assert [w for w in readouts["warnings"] if not w.startswith("hip measurements come from the registered atlas")
            and w != pipeline.ANTEVERSION_NOT_REPORTED] == []
    # Landmarks by hand: atlas head centre q -> T^-1 q - shift (LPS), then RAS.
    expected = (np.linalg.inv(knownRegistration.affine) @ np.append(headAtlas, 1.0))[:3] - SHIFT_MM
    assert result.landmarkNames[0] == "head centre"
    assert np.allclose(result.landmarksRas[0], expected * [-1, -1, 1], atol=0.05)
    assert len(result.landmarkNames) == 7
    # The outline of the registered femur covers the true femur masks on the radiographs.
    for outline, mask in zip(result.outlines, result.masks):
        assert outline.shape == (DETECTOR, DETECTOR)
        assert 2 * (outline.astype(bool) & (mask > 0)).sum() / (outline.sum() + mask.sum()) > 0.95
    # Scene nodes: volume geometry in RAS, grid transform maps atlas points onto the registered landmarks.
    nodes = outputs.addToScene(result, scene)
    volume = nodes["outputVolume"]
    assert np.allclose(volume.GetSpacing(), [1, 1, 1]) and np.allclose(volume.GetOrigin(), origin)
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
    assert np.allclose(left.ijkToRas @ [127, 0, 0, 1], (right.ijkToRas @ [0, 0, 0, 1]) * [-1, 1, 1, 1])
    assert np.allclose(left.landmarksRas, right.landmarksRas * [-1, 1, 1], atol=1e-4)
    for leftOutline, rightOutline in zip(left.outlines, right.outlines):
        assert (leftOutline != rightOutline[:, ::-1]).mean() < 1e-3
    leftReadouts, rightReadouts = left.readouts.toDict(), right.readouts.toDict()
    assert leftReadouts["side"] == "left" and leftReadouts["dice"] > 0.999
    reported = [key for key in pipeline.HIP_READOUTS if key in rightReadouts]
    assert reported == [key for key in pipeline.HIP_READOUTS if key in leftReadouts] == list(pipeline.HIP_READOUTS[:3])
    for key in reported + ["min_jacobian", "femur_volume_mm3"]:
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
        pipeline.registerFemur(views[0], XrayImage(views[1].pixels, near), *masks, side="right", device="cpu")
    with pytest.raises(ValueError, match="differ in size"):
        pipeline.registerFemur(*views, masks[0], np.ones((10, 10)), side="right", device="cpu")
    with pytest.raises(ValueError, match="empty"):
        pipeline.registerFemur(*views, np.zeros_like(masks[0]), masks[1], side="right", device="cpu")
    withNan = masks[0].astype(np.float32)
    withNan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pipeline.registerFemur(*views, withNan, masks[1], side="right", device="cpu")
    pixels = views[0].pixels.copy()
    pixels[5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pipeline.registerFemur(XrayImage(pixels, views[0].geometry), views[1], *masks, side="right", device="cpu")
    with pytest.raises(ValueError, match="side"):
        pipeline.registerFemur(*views, *masks, side="both", device="cpu")
    outside = np.zeros_like(masks[0])
    outside[0:3, 0:3] = True  # a corner, dark on this femur-only radiograph
    with pytest.raises(ValueError, match="not on the femur"):
        pipeline.registerFemur(*views, outside, masks[1], side="right", device="cpu")


def test_progress_and_cancel(knownCase, fixedModel):
    views, masks = knownCase["right"]["views"], knownCase["right"]["masks"]
    calls = []
    with pytest.raises(InterruptedError):
        pipeline.registerFemur(*views, *masks, side="right", device="cpu",
                               progress=Progress(lambda f, m: calls.append(f), lambda: len(calls) >= 3))
    assert len(calls) == 3 and calls == sorted(calls)
    messages = []  # cancel during the refinement
    with pytest.raises(InterruptedError):
        pipeline.registerFemur(*views, *masks, side="right", device="cpu", refine=True, progress=Progress(
            lambda fraction, message: messages.append(message),
            lambda: f"refinement 2/{refine.REFINE_STEPS}" in messages))
    assert messages[-1] == f"refinement 2/{refine.REFINE_STEPS}"


def test_warnings_for_oblique_views_and_proposed_masks(knownCase):
    views = knownCase["right"]["views"]
    oblique = CArmGeometry(-45.0, 0.0, 1000.0, 925.0, (1.6, 1.6), DETECTOR, DETECTOR)
    checks = Readouts("FemurRegistration")
    with keepingImplausible():  # the proposal on a femur-only DRR misses the head: a failed input gate, kept here
        prepared, warnings, _ = radiographs.prepareInputs(views[0], XrayImage(views[1].pixels, oblique), None,
                                                    knownCase["right"]["masks"][1], "right", readouts=checks)
    assert "AP femur mask (proposed)" in checks.failedChecks[0]
    assert any("height_ratio" in message for message in checks.failedChecks)
    warnings = " ".join(warnings)
    assert "45.0 deg apart" in warnings and "outside the views the network was trained on" in warnings
    assert "no AP femur mask" in warnings and [view.maskProposed for view in prepared] == [True, False]
    assert radiographs.prepareInputs(*views, *knownCase["right"]["masks"], "right")[1] == []


def test_refinement_recovers_a_displaced_registration(knownCase, knownRegistration, atlas):
    views = [radiographs.prepareView(view, mask, "right", name, ISOCENTER) for view, mask, name in
             zip(knownCase["right"]["views"], knownCase["right"]["masks"], ("AP", "lateral"))]  # the known box
    shift = np.array([4.0, -3.0, 3.0], np.float32)[:, None, None, None]  # mm, added to the known displacement
    start = inference.Registration(knownRegistration.affine, knownRegistration.displacement + shift,
                                   knownRegistration.inverseDisplacement - shift)
    vertices = atlas["verticesLps"]
    vertices = vertices[np.all(np.abs(vertices) < [60.0, 52.0, 76.0], axis=1)]  # inside the crop box
    truth = inference.warpPoints(vertices, knownRegistration)
    before = np.linalg.norm(inference.warpPoints(vertices, start) - truth, axis=1).mean()
    steps = []
    refined = refine.refineRegistration(start, atlas, views, progress=lambda fraction, message: steps.append(message))
    after = np.linalg.norm(inference.warpPoints(vertices, refined) - truth, axis=1).mean()
    assert before == pytest.approx(np.sqrt(34.0), rel=0.02) and after < 0.5 * before, (before, after)
    assert steps == [f"refinement {step}/{refine.REFINE_STEPS}" for step in range(1, refine.REFINE_STEPS + 1)]
    assert inference.minimumJacobian(refined) > 0.5
    # The recomputed inverse is the inverse of the refined map.
    affine, displacement, _, fieldLpsToGrid = refined.tensors()
    patient = torch.as_tensor(inference.warpPoints(vertices, refined), dtype=torch.float32)[None]
    back = transforms.patientToAtlas(patient, affine, displacement, fieldLpsToGrid)[0].numpy()
    error = np.linalg.norm(back - vertices, axis=1)  # trilinear interpolation of two fields on the 4 mm grid
    assert error.mean() < 0.03 and error.max() < 0.25, (error.mean(), error.max())


# -- command line, sample data ------------------------------------------------------------------------------


@pytest.mark.torch
def test_jacobian_of_a_linear_map_and_unfolding_a_fold():
    """det of ``T(p + Ap)`` is det(I + A) det(T); a fold (a bump whose slope is below -1) is unfolded to the floor with
    a small change, and the recomputed inverse inverts the unfolded map; a map that does not fold is left alone."""
    from FemurRegistrationLib.conventions import FIELD_SPACING_MM
    from FemurRegistrationLib.grid import boxGrid
    from ReconCoreLib.projector import gridPointsLps

    ijkToLps, shape = boxGrid(FIELD_SPACING_MM)
    points = gridPointsLps(ijkToLps, shape, dtype=torch.float64).numpy()  # [k, j, i, 3]
    linear = np.array([[0.1, 0.05, 0.0], [-0.02, -0.1, 0.03], [0.0, 0.04, 0.2]])
    scale = np.diag([1.1, 1.1, 1.1, 1.0])
    field = np.moveaxis(points @ linear.T, -1, 0).astype(np.float32)
    straight = inference.Registration(scale, field, -field)
    assert inference.minimumJacobian(straight) == pytest.approx(np.linalg.det(np.eye(3) + linear) * 1.1 ** 3, rel=1e-5)
    assert inference.unfold(straight) == (straight, 0.0)

    # u_x = 17 exp(-x^2 / (2 * 8^2)): slope down to -17 / (8 sqrt(e)) = -1.29 at x = 8 mm, so 1 + du/dx < 0 there.
    bump = np.zeros((3,) + shape, np.float32)
    bump[0] = 17.0 * np.exp(-points[..., 0] ** 2 / (2 * 8.0 ** 2))
    folded = inference.Registration(np.eye(4), bump, -bump)
    assert inference.minimumJacobian(folded) < -0.1
    unfolded, change = inference.unfold(folded)
    assert inference.minimumJacobian(unfolded) >= inference.UNFOLD_FLOOR - 1e-3
    moved = np.linalg.norm(unfolded.displacement - bump, axis=0)
    assert change == pytest.approx(moved.max(), rel=1e-4) and 1.0 < change < 10.0
    assert moved[np.abs(points[..., 0]) > 40.0].max() < 0.5  # the change stays near the fold
    # The recomputed inverse inverts the new map at its grid points r: p = r + u_inv(r) goes back to p + u(p) = r.
    _, displacement, inverse, lpsToGrid = unfolded.tensors()
    grid = torch.as_tensor(points, dtype=torch.float32)[None]
    back = grid + transforms.sampleField(inverse, lpsToGrid, grid)
    residual = np.linalg.norm((back + transforms.sampleField(displacement, lpsToGrid, back) - grid)[0].numpy(), axis=-1)
    assert residual.mean() < 0.01 and residual.max() < 0.1, (residual.mean(), residual.max())

"""FemurRegistration phantoms: grid, voxelization, tissue intensities, pose, determinism, atlas."""

import numpy as np
import pytest

from FemurRegistrationDev import phantom
from FemurRegistrationLib import grid
from FemurRegistrationLib.conventions import BOX_SIZE_MM
from FemurRegistrationLib.hipmeasures import CANONICAL_HEAD_CENTRE_LPS, FemurShapeModel, hipMeasurements


@pytest.fixture(scope="module")
def model():
    return FemurShapeModel.load()


@pytest.fixture(scope="module")
def case(model):
    return phantom.makeCase(11, model=model)


def _polyData(vertices, triangles):
    from ReconCoreLib.surfaces import polyDataFromTriangles

    return polyDataFromTriangles(vertices, triangles)


def _volumeInsideBox(vertices, triangles):
    """Volume (mm^3) of the closed mesh clipped to the crop box."""
    import vtk

    planes = vtk.vtkPlaneCollection()
    half = np.asarray(BOX_SIZE_MM) / 2.0
    for axis in range(3):
        for sign in (-1.0, 1.0):
            origin, normal = np.zeros(3), np.zeros(3)
            origin[axis], normal[axis] = sign * half[axis], -sign
            plane = vtk.vtkPlane()
            plane.SetOrigin(*origin)
            plane.SetNormal(*normal)
            planes.AddItem(plane)
    clip = vtk.vtkClipClosedSurface()
    clip.SetInputData(_polyData(vertices, triangles))
    clip.SetClippingPlanes(planes)
    triangulate = vtk.vtkTriangleFilter()
    triangulate.SetInputConnection(clip.GetOutputPort())
    mass = vtk.vtkMassProperties()
    mass.SetInputConnection(triangulate.GetOutputPort())
    mass.Update()
    return mass.GetVolume()


def test_grid_constants_and_matrix():
    assert phantom.GRID_SHAPE_KJI == (160, 112, 128) == grid.gridShapeKji()
    assert BOX_SIZE_MM == (128.0, 112.0, 160.0)
    matrix = grid.gridIjkToLps()
    np.testing.assert_array_equal(matrix[:3, :3], np.eye(3))
    np.testing.assert_allclose(matrix[:3, 3], [-63.5, -55.5, -79.5])
    np.testing.assert_array_equal(matrix[3], [0, 0, 0, 1])
    last = matrix @ [127, 111, 159, 1]
    np.testing.assert_allclose(last[:3], [63.5, 55.5, 79.5])  # the box is centred on the origin
    coarse = grid.gridIjkToLps(2.0)
    assert grid.gridShapeKji(2.0) == (80, 56, 64)
    np.testing.assert_allclose(np.diag(coarse)[:3], [2.0, 2.0, 2.0])
    np.testing.assert_allclose(coarse[:3, 3], [-63.0, -55.0, -79.0])
    np.testing.assert_allclose((coarse @ [63, 55, 79, 1])[:3], [63.0, 55.0, 79.0])
    with pytest.raises(ValueError):
        grid.gridShapeKji(3.0)


def test_voxelize_sphere_volume():
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    source = vtk.vtkSphereSource()
    source.SetRadius(20.0)
    source.SetCenter(3.3, -7.1, 10.4)
    source.SetThetaResolution(96)
    source.SetPhiResolution(96)
    source.Update()
    mesh = source.GetOutput()
    vertices = vtk_to_numpy(mesh.GetPoints().GetData())
    triangles = vtk_to_numpy(mesh.GetPolys().GetConnectivityArray()).reshape(-1, 3)
    label = phantom.voxelize(vertices, triangles, grid.gridIjkToLps(), phantom.GRID_SHAPE_KJI)
    assert label.dtype == np.uint8 and label.shape == phantom.GRID_SHAPE_KJI and set(np.unique(label)) == {0, 1}
    assert label.sum() == pytest.approx(4.0 / 3.0 * np.pi * 20.0 ** 3, rel=0.01)
    k, j, i = np.argwhere(label).mean(0)
    np.testing.assert_allclose(grid.gridIjkToLps() @ [i, j, k, 1], [3.3, -7.1, 10.4, 1], atol=0.1)


def test_voxelized_mean_femur_matches_mesh_volume(model):
    vertices = model.meanVerticesLps
    label = phantom.voxelize(vertices, model.triangles, grid.gridIjkToLps(), phantom.GRID_SHAPE_KJI)
    expected = _volumeInsideBox(vertices, model.triangles)
    assert 150e3 < expected < 300e3
    assert label.sum() == pytest.approx(expected, rel=0.02)
    coarse = phantom.voxelize(vertices, model.triangles, grid.gridIjkToLps(2.0), grid.gridShapeKji(2.0))
    assert 8.0 * coarse.sum() == pytest.approx(expected, rel=0.03)


def test_case_structure_and_truth(case, model):
    assert case.hu.dtype == np.int16 and case.hu.shape == phantom.GRID_SHAPE_KJI
    assert case.label.dtype == np.uint8 and case.label.shape == phantom.GRID_SHAPE_KJI
    np.testing.assert_array_equal(case.ijkToLps, grid.gridIjkToLps())
    p = case.parameters
    for key in ("flexion_deg", "abduction_deg", "internal_rotation_deg"):
        assert abs(p[key]) <= phantom.POSE_ROTATION_RANGE_DEG
    assert np.all(np.abs(p["translation_mm"]) <= phantom.POSE_TRANSLATION_RANGE_MM)
    measured = hipMeasurements(case.verticesLps, model)
    for key in ("head_diameter_mm", "neck_shaft_angle_deg", "femoral_offset_mm", "anteversion_deg"):
        assert case.measurements[key] == pytest.approx(measured[key])
        assert case.measurements[key] == pytest.approx(p[key], abs=1e-6)  # pose leaves the hip geometry alone
    # posed about the head centre, then translated
    np.testing.assert_allclose(case.measurements["head_centre_lps"],
                               np.asarray(CANONICAL_HEAD_CENTRE_LPS) + p["translation_mm"], atol=1e-6)
    assert case.label.sum() == pytest.approx(_volumeInsideBox(case.verticesLps, case.triangles), rel=0.02)


def test_tissue_intensities(case):
    from scipy import ndimage

    hu, femur = case.hu.astype(float), case.label > 0
    depth = ndimage.distance_transform_edt(femur)
    surface = femur & (depth <= 1.0)
    shaft = case.measurements["shaft_axis_direction"]
    z = (case.ijkToLps @ np.c_[np.argwhere(femur)[:, ::-1], np.ones(femur.sum())].T)[:3].T
    below = (case.measurements["lesser_trochanter_lps"] - z) @ shaft
    deep = depth[femur]
    head = np.linalg.norm(z - case.measurements["head_centre_lps"], axis=1) < 0.3 * case.measurements[
        "head_diameter_mm"]
    canal = (below > 60.0) & (deep >= 8.0)
    assert 1100.0 < np.median(hu[surface]) < 1900.0  # cortical shell
    assert 150.0 < np.median(hu[femur][head]) < 650.0  # cancellous bone, denser in the head
    assert np.std(hu[femur][head]) > 40.0  # trabecular texture
    if canal.any():
        assert np.median(hu[femur][canal]) < 60.0  # fatty marrow
    soft = ~ndimage.binary_dilation(femur | (hu > 300.0), iterations=3)
    assert 20.0 < np.median(hu[soft]) < 60.0  # muscle
    assert 0.01 < np.mean(hu[soft] < -50.0) < 0.25  # fat planes
    assert hu.min() > -300 and hu.max() < 2500
    # acetabulum: bone around the head, outside the femur label
    centre = case.measurements["head_centre_lps"]
    grid = np.argwhere(np.ones(case.hu.shape, bool))[:, ::-1]
    points = grid * np.diag(case.ijkToLps)[:3] + case.ijkToLps[:3, 3]
    radius = np.linalg.norm(points - centre, axis=1).reshape(case.hu.shape)
    shell = (~femur) & (radius > 0.5 * case.measurements["head_diameter_mm"] + 4.0) & (radius < 0.5 * case.measurements[
        "head_diameter_mm"] + 10.0)
    assert np.mean(hu[shell] > 500.0) > 0.15


def test_cases_are_deterministic_by_seed(model):
    first, again, other = (phantom.makeCase(seed, spacingMm=2.0, model=model) for seed in (5, 5, 6))
    assert first.hu.shape == (80, 56, 64)
    np.testing.assert_array_equal(first.hu, again.hu)
    np.testing.assert_array_equal(first.label, again.label)
    np.testing.assert_array_equal(first.verticesLps, again.verticesLps)
    assert first.parameters["flexion_deg"] == again.parameters["flexion_deg"]
    assert not np.array_equal(first.label, other.label)


def test_unposed_case_is_canonical(model):
    unposed = phantom.makeCase(5, pose=False, spacingMm=2.0, model=model)
    np.testing.assert_allclose(unposed.measurements["head_centre_lps"], CANONICAL_HEAD_CENTRE_LPS, atol=1e-6)
    np.testing.assert_allclose(unposed.measurements["shaft_axis_direction"], [0, 0, 1], atol=1e-6)
    np.testing.assert_array_equal(unposed.parameters["pose_matrix"], np.eye(4))


def test_pose_signs():
    centre = np.array(CANONICAL_HEAD_CENTRE_LPS)
    knee, anterior = centre + [0.0, 0.0, -300.0], centre + [0.0, -30.0, 0.0]

    def moved(point, *angles):
        return (phantom.poseMatrix(*angles, centre) @ np.r_[point, 1.0])[:3] - point

    assert moved(knee, 10, 0, 0)[1] < -40.0  # flexion: knee forwards (-y)
    assert moved(knee, 0, 10, 0)[0] < -40.0  # abduction: knee laterally (-x, right femur)
    assert moved(anterior, 0, 0, 10)[0] > 4.0  # internal rotation: front turns medially (+x)
    np.testing.assert_allclose(moved(centre, 7, -4, 9), 0.0, atol=1e-9)
    matrix = phantom.poseMatrix(3, 4, 5, centre, (1.0, 2.0, 3.0))
    np.testing.assert_allclose(matrix[:3, :3] @ matrix[:3, :3].T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose((matrix @ np.r_[centre, 1.0])[:3], centre + [1.0, 2.0, 3.0])


def test_atlas_is_the_mean_shape(model):
    atlas = phantom.makeAtlas(spacingMm=2.0, model=model)
    np.testing.assert_array_equal(atlas.verticesLps, model.meanVerticesLps)
    np.testing.assert_allclose(atlas.measurements["head_centre_lps"], CANONICAL_HEAD_CENTRE_LPS, atol=1e-3)
    assert atlas.parameters["tissue"] == phantom.TissueParameters().asDict()
    np.testing.assert_array_equal(atlas.hu, phantom.makeAtlas(spacingMm=2.0, model=model).hu)


@pytest.mark.torch  # the training dataset builds torch tensors
def test_training_sample_marks_vertices_inside_the_box(case):
    from FemurRegistrationDev import dataset

    sample = dataset.trainingSample({"hu": case.hu, "label": case.label, "verticesLps": case.verticesLps,
                                     "ijkToLps": case.ijkToLps}, np.random.default_rng(3))
    assert sample["vertices"].shape == (len(case.verticesLps), 3) and sample["views"].shape == (2, 14)
    inside = sample["vertexInside"] > 0
    low = case.ijkToLps[:3, 3] + 2.0
    high = case.ijkToLps[:3, 3] + (np.array(case.label.shape[::-1]) - 1) * 1.0 - 2.0
    expected = np.all((case.verticesLps >= low) & (case.verticesLps <= high), axis=1)
    np.testing.assert_array_equal(inside, expected)
    assert 0.2 < inside.mean() < 0.9  # the crop box holds the proximal femur only


@pytest.mark.torch  # the training dataset module imports torch
def test_out_of_distribution_settings_lie_outside_training(model):
    """Every setting of the out-of-distribution split is outside the range training draws from, and its cases are
    made with them (shape stretched, pose, tissue), deterministic by seed."""
    import inspect

    from FemurRegistrationDev import dataset, outofdistribution as ood

    training = phantom.TissueParameters.RANGES
    for name, (low, high) in ood.TISSUE_RANGES.items():
        assert high < training[name][0] or low > training[name][1], name
    assert ood.POSE_ANGLE_BAND_DEG[0] > phantom.POSE_ROTATION_RANGE_DEG
    defaults = inspect.signature(dataset.simulateRadiographs).parameters
    assert ood.RADIOGRAPH_STYLE["photons"][1] < defaults["photons"].default[0]
    assert ood.RADIOGRAPH_STYLE["blurPixels"][0] > defaults["blurPixels"].default[1]
    (gammaLow, gammaHigh), = defaults["gamma"].default
    assert all(high < gammaLow or low > gammaHigh for low, high in ood.RADIOGRAPH_STYLE["gamma"])
    assert ood.SID_RANGE_MM[0] > dataset.SOURCE_TO_DETECTOR_MM
    assert all(lengthHigh < 1.0 or lengthLow > 1.0 for (lengthLow, lengthHigh), _ in ood.STRETCH_BANDS)

    case = phantom.makeCase(7, spacingMm=2.0, model=model, outOfDistribution=ood.PARTS)
    again = phantom.makeCase(7, spacingMm=2.0, model=model, outOfDistribution=ood.PARTS)
    np.testing.assert_array_equal(case.hu, again.hu)
    parameters, tissue = case.parameters, case.parameters["tissue"]
    assert any(low <= parameters["length_scale"] <= high for (low, high), _ in ood.STRETCH_BANDS)
    angles = [abs(parameters[key]) for key in ("flexion_deg", "abduction_deg", "internal_rotation_deg")]
    assert all(ood.POSE_ANGLE_BAND_DEG[0] <= angle <= ood.POSE_ANGLE_BAND_DEG[1] for angle in angles)
    assert all(low <= tissue[name] <= high for name, (low, high) in ood.TISSUE_RANGES.items())
    # The femur is longer or shorter than the shape model's: its head-to-shaft-section length is scaled.
    plain = phantom.makeCase(7, pose=False, spacingMm=2.0, model=model)
    stretched = phantom.makeCase(7, pose=False, spacingMm=2.0, model=model, outOfDistribution=ood.PARTS)
    extent = [np.ptp(item.verticesLps[:, 2]) for item in (plain, stretched)]
    assert extent[1] / extent[0] == pytest.approx(stretched.parameters["length_scale"], rel=0.02)


def test_hospital_style_collimates_marks_and_labels_the_radiograph():
    """positions --hospital: outside the collimated field the image is the shutter (white or black) and the mask is
    cut; the side's lead marker and the text are burned in, brighter than bone; the same seed, the same result."""
    from FemurRegistrationDev.hospitalstyle import COLLIMATION_MM, hospitalStyle

    image = np.random.default_rng(0).uniform(0.0, 1.0, (400, 400)).astype(np.float32)
    mask = np.ones((400, 400), np.uint8)
    shutters = set()
    for seed in range(6):
        styled, cut = hospitalStyle(image, mask, 0.5, "left", np.random.default_rng(seed))
        field = cut > 0
        rows, columns = np.nonzero(field)
        for low, high, size in ((rows.min(), rows.max(), 400), (columns.min(), columns.max(), 400)):
            assert COLLIMATION_MM[0] / 0.5 <= low <= COLLIMATION_MM[1] / 0.5
            assert COLLIMATION_MM[0] / 0.5 <= size - 1 - high <= COLLIMATION_MM[1] / 0.5
        outside = styled[~field]
        assert np.std(outside) < 0.02  # the shutter: one level and noise of 1 % of the range
        shutters.add("black" if abs(np.mean(outside)) < 0.05 else "white")
        lead = styled[field] > 1.4 * np.percentile(image, 99.9)
        assert 50 < lead.sum() < 2000  # the marker: a letter 12-20 mm tall at 0.5 mm pixels
        assert np.array_equal(styled, hospitalStyle(image, mask, 0.5, "left", np.random.default_rng(seed))[0])
    assert shutters == {"black", "white"}

"""EchoRecon's data generator: shape population, view planes, label slices, echo images, Simpson's method."""

import json

import numpy as np
import pytest

from EchoReconDev import echosim, heartshapes, ultrasound
from EchoReconLib import conventions, simpson, viewplanes
from EchoReconLib.conventions import STRUCTURES
from EchoReconLib.template import HeartTemplate


@pytest.fixture(scope="module")
def template():
    return HeartTemplate.load()


@pytest.fixture(scope="module")
def hearts(template):
    return [heartshapes.sampleHeart(seed, template=template) for seed in range(6)]


def _massPropertiesVolumeMl(polyData) -> float:
    import vtk

    properties = vtk.vtkMassProperties()
    properties.SetInputData(polyData)
    properties.Update()
    return properties.GetVolume() / 1000.0


# -- shape population -----------------------------------------------------------------------------------------


def test_sampled_hearts_within_ranges(template, hearts):
    for heart in hearts:
        m = heart.measurements
        assert 70.0 - 0.5 <= m["edvMl"] <= 300.0 + 0.5
        assert 15.0 - 0.2 <= m["efPercent"] <= 75.0 + 0.2
        assert m["efPercent"] == pytest.approx(100.0 * (m["edvMl"] - m["esvMl"]) / m["edvMl"])
        assert m["edvMl"] == pytest.approx(heart.parameters["edvMl"], abs=0.5)  # solved to the sampled EDV and EF
        assert m["efPercent"] == pytest.approx(heart.parameters["efPercent"], abs=0.5)
        assert 6.0 - 0.3 <= m["wallThicknessEdMm"] <= 16.0 + 0.3
        assert m["wallThicknessEsMm"] > m["wallThicknessEdMm"]  # systolic thickening
        assert m["lvLengthEsMm"] < m["lvLengthEdMm"]  # longitudinal shortening
        assert m["lvMassG"] == pytest.approx(1.05 * m["lvMyocardialVolumeMl"])
        es = heartshapes.measureHeart(heart.verticesEs, template)
        assert es["lvMyocardialVolumeMl"] == pytest.approx(m["lvMyocardialVolumeMl"], rel=0.01)  # incompressible
        # true volumes agree with VTK's
        assert m["edvMl"] == pytest.approx(
            _massPropertiesVolumeMl(template.polyData(heart.verticesEd, "LV cavity")), rel=1e-3)
        assert heart.verticesEd.shape == heart.verticesEs.shape == template.vertices.shape


def test_population_spans_the_phenotypes(hearts):
    assert {heart.phenotype for heart in hearts} >= {"normal", "dilated"}
    assert max(heart.edvMl for heart in hearts) > 170.0 and min(heart.efPercent for heart in hearts) < 40.0


def test_meshes_stay_valid(template, hearts):
    import vtk

    for heart in hearts[:4]:
        for vertices, reference in ((heart.verticesEd, template.vertices), (heart.verticesEs, heart.verticesEd)):
            assert heartshapes.flippedTriangles(vertices, reference, template.triangles) == 0
            distance = vtk.vtkImplicitPolyDataDistance()
            distance.SetInput(template.polyData(vertices, "LV myocardium"))
            cavity = vertices[template.structureOfVertex == 0][::3]
            assert max(distance.EvaluateFunction(point) for point in cavity) < 1.0  # cavity inside the epicardium


def test_heart_frame_of_each_case(template, hearts):
    landmarks = template.landmarks(hearts[0].verticesEd)
    np.testing.assert_allclose(landmarks["mitralAnnulus"], 0.0, atol=1e-6)
    np.testing.assert_allclose(landmarks["lvApex"][:2], 0.0, atol=1e-6)


def test_deterministic_by_seed(template, hearts):
    first, second = hearts[3], heartshapes.sampleHeart(3, template=template)
    np.testing.assert_array_equal(first.verticesEd, second.verticesEd)
    np.testing.assert_array_equal(first.verticesEs, second.verticesEs)
    assert first.parameters == second.parameters
    assert np.abs(hearts[4].verticesEd - first.verticesEd).max() > 1.0


def test_pinned_parameters(template):
    heart = heartshapes.sampleHeart(11, "dilated", template, edvMl=250.0, efPercent=25.0)
    assert heart.phenotype == "dilated"
    assert heart.edvMl == pytest.approx(250.0, abs=0.5) and heart.efPercent == pytest.approx(25.0, abs=0.3)
    with pytest.raises(ValueError):
        heartshapes.sampleParameters(0, noSuchParameter=1.0)


# -- planes and label slices ----------------------------------------------------------------------------------


def test_view_planes_follow_the_landmarks(template):
    planes = viewplanes.viewPlanes(template.vertices, template)
    assert tuple(planes) == conventions.VIEWS
    landmarks = template.landmarks()
    for plane in planes.values():
        np.testing.assert_allclose(np.stack([plane.u, plane.v]) @ np.stack([plane.u, plane.v]).T, np.eye(2),
                                   atol=1e-9)
    for view in conventions.APICAL_VIEWS:  # the long axis lies in every apical plane, depth from apex to base
        _, _, distances = planes[view].frameToPixel(np.stack([landmarks["lvApex"], landmarks["mitralAnnulus"]]))
        np.testing.assert_allclose(distances, 0.0, atol=1e-6)
        np.testing.assert_allclose(planes[view].v, [0.0, 0.0, -1.0], atol=1e-6)
    assert planes["A4C"].frameToPixel(landmarks["tricuspidValve"])[2] == pytest.approx(0.0, abs=1e-6)
    assert planes["A3C"].frameToPixel(landmarks["aorticValve"])[2] == pytest.approx(0.0, abs=1e-6)
    for view, level in viewplanes.SHORT_AXIS_LEVELS.items():
        assert abs(planes[view].normal[2]) == pytest.approx(1.0)
        point = landmarks["mitralAnnulus"] + level * (landmarks["lvApex"] - landmarks["mitralAnnulus"])
        assert planes[view].frameToPixel(point)[2] == pytest.approx(0.0, abs=1e-6)
    # display conventions: RV left in A4C and the short axis, aortic root right of the LV in A3C
    labels = {view: viewplanes.sliceLabels(template.vertices, template, plane) for view, plane in planes.items()}
    columns = np.arange(conventions.IMAGE_SIZE)[None, :]
    for view in ("A4C", "SAXM"):
        rvColumn = np.broadcast_to(columns, labels[view].shape)[labels[view] == 3].mean()
        lvColumn = np.broadcast_to(columns, labels[view].shape)[labels[view] == 1].mean()
        assert rvColumn < lvColumn
    a3c = labels["A3C"]
    assert np.broadcast_to(columns, a3c.shape)[a3c == 6].mean() > np.broadcast_to(columns, a3c.shape)[a3c == 1].mean()
    assert (labels["A2C"] == 3).sum() < 0.02 * (labels["A2C"] == 1).sum()  # no RV in the two-chamber view


def test_slice_matches_point_in_mesh(template):
    import vtk
    from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

    plane = viewplanes.viewPlanes(template.vertices, template)["A4C"]
    masks = viewplanes.sliceStructures(template.vertices, template, plane, size=64, pixelMm=plane.pixelMm * 2)
    coarse = viewplanes.ViewPlane("A4C", plane.origin, plane.u, plane.v, plane.pixelMm * 2, 64)
    rows, columns = np.mgrid[0:64, 0:64]
    points = coarse.pixelToFrame(columns.ravel(), rows.ravel())
    vtkPoints = vtk.vtkPoints()
    vtkPoints.SetData(numpy_to_vtk(np.ascontiguousarray(points), deep=True))
    cloud = vtk.vtkPolyData()
    cloud.SetPoints(vtkPoints)
    for structure in ("LV cavity", "RV", "LA"):
        select = vtk.vtkSelectEnclosedPoints()
        select.SetInputData(cloud)
        select.SetSurfaceData(template.polyData(structure=structure))
        select.Update()
        inside = vtk_to_numpy(select.GetOutput().GetPointData().GetArray("SelectedPoints")).reshape(64, 64) > 0
        mask = masks[STRUCTURES.index(structure)]
        assert inside.sum() > 50
        assert (inside != mask).sum() <= 0.02 * inside.sum() + 2


def test_mid_short_axis_cut_is_a_ring(template):
    from scipy import ndimage

    plane = viewplanes.viewPlanes(template.vertices, template)["SAXM"]
    labels = viewplanes.sliceLabels(template.vertices, template, plane)
    cavity, myocardium = labels == 1, labels == 2
    assert ndimage.label(cavity)[1] == 1 and ndimage.label(myocardium)[1] == 1
    assert not np.any(cavity & ~ndimage.binary_fill_holes(myocardium))  # the cavity lies in the ring's hole
    assert not np.any(ndimage.binary_dilation(cavity, iterations=2) & (labels == 0))  # wrapped by myocardium
    outerRadius = np.sqrt((cavity | myocardium).sum() / np.pi) * plane.pixelMm
    innerRadius = np.sqrt(cavity.sum() / np.pi) * plane.pixelMm
    assert 6.0 < outerRadius - innerRadius < 16.0  # wall thickness of the source heart, mm


def test_jitter_is_bounded_and_deterministic(template):
    plain = viewplanes.viewPlanes(template.vertices, template)
    first = echosim.jitteredViewPlanes(template.vertices, template, np.random.default_rng(5))
    second = echosim.jitteredViewPlanes(template.vertices, template, np.random.default_rng(5))
    for view in conventions.VIEWS:
        np.testing.assert_array_equal(first[view].origin, second[view].origin)
        angle = np.degrees(np.arccos(np.clip(first[view].normal @ plain[view].normal, -1.0, 1.0)))
        assert 0.0 < angle <= np.hypot(echosim.TILT_DEG, echosim.TILT_DEG) + 1e-6
        assert all(abs(value) <= echosim.OFFSET_MM for value in first[view].jitter["offsetMm"])


# -- images ---------------------------------------------------------------------------------------------------


def test_simulated_echo_image(template):
    plane = viewplanes.viewPlanes(template.vertices, template)["A4C"]
    labels = viewplanes.sliceLabels(template.vertices, template, plane)
    image = ultrasound.simulateEcho(labels, np.random.default_rng(0), plane.pixelMm)
    again = ultrasound.simulateEcho(labels, np.random.default_rng(0), plane.pixelMm)
    sector = ultrasound.sectorMask()
    assert image.shape == (128, 128) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    np.testing.assert_array_equal(image, again)
    assert np.all(image[~sector] == 0.0) and image[sector].mean() > 0.1
    assert sector[3, 64] and not sector[3, 0] and sector[120, 64] and not sector[127, 0]
    from scipy import ndimage

    blood = ndimage.binary_erosion(labels == 1, iterations=3)
    muscle = ndimage.binary_erosion(labels == 2, iterations=1)
    assert image[blood].mean() + 0.15 < image[muscle].mean()  # dark blood pool, bright myocardium


def test_make_case(template):
    case = echosim.makeCase(7, template=template)  # its time: Testing/benchmarks/benchmark_generators.py
    assert case["images"].shape == (2, 6, 128, 128) and case["images"].dtype == np.float32
    assert case["labels"].shape == (2, 6, 128, 128) and case["labels"].dtype == np.uint8
    assert case["planes"].shape == (6, 4, 3) and case["pixelSpacingMm"].shape == (6,)
    assert case["verticesEd"].shape == template.vertices.shape
    for phase in range(2):
        for view in range(6):
            assert (case["labels"][phase, view] == 1).sum() > 50  # the LV is in every view
    assert case["efPercent"] == pytest.approx(100.0 * (case["edvMl"] - case["esvMl"]) / case["edvMl"])


# -- Simpson's method and overlay Dice ------------------------------------------------------------------------


def _ellipse(shape, centre, semiRows, semiColumns, truncate=False):
    rows, columns = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    inside = ((rows - centre[0]) / semiRows) ** 2 + ((columns - centre[1]) / semiColumns) ** 2 <= 1.0
    return inside & (rows <= centre[0]) if truncate else inside


@pytest.mark.parametrize("truncate", [False, True])
def test_biplane_simpson_on_an_ellipsoid(truncate):
    spacing, a, b, c = 0.5, 45.0, 22.0, 18.0  # mm: long semi-axis (apex up), A4C and A2C short semi-axes
    centre = (110.0, 100.0)
    a4c = _ellipse((220, 200), centre, a / spacing, b / spacing, truncate)
    a2c = _ellipse((220, 200), centre, a / spacing, c / spacing, truncate)
    expected = (2.0 if truncate else 4.0) / 3.0 * np.pi * a * b * c / 1000.0
    volume = simpson.biplaneSimpsonVolume(a4c, a2c, spacing)
    assert volume == pytest.approx(expected, rel=0.03)
    axis = simpson.lvLongAxis(a4c, spacing)
    assert axis.apex[0] < centre[0] - 0.95 * a / spacing  # apex at the top
    if truncate:
        assert axis.lengthMm == pytest.approx(a, abs=1.0)
        np.testing.assert_allclose(axis.annulus, centre, atol=1.5)
    exact = simpson.biplaneSimpsonVolume(a4c, a2c, (spacing, spacing), a4cAnnulus=(centre[0] + a / spacing, 100.0),
                                         a2cAnnulus=(centre[0] + a / spacing, 100.0)) if not truncate else volume
    assert exact == pytest.approx(expected, rel=0.015)


def test_plane_cut_dice(template):
    plane = viewplanes.viewPlanes(template.vertices, template)["A4C"]
    heart = viewplanes.sliceLabels(template.vertices, template, plane) > 0
    assert viewplanes.planeCutDice(template.vertices, template, plane, heart) == pytest.approx(1.0)
    shifted = np.roll(heart, 6, axis=1)
    assert 0.5 < viewplanes.planeCutDice(template.vertices, template, plane, shifted) < 0.95
    assert viewplanes.planeCutDice(template.vertices, template, plane, np.zeros_like(heart)) == 0.0
    from ReconCoreLib.metrics import overlapMetrics

    assert overlapMetrics(np.zeros((4, 4)), np.zeros((4, 4)))["dice"] == 1.0  # both empty: they agree


def test_sample_files(tmp_path):
    import SimpleITK as sitk

    from EchoReconDev.samples import writeSamples

    written = writeSamples(tmp_path)
    assert len([path for path in written if path.suffix == ".png"]) == 24
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "EchoDilated_ES_A4C.png")))
    assert image.shape == (128, 128) and image.dtype == np.uint8 and image.max() > 100
    sidecar = json.loads((tmp_path / "EchoNormal_ED_SAXM.json").read_text())
    assert sidecar["ViewLabel"] == "SAXM" and sidecar["CardiacPhase"] == "ED"
    assert sidecar["PixelSpacing"][0] == pytest.approx(140.0 / 127.0, rel=1e-5)
    truth = sidecar["GroundTruth"]
    assert truth["edvMl"] == pytest.approx(120.0, abs=0.5) and truth["efPercent"] == pytest.approx(60.0, abs=0.5)
    dilated = json.loads((tmp_path / "EchoDilated_ES_A2C.json").read_text())["GroundTruth"]
    assert dilated["edvMl"] == pytest.approx(250.0, abs=0.5) and dilated["efPercent"] == pytest.approx(25.0, abs=0.5)

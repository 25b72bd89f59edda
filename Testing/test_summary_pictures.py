"""The summary pictures (``summary.png``, ``<Module>Lib/summary.py`` on ``ReconCoreLib/summaryimage.py``).

- Tiny synthetic cases written as the modules write them (a ball as the angio segmentation, a sphere model as the
  femur, the template heart as the echo models, small views with JSON sidecars): the picture has the documented size
  and the result's overlay lies where the geometry puts it (at the ball's projected centre and nowhere far from it,
  on the sphere's projected rim, on the template heart's cut by the A4C plane), read back from the PNG's pixels.
- The rasteriser and the renderer against what they must give (coverage of a known square, nearest surface wins,
  patient right on the image left in the anterior view), and the failed-checks banner.
- On each module's bundled sample run (needs torch): the angio tree projected onto each view lies on that view's
  true vessels, the femur outline on the rim of the true femur mask, the echo LV cavity's cut inside the sector.
"""

import json

import numpy as np
import pytest

pytest.importorskip("PIL", reason="the summary pictures are written with Pillow")

from ReconCoreLib import summaryimage as si  # noqa: E402
from ReconCoreLib.readouts import Readouts  # noqa: E402
from ReconCoreLib.xraygeometry import CArmGeometry  # noqa: E402


def readPng(path):
    from PIL import Image

    with Image.open(path) as image:
        assert image.size == si.SIZE_PX and image.mode == "RGB"
        return np.asarray(image).astype(int)


def colourMask(rgb, color, tolerance=40):
    """Pixels within ``tolerance`` (Euclidean, 0-255) of ``color``."""
    return np.linalg.norm(rgb - np.asarray(si.color255(color)), axis=-1) < tolerance


def reddish(rgb):
    return (rgb[..., 0] - np.maximum(rgb[..., 1], rgb[..., 2])) > 40


def writeView(path, geometry, seed=0, **extra):
    """A grey view (smooth gradient plus noise) as 8-bit PNG with its geometry sidecar."""
    from PIL import Image

    from ReconCoreLib.xrayio import writeSidecar

    rows, columns = np.mgrid[0:geometry.rows, 0:geometry.columns]
    pixels = 100 + 60 * columns / geometry.columns + np.random.default_rng(seed).normal(0, 8, rows.shape)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
    writeSidecar(path, geometry, **extra)
    return path


def readouts(module, failedChecks=(), **values):
    result = Readouts(module, device="cpu", failedChecks=list(failedChecks))
    for key, value in values.items():
        result.set(key, value)
    return result


def panelPoint(rectangle, size, pixel):
    """Picture (row, column) of a panel pixel (column, row), the panel's image centred in ``rectangle``."""
    x, y, width, height = rectangle
    left, top = x + (width - size[0]) // 2, y + (height - size[1]) // 2
    return int(round(top + pixel[1])), int(round(left + pixel[0]))


# -- the drawing primitives ----------------------------------------------------------------------------------------


def test_rasterised_square_covers_exactly_its_pixel_centres():
    square = np.array([[2.0, 3.0], [7.0, 3.0], [7.0, 6.0], [2.0, 6.0]])  # (column, row)
    covered = si.coverage(square, np.array([[0, 1, 2], [0, 2, 3]]), (10, 12))
    expected = np.zeros((10, 12), bool)
    expected[3:7, 2:8] = True
    assert np.array_equal(covered, expected)


def test_z_buffer_keeps_the_nearest_surface():
    square = np.array([[0.0, 0.0], [9.0, 0.0], [9.0, 9.0], [0.0, 9.0]] * 2)
    depth = np.array([5.0] * 4 + [2.0] * 4)
    values = np.array([[1.0]] * 4 + [[2.0]] * 4)
    triangles = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    for order in (triangles, triangles[::-1]):
        nearest, interpolated = si.rasterize(square, depth, values, order, (10, 10))
        assert np.allclose(nearest, 2.0) and np.allclose(interpolated[..., 0], 2.0)


def test_anterior_rendering_puts_patient_right_on_the_left():
    cube = si.voxelSurface(np.ones((2, 2, 2), bool), np.diag([5.0, 5.0, 5.0, 1.0]))
    right = si.Mesh(cube.pointsRas + [40.0, 0.0, 0.0], cube.triangles)  # on the patient's right: R is +x in RAS
    left = si.Mesh(cube.pointsRas - [40.0, 0.0, 0.0], cube.triangles)
    rgb = si.renderMeshes([(right, (1.0, 0.0, 0.0), 1.0), (left, (0.0, 0.0, 1.0), 1.0)], (200, 100),
                          *si.ANTERIOR_VIEW)
    redColumns = np.nonzero(rgb[..., 0] > 120)[1]
    blueColumns = np.nonzero(rgb[..., 2] > 120)[1]
    assert redColumns.size and blueColumns.size and redColumns.max() < blueColumns.min()


def test_voxel_surface_encloses_the_labelmap():
    label = np.zeros((4, 5, 6), bool)
    label[1:3, 1:4, 2:5] = True
    mesh = si.voxelSurface(label, np.eye(4))
    corners = mesh.pointsRas[mesh.triangles]
    signed = np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum() / 6.0
    assert abs(abs(signed) - label.sum()) < 1e-9  # the faces enclose the voxels' volume
    assert mesh.pointsRas.min(0).tolist() == [1.5, 0.5, 0.5] and mesh.pointsRas.max(0).tolist() == [4.5, 3.5, 2.5]


def test_model_files_are_read_in_ras(tmp_path):
    for header, expected in (("3D Slicer output. SPACE=LPS", (-10.0, -20.0, 30.0)), ("no tag", (-10.0, -20.0, 30.0)),
                             ("3D Slicer output. SPACE=RAS", (10.0, 20.0, 30.0))):
        writeModel(tmp_path / "model.vtk", sphereSource((10.0, 20.0, 30.0), 5.0), header, flip=False)
        assert np.allclose(si.readModelRas(tmp_path / "model.vtk").pointsRas.mean(axis=0), expected, atol=0.5)


# -- synthetic cases through each module's writeSummary ------------------------------------------------------------


def sphereSource(centre, radius):
    import vtk

    source = vtk.vtkSphereSource()
    source.SetCenter(*centre)
    source.SetRadius(radius)
    source.SetThetaResolution(48)
    source.SetPhiResolution(32)
    source.Update()
    return source.GetOutput()


def writeModel(path, polyData, header="3D Slicer output. SPACE=LPS", flip=True):
    """Write a RAS poly data as Slicer does: points in LPS, ``SPACE=LPS`` in the header."""
    import vtk
    from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

    copy = vtk.vtkPolyData()
    copy.DeepCopy(polyData)
    if flip:
        points = vtk_to_numpy(copy.GetPoints().GetData()) * np.array([-1.0, -1.0, 1.0])
        copy.GetPoints().SetData(numpy_to_vtk(np.ascontiguousarray(points), deep=True))
    writer = vtk.vtkPolyDataWriter()
    writer.SetInputData(copy)
    writer.SetHeader(header)
    writer.SetFileName(str(path))
    writer.Write()


BALL_RAS = np.array([10.0, -6.0, 14.0])
ANGIO_VIEWS = (CArmGeometry(-30.0, -25.0, 1000.0, 750.0, (1.0, 1.0), 96, 96),
               CArmGeometry(45.0, 25.0, 1000.0, 750.0, (1.0, 1.0), 96, 96))


@pytest.fixture
def angioCase(tmp_path):
    from vtkmodules.vtkFiltersSources import vtkSphereSource
    from vtkmodules.vtkIOLegacy import vtkPolyDataWriter

    from AngioReconLib.entry import AngioCase

    sphere = vtkSphereSource()  # the lumen model: a 6 mm ball, written in LPS as Slicer writes models
    sphere.SetCenter(*(BALL_RAS * [-1.0, -1.0, 1.0]))
    sphere.SetRadius(6.0)
    sphere.SetThetaResolution(32)
    sphere.SetPhiResolution(16)
    writer = vtkPolyDataWriter()
    writer.SetInputConnection(sphere.GetOutputPort())
    writer.SetFileName(str(tmp_path / "model.vtk"))
    writer.Write()
    views = [writeView(tmp_path / f"view{index}.png", geometry, index) for index, geometry in enumerate(ANGIO_VIEWS, 1)]
    return AngioCase(views[0], views[1], "left"), tmp_path


def test_angio_ball_is_drawn_at_its_projection_in_both_views(angioCase):
    from AngioReconLib.summary import writeSummary

    case, directory = angioCase
    path = writeSummary(case, directory, readouts("AngioRecon", lumen_volume_mm3=904.0, tree="left",
                                                  reprojection_dice_view1=0.81234, reprojection_dice_view2=0.7,
                                                  lesion_count=1, max_diameter_stenosis_percent=61.6,
                                                  max_stenosis_branch="branch 3", max_stenosis_mld_mm=1.14))
    assert path == directory / "summary.png"
    rgb = readPng(path)
    rectangles, render = si.xrayLayout(2)
    for geometry, rectangle in zip(ANGIO_VIEWS, rectangles):
        panel = geometry.withImageSize(si.BODY_HEIGHT_PX, si.BODY_HEIGHT_PX)
        centre = panel.projectRas(BALL_RAS[None])[0]
        # ball radius 6 mm, magnification about 1.33, 1 mm pixels scaled by 400 / 96: about 33 panel pixels
        for offset, expectRed in (((0, 0), True), ((20, 0), True), ((0, -20), True), ((60, 0), False),
                                  ((0, 60), False), ((-150, 120), False)):
            row, column = panelPoint(rectangle, (si.BODY_HEIGHT_PX,) * 2, centre + offset)
            assert reddish(rgb[row - 1:row + 2, column - 1:column + 2]).all() == expectRed, (geometry, offset)
    x, y, width, height = render
    assert reddish(rgb[y:y + height, x:x + width]).any()  # the 3D ball
    assert not reddish(rgb[:y - 20]).any()  # no banner: the checks passed


def test_failed_checks_show_a_banner(angioCase):
    from AngioReconLib.summary import writeSummary

    case, directory = angioCase
    rgb = readPng(writeSummary(case, directory, readouts("AngioRecon", ["vessel volume 90 mm3 outside 300-25000"],
                                                         vessel_volume_mm3=90.0)))
    assert colourMask(rgb[54:73, 600:1100], si.BANNER, 10).mean() > 0.8


def test_angio_tree_takes_its_colour_from_the_segmentation_file(tmp_path):
    from AngioReconLib.conventions import SEGMENT_COLOR
    from AngioReconLib.summary import treeColor

    assert treeColor(tmp_path) == SEGMENT_COLOR  # no segmentation file
    (tmp_path / "segmentation.seg.nrrd").write_bytes(
        b"NRRD0004\ntype: unsigned char\nSegment0_Color:=0.1 0.7 0.3\nSegment0_Name:=left coronary tree\n"
        b"Segment0_ID:=S_1\n\n\x1f\x8b\x08 compressed voxels, not text:=")
    assert treeColor(tmp_path) == (0.1, 0.7, 0.3)


SPHERE_RAS = np.array([5.0, 0.0, -8.0])
SPHERE_RADIUS_MM = 20.0
FEMUR_VIEWS = (CArmGeometry(0.0, 0.0, 1000.0, 750.0, (0.8, 0.8), 160, 160),
               CArmGeometry(-90.0, 0.0, 1000.0, 750.0, (0.8, 0.8), 160, 160))


def test_femur_outline_is_the_projected_rim(tmp_path):
    from FemurRegistrationLib.entry import FemurCase
    from FemurRegistrationLib.outputs import OUTLINE_COLOR
    from FemurRegistrationLib.summary import writeSummary

    writeModel(tmp_path / "model.vtk", sphereSource(SPHERE_RAS, SPHERE_RADIUS_MM))
    views = [writeView(tmp_path / f"{name}.png", geometry, index, Modality="DX")
             for index, (name, geometry) in enumerate(zip(("ap", "lat"), FEMUR_VIEWS))]
    rgb = readPng(writeSummary(FemurCase(views[0], views[1], side="right"), tmp_path,
                               readouts("FemurRegistration", side="right", head_diameter_mm=45.8968,
                                        neck_shaft_angle_deg=125.5)))
    rectangles, _ = si.xrayLayout(2)
    for geometry, (x, y, width, height) in zip(FEMUR_VIEWS, rectangles):
        panel = geometry.withImageSize(height, width)
        centre = panel.projectRas(SPHERE_RAS[None])[0]
        # the sphere's shadow: radius R * SID / sqrt(d^2 - R^2) on the detector, d about the source-isocenter distance
        radius = SPHERE_RADIUS_MM * 1000.0 / np.sqrt(750.0 ** 2 - SPHERE_RADIUS_MM ** 2) / panel.pixelSpacingMm[0]
        outlinePixels = np.argwhere(colourMask(rgb[y:y + height, x:x + width], OUTLINE_COLOR))
        assert len(outlinePixels) > 2 * np.pi * radius  # a closed ring, 2 px wide
        distances = np.hypot(outlinePixels[:, 0] - centre[1], outlinePixels[:, 1] - centre[0])
        assert radius - 4 <= distances.min() and distances.max() <= radius + 2, (geometry, radius)


def writeTemplateHeart(directory, template, vertices):
    """The echo models of a heart (template-ordered vertices, heart frame) written as EchoRecon writes them."""
    from types import SimpleNamespace

    from EchoReconLib.outputs import fileStem, structureSurfaces
    from EchoReconLib.pipeline import heartToRas

    rotation = heartToRas(template)[:3, :3]
    result = SimpleNamespace(template=template, verticesRas=lambda phase: vertices @ rotation.T)
    for structure, polyData in structureSurfaces(result, "ED").items():
        writeModel(directory / f"{fileStem(structure)}.vtk", polyData)


def writeEchoViews(directory):
    from PIL import Image

    from EchoReconLib.conventions import FIELD_DEPTH_MM, VIEWS

    files = {}
    for index, view in enumerate(VIEWS):
        pixels = np.random.default_rng(index).uniform(20, 200, (128, 128)).astype(np.uint8)
        files[view] = directory / f"{view}.png"
        Image.fromarray(pixels).save(files[view])
        spacing = FIELD_DEPTH_MM[view] / 127
        (directory / f"{view}.json").write_text(json.dumps({"ViewLabel": view, "PixelSpacing": [spacing, spacing]}))
    return files


def test_echo_contours_are_the_template_heart_cut_by_each_plane(tmp_path):
    from scipy import ndimage

    from EchoReconLib.entry import EchoCase
    from EchoReconLib.outputs import STRUCTURE_COLORS
    from EchoReconLib.summary import VIEW_PANEL_PX, viewRectangles, writeSummary
    from EchoReconLib.template import HeartTemplate
    from EchoReconLib.viewplanes import sliceStructures, viewPlanes

    template = HeartTemplate.load()
    writeTemplateHeart(tmp_path, template, template.vertices)
    edv = template.structureVolumesMl()["LV cavity"]
    rgb = readPng(writeSummary(EchoCase(writeEchoViews(tmp_path)), tmp_path,
                               readouts("EchoRecon", lv_edv_ml=edv, view_dice_a4c=0.9)))
    planes = viewPlanes(template.vertices, template)
    for view in ("A4C", "SAXM"):
        x, y, width, height = viewRectangles()[("ED", view)]
        drawn = colourMask(rgb[y:y + height, x:x + width], STRUCTURE_COLORS["LV cavity"], 30)
        assert drawn.sum() > 40, view
        # the LV cavity's cut as the module's own slicer fills it (128 px: the images' field), at panel size
        cavity = sliceStructures(template.vertices, template, planes[view], size=128)[0]
        expected = si.resizeMask(cavity, (VIEW_PANEL_PX, VIEW_PANEL_PX))
        rim = ndimage.binary_dilation(si.outline(expected), iterations=3)
        assert rim[drawn].mean() > 0.95, view
        assert not drawn[~ndimage.binary_dilation(expected, iterations=4)].any(), view
    x, y, width, height = viewRectangles()[("ES", "A4C")]
    assert np.all(rgb[y + 20:y + height, x:x + width] == si.BACKGROUND)  # no end-systole: no panels


def test_echo_models_out_of_template_order_are_shown_without_a_cut(tmp_path):
    from EchoReconLib.entry import EchoCase
    from EchoReconLib.outputs import STRUCTURE_COLORS
    from EchoReconLib.summary import viewRectangles, writeSummary
    from EchoReconLib.template import HeartTemplate

    template = HeartTemplate.load()
    writeTemplateHeart(tmp_path, template, template.vertices)
    rgb = readPng(writeSummary(EchoCase(writeEchoViews(tmp_path)), tmp_path,
                               readouts("EchoRecon", lv_edv_ml=2.0 * template.structureVolumesMl()["LV cavity"])))
    x, y, width, height = viewRectangles()[("ED", "A4C")]
    assert not colourMask(rgb[y:y + height, x:x + width], STRUCTURE_COLORS["LV cavity"], 30).any()


# -- the bundled samples (torch) -----------------------------------------------------------------------------------


def checkSampleSummary(path):
    readPng(path)
    assert path.stat().st_size < 300_000  # grey levels quantised: small enough to mail or attach to a report


def sampleRun(entry, name, tmp_path_factory):
    directory = tmp_path_factory.mktemp(name)
    case = entry.sampleCases()[name]
    return case, directory, entry.runCase(case, directory, "cpu", None)


@pytest.mark.torch
def test_angio_sample_tree_lies_on_the_vessels_of_each_view(tmp_path_factory):
    from scipy import ndimage

    from AngioReconLib.entry import ENTRY
    from AngioReconLib.conventions import SEGMENT_COLOR
    from AngioReconLib.samples import sampleFiles
    from AngioReconLib.summary import treeColor, viewPanels, writeSummary
    from ReconCoreLib.xrayio import readMaskImage

    case, directory, result = sampleRun(ENTRY, "AngioLeft", tmp_path_factory)
    checkSampleSummary(writeSummary(case, directory, result))
    assert treeColor(directory) == SEGMENT_COLOR  # the scene's colour
    for (image, rgb, overlays), key in zip(viewPanels(case, directory), ("mask1", "mask2")):
        size = (rgb.shape[1], rgb.shape[0])
        vessels = si.resizeMask(readMaskImage(sampleFiles("AngioLeft")[key]) > 0, size)
        near = ndimage.binary_dilation(vessels, iterations=6)  # 6 panel pixels: 2 mm, one voxel, at the isocenter
        tree = overlays["tree"]
        assert tree.sum() > 1000 and near[tree].mean() > 0.9, key


@pytest.mark.torch
def test_femur_sample_outline_lies_on_the_femur_mask_rim(tmp_path_factory):
    from scipy import ndimage

    from FemurRegistrationLib.entry import ENTRY
    from FemurRegistrationLib.summary import viewPanels, writeSummary

    case, directory, result = sampleRun(ENTRY, "FemurOrthogonal", tmp_path_factory)
    checkSampleSummary(writeSummary(case, directory, result))
    for name, image, rgb, overlays in viewPanels(case, directory):
        femur, rim = overlays["femur"], overlays["mask"]
        near = ndimage.binary_dilation(rim, iterations=8)  # 8 panel pixels: 4 mm at the isocenter
        # Measured 0.86 on the lateral view (the registration's Dice is 0.85 with the box placed on the femur found,
        # 0.89 with it fixed on the isocenter, where this sample's femur lies).
        assert femur.sum() > 500 and near[femur].mean() > 0.8, name


@pytest.mark.torch
def test_echo_sample_contours_lie_in_the_sector(tmp_path_factory):
    from EchoReconLib.conventions import STRUCTURES
    from EchoReconLib.entry import ENTRY
    from EchoReconLib.summary import viewPanels, writeSummary

    case, directory, result = sampleRun(ENTRY, "EchoNormal", tmp_path_factory)
    checkSampleSummary(writeSummary(case, directory, result))
    panels, vertices, _ = viewPanels(case, directory, result)
    assert vertices["ED"] is not None and vertices["ES"] is not None  # the models kept the template's order
    assert len(panels) == 12
    for (phase, view), (rgb, labels, sector) in panels.items():
        cavity = labels == STRUCTURES.index("LV cavity") + 1  # the other chambers may reach past the sector's edges
        assert cavity.sum() > 100 and sector[cavity].mean() > 0.98, (phase, view)
        assert (labels > 0).sum() > 2 * cavity.sum(), (phase, view)  # and the other structures are drawn


def test_angio_footer_names_the_worst_lesion_or_none():
    from AngioReconLib.summary import worstLesion

    assert worstLesion(readouts("AngioRecon", lesion_count=2, lesions_50_percent_count=1,
                                max_diameter_stenosis_percent=61.6, max_stenosis_branch="branch 3",
                                max_stenosis_mld_mm=1.14)) == \
        "Worst stenosis 62 % (branch 3, MLD 1.1 mm); 2 lesions >= 20 %, 1 >= 50 %"
    assert worstLesion(readouts("AngioRecon", lesion_count=0)) == "No stenosis >= 20 %"
    assert worstLesion(readouts("AngioRecon")) is None  # no QCA in these readouts

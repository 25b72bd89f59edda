"""The screenshot helpers (Development/ReconCoreDev/screenshots.py) on a tiny synthetic input: a sphere model seen by a
small C-arm view. The picture must have the requested size and not be blank.

Rendering needs matplotlib and an OpenGL that VTK can open without a display (EGL or OSMesa, e.g. Debian's
libegl-mesa0): where either is missing the rendering tests skip, saying which.
"""

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the screenshots are composed with matplotlib")
pytest.importorskip("PIL", reason="the screenshots are written with Pillow")
screenshots = pytest.importorskip("ReconCoreDev.screenshots")


@pytest.fixture(scope="module")
def offscreen():
    if not screenshots.offscreenRenderingWorks():
        pytest.skip("VTK cannot render offscreen here (no EGL or OSMesa OpenGL, e.g. Debian's libegl-mesa0)")


def sphere(centre=(0.0, 0.0, 0.0), radius=20.0):
    import vtk

    source = vtk.vtkSphereSource()
    source.SetCenter(*centre)
    source.SetRadius(radius)
    source.SetThetaResolution(24)
    source.SetPhiResolution(16)
    source.Update()
    return source.GetOutput()


def smallView():
    from ReconCoreLib.xraygeometry import CArmGeometry

    return CArmGeometry(0.0, 0.0, 1000.0, 750.0, (2.0, 2.0), 48, 64)


def test_read_model_ras_flips_slicer_lps_files(tmp_path):
    import vtk

    for header, expected in (("3D Slicer output. SPACE=LPS", (-10.0, -20.0, 30.0)), ("no tag", (-10.0, -20.0, 30.0)),
                             ("3D Slicer output. SPACE=RAS", (10.0, 20.0, 30.0))):
        writer = vtk.vtkPolyDataWriter()
        writer.SetInputData(sphere((10.0, 20.0, 30.0), 5.0))
        writer.SetHeader(header)
        writer.SetFileName(str(tmp_path / "model.vtk"))
        writer.Write()
        points = screenshots.pointsOf(screenshots.readModelRas(tmp_path / "model.vtk"))
        assert np.allclose(points.mean(axis=0), expected, atol=0.5), header


def test_projected_silhouette_covers_the_sphere_shadow():
    view = smallView()
    silhouette = screenshots.projectedSilhouette(sphere(), view)
    assert silhouette.shape == (48, 64)
    rows, columns = np.nonzero(silhouette)
    # radius 20 mm at magnification 1000 / 750 on 2 mm pixels: about 13 pixels, centred on the central ray
    assert abs(rows.mean() - 23.5) < 1 and abs(columns.mean() - 31.5) < 1
    assert 11 < np.ptp(columns) / 2 < 15


def test_render_models_draws_the_model(offscreen):
    image = screenshots.renderModels([(sphere(), (1.0, 0.5, 0.2), 1.0)], (120, 90), (0, -1, 0), (0, 0, 1))
    assert image.shape == (90, 120, 3) and image.dtype == np.uint8
    background = np.round(np.array(screenshots.BACKGROUND) * 255)
    assert np.abs(image[0, 0].astype(float) - background).max() <= 2  # the corner is background
    assert image[45, 60, 0] > 100 and image[45, 60, 0] > image[45, 60, 2]  # the centre is the orange sphere


def test_compose_figure_writes_a_picture_of_the_requested_size(offscreen, tmp_path):
    from PIL import Image

    model, view = sphere(), smallView()
    pixels = np.random.default_rng(0).random((view.rows, view.columns)).astype(np.float32)
    points = view.projectRas(screenshots.pointsOf(model))
    draw = screenshots.imageDrawer(pixels, points, contours=[(screenshots.projectedSilhouette(model, view), "cyan")])
    path = screenshots.composeFigure(
        tmp_path / "shot.png", "Test", [("view 1", draw), ("view 2", draw)],
        lambda size: screenshots.renderModels([(model, (1.0, 0.5, 0.2), 1.0)], size, (0, -1, 0), (0, 0, 1)),
        "sphere", "caption", [("points", screenshots.OVERLAY, "o")], ("R", "L"))
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.size == screenshots.SIZE_PX and picture.mode == "RGB"
        array = np.asarray(picture)
    assert array.std() > 10 and len(np.unique(array.reshape(-1, 3), axis=0)) > 50  # not blank
    right = array[100:500, 900:1150]  # inside the 3D panel: the rendered sphere, not only background
    assert (np.abs(right.astype(int) - right[0, 0]).sum(axis=2) > 60).mean() > 0.05

"""Screenshots of each module's result on its bundled sample data (Extensions Index, README).

Development only: no runtime file imports this. Regenerate all three pictures from the repository root::

    .venv/bin/python -m ReconCoreDev.screenshots --out Resources/Screenshots    # runs `recon2d3d demo` first (~1 min)
    .venv/bin/python -m ReconCoreDev.screenshots --out Resources/Screenshots --demo /tmp/shots-demo  # reuses a run

Each picture: left, the 2D inputs with the result drawn over them; right, a VTK offscreen rendering of the output
models; below, readouts from ``readouts.json``. Frames: the command line writes ``.vtk`` models the way Slicer saves
them, in LPS (header ``SPACE=LPS``); :func:`readModelRas` turns them into patient RAS (mm), the frame that
:meth:`CArmGeometry.projectRas` and the 3D cameras here use. VTK needs an OpenGL it can open without a display (EGL
or OSMesa, e.g. Debian's libegl-mesa0 + libgl1-mesa-dri): :func:`offscreenRenderingWorks` tells.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SIZE_PX = (1200, 600)
BACKGROUND = (0.07, 0.07, 0.09)
TEXT, GREY_TEXT, OVERLAY, MASK = "#e8e8e8", "#9a9a9a", "#ffa51f", "#35d0e0"
TITLE_PX = 22
GREY_LEVELS = 64  # grey levels of the image panels: the noise looks the same, the PNGs stay small
SYNTHETIC = "Synthetic sample data made by the project's own simulators, not patient images"
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
_PROBE = ("import vtk; vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_ERROR);"
          "w = vtk.vtkRenderWindow(); w.SetOffScreenRendering(1); w.SetMultiSamples(0); r = vtk.vtkRenderer();"
          "w.AddRenderer(r); r.SetBackground(1, 0, 0); w.SetSize(8, 8); w.Render(); f = vtk.vtkWindowToImageFilter();"
          "f.SetInput(w); f.Update(); print(f.GetOutput().GetScalarComponentAsDouble(4, 4, 0, 0))")


def offscreenRenderingWorks() -> bool:
    """True when VTK renders offscreen here; probed in a child process, since a missing OpenGL can abort it."""
    try:
        result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and result.stdout.strip().splitlines()[-1:] == ["255.0"]


def pointsOf(polyData) -> np.ndarray:
    """(N, 3) point coordinates of a vtkPolyData (in its own frame: here RAS, mm)."""
    from vtk.util.numpy_support import vtk_to_numpy

    return vtk_to_numpy(polyData.GetPoints().GetData()).astype(float)


def readModelRas(path: str | Path):
    """vtkPolyData of a legacy ``.vtk`` model in patient RAS (mm). Slicer writes LPS (``SPACE=LPS`` in the header)
    and reads a file without the tag as LPS, so everything but ``SPACE=RAS`` is flipped."""
    import vtk
    from vtk.util.numpy_support import numpy_to_vtk

    reader = vtk.vtkPolyDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    polyData = reader.GetOutput()
    if "SPACE=RAS" not in (reader.GetHeader() or ""):
        polyData.GetPoints().SetData(numpy_to_vtk(pointsOf(polyData) @ LPS_TO_RAS, deep=True))
        polyData.GetPointData().SetNormals(None)  # recomputed for rendering
    return polyData


def renderModels(models, size, direction, viewUp, background=BACKGROUND) -> np.ndarray:
    """RGB uint8 [height, width, 3] offscreen rendering of ``models`` [(vtkPolyData RAS mm, rgb, opacity)]: parallel
    projection along ``direction`` (RAS, from the camera toward the models), ``viewUp`` (RAS) up, fitted tightly."""
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_ERROR)  # no "bad X server connection" on EGL
    window, renderer = vtk.vtkRenderWindow(), vtk.vtkRenderer()
    window.SetOffScreenRendering(1)
    window.SetSize(int(size[0]), int(size[1]))
    window.SetAlphaBitPlanes(1)  # depth peeling: see-through models drawn right
    window.SetMultiSamples(0)  # needed for depth peeling; Mesa's EGL window reads back black without it
    window.AddRenderer(renderer)
    renderer.SetBackground(*background)
    renderer.SetUseDepthPeeling(1)
    renderer.UseFXAAOn()
    for polyData, color, opacity in models:
        normals = vtk.vtkPolyDataNormals()
        normals.SetInputData(polyData)
        normals.SplittingOff()  # smooth shading across sharp folds
        mapper = vtk.vtkPolyDataMapper()
        mapper.SetInputConnection(normals.GetOutputPort())
        mapper.ScalarVisibilityOff()
        actor = vtk.vtkActor()
        actor.SetMapper(mapper)
        for name, value in (("Color", color), ("Opacity", opacity), ("Ambient", 0.15), ("Specular", 0.25),
                            ("SpecularPower", 20.0)):
            getattr(actor.GetProperty(), f"Set{name}")(value)
        renderer.AddActor(actor)
    direction = np.asarray(direction, float) / np.linalg.norm(direction)
    up = np.asarray(viewUp, float) - np.dot(viewUp, direction) * direction
    up /= np.linalg.norm(up)
    points = np.vstack([pointsOf(polyData) for polyData, _, _ in models])
    across, along = points @ np.cross(direction, up), points @ up  # screen right, screen up
    centre = (across.max() + across.min()) / 2 * np.cross(direction, up) + (along.max() + along.min()) / 2 * up
    camera = renderer.GetActiveCamera()
    camera.ParallelProjectionOn()
    camera.SetFocalPoint(*centre)
    camera.SetPosition(*(centre - 1000.0 * direction))
    camera.SetViewUp(*up)
    camera.SetParallelScale(0.54 * max(np.ptp(along), np.ptp(across) * size[1] / size[0]))
    renderer.ResetCameraClippingRange()
    window.Render()
    grab = vtk.vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.ReadFrontBufferOff()
    grab.Update()
    width, height, _ = grab.GetOutput().GetDimensions()
    pixels = vtk_to_numpy(grab.GetOutput().GetPointData().GetScalars()).reshape(height, width, -1)[..., :3]
    window.Finalize()
    return np.ascontiguousarray(pixels[::-1])  # VTK's rows run bottom-up


def viewRectangles(count: int, top: int, bottom: int) -> tuple[list, int]:
    """Pixel squares (x, y from the figure's bottom, side) of ``count`` titled views, and the x where the 3D panel
    starts: views in a row, or for three one large and two stacked."""
    available = SIZE_PX[1] - top - bottom - 2 * TITLE_PX
    if count == 3:
        small, large = (available - TITLE_PX - 6) // 2, available + TITLE_PX
        return [(10, bottom, large), (20 + large, bottom + small + TITLE_PX + 6, small),
                (20 + large, bottom, small)], 30 + large + small
    side = min(available + TITLE_PX, (SIZE_PX[0] - 350 - 10 * (count + 1)) // count)
    return [(10 + index * (side + 10), bottom, side) for index in range(count)], 10 + count * (side + 10)


def composeFigure(path, title, views, render, renderingLabel, caption, legend=(), sideLabels=("", "")) -> Path:
    """Write an RGB PNG of :data:`SIZE_PX`: ``views`` [(title, draw(axes))] on the left, the RGB array that
    ``render((width, height))`` returns on the right (pixel for pixel), ``title`` above; ``caption``, ``legend``
    [(label, colour, marker or None)] and :data:`SYNTHETIC` below."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from PIL import Image

    width, height = SIZE_PX
    top, bottom = 46, 84
    figure = Figure(figsize=(width / 100, height / 100), dpi=100, facecolor=BACKGROUND)
    rectangles, left = viewRectangles(len(views), top, bottom)
    for (label, draw), (x, y, side) in zip(views, rectangles):
        axes = figure.add_axes((x / width, y / height, side / width, side / height))
        axes.set_axis_off()
        draw(axes)
        axes.set_title(label, color=TEXT, fontsize=10, pad=3)
    renderSize = (width - left - 10, height - top - bottom - TITLE_PX)
    axes = figure.add_axes((left / width, bottom / height, renderSize[0] / width, renderSize[1] / height))
    axes.imshow(render(renderSize), interpolation="none")
    axes.set_axis_off()
    axes.set_title(renderingLabel, color=TEXT, fontsize=10, pad=3)
    for x, text in zip((0.03, 0.97), sideLabels):
        axes.text(x, 0.5, text, transform=axes.transAxes, ha="center", va="center", color=GREY_TEXT, fontsize=12)
    figure.text(10 / width, 1 - 10 / height, title, color="white", fontsize=15, weight="bold", va="top")
    figure.text(10 / width, 54 / height, caption, color=TEXT, fontsize=10.5, va="bottom")
    handles = [Line2D([], [], color=color, marker=marker, linestyle="none" if marker else "-", markersize=5,
                      linewidth=1.5, label=label) for label, color, marker in legend]
    if handles:
        figure.legend(handles=handles, loc="lower left", bbox_to_anchor=(8 / width, 24 / height), ncol=len(handles),
                      frameon=False, labelcolor=TEXT, fontsize=9, handlelength=1.4, columnspacing=1.2,
                      borderpad=0, borderaxespad=0)
    figure.text(10 / width, 6 / height, SYNTHETIC, color=GREY_TEXT, fontsize=9, va="bottom", style="italic")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, facecolor=BACKGROUND)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.open(buffer).convert("RGB").save(path, optimize=True)  # no alpha channel: a quarter smaller
    return Path(path)


def imageDrawer(pixels, points=None, contours=(), polygons=(), low=1.0, high=99.5):
    """draw(axes): grey ``pixels`` [rows, columns] (window: percentiles ``low``-``high``), ``points`` (N, 2)
    (column, row) as orange dots, ``contours`` [(mask [rows, columns], colour)] outlined, ``polygons``
    [((N, 2) column/row, colour)] as thin lines."""
    def draw(axes):
        from matplotlib import colormaps

        vmin, vmax = np.percentile(pixels, [low, high])
        axes.imshow(pixels, cmap=colormaps["gray"].resampled(GREY_LEVELS), vmin=vmin, vmax=vmax,
                    interpolation="nearest")
        for mask, color in contours:
            if np.any(mask):
                axes.contour(np.asarray(mask, float), levels=[0.5], colors=[color], linewidths=1.3)
        for polygon, color in polygons:
            axes.plot(polygon[:, 0], polygon[:, 1], color=color, linewidth=0.8, alpha=0.7)
        if points is not None:
            axes.scatter(points[:, 0], points[:, 1], s=1.6, c=OVERLAY, alpha=0.7, linewidths=0)
        axes.set_xlim(-0.5, pixels.shape[1] - 0.5)
        axes.set_ylim(pixels.shape[0] - 0.5, -0.5)
    return draw


def projectedSilhouette(polyData, geometry) -> np.ndarray:
    """bool [rows, columns] of one X-ray view: the pixels covered by the projected triangles of a RAS model."""
    from PIL import Image, ImageDraw
    from vtk.util.numpy_support import vtk_to_numpy

    pixels = geometry.projectRas(pointsOf(polyData))
    triangles = vtk_to_numpy(polyData.GetPolys().GetConnectivityArray()).reshape(-1, 3)
    image = Image.new("1", (geometry.columns, geometry.rows), 0)
    draw = ImageDraw.Draw(image)
    for triangle in pixels[triangles]:
        draw.polygon([tuple(corner) for corner in triangle], fill=1)
    return np.array(image, bool)


def angleName(primary: float, secondary: float) -> str:
    """C-arm angles in cath-lab words (DICOM: primary LAO +, secondary CRA +)."""
    first = "AP" if abs(primary) < 0.5 else f"{'LAO' if primary > 0 else 'RAO'} {abs(primary):.0f}"
    return first if abs(secondary) < 0.5 else f"{first} / {'CRA' if secondary > 0 else 'CAU'} {abs(secondary):.0f}"


def angioFigure(caseDir: Path, out: Path, case: str = "AngioLeft") -> Path:
    """Both angiograms (the frame the command line picks) with the points of ``model.vtk`` projected through each
    view's geometry (RAS -> pixel); the model from the front (anterior view: patient right on the left)."""
    from AngioReconLib.samples import SAMPLES, sampleFiles
    from AngioReconLib.vessels import readAngiogram

    model = readModelRas(caseDir / "model.vtk")
    readouts = json.loads((caseDir / "readouts.json").read_text())
    views = []
    for index in (1, 2):
        image = readAngiogram(sampleFiles(case)[f"view{index}"])
        geometry = image.geometry
        label = (f"View {index}: {angleName(geometry.primaryAngleDeg, geometry.secondaryAngleDeg)} "
                 f"(frame {image.frameIndex + 1} of {image.numberOfFrames})")
        views.append((label, imageDrawer(image.pixels, geometry.projectRas(pointsOf(model)))))
    caption = (f"{SAMPLES[case].capitalize()} tree ({case}): re-projection Dice "
               f"{readouts['reprojection_dice_view1']:.2f} / {readouts['reprojection_dice_view2']:.2f} (views 1 / 2), "
               f"vessel volume {readouts['vessel_volume_mm3'] / 1000:.1f} mL, views "
               f"{readouts['view_separation_deg']:.0f} deg apart")
    legend = [("surface points of the 3D tree, projected through each view's C-arm geometry", OVERLAY, "o")]
    return composeFigure(out / "AngioRecon.png", "AngioRecon: coronary tree from two angiograms", views,
                         lambda size: renderModels([(model, (0.95, 0.33, 0.27), 1.0)], size, (0, -1, 0), (0, 0, 1)),
                         "3D tree (model.vtk), anterior view", caption, legend, ("R", "L"))


def femurFigure(caseDir: Path, out: Path, case: str = "FemurOrthogonal") -> Path:
    """AP and lateral radiographs with the outline of the registered femur model projected through each view's
    geometry (RAS -> pixel) beside the input femur mask's; the model from the front (anterior view)."""
    from FemurRegistrationLib.samples import sampleFiles
    from ReconCoreLib.xrayio import readMaskImage, readXrayImage

    files = sampleFiles(case)
    model = readModelRas(caseDir / "model.vtk")
    readouts = json.loads((caseDir / "readouts.json").read_text())
    views = []
    for key, name in (("ap", "AP"), ("lat", "Lateral")):
        image = readXrayImage(files[key])
        mask = readMaskImage(files[f"{key}Mask"]) > 0
        draw = imageDrawer(image.pixels, contours=[(mask, MASK), (projectedSilhouette(model, image.geometry), OVERLAY)])
        views.append((f"{name} radiograph (C-arm {image.geometry.primaryAngleDeg:.0f} deg)", draw))
    caption = (f"{readouts['side'].capitalize()} femur ({case}): Dice {readouts['dice']:.2f}, ASSD "
               f"{readouts['assd_mm']:.1f} mm against the reference segmentation; head diameter "
               f"{readouts['head_diameter_mm']:.1f} mm, neck-shaft angle {readouts['neck_shaft_angle_deg']:.0f} deg")
    legend = [("input femur mask", MASK, None), ("registered femur model, projected outline", OVERLAY, None)]
    return composeFigure(out / "FemurRegistration.png", "FemurRegistration: femur atlas registered to two radiographs",
                         views, lambda size: renderModels([(model, (0.93, 0.88, 0.76), 1.0)], size, (0, -1, 0),
                                                          (0, 0, 1)),
                         "Registered femur (model.vtk), anterior view", caption, legend, ("R", "L"))


def echoVertices(caseDir: Path, template, phase: str = "ED") -> np.ndarray:
    """Template-ordered vertices [V, 3] (heart frame, mm) from the per-structure models (RAS): each structure file
    holds its own vertices in ascending template order (``removeUnusedPoints``), the LV myocardium's first."""
    from EchoReconLib.conventions import STRUCTURES
    from EchoReconLib.outputs import fileStem
    from EchoReconLib.pipeline import heartToRas

    rotation = heartToRas(template)[:3, :3]  # heart frame -> RAS is a rotation only
    vertices = template.vertices.copy()
    for index, structure in enumerate(STRUCTURES):
        used = np.unique(template.structureTriangles(index))
        model = readModelRas(caseDir / f"{fileStem(structure)}{'' if phase == 'ED' else '_es'}.vtk")
        vertices[used] = pointsOf(model)[:len(used)] @ rotation  # RAS -> heart frame
    return vertices


def echoFigure(caseDir: Path, out: Path, case: str = "EchoNormal", shown=("A4C", "A2C", "SAXM")) -> Path:
    """End-diastolic views with their sector and the 3D result cut by each standard view plane (what the module's
    per-view Dice compares), coloured per structure; the ED models seen along the A4C plane normal (apex up and RV
    on the left, as in the A4C image), the LV myocardium see-through."""
    from EchoReconLib.conventions import STRUCTURES
    from EchoReconLib.echoio import readEchoImage
    from EchoReconLib.outputs import STRUCTURE_COLORS, STRUCTURE_OPACITY, fileStem
    from EchoReconLib.pipeline import heartToRas
    from EchoReconLib.samples import sampleFiles
    from EchoReconLib.template import HeartTemplate
    from EchoReconLib.viewplanes import sliceStructures, viewPlanes

    template = HeartTemplate.load()
    vertices = echoVertices(caseDir, template)
    readouts = json.loads((caseDir / "readouts.json").read_text())
    volume = template.structureVolumesMl(vertices)["LV cavity"]
    if abs(volume - readouts["lv_edv_ml"]) > 0.02 * readouts["lv_edv_ml"]:
        raise ValueError(f"{caseDir}: LV cavity {volume:.1f} mL from the models but {readouts['lv_edv_ml']:.1f} mL "
                         "in readouts.json: the model files do not follow the template's vertex order")
    planes = viewPlanes(vertices, template)
    views = []
    for view in shown:
        image = readEchoImage(sampleFiles(case)["ED"][view])
        size = image.pixels.shape[0]
        masks = sliceStructures(vertices, template, planes[view], size=size)
        angles = np.radians(np.linspace(-1, 1, 60) * planes[view].halfAngleDeg)
        apex = np.array([(size - 1) / 2.0, 0.0])  # sector apex at the top middle, depth = image height
        sector = np.vstack([apex, apex + (size - 1) * np.stack([np.sin(angles), np.cos(angles)], 1), apex])
        contours = [(masks[index], STRUCTURE_COLORS[name]) for index, name in enumerate(STRUCTURES)]
        contours.append(contours.pop(0))  # LV cavity over the myocardium (its mask: the whole epicardial cut)
        views.append((f"{view}, end-diastole", imageDrawer(image.pixels, contours=contours,
                                                           polygons=[(sector, "#cfcfcf")], low=0.0, high=99.8)))
    rotation, plane = heartToRas(template)[:3, :3], planes["A4C"]
    models = [(readModelRas(caseDir / f"{fileStem(name)}.vtk"), STRUCTURE_COLORS[name],
               STRUCTURE_OPACITY.get(name, 1.0)) for name in STRUCTURES]
    truth = json.loads(sampleFiles(case)["ED"]["A4C"].with_suffix(".json").read_text())["GroundTruth"]
    caption = (f"{case}: LV EDV {readouts['lv_edv_ml']:.0f} mL, ESV {readouts['lv_esv_ml']:.0f} mL, EF "
               f"{readouts['lv_ef_percent']:.0f} % (simulated truth {truth['edvMl']:.0f} mL, {truth['esvMl']:.0f} mL, "
               f"{truth['efPercent']:.0f} %). Contours: the 3D result cut by each view's plane")
    return composeFigure(out / "EchoRecon.png", "EchoRecon: heart chambers from six 2D echo views", views,
                         lambda size: renderModels(models, size, rotation @ plane.normal, rotation @ -plane.v),
                         "3D chambers at end-diastole", caption,
                         [(name, STRUCTURE_COLORS[name], None) for name in STRUCTURES])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("Resources/Screenshots"), help="folder for the PNGs")
    parser.add_argument("--demo", type=Path, help="an existing `recon2d3d demo --out` folder (default: run one)")
    args = parser.parse_args(argv)
    if not offscreenRenderingWorks():
        print("VTK cannot render offscreen here (no EGL or OSMesa OpenGL; Debian: libegl-mesa0 libgl1-mesa-dri)",
              file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        demo = args.demo
        if demo is None:
            demo = Path(scratch) / "demo"
            subprocess.run([str(Path(sys.executable).with_name("recon2d3d")), "demo", "--out", str(demo),
                            "--device", "cpu", "--quiet"], check=True)
        for path in (angioFigure(demo / "angio" / "AngioLeft", args.out),
                     echoFigure(demo / "echo" / "EchoNormal", args.out),
                     femurFigure(demo / "femur" / "FemurOrthogonal", args.out)):
            print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""EchoRecon's summary picture (``summary.png``, :data:`~ReconCoreLib.summaryimage.SIZE_PX`): the six views of each
phase with the reconstructed heart cut by that view's standard plane (what the per-view Dice compares), the
end-diastolic chambers in 3D, the LV volumes and EF.

The cut needs the mesh in the template's vertex order, which the output models keep: each ``<structure>.vtk`` holds
its structure's template vertices in ascending order (the LV myocardium's epicardial ones first), in RAS (the heart
frame turned by :func:`~.pipeline.heartToRas`). The planes are :func:`~.viewplanes.viewPlanes` of that phase's
mesh, as in the measurements. A plane pixel lies ``lateral`` mm right of and ``depth`` mm below the sector apex,
which is where :func:`~.inputs.networkInput` took it from in the image (its pixel spacing, its apex; the top middle
and the training field depth when the image names none). When the models do not give back the LV cavity volume of
the readouts (files not written by this module), the views are shown without the cut and the picture says so.

Console example::

    from EchoReconLib.entry import ENTRY
    from EchoReconLib.summary import writeSummary
    case = ENTRY.sampleCases()["EchoNormal"]
    readouts = ENTRY.runCase(case, Path("out/echo-normal"), "cpu", None)
    writeSummary(case, Path("out/echo-normal"), readouts)    # out/echo-normal/summary.png
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ReconCoreLib import summaryimage as si

from .conventions import FIELD_DEPTH_MM, STRUCTURES, VIEWS
from .echoio import readEchoImage
from .outputs import STRUCTURE_COLORS, STRUCTURE_OPACITY, fileStem
from .placement import shiftOf
from .viewplanes import DRAW_ORDER, imageMapping, planeCut

#: Side of each view's panel (pixels), the gap between panels, and the sector's outline colour.
VIEW_PANEL_PX = 140
VIEW_GAP_PX = 6
SECTOR_COLOR = (0.55, 0.55, 0.55)
#: Largest difference between the LV cavity volume of the models and the readouts (fraction) for a usable cut.
VOLUME_TOLERANCE = 0.02


def phaseVertices(directory: Path, template, phase: str, readouts=None) -> Optional[np.ndarray]:
    """Template-ordered vertices [V, 3] (heart frame, mm) of one phase ("ED", "ES") from its models in
    ``directory``, or None when the files are missing or do not follow the template's vertex order (checked with
    the LV cavity volume of ``readouts`` when given)."""
    from .pipeline import heartToRas

    rotation = heartToRas(template)[:3, :3]  # heart frame -> RAS: a rotation about the origin
    vertices = template.vertices.copy()
    for index, structure in enumerate(STRUCTURES):
        path = Path(directory) / f"{fileStem(structure)}{'' if phase == 'ED' else '_es'}.vtk"
        used = np.unique(template.structureTriangles(index))
        try:
            points = si.readModelRas(path).pointsRas
        except ValueError:
            return None
        if len(points) < len(used):
            return None
        vertices[used] = points[:len(used)] @ rotation  # RAS -> heart frame
    expected = None if readouts is None else readouts.values.get("lv_edv_ml" if phase == "ED" else "lv_esv_ml")
    if expected:
        volume = template.structureVolumesMl(vertices)["LV cavity"]
        if abs(volume - expected) > VOLUME_TOLERANCE * expected:
            return None
    return vertices


def viewPanel(image, view: str, vertices: Optional[np.ndarray], template, plane,
              side: int = VIEW_PANEL_PX, shiftMm=(0.0, 0.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(RGB panel, overlay labels, sector mask) of one echo view at panel size: the image fitted to ``side``, the
    outline of the network's field (sector of :attr:`plane.halfAngleDeg <.viewplanes.ViewPlane>` down to the
    training depth) and, with ``vertices``, each structure's cut by ``plane`` in its colour (overlay labels: uint8,
    0 none, else the drawn structure's index in :data:`STRUCTURES` + 1). ``shiftMm``: how far the run moved the view
    onto the heart (:func:`~.placement.shiftOf`), so the field and cuts are drawn where the network read them."""
    from PIL import Image, ImageDraw

    rows, columns = image.pixels.shape
    size = si.fitSize(rows, columns, side)
    rgb = si.greyPanel(image.pixels, size, 0.0, 99.8)
    apex, spacing = imageMapping(image, view, shiftMm)
    scale = np.array([size[0] / columns, size[1] / rows])  # (x, y) panel pixels per image pixel

    def toPanel(lateralMm: np.ndarray, depthMm: np.ndarray) -> np.ndarray:
        """(x, y) panel coordinates of plane points (mm right of and below the sector apex)."""
        column, row = apex[1] + lateralMm / spacing[1], apex[0] + depthMm / spacing[0]
        return np.stack([(column + 0.5) * scale[0] - 0.5, (row + 0.5) * scale[1] - 0.5], -1)

    canvas = Image.fromarray(rgb)
    draw = ImageDraw.Draw(canvas)
    overlay = Image.new("L", size, 0)
    overlayDraw = ImageDraw.Draw(overlay)
    angles = np.radians(np.linspace(-1.0, 1.0, 41) * plane.halfAngleDeg)
    depth = FIELD_DEPTH_MM[view]
    arc = toPanel(depth * np.sin(angles), depth * np.cos(angles))
    apexPanel = toPanel(np.zeros(1), np.zeros(1))[0]
    sector = [tuple(apexPanel)] + [tuple(point) for point in arc] + [tuple(apexPanel)]
    sectorMask = Image.new("L", size, 0)
    ImageDraw.Draw(sectorMask).polygon(sector, fill=255)
    draw.line(sector, fill=si.color255(SECTOR_COLOR), width=1)
    if vertices is not None:
        for structure in DRAW_ORDER:
            segments = planeCut(vertices, template.structureTriangles(structure), plane.origin, plane.u, plane.v)
            color, label = si.color255(STRUCTURE_COLORS[structure]), STRUCTURES.index(structure) + 1
            for start, end in toPanel(segments[..., 0], segments[..., 1]):
                draw.line([tuple(start), tuple(end)], fill=color, width=2)
                overlayDraw.line([tuple(start), tuple(end)], fill=label, width=2)
    return np.asarray(canvas), np.asarray(overlay), np.asarray(sectorMask) > 0


def viewRectangles() -> dict[tuple[str, str], tuple[int, int, int, int]]:
    """{(phase, view): (x, y, width, height)} of the view panels: the six views in a row, end-diastole above
    end-systole."""
    rectangles = {}
    for row, phase in enumerate(("ED", "ES")):
        y = si.BODY_TOP_PX + row * (VIEW_PANEL_PX + si.PANEL_TITLE_PX + 8)
        for index, view in enumerate(VIEWS):
            rectangles[(phase, view)] = (si.MARGIN_PX + index * (VIEW_PANEL_PX + VIEW_GAP_PX), y, VIEW_PANEL_PX,
                                         VIEW_PANEL_PX)
    return rectangles


def renderRectangle() -> tuple[int, int, int, int]:
    """(x, y, width, height) of the 3D panel, right of the views."""
    left = si.MARGIN_PX + len(VIEWS) * (VIEW_PANEL_PX + VIEW_GAP_PX) + si.MARGIN_PX
    return left, si.BODY_TOP_PX, si.SIZE_PX[0] - si.MARGIN_PX - left, si.BODY_HEIGHT_PX


def phaseViews(case, readouts=None) -> dict[str, tuple[dict, dict]]:
    """{phase: ({view: file}, {view: frame})} of the case's phases (the frames a run chose in cines, when it chose
    them: ``readouts``)."""
    from .cinephases import framesFromReadouts

    chosen = case.autoFrames and readouts is not None
    phases = {"ED": (case.endDiastole, framesFromReadouts(readouts.values, "ED") if chosen else
                     case.endDiastoleFrames)}
    if case.endSystole:
        phases["ES"] = (case.endSystole, framesFromReadouts(readouts.values, "ES") if chosen else
                        case.endSystoleFrames)
    return phases


def viewPanels(case, directory: Path, readouts=None):
    """({(phase, view): (RGB panel, overlay mask, sector mask)}, {phase: vertices or None}, {phase: planes or None})
    of every view of the case."""
    from .template import HeartTemplate
    from .viewplanes import viewPlanes

    template = HeartTemplate.load()
    panels, verticesOf, planesOf = {}, {}, {}
    for phase, (files, frames) in phaseViews(case, readouts).items():
        vertices = phaseVertices(directory, template, phase, readouts)
        planes = viewPlanes(template.vertices if vertices is None else vertices, template)
        verticesOf[phase], planesOf[phase] = vertices, None if vertices is None else planes
        for view in VIEWS:
            if view in files:
                image = readEchoImage(files[view], (frames or {}).get(view))
                shift = (0.0, 0.0) if readouts is None else shiftOf(readouts.values, view)
                panels[(phase, view)] = viewPanel(image, view, vertices, template, planes[view], shiftMm=shift)
    return panels, verticesOf, planesOf


def withInterval(readouts, stem: str, unit: str, label: str):
    """"label value unit (low-high)" with the 90 % interval of :mod:`~.viewsets` when the run gives one."""
    from ReconCoreLib.readouts import displayValue

    text = si.readoutText(readouts, f"{stem}_{unit}", label)
    low, high = (f"{stem}_{end}_{unit}" for end in ("low", "high"))
    if text is None or low not in readouts.values:
        return text
    return f"{text} ({displayValue(low, readouts.values[low])}-{displayValue(high, readouts.values[high])})"


def writeSummary(case, directory: Path, readouts) -> Path:
    """Write ``directory/summary.png`` of a finished EchoRecon case (:class:`~.entry.EchoCase`) from its outputs in
    ``directory`` and its ``readouts``; returns the path."""
    from .pipeline import heartToRas
    from .template import HeartTemplate

    directory = Path(directory)
    readouts = si.asReadouts(readouts)
    phases = phaseViews(case, readouts)
    first = Path(next(iter(case.endDiastole.values()))).name
    inputs = (f"{len(case.endDiastole)} end-diastolic views" + (f", {len(case.endSystole)} end-systolic views"
                                                                 if case.endSystole else ", no end-systole")
              + f" (first: {first})")
    figure = si.SummaryFigure("EchoRecon: heart chambers from 2D echo views", inputs, readouts)
    panels, verticesOf, planesOf = viewPanels(case, directory, readouts)
    for (phase, view), rectangle in viewRectangles().items():
        if (phase, view) in panels:
            dice = si.readoutText(readouts, f"view_dice{'' if phase == 'ED' else '_es'}_{view.lower()}", "Dice")
            figure.panel(rectangle, panels[(phase, view)][0], f"{view} {phase}{'  ' + dice if dice else ''}")
        elif phase == "ED" or case.endSystole:
            figure.text((rectangle[0], rectangle[1] + rectangle[3] // 2), f"{view}: not given", 13, si.GREY_TEXT)
        elif phase == "ES" and view == VIEWS[0]:
            figure.text((rectangle[0], rectangle[1]), "No end-systolic views: no ESV or EF.", 13, si.GREY_TEXT)
    legendY = si.BODY_TOP_PX + 2 * (VIEW_PANEL_PX + si.PANEL_TITLE_PX + 8) + 2
    missing = [phase for phase in phases if verticesOf[phase] is None]
    if missing:
        figure.text((si.MARGIN_PX, legendY), f"No plane cut for {', '.join(missing)}: the models do not give back the "
                                             "readouts' LV volume (not this module's files?).", 13, (240, 190, 90),
                    renderRectangle()[0] - 2 * si.MARGIN_PX)
    else:
        figure.text((si.MARGIN_PX, legendY), "Contours: the 3D result cut by each view's standard plane; grey: the "
                                             "network's field of view.", 12, si.GREY_TEXT,
                    renderRectangle()[0] - 2 * si.MARGIN_PX)
    figure.legend([(structure, STRUCTURE_COLORS[structure]) for structure in STRUCTURES], legendY + 20)

    template = HeartTemplate.load()
    rotation = heartToRas(template)[:3, :3]
    meshes = [(si.readModelRas(directory / f"{fileStem(structure)}.vtk"), STRUCTURE_COLORS[structure],
               STRUCTURE_OPACITY.get(structure, 1.0)) for structure in STRUCTURES]
    x, y, width, height = renderRectangle()
    if planesOf.get("ED"):
        plane = planesOf["ED"]["A4C"]
        view, label = (rotation @ plane.normal, rotation @ -plane.v), "3D heart at end-diastole, as the A4C view"
        sides = ("", "")
    else:
        view, label, sides = si.ANTERIOR_VIEW, "3D heart at end-diastole, anterior view", ("R", "L")
    figure.panel(renderRectangle(), si.renderMeshes(meshes, (width, height), *view), label, sides)
    figure.footer(si.joinPresent([
        withInterval(readouts, "lv_edv", "ml", "LV EDV"), withInterval(readouts, "lv_esv", "ml", "ESV"),
        si.readoutText(readouts, "lv_sv_ml", "SV"), withInterval(readouts, "lv_ef", "percent", "EF"),
        si.readoutText(readouts, "lv_mass_g", "LV mass"),
    ]))
    figure.footer(si.joinPresent([
        si.readoutText(readouts, "simpson_edv_ml", "Biplane Simpson EDV"),
        si.readoutText(readouts, "simpson_esv_ml", "ESV"), si.readoutText(readouts, "simpson_ef_percent", "EF"),
        si.readoutText(readouts, "rv_edv_ml", "RV EDV"), si.readoutText(readouts, "rv_esv_ml", "RV ESV"),
        si.readoutText(readouts, "la_volume_ed_ml", "LA"), si.readoutText(readouts, "ra_volume_ed_ml", "RA"),
    ]))
    values = readouts.values
    figure.footer(si.joinPresent([f"views {values['views_used']}" if "views_used" in values else None,
                                  "(brackets: 90 % interval for these views)" if "lv_edv_low_ml" in values else None,
                                  si.readoutText(readouts, "inference_s", "inference", "s"),
                                  f"device {readouts.device}" if readouts.device else None]), si.GREY_TEXT)
    return figure.save(directory / "summary.png")

"""FemurRegistration's summary picture (``summary.png``, :data:`~ReconCoreLib.summaryimage.SIZE_PX`): the AP and
lateral radiographs with the outline of the registered femur (``model.vtk``) projected through each view's geometry
(and the input femur mask's outline when the case gave one), the femur in 3D from the front, the hip measurements.

Console example::

    from FemurRegistrationLib.entry import ENTRY
    from FemurRegistrationLib.summary import writeSummary
    case = ENTRY.sampleCases()["FemurOrthogonal"]
    readouts = ENTRY.runCase(case, Path("out/hip1"), "cpu", None)
    writeSummary(case, Path("out/hip1"), readouts)    # out/hip1/summary.png
"""

from __future__ import annotations

from pathlib import Path

from ReconCoreLib import summaryimage as si

from .outputs import FEMUR_COLOR, OUTLINE_COLOR

#: Colour of the input femur mask's outline (not a result: a colour no result uses).
MASK_COLOR = (0.21, 0.82, 0.88)


def femurMesh(directory: Path) -> si.Mesh:
    """The registered femur's surface (``model.vtk``) in RAS (mm)."""
    return si.readModelRas(Path(directory) / "model.vtk")


def viewPanels(case, directory: Path, mesh: si.Mesh = None) -> list[tuple]:
    """[(name, XrayImage, RGB panel, {"femur": projected outline, "mask": input mask outline} at panel size)] of the
    AP and lateral views; the XrayImage is the radiograph's working copy, the one the run read when it ran in this
    process (:func:`~.radiographs.readRadiograph`)."""
    from ReconCoreLib.xrayio import readMaskImage

    from .radiographs import readRadiograph

    mesh = femurMesh(directory) if mesh is None else mesh
    panels = []
    for name, path, maskPath in (("AP", case.ap, case.apMask), ("Lateral", case.lat, case.latMask)):
        image = readRadiograph(path)
        mask = readMaskImage(maskPath) > 0 if maskPath else None
        if mask is not None and mask.shape != image.inputShape:
            mask = None  # the run refused such a mask; nothing to draw
        rgb, overlays = si.xrayPanel(image, [("femur", mesh, OUTLINE_COLOR, "outline")], mask, MASK_COLOR)
        panels.append((name, image, rgb, overlays))
    return panels


def writeSummary(case, directory: Path, readouts) -> Path:
    """Write ``directory/summary.png`` of a finished FemurRegistration case (:class:`~.entry.FemurCase`) from its
    outputs in ``directory`` and its ``readouts``; returns the path."""
    directory = Path(directory)
    readouts = si.asReadouts(readouts)
    mesh = femurMesh(directory)
    side = readouts.values.get("side", case.side or "")
    inputs = f"AP: {Path(case.ap).name}   lateral: {Path(case.lat).name}"
    if case.reference:
        inputs += f"   reference: {Path(case.reference).name}"
    figure = si.SummaryFigure(f"FemurRegistration: {side} femur atlas registered to two radiographs".replace("  ", " "),
                              inputs, readouts)
    rectangles, renderRectangle = si.xrayLayout(2)
    for (name, image, rgb, _), rectangle in zip(viewPanels(case, directory, mesh), rectangles):
        ncc = si.readoutText(readouts, f"ncc_{'ap' if name == 'AP' else 'lat'}", "NCC")
        figure.panel(rectangle, rgb, f"{name} radiograph (C-arm {image.geometry.primaryAngleDeg:.0f} deg)"
                                     f"{'   ' + ncc if ncc else ''}")
    x, y, width, height = renderRectangle
    rendering = si.renderMeshes([(mesh, FEMUR_COLOR, 1.0)], (width, height), *si.ANTERIOR_VIEW)
    figure.panel(renderRectangle, rendering, "Registered femur (model.vtk), anterior view", ("R", "L"))
    figure.footer(si.joinPresent([
        si.readoutText(readouts, "head_diameter_mm", "Head diameter"),
        si.readoutText(readouts, "neck_shaft_angle_deg", "neck-shaft angle"),
        si.readoutText(readouts, "femoral_offset_mm", "offset"),
        si.readoutText(readouts, "anteversion_deg", "anteversion") or "anteversion not reported (condyles not seen)",
        si.readoutText(readouts, "femur_volume_mm3", "femur volume in the box"),
    ]))
    figure.footer(si.joinPresent([
        si.readoutText(readouts, "dice", "Against the reference: Dice"),
        si.readoutText(readouts, "assd_mm", "ASSD"),
        si.readoutText(readouts, "hd95_mm", "HD95"),
        si.readoutText(readouts, "min_jacobian", "min. Jacobian determinant"),
        si.readoutText(readouts, "view_separation_deg", "views", "deg apart"),
    ]))
    figure.footer(si.joinPresent([si.readoutText(readouts, "inference_s", "inference", "s"),
                                  f"device {readouts.device}" if readouts.device else None]), si.GREY_TEXT)
    legend = [("registered femur, outline projected through each view's geometry", OUTLINE_COLOR)]
    if case.apMask or case.latMask:
        legend.append(("input femur mask", MASK_COLOR))
    figure.legend(legend)
    return figure.save(directory / "summary.png")

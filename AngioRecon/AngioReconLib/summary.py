"""AngioRecon's summary picture (``summary.png``, :data:`~ReconCoreLib.summaryimage.SIZE_PX`): both angiograms with the
reconstructed lumen projected through each view's C-arm geometry, the lumen in 3D from the front, the QCA readouts.

The tree is drawn as the lumen the segmentation holds (``model.vtk``: a tube of the measured radius around every 3D
centerline), not as the generator's 2 mm occupancy (``volume.nrrd``), which is 2-4x the vessels' width. Each view's
frame is the one the run used (the case's ``frame1``/``frame2``, else the strongest contrast).

Console example::

    from AngioReconLib.entry import ENTRY
    from AngioReconLib.summary import writeSummary
    case = ENTRY.sampleCases()["AngioLeft"]
    readouts = ENTRY.runCase(case, Path("out/angio-left"), "cpu", None)
    writeSummary(case, Path("out/angio-left"), readouts)    # out/angio-left/summary.png
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ReconCoreLib import summaryimage as si

from .conventions import SEGMENT_COLOR
from .vessels import readAngiogram



def angleName(primary: float, secondary: float) -> str:
    """C-arm angles in cath-lab words (DICOM: primary LAO +, secondary CRA +)."""
    first = "AP" if abs(primary) < 0.5 else f"{'LAO' if primary > 0 else 'RAO'} {abs(primary):.0f}"
    return first if abs(secondary) < 0.5 else f"{first} / {'CRA' if secondary > 0 else 'CAU'} {abs(secondary):.0f}"


def segmentColors(path: str | Path) -> dict[str, tuple]:
    """{segment name: (r, g, b) in 0..1} from the header of a Slicer ``.seg.nrrd`` ({} when it names none): the
    colours the segments have in the Slicer scene."""
    fields = {}
    with open(path, "rb") as stream:
        for raw in stream:  # the header: text lines up to the first empty one
            line = raw.decode("latin-1").rstrip("\r\n")
            if not line:
                break
            key, separator, value = line.partition(":=")
            if separator:
                fields[key] = value
    colors = {}
    for key, value in fields.items():
        if key.startswith("Segment") and key.endswith("_Color") and f"{key[:-6]}_Name" in fields:
            try:
                colors[fields[f"{key[:-6]}_Name"]] = tuple(float(part) for part in value.split()[:3])
            except ValueError:
                continue
    return colors


def treeColor(directory: Path) -> tuple:
    """The tree segment's colour in the Slicer scene (``segmentation.seg.nrrd``), else
    :data:`~.conventions.SEGMENT_COLOR`."""
    path = Path(directory) / "segmentation.seg.nrrd"
    colors = segmentColors(path) if path.is_file() else {}
    return next(iter(colors.values()), SEGMENT_COLOR)


def treeMesh(directory: Path) -> si.Mesh:
    """The reconstructed lumen's surface (RAS, mm): ``model.vtk``."""
    return si.readModelRas(Path(directory) / "model.vtk")


def viewPanels(case, directory: Path, mesh: si.Mesh = None, readouts=None) -> list[tuple]:
    """[(XrayImage, RGB panel, {"tree": projected tree at panel size})] of both views, at the frame the run used (the
    readouts' ``frame_view1``/``frame_view2``; else the case's, else chosen again)."""
    mesh = treeMesh(directory) if mesh is None else mesh
    color = treeColor(directory)
    used = {} if readouts is None else si.asReadouts(readouts).values
    panels = []
    for index, (path, frame) in enumerate(((case.view1, case.frame1), (case.view2, case.frame2)), 1):
        image = readAngiogram(path, used.get(f"frame_view{index}", frame))
        rgb, overlays = si.xrayPanel(image, [("tree", mesh, color, "fill")])
        panels.append((image, rgb, overlays))
    return panels


def pair(readouts, stem: str, label: str, suffix: str = "") -> Optional[str]:
    """"label first / second" of the readouts ``<stem>1`` and ``<stem>2`` at their precision, None without them."""
    from ReconCoreLib.readouts import displayValue

    keys = (f"{stem}1", f"{stem}2")
    if not all(key in readouts.values for key in keys):
        return None
    return f"{label} {' / '.join(displayValue(key, readouts.values[key]) for key in keys)}{suffix}"


def worstLesion(readouts) -> Optional[str]:
    """"Worst stenosis 62 % (branch 3, MLD 1.1 mm); 2 lesions >= 20 %, 1 >= 50 %", "No stenosis >= 20 %" when QCA
    found none, None without QCA (the thresholds are QCA's)."""
    from ReconCoreLib.readouts import displayValue

    from .qca import MIN_DIAMETER_STENOSIS_PERCENT as LESION, SIGNIFICANT_STENOSIS_PERCENT as SIGNIFICANT

    values = readouts.values
    if "max_diameter_stenosis_percent" in values:
        worst = displayValue("max_diameter_stenosis_percent", values["max_diameter_stenosis_percent"])
        mld = displayValue("max_stenosis_mld_mm", values.get("max_stenosis_mld_mm", float("nan")))
        return (f"Worst stenosis {worst} % ({values.get('max_stenosis_branch', '?')}, MLD {mld} mm); "
                f"{values.get('lesion_count', '?')} lesions >= {LESION:g} %, "
                f"{values.get('lesions_50_percent_count', '?')} >= {SIGNIFICANT:g} %")
    return f"No stenosis >= {LESION:g} %" if "lesion_count" in values else None


def writeSummary(case, directory: Path, readouts) -> Path:
    """Write ``directory/summary.png`` of a finished AngioRecon case (:class:`~.entry.AngioCase`) from its outputs
    in ``directory`` and its ``readouts``; returns the path."""
    directory = Path(directory)
    readouts = si.asReadouts(readouts)
    mesh = treeMesh(directory)
    tree = readouts.values.get("tree", case.tree)
    inputs = f"view 1: {Path(case.view1).name}   view 2: {Path(case.view2).name}"
    figure = si.SummaryFigure(f"AngioRecon: {tree} coronary tree from two angiograms", inputs, readouts)
    rectangles, renderRectangle = si.xrayLayout(2)
    panels = viewPanels(case, directory, mesh, readouts)
    for index, ((image, rgb, _), rectangle) in enumerate(zip(panels, rectangles), 1):
        geometry = image.geometry
        frame = f", frame {image.frameIndex + 1} of {image.numberOfFrames}" if image.numberOfFrames > 1 else ""
        dice = si.readoutText(readouts, f"reprojection_dice_view{index}", "Dice")
        figure.panel(rectangle, rgb, f"View {index}: {angleName(geometry.primaryAngleDeg, geometry.secondaryAngleDeg)}"
                                     f"{frame}{'   ' + dice if dice else ''}")
    x, y, width, height = renderRectangle
    color = treeColor(directory)
    rendering = si.renderMeshes([(mesh, color, 1.0)], (width, height), *si.ANTERIOR_VIEW, depthCue=0.6)
    figure.panel(renderRectangle, rendering, "3D lumen, anterior view", ("R", "L"))
    figure.footer(si.joinPresent([
        worstLesion(readouts), si.readoutText(readouts, "branch_count", "branches", ""),
        si.readoutText(readouts, "centerline_length_mm", "centerlines"),
        si.readoutText(readouts, "lumen_volume_mm3", "lumen"),
    ]))
    figure.footer(si.joinPresent([
        pair(readouts, "centerline_matched_fraction_view", "Centerline matched", " (views 1 / 2)"),
        pair(readouts, "reprojection_dice_view", "generator re-projection Dice"),
        si.readoutText(readouts, "view_separation_deg", "views", "deg apart"),
        si.readoutText(readouts, "inference_s", "inference", "s"),
        f"device {readouts.device}" if readouts.device else None]), si.GREY_TEXT)
    figure.legend([(f"{tree} coronary lumen (tube of the measured radius), projected through each view's C-arm "
                    "geometry", color)])
    return figure.save(directory / "summary.png")

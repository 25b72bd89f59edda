"""AngioRecon's centerline tree as Slicer outputs: centerline model, lumen surface, fine labelmap, curves, lesion table.

Frames: a :class:`~.centerlines.Branch` holds LPS mm; scene nodes and the poly data made here hold RAS mm (Slicer's
convention), and Slicer's storage writes them back in LPS (``.vtk`` with a ``SPACE=LPS`` header, ``.mrk.json`` with
``"coordinateSystem": "LPS"``). The labelmap is an array [k, j, i] placed by an IJK -> LPS matrix.

Console example (Slicer's Python console, or headless with ``runtime.getScene()``)::

    from AngioReconLib import centerlineoutputs as outputs
    from ReconCoreLib import runtime, storage
    from ReconCoreLib.xraygeometry import LPS_TO_RAS
    scene = runtime.getScene()
    storage.saveNode(outputs.centerlineModelNode(scene, branches), "/tmp/centerlines.vtk")
    outputs.lumenModelNode(scene, branches)
    labels, ijkToLps = outputs.fineLabelmap(branches)
    runtime.segmentationNodeFromLabelmap(scene, labels, LPS_TO_RAS @ ijkToLps,
                                         {i + 1: (b.name, (0.85, 0.2, 0.2)) for i, b in enumerate(branches)}, "lumen")
    outputs.writeMarkupsJson(branches, "/tmp/centerlines.mrk.json")
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

from ReconCoreLib import runtime
from ReconCoreLib.xraygeometry import lpsToRas

from .centerlines import Branch, arcLength
from .conventions import SEGMENT_COLOR

#: Colour (r, g, b in 0..1) of the centerline model and the curves: yellow, seen inside the red lumen.
CENTERLINE_COLOR = (1.0, 0.85, 0.1)
#: Line width of the centerline model in the 3D view (pixels).
CENTERLINE_LINE_WIDTH = 3.0
#: Sides of the lumen tube: enough that the edge around the branch's largest radius is <= maxEdgeMm, within these
#: bounds. 64 sides keep the edge around at 0.098 x the radius: <= 0.3 mm up to a 3.06 mm radius (a 6 mm lumen, the
#: largest coronary ones), 0.49 mm around a 5 mm radius; 8 sides for the thinnest branches.
MIN_TUBE_SIDES = 8
MAX_TUBE_SIDES = 64
#: Halvings of the tube's steps where an edge along the tube is still longer than maxEdgeMm (the outside of a bend
#: is longer than the centerline by the factor 1 + radius x curvature): 6 shrink those edges 64-fold.
MAX_TUBE_REFINEMENTS = 6
#: Consecutive centerline points closer than this (mm) are one point (a tube needs a direction at every point).
DUPLICATE_POINT_MM = 1e-6
#: Largest fine labelmap (voxels; 400^3 is 128 MB of int16): a larger grid means a wrong tree or too small voxels.
MAX_LABEL_VOXELS = 400 ** 3
#: Spacing of the curves' control points (mm along the branch; the first and last points are always kept).
CURVE_POINT_SPACING_MM = 2.0
#: The markups JSON schema the file follows (the ID Slicer 5.8-5.10 write; Slicer reads every v1.x.y).
MARKUPS_SCHEMA = ("https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/"
                  "markups-schema-v1.0.3.json#")
#: Units by a column name's suffix (``stenosis_percent``): (the table's unit label, decimals in the TSV file).
#: Diameters and lengths to 0.01 mm (QCA's resolution is ~0.1 mm), percentages and angles to 0.1.
COLUMN_UNITS = {"mm": ("mm", 2), "mm2": ("mm2", 2), "mm3": ("mm3", 1), "percent": ("%", 1), "deg": ("deg", 1),
                "ml": ("ml", 1), "s": ("s", 2)}
#: Decimals of a number in the TSV file when its column name ends in no known unit (ratios, scores).
DEFAULT_DECIMALS = 3


# -- branches ------------------------------------------------------------------------------------------------------
def _branchArrays(branch: Branch) -> tuple[np.ndarray, np.ndarray]:
    """(pointsLps [N, 3], radiiMm [N]) as float arrays; ValueError when they do not match."""
    points = np.asarray(branch.pointsLps, dtype=float).reshape(-1, 3)
    radii = np.asarray(branch.radiiMm, dtype=float).reshape(-1)
    if len(radii) != len(points):
        raise ValueError(f"branch {branch.name}: {len(points)} points but {len(radii)} radii")
    return points, radii


def _tubeArrays(branch: Branch) -> tuple[np.ndarray, np.ndarray]:
    """The branch's distinct points (LPS) and radii for a tube; ValueError on a radius that is not finite or < 0."""
    points, radii = _branchArrays(branch)
    if not np.all(np.isfinite(radii)) or np.any(radii < 0) or not np.all(np.isfinite(points)):
        raise ValueError(f"branch {branch.name}: points and radii must be finite, radii >= 0")
    if len(points) < 2:
        return points, radii
    keep = np.concatenate([[True], np.linalg.norm(np.diff(points, axis=0), axis=1) > DUPLICATE_POINT_MM])
    return points[keep], radii[keep]


# -- centerline model ----------------------------------------------------------------------------------------------
def _vtkArray(values, name: str, arrayType: str = "double"):
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonCore import VTK_DOUBLE, VTK_INT

    vtkType, dtype = (VTK_INT, np.int32) if arrayType == "int" else (VTK_DOUBLE, np.float64)
    array = numpy_to_vtk(np.ascontiguousarray(np.asarray(values, dtype=dtype)), deep=True, array_type=vtkType)
    array.SetName(name)
    return array


def centerlinesPolyData(branches: Sequence[Branch]):
    """vtkPolyData of the tree: one polyline cell per branch (proximal end first), points in RAS mm.

    Point data: ``Radius`` (mm, lumen radius), ``RadiusViews`` (mm, 2 components: half width in view 1, view 2).
    Cell data: ``BranchName`` (string), ``BranchId`` (1..n in branch order, as the labels of :func:`fineLabelmap`),
    ``ParentId`` (0 for a root) and ``ParentPointIndex`` (the parent's point where the branch leaves, -1 for a root),
    and QCA's per-branch figures (:func:`~.qca.branchSummary`): ``LengthMm`` and ``MeanDiameterMm``. Branches without
    points are left out. Saved by Slicer (``storage.saveNode``), the points become LPS again.
    """
    from vtkmodules.vtkCommonCore import vtkPoints, vtkStringArray
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData

    ids = {branch.name: index + 1 for index, branch in enumerate(branches)}
    pointsRas, radii, views, lines = [], [], [], vtkCellArray()
    from .qca import branchSummary

    names, branchIds, parentIds, parentIndices, lengths, diameters = vtkStringArray(), [], [], [], [], []
    names.SetName("BranchName")
    start = 0
    for index, branch in enumerate(branches):
        points, branchRadii = _branchArrays(branch)
        if not len(points):
            continue
        pointsRas.append(lpsToRas(points))
        radii.append(branchRadii)
        branchViews = np.asarray(branch.radiiViewsMm, dtype=float)
        views.append(branchViews if branchViews.shape == (len(points), 2) else np.full((len(points), 2), np.nan))
        lines.InsertNextCell(len(points))
        for pointId in range(start, start + len(points)):
            lines.InsertCellPoint(pointId)
        start += len(points)
        names.InsertNextValue(str(branch.name))
        branchIds.append(index + 1)
        parentIds.append(ids.get(branch.parent, 0) if branch.parent is not None else 0)
        parentIndices.append(int(branch.parentIndex) if parentIds[-1] else -1)
        summary = branchSummary(branch)
        lengths.append(summary["length_mm"])
        diameters.append(summary["mean_diameter_mm"])
    polyData = vtkPolyData()
    if not pointsRas:
        return polyData
    points = vtkPoints()
    points.SetData(_vtkArray(np.concatenate(pointsRas), "Points"))
    polyData.SetPoints(points)
    polyData.SetLines(lines)
    polyData.GetPointData().AddArray(_vtkArray(np.concatenate(radii), "Radius"))
    polyData.GetPointData().AddArray(_vtkArray(np.concatenate(views), "RadiusViews"))
    cellData = polyData.GetCellData()
    cellData.AddArray(names)
    for name, values in (("BranchId", branchIds), ("ParentId", parentIds), ("ParentPointIndex", parentIndices)):
        cellData.AddArray(_vtkArray(values, name, "int"))
    cellData.AddArray(_vtkArray(lengths, "LengthMm"))
    cellData.AddArray(_vtkArray(diameters, "MeanDiameterMm"))
    return polyData


def centerlineModelNode(scene, branches: Sequence[Branch], name: str = "coronary centerlines", node=None,
                        color: Sequence[float] = CENTERLINE_COLOR):
    """Fill ``node`` (or a new model node) with :func:`centerlinesPolyData`: lines in one colour (scalars off), shown
    in 3D and where they cross the slice views."""
    node = runtime.modelNodeFromPolyData(scene, centerlinesPolyData(branches), name, color,
                                         runtime.outputNode(scene, node, "vtkMRMLModelNode", name))
    display = node.GetDisplayNode()
    display.SetScalarVisibility(False)
    display.SetLineWidth(CENTERLINE_LINE_WIDTH)
    display.SetVisibility2D(True)
    return node


# -- lumen surface -------------------------------------------------------------------------------------------------
def tubeSides(radiusMm: float, maxEdgeMm: float) -> int:
    """Sides of a tube whose edge around a circle of ``radiusMm`` (chord 2 r sin(pi / sides)) is <= ``maxEdgeMm``,
    within [:data:`MIN_TUBE_SIDES`, :data:`MAX_TUBE_SIDES`]."""
    if maxEdgeMm >= 2.0 * radiusMm:
        return MIN_TUBE_SIDES
    sides = math.ceil(math.pi / math.asin(maxEdgeMm / (2.0 * radiusMm)) - 1e-9)
    return int(min(max(sides, MIN_TUBE_SIDES), MAX_TUBE_SIDES))


def _tubeFilter(pointsRas: np.ndarray, radii: np.ndarray, sides: int):
    """vtkTubeFilter output (triangle strips, capped) around one polyline; radius = the point's ``Radius``."""
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
    from vtkmodules.vtkFiltersCore import vtkTubeFilter

    polyData = vtkPolyData()
    points = vtkPoints()
    points.SetData(_vtkArray(pointsRas, "Points"))
    polyData.SetPoints(points)
    lines = vtkCellArray()
    lines.InsertNextCell(len(pointsRas))
    for pointId in range(len(pointsRas)):
        lines.InsertCellPoint(pointId)
    polyData.SetLines(lines)
    polyData.GetPointData().AddArray(_vtkArray(radii, "Radius"))
    polyData.GetPointData().SetActiveScalars("Radius")
    tube = vtkTubeFilter()
    tube.SetInputData(polyData)
    tube.SetNumberOfSides(sides)
    tube.SetVaryRadiusToVaryRadiusByAbsoluteScalar()
    tube.CappingOn()
    tube.Update()
    return tube.GetOutput()


def _branchTube(pointsRas: np.ndarray, radii: np.ndarray, maxEdgeMm: float):
    """Tube around one branch with edges along it <= ``maxEdgeMm``: the centerline is followed by a cubic Hermite
    curve through its points (tangents by finite differences along the chord length), radii linear between points,
    sampled at <= ``maxEdgeMm``; steps whose tube edges are still longer (outside of bends) are halved."""
    from scipy.interpolate import CubicHermiteSpline
    from vtkmodules.util.numpy_support import vtk_to_numpy

    chord = arcLength(pointsRas)
    curve = CubicHermiteSpline(chord, pointsRas, np.gradient(pointsRas, chord, axis=0, edge_order=1), axis=0)
    pieces = np.maximum(np.ceil(np.diff(chord) / maxEdgeMm), 1).astype(int)
    samples = np.concatenate([np.linspace(a, b, n, endpoint=False) for a, b, n in zip(chord[:-1], chord[1:], pieces)]
                             + [chord[-1:]])
    sides = tubeSides(float(radii.max()), maxEdgeMm)
    for refinement in range(MAX_TUBE_REFINEMENTS + 1):
        tube = _tubeFilter(curve(samples), np.interp(samples, chord, radii), sides)
        ringCount = len(samples) * sides
        if refinement == MAX_TUBE_REFINEMENTS or tube.GetNumberOfPoints() != ringCount + 2 * sides:
            return tube
        rings = vtk_to_numpy(tube.GetPoints().GetData())[:ringCount].reshape(len(samples), sides, 3)
        long = np.linalg.norm(np.diff(rings, axis=0), axis=2).max(axis=1) > maxEdgeMm
        if not long.any():
            return tube
        samples = np.sort(np.concatenate([samples, (samples[:-1][long] + samples[1:][long]) / 2]))
    return tube


def lumenSurface(branches: Sequence[Branch], maxEdgeMm: float = 0.3):
    """Closed tube surface (triangles, RAS mm) around every branch, its radius ``radiiMm`` at each point.

    Each branch is one tube (overlapping its parent where it leaves it), capped flat at both ends. The mesh is
    quads split into triangles: edges around the tube <= ``maxEdgeMm`` up to the radius that :data:`MAX_TUBE_SIDES`
    allows (3.06 mm at 0.3 mm; a 5 mm radius gets 0.49 mm), edges along it <= ``maxEdgeMm`` (after at most
    :data:`MAX_TUBE_REFINEMENTS` halvings), quad diagonals <= sqrt(2) ``maxEdgeMm``. Point data ``Radius`` (mm),
    cell data ``BranchId`` (1..n in branch order). Branches with fewer than two distinct points are left out.
    """
    from vtkmodules.vtkFiltersCore import vtkAppendPolyData, vtkTriangleFilter
    from vtkmodules.vtkCommonDataModel import vtkPolyData

    if not maxEdgeMm > 0:
        raise ValueError(f"maxEdgeMm must be > 0 (got {maxEdgeMm})")
    append = vtkAppendPolyData()
    for index, branch in enumerate(branches):
        pointsLps, radii = _tubeArrays(branch)
        if len(pointsLps) < 2:
            continue
        tube = _branchTube(lpsToRas(pointsLps), radii, maxEdgeMm)
        tube.GetCellData().AddArray(_vtkArray(np.full(tube.GetNumberOfCells(), index + 1), "BranchId", "int"))
        append.AddInputData(tube)
    if append.GetNumberOfInputConnections(0) == 0:
        return vtkPolyData()
    triangles = vtkTriangleFilter()
    triangles.SetInputConnection(append.GetOutputPort())
    triangles.Update()
    return triangles.GetOutput()


def lumenModelNode(scene, branches: Sequence[Branch], name: str = "coronary lumen", node=None,
                   color: Sequence[float] = SEGMENT_COLOR, maxEdgeMm: float = 0.3):
    """Fill ``node`` (or a new model node) with :func:`lumenSurface` in one colour, shown in 3D and as its outline
    in the slice views."""
    node = runtime.modelNodeFromPolyData(scene, lumenSurface(branches, maxEdgeMm), name, color,
                                         runtime.outputNode(scene, node, "vtkMRMLModelNode", name))
    display = node.GetDisplayNode()
    display.SetScalarVisibility(False)
    display.SetVisibility2D(True)
    return node


# -- fine labelmap -------------------------------------------------------------------------------------------------
def _labelSegment(labels: np.ndarray, originLps: np.ndarray, voxelMm: float, segment: tuple, label: int,
                  cuts: Sequence[tuple]) -> None:
    """Give ``label`` to the unlabelled voxels inside one segment's tube, computed in the segment's own small box.

    :param cuts: (point, outward unit normal, reach) of the branch's flat ends near this segment: voxels beyond the
        end's plane and within ``reach`` of its point stay out.
    """
    p0, p1, r0, r1 = segment
    reach = max(r0, r1)
    shapeXyz = np.array(labels.shape[::-1])
    low = np.clip(np.floor((np.minimum(p0, p1) - reach - originLps) / voxelMm).astype(int), 0, shapeXyz)
    high = np.clip(np.ceil((np.maximum(p0, p1) + reach - originLps) / voxelMm).astype(int) + 1, 0, shapeXyz)
    if np.any(high <= low):
        return
    x, y, z = (originLps[axis] + voxelMm * np.arange(low[axis], high[axis]) for axis in range(3))
    x, y, z = x[None, None, :], y[None, :, None], z[:, None, None]
    dx, dy, dz = x - p0[0], y - p0[1], z - p0[2]
    direction = p1 - p0
    along = np.clip((dx * direction[0] + dy * direction[1] + dz * direction[2]) / float(direction @ direction), 0, 1)
    distance2 = (dx - along * direction[0]) ** 2 + (dy - along * direction[1]) ** 2 + (dz - along * direction[2]) ** 2
    inside = distance2 < (r0 + along * (r1 - r0)) ** 2
    for point, normal, cutReach in cuts:
        ex, ey, ez = x - point[0], y - point[1], z - point[2]
        beyond = (ex * normal[0] + ey * normal[1] + ez * normal[2]) > 0
        inside &= ~(beyond & (ex ** 2 + ey ** 2 + ez ** 2 < cutReach ** 2))
    box = labels[low[2]:high[2], low[1]:high[1], low[0]:high[0]]
    box[inside & (box == 0)] = label


def _endCuts(points: np.ndarray, radii: np.ndarray) -> list[tuple]:
    """The flat ends of a branch: (point, outward unit normal, reach) at its first and last points. A sphere where
    segments meet near an end reaches at most sqrt(2) x the radius from the end point; twice the largest radius cuts
    all of it (a vessel does not turn back within that)."""
    reach = 2.0 * float(radii.max())
    start, end = points[0] - points[1], points[-1] - points[-2]
    return [(points[0], start / np.linalg.norm(start), reach), (points[-1], end / np.linalg.norm(end), reach)]


def fineLabelmap(branches: Sequence[Branch], voxelMm: float = 0.5,
                 marginMm: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Label grid of the lumen: (labels int16 [k, j, i], ijkToLps 4x4), axis-aligned in LPS with ``voxelMm`` voxels.

    The box is the tree's extent grown by its largest radius and ``marginMm``. A voxel whose centre lies inside the
    tube of branch n (1..n in branch order) gets label n: its distance to one of the branch's segments is below the
    radius interpolated along that segment (spheres where segments meet), the tube cut flat at the branch's first and
    last points as :func:`lumenSurface` is. Where tubes overlap, the lower id (the earlier, longer branch) keeps the
    voxel. Each segment is tested in its own small box (vectorized), not over the whole grid.

    :raises ValueError: no branch has two distinct points, or the grid would exceed :data:`MAX_LABEL_VOXELS`.
    """
    if not voxelMm > 0 or not marginMm >= 0:
        raise ValueError(f"voxelMm must be > 0 and marginMm >= 0 (got {voxelMm}, {marginMm})")
    tubes = [(index + 1, *_tubeArrays(branch)) for index, branch in enumerate(branches)]
    tubes = [tube for tube in tubes if len(tube[1]) >= 2]
    if not tubes:
        raise ValueError("no branch with two distinct points: nothing to label")
    allPoints = np.concatenate([points for _, points, _ in tubes])
    grow = max(float(radii.max()) for _, _, radii in tubes) + marginMm
    originLps = allPoints.min(axis=0) - grow
    shapeXyz = np.ceil((allPoints.max(axis=0) + grow - originLps) / voxelMm).astype(int) + 1
    if int(np.prod(shapeXyz)) > MAX_LABEL_VOXELS:
        raise ValueError(f"a {' x '.join(map(str, shapeXyz))} grid of {voxelMm} mm voxels is larger than "
                         f"{MAX_LABEL_VOXELS} voxels: the tree spans {np.ptp(allPoints, axis=0).round(1)} mm")
    labels = np.zeros(tuple(shapeXyz[::-1]), dtype=np.int16)
    for label, points, radii in tubes:
        cuts = _endCuts(points, radii)
        for index in range(len(points) - 1):
            segment = (points[index], points[index + 1], float(radii[index]), float(radii[index + 1]))
            near = [cut for cut in cuts if min(np.linalg.norm(segment[0] - cut[0]), np.linalg.norm(segment[1] - cut[0]))
                    < cut[2] + max(segment[2:])]
            _labelSegment(labels, originLps, voxelMm, segment, label, near)
    ijkToLps = np.diag([voxelMm, voxelMm, voxelMm, 1.0])
    ijkToLps[:3, 3] = originLps
    return labels, ijkToLps


# -- curves --------------------------------------------------------------------------------------------------------
def curvePointIndices(pointsLps: np.ndarray, spacingMm: float = CURVE_POINT_SPACING_MM) -> np.ndarray:
    """Indices of the branch points kept as a curve's control points: the first, the last, and between them the
    points nearest to even steps of at most ``spacingMm`` along the branch."""
    arc = arcLength(pointsLps)
    if len(arc) < 2:
        return np.arange(len(arc))
    targets = np.linspace(0.0, arc[-1], max(int(math.ceil(arc[-1] / spacingMm)), 1) + 1)
    nearest = np.clip(np.searchsorted(arc, targets), 1, len(arc) - 1)
    nearest -= (targets - arc[nearest - 1]) < (arc[nearest] - targets)
    return np.unique(np.concatenate([[0], nearest, [len(arc) - 1]]))


def markupsCurveNodes(scene, branches: Sequence[Branch], nodes: Optional[Sequence] = None) -> list:
    """One locked ``vtkMRMLMarkupsCurveNode`` per branch, named by the branch: control points (RAS) every
    :data:`CURVE_POINT_SPACING_MM` (:func:`curvePointIndices`), labelled ``<name>-<n>``, and a static measurement
    ``Radius`` (mm, one value per control point, as Slicer's VMTK centerline curves carry it).

    :param nodes: curve nodes to fill in branch order (their points and ``Radius`` replaced); a missing or None entry
        makes a new node.
    """
    import slicer

    nodes = list(nodes or [])
    result = []
    for index, branch in enumerate(branches):
        points, radii = _branchArrays(branch)
        keep = curvePointIndices(points)
        given = nodes[index] if index < len(nodes) else None
        node = runtime.outputNode(scene, given, "vtkMRMLMarkupsCurveNode", str(branch.name))
        wasModified = node.StartModify()
        node.RemoveAllControlPoints()
        for measurement in range(node.GetNumberOfMeasurements() - 1, -1, -1):
            if node.GetNthMeasurement(measurement).GetName() == "Radius":
                node.RemoveNthMeasurement(measurement)
        for number, pointRas in enumerate(lpsToRas(points[keep])):
            node.AddControlPoint(*(float(value) for value in pointRas), f"{branch.name}-{number + 1}")
        radius = slicer.vtkMRMLStaticMeasurement()
        radius.SetName("Radius")
        radius.SetUnits("mm")
        radius.SetPrintFormat("")  # not shown in the node's description
        radius.SetControlPointValues(_vtkArray(radii[keep], "Radius"))
        node.AddMeasurement(radius)
        node.SetLocked(True)
        node.CreateDefaultDisplayNodes()
        display = node.GetDisplayNode()
        display.SetColor(*CENTERLINE_COLOR)
        display.SetSelectedColor(*CENTERLINE_COLOR)
        node.EndModify(wasModified)
        result.append(node)
    return result


def writeMarkupsJson(branches: Sequence[Branch], path: str | Path) -> Path:
    """Write all curves of :func:`markupsCurveNodes` into one Slicer markups file (``centerlines.mrk.json``).

    Slicer's JSON storage node writes one markups node per file, so this file (a list ``markups`` with one ``Curve``
    per branch) is written here, following Slicer's markups-schema-v1.0.3.json: ``coordinateSystem`` LPS, positions
    in mm, the ``Radius`` measurement with ``controlPointValues``. Slicer loads each entry as its own curve node
    (``vtkSlicerMarkupsLogic::LoadMarkupsFromJson``).
    """
    markups = []
    for branch in branches:
        points, radii = _branchArrays(branch)
        keep = curvePointIndices(points)
        controlPoints = [{"id": str(number + 1), "label": f"{branch.name}-{number + 1}", "description": "",
                          "associatedNodeID": "", "position": [float(value) for value in points[index]],
                          "selected": True, "locked": False, "visibility": True, "positionStatus": "defined"}
                         for number, index in enumerate(keep)]
        markups.append({
            "type": "Curve", "name": str(branch.name), "coordinateSystem": "LPS", "coordinateUnits": "mm",
            "locked": True, "fixedNumberOfControlPoints": False, "labelFormat": "%N-%d",
            "lastUsedControlPointNumber": len(keep), "controlPoints": controlPoints,
            "measurements": [{"name": "Radius", "enabled": True, "units": "mm",
                              "controlPointValues": [float(value) for value in radii[keep]]}],
            "display": {"visibility": True, "color": list(CENTERLINE_COLOR),
                        "selectedColor": list(CENTERLINE_COLOR)}})
    path = Path(path)
    path.write_text(json.dumps({"@schema": MARKUPS_SCHEMA, "markups": markups}, indent=2) + "\n", encoding="utf-8")
    return path


# -- lesion table --------------------------------------------------------------------------------------------------
def _isNumber(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _columnUnit(column: str) -> tuple[str, int]:
    """(unit label, TSV decimals) of a column from its name's suffix (``mld_mm`` -> ("mm", 2))."""
    suffix = column.rsplit("_", 1)[-1] if "_" in column else ""
    return COLUMN_UNITS.get(suffix, ("", DEFAULT_DECIMALS))


def lesionTableNode(scene, rows: Sequence[Mapping], name: str = "coronary lesions", node=None,
                    columns: Optional[Sequence[str]] = None):
    """Fill ``node`` (its columns replaced) or a new ``vtkMRMLTableNode`` with one column per key.

    A column whose values are all numbers (a missing one is NaN) is a double column with the unit of its name's
    suffix (:data:`COLUMN_UNITS`); any other is a string column. ``columns`` gives the order (default: the first
    row's keys) and the header of an empty table. (``runtime.tableNodeFromRows`` makes text columns only: numbers
    need double columns to sort and plot.) The column names are the header and the table is locked (as Slicer's
    Segment Statistics does), so a view's row n is the table's row n.
    """
    from vtkmodules.vtkCommonCore import vtkStringArray

    columns = list(columns) if columns is not None else (list(rows[0].keys()) if rows else [])
    node = runtime.outputNode(scene, node, "vtkMRMLTableNode", name)
    wasModified = node.StartModify()
    node.RemoveAllColumns()
    for column in columns:
        values = [row.get(column) for row in rows]
        present = [value for value in values if value is not None]
        if present and all(_isNumber(value) for value in present):
            array = _vtkArray([np.nan if value is None else float(value) for value in values], column)
        else:
            array = vtkStringArray()
            array.SetName(column)
            for value in values:
                array.InsertNextValue("" if value is None else str(value))
        node.AddColumn(array)
        unit = _columnUnit(column)[0]
        if unit:
            node.SetColumnUnitLabel(column, unit)
    node.SetUseColumnTitleAsColumnHeader(True)
    node.SetLocked(True)
    node.EndModify(wasModified)
    return node


def _tsvCell(value, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if _isNumber(value):
        if not math.isfinite(float(value)):
            return ""
        text = f"{float(value):.{_columnUnit(column)[1]}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text
    return " ".join(str(value).replace("\t", " ").splitlines())


def writeTsv(rows: Sequence[Mapping], path: str | Path, columns: Sequence[str]) -> Path:
    """Write ``rows`` as a tab-separated file (``stenoses.tsv``): a header line of ``columns``, then one line per row.

    Numbers get the decimals of their column's unit (:data:`COLUMN_UNITS`, else :data:`DEFAULT_DECIMALS`), integers
    none; a missing or non-finite value is an empty cell; tabs and line breaks in text become spaces. An empty table
    is its header line.
    """
    lines = ["\t".join(columns)]
    lines += ["\t".join(_tsvCell(row.get(column), column) for column in columns) for row in rows]
    path = Path(path)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

"""AngioRecon's centerline outputs: centerline model (RAS in the scene, LPS in the file), lumen surface, fine
labelmap, curves and their markups file, lesion table and TSV.

Shapes with known answers: straight tubes (volume pi r^2 L), a tube whose radius grows linearly (a frustum), a
quarter circle (the outside of a bend), two crossing tubes (who keeps the shared voxels).
"""

import json
import re

import numpy as np
import pytest
import slicer

from AngioReconLib import centerlineoutputs as outputs
from AngioReconLib.centerlines import Branch
from ReconCoreLib import storage
from ReconCoreLib.xraygeometry import LPS_TO_RAS, lpsToRas, rasToLps

MAX_EDGE_MM = 0.3


def straightBranch(name, startLps, directionLps, lengthMm, radii=(2.0, 2.0), stepMm=0.5, parent=None,
                   parentIndex=-1):
    """A straight branch with points every ``stepMm`` and radii linear from radii[0] to radii[1]."""
    direction = np.asarray(directionLps, float) / np.linalg.norm(directionLps)
    arc = np.linspace(0.0, lengthMm, int(round(lengthMm / stepMm)) + 1)
    radius = np.interp(arc, [0.0, lengthMm], radii)
    points = np.asarray(startLps, float) + arc[:, None] * direction
    return Branch(name, points, radius, np.stack([radius * 0.9, radius * 1.1], axis=1), parent, parentIndex)


def smallTree():
    trunk = straightBranch("LAD", (10.0, 20.0, -30.0), (1.0, 2.0, -0.5), 30.0, (2.0, 1.5))
    side = straightBranch("D1", trunk.pointsLps[20], (1.0, -1.0, 0.3), 12.0, (1.2, 0.8), parent="LAD",
                          parentIndex=20)
    return [trunk, side]


def arrayOf(data, name):
    from vtkmodules.util.numpy_support import vtk_to_numpy

    return vtk_to_numpy(data.GetArray(name))


def pointsOf(polyData):
    from vtkmodules.util.numpy_support import vtk_to_numpy

    return vtk_to_numpy(polyData.GetPoints().GetData()).astype(float)


def sideEdges(polyData):
    """(start, end) points of the triangle edges that are not chords of a cap: a cap's points are the end rings'
    points repeated (the tube filter gives the caps their own points), so an edge between two repeated points
    belongs to an end ring or a cap."""
    from vtkmodules.util.numpy_support import vtk_to_numpy

    points = pointsOf(polyData)
    triangles = vtk_to_numpy(polyData.GetPolys().GetConnectivityArray()).reshape(-1, 3)
    _, inverse, counts = np.unique(points, axis=0, return_inverse=True, return_counts=True)
    repeated = counts[inverse.ravel()] > 1
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    edges = edges[~(repeated[edges[:, 0]] & repeated[edges[:, 1]])]
    return points[edges[:, 0]], points[edges[:, 1]]


def enclosedVolume(polyData):
    from vtkmodules.vtkFiltersCore import vtkMassProperties

    mass = vtkMassProperties()
    mass.SetInputData(polyData)
    mass.Update()
    return mass.GetVolume()


# -- centerline model ----------------------------------------------------------------------------------------------
def test_centerline_poly_data_holds_ras_points_radii_and_tree():
    branches = smallTree()
    polyData = outputs.centerlinesPolyData(branches)
    assert polyData.GetNumberOfCells() == 2 and polyData.GetNumberOfLines() == 2
    pointsRas = pointsOf(polyData)
    allLps = np.concatenate([b.pointsLps for b in branches])
    np.testing.assert_allclose(pointsRas, lpsToRas(allLps), atol=1e-9)
    np.testing.assert_allclose(rasToLps(pointsRas), allLps, atol=1e-9)  # both ways
    np.testing.assert_allclose(pointsRas[:, :2], -allLps[:, :2], atol=1e-9)
    np.testing.assert_allclose(arrayOf(polyData.GetPointData(), "Radius"),
                               np.concatenate([b.radiiMm for b in branches]))
    np.testing.assert_allclose(arrayOf(polyData.GetPointData(), "RadiusViews"),
                               np.concatenate([b.radiiViewsMm for b in branches]))
    cells = polyData.GetCellData()
    assert [cells.GetAbstractArray("BranchName").GetValue(i) for i in range(2)] == ["LAD", "D1"]
    assert list(arrayOf(cells, "BranchId")) == [1, 2]
    assert list(arrayOf(cells, "ParentId")) == [0, 1]
    assert list(arrayOf(cells, "ParentPointIndex")) == [-1, 20]
    np.testing.assert_allclose(arrayOf(cells, "LengthMm"), [branch.lengthMm for branch in branches])
    for mean, branch in zip(arrayOf(cells, "MeanDiameterMm"), branches):  # arc-weighted, between the extremes
        assert branch.diametersMm.min() <= mean <= branch.diametersMm.max()
    second = polyData.GetCell(1)
    assert second.GetNumberOfPoints() == len(branches[1].pointsLps)
    assert second.GetPointId(0) == len(branches[0].pointsLps)  # proximal end first
    assert outputs.centerlinesPolyData([]).GetNumberOfPoints() == 0


def test_centerline_model_file_is_lps_and_reads_back(scene, tmp_path):
    from vtkmodules.vtkIOLegacy import vtkPolyDataReader

    branches = smallTree()
    node = outputs.centerlineModelNode(scene, branches)
    assert node.GetName() == "coronary centerlines"
    display = node.GetDisplayNode()
    assert not display.GetScalarVisibility() and display.GetVisibility2D()
    assert display.GetColor() == pytest.approx(outputs.CENTERLINE_COLOR)
    path = storage.saveNode(node, tmp_path / "centerlines.vtk")
    reader = vtkPolyDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    assert "SPACE=LPS" in reader.GetHeader()
    written = reader.GetOutput()
    np.testing.assert_allclose(pointsOf(written), np.concatenate([b.pointsLps for b in branches]), atol=1e-5)
    np.testing.assert_allclose(arrayOf(written.GetPointData(), "Radius"), np.concatenate([b.radiiMm for b in branches]),
                               atol=1e-6)
    names = written.GetCellData().GetAbstractArray("BranchName")
    assert [names.GetValue(i) for i in range(names.GetNumberOfValues())] == ["LAD", "D1"]
    assert list(arrayOf(written.GetCellData(), "BranchId")) == [1, 2]
    loaded = storage.loadNode(scene, path)  # Slicer's reader turns the file's LPS into RAS again
    np.testing.assert_allclose(pointsOf(loaded.GetPolyData()), pointsOf(node.GetPolyData()), atol=1e-5)
    again = outputs.centerlineModelNode(scene, branches[:1], node=node)  # refills the given node
    assert again is node and node.GetPolyData().GetNumberOfCells() == 1


# -- lumen surface -------------------------------------------------------------------------------------------------
def test_lumen_surface_follows_the_radii_with_short_edges():
    axisLps = np.array([1.0, 2.0, 2.0]) / 3.0
    branch = straightBranch("LAD", (5.0, -3.0, 12.0), axisLps, 20.0, (2.5, 1.0), stepMm=1.7)
    surface = outputs.lumenSurface([branch], MAX_EDGE_MM)
    points, startRas, axisRas = pointsOf(surface), lpsToRas(branch.pointsLps[0]), lpsToRas(axisLps)
    along = (points - startRas) @ axisRas
    fromAxis = np.linalg.norm(points - startRas - along[:, None] * axisRas, axis=1)
    rim = fromAxis > 0.5  # the caps' centre region aside, every point lies on the tube's circle there
    np.testing.assert_allclose(fromAxis[rim], np.interp(along[rim], [0, 20], [2.5, 1.0]), atol=1e-6)
    assert along.min() == pytest.approx(0.0, abs=1e-9) and along.max() == pytest.approx(20.0, abs=1e-9)
    start, end = sideEdges(surface)
    axial = np.abs((end - start) @ axisRas)
    across = np.linalg.norm((end - start) - ((end - start) @ axisRas)[:, None] * axisRas, axis=1)
    assert axial.max() <= MAX_EDGE_MM + 1e-9
    assert across.max() <= MAX_EDGE_MM + 0.3 * MAX_EDGE_MM * 1.5 / 20.0 + 1e-9  # chord, plus the radius' change
    assert surface.GetNumberOfCells() == surface.GetNumberOfPolys()  # triangles only
    assert set(arrayOf(surface.GetCellData(), "BranchId")) == {1}
    frustum = np.pi * 20.0 / 3.0 * (2.5 ** 2 + 2.5 * 1.0 + 1.0 ** 2)
    assert enclosedVolume(surface) == pytest.approx(frustum, rel=0.01)


def test_lumen_surface_encloses_pi_r2_l():
    radius, length = 2.0, 30.0
    surface = outputs.lumenSurface([straightBranch("RCA", (0.0, 0.0, 0.0), (0.3, -1.0, 0.2), length,
                                                   (radius, radius))])
    assert enclosedVolume(surface) == pytest.approx(np.pi * radius ** 2 * length, rel=0.01)  # measured -0.4 %


def test_lumen_surface_edges_stay_short_on_the_outside_of_a_bend():
    """A quarter circle of 8 mm radius, points 1 mm apart: the outside of a 2.5 mm tube is 31 % longer than the
    centerline, so the steps there are refined."""
    angles = np.linspace(0.0, np.pi / 2, 14)
    points = np.stack([8.0 * np.cos(angles), 8.0 * np.sin(angles), np.zeros_like(angles)], axis=1)
    radii = np.full(len(points), 2.5)
    surface = outputs.lumenSurface([Branch("LCX", points, radii, np.stack([radii, radii], 1))], MAX_EDGE_MM)
    start, end = sideEdges(surface)
    lengths = np.linalg.norm(end - start, axis=1)
    assert lengths.max() <= np.sqrt(2) * MAX_EDGE_MM + 1e-6  # quads <= MAX_EDGE_MM on each side, and a diagonal
    centreDistance = np.linalg.norm(pointsOf(surface)[:, :2], axis=1)
    assert centreDistance.max() == pytest.approx(8.0 + 2.5, abs=0.02)  # the tube follows the arc, no overshoot
    assert centreDistance.min() == pytest.approx(8.0 - 2.5, abs=0.02)


def test_tube_sides_are_capped_for_wide_vessels():
    for radius in (0.2, 0.75, 1.5, 2.5, 3.0):
        sides = outputs.tubeSides(radius, MAX_EDGE_MM)
        assert 2 * radius * np.sin(np.pi / sides) <= MAX_EDGE_MM + 1e-12
        assert sides == outputs.MIN_TUBE_SIDES or 2 * radius * np.sin(np.pi / (sides - 1)) > MAX_EDGE_MM
    assert outputs.tubeSides(5.0, MAX_EDGE_MM) == outputs.MAX_TUBE_SIDES
    surface = outputs.lumenSurface([straightBranch("LM", (0, 0, 0), (0, 0, 1), 3.0, (5.0, 5.0))], MAX_EDGE_MM)
    ring = pointsOf(surface)
    ring = ring[np.abs(ring[:, 2]) < 1e-9]
    assert len(np.unique(ring.round(9), axis=0)) == outputs.MAX_TUBE_SIDES
    assert outputs.lumenSurface([]).GetNumberOfPoints() == 0


def test_lumen_model_node(scene):
    node = outputs.lumenModelNode(scene, smallTree())
    assert node.GetName() == "coronary lumen" and node.GetPolyData().GetNumberOfPolys() > 0
    assert node.GetDisplayNode().GetColor() == pytest.approx((0.85, 0.2, 0.2))
    assert not node.GetDisplayNode().GetScalarVisibility() and node.GetDisplayNode().GetVisibility2D()
    assert set(arrayOf(node.GetPolyData().GetCellData(), "BranchId")) == {1, 2}


# -- fine labelmap -------------------------------------------------------------------------------------------------
def test_fine_labelmap_measures_pi_r2_l_in_lps():
    radius, length, voxel = 2.0, 40.0, 0.5
    branch = straightBranch("LAD", (-20.0, 35.0, 110.0), (2.0, -1.0, 1.5), length, (radius, radius))
    labels, ijkToLps = outputs.fineLabelmap([branch], voxelMm=voxel, marginMm=2.0)
    assert labels.dtype == np.int16 and set(np.unique(labels)) == {0, 1}
    assert (labels == 1).sum() * voxel ** 3 == pytest.approx(np.pi * radius ** 2 * length, rel=0.05)
    np.testing.assert_allclose(ijkToLps[:3, :3], np.eye(3) * voxel)
    k, j, i = np.nonzero(labels)
    centresLps = (ijkToLps @ np.stack([i, j, k, np.ones_like(i)]).astype(float))[:3].T
    middleLps = branch.pointsLps[len(branch.pointsLps) // 2]
    np.testing.assert_allclose(centresLps.mean(axis=0), middleLps, atol=0.05)
    ijkToRas = LPS_TO_RAS @ ijkToLps  # as the segmentation node takes it
    np.testing.assert_allclose((ijkToRas @ np.r_[i[0], j[0], k[0], 1.0])[:3], lpsToRas(centresLps[0]))
    low, high = ijkToLps[:3, 3], ijkToLps[:3, 3] + voxel * (np.array(labels.shape[::-1]) - 1)
    assert np.all(low <= branch.pointsLps.min(axis=0) - radius - 2.0 + 1e-9)
    assert np.all(high >= branch.pointsLps.max(axis=0) + radius + 2.0 - 1e-9)
    assert np.all(high < branch.pointsLps.max(axis=0) + radius + 2.0 + voxel + 1e-9)


def test_fine_labelmap_first_branch_keeps_shared_voxels():
    first = straightBranch("LAD", (0.0, 0.0, -10.0), (0, 0, 1), 20.0, (1.5, 1.5))
    second = straightBranch("D1", (-10.0, 0.0, 0.0), (1, 0, 0), 20.0, (1.5, 1.5))
    both, ijkToLps = outputs.fineLabelmap([first, second], voxelMm=0.5, marginMm=1.0)
    stub = straightBranch("far", (-10.0, 0.0, 0.0), (1, 0, 0), 0.5, (1.5, 1.5))
    alone, sameGrid = outputs.fineLabelmap([first, stub], voxelMm=0.5, marginMm=1.0)
    np.testing.assert_allclose(ijkToLps, sameGrid)
    assert (both == 1).sum() == (alone == 1).sum()  # the crossing stays the first branch's
    assert 0 < (both == 2).sum() < (both == 1).sum()  # the second loses the crossing
    assert ((both == 1) | (both == 2)).sum() == (both > 0).sum()


def test_fine_labelmap_refuses_what_it_cannot_label():
    with pytest.raises(ValueError, match="two distinct points"):
        outputs.fineLabelmap([Branch("dot", np.zeros((1, 3)), np.ones(1), np.ones((1, 2)))])
    with pytest.raises(ValueError, match="larger than"):
        outputs.fineLabelmap([straightBranch("long", (0, 0, 0), (1, 1, 1), 400.0)], voxelMm=0.2)
    with pytest.raises(ValueError, match="radii"):
        outputs.fineLabelmap([Branch("bad", np.eye(3), np.array([1.0, np.nan, 1.0]), np.ones((3, 2)))])


# -- curves and their markups file ---------------------------------------------------------------------------------
def test_curve_nodes_hold_ras_control_points_every_two_mm(scene):
    branches = smallTree()
    nodes = outputs.markupsCurveNodes(scene, branches)
    assert [node.GetName() for node in nodes] == ["LAD", "D1"]
    for node, branch in zip(nodes, branches):
        keep = outputs.curvePointIndices(branch.pointsLps)
        assert keep[0] == 0 and keep[-1] == len(branch.pointsLps) - 1
        assert np.diff(branch.arcMm[keep]).max() <= outputs.CURVE_POINT_SPACING_MM + 0.5  # points are 0.5 mm apart
        count = node.GetNumberOfControlPoints()
        assert node.IsA("vtkMRMLMarkupsCurveNode") and count == len(keep) and node.GetLocked()
        positionsRas = np.array([node.GetNthControlPointPosition(index) for index in range(count)])
        np.testing.assert_allclose(positionsRas, lpsToRas(branch.pointsLps[keep]), atol=1e-9)
        np.testing.assert_allclose(rasToLps(positionsRas), branch.pointsLps[keep], atol=1e-9)
        assert node.GetNthControlPointLabel(0) == f"{branch.name}-1"
        radius = node.GetMeasurement("Radius")
        values = radius.GetControlPointValues()
        np.testing.assert_allclose([values.GetValue(i) for i in range(count)], branch.radiiMm[keep])
    again = outputs.markupsCurveNodes(scene, branches[1:], nodes=[nodes[0]])
    assert again[0] is nodes[0] and nodes[0].GetNumberOfControlPoints() == len(
        outputs.curvePointIndices(branches[1].pointsLps))
    assert sum(nodes[0].GetNthMeasurement(i).GetName() == "Radius"
               for i in range(nodes[0].GetNumberOfMeasurements())) == 1


def test_markups_file_holds_every_curve_in_lps(scene, tmp_path):
    branches = smallTree()
    path = outputs.writeMarkupsJson(branches, tmp_path / "centerlines.mrk.json")
    document = json.loads(path.read_text())
    assert re.fullmatch(r".*markups-schema-v1\.[0-9]+\.[0-9]+\.json#*", document["@schema"])  # what Slicer accepts
    assert [markup["name"] for markup in document["markups"]] == ["LAD", "D1"]
    nodes = outputs.markupsCurveNodes(scene, branches)
    for index, (markup, branch) in enumerate(zip(document["markups"], branches)):
        keep = outputs.curvePointIndices(branch.pointsLps)
        assert markup["type"] == "Curve" and markup["coordinateSystem"] == "LPS" and markup["coordinateUnits"] == "mm"
        positionsLps = np.array([point["position"] for point in markup["controlPoints"]])
        np.testing.assert_allclose(positionsLps, branch.pointsLps[keep])
        radius = next(m for m in markup["measurements"] if m["name"] == "Radius")
        np.testing.assert_allclose(radius["controlPointValues"], branch.radiiMm[keep])
        # Slicer's reader (as its markups logic loads a file of several markups) gives the curve nodes' RAS points
        reader = scene.AddNewNodeByClass("vtkMRMLMarkupsJsonStorageNode")
        loaded = reader.AddNewMarkupsNodeFromFile(str(path), f"loaded {branch.name}", index)
        assert loaded is not None and loaded.IsA("vtkMRMLMarkupsCurveNode")
        count = loaded.GetNumberOfControlPoints()
        assert count == len(keep) and loaded.GetLocked()
        np.testing.assert_allclose([loaded.GetNthControlPointPosition(i) for i in range(count)],
                                   [nodes[index].GetNthControlPointPosition(i) for i in range(count)], atol=1e-9)
        values = loaded.GetMeasurement("Radius").GetControlPointValues()
        np.testing.assert_allclose([values.GetValue(i) for i in range(count)], branch.radiiMm[keep])
        # and Slicer's own writer of one curve node puts the same numbers in its file
        own = json.loads(storage.saveNode(nodes[index], tmp_path / f"{branch.name}.mrk.json").read_text())
        assert own["markups"][0]["coordinateSystem"] == "LPS"
        np.testing.assert_allclose([point["position"] for point in own["markups"][0]["controlPoints"]], positionsLps,
                                   atol=1e-9)


# -- lesion table and TSV ------------------------------------------------------------------------------------------
LESIONS = [{"vessel": "LAD", "distance_from_ostium_mm": 23.456, "mld_mm": 1.2345, "stenosis_percent": 54.26,
            "segments": 3},
           {"vessel": "D1", "distance_from_ostium_mm": 41.0, "mld_mm": 0.8, "stenosis_percent": -0.01, "segments": 1}]
COLUMNS = list(LESIONS[0].keys())


def test_lesion_table_has_typed_columns(scene):
    node = outputs.lesionTableNode(scene, LESIONS)
    assert node.GetName() == "coronary lesions" and node.IsA("vtkMRMLTableNode")
    table = node.GetTable()
    assert [table.GetColumnName(i) for i in range(table.GetNumberOfColumns())] == COLUMNS
    assert node.GetNumberOfRows() == 2
    assert table.GetColumnByName("vessel").IsA("vtkStringArray")
    for column in COLUMNS[1:]:
        assert table.GetColumnByName(column).IsA("vtkDoubleArray"), column
    assert table.GetColumnByName("mld_mm").GetValue(0) == 1.2345
    assert table.GetColumnByName("segments").GetValue(1) == 1.0
    assert node.GetCellText(1, 0) == "D1"
    assert node.GetColumnUnitLabel("mld_mm") == "mm" and node.GetColumnUnitLabel("stenosis_percent") == "%"
    empty = outputs.lesionTableNode(scene, [], node=node, columns=COLUMNS)
    assert empty is node and node.GetNumberOfColumns() == len(COLUMNS) and node.GetNumberOfRows() == 0


def test_tsv_has_header_and_sensible_decimals(scene, tmp_path):
    path = outputs.writeTsv(LESIONS + [{"vessel": "tab\there", "mld_mm": float("nan")}], tmp_path / "stenoses.tsv",
                            COLUMNS)
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == COLUMNS
    assert lines[1].split("\t") == ["LAD", "23.46", "1.23", "54.3", "3"]
    assert lines[2].split("\t") == ["D1", "41.00", "0.80", "0.0", "1"]  # no "-0.0"
    assert lines[3].split("\t") == ["tab here", "", "", "", ""]
    loaded = storage.loadNode(scene, path)  # Slicer's table reader takes it
    assert loaded.GetNumberOfRows() == 3 and loaded.GetCellText(0, 2) == "1.23"
    empty = outputs.writeTsv([], tmp_path / "none.tsv", COLUMNS)
    assert empty.read_text() == "\t".join(COLUMNS) + "\n"


def test_module_needs_no_torch():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(outputs.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"torch", "monai"} and hasattr(slicer, "vtkMRMLMarkupsCurveNode")

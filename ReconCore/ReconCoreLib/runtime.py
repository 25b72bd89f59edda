"""Slicer MRML runtime for logic code, inside Slicer or headless (slicer-core, no Qt).

Inside the Slicer application :func:`getScene` returns ``slicer.mrmlScene``. Outside it builds a scene
the way Slicer's core application does: application logic with default color nodes, the segmentations
logic attached (so closed-surface representations are made), subject hierarchy, markups, and data I/O through
MRML storage nodes (``.nrrd``, ``.seg.nrrd``, ``.vtk``, ``.tsv``, ``.h5``, ``.mrk.json``, ``.mrb``).

Arrays handed to and from nodes are indexed [k, j, i] (slice, row, column), as SimpleITK and
``slicer.util.arrayFromVolume`` do; geometry travels as a 4x4 IJK -> RAS matrix (mm).

Console example (headless)::

    from ReconCoreLib import runtime, storage
    scene = runtime.getScene()
    volume = runtime.volumeNodeFromArray(scene, array, ijkToRas, "probability")
    storage.saveNode(volume, "/tmp/probability.nrrd")
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

_HEADLESS = {}  # id(scene) -> HeadlessSlicer, keeps the logic objects alive with their scene
#: Headless scenes' cache folders are ``<temp>/recon2d3d-cache-<pid>-*``: the process id tells whether one is stale.
CACHE_PREFIX = "recon2d3d-cache-"


def _processAlive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap portable check: keep the folder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def removeStaleCaches() -> list:
    """Remove the scene cache folders of processes that no longer run (a run killed by SIGKILL or the OOM killer
    cannot remove its own); returns the removed paths."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{CACHE_PREFIX}*"):
        pid = folder.name[len(CACHE_PREFIX):].split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and int(pid) != os.getpid() and not _processAlive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class HeadlessSlicer:
    """A working MRML scene with Slicer's core logics, without the Slicer application."""

    def __init__(self):
        import slicer
        from vtkmodules.vtkCommonCore import vtkCollection

        self.scene = slicer.vtkMRMLScene()
        self.applicationLogic = slicer.vtkSlicerApplicationLogic()
        self.applicationLogic.SetMRMLScene(self.scene)
        self.applicationLogic.SetSliceLogics(vtkCollection())
        self.applicationLogic.SetViewLogics(vtkCollection())
        self.colorLogic = self.applicationLogic.GetColorLogic() or slicer.vtkSlicerColorLogic()
        self.colorLogic.SetMRMLScene(self.scene)
        if self.scene.GetFirstNodeByClass("vtkMRMLColorTableNode") is None:
            self.colorLogic.AddDefaultColorNodes()
        # Data I/O with a cache folder, as Slicer's core application sets up (needed to read .mrb bundles).
        removeStaleCaches()
        self.cacheDirectory = tempfile.mkdtemp(prefix=f"{CACHE_PREFIX}{os.getpid()}-")
        self.cacheManager = slicer.vtkCacheManager()
        self.cacheManager.SetRemoteCacheDirectory(self.cacheDirectory)
        self.dataIOManager = slicer.vtkDataIOManager()
        self.dataIOManager.SetCacheManager(self.cacheManager)
        self.scene.SetCacheManager(self.cacheManager)
        self.scene.SetDataIOManager(self.dataIOManager)
        self.subjectHierarchyLogic = slicer.vtkSlicerSubjectHierarchyModuleLogic()
        self.subjectHierarchyLogic.SetMRMLApplicationLogic(self.applicationLogic)
        self.subjectHierarchyLogic.SetMRMLScene(self.scene)
        self.segmentationsLogic = slicer.vtkSlicerSegmentationsModuleLogic()
        self.segmentationsLogic.SetMRMLApplicationLogic(self.applicationLogic)
        self.segmentationsLogic.SetMRMLScene(self.scene)
        self.applicationLogic.SetModuleLogic("Segmentations", self.segmentationsLogic)
        self.applicationLogic.SetModuleLogic("SubjectHierarchy", self.subjectHierarchyLogic)
        # Markups logic registers the markups node classes (point lists, their .mrk.json storage) in the scene.
        self.markupsLogic = slicer.vtkSlicerMarkupsLogic()
        self.markupsLogic.SetMRMLApplicationLogic(self.applicationLogic)
        self.markupsLogic.SetMRMLScene(self.scene)
        self.applicationLogic.SetModuleLogic("Markups", self.markupsLogic)


def insideSlicer() -> bool:
    """True when running inside the Slicer application (``slicer.mrmlScene`` exists)."""
    try:
        import slicer
    except ImportError:
        return False
    return getattr(slicer, "mrmlScene", None) is not None


def getScene(scene=None):
    """The scene logic code should use: ``scene`` if given, Slicer's scene inside Slicer, else a new headless one."""
    if scene is not None:
        return scene
    if insideSlicer():
        import slicer

        return slicer.mrmlScene
    return newHeadlessScene()


def newHeadlessScene():
    """A new headless scene with application, color, subject hierarchy and segmentations logic attached."""
    runtime = HeadlessSlicer()
    _HEADLESS[id(runtime.scene)] = runtime
    return runtime.scene


def releaseScene(scene) -> None:
    """Clear a headless scene and drop its logics (no-op for Slicer's own scene)."""
    runtime = _HEADLESS.pop(id(scene), None)
    if runtime is not None:
        runtime.scene.Clear(True)
        shutil.rmtree(runtime.cacheDirectory, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# numpy <-> nodes
def _matrixToVtk(matrix: np.ndarray):
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    result = vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            result.SetElement(row, column, float(matrix[row, column]))
    return result


def _vtkToMatrix(vtkMatrix) -> np.ndarray:
    return np.array([[vtkMatrix.GetElement(row, column) for column in range(4)] for row in range(4)])


def _imageDataFromArray(arrayKji: np.ndarray, components: int = 1):
    from vtkmodules.util import numpy_support
    from vtkmodules.vtkCommonDataModel import vtkImageData

    array = np.ascontiguousarray(arrayKji)
    shape = array.shape[:3] if components > 1 else array.shape
    if len(shape) != 3:
        raise ValueError(f"expected a 3D array indexed [k, j, i], got shape {array.shape}")
    imageData = vtkImageData()
    imageData.SetDimensions(shape[2], shape[1], shape[0])
    flat = numpy_support.numpy_to_vtk(array.reshape(-1, components) if components > 1 else array.ravel(),
                                      deep=True)
    flat.SetNumberOfComponents(components)
    imageData.GetPointData().SetScalars(flat)
    return imageData


def _arrayFromImageData(imageData, components: int = 1) -> np.ndarray:
    from vtkmodules.util import numpy_support

    dims = imageData.GetDimensions()
    array = numpy_support.vtk_to_numpy(imageData.GetPointData().GetScalars())
    shape = (dims[2], dims[1], dims[0]) + ((components,) if components > 1 else ())
    return array.reshape(shape).copy()


def volumeNodeFromArray(scene, arrayKji: np.ndarray, ijkToRas: np.ndarray, name: str,
                        labelmap: bool = False, node=None):
    """Fill ``node`` (or a new scalar / labelmap volume node) with ``arrayKji`` placed by ``ijkToRas`` (4x4, mm)."""
    className = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
    node = node if node is not None else scene.AddNewNodeByClass(className, name)
    node.SetAndObserveImageData(_imageDataFromArray(arrayKji))
    node.SetIJKToRASMatrix(_matrixToVtk(np.asarray(ijkToRas, dtype=float)))
    node.CreateDefaultDisplayNodes()
    return node


def arrayFromVolumeNode(node) -> np.ndarray:
    """Copy of a volume node's voxels, indexed [k, j, i] ([k, j, i, component] for a vector volume)."""
    imageData = node.GetImageData()
    return _arrayFromImageData(imageData, imageData.GetNumberOfScalarComponents())


def ijkToRasFromNode(node) -> np.ndarray:
    """4x4 IJK -> RAS matrix of a volume node (mm)."""
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    matrix = vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return _vtkToMatrix(matrix)


def segmentationNodeFromLabelmap(scene, labelKji: np.ndarray, ijkToRas: np.ndarray,
                                 segments: Mapping[int, tuple], name: str, closedSurface: bool = True,
                                 smoothingFactor: float = 0.5, node=None):
    """Fill ``node`` (its segments are replaced) or a new segmentation node from an integer label array.

    :param segments: label value -> (segment name, (r, g, b) in 0..1).
    :param closedSurface: also create the closed-surface representation (shown in 3D, written to .vtk).
    """
    labelNode = volumeNodeFromArray(scene, np.asarray(labelKji).astype(np.int16), ijkToRas, name + " labels",
                                    labelmap=True)
    segmentation = node if node is not None else scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    segmentation.GetSegmentation().RemoveAllSegments()
    segmentation.CreateDefaultDisplayNodes()
    try:
        segmentation.SetReferenceImageGeometryParameterFromVolumeNode(labelNode)
        for label, (segmentName, color) in segments.items():
            single = volumeNodeFromArray(scene, (np.asarray(labelKji) == label).astype(np.uint8), ijkToRas,
                                         segmentName, labelmap=True)
            try:
                _importLabelmap(scene, single, segmentation)
                segment = segmentation.GetSegmentation().GetNthSegment(
                    segmentation.GetSegmentation().GetNumberOfSegments() - 1)
                segment.SetName(segmentName)
                segment.SetColor(*color)
            finally:
                scene.RemoveNode(single)
    finally:
        scene.RemoveNode(labelNode)
    if closedSurface:
        segmentation.GetSegmentation().SetConversionParameter("Smoothing factor", str(smoothingFactor))
        segmentation.CreateClosedSurfaceRepresentation()
    return segmentation


def _importLabelmap(scene, labelNode, segmentation) -> None:
    import slicer

    if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelNode, segmentation):
        raise RuntimeError(f"could not import labelmap {labelNode.GetName()} into {segmentation.GetName()}")


def labelmapFromSegmentation(segmentation, referenceVolume=None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Export a segmentation to (label array [k, j, i], ijkToRas, segment names; label = index + 1)."""
    import slicer

    scene = segmentation.GetScene()
    labelNode = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "export")
    try:
        ok = slicer.vtkSlicerSegmentationsModuleLogic.ExportAllSegmentsToLabelmapNode(
            segmentation, labelNode, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY) if referenceVolume is None \
            else slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
                segmentation, _segmentIds(segmentation), labelNode, referenceVolume)
        if not ok:
            raise RuntimeError(f"could not export segmentation {segmentation.GetName()}")
        names = [segmentation.GetSegmentation().GetNthSegment(index).GetName()
                 for index in range(segmentation.GetSegmentation().GetNumberOfSegments())]
        return arrayFromVolumeNode(labelNode), ijkToRasFromNode(labelNode), names
    finally:
        scene.RemoveNode(labelNode)


def _segmentIds(segmentation):
    from vtkmodules.vtkCommonCore import vtkStringArray

    ids = vtkStringArray()
    segmentation.GetSegmentation().GetSegmentIDs(ids)
    return ids


def modelNodeFromPolyData(scene, polyData, name: str, color: Sequence[float] = (0.9, 0.3, 0.3), node=None):
    """Fill ``node`` (or a new model node) with ``polyData`` (points in RAS mm)."""
    node = node if node is not None else scene.AddNewNodeByClass("vtkMRMLModelNode", name)
    node.SetAndObservePolyData(polyData)
    node.CreateDefaultDisplayNodes()
    node.GetDisplayNode().SetColor(*color)
    return node


def modelNodeFromSegment(scene, segmentation, segmentName: str, name: str | None = None, node=None):
    """Fill ``node`` (or a new model node) with the closed surface of one segment (RAS mm)."""
    from vtkmodules.vtkCommonDataModel import vtkPolyData

    segmentation.CreateClosedSurfaceRepresentation()
    segmentId = segmentation.GetSegmentation().GetSegmentIdBySegmentName(segmentName)
    if not segmentId:
        raise ValueError(f"segmentation {segmentation.GetName()} has no segment named {segmentName!r}")
    polyData = vtkPolyData()
    segmentation.GetClosedSurfaceRepresentation(segmentId, polyData)
    color = segmentation.GetSegmentation().GetSegment(segmentId).GetColor()
    return modelNodeFromPolyData(scene, polyData, name or segmentName, color, node)


def tableNodeFromRows(scene, rows: Sequence[Mapping[str, object]], name: str, node=None):
    """Fill ``node`` (emptied first) or a new table node: one column per key of the first row, values as text."""
    node = node if node is not None else scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    node.RemoveAllColumns()
    if not rows:
        return node
    columns = list(rows[0].keys())
    for column in columns:
        node.AddColumn().SetName(column)
    for row in rows:
        index = node.AddEmptyRow()
        for columnIndex, column in enumerate(columns):
            node.SetCellText(index, columnIndex, str(row.get(column, "")))
    return node


def rowsFromTableNode(node) -> list[dict[str, str]]:
    """The table's cells as a list of dicts keyed by column name (strings)."""
    table = node.GetTable()
    names = [table.GetColumnName(column) for column in range(table.GetNumberOfColumns())]
    return [{name: node.GetCellText(row, column) for column, name in enumerate(names)}
            for row in range(table.GetNumberOfRows())]


def markupsNodeFromPoints(scene, pointsRas: np.ndarray, labels: Sequence[str], name: str,
                          descriptions: Sequence[str] | None = None, node=None):
    """Fill ``node`` (its points are replaced) or a new point list (``vtkMRMLMarkupsFiducialNode``).

    :param pointsRas: (N, 3) positions (mm, RAS); ``labels`` and ``descriptions`` one string per point.
    Points are locked (they are results, not handles to drag). Saved as ``.mrk.json`` by :func:`saveNode`.
    """
    points = np.asarray(pointsRas, dtype=float).reshape(-1, 3)
    if len(labels) != len(points) or (descriptions is not None and len(descriptions) != len(points)):
        raise ValueError(f"{len(points)} points need as many labels (got {len(labels)}) and descriptions")
    node = node if node is not None else scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
    node.RemoveAllControlPoints()
    for index, (point, label) in enumerate(zip(points, labels)):
        node.AddControlPoint(float(point[0]), float(point[1]), float(point[2]), str(label))
        if descriptions is not None:
            node.SetNthControlPointDescription(index, str(descriptions[index]))
        node.SetNthControlPointLocked(index, True)
    node.CreateDefaultDisplayNodes()
    return node


def pointsFromMarkupsNode(node) -> tuple[np.ndarray, list[str]]:
    """((N, 3) control point positions in mm RAS, their labels) of a markups node."""
    count = node.GetNumberOfControlPoints()
    points = np.array([node.GetNthControlPointPosition(index) for index in range(count)], dtype=float)
    return points.reshape(-1, 3), [node.GetNthControlPointLabel(index) for index in range(count)]


def linearTransformNode(scene, matrixRas: np.ndarray, name: str):
    """Add a linear transform node (4x4, RAS, 'to parent')."""
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", name)
    node.SetMatrixTransformToParent(_matrixToVtk(np.asarray(matrixRas, dtype=float)))
    return node


def matrixFromLinearTransformNode(node) -> np.ndarray:
    """4x4 'to parent' matrix of a linear transform node (RAS)."""
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    matrix = vtkMatrix4x4()
    node.GetMatrixTransformToParent(matrix)
    return _vtkToMatrix(matrix)


def gridTransformNodeFromDisplacement(scene, displacementKjiRas: np.ndarray, ijkToRas: np.ndarray, name: str,
                                      node=None):
    """Fill ``node`` (any transform node) or a new grid transform node: a displacement (mm, RAS) at each grid
    point [k, j, i, xyz].

    The grid's origin, spacing and direction come from ``ijkToRas``; the transform maps 'to parent'
    (a point p goes to p + displacement(p)).
    """
    import slicer
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    displacement = np.asarray(displacementKjiRas, dtype=np.float64)
    if displacement.ndim != 4 or displacement.shape[3] != 3:
        raise ValueError(f"expected displacement [k, j, i, 3], got shape {displacement.shape}")
    matrix = np.asarray(ijkToRas, dtype=float)
    spacing = np.linalg.norm(matrix[:3, :3], axis=0)
    direction = matrix[:3, :3] / spacing
    imageData = _imageDataFromArray(displacement, components=3)
    imageData.SetOrigin(*matrix[:3, 3])
    imageData.SetSpacing(*spacing)
    directionVtk = vtkMatrix4x4()
    for row in range(3):
        for column in range(3):
            directionVtk.SetElement(row, column, direction[row, column])
    grid = slicer.vtkOrientedGridTransform()
    grid.SetDisplacementGridData(imageData)
    grid.SetGridDirectionMatrix(directionVtk)
    grid.SetInterpolationModeToCubic()
    node = node if node is not None else scene.AddNewNodeByClass("vtkMRMLGridTransformNode", name)
    node.SetAndObserveTransformToParent(grid)
    return node


def displacementFromGridTransformNode(node) -> tuple[np.ndarray, np.ndarray]:
    """(displacement [k, j, i, 3] in mm RAS, grid ijkToRas 4x4) of a grid transform node."""
    grid = node.GetTransformToParent()
    if grid.GetInverseFlag():
        grid = grid.GetInverse()
    while hasattr(grid, "GetConcatenatedTransform") and grid.GetNumberOfConcatenatedTransforms():
        grid = grid.GetConcatenatedTransform(0)
    imageData = grid.GetDisplacementGrid()
    direction = _vtkToMatrix(grid.GetGridDirectionMatrix())[:3, :3] if grid.GetGridDirectionMatrix() \
        else np.eye(3)
    ijkToRas = np.eye(4)
    ijkToRas[:3, :3] = direction * np.array(imageData.GetSpacing())
    ijkToRas[:3, 3] = imageData.GetOrigin()
    return _arrayFromImageData(imageData, components=3), ijkToRas


def outputNode(scene, node, className: str, name: str):
    """``node`` when given, else a new node of ``className`` named ``name``, made unique when a node has that name
    (the scene's own counter would number it even when the earlier node is gone)."""
    if node is not None:
        return node
    return scene.AddNewNodeByClass(className, name if scene.GetFirstNodeByName(name) is None
                                   else scene.GenerateUniqueName(name))


def runModulePipeline(scene, moduleName: str, run, outputClasses: Mapping[str, tuple], requested: Mapping,
                      progressCallback=None, abortFlag=None, **arguments) -> dict:
    """What every module logic's ``process`` does around its pipeline, in one place.

    Creates the requested output nodes that are None (``outputClasses``: name -> (MRML class, default
    name)), calls ``run(scene=..., progress=<Progress>, **arguments, **outputs)`` (the progress callback and
    the abort flag become one :class:`~ReconCoreLib.progress.Progress`), logs the start and the elapsed time,
    and returns the output nodes by name. When the run fails or is cancelled, every node added to the scene
    meanwhile (the outputs created here, and what the run made) is removed again before the error goes on, so a
    retry neither finds empty outputs nor names its own ``_1``, ``_2``.
    """
    import logging
    import time

    from .cpushare import startCase
    from .progress import Progress

    startCase()
    before = {scene.GetNthNode(index).GetID() for index in range(scene.GetNumberOfNodes())}
    try:
        outputs = {name: outputNode(scene, node, *outputClasses[name]) for name, node in requested.items()}
        started = time.perf_counter()
        logging.info(f"{moduleName} started")
        run(scene=scene, progress=Progress(progressCallback, abortFlag), **arguments, **outputs)
    except BaseException:
        removeNodesAddedSince(scene, before)
        raise
    logging.info(f"{moduleName} completed in {time.perf_counter() - started:.2f} s")
    return outputs


def removeNodesAddedSince(scene, before: set) -> int:
    """Remove from ``scene`` every node whose ID is not in ``before`` (IDs of the nodes that were there); returns how
    many were removed. Display and storage nodes go with the nodes that refer to them."""
    added = [scene.GetNthNode(index) for index in range(scene.GetNumberOfNodes())]
    added = [node for node in added if node is not None and node.GetID() not in before]
    for node in added:
        if scene.IsNodePresent(node):
            scene.RemoveNode(node)
    return len(added)

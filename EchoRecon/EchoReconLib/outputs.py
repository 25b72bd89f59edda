"""EchoRecon's outputs: per phase a segmentation made from the closed surfaces and one model per structure.

Files (:func:`writeOutputs`): ``segmentation.seg.nrrd`` (closed surfaces -> 1 mm labelmap; the LV myocardium
segment is the wall only), ``<structure>.vtk`` (``lv_cavity``, ``lv_myocardium``, ``rv``, ``la``, ``ra``,
``aortic_root``), the same with ``_es`` for end-systole, ``readouts.json`` and ``scene.mrb``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from .conventions import STRUCTURES

#: Voxel size (mm) of the segmentation's labelmap (one grid for both phases, axis-aligned in RAS).
SEGMENTATION_SPACING_MM = 1.0
SEGMENTATION_MARGIN_MM = 3.0
#: Colours (r, g, b in 0..1) of the structures, in :data:`STRUCTURES` order: left heart red, right heart blue.
STRUCTURE_COLORS = {
    "LV cavity": (0.86, 0.20, 0.18),
    "LV myocardium": (0.87, 0.66, 0.52),
    "RV": (0.25, 0.45, 0.85),
    "LA": (0.96, 0.56, 0.52),
    "RA": (0.55, 0.72, 0.96),
    "aortic root": (0.93, 0.78, 0.25),
}
#: Opacity of each structure's model in 3D (the LV myocardium is see-through so the cavity shows).
STRUCTURE_OPACITY = {"LV myocardium": 0.35}
_MODEL_REFERENCE_ROLE = "echoReconModel"
_STRUCTURE_ATTRIBUTE = "EchoRecon.structure"


def fileStem(structure: str) -> str:
    """snake_case file name stem of a structure ("LV cavity" -> "lv_cavity")."""
    return structure.lower().replace(" ", "_")



def _normals(polyData):
    from vtkmodules.vtkCommonDataModel import vtkPolyData
    from vtkmodules.vtkFiltersCore import vtkPolyDataNormals

    normals = vtkPolyDataNormals()
    normals.SetInputData(polyData)
    normals.SplittingOff()
    normals.ConsistencyOff()
    normals.AutoOrientNormalsOff()
    normals.Update()
    output = vtkPolyData()
    output.DeepCopy(normals.GetOutput())
    return output


def structureSurfaces(result, phase: str) -> dict:
    """{structure: vtkPolyData in RAS (mm), with point normals} of one phase. The LV myocardium is the wall: the
    epicardial surface plus the LV cavity surface turned inside out, so it encloses the myocardium only (no overlap
    with the cavity in the labelmap)."""
    from vtkmodules.vtkFiltersCore import vtkAppendPolyData, vtkReverseSense

    vertices = result.verticesRas(phase)
    surfaces = {}
    for structure in STRUCTURES:
        polyData = result.template.polyData(vertices, structure)
        if structure == "LV myocardium":
            inside = vtkReverseSense()
            inside.SetInputData(result.template.polyData(vertices, "LV cavity"))
            inside.ReverseCellsOn()
            wall = vtkAppendPolyData()
            wall.AddInputData(polyData)
            wall.AddInputConnection(inside.GetOutputPort())
            wall.Update()
            polyData = wall.GetOutput()
        surfaces[structure] = _normals(polyData)
    return surfaces


def labelmapGeometry(result) -> tuple[np.ndarray, tuple[int, int, int]]:
    """(ijkToRas 4x4, dimensions (i, j, k)) of the segmentation grid: axis-aligned RAS, :data:`SEGMENTATION_SPACING_MM`,
    covering every phase's heart plus a margin, voxel corners on multiples of the spacing."""
    points = np.concatenate([result.verticesRas(phase) for phase in result.phases])
    spacing = SEGMENTATION_SPACING_MM
    low = np.floor((points.min(axis=0) - SEGMENTATION_MARGIN_MM) / spacing) * spacing
    high = np.ceil((points.max(axis=0) + SEGMENTATION_MARGIN_MM) / spacing) * spacing
    dimensions = tuple(int(value) for value in np.round((high - low) / spacing).astype(int) + 1)
    ijkToRas = np.eye(4)
    ijkToRas[:3, :3] *= spacing
    ijkToRas[:3, 3] = low
    return ijkToRas, dimensions


def segmentationFromSurfaces(scene, surfaces: Mapping, colors: Mapping, ijkToRas: np.ndarray, dimensions,
                             name: str, node=None):
    """Fill ``node`` (its segments replaced) or a new segmentation node with closed-surface segments (source
    representation) and their binary labelmaps on the grid (``ijkToRas``, ``dimensions`` (i, j, k))."""
    import slicer
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    segmentation = node if node is not None else scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    segmentation.CreateDefaultDisplayNodes()
    content = segmentation.GetSegmentation()
    content.RemoveAllSegments()
    content.SetSourceRepresentationName(slicer.vtkSegmentationConverter.GetClosedSurfaceRepresentationName())
    for segmentName, polyData in surfaces.items():
        segmentation.AddSegmentFromClosedSurfaceRepresentation(polyData, segmentName, colors[segmentName])
    matrix = vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            matrix.SetElement(row, column, float(ijkToRas[row, column]))
    extent = [0, dimensions[0] - 1, 0, dimensions[1] - 1, 0, dimensions[2] - 1]
    content.SetConversionParameter(slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName(),
                                   slicer.vtkSegmentationConverter.SerializeImageGeometry(matrix, extent))
    if not segmentation.CreateBinaryLabelmapRepresentation():
        raise RuntimeError(f"could not make the labelmap of segmentation {segmentation.GetName()}")
    return segmentation


def modelNodesOf(segmentation) -> dict:
    """{structure: model node} of the models made with ``segmentation`` (node references)."""
    models = {}
    for index in range(segmentation.GetNumberOfNodeReferences(_MODEL_REFERENCE_ROLE)):
        model = segmentation.GetNthNodeReference(_MODEL_REFERENCE_ROLE, index)
        if model is not None and model.GetAttribute(_STRUCTURE_ATTRIBUTE):
            models[model.GetAttribute(_STRUCTURE_ATTRIBUTE)] = model
    return models


def addToScene(result, scene, outputEdSegmentation=None, outputEsSegmentation=None,
               outputTable=None) -> dict:
    """Put a reconstruction into ``scene``: per phase a segmentation (closed surfaces + labelmap) and one model per
    structure (reused when the segmentation already has them), plus the readouts table. End-systole is hidden at
    first. Returns {"outputEdSegmentation", "outputEsSegmentation" (with ES), "outputTable": node, "edModels",
    "esModels": {structure: model node}}."""
    from ReconCoreLib import runtime

    ijkToRas, dimensions = labelmapGeometry(result)
    given = {"ED": outputEdSegmentation, "ES": outputEsSegmentation}
    nodes = {}
    for phase in result.phases:
        surfaces = structureSurfaces(result, phase)
        title = "heart ED" if phase == "ED" else "heart ES"
        segmentation = segmentationFromSurfaces(scene, surfaces, STRUCTURE_COLORS, ijkToRas, dimensions, title,
                                                node=given[phase])
        existing = modelNodesOf(segmentation)
        models = {}
        for structure, polyData in surfaces.items():
            model = runtime.modelNodeFromPolyData(scene, polyData, f"{structure} {phase}", STRUCTURE_COLORS[structure],
                                                  node=existing.get(structure))
            if structure not in existing:
                model.SetAttribute(_STRUCTURE_ATTRIBUTE, structure)
                segmentation.AddNodeReferenceID(_MODEL_REFERENCE_ROLE, model.GetID())
            display = model.GetDisplayNode()
            display.SetOpacity(STRUCTURE_OPACITY.get(structure, 1.0))
            display.SetVisibility(phase == "ED")
            models[structure] = model
        segmentation.GetDisplayNode().SetVisibility3D(False)  # the models show the surfaces in 3D
        segmentation.GetDisplayNode().SetVisibility(phase == "ED")
        nodes[f"output{phase.capitalize()}Segmentation"] = segmentation
        nodes[f"{phase.lower()}Models"] = models
    nodes["outputTable"] = result.readouts.toTableNode(scene, "heart readouts", node=outputTable)
    return nodes


def writeOutputs(result, nodes: dict, scene, directory: Path) -> list[Path]:
    """segmentation.seg.nrrd, <structure>.vtk per structure (``_es`` suffix for end-systole), readouts.json and
    scene.mrb into ``directory``; returns the files."""
    from ReconCoreLib import storage

    directory = Path(directory)
    written = []
    for phase in result.phases:
        suffix = "" if phase == "ED" else "_es"
        written.append(storage.saveNode(nodes[f"output{phase.capitalize()}Segmentation"],
                                        directory / f"segmentation{suffix}.seg.nrrd"))
        for structure, model in nodes[f"{phase.lower()}Models"].items():
            written.append(storage.saveNode(model, directory / f"{fileStem(structure)}{suffix}.vtk"))
    written.append(result.readouts.writeJson(directory / "readouts.json"))
    written.append(storage.saveScene(scene, directory / "scene.mrb"))
    return written

"""FemurRegistration's outputs in Slicer nodes and files, and the masks and reference read from nodes or files.

Files (:func:`writeOutputs`): ``volume.nrrd`` (warped atlas CT), ``segmentation.seg.nrrd``, ``model.vtk``,
``transform.h5`` (atlas -> patient grid transform), ``landmarks.mrk.json``, ``readouts.json``, ``scene.mrb``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .conventions import VIEW_NAMES

FEMUR_COLOR = (0.95, 0.88, 0.72)
OUTLINE_COLOR = (1.0, 0.85, 0.1)


def addToScene(result, scene, outputVolume=None, outputSegmentation=None, outputModel=None,
               outputTransform=None, outputLandmarks=None, outputTable=None, outputApOutline=None,
               outputLatOutline=None, radiographNodes=None) -> dict:
    """Put a registration into ``scene`` (filling the given nodes or new ones); returns the nodes by name.

    ``radiographNodes``: the two radiograph volume nodes the outlines are drawn on (placed by the nodes' own IJK ->
    RAS; an outline computed on a working copy, fewer pixels over the same field, is placed on the node's field);
    when None, the radiographs' working copies (:func:`~.radiographs.toWorkingSpacing`: the full field, at most about
    0.25 mm pixels at the isocenter) are added to the scene on their detector planes, with the proposed masks if any.
    """
    from ReconCoreLib import runtime

    from .radiographs import workingToInputIjk

    nodes = {"outputVolume": runtime.volumeNodeFromArray(scene, result.hu, result.ijkToRas, "femur atlas registered",
                                                         node=outputVolume)}
    nodes["outputSegmentation"] = runtime.segmentationNodeFromLabelmap(
        scene, result.label, result.ijkToRas, {1: ("femur", FEMUR_COLOR)}, "femur", node=outputSegmentation)
    nodes["outputModel"] = runtime.modelNodeFromSegment(scene, nodes["outputSegmentation"], "femur", "femur model",
                                                        node=outputModel)
    nodes["outputTransform"] = runtime.gridTransformNodeFromDisplacement(
        scene, result.transformDisplacementRas, result.transformIjkToRas, "atlas to patient", node=outputTransform)
    nodes["outputLandmarks"] = runtime.markupsNodeFromPoints(
        scene, result.landmarksRas, result.landmarkNames, "femur landmarks", result.landmarkDescriptions,
        node=outputLandmarks)
    nodes["outputTable"] = result.readouts.toTableNode(scene, "femur readouts", node=outputTable)
    if radiographNodes is None:
        radiographNodes = []
        for name, view, mask, proposed in zip(VIEW_NAMES, result.views, result.masks, result.masksProposed):
            node = runtime.volumeNodeFromArray(scene, view.pixels[None], view.geometry.imageIjkToRas(),
                                               f"{name} radiograph")
            radiographNodes.append(node)
            if proposed:
                runtime.segmentationNodeFromLabelmap(scene, mask[None], view.geometry.imageIjkToRas(),
                                                     {1: ("femur mask", FEMUR_COLOR)}, f"{name} femur mask proposal",
                                                     closedSurface=False)
    for key, name, outline, radiograph, node in zip(("outputApOutline", "outputLatOutline"), VIEW_NAMES,
                                                    result.outlines, radiographNodes,
                                                    (outputApOutline, outputLatOutline)):
        columns, rows = radiograph.GetImageData().GetDimensions()[:2]
        outlineIjkToRas = runtime.ijkToRasFromNode(radiograph) @ workingToInputIjk((rows, columns), outline.shape)
        segmentation = runtime.segmentationNodeFromLabelmap(
            scene, outline[None], outlineIjkToRas, {1: ("registered femur", OUTLINE_COLOR)},
            f"{name} femur outline", closedSurface=False, node=node)
        segmentation.GetDisplayNode().SetVisibility2DFill(False)  # outline only, over the radiograph
        nodes[key] = segmentation
    return nodes


def writeOutputs(result, nodes: dict, scene, directory: Path) -> None:
    """volume.nrrd, segmentation.seg.nrrd, model.vtk, transform.h5, landmarks.mrk.json, readouts.json, scene.mrb."""
    from ReconCoreLib import storage

    directory = Path(directory)
    storage.saveNode(nodes["outputVolume"], directory / "volume.nrrd")
    storage.saveNode(nodes["outputSegmentation"], directory / "segmentation.seg.nrrd")
    storage.saveNode(nodes["outputModel"], directory / "model.vtk")
    storage.saveNode(nodes["outputTransform"], directory / "transform.h5")
    storage.saveNode(nodes["outputLandmarks"], directory / "landmarks.mrk.json")
    result.readouts.writeJson(directory / "readouts.json")
    storage.saveScene(scene, directory / "scene.mrb")


def maskFromNode(node, radiograph):
    """A mask node (segmentation or labelmap / scalar volume) as a (rows, columns) array on the radiograph."""
    from ReconCoreLib import runtime

    if node is None:
        return None
    if node.IsA("vtkMRMLSegmentationNode"):
        array, _, _ = runtime.labelmapFromSegmentation(node, radiograph)
    else:
        array = runtime.arrayFromVolumeNode(node)
    return array


def referenceFromNode(node):
    """(label array, ijkToRas) of a reference segmentation or labelmap node: its 'femur' segment, else all."""
    from ReconCoreLib import runtime

    if node is None:
        return None
    if not node.IsA("vtkMRMLSegmentationNode"):
        return runtime.arrayFromVolumeNode(node) > 0, runtime.ijkToRasFromNode(node)
    array, ijkToRas, names = runtime.labelmapFromSegmentation(node)
    femur = [index + 1 for index, name in enumerate(names) if name.strip().lower() == "femur"]
    return (np.isin(array, femur) if femur else array > 0), ijkToRas


def readReference(scene, path) -> tuple[np.ndarray, np.ndarray]:
    """(label array, ijkToRas) of a reference file: ``.seg.nrrd`` segmentation, or a labelmap volume."""
    from ReconCoreLib import storage

    name = str(path).lower()
    nodeClass = None if name.endswith(".seg.nrrd") else "vtkMRMLLabelMapVolumeNode"
    node = storage.loadNode(scene, path, nodeClass)
    try:
        return referenceFromNode(node)
    finally:
        scene.RemoveNode(node)

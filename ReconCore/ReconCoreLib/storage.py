"""Files of results: writing and reading nodes and scene bundles, and the all-or-nothing output folder.

Console example (headless)::

    from ReconCoreLib import runtime, storage
    scene = runtime.getScene()
    node = storage.loadNode(scene, "/tmp/probability.nrrd")
    with storage.atomicOutputDirectory("/tmp/results") as staging:
        storage.saveNode(node, staging / "volume.nrrd")  # appears in /tmp/results only when all is written
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .runtime import newHeadlessScene, releaseScene


def writeResultHeadless(result, addToScene, writeOutputs, directory, progress=None) -> None:
    """Put ``result`` into a fresh headless scene with ``addToScene(result, scene)``, write it with
    ``writeOutputs(result, nodes, scene, directory)``, release the scene, report 'written'."""
    scene = newHeadlessScene()
    try:
        nodes = addToScene(result, scene)
        writeOutputs(result, nodes, scene, Path(directory))
    finally:
        releaseScene(scene)
    if progress is not None:
        progress(1.0, "written")


def saveNode(node, path: str | Path) -> Path:
    """Write one node with its default storage node (format from the extension). Raises on failure."""
    path = Path(path)
    storage = node.GetStorageNode()
    if storage is None:
        storage = node.CreateDefaultStorageNode()
        if storage is None:
            raise ValueError(f"node {node.GetName()} ({node.GetClassName()}) cannot be stored")
        node.GetScene().AddNode(storage)
        node.SetAndObserveStorageNodeID(storage.GetID())
    storage.SetFileName(str(path))
    if node.IsA("vtkMRMLSegmentationNode") and node.GetSegmentation().ContainsRepresentation("Binary labelmap"):
        node.GetSegmentation().SetSourceRepresentationName("Binary labelmap")
    if not storage.WriteData(node):
        raise OSError(f"could not write {node.GetName()} to {path}{_storageMessages(storage)}")
    return path


def _storageMessages(storage) -> str:
    messages = storage.GetUserMessages() if hasattr(storage, "GetUserMessages") else None
    text = messages.GetAllMessagesAsString().strip() if messages is not None else ""
    return f" ({' '.join(text.split())})" if text else ""


_STORAGE_FOR_SUFFIX = (
    (".seg.nrrd", "vtkMRMLSegmentationStorageNode", "vtkMRMLSegmentationNode"),
    (".nrrd", "vtkMRMLVolumeArchetypeStorageNode", "vtkMRMLScalarVolumeNode"),
    (".nii.gz", "vtkMRMLVolumeArchetypeStorageNode", "vtkMRMLScalarVolumeNode"),
    (".vtk", "vtkMRMLModelStorageNode", "vtkMRMLModelNode"),
    (".vtp", "vtkMRMLModelStorageNode", "vtkMRMLModelNode"),
    (".tsv", "vtkMRMLTableStorageNode", "vtkMRMLTableNode"),
    (".csv", "vtkMRMLTableStorageNode", "vtkMRMLTableNode"),
    (".mrk.json", "vtkMRMLMarkupsJsonStorageNode", "vtkMRMLMarkupsFiducialNode"),
)


def loadNode(scene, path: str | Path, nodeClass: str | None = None):
    """Read one file into a new node of ``scene``; the node class follows the extension.

    For ``.h5`` transforms pass ``nodeClass`` ("vtkMRMLLinearTransformNode" or "vtkMRMLGridTransformNode").
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith((".h5", ".tfm", ".txt")):
        storageClass, defaultClass = "vtkMRMLTransformStorageNode", "vtkMRMLTransformNode"
    else:
        match = next(((s, n) for suffix, s, n in _STORAGE_FOR_SUFFIX if name.endswith(suffix)), None)
        if match is None:
            raise ValueError(f"{path}: unknown file type")
        storageClass, defaultClass = match
    node = scene.AddNewNodeByClass(nodeClass or defaultClass, path.name.split(".")[0])
    storage = scene.AddNewNodeByClass(storageClass)
    storage.SetFileName(str(path))
    node.SetAndObserveStorageNodeID(storage.GetID())
    if not storage.ReadData(node):
        scene.RemoveNode(node)
        scene.RemoveNode(storage)
        raise ValueError(f"{path}: could not be read{_storageMessages(storage)}")
    if hasattr(node, "CreateDefaultDisplayNodes"):
        node.CreateDefaultDisplayNodes()
    return node


def saveScene(scene, path: str | Path) -> Path:
    """Write the whole scene as a Slicer data bundle (``.mrb``)."""
    path = Path(path)
    if not scene.WriteToMRB(str(path)):
        raise OSError(f"could not write scene bundle {path}")
    return path


def loadScene(path: str | Path, scene=None):
    """Read a ``.mrb`` bundle into ``scene`` (a new headless scene by default) and return the scene."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    scene = scene if scene is not None else newHeadlessScene()
    if not scene.ReadFromMRB(str(path)):
        raise ValueError(f"{path}: could not be read as a Slicer scene bundle")
    return scene


@contextmanager
def atomicOutputDirectory(outputDirectory: str | Path) -> Iterator[Path]:
    """Write results into a hidden sibling folder; move them into ``outputDirectory`` only on success.

    On any exception, while writing or while moving, the staging folder is deleted, so ``outputDirectory``
    never holds half a result. Entries already in ``outputDirectory`` with the same names are replaced
    only on success; other entries are kept.

    :raises ValueError: ``outputDirectory`` exists and is not a folder (checked before any work).
    """
    target = Path(outputDirectory)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target}: exists and is not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield staging
        target.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():
            destination = target / item.name
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)
            elif destination.exists() or destination.is_symlink():
                destination.unlink()
            os.replace(item, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

"""Files of results: writing and reading nodes and scene bundles, and the all-or-nothing output folder.

Console example (headless)::

    from ReconCoreLib import runtime, storage
    scene = runtime.getScene()
    node = storage.loadNode(scene, "/tmp/probability.nrrd")
    with storage.atomicOutputDirectory("/tmp/results") as staging:
        storage.saveNode(node, staging / "volume.nrrd")  # appears in /tmp/results only when all is written
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .runtime import newHeadlessScene, releaseScene

#: The file that marks a folder as a Recon2Dto3D result (a later run into the same folder may replace it whole).
RESULT_MARKER = ".recon2d3d-result.json"
#: Suffixes the MRML readers take through teem's NRRD reader or ITK, checked first (see :func:`checkImageFile`).
_ITK_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


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
    from .modules import existingFile

    path = existingFile(path)
    name = path.name.lower()
    if name.endswith(_ITK_SUFFIXES):
        checkImageFile(path)
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


def checkImageFile(path: str | Path) -> None:
    """Read an image file once with SimpleITK; ValueError naming the file when it is not a complete image.

    Why: MRML's NRRD readers (teem) abort the whole process (SIGABRT, no message) on a truncated header or truncated
    gzip data; ITK's reader raises instead. Reading twice costs a little time on the small files given as references.
    """
    import SimpleITK as sitk

    try:
        sitk.ReadImage(str(path))
    except RuntimeError as error:
        lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
        raise ValueError(f"{path}: not a readable image ({lines[-1] if lines else 'unknown error'})") from None


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


def checkOutputFolder(outputDirectory) -> Path:
    """``--out`` as a Path, refused (ValueError) when it cannot take a result: empty, a file, or a folder holding
    other files than an earlier Recon2Dto3D result (which a run replaces whole)."""
    if outputDirectory is None or not str(outputDirectory).strip():
        raise ValueError("the output folder is empty (''); give a folder for the results, e.g. --out results")
    target = Path(outputDirectory)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not isResultFolder(target):
        raise ValueError(f"{target}: the folder holds other files and no earlier Recon2Dto3D result; a run replaces "
                         "its output folder whole, so give a new or empty folder")
    return target


def isResultFolder(folder: Path) -> bool:
    """True when ``folder`` holds a result written by a run (its marker file, or readouts.json of older versions)."""
    return (folder / RESULT_MARKER).is_file() or (folder / "readouts.json").is_file()


class _FolderLock:
    """An exclusive, non-blocking lock on ``.NAME.lock`` beside the output folder, released when the process ends
    (however it ends: the operating system drops the lock of a killed process).

    Why not a package: the standard library has no portable file lock; ``filelock`` is not among the packages
    Slicer bundles. fcntl on POSIX, msvcrt on Windows.
    """

    def __init__(self, target: Path):
        self.path = target.parent / f".{target.name}.lock"
        self.stream = None

    def acquire(self) -> None:
        for _attempt in range(3):
            stream = open(self.path, "a+")
            if not self._lock(stream):
                stream.close()
                raise ValueError(f"{self.path.parent / self.path.name[1:-5]}: another recon2d3d run is writing "
                                 f"there now ({self.path.name} is locked); wait for it or choose another --out")
            try:  # the file we locked is still the one at the path (not removed by a run that just ended)
                same = os.path.samestat(os.fstat(stream.fileno()), os.stat(self.path))
            except OSError:
                same = False
            if same:
                self.stream = stream
                return
            stream.close()
        raise ValueError(f"{self.path}: could not take the output folder's lock")

    @staticmethod
    def _lock(stream) -> bool:
        try:
            import fcntl

            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:
            import msvcrt

            try:
                msvcrt.locking(stream.fileno(), msvcrt.LK_NBLCK, 1)
            except OSError:
                return False
        except OSError:
            return False
        return True

    def release(self) -> None:
        if self.stream is None:
            return
        try:
            os.unlink(self.path)  # while still locked: a waiting run then finds a new file (see acquire)
        except OSError:
            pass
        self.stream.close()
        self.stream = None


def removeStaleStaging(target: Path) -> list[Path]:
    """Remove the staging (``.NAME.partial-*``) and replaced (``.NAME.old-*``) folders that runs into ``target`` left
    behind when they were killed (SIGKILL, power loss). Only call while holding the folder's lock: then no other run
    is writing there."""
    removed = []
    for pattern in (f".{target.name}.partial-*", f".{target.name}.old-*"):
        for stale in target.parent.glob(pattern):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
                removed.append(stale)
    return removed


@contextmanager
def atomicOutputDirectory(outputDirectory: str | Path) -> Iterator[Path]:
    """Write results into a hidden sibling folder; on success it becomes ``outputDirectory``, whole.

    - A lock on the output folder makes a second concurrent run into it fail at once (ValueError).
    - Staging folders that killed runs left beside it are removed first.
    - On any exception (a signal included), while writing or while moving, the staging folder is deleted, so
      ``outputDirectory`` never holds half a result and keeps what it held.
    - On success the previous result folder is replaced as a whole (no stale file of an earlier run stays beside the
      new ones); a folder holding anything else is refused before any work (:func:`checkOutputFolder`).

    :raises ValueError: ``outputDirectory`` is empty, a file, someone else's folder, or locked by another run.
    """
    target = Path(os.path.abspath(checkOutputFolder(outputDirectory)))  # "." has a name and a parent this way
    if target.parent == target:
        raise ValueError(f"{outputDirectory}: a file system root cannot be the output folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = _FolderLock(target)
    lock.acquire()
    staging = None
    try:
        removeStaleStaging(target)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        yield staging
        (staging / RESULT_MARKER).write_text(json.dumps(
            {"written_by": "Recon2Dto3D", "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n")
        checkOutputFolder(target)  # nothing else appeared there meanwhile
        if target.exists():
            previous = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, previous / target.name)
            try:
                os.replace(staging, target)
            except OSError:
                os.replace(previous / target.name, target)  # put the earlier result back
                raise
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        lock.release()

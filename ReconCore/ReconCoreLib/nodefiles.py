"""The files and frames behind the volume nodes a user picks in Slicer (headless: MRML nodes only, no Qt).

Slicer loses or hides what a module needs to know about an image in several ways, each read in Slicer's source:

- Sample Data removes the storage node of every node it loads (``SampleData.py``, ``loadNode``, v5.8.1 to 5.12), so
  the file, its DICOM geometry and its JSON sidecar are no longer reachable from the node. Such a node is recognised
  as a bundled sample by its name and image size (:func:`bundledSampleFile`).
- A cine loaded through the DICOM module becomes a sequence (``DICOMImageSequencePlugin``, XA/RF/US multi-frame at
  confidence 0.7) and the module sees its proxy volume: one frame. :func:`framesOfVolumeNode` returns every frame and
  :func:`sourceFileForVolume` the DICOM file behind the frames (``DICOM.instanceUIDs`` of the frame nodes).
- A 2D picture whose name differs from its neighbours' only in digits (``..._A2C.png``, ``..._A3C.png``) is stacked
  with them into one volume when Add Data's "Single file" option is off (ITK's archetype series,
  ``vtkITKArchetypeImageSeriesReader``): :func:`stackedImageProblem` says so.

Console example (Slicer Python console)::

    from ReconCoreLib import nodefiles
    node = slicer.util.getNode("AngioLeft left view 1")
    print(nodefiles.sourceFileForVolume(node, slicer.dicomDatabase), nodefiles.frameCount(node))
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from pathlib import Path
from typing import Optional

import numpy as np

#: Node attribute naming the file a volume's geometry, spacing and laterality come from, read before anything else:
#: set it on a node made in Python (for example from an array) whose storage node names no such file.
SOURCE_FILE_ATTRIBUTE = "Recon2Dto3D.SourceFile"
#: ITU-R BT.601 luma weights: a colour (vector) volume's grey levels.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def sequenceOfProxy(node):
    """The sequence node a sequence browser shows through ``node`` (its proxy), or None (``vtkMRMLSequenceBrowserNode
    .GetSequenceNode(proxy)``; every browser of the scene is asked, as slicer-core has no Sequences module logic)."""
    scene = node.GetScene() if node is not None else None
    if scene is None:
        return None
    browsers = scene.GetNodesByClass("vtkMRMLSequenceBrowserNode")
    for index in range(browsers.GetNumberOfItems()):
        sequence = browsers.GetItemAsObject(index).GetSequenceNode(node)
        if sequence is not None and sequence.GetNumberOfDataNodes() > 0:
            return sequence
    return None


def frameIjkToRas(node, frameIndex: int) -> np.ndarray:
    """4x4 IJK -> RAS (mm) of frame ``frameIndex`` (of :func:`framesOfVolumeNode`) of a volume node, as a one-slice
    image: for a volume with one slice per frame, slice ``frameIndex`` (the node's IJK -> RAS moved that many slices
    along K), shown when the slice view is on that frame; for the proxy of a sequence (a cine from Slicer's DICOM
    module), which shows every frame through its one slice, the proxy's own IJK -> RAS, so that an overlay stays on
    the image the user sees while the sequence plays."""
    from .runtime import ijkToRasFromNode

    ijkToRas = ijkToRasFromNode(node)
    if sequenceOfProxy(node) is None:
        ijkToRas[:3, 3] += frameIndex * ijkToRas[:3, 2]
    return ijkToRas


def frameNodes(node) -> list:
    """The nodes holding ``node``'s frames: the data nodes of its sequence when it is a proxy, else ``[node]``."""
    sequence = sequenceOfProxy(node)
    if sequence is None:
        return [node]
    return [sequence.GetNthDataNode(index) for index in range(sequence.GetNumberOfDataNodes())]


def frameCount(node) -> int:
    """How many frames ``node`` stands for: a sequence's data nodes, else the slices of its image (0: no image)."""
    if node is None:
        return 0
    sequence = sequenceOfProxy(node)
    if sequence is not None:
        return sequence.GetNumberOfDataNodes()
    image = node.GetImageData()
    return image.GetDimensions()[2] if image is not None else 0


def framesOfVolumeNode(node, grey: bool = True) -> np.ndarray:
    """Every frame of a volume node, [frame, row, column] (a sequence's frames for a proxy; the slices of a
    multi-frame volume otherwise). ``grey``: colour (vector) pixels become grey levels (:data:`LUMA_WEIGHTS`).

    :raises ValueError: the node or one of its frames has no image (the message names the node).
    """
    from .runtime import arrayFromVolumeNode

    if node is None:
        raise ValueError("no image selected")
    stacks = []
    for frameNode in frameNodes(node):
        if frameNode is None or frameNode.GetImageData() is None:
            raise ValueError(f"{node.GetName()}: the volume has no image data")
        stacks.append(arrayFromVolumeNode(frameNode))
    shapes = {stack.shape[1:] for stack in stacks}
    if len(shapes) != 1:
        raise ValueError(f"{node.GetName()}: its frames differ in size {sorted(shapes)}")
    frames = np.concatenate(stacks, axis=0)
    if grey and frames.ndim == 4:  # [frame, row, column, component]
        colour = frames[..., :3].astype(np.float32)
        frames = colour @ np.asarray(LUMA_WEIGHTS, np.float32) if colour.shape[-1] == 3 else colour[..., 0]
    return frames


def storageFile(node) -> Optional[str]:
    """The existing file of ``node``'s storage node, or None."""
    storage = node.GetStorageNode() if node is not None else None
    fileName = storage.GetFileName() if storage is not None else None
    return fileName if fileName and os.path.isfile(fileName) else None


def slicerDicomDatabase():
    """Slicer's DICOM database (``slicer.dicomDatabase``) where there is one (not headless), else None."""
    try:
        import slicer
    except ImportError:
        return None
    return getattr(slicer, "dicomDatabase", None)


def dicomFile(node, dicomDatabase=None) -> Optional[str]:
    """The DICOM file of ``node``'s first instance (``DICOM.instanceUIDs`` of the node or of its first frame node),
    found through ``dicomDatabase`` (default: Slicer's), or None."""
    dicomDatabase = dicomDatabase if dicomDatabase is not None else slicerDicomDatabase()
    if node is None or dicomDatabase is None:
        return None
    for candidate in (node, frameNodes(node)[0]):
        instanceUids = candidate.GetAttribute("DICOM.instanceUIDs") if candidate is not None else None
        if instanceUids:
            fileName = dicomDatabase.fileForInstance(instanceUids.split()[0])
            if fileName and os.path.isfile(fileName):
                return fileName
    return None


def sourceFileForVolume(node, dicomDatabase=None) -> Optional[str]:
    """The file ``node`` was read from, where its geometry, spacing, laterality or sidecar are: the stamped
    :data:`SOURCE_FILE_ATTRIBUTE`, else its storage node's file, else its DICOM file (``dicomDatabase``, default:
    Slicer's), else the
    bundled sample file it was loaded from by Sample Data. None when none is known."""
    if node is None:
        return None
    stamped = node.GetAttribute(SOURCE_FILE_ATTRIBUTE)
    if stamped and os.path.isfile(stamped):
        return stamped
    return storageFile(node) or dicomFile(node, dicomDatabase) or bundledSampleFile(node)


def _baseName(name: str) -> str:
    """A node name without the ``_1``, ``_2`` Slicer appends to make a repeated name unique."""
    return re.sub(r"_\d+$", "", name or "")


def imageSizeOfFile(path) -> tuple:
    """(columns, rows, frames) of an image file (header only: SimpleITK's image information)."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    size = tuple(reader.GetSize()) + (1, 1)
    return int(size[0]), int(size[1]), int(size[2])


def sampleNodeFiles(moduleName: str) -> dict:
    """{node name: bundled file} of a module's sample data sources (``<Module>Lib.samples.sampleDataSources()``, the
    files in its ``SAMPLE_DIRECTORY``): the names Sample Data gives the nodes it loads."""
    samples = importlib.import_module(f"{moduleName}Lib.samples")
    files = {}
    for source in samples.sampleDataSources():
        for fileName, nodeName in zip(source["fileNames"], source["nodeNames"]):
            if nodeName:
                files[nodeName] = samples.SAMPLE_DIRECTORY / fileName
    return files


def bundledSampleFile(node, modules=None) -> Optional[str]:
    """The bundled sample file a node was loaded from by Sample Data (which keeps the node name and drops the file):
    the registered node name (:func:`sampleNodeFiles`; Slicer's ``_1`` of a repeated name ignored) and the image size
    must both match."""
    from .modules import MODULES

    name = _baseName(node.GetName()) if node is not None else ""
    image = node.GetImageData() if node is not None else None
    if not name or image is None:
        return None
    for moduleName in modules or MODULES:
        try:
            path = sampleNodeFiles(moduleName).get(name)
        except ImportError as error:
            logging.debug(f"{moduleName}: no sample registry ({error})")
            continue
        if path is None or not Path(path).is_file():
            continue
        try:
            if imageSizeOfFile(path) == tuple(image.GetDimensions()):
                return str(path)
        except RuntimeError:  # SimpleITK cannot read it: not this file
            continue
        logging.info(f"{node.GetName()}: named like the sample {Path(path).name} but its size differs")
    return None


def stackedImageProblem(node) -> Optional[str]:
    """Why ``node`` is not the one picture its file holds, or None: several 2D pictures (PNG, JPEG, BMP, TIFF) whose
    names differ only in digits were stacked into one volume because Slicer's "Single file" option was off."""
    from .xrayio import PICTURE_SUFFIXES  # one 2D image each: a volume of several slices was stacked from files

    if node is None or node.GetImageData() is None:
        return None
    slices = node.GetImageData().GetDimensions()[2]
    fileName = storageFile(node)
    if slices <= 1 or not fileName or not fileName.lower().endswith(PICTURE_SUFFIXES):
        return None
    return (f"{node.GetName()}: {slices} picture files were stacked into this one volume (files named like "
            f"{Path(fileName).name} with other digits); load {Path(fileName).name} again with 'Single file' "
            "ticked in Add Data's options")


def imageProblem(node) -> Optional[str]:
    """Why the volume ``node`` is not a usable picture or cine, or None: it has no image, or it is several pictures
    stacked by Slicer's reader (:func:`stackedImageProblem`)."""
    if frameCount(node) == 0:
        return f"{node.GetName()} has no image."
    return stackedImageProblem(node)


def viewGeometryToFill(parameterNode, geometryName: str, node, dicomDatabase=None) -> tuple:
    """What a module widget writes into the C-arm geometry parameter ``geometryName`` when the image ``node`` is
    selected: (values, message).

    ``values`` is {``CArmViewParameters`` field: value} read from the node's file, or None to leave the fields as
    they are: no file, no geometry in it, a value outside the parameter's range or anisotropic pixels (``message``
    says which; writing such a value would raise out of the widget's slot), or the
    fields were filled from this same node already — the selector re-emits its node when the parameter node writes
    back (module enter, scene load), and what the user typed since must survive. The node the fields were filled
    from is kept in an attribute of ``parameterNode`` (the MRML node), so it survives a saved scene.
    """
    from .xrayio import readXrayGeometry

    if parameterNode is None or node is None:
        return None, ""
    filledFrom = f"Recon2Dto3D.{geometryName}.filledFrom"
    if parameterNode.GetAttribute(filledFrom) == node.GetID():
        return None, ""
    path = sourceFileForVolume(node, dicomDatabase)
    if not path:
        return None, f"{node.GetName()}: no file with its geometry is known; enter the geometry by hand"
    try:  # CArmGeometry refuses values outside the ranges the fields take (ReconCoreLib.conventions)
        geometry = readXrayGeometry(path)  # headers only: a cine is not decoded for its geometry
    except (ValueError, OSError) as error:
        return None, f"{node.GetName()}: {error}; enter the geometry by hand"
    spacing = geometry.pixelSpacingMm
    values = {"primaryAngleDeg": geometry.primaryAngleDeg, "secondaryAngleDeg": geometry.secondaryAngleDeg,
              "sourceToDetectorMm": geometry.sourceToDetectorMm, "sourceToPatientMm": geometry.sourceToPatientMm,
              "pixelSpacingMm": spacing[0]}
    if abs(spacing[0] - spacing[1]) > 1e-6 * max(spacing):
        return None, (f"{node.GetName()}: {Path(path).name} has anisotropic detector pixels {spacing[0]:g} x "
                      f"{spacing[1]:g} mm, which the geometry fields cannot hold; run it from the console or the "
                      "command line, which read the file's geometry")
    parameterNode.SetAttribute(filledFrom, node.GetID())
    return values, f"{node.GetName()}: geometry read from {Path(path).name}"

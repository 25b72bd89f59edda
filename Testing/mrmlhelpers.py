"""MRML nodes as Slicer leaves them after loading, built on slicer-core (read in Slicer's source at v5.10.0)."""

import numpy as np
import slicer

from ReconCoreLib import runtime

PNG_IJK_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])  # a PNG as Slicer's volume reader loads it: 1 mm, LPS-flipped


def sampleDataNode(scene, path, name):
    """A node as Sample Data leaves it: the file's size and pixels, the registered name made unique as the volume
    reader makes it (``GetUniqueNameByString``, vtkSlicerVolumesLogic.cxx), no storage node."""
    import SimpleITK as sitk

    pixels = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    pixels = pixels[None] if pixels.ndim == 2 else pixels
    return runtime.volumeNodeFromArray(scene, pixels.astype(np.float32), PNG_IJK_TO_RAS,
                                       scene.GetUniqueNameByString(name))


def dicomSequence(scene, frames, uid="1.2.840.1"):
    """What DICOMImageSequencePlugin makes of a multi-frame file: one-frame volumes with DICOM.instanceUIDs in a
    sequence, a browser, and the proxy volume the user sees (one frame)."""
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", "cine")
    for index, frame in enumerate(frames):
        frameNode = slicer.vtkMRMLScalarVolumeNode()
        frameNode.SetAndObserveImageData(runtime._imageDataFromArray(np.asarray(frame, np.float32)[None]))
        frameNode.SetAttribute("DICOM.instanceUIDs", uid)
        sequence.SetDataNodeAtValue(frameNode, str(index))
    browser = slicer.vtkMRMLSequenceBrowserNode()
    scene.AddNode(browser)
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    proxy = runtime.volumeNodeFromArray(scene, np.asarray(frames[0], np.float32)[None], PNG_IJK_TO_RAS, "cine proxy")
    browser.AddProxyNode(proxy, sequence, False)
    return proxy

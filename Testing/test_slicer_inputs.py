"""What the modules decide about the nodes a user picks in Slicer, tested headless on slicer-core's MRML nodes: the
file behind a node (Sample Data drops it), stacked pictures, cines loaded as sequences, colour volumes, the geometry
the widgets fill, the input checks behind Apply, and the clean-up after a failed run.

Each test rebuilds the node as Slicer leaves it (read in Slicer's source at v5.10.0; see ``ReconCoreLib/nodefiles.py``):
Sample Data's nodes have their name and pixels but no storage node; a PNG loads with 1 mm spacing; a cine from the
DICOM module is a sequence of one-frame volumes with ``DICOM.instanceUIDs`` on each frame, shown through a proxy.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from AngioReconLib.nodeinputs import inputsProblem as angioInputsProblem
from AngioReconLib.samples import sampleFiles as angioSampleFiles
from EchoReconLib.conventions import VIEWS
from EchoReconLib.echoio import echoImageFromVolumeNode, viewAndPhaseOfNode
from EchoReconLib.nodeinputs import inputsProblem as echoInputsProblem
from EchoReconLib.samples import sampleFiles as echoSampleFiles
from FemurRegistrationLib.nodeinputs import inputsProblem as femurInputsProblem
from FemurRegistrationLib.radiographs import resolveSide
from FemurRegistrationLib.samples import sampleFiles as femurSampleFiles
from ReconCoreLib import nodefiles, runtime, storage
from ReconCoreLib.modules import MODULES
from ReconCoreLib.xrayio import readXrayImage, writeXrayDicom

from mrmlhelpers import PNG_IJK_TO_RAS, dicomSequence, sampleDataNode

ROOT = Path(__file__).resolve().parents[1]


def registeredNodes(moduleName):
    """(node name, bundled file) of every file a module's Sample Data source loads."""
    return sorted(nodefiles.sampleNodeFiles(moduleName).items())


# -- the file behind a node --------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_every_sample_data_node_finds_its_bundled_file(module, scene):
    pairs = [(name, path) for name, path in registeredNodes(module) if not path.name.endswith(".seg.nrrd")]
    assert pairs
    for name, path in pairs:
        node = sampleDataNode(scene, path, name)
        assert node.GetStorageNode() is None
        assert nodefiles.sourceFileForVolume(node) == str(path)
        again = sampleDataNode(scene, path, name)  # loaded a second time: Slicer names it "<name>_1"
        assert again.GetName() != name and re.fullmatch(re.escape(name) + r"_\d+", again.GetName())
        assert nodefiles.sourceFileForVolume(again) == str(path)


def test_a_node_named_like_a_sample_but_another_size_is_not_taken_for_it(scene):
    name, path = registeredNodes("AngioRecon")[0]
    node = runtime.volumeNodeFromArray(scene, np.ones((1, 64, 64), np.float32), np.eye(4), name)
    assert nodefiles.sourceFileForVolume(node) is None
    other = runtime.volumeNodeFromArray(scene, np.ones((1, 64, 64), np.float32), np.eye(4), "my angiogram")
    assert nodefiles.sourceFileForVolume(other) is None


def test_stamped_storage_and_dicom_files_come_first(scene, tmp_path):
    path = angioSampleFiles("AngioLeft")["view1"]
    node = sampleDataNode(scene, path, "plain")
    stamped = tmp_path / "stamped.dcm"
    stamped.write_bytes(path.read_bytes())
    node.SetAttribute(nodefiles.SOURCE_FILE_ATTRIBUTE, str(stamped))
    assert nodefiles.sourceFileForVolume(node) == str(stamped)
    node.SetAttribute(nodefiles.SOURCE_FILE_ATTRIBUTE, str(tmp_path / "gone.dcm"))  # a stamp whose file is gone
    assert nodefiles.sourceFileForVolume(node) is None
    storageNode = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storageNode.SetFileName(str(path))
    node.SetAndObserveStorageNodeID(storageNode.GetID())
    assert nodefiles.sourceFileForVolume(node) == str(path)

    class Database:  # slicer.dicomDatabase: instance UID -> file
        def fileForInstance(self, uid):
            return {"1.2.3": str(stamped)}.get(uid, "")

    loose = sampleDataNode(scene, path, "from the DICOM module")
    loose.SetAttribute("DICOM.instanceUIDs", "1.2.3 1.2.4")
    assert nodefiles.sourceFileForVolume(loose, Database()) == str(stamped)
    assert nodefiles.sourceFileForVolume(loose) is None  # headless: no database


def test_femur_sample_loaded_by_sample_data_keeps_geometry_and_side(scene):
    """FemurOblique is a left femur at -15 / 110 deg with 0.4 mm pixels: what the widget used to replace by its
    defaults (0 / -90 deg, 0.15 mm, right) once Sample Data had dropped the files."""
    files = femurSampleFiles("FemurOblique")
    names = dict((path.name, name) for name, path in registeredNodes("FemurRegistration"))
    nodes = [sampleDataNode(scene, files[key], names[files[key].name]) for key in ("ap", "lat")]
    parameterNode = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode")
    for node, key, primary in zip(nodes, ("ap", "lat"), (-15.0, 110.0)):
        values, message = nodefiles.viewGeometryToFill(parameterNode, f"{key}Geometry", node)
        assert values is not None, message
        assert values["primaryAngleDeg"] == pytest.approx(primary) and values["pixelSpacingMm"] == pytest.approx(0.4)
    paths = [nodefiles.sourceFileForVolume(node) for node in nodes]
    assert resolveSide("auto", paths) == "left"


def test_echo_sample_loaded_by_sample_data_keeps_spacing_view_and_phase(scene):
    from EchoReconLib.echoio import readEchoImage

    for name, path in registeredNodes("EchoRecon"):
        node = sampleDataNode(scene, path, name)
        assert node.GetSpacing() == (1.0, 1.0, 1.0)  # what Slicer gives a PNG (and, without its region, a US cine)
        if path.suffix == ".dcm":  # a cine: its frames and the ultrasound region's spacing come from the file
            image, direct = echoImageFromVolumeNode(node, 5), readEchoImage(path, 5)
            assert image.numberOfFrames == 10 and np.array_equal(image.pixels, direct.pixels)
            assert image.pixelSpacingMm == direct.pixelSpacingMm and image.pixelSpacingMm[0] > 1.05
            continue
        image = echoImageFromVolumeNode(node)
        sidecar = json.loads(path.with_suffix(".json").read_text())
        assert image.pixelSpacingMm == pytest.approx(tuple(sidecar["PixelSpacing"]))  # the sidecar's, not 1 mm
        assert image.pixelSpacingMm[0] > 1.05
        assert viewAndPhaseOfNode(node) == (sidecar["ViewLabel"], sidecar["CardiacPhase"])


# -- pictures stacked by Slicer's reader ---------------------------------------------------------------------------


def test_stacked_pictures_are_named(scene):
    paths = echoSampleFiles("EchoNormal")["ED"]
    stack = runtime.volumeNodeFromArray(scene, np.ones((3, 20, 30), np.float32), PNG_IJK_TO_RAS,
                                        "EchoNormal_ED_A2C")
    storageNode = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storageNode.SetFileName(str(paths["A2C"]))
    stack.SetAndObserveStorageNodeID(storageNode.GetID())
    problem = nodefiles.stackedImageProblem(stack)
    assert problem.startswith("EchoNormal_ED_A2C: 3 picture files were stacked") and "'Single file'" in problem
    assert echoInputsProblem({"ED": {view: stack for view in VIEWS}}, {}) == f"The end-diastolic A4C view: {problem}"
    single = runtime.volumeNodeFromArray(scene, np.ones((1, 20, 30), np.float32), PNG_IJK_TO_RAS, "one")
    single.SetAndObserveStorageNodeID(storageNode.GetID())
    assert nodefiles.stackedImageProblem(single) is None
    cine = runtime.volumeNodeFromArray(scene, np.ones((3, 20, 30), np.float32), PNG_IJK_TO_RAS, "cine")
    cineStorage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    cineStorage.SetFileName(str(angioSampleFiles("AngioLeft")["view1"]))  # a multi-frame DICOM: frames are right
    cine.SetAndObserveStorageNodeID(cineStorage.GetID())
    assert nodefiles.stackedImageProblem(cine) is None
    assert "stacked" in angioInputsProblem(stack, cine) and "stacked" in femurInputsProblem(stack, cine)


# -- cines from Slicer's DICOM module: sequences behind a proxy ------------------------------------------------


def test_a_sequence_proxy_stands_for_all_its_frames(scene):
    rng = np.random.default_rng(0)
    frames = rng.random((4, 40, 48)).astype(np.float32)
    proxy = dicomSequence(scene, frames)
    assert nodefiles.sequenceOfProxy(proxy) is not None and nodefiles.frameCount(proxy) == 4
    np.testing.assert_allclose(nodefiles.framesOfVolumeNode(proxy), frames)
    plain = runtime.volumeNodeFromArray(scene, frames[:2], np.eye(4), "two slices")
    assert nodefiles.sequenceOfProxy(plain) is None and nodefiles.frameCount(plain) == 2
    # EchoRecon takes a frame of it: ED and ES may both come from this one cine
    pixels = echoImageFromVolumeNode(proxy, 2).pixels
    assert np.corrcoef(pixels.ravel(), frames[2].ravel())[0, 1] > 0.999
    assert abs(np.corrcoef(pixels.ravel(), frames[1].ravel())[0, 1]) < 0.1
    views = {view: runtime.volumeNodeFromArray(scene, frames[:1], np.eye(4), view) for view in VIEWS}
    assert echoInputsProblem({"ED": {**views, "A4C": proxy}, "ES": {**views, "A4C": proxy}},
                             {"ED": {"A4C": 0}, "ES": {"A4C": 3}}) is None
    assert "cine has 4 frames" in echoInputsProblem({"ED": {**views, "A4C": proxy}}, {"ED": {"A4C": 4}})
    assert "same image" in echoInputsProblem({"ED": {**views, "A2C": views["A4C"]}}, {})


def test_the_dicom_file_behind_a_sequence_is_its_source(scene, tmp_path):
    """An XA cine from the DICOM module: its geometry comes from the file behind the frames."""
    from ReconCoreLib.xraygeometry import CArmGeometry

    geometry = CArmGeometry(-30.0, 20.0, 1100.0, 760.0, (0.25, 0.25), 24, 32)
    path = writeXrayDicom(tmp_path / "cine.dcm", np.arange(24 * 32, dtype=np.float32).reshape(24, 32), geometry, "XA",
                          uidSeed="cine")
    proxy = dicomSequence(scene, np.ones((3, 24, 32)), uid="9.9.9")

    class Database:
        def fileForInstance(self, uid):
            return str(path) if uid == "9.9.9" else ""

    assert nodefiles.sourceFileForVolume(proxy, Database()) == str(path)
    values, _ = nodefiles.viewGeometryToFill(scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode"), "view1Geometry",
                                             proxy, Database())
    assert values == {"primaryAngleDeg": -30.0, "secondaryAngleDeg": 20.0, "sourceToDetectorMm": 1100.0,
                      "sourceToPatientMm": 760.0, "pixelSpacingMm": 0.25}


def test_colour_volumes_become_grey_levels(scene):
    import vtk
    from vtk.util import numpy_support

    rgb = np.zeros((1, 4, 5, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 100, 50, 200
    image = vtk.vtkImageData()
    image.SetDimensions(5, 4, 1)
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(rgb.reshape(-1, 3), deep=True))
    node = scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "colour")
    node.SetAndObserveImageData(image)
    grey = nodefiles.framesOfVolumeNode(node)
    assert grey.shape == (1, 4, 5)
    np.testing.assert_allclose(grey, 0.299 * 100 + 0.587 * 50 + 0.114 * 200, rtol=1e-6)
    assert nodefiles.framesOfVolumeNode(node, grey=False).shape == (1, 4, 5, 3)


# -- the geometry the widget fills -----------------------------------------------------------------------------


def test_geometry_is_filled_once_per_selected_node_and_survives_a_saved_scene(scene, tmp_path):
    """The selector re-emits its node when the parameter node writes back (module enter, scene load): values typed
    after the first fill must stay."""
    files = angioSampleFiles("AngioLeft")
    names = dict((path.name, name) for name, path in registeredNodes("AngioRecon"))
    first, second = (sampleDataNode(scene, files[key], names[files[key].name]) for key in ("view1", "view2"))
    parameterNode = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "AngioRecon")
    values, message = nodefiles.viewGeometryToFill(parameterNode, "view1Geometry", first)
    expected = readXrayImage(files["view1"]).geometry
    assert values["primaryAngleDeg"] == expected.primaryAngleDeg and "geometry read from" in message
    assert nodefiles.viewGeometryToFill(parameterNode, "view1Geometry", first) == (None, "")  # write-back
    assert nodefiles.viewGeometryToFill(parameterNode, "view1Geometry", second)[0] is not None  # another image
    assert nodefiles.viewGeometryToFill(parameterNode, "view2Geometry", first)[0] is not None  # another view
    # the scene saved and loaded again: the parameter node still knows the node it filled view1 from
    nodefiles.viewGeometryToFill(parameterNode, "view1Geometry", first)
    storage.saveScene(scene, tmp_path / "scene.mrb")
    loaded = storage.loadScene(tmp_path / "scene.mrb")
    reloadedParameters = loaded.GetFirstNodeByName("AngioRecon")
    reloadedFirst = loaded.GetNodeByID(first.GetID())
    assert reloadedFirst is not None and reloadedFirst.GetName() == first.GetName()
    assert nodefiles.viewGeometryToFill(reloadedParameters, "view1Geometry", reloadedFirst) == (None, "")


@pytest.mark.parametrize("sidecar, fragment", [
    ({"DistanceSourceToDetector": 3000}, "DistanceSourceToDetector"),
    ({"ImagerPixelSpacing": [0.2, 0.3]}, "anisotropic detector pixels 0.2 x 0.3 mm"),
])
def test_geometry_that_does_not_fit_is_said_not_raised(scene, tmp_path, sidecar, fragment):
    image = tmp_path / "view.nrrd"
    runtime_node = runtime.volumeNodeFromArray(scene, np.arange(20.0 * 30).reshape(1, 20, 30), np.eye(4), "view")
    storage.saveNode(runtime_node, image)
    geometry = {"PositionerPrimaryAngle": 30, "PositionerSecondaryAngle": 0, "DistanceSourceToDetector": 1000,
                "DistanceSourceToPatient": 750, "ImagerPixelSpacing": [0.3, 0.3], **sidecar}
    image.with_suffix(".json").write_text(json.dumps(geometry))
    parameterNode = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode")
    values, message = nodefiles.viewGeometryToFill(parameterNode, "view1Geometry", runtime_node)
    assert values is None and fragment in message and message.endswith(("by hand", "file's geometry"))
    assert parameterNode.GetAttribute("Recon2Dto3D.view1Geometry.filledFrom") is None  # a later fix can fill it
    bare = runtime.volumeNodeFromArray(scene, np.ones((1, 4, 4), np.float32), np.eye(4), "made in Slicer")
    assert nodefiles.viewGeometryToFill(parameterNode, "view1Geometry", bare) == (
        None, "made in Slicer: no file with its geometry is known; enter the geometry by hand")


# -- the input checks behind Apply ---------------------------------------------------------------------------------


def test_input_checks_name_the_problem(scene):
    image = runtime.volumeNodeFromArray(scene, np.ones((1, 8, 8), np.float32), np.eye(4), "AP")
    other = runtime.volumeNodeFromArray(scene, np.ones((1, 8, 8), np.float32), np.eye(4), "lateral")
    cine = runtime.volumeNodeFromArray(scene, np.ones((3, 8, 8), np.float32), np.eye(4), "cine")
    empty = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")
    assert angioInputsProblem(None, image) == "Select both angiograms (view 1 and view 2)."
    assert angioInputsProblem(image, image) == "View 1 and view 2 must be two different images."
    assert angioInputsProblem(image, empty) == "empty has no image."
    assert angioInputsProblem(cine, image) is None
    assert femurInputsProblem(image, None) == "Select both radiographs (AP and lateral)."
    assert femurInputsProblem(cine, other) == "cine has 3 frames: a radiograph is one image."
    assert femurInputsProblem(image, other) is None
    missing = echoInputsProblem({"ED": {"A4C": image}, "ES": {}}, {})
    assert missing == "Select the end-diastolic frame of these views: A2C (the other views are optional)."
    second = runtime.volumeNodeFromArray(scene, np.ones((1, 8, 8), np.float32), np.eye(4), "A2C")
    assert echoInputsProblem({"ED": {"A4C": image, "A2C": second}}, {}) is None  # A4C and A2C alone are enough
    differ = echoInputsProblem({"ED": {"A4C": image, "A2C": second, "SAXM": other},
                                "ES": {"A4C": image, "A2C": second}}, {})
    assert differ.startswith("Select the same views for both phases: SAXM is given for one phase only")


# -- a failed or cancelled run leaves nothing behind ---------------------------------------------------------------

OUTPUT_CLASSES = {"outputVolume": ("vtkMRMLScalarVolumeNode", "Result"),
                  "outputTable": ("vtkMRMLTableNode", "Readouts")}


@pytest.mark.parametrize("error", [ValueError("bad input"), InterruptedError("cancelled")])
def test_failed_runs_remove_what_they_added_and_a_retry_keeps_the_names(scene, error):
    def failing(scene, progress, outputVolume, outputTable):
        outputVolume.SetAndObserveImageData(runtime._imageDataFromArray(np.ones((1, 2, 2), np.float32)))
        outputVolume.CreateDefaultDisplayNodes()
        scene.AddNewNodeByClass("vtkMRMLModelNode", "a side product")
        raise error

    def succeeding(scene, progress, outputVolume, outputTable):
        outputVolume.SetAndObserveImageData(runtime._imageDataFromArray(np.ones((1, 2, 2), np.float32)))

    kept = scene.AddNewNodeByClass("vtkMRMLTableNode", "the user's table")
    count = scene.GetNumberOfNodes()
    for _ in range(2):
        with pytest.raises(type(error)):
            runtime.runModulePipeline(scene, "Test", failing, OUTPUT_CLASSES,
                                      {"outputVolume": None, "outputTable": kept})
        assert scene.GetNumberOfNodes() == count and scene.IsNodePresent(kept)
    outputs = runtime.runModulePipeline(scene, "Test", succeeding, OUTPUT_CLASSES,
                                        {"outputVolume": None, "outputTable": None})
    assert outputs["outputVolume"].GetName() == "Result" and outputs["outputTable"].GetName() == "Readouts"


# -- the node selectors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_node_selectors_offer_subclasses_but_not_label_maps_as_images(module):
    """qMRMLNodeComboBox's showChildNodeTypes defaults to true (qMRMLSortFilterProxyModel.cxx) and the parameter
    node wrapper overwrites nodeTypes with the field's class (guiConnectors.py): a false would hide grid transforms
    and colour volumes. Image selectors hide label maps and diffusion volumes instead."""
    import xml.etree.ElementTree as ElementTree

    tree = ElementTree.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    selectors = [widget for widget in tree.iter("widget") if widget.get("class") == "qMRMLNodeComboBox"]
    assert selectors
    for widget in selectors:
        properties = {prop.get("name"): prop for prop in widget.findall("property")}
        assert "showChildNodeTypes" not in properties or properties["showChildNodeTypes"].find("bool").text == "true"
        nodeTypes = [item.text for item in properties["nodeTypes"].iter("string")]
        if nodeTypes == ["vtkMRMLScalarVolumeNode"]:
            hidden = [item.text for item in properties["hideChildNodeTypes"].iter("string")]
            assert "vtkMRMLLabelMapVolumeNode" in hidden and "vtkMRMLVectorVolumeNode" not in hidden, widget.get("name")

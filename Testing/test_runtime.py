"""Headless Slicer runtime: every writer/reader round-trips arrays and geometry exactly."""

from pathlib import Path

import numpy as np
import pytest

from ReconCoreLib import runtime, storage

# oblique direction, anisotropic spacing, off-centre origin: any axis or sign slip shows
ROTATION = np.array([[0.0, -1.0, 0.0], [0.6, 0.0, -0.8], [0.8, 0.0, 0.6]])
IJK_TO_RAS = np.eye(4)
IJK_TO_RAS[:3, :3] = ROTATION * np.array([0.7, 0.5, 1.25])
IJK_TO_RAS[:3, 3] = [12.5, -30.25, 41.0]


def labels():
    array = np.zeros((16, 20, 24), np.int16)
    array[3:12, 4:15, 5:20] = 1
    array[12:15, 2:6, 2:6] = 2
    return array


def test_headless_scene_has_core_logic(scene):
    assert not runtime.insideSlicer()
    assert scene.GetNodeByID("vtkMRMLColorTableNodeLabels") is not None  # default color nodes
    assert runtime.getScene(scene) is scene


def test_volume_round_trip(scene, tmp_path):
    array = np.random.default_rng(0).normal(size=(16, 20, 24)).astype(np.float32)
    node = runtime.volumeNodeFromArray(scene, array, IJK_TO_RAS, "probability")
    storage.saveNode(node, tmp_path / "volume.nrrd")
    loaded = storage.loadNode(scene, tmp_path / "volume.nrrd")
    assert np.array_equal(runtime.arrayFromVolumeNode(loaded), array)
    assert np.allclose(runtime.ijkToRasFromNode(loaded), IJK_TO_RAS, atol=1e-12)
    assert np.allclose(loaded.GetSpacing(), [0.7, 0.5, 1.25], atol=1e-12)
    assert np.allclose(loaded.GetOrigin(), [12.5, -30.25, 41.0], atol=1e-12)


def test_segmentation_round_trip_with_closed_surface(scene, tmp_path):
    segments = {1: ("vessel", (0.9, 0.2, 0.2)), 2: ("plaque", (0.9, 0.9, 0.2))}
    node = runtime.segmentationNodeFromLabelmap(scene, labels(), IJK_TO_RAS, segments, "coronary tree")
    assert node.GetSegmentation().ContainsRepresentation("Closed surface")
    storage.saveNode(node, tmp_path / "segmentation.seg.nrrd")
    loaded = storage.loadNode(scene, tmp_path / "segmentation.seg.nrrd")
    array, ijkToRas, names = runtime.labelmapFromSegmentation(loaded)
    assert names == ["vessel", "plaque"]
    assert np.allclose(ijkToRas, IJK_TO_RAS, atol=1e-9)
    assert np.array_equal(array, labels())
    loaded.CreateClosedSurfaceRepresentation()
    model = runtime.modelNodeFromSegment(scene, loaded, "vessel")
    bounds = np.zeros(6)
    model.GetRASBounds(bounds)
    corners = (IJK_TO_RAS @ np.array([[i, j, k, 1] for i in (5, 19) for j in (4, 14) for k in (3, 11)]).T)[:3]
    assert np.allclose(bounds[0::2], corners.min(1), atol=1.3)  # surface hugs the box within a voxel
    assert np.allclose(bounds[1::2], corners.max(1), atol=1.3)


def test_model_round_trip(scene, tmp_path):
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    source = vtk.vtkSphereSource()
    source.SetCenter(10.0, -20.0, 30.0)
    source.SetRadius(7.5)
    source.Update()
    node = runtime.modelNodeFromPolyData(scene, source.GetOutput(), "sphere")
    storage.saveNode(node, tmp_path / "model.vtk")
    loaded = storage.loadNode(scene, tmp_path / "model.vtk")
    original = vtk_to_numpy(node.GetPolyData().GetPoints().GetData())
    reread = vtk_to_numpy(loaded.GetPolyData().GetPoints().GetData())
    assert np.array_equal(original, reread)  # Slicer writes .vtk in LPS and converts back on reading
    assert loaded.GetPolyData().GetNumberOfCells() == node.GetPolyData().GetNumberOfCells()


def test_table_round_trip(scene, tmp_path):
    rows = [{"readout": "vessel_volume_mm3", "value": "1234.5", "unit": "mm3"},
            {"readout": "dice", "value": "0.875", "unit": ""}]
    node = runtime.tableNodeFromRows(scene, rows, "readouts")
    storage.saveNode(node, tmp_path / "readouts.tsv")
    loaded = storage.loadNode(scene, tmp_path / "readouts.tsv")
    assert runtime.rowsFromTableNode(loaded) == rows


def test_linear_transform_round_trip(scene, tmp_path):
    matrix = np.eye(4)
    matrix[:3, :3] = ROTATION
    matrix[:3, 3] = [1.5, -2.0, 3.25]
    node = runtime.linearTransformNode(scene, matrix, "pose")
    storage.saveNode(node, tmp_path / "pose.h5")
    loaded = storage.loadNode(scene, tmp_path / "pose.h5", "vtkMRMLLinearTransformNode")
    assert np.allclose(runtime.matrixFromLinearTransformNode(loaded), matrix, atol=1e-12)


def test_grid_transform_round_trip(scene, tmp_path):
    displacement = np.random.default_rng(1).normal(size=(6, 7, 8, 3))
    node = runtime.gridTransformNodeFromDisplacement(scene, displacement, IJK_TO_RAS, "deformation")
    storage.saveNode(node, tmp_path / "transform.h5")
    loaded = storage.loadNode(scene, tmp_path / "transform.h5", "vtkMRMLGridTransformNode")
    reread, ijkToRas = runtime.displacementFromGridTransformNode(loaded)
    assert np.allclose(reread, displacement, atol=1e-12)
    assert np.allclose(ijkToRas, IJK_TO_RAS, atol=1e-12)
    # the transform moves a grid point by its displacement (RAS)
    point = (IJK_TO_RAS @ [3, 2, 4, 1])[:3]
    moved = loaded.GetTransformToParent().TransformPoint(*point)
    assert np.allclose(moved, point + displacement[4, 2, 3], atol=1e-6)


def test_scene_bundle_round_trip(scene, tmp_path):
    array = np.arange(16 * 20 * 24, dtype=np.float32).reshape(16, 20, 24)
    runtime.volumeNodeFromArray(scene, array, IJK_TO_RAS, "probability")
    runtime.segmentationNodeFromLabelmap(scene, labels(), IJK_TO_RAS, {1: ("vessel", (1, 0, 0))}, "tree")
    runtime.tableNodeFromRows(scene, [{"readout": "dice", "value": "0.5", "unit": ""}], "readouts")
    runtime.gridTransformNodeFromDisplacement(scene, np.ones((3, 3, 3, 3)), IJK_TO_RAS, "deformation")
    storage.saveScene(scene, tmp_path / "scene.mrb")
    loaded = storage.loadScene(tmp_path / "scene.mrb")
    try:
        volume = loaded.GetFirstNodeByName("probability")
        assert np.array_equal(runtime.arrayFromVolumeNode(volume), array)
        assert np.allclose(runtime.ijkToRasFromNode(volume), IJK_TO_RAS, atol=1e-12)
        tree, ijkToRas, names = runtime.labelmapFromSegmentation(loaded.GetFirstNodeByName("tree"))
        assert names == ["vessel"] and np.array_equal(tree, (labels() == 1).astype(tree.dtype))
        assert runtime.rowsFromTableNode(loaded.GetFirstNodeByName("readouts"))[0]["value"] == "0.5"
        assert np.allclose(runtime.displacementFromGridTransformNode(loaded.GetFirstNodeByName("deformation"))[0], 1)
    finally:
        runtime.releaseScene(loaded)


def test_bad_files(scene, tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        storage.loadNode(scene, tmp_path / "missing.nrrd")
    (tmp_path / "notes.docx").write_text("hello")
    with pytest.raises(ValueError, match="unknown file type"):
        storage.loadNode(scene, tmp_path / "notes.docx")
    (tmp_path / "broken.nrrd").write_text("not a nrrd")
    nodesBefore = scene.GetNumberOfNodes()
    with pytest.raises(ValueError, match="broken.nrrd: not a readable image"):
        storage.loadNode(scene, tmp_path / "broken.nrrd")
    assert scene.GetNumberOfNodes() == nodesBefore  # nothing half-made left in the scene
    with pytest.raises(ValueError, match="is a folder; expected a file"):
        storage.loadNode(scene, tmp_path)


@pytest.mark.parametrize("keptBytes", [200, 10000])  # inside the header; inside the gzip data
def test_truncated_segmentation_is_refused_not_aborted(scene, tmp_path, keptBytes):
    """MRML's teem reader aborts the process (SIGABRT) on these; loadNode must refuse them with a message first."""
    sample = Path(__file__).resolve().parents[1] / "FemurRegistration/Resources/SampleData/" \
        "FemurOrthogonal-reference.seg.nrrd"
    truncated = tmp_path / "reference.seg.nrrd"
    truncated.write_bytes(sample.read_bytes()[:keptBytes])
    with pytest.raises(ValueError, match=r"reference\.seg\.nrrd: not a readable image \(.*nrrd"):
        storage.loadNode(scene, truncated)
    assert storage.loadNode(scene, sample).GetSegmentation().GetNumberOfSegments() == 1  # the whole file reads


def test_run_module_pipeline_creates_missing_outputs_and_passes_arguments(scene):
    from ReconCoreLib.progress import Progress

    calls = []

    def run(**kwargs):
        kwargs["progress"](0.5, "half")  # the callback and the abort flag arrive as one Progress
        calls.append(kwargs)

    given = scene.AddNewNodeByClass("vtkMRMLTableNode", "mine")
    classes = {"outputTable": ("vtkMRMLTableNode", "Readouts"), "outputModel": ("vtkMRMLModelNode", "Tree")}
    reports = []
    outputs = runtime.runModulePipeline(scene, "AngioRecon", run, classes, {"outputTable": given, "outputModel": None},
                                        progressCallback=lambda fraction, message: reports.append((fraction, message)),
                                        tree="left")
    assert outputs["outputTable"] is given
    assert outputs["outputModel"].IsA("vtkMRMLModelNode") and outputs["outputModel"].GetName().startswith("Tree")
    assert len(calls) == 1 and isinstance(calls[0].pop("progress"), Progress)
    assert calls == [{"scene": scene, "tree": "left", **outputs}]
    assert reports == [(0.5, "half")]
    with pytest.raises(InterruptedError):
        runtime.runModulePipeline(scene, "AngioRecon", run, classes, {}, abortFlag=lambda: True, tree="left")

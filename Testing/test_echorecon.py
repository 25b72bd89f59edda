"""EchoRecon pipeline: image reading and resampling, readouts, outputs in RAS, bad inputs, command line, samples.

Most tests run a TorchScript stand-in with the network's interface (``forward(images [B, 6, 128, 128]) ->
(displacement [B, V, 3], logits [B, 6, 7, 128, 128])``) that returns a known heart: the template at end-diastole and
the template with its LV cavity shrunk by 0.8 about its centroid at end-systole, with 2D "segmentations" that are the
exact cuts of those meshes by their standard view planes. Every readout then has a known value. The bundled model,
when present, is checked on the sample patients.
"""

import json

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from EchoReconDev.usdicom import writeUltrasoundDicom
from EchoReconLib import echoio, entry, inputs, outputs, pipeline, placement, samples
from EchoReconLib.conventions import FIELD_DEPTH_MM, STRUCTURES, VIEWS
from EchoReconLib.simpson import biplaneSimpsonVolume
from EchoReconLib.template import HeartTemplate
from EchoReconLib.viewplanes import sliceLabels, sliceStructures, viewPlanes
from ReconCoreLib import metrics, runtime, storage
from ReconCoreLib.progress import Progress
from ReconCoreLib.readouts import unitOf


SHRINK = 0.8
NORMAL = samples.sampleFiles("EchoNormal")
BUNDLED = (samples.SAMPLE_DIRECTORY.parent / "Models" / "EchoRecon.pt").is_file()


def knownVertices(template, shrink=SHRINK):
    cavity = template.structureVertexIndices("LV cavity")
    systole = template.vertices.copy()
    centre = systole[cavity].mean(axis=0)
    systole[cavity] = centre + shrink * (systole[cavity] - centre)
    return {"ED": template.vertices.copy(), "ES": systole}


def knownLabels(template, vertices):
    planes = viewPlanes(vertices, template)
    return np.stack([sliceLabels(vertices, template, planes[view]) for view in VIEWS])


def saveKnownHeart(path, shrink=SHRINK):
    """A TorchScript stand-in network that returns the stored heart of batch item b (item 0 end-diastole, item 1
    end-systole); the tests that use it skip in the pass without torch."""
    torch = pytest.importorskip("torch", reason="the stand-in model is TorchScript")

    class KnownHeart(torch.nn.Module):
        def __init__(self, displacement: torch.Tensor, logits: torch.Tensor):
            super().__init__()
            self.register_buffer("displacement", displacement)
            self.register_buffer("logits", logits)

        def forward(self, images: torch.Tensor):
            batch = images.shape[0]
            return self.displacement[:batch] + 0.0 * images.mean(), self.logits[:batch]

    template = HeartTemplate.load()
    vertices = knownVertices(template, shrink)
    displacement = np.stack([vertices[phase] - template.vertices for phase in ("ED", "ES")])
    labels = np.stack([knownLabels(template, vertices[phase]) for phase in ("ED", "ES")])
    logits = 20.0 * np.eye(len(STRUCTURES) + 1, dtype=np.float32)[labels].transpose(0, 1, 4, 2, 3)
    torch.jit.script(KnownHeart(torch.as_tensor(displacement, dtype=torch.float32),
                                torch.as_tensor(np.ascontiguousarray(logits)))).save(str(path))
    return path


@pytest.fixture(scope="module")
def knownHeartPath(tmp_path_factory):
    return saveKnownHeart(tmp_path_factory.mktemp("model") / "EchoRecon.pt")


@pytest.fixture
def knownHeart(knownHeartPath, bundleModel):
    """The stand-in is the bundled EchoRecon model for this test."""
    return bundleModel("EchoRecon", knownHeartPath)


@pytest.fixture(scope="module")
def sampleImages():
    return {phase: pipeline.readPhase(paths) for phase, paths in NORMAL.items()}


@pytest.fixture(scope="module")
def result(knownHeartPath, sampleImages):
    """The stand-in's result with no view moved onto the heart: the stand-in returns the same segmentation whatever
    it is given, so a moved view's segmentation would no longer be its image's (test_slicer_entry_point moves them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(placement, "TOLERANCE_MM", np.inf)
        return pipeline.reconstruct(sampleImages["ED"], sampleImages["ES"], "cpu", modelPath=str(knownHeartPath))


def writeImage(path, array, spacing=None, isVector=False):
    image = sitk.GetImageFromArray(array, isVector=isVector)
    if spacing is not None:
        image.SetSpacing((spacing[1], spacing[0], 1.0)[:image.GetDimension()])
    sitk.WriteImage(image, str(path))
    return path


def noise(shape):
    return np.random.default_rng(0).random(shape).astype(np.float32)


def copyWithSidecar(source, destination, sidecar):
    destination.write_bytes(source.read_bytes())
    destination.with_suffix(".json").write_text(json.dumps(sidecar))
    return destination


def loadVolume(scene, path):
    """A volume node as Slicer makes it from a PNG (1 mm pixels, its storage node naming the file); slicer-core has
    no PNG reader, so the pixels come from SimpleITK."""
    pixels = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    node = runtime.volumeNodeFromArray(scene, pixels[None], np.diag([-1.0, -1.0, 1.0, 1.0]), path.stem)
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    node.SetAndObserveStorageNodeID(storage.GetID())
    return node


# -- reading and resampling ---------------------------------------------------------------------------------


def test_network_input_places_the_sector_apex_and_keeps_the_training_scale(tmp_path):
    # the bundled samples are at the training spacing with the apex at the top middle: copied pixel for pixel
    sample = echoio.readEchoImage(NORMAL["ED"]["A4C"])
    assert sample.pixelSpacingMm == pytest.approx((180.0 / 127,) * 2, rel=1e-6)
    assert sample.viewLabel == "A4C" and sample.phaseLabel == "ED"
    assert np.array_equal(inputs.networkInput(sample, "A4C"), sample.pixels)
    # a dot 20 mm right of and 100 mm below the apex of a 0.5 mm, 301-column image lands at the same place in mm
    for view in ("A4C", "SAXM"):
        array = np.zeros((400, 301), np.float32)
        array[200, 150 + 40] = 1.0
        dot = echoio.EchoImage(array, (0.5, 0.5))
        resampled = inputs.networkInput(dot, view)
        row, column = np.unravel_index(np.argmax(resampled), resampled.shape)
        step = FIELD_DEPTH_MM[view] / 127
        assert abs(row - 100.0 / step) <= 0.5 and abs(column - (63.5 + 20.0 / step)) <= 0.5, (view, row, column)
    # without spacing the height spans the training depth, aspect kept: last row -> row 127, width scaled alike
    array = np.zeros((256, 200), np.float32)
    array[255, 100] = array[0, 0] = 1.0
    resampled = inputs.networkInput(echoio.EchoImage(array), "A2C")
    assert resampled.shape == (128, 128)
    assert np.unravel_index(np.argmax(resampled[100:]), (28, 128))[0] + 100 == 127
    assert resampled[:, :10].max() == 0.0  # the 200 columns become ~100: black beyond them


def test_dicom_cine_frame_spacing_and_apex_from_the_ultrasound_region(tmp_path):
    sample = echoio.readEchoImage(NORMAL["ED"]["A4C"])
    fine = np.kron(np.round(sample.pixels * 255).astype(np.uint8), np.ones((3, 3), np.uint8))  # 384 x 384
    padded = np.zeros((3, 5 + 384, 20 + 384), np.uint8)  # 5 rows above, 10 columns each side: annotations
    padded[1, 5:, 10:-10] = fine
    padded[:, 0:3, :] = 255  # text band outside the region: masked out
    padded[0, 5:, 10:-10] = fine[::-1]  # another frame
    path = writeUltrasoundDicom(tmp_path / "a4c.dcm", padded, spacingMm=180.0 / 127 / 3, apex=(5, 10 + 191),
                                region=(10, 5, 20 + 384 - 11, 5 + 384 - 1))  # the region leaves the bands out
    with pytest.raises(ValueError, match="a cine of 3 frames"):
        echoio.readEchoImage(path)
    with pytest.raises(ValueError, match="frame 3 does not exist"):
        echoio.readEchoImage(path, 3)
    image = echoio.readEchoImage(path, 1)
    assert image.numberOfFrames == 3 and image.frameIndex == 1
    assert image.pixelSpacingMm == pytest.approx((180.0 / 127 / 3,) * 2)
    assert image.apexPixel == (5.0, 201.0)
    resampled = inputs.networkInput(image, "A4C")
    assert np.corrcoef(resampled.ravel(), sample.pixels.ravel())[0, 1] > 0.95
    assert np.abs(resampled - sample.pixels).mean() < 0.05


def test_image_files_nrrd_spacing_sidecar_and_colour(tmp_path):
    pixels = np.round(echoio.readEchoImage(NORMAL["ED"]["A2C"]).pixels * 255).astype(np.uint8)
    nrrd = writeImage(tmp_path / "a2c.nrrd", pixels.astype(np.float32) * 3.0, spacing=(0.9, 0.9))
    image = echoio.readEchoImage(nrrd)
    assert image.pixelSpacingMm == pytest.approx((0.9, 0.9)) and image.viewLabel == ""
    assert image.pixels.min() == 0.0 and image.pixels.max() == 1.0  # not 8-bit: min-max
    png = writeImage(tmp_path / "a2c.png", np.stack([pixels] * 3, axis=-1), isVector=True)  # RGB -> luminance
    assert echoio.readEchoImage(png).pixelSpacingMm is None  # a PNG has no physical spacing
    (tmp_path / "a2c.json").write_text(json.dumps({"PixelSpacing": [1.2, 1.2], "ViewLabel": "a2c"}))
    image = echoio.readEchoImage(png)
    assert image.pixelSpacingMm == (1.2, 1.2) and image.viewLabel == "A2C"
    assert np.allclose(image.pixels, pixels / 255.0, atol=1.0 / 255)


# -- reconstruction and readouts ----------------------------------------------------------------------------


def test_readouts_have_units_and_the_known_values(result):
    template = HeartTemplate.load()
    vertices = knownVertices(template)
    ed, es = (template.structureVolumesMl(vertices[phase]) for phase in ("ED", "ES"))
    values = result.readouts.toDict()
    assert values["module"] == "EchoRecon" and values["device"] == "cpu" and len(values["model_sha256"]) == 64
    # the stand-in model has no view classifier (EchoReconLib.viewcheck) nor interval calibration
    # (EchoReconLib.viewsets): the two warnings say so
    assert len(values["warnings"]) == 2 and values["warnings"][0].startswith("the view labels were not checked")
    assert values["warnings"][1].startswith("no interval for the LV volumes and EF")
    expectedKeys = {"lv_edv_ml", "lv_esv_ml", "lv_sv_ml", "lv_ef_percent", "lv_mass_g", "rv_edv_ml", "rv_esv_ml",
                    "la_volume_ed_ml", "la_volume_es_ml", "ra_volume_ed_ml", "ra_volume_es_ml", "simpson_edv_ml",
                    "simpson_esv_ml", "simpson_ef_percent", "inference_s", "views_used", "view_count"}
    expectedKeys |= {f"view_dice_{view.lower()}" for view in VIEWS} | {f"view_dice_es_{view.lower()}" for view in VIEWS}
    residuals = {f"view_residual{phase}_{view.lower()}_mm" for phase in ("", "_es") for view in VIEWS}
    expectedKeys |= residuals | {"view_fit", "recentred_views"}
    expectedKeys |= {f"heart_offset_{axis}_{view.lower()}_mm" for axis in ("depth", "lateral") for view in VIEWS}
    assert set(result.readouts.values) == expectedKeys
    assert values["views_used"] == " ".join(VIEWS) and values["view_count"] == 6
    for key in expectedKeys - {"view_fit", "views_used", "view_count"}:
        assert unitOf(key) == ("" if key.startswith("view_dice") or key == "recentred_views"
                               else key.rsplit("_", 1)[1]), key
    # the segmentations are the mesh's own cuts: each fitted plane meets them within about a pixel (1.1-1.4 mm; the
    # residual's floor is the spacing of the cut's points along the border; SAXA 2.3 mm: small cuts, few points)
    assert values["view_fit"] == "pose" and all(values[key] < (2.5 if "saxa" in key else 1.1) for key in residuals)
    assert values["lv_edv_ml"] == pytest.approx(ed["LV cavity"]) and 100 < values["lv_edv_ml"] < 140
    assert values["lv_esv_ml"] == pytest.approx(SHRINK ** 3 * ed["LV cavity"], rel=1e-6)
    assert values["lv_sv_ml"] == pytest.approx(values["lv_edv_ml"] - values["lv_esv_ml"])
    assert values["lv_ef_percent"] == pytest.approx(100 * (1 - SHRINK ** 3), rel=1e-6)  # 48.8 %
    assert values["lv_mass_g"] == pytest.approx(1.05 * (ed["LV myocardium"] - ed["LV cavity"]))
    assert values["rv_esv_ml"] == pytest.approx(es["RV"]) and values["la_volume_ed_ml"] == pytest.approx(ed["LA"])
    # the 2D segmentations are the mesh's own cuts by its standard planes: every view overlaps perfectly
    assert all(values[key] == 1.0 for key in expectedKeys if key.startswith("view_dice"))
    # biplane Simpson's on the A4C / A2C LV cavity at the training spacing, close to the mesh volume
    labels = {phase: knownLabels(template, vertices[phase]) == 1 for phase in ("ED", "ES")}
    simpson = {phase: biplaneSimpsonVolume(labels[phase][0], labels[phase][1], 180.0 / 127) for phase in labels}
    assert [values[f"simpson_{key}_ml"] for key in ("edv", "esv")] == pytest.approx([simpson["ED"], simpson["ES"]])
    assert values["simpson_ef_percent"] == pytest.approx(100 * (simpson["ED"] - simpson["ES"]) / simpson["ED"])
    assert values["simpson_edv_ml"] == pytest.approx(values["lv_edv_ml"], rel=0.25)
    assert values["inference_s"] >= 0


def test_end_diastole_only_and_esv_above_edv_is_refused_or_kept(knownHeartPath, sampleImages, tmp_path):
    from ReconCoreLib.plausibility import ImplausibleResult, keepingImplausible

    alone = pipeline.reconstruct(sampleImages["ED"], None, "cpu", modelPath=str(knownHeartPath))
    assert alone.phases == ("ED",)
    assert set(alone.readouts.values) == {"lv_edv_ml", "lv_mass_g", "rv_edv_ml", "la_volume_ed_ml", "ra_volume_ed_ml",
                                          "simpson_edv_ml", "inference_s", "view_fit", "views_used", "view_count",
                                          *(f"view_dice_{view.lower()}" for view in VIEWS),
                                          *(f"view_residual_{view.lower()}_mm" for view in VIEWS),
                                          *(f"heart_offset_{axis}_{view.lower()}_mm" for axis in ("depth", "lateral")
                                            for view in VIEWS), "recentred_views"}
    growing = saveKnownHeart(tmp_path / "growing.pt", shrink=1.1)
    with pytest.raises(ImplausibleResult, match=r"LV end-systolic volume, above the end-diastolic volume \(ED and ES "
                                                r"swapped\?\) \(lv_esv_ml\) = \d+ mL is outside the plausible range"):
        pipeline.reconstruct(sampleImages["ED"], sampleImages["ES"], "cpu", modelPath=str(growing))
    with keepingImplausible():
        swapped = pipeline.reconstruct(sampleImages["ED"], sampleImages["ES"], "cpu", modelPath=str(growing))
    assert swapped.readouts.values["lv_ef_percent"] < 0
    assert [check.split(" = ")[0].rsplit("(", 1)[1] for check in swapped.readouts.failedChecks] == [
        "lv_esv_ml)", "lv_sv_ml)", "lv_ef_percent)"]
    assert "simpson_ef_percent" not in swapped.readouts.values  # Simpson's ESV above its EDV: left out, warned
    assert any(warning.startswith("biplane Simpson's ESV and EF left out") for warning in swapped.readouts.warnings)


def test_outputs_in_ras_segmentation_grid_matches_the_models(result, scene):
    nodes = outputs.addToScene(result, scene)
    template = result.template
    # heart frame placed at the RAS origin: the mitral annulus centre is at (0, 0, 0), apex left-anterior-inferior
    landmarks = template.landmarks(result.verticesRas("ED"))
    assert np.allclose(landmarks["mitralAnnulus"], 0.0, atol=1e-4)
    apex = landmarks["lvApex"] / np.linalg.norm(landmarks["lvApex"])
    assert apex[0] < 0 and apex[1] > 0 and apex[2] < 0
    segmentation = nodes["outputEdSegmentation"]
    assert segmentation.GetSegmentation().GetNumberOfSegments() == len(STRUCTURES)
    label, ijkToRas, names = runtime.labelmapFromSegmentation(segmentation)
    assert names == list(STRUCTURES)
    assert np.allclose(ijkToRas[:3, :3], np.eye(3) * outputs.SEGMENTATION_SPACING_MM)
    assert np.allclose(ijkToRas[:3, 3] % outputs.SEGMENTATION_SPACING_MM, 0.0)
    upper = ijkToRas[:3, 3] + (np.array(label.shape[::-1]) - 1) * outputs.SEGMENTATION_SPACING_MM
    volumes = template.structureVolumesMl(result.vertices["ED"])
    for index, structure in enumerate(STRUCTURES):
        model = nodes["edModels"][structure]
        bounds = np.array(model.GetPolyData().GetBounds()).reshape(3, 2)
        assert np.all(bounds[:, 0] > ijkToRas[:3, 3]) and np.all(bounds[:, 1] < upper), structure
        assert model.GetDisplayNode().GetColor() == pytest.approx(outputs.STRUCTURE_COLORS[structure])
        expected = volumes[structure] - (volumes["LV cavity"] if structure == "LV myocardium" else 0.0)
        voxels = (label == index + 1).sum() * outputs.SEGMENTATION_SPACING_MM ** 3 / 1000.0
        assert voxels == pytest.approx(expected, rel=0.05), structure  # the wall only for the myocardium
    assert nodes["esModels"]["LV cavity"].GetDisplayNode().GetVisibility() == 0
    assert runtime.rowsFromTableNode(nodes["outputTable"])[0]["readout"] == "lv_edv_ml"
    # a second run into the same nodes reuses them (no new models)
    count = scene.GetNumberOfNodesByClass("vtkMRMLModelNode")
    again = outputs.addToScene(result, scene, nodes["outputEdSegmentation"], nodes["outputEsSegmentation"],
                                nodes["outputTable"])
    assert scene.GetNumberOfNodesByClass("vtkMRMLModelNode") == count
    assert again["edModels"]["RV"] is nodes["edModels"]["RV"]


def test_slicer_entry_point_from_volume_nodes(knownHeart, scene):
    """What EchoReconLogic.process calls: volume nodes loaded from the sample PNGs (sidecars read beside them)."""
    nodes = {phase: {view: loadVolume(scene, path) for view, path in paths.items()} for phase, paths in NORMAL.items()}
    assert echoio.viewAndPhaseOfNode(nodes["ES"]["SAXB"]) == ("SAXB", "ES")
    image = echoio.echoImageFromVolumeNode(nodes["ED"]["A4C"])
    assert image.pixelSpacingMm == pytest.approx((180.0 / 127,) * 2, rel=1e-6)  # from the sidecar, not the PNG
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", "my readouts")
    progress = []
    result = pipeline.run(scene, nodes["ED"], nodes["ES"], device="cpu", outputTable=table,
                          progress=Progress(lambda fraction, message: progress.append(fraction)))
    assert result["outputTable"] is table and progress[-1] == 1.0 and progress == sorted(progress)
    values = {row["readout"]: row["value"] for row in runtime.rowsFromTableNode(table)}
    assert float(values["lv_ef_percent"]) == pytest.approx(100 * (1 - SHRINK ** 3), abs=0.5)  # shown to 1 %
    assert values["recentred_views"] == "A2C SAXB SAXM"  # the stand-in's hearts there lie 10-14 mm from training's
    # each image: the heart cut by its view's plane on its grid (frame 0), in its sector, the viewplanes cut (Dice 1.0)
    template, cuts = HeartTemplate.load(), result["viewCuts"]
    assert [node.GetName() for node in cuts.values()] == [f"{v} {p} mesh cut" for p in nodes for v in nodes[p]]
    for (phase, view), cut in cuts.items():
        label, ijkToRas, names = runtime.labelmapFromSegmentation(cut)
        assert np.allclose(ijkToRas, runtime.ijkToRasFromNode(nodes[phase][view])), (phase, view)
        vertices, step = knownVertices(template)[phase], FIELD_DEPTH_MM[view] / 127
        plane, cavity = viewPlanes(vertices, template)[view], label[0] == names.index("LV cavity") + 1
        expected = sliceStructures(vertices, template, plane)[0]
        shift = placement.shiftOf(values, view)  # a view the run moved onto the heart is drawn where it was read
        if shift != (0.0, 0.0):
            expected = ndimage.shift(expected.astype(np.uint8), np.asarray(shift) / step, order=0) > 0
        assert metrics.overlapMetrics(cavity, expected)["dice"] > (0.99 if shift == (0.0, 0.0) else 0.97), (phase, view)
        depth, lateral = np.mgrid[:128, :128] * step - np.array([0.0, 63.5 * step])[:, None, None]
        inSector = (np.hypot(depth, lateral) <= FIELD_DEPTH_MM[view]) & (np.abs(np.arctan2(lateral, depth)) < 0.7)
        assert cavity.any() and inSector[cavity].all(), (phase, view)  # 0.7 rad: inside the 40 degree half angle
    fine = echoio.EchoImage(np.zeros((255, 255), np.float32), (step / 2, step / 2))  # half the pixel size: ES SAXA
    assert np.array_equal(pipeline.imageCutLabels(vertices, template, plane, fine, view)[::2, ::2], label[0])
    with pytest.raises(InterruptedError):
        pipeline.run(scene, nodes["ED"], None, device="cpu", progress=Progress(abortFlag=lambda: True))
    # a cine loaded as one slice per frame: its frame is required, and chosen per phase
    frames = np.stack([runtime.arrayFromVolumeNode(nodes[phase]["A4C"])[0] for phase in ("ED", "ES")])
    cine = runtime.volumeNodeFromArray(scene, frames, np.diag([-180 / 127, -180 / 127, 1.0, 1.0]), "A4C cine")
    with pytest.raises(ValueError, match="a cine of 2 frames"):
        pipeline.run(scene, {**nodes["ED"], "A4C": cine}, None, device="cpu")
    result = pipeline.run(scene, {**nodes["ED"], "A4C": cine}, {**nodes["ES"], "A4C": cine}, device="cpu",
                          endDiastoleFrames={"A4C": 0, "A2C": 5}, endSystoleFrames={"A4C": 1})
    assert result["outputTable"] is not table  # a new table; frame 5 of the single A2C image is ignored
    frameOne = runtime.ijkToRasFromNode(cine) + np.pad(runtime.ijkToRasFromNode(cine)[:, 2:3], ((0, 0), (3, 0)))
    assert np.allclose(runtime.labelmapFromSegmentation(result["viewCuts"][("ES", "A4C")])[1], frameOne)  # its slice 1


# -- bad inputs and the command line ------------------------------------------------------------------------


def caseArguments(tmp_path, ed=None, es=None, withEs=True):
    ed = {**{view: str(path) for view, path in NORMAL["ED"].items()}, **(ed or {})}
    es = {**{view: str(path) for view, path in NORMAL["ES"].items()}, **(es or {})}
    arguments = ["echo", "--ed", *[f"{view}={path}" for view, path in ed.items() if path]]
    if withEs:
        arguments += ["--es", *[f"{view}={path}" for view, path in es.items() if path]]
    return arguments + ["--out", str(tmp_path / "out"), "--device", "cpu", "--quiet"]


def test_command_line_writes_every_output(knownHeart, tmp_path, capsys):
    from ReconCoreLib.cli import main

    assert main(caseArguments(tmp_path)) == 0, capsys.readouterr().err
    out = tmp_path / "out"
    stems = [outputs.fileStem(structure) for structure in STRUCTURES]
    assert stems == ["lv_cavity", "lv_myocardium", "rv", "la", "ra", "aortic_root"]
    assert sorted(item.name for item in out.iterdir() if not item.name.startswith(".")) == sorted(
        ["segmentation.seg.nrrd", "segmentation_es.seg.nrrd", "readouts.json", "scene.mrb", "summary.png"]
        + [f"{stem}.vtk" for stem in stems] + [f"{stem}_es.vtk" for stem in stems])  # PNG inputs: no DICOM SEG/SR
    readouts = json.loads((out / "readouts.json").read_text())
    assert readouts["lv_ef_percent"] == pytest.approx(100 * (1 - SHRINK ** 3), rel=1e-6)
    loaded = runtime.newHeadlessScene()
    try:
        segmentation = storage.loadNode(loaded, out / "segmentation.seg.nrrd")
        label, ijkToRas, names = runtime.labelmapFromSegmentation(segmentation)
        assert names == list(STRUCTURES)
        polyData = storage.loadNode(loaded, out / "lv_cavity.vtk").GetPolyData()  # written in LPS, read back in RAS
        points = np.array([polyData.GetPoint(index) for index in range(polyData.GetNumberOfPoints())])
        ijk = np.round((np.c_[points, np.ones(len(points))] @ np.linalg.inv(ijkToRas).T)[:, :3]).astype(int)
        near = label[ijk[:, 2], ijk[:, 1], ijk[:, 0]]
        assert np.mean(np.isin(near, (1, 2))) > 0.9  # the cavity surface runs through cavity / wall voxels
    finally:
        runtime.releaseScene(loaded)


@pytest.mark.parametrize("problem, fragment", [
    ("missing view", "end-diastole and end-systole need the same views: A3C, SAXA given for end-diastole only"),
    ("missing required view", "missing end-systolic view(s): A2C; EchoRecon needs at least A4C and A2C"),
    ("view given twice", "view A4C given twice"),
    ("same image twice", "the end-diastolic A2C and A3C views are the same image"),
    ("wrong label", "given as the end-diastolic SAXB view but its file labels it SAXM"),
    ("wrong phase", "given as the end-systolic A4C view but its file labels it ED"),
    ("3D image", "a cine of 4 frames; choose the frame"),
    ("4D image", "expected a 2D image"),
    ("constant image", "image is empty or constant"),
    ("NaN image", "NaN or infinite"),
    ("tiny image", "too small"),
    ("ED and ES sizes differ", "A4C: the end-diastolic image (128 x 128 pixels, 1.42 x 1.42 mm) and the end-systolic "
                               "image (256 x 256 pixels, 0.709 x 0.709 mm) differ"),
    ("ED equals ES", "A2C: the end-diastolic and end-systolic images are identical"),
])
def test_bad_input_is_a_one_line_error_and_writes_nothing(problem, fragment, knownHeart, tmp_path, capsys):
    from ReconCoreLib.cli import main

    ed, es = {"missing view": ({}, dict.fromkeys(("A3C", "SAXA"))), "missing required view": ({}, {"A2C": None}),
              "wrong label": ({"SAXB": str(NORMAL["ED"]["SAXM"])}, {}),
              "wrong phase": ({}, {"A4C": str(NORMAL["ED"]["A4C"])})}.get(problem, ({}, {}))
    if problem == "same image twice":  # an unlabelled copy of the A2C image given as A3C
        ed = {"A3C": str(copyWithSidecar(NORMAL["ED"]["A2C"], tmp_path / "copy.png", {}))}
    elif problem == "3D image":
        ed = {"A3C": str(writeImage(tmp_path / "cine.nrrd", noise((4, 64, 64))))}
    elif problem == "4D image":
        ed = {"A3C": str(writeImage(tmp_path / "4d.nrrd", noise((2, 3, 40, 40))))}
    elif problem == "constant image":
        ed = {"SAXA": str(writeImage(tmp_path / "flat.nrrd", np.full((64, 64), 7.0, np.float32)))}
    elif problem == "NaN image":
        array = noise((64, 64))
        array[3, 3] = np.nan
        ed = {"SAXA": str(writeImage(tmp_path / "nan.nrrd", array))}
    elif problem == "tiny image":
        ed = {"SAXA": str(writeImage(tmp_path / "tiny.nrrd", noise((16, 16))))}
    elif problem == "ED and ES sizes differ":
        big = np.kron(np.round(echoio.readEchoImage(NORMAL["ES"]["A4C"]).pixels * 255), np.ones((2, 2)))
        es = {"A4C": str(writeImage(tmp_path / "big.nrrd", big.astype(np.float32), spacing=(90.0 / 127,) * 2))}
    elif problem == "ED equals ES":  # the ED pixels, labelled as nothing, given as ES
        copy = copyWithSidecar(NORMAL["ED"]["A2C"], tmp_path / "copy.png", {"PixelSpacing": [180 / 127] * 2})
        es = {"A2C": str(copy)}
    arguments = caseArguments(tmp_path, ed, es)
    if problem == "view given twice":
        arguments[2:2] = [f"A4C={NORMAL['ED']['A2C']}"]
    status, error = main(arguments), capsys.readouterr().err
    assert status == 2 and len(error.splitlines()) == 1 and error.startswith("recon2d3d echo: error:"), error
    assert fragment in error
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.partial*"))


def test_cine_frames_on_the_command_line_and_cancel_writes_nothing(knownHeart, tmp_path, capsys):
    from ReconCoreLib.cli import buildParser, main

    frames = np.stack([np.round(echoio.readEchoImage(NORMAL[phase]["A4C"]).pixels * 255) for phase in ("ED", "ES")])
    cine = writeImage(tmp_path / "a4c_cine.nrrd", frames.astype(np.uint8), spacing=(180.0 / 127,) * 2)
    arguments = caseArguments(tmp_path, {"A4C": f"{cine}@0"}, {"A4C": f"{cine}@1"})
    assert main(arguments) == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "readouts.json").read_text())["lv_esv_ml"] > 0
    args = buildParser().parse_args(caseArguments(tmp_path / "cancelled", {"A4C": f"{cine}@0"}, {"A4C": f"{cine}@1"}))
    case = entry.caseFromArguments(args)
    assert case.endDiastoleFrames == {"A4C": 0} and case.endSystoleFrames == {"A4C": 1}
    assert case.endDiastole["A4C"] == cine and case.endSystole["A2C"] == NORMAL["ES"]["A2C"]
    seen = []  # the abort flag says stop once the surfaces are being made
    cancelAt = Progress(lambda fraction, message: seen.append(fraction), lambda: bool(seen) and seen[-1] >= 0.7)
    with pytest.raises(InterruptedError):
        with storage.atomicOutputDirectory(tmp_path / "cancelled" / "out") as staging:
            entry.ENTRY.runCase(case, staging, "cpu", cancelAt)
    assert not (tmp_path / "cancelled" / "out").exists()


def test_without_model_the_command_exits_3(monkeypatch, tmp_path, capsys):
    from ReconCoreLib.cli import main

    monkeypatch.setattr("ReconCoreLib.models.findBundledModel", lambda name: None)
    assert main(caseArguments(tmp_path)) == 3
    assert "no trained model is bundled yet" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# -- sample data and the bundled model ----------------------------------------------------------------------


def test_sample_data_is_generated_reproducibly(tmp_path):
    from EchoReconDev.samples import SAMPLE_SETTINGS, writeSamples
    from ReconCoreLib.models import sha256

    assert sorted(path.name for path in samples.SAMPLE_DIRECTORY.iterdir()) == sorted(samples.SAMPLE_SHA256)
    # patients x phases x views x (PNG, JSON), and per cine case a DICOM cine per view and a JSON
    assert len(samples.SAMPLE_SHA256) == 2 * 2 * len(VIEWS) * 2 + len(samples.SAMPLE_CINES) * (len(VIEWS) + 1)
    for fileName, digest in samples.SAMPLE_SHA256.items():
        assert sha256(samples.SAMPLE_DIRECTORY / fileName) == digest, fileName
    assert tuple(SAMPLE_SETTINGS) == samples.SAMPLE_PATIENTS
    for path in writeSamples(tmp_path):
        assert sha256(path) == samples.SAMPLE_SHA256[path.name], path.name  # same seeds, same bytes
    for patient in samples.SAMPLE_PATIENTS:
        for phase, paths in samples.sampleFiles(patient).items():
            for view, path in paths.items():
                sidecar = json.loads(path.with_suffix(".json").read_text())
                assert (sidecar["PatientID"], sidecar["CardiacPhase"], sidecar["ViewLabel"]) == (patient, phase, view)


@pytest.mark.torch
@pytest.mark.skipif(not BUNDLED, reason="no bundled EchoRecon model")
def test_bundled_model_on_the_sample_patients(tmp_path):
    """The demo's two patients (ED and ES; its cine case: test_echo_cinephases.py): a normal heart and a dilated one
    with a low EF are told apart."""
    results = {patient: entry.ENTRY.runCase(entry.ENTRY.sampleCases()[patient], tmp_path / patient, "cpu", None)
               for patient in samples.SAMPLE_PATIENTS}
    assert set(results) == {"EchoNormal", "EchoDilated"}
    for patient, readouts in results.items():
        truth = json.loads(samples.sampleFiles(patient)["ED"]["A4C"].with_suffix(".json").read_text())["GroundTruth"]
        values = readouts.values
        print(f"{patient}: EDV {values['lv_edv_ml']:.0f} mL (true {truth['edvMl']:.0f}), "
              f"EF {values['lv_ef_percent']:.0f} % "
              f"(true {truth['efPercent']:.0f}), Simpson EF {values.get('simpson_ef_percent', float('nan')):.0f} %, "
              f"view Dice {min(values[f'view_dice_{view.lower()}'] for view in VIEWS):.2f}-"
              f"{max(values[f'view_dice_{view.lower()}'] for view in VIEWS):.2f}")
        assert values["lv_edv_ml"] == pytest.approx(truth["edvMl"], rel=0.35)
        assert values["lv_ef_percent"] == pytest.approx(truth["efPercent"], abs=15)
        assert (tmp_path / patient / "segmentation.seg.nrrd").is_file()
    assert results["EchoDilated"].values["lv_edv_ml"] > results["EchoNormal"].values["lv_edv_ml"]
    assert results["EchoNormal"].values["lv_ef_percent"] > results["EchoDilated"].values["lv_ef_percent"] + 15

"""FemurRegistration: femur CT atlas registered to calibrated AP and lateral radiographs."""

from typing import Annotated, Callable, Optional

import slicer
from slicer import (
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLModelNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLTableNode,
    vtkMRMLTransformNode,
)
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleWidget
from slicer.util import VTKObservationMixin

from FemurRegistrationLib.conventions import SIDES as FEMUR_SIDES
from ReconCoreLib.conventions import DEVICES
from ReconCoreSlicer import CArmViewParameters, ReconLogicBase, ReconModuleTest, ReconWidgetMixin
from ReconCoreSlicer import registerSampleData as registerModuleSampleData

#: The side choices of the module: a side, or "auto" (the files' DICOM laterality, else the femur's shape).
SIDES = ("auto", *FEMUR_SIDES)
#: Output parameter -> (MRML class, default node name).
OUTPUTS = {
    "outputVolume": ("vtkMRMLScalarVolumeNode", "FemurAtlasRegistered"),
    "outputSegmentation": ("vtkMRMLSegmentationNode", "Femur"),
    "outputModel": ("vtkMRMLModelNode", "FemurModel"),
    "outputTransform": ("vtkMRMLGridTransformNode", "AtlasToPatient"),
    "outputLandmarks": ("vtkMRMLMarkupsFiducialNode", "FemurLandmarks"),
    "outputTable": ("vtkMRMLTableNode", "FemurReadouts"),
    "outputApOutline": ("vtkMRMLSegmentationNode", "FemurOutlineAP"),
    "outputLatOutline": ("vtkMRMLSegmentationNode", "FemurOutlineLateral"),
}


#
# FemurRegistration
#


class FemurRegistration(ScriptedLoadableModule):
    """Uses ScriptedLoadableModule base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Femur Registration")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Reconstruction")]
        self.parent.dependencies = ["ReconCore"]
        self.parent.contributors = ["Recon2Dto3D developers"]
        self.parent.helpText = _("""
Registers a femur CT atlas to a pair of calibrated radiographs (anterior-posterior and lateral): the warped
atlas CT, the warped femur segmentation and surface model, the atlas-to-patient transform (similarity and dense
deformation; its 'to parent' direction maps the atlas onto the patient), the registered landmarks, the projected
femur outline on both radiographs and a readouts table (image agreement, minimum Jacobian, femoral head
diameter, neck-shaft angle, femoral offset). Femur masks on the radiographs restrict the input to
the femur ("Propose femur masks" drafts them for editing); an optional reference segmentation gives Dice and
surface distance readouts. Left femurs are registered as mirrored right femurs. Anteversion is not reported: it
needs the posterior condyles, which lie below the registered box, so it would follow the atlas (a warning says so).
The projection geometry of each radiograph is read from DICOM or from a JSON sidecar when the image file has
it, otherwise entered by hand.
<br><br>
Method: J. Van Houtte, E. Audenaert, G. Zheng, J. Sijbers, "Deep learning-based 2D/3D registration of an atlas
to biplanar X-ray images", International Journal of Computer Assisted Radiology and Surgery 17(7):1333-1342,
2022, doi:10.1007/s11548-022-02586-3 (ProST and inverse-ProST layers).
<br><br>
The trained model (Resources/Models/FemurRegistration.pt) must be bundled with the extension: while it is not, the
module says so and Apply stays disabled; no registration is ever faked.
See the
<a href="https://github.com/recon2dto3d/SlicerRecon2Dto3D#tutorial-femurregistration-on-the-bundled-sample-cases">module
documentation</a>.
""")
        self.parent.acknowledgementText = _("""
Developed by the Recon2Dto3D developers. The registration method is that of Van Houtte, Audenaert, Zheng and
Sijbers (2022). Module layout follows the 3D Slicer scripted module template.
""")
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    """Add the two bundled synthetic hips (AP + lateral DX radiographs each) to the Sample Data module."""
    registerModuleSampleData("FemurRegistration", __file__)


#
# FemurRegistrationParameterNode
#


@parameterNodeWrapper
class FemurRegistrationParameterNode:
    """
    apRadiograph, latRadiograph - the calibrated AP and lateral radiographs.
    apMask, latMask - optional femur masks drawn on the radiographs.
    apGeometry, latGeometry - their projection geometry (``CArmViewParameters``: angles in deg, LAO and cranial
        positive; source to detector and to isocenter, detector pixel size in mm).
    reference - optional reference femur segmentation (patient RAS) for Dice and surface distance readouts.
    side - auto (DICOM laterality of the files, else the femur's shape in the AP view; when neither tells it, the run
        stops and asks), left or right.
    refine - refine the network's registration iteratively against the radiographs (slower).
    device - auto (CUDA when usable), cpu or cuda.
    outputVolume, outputSegmentation, outputModel, outputTransform, outputLandmarks, outputTable - warped atlas,
        femur labels, surface model, atlas-to-patient transform, landmarks and readouts.
    outputApOutline, outputLatOutline - projected outline of the registered femur on each radiograph.
    """

    apRadiograph: vtkMRMLScalarVolumeNode
    latRadiograph: vtkMRMLScalarVolumeNode
    apMask: vtkMRMLSegmentationNode
    latMask: vtkMRMLSegmentationNode
    apGeometry: CArmViewParameters = CArmViewParameters(0.0, 0.0, 1000.0, 925.0, 0.15)
    latGeometry: CArmViewParameters = CArmViewParameters(-90.0, 0.0, 1000.0, 925.0, 0.15)
    reference: vtkMRMLSegmentationNode
    side: Annotated[str, Choice(list(SIDES))] = "auto"
    refine: bool = False
    device: Annotated[str, Choice(list(DEVICES))] = "auto"
    outputVolume: vtkMRMLScalarVolumeNode
    outputSegmentation: vtkMRMLSegmentationNode
    outputModel: vtkMRMLModelNode
    outputTransform: vtkMRMLTransformNode
    outputLandmarks: vtkMRMLMarkupsFiducialNode
    outputTable: vtkMRMLTableNode
    outputApOutline: vtkMRMLSegmentationNode
    outputLatOutline: vtkMRMLSegmentationNode


#
# FemurRegistrationWidget
#


class FemurRegistrationWidget(ReconWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    The life cycle, Apply/Cancel and progress handling come from ``ReconCoreSlicer.ReconWidgetMixin``.
    """

    _geometryViews = {"apGeometry": "apRadiograph", "latGeometry": "latRadiograph"}

    def _createLogic(self):
        return FemurRegistrationLogic()

    def setup(self) -> None:
        ReconWidgetMixin.setup(self)
        self.ui.proposeMasksButton.connect("clicked(bool)", self.onProposeMasksButton)

    def _updateWidgets(self) -> None:
        parameters = self._parameterNode
        ready = bool(parameters and parameters.apRadiograph and parameters.latRadiograph) and not self._busy
        self.ui.proposeMasksButton.enabled = ready

    def onProposeMasksButton(self) -> None:
        """Draft a femur mask on each radiograph that has none (segmentations to edit in Segment Editor)."""
        from ReconCoreSlicer.dependencies import Dependencies

        with slicer.util.tryWithErrorDisplay(_("Femur mask proposal failed."), waitCursor=True):
            Dependencies().ensureDependencies()
            parameters = self._parameterNode
            with slicer.util.NodeModify(parameters):
                for image, mask in (("apRadiograph", "apMask"), ("latRadiograph", "latMask")):
                    if not getattr(parameters, mask):
                        setattr(parameters, mask, self.logic.proposeMask(getattr(parameters, image)))

    def _applyToolTip(self) -> str:
        return _("Register the femur atlas to the two radiographs.")

    def onApplyButton(self) -> None:
        self._runApply(_("Femur registration failed."), _("Registration cancelled."), self._process)

    def _process(self, parameters) -> dict:
        geometries = self._geometries()
        return self.logic.process(
            parameters.apRadiograph, parameters.latRadiograph, geometries["apGeometry"], geometries["latGeometry"],
            apMask=parameters.apMask, latMask=parameters.latMask, reference=parameters.reference,
            side=parameters.side, refine=parameters.refine, device=parameters.device,
            **{name: getattr(parameters, name) for name in OUTPUTS},
            progressCallback=self.onProgress, abortFlag=self.abortRequested)


#
# FemurRegistrationLogic
#


class FemurRegistrationLogic(ReconLogicBase):
    """Atlas-to-biplanar-radiograph registration; a thin facade over ``FemurRegistrationLib`` (no Qt).

    The network is that of Van Houtte et al. 2022 (ProST / inverse-ProST); it runs only when its trained weights
    are bundled in ``Resources/Models``. Geometry: ``ReconCoreLib.xraygeometry.CArmGeometry`` (angles in deg,
    distances in mm); outputs are in the patient RAS frame (mm).

    Console example (Slicer Python console)::

        import FemurRegistration, ReconCore
        ReconCore.ReconCoreLogic().ensureDependencies()
        logic = FemurRegistration.FemurRegistrationLogic()
        print(logic.modelAvailable())
        ap = slicer.util.loadVolume("/data/hip_ap.nrrd")  # hip_ap.json beside it holds the geometry
        lat = slicer.util.loadVolume("/data/hip_lat.nrrd")
        outputs = logic.process(ap, lat, logic.readGeometry("/data/hip_ap.nrrd"),
                                logic.readGeometry("/data/hip_lat.nrrd"), device="auto")
        slicer.util.saveNode(outputs["outputSegmentation"], "/data/femur.seg.nrrd")
    """

    parameterNodeClass = FemurRegistrationParameterNode
    OUTPUTS = OUTPUTS

    def inputsProblem(self, parameters) -> Optional[str]:
        """Why the selected radiographs cannot be registered (``FemurRegistrationLib.nodeinputs``), or None."""
        from FemurRegistrationLib.nodeinputs import inputsProblem

        return inputsProblem(parameters.apRadiograph, parameters.latRadiograph)

    def proposeMask(self, radiograph):
        """A femur mask proposal on ``radiograph`` (volume node): a new segmentation node to check and edit.

        A 2D segmentation network (:func:`FemurRegistrationLib.femurmask.proposeFemurMask`) on the radiograph at its
        pixel spacing; its largest femur region, holes filled.
        """
        if radiograph is None or radiograph.GetImageData() is None:
            raise ValueError(_("Select a radiograph first."))
        from FemurRegistrationLib.outputs import FEMUR_COLOR
        from FemurRegistrationLib.femurmask import proposeFemurMask
        from ReconCoreLib import runtime
        from ReconCoreLib.nodefiles import framesOfVolumeNode
        from ReconCoreLib.xrayio import checkImage

        pixels = checkImage(framesOfVolumeNode(radiograph), radiograph.GetName())
        name = self.scene.GenerateUniqueName(f"{radiograph.GetName()} femur mask")
        columnSpacing, rowSpacing = radiograph.GetSpacing()[:2]  # the detector's pixel size (mm)
        mask = proposeFemurMask(pixels, (rowSpacing, columnSpacing))
        return runtime.segmentationNodeFromLabelmap(self.scene, mask[None],
                                                    runtime.ijkToRasFromNode(radiograph),
                                                    {1: ("femur", FEMUR_COLOR)}, name, closedSurface=False)

    def resolveSide(self, side: str, apRadiograph, latRadiograph) -> tuple:
        """('left' / 'right', where it came from): ``side`` itself ("given"), or for 'auto' the DICOM laterality of
        the loaded files; (None, "") when they do not say it (the run reads it from the images, or stops and asks)."""
        from FemurRegistrationLib.radiographs import resolveSideAndSource

        paths = [self.sourceFileForVolume(node) for node in (apRadiograph, latRadiograph)]
        return resolveSideAndSource(side, [path for path in paths if path])

    def process(self, apRadiograph, latRadiograph, apGeometry, latGeometry, apMask=None, latMask=None,
                reference=None, side: str = "auto", refine: bool = False, device: str = "auto",
                progressCallback: Optional[Callable[[float, str], None]] = None,
                abortFlag: Optional[Callable[[], bool]] = None, **outputs) -> dict:
        """Register the femur atlas; return the output nodes keyed by output parameter name.

        :param apRadiograph, latRadiograph: the radiographs (``vtkMRMLScalarVolumeNode``).
        :param apGeometry, latGeometry: their ``CArmGeometry``.
        :param apMask, latMask: femur masks on the radiographs (segmentation or labelmap nodes); without one a
            proposal is used and a warning is added to the readouts.
        :param reference: optional reference femur segmentation (patient RAS) for Dice / surface distance.
        :param side: "auto" (DICOM laterality of the files, else the femur's shape in the images; neither clear:
            ValueError asking for it), "left" or "right".
        :param refine: refine the network's result iteratively against the radiographs (off by default).
        :param device: "auto" (CUDA when usable), "cpu" or "cuda".
        :param outputs: nodes to fill, keyed as ``OUTPUTS`` (outputVolume, outputSegmentation, outputModel,
            outputTransform, outputLandmarks, outputTable, outputApOutline, outputLatOutline); missing or None
            ones are created.
        :param progressCallback: called with (fraction 0-1, message) to show progress.
        :param abortFlag: returns True when the user asked to stop (the one way to cancel).
        :raises ValueError: no bundled model, or invalid inputs.
        """
        from FemurRegistrationLib.nodeinputs import inputsProblem

        self.requireModel()
        problem = inputsProblem(apRadiograph, latRadiograph)
        if problem:
            raise ValueError(problem)
        if apGeometry is None or latGeometry is None:
            raise ValueError(_("The projection geometry of both radiographs is required."))
        self.checkChoice("device", device, DEVICES)
        self.checkChoice("side", side, SIDES)
        unknown = sorted(set(outputs) - set(OUTPUTS))
        if unknown:
            raise TypeError(f"unknown outputs: {unknown}")

        from FemurRegistrationLib.pipeline import run

        requested = {name: outputs.get(name) for name in OUTPUTS}
        side, sideSource = self.resolveSide(side, apRadiograph, latRadiograph)
        return self.runPipeline(
            run, requested, progressCallback, abortFlag, apRadiograph=apRadiograph, latRadiograph=latRadiograph,
            apGeometry=apGeometry, latGeometry=latGeometry, apMask=apMask, latMask=latMask, reference=reference,
            side=side, sideSource=sideSource, refine=bool(refine), device=device)


#
# FemurRegistrationTest
#


class FemurRegistrationTest(ReconModuleTest):
    """Self-test: runs inside Slicer (Reload and Test, or ctest)."""

    def test_module(self):
        self.delayDisplay("Starting the test")
        logic = FemurRegistrationLogic()
        available = self.checkModelStatus(logic, lambda: logic.process(None, None, None, None))
        self.checkIsocenterProjection()
        if available:
            self._registerSampleCase(logic)
        self.delayDisplay("Test passed")

    def _registerSampleCase(self, logic):
        """The bundled oblique case (a left femur) loaded by Sample Data as a user loads it, its geometry and side
        found as the widget finds them, through the same calls the buttons make (proposed masks, reference)."""
        import numpy as np

        from FemurRegistrationLib.samples import sampleFiles
        from ReconCoreLib import runtime
        from ReconCoreLib.xrayio import readXrayGeometry

        self.installDependencies()
        apNode, latNode, reference = self.loadSampleData("FemurOblique")
        nodes = [apNode, latNode]
        files = sampleFiles("FemurOblique")
        parameterNode = logic.getParameterNode().parameterNode
        geometries = []
        for node, key in zip(nodes, ("ap", "lat")):
            self.assertEqual(logic.sourceFileForVolume(node), str(files[key]))
            values, message = logic.viewGeometryToFill(parameterNode, f"{key}Geometry", node)
            expected = readXrayGeometry(files[key])
            self.assertIsNotNone(values, message)
            self.assertAlmostEqual(values["pixelSpacingMm"], 0.4)  # the file's, not the widget's default
            self.assertAlmostEqual(values["primaryAngleDeg"], expected.primaryAngleDeg)
            geometries.append(expected)
        self.assertEqual(logic.resolveSide("auto", apNode, latNode), ("left", "DICOM ImageLaterality"))
        masks = [logic.proposeMask(node) for node in nodes]
        outputs = logic.process(nodes[0], nodes[1], geometries[0], geometries[1], apMask=masks[0], latMask=masks[1],
                                reference=reference, side="auto", device="cpu")
        self.assertEqual(outputs["outputVolume"].GetImageData().GetDimensions(), (128, 112, 160))
        self.assertGreater(outputs["outputModel"].GetPolyData().GetNumberOfPoints(), 100)
        self.assertEqual(outputs["outputLandmarks"].GetNumberOfControlPoints(), 7)
        values = {row["readout"]: row["value"] for row in runtime.rowsFromTableNode(outputs["outputTable"])}
        self.assertGreater(float(values["dice"]), 0.5)
        self.assertGreater(float(values["min_jacobian"]), 0.0)
        outline, _, _ = runtime.labelmapFromSegmentation(outputs["outputApOutline"], nodes[0])
        self.assertEqual(outline.shape, (1, 512, 512))  # on the radiograph's own grid
        self.assertGreater(int(np.count_nonzero(outline)), 1000)
        self.assertTrue(np.isfinite(float(values["head_diameter_mm"])))

"""EchoRecon: 3D heart (chambers, LV volumes, ejection fraction) from six 2D echocardiography views."""

from typing import Annotated, Callable, Optional

import slicer
from slicer import (
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLTableNode,
)
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from ReconCore import ReconWidgetMixin

DEVICES = ("auto", "cpu", "cuda")
#: The six standard views S2MNet takes: apical 4-, 2- and 3-chamber; basal, mid-cavity and apical short axis.
VIEW_KEYS = ("A4C", "A2C", "A3C", "SAXB", "SAXM", "SAXA")
PHASES = ("ed", "es")
#: Output parameter -> (MRML class, default node name).
OUTPUTS = {
    "outputEdSegmentation": ("vtkMRMLSegmentationNode", "HeartED"),
    "outputEsSegmentation": ("vtkMRMLSegmentationNode", "HeartES"),
    "outputTable": ("vtkMRMLTableNode", "HeartReadouts"),
}


#
# EchoRecon
#


class EchoRecon(ScriptedLoadableModule):
    """Uses ScriptedLoadableModule base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Echo Recon")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Reconstruction")]
        self.parent.dependencies = ["ReconCore"]
        self.parent.contributors = ["Recon2Dto3D developers"]
        self.parent.helpText = _("""
Reconstructs a 3D heart (one segment per chamber) from six standard 2D echocardiography views: apical
4-chamber, 2-chamber and 3-chamber, and basal, mid-cavity and apical short axis. With the end-diastolic frames
it gives the end-diastolic heart and LV end-diastolic volume; adding the six end-systolic frames gives the
end-systolic heart, LV end-systolic volume and the ejection fraction (readouts table).
Outputs: one model per structure (LV cavity, LV myocardium, RV, LA, RA, aortic root), a segmentation made from
those closed surfaces, and readouts (LV EDV, ESV, stroke volume, EF, LV mass, biplane Simpson's volumes and EF
from the network's 2D segmentation, and for each view the Dice between the reconstructed heart cut by the
standard view plane and the heart segmented in the image).
Images: 2D echo frames (DICOM, PNG or NRRD; a cine loaded as one slice per frame takes the frame in the box
beside it). Pixel spacing comes from the file (DICOM, NRRD header, or the JSON sidecar of a PNG); each image is
resampled to the network's 128 x 128 input at the spacing it was trained with, keeping the aspect ratio.
2D echo does not tell where the heart is in the patient: the heart is placed with its mitral annulus centre at
the origin, in the orientation of the template heart.
<br><br>
Method: X. Gong, Y. Chen, S. Wu, F. Wang, P. Ma, W. Zhong, "S2MNet: Speckle-To-Mesh Net for
Three-Dimensional Cardiac Morphology Reconstruction via Echocardiogram", arXiv:2505.06105, 2025.
<br><br>
The trained model (Resources/Models/EchoRecon.pt) must be bundled with the extension: while it is not, the
module says so and Apply stays disabled; no reconstruction is ever faked.
See the <a href="https://github.com/recon2dto3d/Recon2Dto3D#echorecon">module documentation</a>.
""")
        self.parent.acknowledgementText = _("""
Developed by the Recon2Dto3D developers. The method is S2MNet by Gong et al. (University of Georgia, Harvard
University, Beijing Hospital). The heart template is case 01 of the four-chamber meshes of C. Rodero et al.,
PLoS Comput Biol 17(4):e1008851, 2021 (CC-BY-4.0). Module layout follows the 3D Slicer scripted module template.
""")
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    """Add the two bundled synthetic patients (six views at ED and ES, PNG + JSON sidecar) to Sample Data."""
    from pathlib import Path

    import SampleData
    from EchoReconLib.pipeline import SAMPLE_SHA256, sampleCases

    moduleDir = Path(__file__).resolve().parent
    for patient, phases in sampleCases().items():
        images = [path for paths in phases.values() for path in paths.values()]
        files = [path.with_suffix(".json") for path in images] + images  # sidecars first, beside the images
        SampleData.SampleDataLogic.registerCustomSampleDataSource(
            category="EchoRecon", sampleName=patient,
            thumbnailFileName=str(moduleDir / "Resources" / "Icons" / "EchoRecon.png"),
            uris=[path.as_uri() for path in files], fileNames=[path.name for path in files],
            checksums=[f"SHA256:{SAMPLE_SHA256[path.name]}" for path in files],
            nodeNames=[None] * len(images) + [path.stem.replace("_", " ") for path in images],
            loadFiles=[False] * len(images) + [True] * len(images))


#
# EchoReconParameterNode
#


@parameterNodeWrapper
class EchoReconParameterNode:
    """
    ed<View>, es<View> - end-diastolic and end-systolic frame of each view (2D images), <View> in VIEW_KEYS.
    ed<View>Frame, es<View>Frame - the frame to use when that image is a cine (one slice per frame).
    useEndSystole - also reconstruct end-systole (end-systolic volume and ejection fraction).
    device - auto (CUDA when usable), cpu or cuda.
    outputEdSegmentation, outputEsSegmentation - 3D heart at end-diastole / end-systole (RAS mm, mitral annulus
        centre at the origin); one model per structure is referenced by each (EchoReconLogic.modelNodes).
    outputTable - readouts: LV EDV, ESV, SV (mL), EF (%), LV mass (g), chamber volumes, per-view Dice.
    """

    edA4C: vtkMRMLScalarVolumeNode
    edA2C: vtkMRMLScalarVolumeNode
    edA3C: vtkMRMLScalarVolumeNode
    edSAXB: vtkMRMLScalarVolumeNode
    edSAXM: vtkMRMLScalarVolumeNode
    edSAXA: vtkMRMLScalarVolumeNode
    esA4C: vtkMRMLScalarVolumeNode
    esA2C: vtkMRMLScalarVolumeNode
    esA3C: vtkMRMLScalarVolumeNode
    esSAXB: vtkMRMLScalarVolumeNode
    esSAXM: vtkMRMLScalarVolumeNode
    esSAXA: vtkMRMLScalarVolumeNode
    edA4CFrame: Annotated[int, WithinRange(0, 100000)] = 0
    edA2CFrame: Annotated[int, WithinRange(0, 100000)] = 0
    edA3CFrame: Annotated[int, WithinRange(0, 100000)] = 0
    edSAXBFrame: Annotated[int, WithinRange(0, 100000)] = 0
    edSAXMFrame: Annotated[int, WithinRange(0, 100000)] = 0
    edSAXAFrame: Annotated[int, WithinRange(0, 100000)] = 0
    esA4CFrame: Annotated[int, WithinRange(0, 100000)] = 0
    esA2CFrame: Annotated[int, WithinRange(0, 100000)] = 0
    esA3CFrame: Annotated[int, WithinRange(0, 100000)] = 0
    esSAXBFrame: Annotated[int, WithinRange(0, 100000)] = 0
    esSAXMFrame: Annotated[int, WithinRange(0, 100000)] = 0
    esSAXAFrame: Annotated[int, WithinRange(0, 100000)] = 0
    useEndSystole: bool = True
    device: Annotated[str, Choice(list(DEVICES))] = "auto"
    outputEdSegmentation: vtkMRMLSegmentationNode
    outputEsSegmentation: vtkMRMLSegmentationNode
    outputTable: vtkMRMLTableNode


def _phaseViews(parameters, phase: str) -> dict:
    """{view key: volume node or None} of one phase ("ed" or "es") of the parameter node."""
    return {key: getattr(parameters, phase + key) for key in VIEW_KEYS}


def _phaseFrames(parameters, phase: str) -> dict:
    """{view key: frame index} of one phase of the parameter node."""
    return {key: getattr(parameters, phase + key + "Frame") for key in VIEW_KEYS}


#
# EchoReconWidget
#


class EchoReconWidget(ReconWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    The life cycle, Apply/Cancel and progress handling come from ``ReconCore.ReconWidgetMixin``.
    """

    def _createLogic(self):
        return EchoReconLogic()

    def setup(self) -> None:
        ReconWidgetMixin.setup(self)
        self.ui.assignViewsButton.connect("clicked(bool)", self.onAssignViewsButton)

    def onAssignViewsButton(self) -> None:
        """Fill the view selectors from the loaded images whose file (JSON sidecar) or name says view and phase."""
        with slicer.util.tryWithErrorDisplay(_("Assigning the views failed."), waitCursor=True):
            assigned = self.logic.assignViews(self._parameterNode)
            slicer.util.showStatusMessage(_("{count} views assigned.").format(count=assigned), 3000)

    def _inputsProblem(self, parameters) -> Optional[str]:
        phases = (("ed", _("end-diastolic")), ("es", _("end-systolic")))
        for phase, phaseName in phases if parameters.useEndSystole else phases[:1]:
            views = _phaseViews(parameters, phase)
            missing = [key for key, node in views.items() if not node]
            if missing:
                reason = _("Select the {phase} frame of these views: {views}.").format(
                    phase=phaseName, views=", ".join(missing))
                if phase == "es":
                    reason += " " + _("Or untick 'Use end-systole' to reconstruct end-diastole only.")
                return reason
            for key, frame in _phaseFrames(parameters, phase).items():
                image = views[key].GetImageData()
                frames = image.GetDimensions()[2] if image is not None else 0
                if frames > 1 and frame >= frames:  # the frame of a single image is ignored
                    return _("The {phase} {view} cine has {count} frames: choose a frame from 0 to {last}.").format(
                        phase=phaseName, view=key, count=frames, last=frames - 1)
        return None

    def _applyToolTip(self) -> str:
        return _("Reconstruct the 3D heart from the six views.")

    def _updateWidgets(self) -> None:
        self.ui.assignViewsButton.enabled = not self._busy
        if self._parameterNode:
            self.ui.esGroupBox.enabled = self._parameterNode.useEndSystole

    def onApplyButton(self) -> None:
        self._runApply(_("Heart reconstruction failed."), _("Reconstruction cancelled."), self._process)

    def _process(self, core, parameters) -> dict:
        endSystole = parameters.useEndSystole
        outputs = self.logic.process(
            _phaseViews(parameters, "ed"), _phaseViews(parameters, "es") if endSystole else None,
            device=parameters.device, endDiastoleFrames=_phaseFrames(parameters, "ed"),
            endSystoleFrames=_phaseFrames(parameters, "es") if endSystole else None,
            **{name: getattr(parameters, name) for name in OUTPUTS},
            progressCallback=self.onProgress, abortFlag=lambda: self._abortRequested)
        threeDWidget = slicer.app.layoutManager().threeDWidget(0) if slicer.app.layoutManager() else None
        if threeDWidget is not None:  # the models are coloured by structure; centre the view on the heart
            threeDWidget.threeDView().resetFocalPoint()
        return outputs


#
# EchoReconLogic
#


class EchoReconLogic(ScriptedLoadableModuleLogic):
    """Six-view echocardiography to 3D heart; a thin facade over ``EchoReconLib`` (the computation, no Qt).

    The network is S2MNet (Gong et al., arXiv:2505.06105); it runs only when its trained weights are bundled in
    ``Resources/Models``. Views are keyed by ``VIEW_KEYS``; volumes are reported in mL, the ejection fraction in %.

    Outputs are in RAS (mm) with the heart's mitral annulus centre at the origin: 2D echo does not locate the heart
    in the patient, so the heart frame of the template is placed at the origin in the template's anatomical
    orientation (``EchoReconLib.pipeline.heartToRas``); volumes, EF and mass do not depend on that placement.

    Console example (Slicer Python console)::

        import EchoRecon, ReconCore
        ReconCore.ReconCoreLogic().ensureDependencies()
        logic = EchoRecon.EchoReconLogic()
        print(logic.modelAvailable())
        ed = {key: slicer.util.loadVolume(f"/data/patient01/ED_{key}.nrrd") for key in EchoRecon.VIEW_KEYS}
        es = {key: slicer.util.loadVolume(f"/data/patient01/ES_{key}.nrrd") for key in EchoRecon.VIEW_KEYS}
        outputs = logic.process(ed, es, device="auto")
        print(slicer.util.dataframeFromTable(outputs["outputTable"]))
        models = logic.modelNodes(outputs["outputEdSegmentation"])  # {structure: model node}
    """

    def __init__(self, scene=None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.scene = scene if scene is not None else slicer.mrmlScene

    def getParameterNode(self):
        return EchoReconParameterNode(super().getParameterNode())

    def modelAvailable(self) -> tuple[bool, str]:
        """(True, model path) when the trained model is bundled, else (False, a plain statement why not)."""
        try:
            from ReconCoreLib.models import findBundledModel
        except ImportError as error:
            return False, _("EchoRecon cannot look for its model: ReconCoreLib is not importable ({error}).").format(
                error=error)
        path = findBundledModel("EchoRecon")
        if path is None:
            return False, _("The trained EchoRecon model is not bundled with this version of the extension yet, "
                            "so no reconstruction can be computed.")
        return True, str(path)

    @staticmethod
    def _checkViews(views, phaseName: str) -> None:
        if not isinstance(views, dict) or set(views) != set(VIEW_KEYS):
            raise ValueError(_("The {phase} views must be given as a dict with keys {keys}.").format(
                phase=phaseName, keys=", ".join(VIEW_KEYS)))
        missing = [key for key in VIEW_KEYS if views[key] is None]
        if missing:
            raise ValueError(_("Missing {phase} views: {views}.").format(phase=phaseName, views=", ".join(missing)))
        if len({node.GetID() for node in views.values()}) != len(VIEW_KEYS):
            raise ValueError(_("Each {phase} view must be a different image.").format(phase=phaseName))

    def assignViews(self, parameters) -> int:
        """Set the view parameters from the scene's volumes that say which view and phase they are (the JSON
        sidecar of their file, else words of their name such as "ED A4C"); returns how many were assigned."""
        from EchoReconLib.pipeline import viewAndPhaseOfNode

        assigned = 0
        with slicer.util.NodeModify(parameters):
            for node in self.scene.GetNodesByClass("vtkMRMLScalarVolumeNode"):
                if node.IsA("vtkMRMLLabelMapVolumeNode"):
                    continue
                view, phase = viewAndPhaseOfNode(node)
                if view and phase:
                    setattr(parameters, phase.lower() + view, node)
                    assigned += 1
        return assigned

    def modelNodes(self, segmentation) -> dict:
        """{structure: model node} made with an output segmentation (coloured by structure)."""
        from EchoReconLib.pipeline import modelNodesOf

        return modelNodesOf(segmentation)

    def process(self, endDiastole: dict, endSystole: Optional[dict] = None, device: str = "auto",
                outputEdSegmentation=None, outputEsSegmentation=None, outputTable=None,
                endDiastoleFrames: Optional[dict] = None, endSystoleFrames: Optional[dict] = None,
                progressCallback: Optional[Callable[[float, str], None]] = None,
                abortFlag: Optional[Callable[[], bool]] = None) -> dict:
        """Reconstruct the heart; return the output nodes keyed by output parameter name.

        :param endDiastole: {view key: ``vtkMRMLScalarVolumeNode``} for every key of ``VIEW_KEYS``.
        :param endSystole: the same at end-systole, or None (then no end-systolic heart, ESV or EF).
        :param endDiastoleFrames, endSystoleFrames: {view key: frame} for images that are cines (one slice per
            frame); a cine without its frame is refused.
        :param device: "auto" (CUDA when usable), "cpu" or "cuda".
        :param outputEdSegmentation, outputEsSegmentation, outputTable: nodes to fill; new ones are created when
            None (the end-systolic one only with ``endSystole``).
        :param progressCallback: called with (fraction 0-1, message); may raise to stop.
        :param abortFlag: returns True when the user asked to stop.
        :raises ValueError: no bundled model, or invalid inputs (the message names the view and the problem).
        :raises InterruptedError: cancelled through ``progressCallback`` or ``abortFlag``.
        """
        available, message = self.modelAvailable()
        if not available:
            raise ValueError(message)
        self._checkViews(endDiastole, _("end-diastolic"))
        if endSystole is not None:
            self._checkViews(endSystole, _("end-systolic"))
        if device not in DEVICES:
            raise ValueError(_("device must be one of {choices}, got {value!r}").format(choices=DEVICES, value=device))

        from EchoReconLib.pipeline import run
        from ReconCoreLib.runtime import runModulePipeline

        requested = {"outputEdSegmentation": outputEdSegmentation, "outputTable": outputTable}
        if endSystole is not None:  # an end-systolic segmentation only when end-systolic views are given
            requested["outputEsSegmentation"] = outputEsSegmentation
        outputs = runModulePipeline(self.scene, "EchoRecon", run, OUTPUTS, requested, endDiastole=endDiastole,
                                    endSystole=endSystole, device=device, endDiastoleFrames=endDiastoleFrames,
                                    endSystoleFrames=endSystoleFrames, progressCallback=progressCallback,
                                    abortFlag=abortFlag)
        return outputs


#
# EchoReconTest
#


class EchoReconTest(ScriptedLoadableModuleTest):
    """Self-test: runs inside Slicer (Reload and Test, or ctest)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_EchoRecon1()

    def test_EchoRecon1(self):
        self.delayDisplay("Starting the test")
        logic = EchoReconLogic()
        available, message = logic.modelAvailable()
        self.assertIsInstance(available, bool)
        self.assertIsInstance(message, str)
        self.assertTrue(message)
        if not available:
            with self.assertRaises(ValueError):  # no model: an honest error, never a fake result
                logic.process({})

        parameters = logic.getParameterNode()
        for phase in PHASES:
            self.assertEqual(set(_phaseViews(parameters, phase)), set(VIEW_KEYS))
            self.assertEqual(set(_phaseFrames(parameters, phase).values()), {0})
        if available:
            self._reconstructSamplePatient(logic, parameters)
        self.delayDisplay("Test passed")

    def _reconstructSamplePatient(self, logic, parameters):
        """The bundled normal patient, loaded from its files, assigned by its sidecars, through the Apply call."""
        from EchoReconLib.pipeline import sampleCases

        for paths in sampleCases()["EchoNormal"].values():
            for path in paths.values():
                slicer.util.loadVolume(str(path), {"singleFile": True, "show": False})
        self.assertEqual(logic.assignViews(parameters), 2 * len(VIEW_KEYS))
        outputs = logic.process(_phaseViews(parameters, "ed"), _phaseViews(parameters, "es"), device="cpu")
        self.assertEqual(set(outputs), set(OUTPUTS))
        models = logic.modelNodes(outputs["outputEdSegmentation"])
        self.assertEqual(len(models), 6)
        self.assertGreater(models["LV cavity"].GetPolyData().GetNumberOfPoints(), 100)
        values = {outputs["outputTable"].GetCellText(row, 0): outputs["outputTable"].GetCellText(row, 1)
                  for row in range(outputs["outputTable"].GetNumberOfRows())}
        self.assertGreater(float(values["lv_edv_ml"]), float(values["lv_esv_ml"]))
        self.assertTrue(0.0 < float(values["lv_ef_percent"]) < 100.0)

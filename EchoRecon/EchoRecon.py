"""EchoRecon: 3D heart (chambers, LV volumes, ejection fraction) from two to six 2D echocardiography views."""

from typing import Annotated, Callable, Optional

import slicer
from slicer import (
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLTableNode,
)
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper, parameterPack
from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleWidget
from slicer.util import VTKObservationMixin

from EchoReconLib.conventions import VIEWS as VIEW_KEYS
from ReconCoreLib.conventions import DEVICES
from ReconCoreSlicer import ReconLogicBase, ReconModuleTest, ReconWidgetMixin
from ReconCoreSlicer import registerSampleData as registerModuleSampleData

#: Parameter node fields of the two phases (end-diastole, end-systole).
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
Reconstructs a 3D heart (one segment per chamber) from standard 2D echocardiography views: apical 4-chamber and
2-chamber (required), and any of apical 3-chamber and basal, mid-cavity and apical short axis. With the
end-diastolic frames it gives the end-diastolic heart and LV end-diastolic volume; adding the end-systolic frames
of the same views gives the end-systolic heart, LV end-systolic volume and the ejection fraction (readouts
table), each with its 90 % interval for the views used: fewer views, wider intervals.
Outputs: one model per structure (LV cavity, LV myocardium, RV, LA, RA, aortic root), a segmentation made from
those closed surfaces, and readouts (LV EDV, ESV, stroke volume, EF, LV mass, biplane Simpson's volumes and EF
from the network's 2D segmentation, and for each view the Dice between the reconstructed heart cut by the
standard view plane and the heart segmented in the image).
Over each input image, in the slice views, the reconstructed heart cut by that view's standard plane is shown as
outlines on the image's own pixels and frame (segmentations such as "A4C ED mesh cut", as in summary.png).
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
See the
<a href="https://github.com/recon2dto3d/SlicerRecon2Dto3D#tutorial-echorecon-on-the-bundled-sample-patients">module
documentation</a>.
""")
        self.parent.acknowledgementText = _("""
Developed by the Recon2Dto3D developers. The method is S2MNet by Gong et al. (University of Georgia, Harvard
University, Beijing Hospital). The heart template is case 01 of the four-chamber meshes of C. Rodero et al.,
PLoS Comput Biol 17(4):e1008851, 2021 (CC-BY-4.0). Module layout follows the 3D Slicer scripted module template.
""")
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    """Add the two bundled synthetic patients (six views at ED and ES, PNG + JSON sidecar) to Sample Data."""
    registerModuleSampleData("EchoRecon", __file__)


#
# EchoReconParameterNode
#


@parameterPack
class EchoPhaseViews:
    """The six views of one phase (fields named as ``EchoReconLib.conventions.VIEWS``): each a 2D image (a cine as one
    slice per frame), and ``<view>Frame`` the frame to use when that image is a cine. In a .ui file a widget binds to
    a field as ``<phase>.<field>``, e.g. ``ed.A4C``, ``es.SAXMFrame``."""

    A4C: vtkMRMLScalarVolumeNode
    A2C: vtkMRMLScalarVolumeNode
    A3C: vtkMRMLScalarVolumeNode
    SAXB: vtkMRMLScalarVolumeNode
    SAXM: vtkMRMLScalarVolumeNode
    SAXA: vtkMRMLScalarVolumeNode
    A4CFrame: Annotated[int, WithinRange(0, 100000)] = 0
    A2CFrame: Annotated[int, WithinRange(0, 100000)] = 0
    A3CFrame: Annotated[int, WithinRange(0, 100000)] = 0
    SAXBFrame: Annotated[int, WithinRange(0, 100000)] = 0
    SAXMFrame: Annotated[int, WithinRange(0, 100000)] = 0
    SAXAFrame: Annotated[int, WithinRange(0, 100000)] = 0


@parameterNodeWrapper
class EchoReconParameterNode:
    """
    ed, es - the six views of the end-diastolic and of the end-systolic frame (``EchoPhaseViews``: an image and, for
        a cine, the frame of each view).
    useEndSystole - also reconstruct end-systole (end-systolic volume and ejection fraction).
    device - auto (CUDA when usable), cpu or cuda.
    outputEdSegmentation, outputEsSegmentation - 3D heart at end-diastole / end-systole (RAS mm, mitral annulus
        centre at the origin); one model per structure is referenced by each (EchoReconLogic.modelNodes).
    outputTable - readouts: LV EDV, ESV, SV (mL), EF (%), LV mass (g), chamber volumes, per-view Dice.
    """

    ed: EchoPhaseViews
    es: EchoPhaseViews
    useEndSystole: bool = True
    device: Annotated[str, Choice(list(DEVICES))] = "auto"
    outputEdSegmentation: vtkMRMLSegmentationNode
    outputEsSegmentation: vtkMRMLSegmentationNode
    outputTable: vtkMRMLTableNode


def _phaseViews(parameters, phase: str) -> dict:
    """{view key: volume node or None} of one phase ("ed" or "es") of the parameter node."""
    views = getattr(parameters, phase)
    return {key: getattr(views, key) for key in VIEW_KEYS}


def _phaseFrames(parameters, phase: str) -> dict:
    """{view key: frame index} of one phase of the parameter node."""
    views = getattr(parameters, phase)
    return {key: getattr(views, key + "Frame") for key in VIEW_KEYS}


#
# EchoReconWidget
#


class EchoReconWidget(ReconWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    The life cycle, Apply/Cancel and progress handling come from ``ReconCoreSlicer.ReconWidgetMixin``.
    """

    def _createLogic(self):
        return EchoReconLogic()

    def setup(self) -> None:
        ReconWidgetMixin.setup(self)
        self.ui.assignViewsButton.connect("clicked(bool)", self.onAssignViewsButton)
        self.ui.findFramesButton.connect("clicked(bool)", self.onFindFramesButton)

    def onFindFramesButton(self) -> None:
        """Set each cine's end-diastolic and end-systolic frame from its LV area curve (the end-diastolic image
        becomes the end-systolic one too)."""
        with slicer.util.tryWithErrorDisplay(_("Finding the frames failed."), waitCursor=True):
            frames = self.logic.findCineFrames(self._parameterNode)
            slicer.util.showStatusMessage(_("Frames found in {count} cines.").format(count=len(frames)), 3000)

    def onAssignViewsButton(self) -> None:
        """Fill the view selectors from the loaded images whose file (JSON sidecar) or name says view and phase."""
        with slicer.util.tryWithErrorDisplay(_("Assigning the views failed."), waitCursor=True):
            assigned = self.logic.assignViews(self._parameterNode)
            slicer.util.showStatusMessage(_("{count} views assigned.").format(count=assigned), 3000)

    def _applyToolTip(self) -> str:
        return _("Reconstruct the 3D heart from the views selected (A4C and A2C at least).")

    def _updateWidgets(self) -> None:
        self.ui.assignViewsButton.enabled = not self._busy
        self.ui.findFramesButton.enabled = not self._busy
        if self._parameterNode:
            self.ui.esGroupBox.enabled = self._parameterNode.useEndSystole

    def onApplyButton(self) -> None:
        self._runApply(_("Heart reconstruction failed."), _("Reconstruction cancelled."), self._process)

    def _process(self, parameters) -> dict:
        endSystole = parameters.useEndSystole
        outputs = self.logic.process(
            _phaseViews(parameters, "ed"), _phaseViews(parameters, "es") if endSystole else None,
            device=parameters.device, endDiastoleFrames=_phaseFrames(parameters, "ed"),
            endSystoleFrames=_phaseFrames(parameters, "es") if endSystole else None,
            **{name: getattr(parameters, name) for name in OUTPUTS},
            progressCallback=self.onProgress, abortFlag=self.abortRequested)
        threeDWidget = slicer.app.layoutManager().threeDWidget(0) if slicer.app.layoutManager() else None
        if threeDWidget is not None:  # the models are coloured by structure; centre the view on the heart
            threeDWidget.threeDView().resetFocalPoint()
        return outputs


#
# EchoReconLogic
#


class EchoReconLogic(ReconLogicBase):
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

    parameterNodeClass = EchoReconParameterNode
    OUTPUTS = OUTPUTS

    def inputsProblem(self, parameters) -> Optional[str]:
        """Why the selected views cannot be reconstructed (``EchoReconLib.nodeinputs``), or None."""
        from EchoReconLib.nodeinputs import inputsProblem

        phases = ("ed", "es") if parameters.useEndSystole else ("ed",)
        return inputsProblem({phase.upper(): _phaseViews(parameters, phase) for phase in phases},
                             {phase.upper(): _phaseFrames(parameters, phase) for phase in phases})

    @staticmethod
    def _checkViews(views, phaseName: str) -> None:
        """A dict keyed by view keys; which views must be given, and that each is its own image, is
        ``EchoReconLib.nodeinputs.inputsProblem``'s to say."""
        if not isinstance(views, dict) or not set(views) <= set(VIEW_KEYS):
            raise ValueError(_("The {phase} views must be given as a dict with keys among {keys}.").format(
                phase=phaseName, keys=", ".join(VIEW_KEYS)))

    def assignViews(self, parameters) -> int:
        """Set the view parameters from the scene's volumes that say which view and phase they are (the JSON
        sidecar of their file, else words of their name such as "ED A4C"); returns how many were assigned."""
        from EchoReconLib.echoio import viewAndPhaseOfNode

        assigned = 0
        with slicer.util.NodeModify(parameters):
            for node in self.scene.GetNodesByClass("vtkMRMLScalarVolumeNode"):
                if node.IsA("vtkMRMLLabelMapVolumeNode"):
                    continue
                view, phase = viewAndPhaseOfNode(node)
                if view and phase:
                    setattr(getattr(parameters, phase.lower()), view, node)
                    assigned += 1
        return assigned

    def findCineFrames(self, parameters) -> dict:
        """For each end-diastolic view that is a cine: the frames where the LV cavity the network segments is largest
        (end-diastole) and smallest (end-systole) (``EchoReconLib.cinephases``); sets the frames, the same cine as the
        end-systolic view, and ticks end-systole. Returns {view key: (ED frame, ES frame)}."""
        from EchoReconLib.cinephases import findNodeCinePhases, networkSegmenter
        from ReconCoreLib.models import requireModel, resolveDevice

        device = resolveDevice(parameters.device)
        model = requireModel("EchoRecon").load(device)
        nodes = _phaseViews(parameters, "ed")
        phases = findNodeCinePhases(nodes, networkSegmenter(model, device))
        with slicer.util.NodeModify(parameters):
            for view in phases.endDiastole:
                setattr(parameters.ed, view + "Frame", phases.endDiastole[view])
                setattr(parameters.es, view, nodes[view])
                setattr(parameters.es, view + "Frame", phases.endSystole[view])
            parameters.useEndSystole = True
        return {view: (phases.endDiastole[view], phases.endSystole[view]) for view in phases.endDiastole}

    def modelNodes(self, segmentation) -> dict:
        """{structure: model node} made with an output segmentation (coloured by structure)."""
        from EchoReconLib.outputs import modelNodesOf

        return modelNodesOf(segmentation)

    def process(self, endDiastole: dict, endSystole: Optional[dict] = None, device: str = "auto",
                outputEdSegmentation=None, outputEsSegmentation=None, outputTable=None,
                endDiastoleFrames: Optional[dict] = None, endSystoleFrames: Optional[dict] = None,
                progressCallback: Optional[Callable[[float, str], None]] = None,
                abortFlag: Optional[Callable[[], bool]] = None) -> dict:
        """Reconstruct the heart; return the output nodes keyed by output parameter name.

        :param endDiastole: {view key: ``vtkMRMLScalarVolumeNode``}: A4C and A2C, and any other keys of
            ``VIEW_KEYS`` the study has (a view absent or None is not used; fewer views widen the interval of the
            volumes and EF).
        :param endSystole: the same at end-systole, or None (then no end-systolic heart, ESV or EF).
        :param endDiastoleFrames, endSystoleFrames: {view key: frame} for images that are cines (one slice per
            frame); a cine without its frame is refused.
        :param device: "auto" (CUDA when usable), "cpu" or "cuda".
        :param outputEdSegmentation, outputEsSegmentation, outputTable: nodes to fill; new ones are created when
            None (the end-systolic one only with ``endSystole``).
        :param progressCallback: called with (fraction 0-1, message) to show progress.
        :param abortFlag: returns True when the user asked to stop (the one way to cancel).
        :raises ValueError: no bundled model, or invalid inputs (the message names the view and the problem).
        :raises InterruptedError: cancelled through ``progressCallback`` or ``abortFlag``.
        """
        from EchoReconLib.nodeinputs import inputsProblem

        self.requireModel()
        self._checkViews(endDiastole, _("end-diastolic"))
        if endSystole is not None:
            self._checkViews(endSystole, _("end-systolic"))
        self.checkChoice("device", device, DEVICES)
        phases = {"ED": endDiastole, **({"ES": endSystole} if endSystole is not None else {})}
        problem = inputsProblem(phases, {"ED": endDiastoleFrames or {}, "ES": endSystoleFrames or {}})
        if problem:
            raise ValueError(problem)

        from EchoReconLib.pipeline import run

        requested = {"outputEdSegmentation": outputEdSegmentation, "outputTable": outputTable}
        if endSystole is not None:  # an end-systolic segmentation only when end-systolic views are given
            requested["outputEsSegmentation"] = outputEsSegmentation
        return self.runPipeline(run, requested, progressCallback, abortFlag, endDiastole=endDiastole,
                                endSystole=endSystole, device=device, endDiastoleFrames=endDiastoleFrames,
                                endSystoleFrames=endSystoleFrames)


#
# EchoReconTest
#


class EchoReconTest(ReconModuleTest):
    """Self-test: runs inside Slicer (Reload and Test, or ctest)."""

    def test_module(self):
        self.delayDisplay("Starting the test")
        logic = EchoReconLogic()
        available = self.checkModelStatus(logic, lambda: logic.process({}))
        parameters = logic.getParameterNode()
        for phase in PHASES:
            self.assertEqual(set(_phaseViews(parameters, phase)), set(VIEW_KEYS))
            self.assertEqual(set(_phaseFrames(parameters, phase).values()), {0})
        if available:
            self._reconstructSamplePatient(logic, parameters)
        self.delayDisplay("Test passed")

    def _reconstructSamplePatient(self, logic, parameters):
        """The bundled normal patient loaded by Sample Data as a user loads it (one picture per file), assigned by
        its sidecars with their spacing, through the Apply call."""
        from EchoReconLib.echoio import echoImageFromVolumeNode

        self.installDependencies()
        nodes = self.loadSampleData("EchoNormal")
        self.assertEqual(len(nodes), 2 * len(VIEW_KEYS))
        for node in nodes:
            self.assertEqual(node.GetImageData().GetDimensions()[2], 1)  # not stacked with its neighbours
            spacing = echoImageFromVolumeNode(node).pixelSpacingMm
            self.assertAlmostEqual(spacing[0], 180.0 / 127, places=4)  # the sidecar's, not the PNG's 1 mm
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

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
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
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
University, Beijing Hospital). Module layout follows the 3D Slicer scripted module template.
""")


#
# EchoReconParameterNode
#


@parameterNodeWrapper
class EchoReconParameterNode:
    """
    ed<View>, es<View> - end-diastolic and end-systolic frame of each view (2D images), <View> in VIEW_KEYS.
    useEndSystole - also reconstruct end-systole (end-systolic volume and ejection fraction).
    device - auto (CUDA when usable), cpu or cuda.
    outputEdSegmentation, outputEsSegmentation - 3D heart at end-diastole / end-systole, patient RAS (mm).
    outputTable - chamber volumes (mL), LV EDV, ESV and EF.
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
    useEndSystole: bool = True
    device: Annotated[str, Choice(list(DEVICES))] = "auto"
    outputEdSegmentation: vtkMRMLSegmentationNode
    outputEsSegmentation: vtkMRMLSegmentationNode
    outputTable: vtkMRMLTableNode


def _phaseViews(parameters, phase: str) -> dict:
    """{view key: volume node or None} of one phase ("ed" or "es") of the parameter node."""
    return {key: getattr(parameters, phase + key) for key in VIEW_KEYS}


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

    def _inputsProblem(self, parameters) -> Optional[str]:
        phases = (("ed", _("end-diastolic")), ("es", _("end-systolic")))
        for phase, phaseName in phases if parameters.useEndSystole else phases[:1]:
            missing = [key for key, node in _phaseViews(parameters, phase).items() if not node]
            if missing:
                reason = _("Select the {phase} frame of these views: {views}.").format(
                    phase=phaseName, views=", ".join(missing))
                if phase == "es":
                    reason += " " + _("Or untick 'Use end-systole' to reconstruct end-diastole only.")
                return reason
        return None

    def _applyToolTip(self) -> str:
        return _("Reconstruct the 3D heart from the six views.")

    def _updateWidgets(self) -> None:
        if self._parameterNode:
            self.ui.esGroupBox.enabled = self._parameterNode.useEndSystole

    def onApplyButton(self) -> None:
        self._runApply(_("Heart reconstruction failed."), _("Reconstruction cancelled."), self._process)

    def _process(self, core, parameters) -> dict:
        return self.logic.process(
            _phaseViews(parameters, "ed"),
            _phaseViews(parameters, "es") if parameters.useEndSystole else None,
            device=parameters.device,
            **{name: getattr(parameters, name) for name in OUTPUTS},
            progressCallback=self.onProgress, abortFlag=lambda: self._abortRequested)


#
# EchoReconLogic
#


class EchoReconLogic(ScriptedLoadableModuleLogic):
    """Six-view echocardiography to 3D heart; a thin facade over ``EchoReconLib`` (the computation, no Qt).

    The network is S2MNet (Gong et al., arXiv:2505.06105); it runs only when its trained weights are bundled in
    ``Resources/Models``. Views are keyed by ``VIEW_KEYS``; volumes are reported in mL, the ejection fraction in %.

    Console example (Slicer Python console)::

        import EchoRecon, ReconCore
        ReconCore.ReconCoreLogic().ensureDependencies()
        logic = EchoRecon.EchoReconLogic()
        print(logic.modelAvailable())
        ed = {key: slicer.util.loadVolume(f"/data/patient01/ED_{key}.nrrd") for key in EchoRecon.VIEW_KEYS}
        es = {key: slicer.util.loadVolume(f"/data/patient01/ES_{key}.nrrd") for key in EchoRecon.VIEW_KEYS}
        outputs = logic.process(ed, es, device="auto")
        print(slicer.util.dataframeFromTable(outputs["outputTable"]))
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

    def process(self, endDiastole: dict, endSystole: Optional[dict] = None, device: str = "auto",
                outputEdSegmentation=None, outputEsSegmentation=None, outputTable=None,
                progressCallback: Optional[Callable[[float, str], None]] = None,
                abortFlag: Optional[Callable[[], bool]] = None) -> dict:
        """Reconstruct the heart; return the output nodes keyed by output parameter name.

        :param endDiastole: {view key: ``vtkMRMLScalarVolumeNode``} for every key of ``VIEW_KEYS``.
        :param endSystole: the same at end-systole, or None (then no end-systolic heart, ESV or EF).
        :param device: "auto" (CUDA when usable), "cpu" or "cuda".
        :param outputEdSegmentation, outputEsSegmentation, outputTable: nodes to fill; new ones are created when
            None (the end-systolic one only with ``endSystole``).
        :param progressCallback: called with (fraction 0-1, message); may raise to stop.
        :param abortFlag: returns True when the user asked to stop.
        :raises ValueError: no bundled model, or invalid inputs.
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
                                    endSystole=endSystole, device=device, progressCallback=progressCallback,
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
        for phase in ("ed", "es"):
            self.assertEqual(set(_phaseViews(parameters, phase)), set(VIEW_KEYS))
        self.delayDisplay("Test passed")

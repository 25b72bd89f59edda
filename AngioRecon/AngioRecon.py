"""AngioRecon: 3D coronary artery tree from two X-ray angiograms."""

from typing import Annotated, Callable, Optional

import slicer
from slicer import (
    vtkMRMLModelNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLTableNode,
)
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleWidget
from slicer.util import VTKObservationMixin

from AngioReconLib.conventions import TREES
from ReconCoreLib.conventions import DEVICES
from ReconCoreSlicer import CArmViewParameters, ReconLogicBase, ReconModuleTest, ReconWidgetMixin
from ReconCoreSlicer import registerSampleData as registerModuleSampleData

#: Output parameter -> (MRML class, default node name).
OUTPUTS = {
    "outputProbability": ("vtkMRMLScalarVolumeNode", "CoronaryProbability"),
    "outputSegmentation": ("vtkMRMLSegmentationNode", "CoronaryTree"),
    "outputModel": ("vtkMRMLModelNode", "CoronaryTreeModel"),
    "outputTable": ("vtkMRMLTableNode", "CoronaryReadouts"),
    "outputView1Overlay": ("vtkMRMLSegmentationNode", "CoronaryTreeOnView1"),
    "outputView2Overlay": ("vtkMRMLSegmentationNode", "CoronaryTreeOnView2"),
    "outputCenterlines": ("vtkMRMLModelNode", "CoronaryCenterlines"),
    "outputLesions": ("vtkMRMLTableNode", "CoronaryLesions"),
}


#
# AngioRecon
#


class AngioRecon(ScriptedLoadableModule):
    """Uses ScriptedLoadableModule base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Angio Recon")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Reconstruction")]
        self.parent.dependencies = ["ReconCore"]
        self.parent.contributors = ["Recon2Dto3D developers"]
        self.parent.helpText = _("""
Reconstructs the 3D coronary artery tree (left or right) from two X-ray angiograms taken at different C-arm
angles: a voxel probability map, the 3D centerlines with the lumen radius, the lumen as a segmentation and a surface
model, a lesion table (QCA: minimal lumen diameter, reference diameter, percent stenosis; click a row to centre the
slice views on it), a readouts table, and the tree re-projected onto each angiogram (shown over it in the slice
views).
The C-arm geometry of each view (primary and secondary angles, source-to-detector and source-to-patient
distances, detector pixel spacing) is read from DICOM or from a JSON sidecar when the image file has it,
otherwise entered by hand.
<br><br>
Method: L. Wang, D. Liang, X. Yin, J. Qiu, Z. Yang, J. Xing, J. Dong, Z. Ma, "Weakly-supervised 3D Coronary
Artery Reconstruction From Two-view Angiographic Images", arXiv:2003.11846, 2020.
<br><br>
The trained model (Resources/Models/AngioRecon.pt) must be bundled with the extension: while it is not, the
module says so and Apply stays disabled; no reconstruction is ever faked.
See the
<a href="https://github.com/recon2dto3d/SlicerRecon2Dto3D#tutorial-angiorecon-on-the-bundled-sample-cases">module
documentation</a>.
""")
        self.parent.acknowledgementText = _("""
Developed by the Recon2Dto3D developers. The method is that of Wang et al. (Tsinghua University, Beijing
Anzhen Hospital, First Affiliated Hospital of Zhengzhou University). Module layout follows the 3D Slicer
scripted module template.
""")
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    """Add the two bundled synthetic cases (left and right tree, two XA views each) to the Sample Data module."""
    registerModuleSampleData("AngioRecon", __file__)


#
# AngioReconParameterNode
#


@parameterNodeWrapper
class AngioReconParameterNode:
    """
    view1, view2 - the two angiograms (2D images or cine runs).
    view1Geometry, view2Geometry - their C-arm geometry (``CArmViewParameters``: angles in deg, LAO and cranial
        positive; source to detector and to isocenter, detector pixel size in mm).
    tree - which coronary tree the views show: "" until the user chooses (no silent default: the network reconstructs
        the tree it is told, so Apply waits for the choice).
    device - auto (CUDA when usable), cpu or cuda.
    outputProbability - voxel probability of coronary lumen (0-1), RAS.
    outputSegmentation, outputModel, outputTable - the lumen as a segmentation (0.5 mm voxels) and as a surface model
        (a tube of the measured radius around each centerline), and the readouts.
    outputView1Overlay, outputView2Overlay - the reconstructed tree projected onto each angiogram (segmentation on
        the angiogram's pixel grid, on the frame used).
    outputCenterlines - the 3D centerline of every branch (a model of lines, point data Radius in mm).
    outputLesions - every lesion, worst first (branch, distance from the ostium, MLD, reference diameter, percent
        diameter and area stenosis, length, position).
    """

    view1: vtkMRMLScalarVolumeNode
    view2: vtkMRMLScalarVolumeNode
    view1Geometry: CArmViewParameters = CArmViewParameters(30.0, 0.0, 1000.0, 750.0, 0.3)
    view2Geometry: CArmViewParameters = CArmViewParameters(-30.0, 0.0, 1000.0, 750.0, 0.3)
    tree: Annotated[str, Choice(["", *TREES])] = ""
    device: Annotated[str, Choice(list(DEVICES))] = "auto"
    outputProbability: vtkMRMLScalarVolumeNode
    outputSegmentation: vtkMRMLSegmentationNode
    outputModel: vtkMRMLModelNode
    outputTable: vtkMRMLTableNode
    outputView1Overlay: vtkMRMLSegmentationNode
    outputView2Overlay: vtkMRMLSegmentationNode
    outputCenterlines: vtkMRMLModelNode
    outputLesions: vtkMRMLTableNode


#
# AngioReconWidget
#


class AngioReconWidget(ReconWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    The life cycle, Apply/Cancel and progress handling come from ``ReconCoreSlicer.ReconWidgetMixin``.
    """

    _geometryViews = {"view1Geometry": "view1", "view2Geometry": "view2"}

    def _createLogic(self):
        return AngioReconLogic()

    def _applyToolTip(self) -> str:
        return _("Reconstruct the 3D coronary tree from the two views.")

    def setup(self) -> None:
        self._lesionsTable = None
        ReconWidgetMixin.setup(self)
        self.ui.lesionsTableView.connect("clicked(QModelIndex)", self.onLesionClicked)

    def _updateWidgets(self) -> None:
        table = self._parameterNode.outputLesions if self._parameterNode else None
        if table is not self._lesionsTable:  # setting it again would emit a selection change
            self._lesionsTable = table
            self.ui.lesionsTableView.setMRMLTableNode(table)

    def onLesionClicked(self, index) -> None:
        """Centre the slice views on the lesion of the clicked row (its minimal lumen diameter). The view may be
        sorted: its row is mapped to the table's."""
        row = self.ui.lesionsTableView.sortFilterProxyModel().mapToSource(index).row()
        location = self.logic.lesionLocationRas(self._lesionsTable, row)
        if location is not None:
            sliceNode = slicer.vtkMRMLSliceNode
            sliceNode.JumpAllSlices(slicer.mrmlScene, *location, sliceNode.CenteredJumpSlice)

    def onApplyButton(self) -> None:
        self._runApply(_("Coronary reconstruction failed."), _("Reconstruction cancelled."), self._process)

    def _process(self, parameters) -> dict:
        geometries = self._geometries()
        return self.logic.process(
            parameters.view1, parameters.view2, geometries["view1Geometry"], geometries["view2Geometry"],
            tree=parameters.tree, device=parameters.device,
            **{name: getattr(parameters, name) for name in OUTPUTS},
            progressCallback=self.onProgress, abortFlag=self.abortRequested)


#
# AngioReconLogic
#


class AngioReconLogic(ReconLogicBase):
    """Two-view coronary reconstruction; a thin facade over ``AngioReconLib`` (the computation, no Qt).

    The model is the network of Wang et al. (arXiv:2003.11846); it runs only when its trained weights are
    bundled in ``Resources/Models``. Geometry: ``ReconCoreLib.xraygeometry.CArmGeometry`` (angles in deg, LAO
    and cranial positive; distances in mm); outputs are in the patient RAS frame (mm).

    Console example (Slicer Python console)::

        import AngioRecon, ReconCore
        core = ReconCore.ReconCoreLogic()
        core.ensureDependencies()
        logic = AngioRecon.AngioReconLogic()
        print(logic.modelAvailable())
        view1 = slicer.util.loadVolume("/data/lca_rao30_cau25.dcm")
        view2 = slicer.util.loadVolume("/data/lca_lao45_cra20.dcm")
        outputs = logic.process(view1, view2,
                                logic.readGeometry("/data/lca_rao30_cau25.dcm"),
                                logic.readGeometry("/data/lca_lao45_cra20.dcm"),
                                tree="left", device="auto")
        slicer.util.saveNode(outputs["outputModel"], "/data/lca_tree.vtk")
    """

    parameterNodeClass = AngioReconParameterNode
    OUTPUTS = OUTPUTS

    def inputsProblem(self, parameters) -> Optional[str]:
        """Why the selected angiograms and tree cannot be reconstructed (``AngioReconLib.nodeinputs``), or None."""
        from AngioReconLib.nodeinputs import inputsProblem, treeProblem

        return inputsProblem(parameters.view1, parameters.view2) or treeProblem(parameters.tree)

    @staticmethod
    def lesionLocationRas(table, row: int):
        """(R, A, S) of the lesion in ``row`` of a lesions table (``outputLesions``), or None (no table, no such
        row)."""
        from AngioReconLib.qca import lesionLocationRas

        return lesionLocationRas(table, row)

    def process(self, view1, view2, geometry1, geometry2, tree: str, device: str = "auto",
                outputProbability=None, outputSegmentation=None, outputModel=None, outputTable=None,
                outputView1Overlay=None, outputView2Overlay=None, outputCenterlines=None, outputLesions=None,
                progressCallback: Optional[Callable[[float, str], None]] = None,
                abortFlag: Optional[Callable[[], bool]] = None) -> dict:
        """Reconstruct the coronary tree; return the output nodes keyed by output parameter name.

        :param view1: first angiogram (``vtkMRMLScalarVolumeNode``); ``geometry1`` its ``CArmGeometry``.
        :param view2: second angiogram; ``geometry2`` its ``CArmGeometry``.
        :param tree: "left" or "right": the injected tree (required, never assumed).
        :param device: "auto" (CUDA when usable), "cpu" or "cuda".
        :param outputProbability, outputSegmentation, outputModel, outputTable: nodes to fill; new ones are
            created when None.
        :param outputView1Overlay, outputView2Overlay: segmentation nodes to fill with the tree re-projected
            through each view's geometry, on that angiogram's pixel grid (the frame used); new ones when None.
        :param outputCenterlines, outputLesions: the centerline model and the lesions table to fill; new ones when
            None.
        :param progressCallback: called with (fraction 0-1, message) to show progress.
        :param abortFlag: returns True when the user asked to stop (the one way to cancel).
        :raises ValueError: no bundled model, or invalid inputs.
        """
        from AngioReconLib.nodeinputs import inputsProblem, treeProblem

        self.requireModel()
        problem = inputsProblem(view1, view2) or treeProblem(tree)
        if problem:
            raise ValueError(problem)
        if geometry1 is None or geometry2 is None:
            raise ValueError(_("The C-arm geometry of both views is required."))
        self.checkChoice("device", device, DEVICES)

        from AngioReconLib.pipeline import run

        requested = {"outputProbability": outputProbability, "outputSegmentation": outputSegmentation,
                     "outputModel": outputModel, "outputTable": outputTable,
                     "outputView1Overlay": outputView1Overlay, "outputView2Overlay": outputView2Overlay,
                     "outputCenterlines": outputCenterlines, "outputLesions": outputLesions}
        return self.runPipeline(run, requested, progressCallback, abortFlag, view1=view1, view2=view2,
                                geometry1=geometry1, geometry2=geometry2, tree=tree, device=device)


#
# AngioReconTest
#


class AngioReconTest(ReconModuleTest):
    """Self-test: runs inside Slicer (Reload and Test, or ctest)."""

    def test_module(self):
        self.delayDisplay("Starting the test")
        logic = AngioReconLogic()
        available = self.checkModelStatus(logic, lambda: logic.process(None, None, None, None, tree="left"))
        self.checkIsocenterProjection()
        if available:
            self._reconstructSampleCase(logic)
        self.delayDisplay("Test passed")

    def _reconstructSampleCase(self, logic):
        """The bundled left-tree case loaded by Sample Data as a user loads it, its geometry filled as the widget
        fills it, through the same call the Apply button makes."""
        from AngioReconLib.samples import sampleFiles
        from ReconCoreLib import runtime
        from ReconCoreLib.xrayio import readXrayGeometry

        self.installDependencies()
        nodes = self.loadSampleData("AngioLeft")
        self.assertEqual(len(nodes), 2)
        files = sampleFiles("AngioLeft")
        parameterNode = logic.getParameterNode().parameterNode
        geometries = []
        for node, key in zip(nodes, ("view1", "view2")):
            self.assertEqual(node.GetImageData().GetDimensions()[2], 3)  # the cine's frames, not the DICOM importer
            self.assertEqual(logic.sourceFileForVolume(node), str(files[key]))
            values, message = logic.viewGeometryToFill(parameterNode, f"{key}Geometry", node)
            expected = readXrayGeometry(files[key])
            self.assertIsNotNone(values, message)
            self.assertAlmostEqual(values["primaryAngleDeg"], expected.primaryAngleDeg)
            self.assertAlmostEqual(values["pixelSpacingMm"], expected.pixelSpacingMm[0])
            geometries.append(expected)
        outputs = logic.process(nodes[0], nodes[1], geometries[0], geometries[1], tree="left", device="cpu")
        self.assertEqual(outputs["outputProbability"].GetImageData().GetDimensions(), (64, 64, 64))
        self.assertGreater(outputs["outputModel"].GetPolyData().GetNumberOfPoints(), 0)
        self.assertGreater(outputs["outputTable"].GetNumberOfRows(), 5)
        self.assertGreater(outputs["outputCenterlines"].GetPolyData().GetNumberOfLines(), 0)
        self.assertIsNotNone(outputs["outputLesions"])
        for index, node in enumerate(nodes, 1):  # the tree over each view, on the cine's frame used
            overlay, _, _ = runtime.labelmapFromSegmentation(outputs[f"outputView{index}Overlay"], node)
            self.assertEqual(overlay.shape, runtime.arrayFromVolumeNode(node).shape)
            self.assertTrue(overlay.any())

"""ReconCore: hidden helper module of the Recon2Dto3D extension.

It holds what the AngioRecon, EchoRecon and FemurRegistration modules share: the headless library
``ReconCoreLib`` (X-ray geometry and I/O, projector, metrics, readouts, model registry, progress, command line; no
Qt), the Slicer-side module skeleton ``ReconCoreSlicer`` (logic base class, widget mixin, parameter packs, sample
data registration) and, here, installing the Python dependencies at first use.
"""

import os

import qt

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)

from ReconCoreSlicer.dependencies import Dependencies



#
# ReconCore
#


class ReconCore(ScriptedLoadableModule):
    """Uses ScriptedLoadableModule base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Recon2Dto3D Core")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Developer Tools")]
        self.parent.dependencies = []
        self.parent.hidden = True
        self.parent.contributors = ["Recon2Dto3D developers"]
        self.parent.helpText = _("""
Shared code of the Recon2Dto3D extension (AngioRecon, EchoRecon, FemurRegistration): C-arm geometry,
X-ray image input/output, projector, metrics, readouts and model files, and the installation of the Python
packages these modules need. This module has no user interface of its own.
""")
        self.parent.acknowledgementText = _("""
Developed by the Recon2Dto3D developers. Module layout follows the 3D Slicer scripted module template
(Jean-Christophe Fillion-Robin, Kitware Inc.; Andras Lasso, PerkLab; Steve Pieper, Isomics, Inc.).
""")


#
# ReconCoreWidget
#


class ReconCoreWidget(ScriptedLoadableModuleWidget):
    """Minimal widget: the module is hidden and only serves the other Recon2Dto3D modules."""

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        label = qt.QLabel(_("Shared code of the Recon2Dto3D extension. Use AngioRecon, EchoRecon or "
                            "FemurRegistration (category Reconstruction)."))
        label.wordWrap = True
        self.layout.addWidget(label)
        self.layout.addStretch(1)


#
# ReconCoreLogic
#


class ReconCoreLogic(ScriptedLoadableModuleLogic, Dependencies):
    """Slicer-side services shared by the Recon2Dto3D modules: the Python dependencies
    (``ReconCoreSlicer.dependencies``), installed when a module first needs them, never at import time.

    Console example (Slicer Python console)::

        import ReconCore
        core = ReconCore.ReconCoreLogic()
        print(core.missingRequirements())  # e.g. ['monai>=1.4']; [] when all are installed
        core.ensureDependencies()  # torch via the PyTorch extension, then the rest; may ask to confirm
    """

    def __init__(self, scene=None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.scene = scene if scene is not None else slicer.mrmlScene


#
# ReconCoreTest
#


class ReconCoreTest(ScriptedLoadableModuleTest):
    """Self-test: runs inside Slicer (Reload and Test, or ctest)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_ReconCore1()

    def test_ReconCore1(self):
        self.delayDisplay("Starting the test")
        logic = ReconCoreLogic()
        self.assertTrue(os.path.isfile(logic.requirementsPath()))
        requirements = logic.requirements()
        self.assertIn("monai", [r.name for r in requirements])
        for requirement in requirements:
            self.assertTrue(str(requirement.specifier).startswith(">="), str(requirement))
        self.assertIsInstance(logic.missingRequirements(), list)

        import vtk

        from ReconCoreSlicer import CArmViewParameters, ReconLogicBase

        base = ReconLogicBase()
        volume = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
        self.assertIsNone(base.sourceFileForVolume(volume))
        imageData = vtk.vtkImageData()
        imageData.SetDimensions(64, 48, 1)
        imageData.AllocateScalars(vtk.VTK_FLOAT, 1)
        volume.SetAndObserveImageData(imageData)
        geometry = base.geometryForVolume(volume, CArmViewParameters(30.0, 20.0, 1000.0, 750.0, 0.3))
        self.assertEqual((geometry.rows, geometry.columns), (48, 64))
        with self.assertRaises(ValueError):  # isocenter behind the detector
            base.geometryForVolume(volume, CArmViewParameters(30.0, 20.0, 700.0, 750.0, 0.3))
        self.delayDisplay("Test passed")

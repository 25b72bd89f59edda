"""ReconCore: hidden helper module of the Recon2Dto3D extension.

It holds what the AngioRecon, EchoRecon and FemurRegistration modules share: the headless library
``ReconCoreLib`` (X-ray geometry and I/O, projector, metrics, readouts, model files; no Qt) and, here, the
Slicer-side services: installing the Python dependencies at first use and small MRML helpers.
"""

import logging
import os
from typing import Optional

import qt
import vtk

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

#: torch comes from the PyTorch extension (PyTorchUtils), never from a plain pip install.
TORCH_REQUIREMENT = ">=2.4"

#: Packages that Slicer (numpy, SimpleITK) or the PyTorch extension (torch) provide: their version is checked,
#: they are never pip-installed over the provided build, and they are kept out of other packages' dependencies.
PROVIDED_PACKAGES = ("torch", "simpleitk", "numpy")

REQUESTER = "Recon2Dto3D"


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
# ReconWidgetMixin
#


class ReconWidgetMixin:
    """Widget behaviour the Recon2Dto3D module widgets share: parameter node life cycle, Apply/Cancel, progress.

    Use it first among the bases: ``class XWidget(ReconWidgetMixin, ScriptedLoadableModuleWidget,
    VTKObservationMixin)``. The module's ``Resources/UI/<module>.ui`` must have ``applyButton``, ``cancelButton``,
    ``progressBar``, ``modelStatusLabel`` and ``readoutsTableView``; its parameter node an ``outputTable`` field;
    its logic ``getParameterNode()`` and ``modelAvailable()``. Hooks the widget defines: ``_createLogic()`` (its
    logic), ``_inputsProblem(parameters)`` (why the inputs do not allow Apply, or None), ``_applyToolTip()``
    (Apply's tooltip when it is possible) and ``onApplyButton()`` (with ``_runApply``); it may override
    ``_updateWidgets()``, ``_geometryViews`` and ``_geometryName``.
    """

    #: C-arm geometry field prefix -> parameter of the image whose file may hold that geometry. The parameter
    #: node then has the fields <prefix>PrimaryAngleDeg, ...SecondaryAngleDeg, ...SourceToDetectorMm,
    #: ...SourceToPatientMm and ...PixelSpacingMm; the .ui a node selector <parameter>Selector.
    _geometryViews: dict = {}
    #: What the geometry is called in the log when an image file has none.
    _geometryName = "C-arm geometry"

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)  # needed for parameter node observation
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._modelStatus = (False, "")
        self._busy = False
        self._abortRequested = False

    def _updateWidgets(self) -> None:
        """Hook: update module-specific widgets from the parameter node (on every parameter change)."""

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath(f"UI/{self.moduleName}.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        # The .ui connects the top widget's mrmlSceneChanged(vtkMRMLScene*) to each node selector's setMRMLScene.
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = self._createLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        for view in self._geometryViews:
            self._connectGeometrySelector(view)

        self.initializeParameterNode()

    def _connectGeometrySelector(self, view: str) -> None:
        selector = getattr(self.ui, self._geometryViews[view] + "Selector")
        selector.connect("currentNodeChanged(vtkMRMLNode*)", lambda node: self.onViewSelected(view, node))

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self._modelStatus = self.logic.modelAvailable()
        self.ui.modelStatusLabel.text = "" if self._modelStatus[0] else self._modelStatus[1]
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # ui element that needs connection to the parameter node: SlicerParameterName property in the .ui file
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._checkCanApply()

    # -- Apply, Cancel, progress -------------------------------------------------------------------------

    def _cannotApplyReason(self) -> Optional[str]:
        """Why Apply is not possible now, or None when it is."""
        parameters = self._parameterNode
        if parameters is None:
            return _("No parameter node.")
        problem = self._inputsProblem(parameters)
        if problem:
            return problem
        available, message = self._modelStatus
        if not available:
            return message
        return None

    def _checkCanApply(self, caller=None, event=None) -> None:
        reason = self._cannotApplyReason()
        self.ui.applyButton.enabled = reason is None and not self._busy
        self.ui.applyButton.toolTip = reason or self._applyToolTip()
        self.ui.cancelButton.enabled = self._busy
        self._updateWidgets()
        table = self._parameterNode.outputTable if self._parameterNode else None
        self.ui.readoutsTableView.setMRMLTableNode(table)

    def onViewSelected(self, view: str, node) -> None:
        """Fill the view's geometry fields from its file (DICOM or JSON sidecar) when the file has them."""
        if self._parameterNode is None or node is None:
            return
        path = ReconCoreLogic.sourceFileForVolume(node)
        if not path:
            return
        try:
            geometry = self.logic.readGeometry(path)
        except (ValueError, OSError, ImportError) as error:
            logging.info(f"{node.GetName()}: no {self._geometryName} in {path} ({error}); enter it by hand")
            return
        if abs(geometry.pixelSpacingMm[0] - geometry.pixelSpacingMm[1]) > 1e-6:
            logging.warning(f"{node.GetName()}: anisotropic detector pixels {geometry.pixelSpacingMm} mm; "
                            "using the row spacing")
        with slicer.util.NodeModify(self._parameterNode):
            setattr(self._parameterNode, view + "PrimaryAngleDeg", geometry.primaryAngleDeg)
            setattr(self._parameterNode, view + "SecondaryAngleDeg", geometry.secondaryAngleDeg)
            setattr(self._parameterNode, view + "SourceToDetectorMm", geometry.sourceToDetectorMm)
            setattr(self._parameterNode, view + "SourceToPatientMm", geometry.sourceToPatientMm)
            setattr(self._parameterNode, view + "PixelSpacingMm", geometry.pixelSpacingMm[0])

    def _geometries(self, core) -> dict:
        """{geometry field prefix: ``CArmGeometry``} of the ``_geometryViews`` from the parameter node fields."""
        parameters = self._parameterNode
        return {view: core.geometryForVolume(
            getattr(parameters, image),
            getattr(parameters, view + "PrimaryAngleDeg"), getattr(parameters, view + "SecondaryAngleDeg"),
            getattr(parameters, view + "SourceToDetectorMm"), getattr(parameters, view + "SourceToPatientMm"),
            getattr(parameters, view + "PixelSpacingMm")) for view, image in self._geometryViews.items()}

    def _runApply(self, failedMessage: str, cancelledMessage: str, process) -> None:
        """The Apply action: install the dependencies, run ``process(core, parameters)``, store its outputs.

        ``process`` gets a ``ReconCoreLogic`` and the parameter node and returns the output nodes keyed by
        parameter name. Errors are shown with ``failedMessage``; a cancel shows ``cancelledMessage``.
        """
        with slicer.util.tryWithErrorDisplay(failedMessage, waitCursor=True):
            self._setBusy(True)
            try:
                core = ReconCoreLogic()
                core.ensureDependencies()
                parameters = self._parameterNode
                outputs = process(core, parameters)
                with slicer.util.NodeModify(parameters):
                    for name, node in outputs.items():
                        setattr(parameters, name, node)
            except InterruptedError:
                slicer.util.showStatusMessage(cancelledMessage, 5000)
            finally:
                self._setBusy(False)

    def _setBusy(self, busy: bool) -> None:
        self._busy = busy
        if busy:
            self._abortRequested = False
            self.ui.progressBar.value = 0
        self._checkCanApply()

    def onProgress(self, fraction: float, message: str = "") -> None:
        """Progress callback handed to the logic: shows progress, lets Cancel be clicked, stops when asked."""
        self.ui.progressBar.value = int(round(100 * min(1.0, max(0.0, fraction))))
        if message:
            slicer.util.showStatusMessage(message)
        slicer.app.processEvents()
        if self._abortRequested:
            raise InterruptedError(_("Cancelled by the user."))

    def onCancelButton(self) -> None:
        self._abortRequested = True
        slicer.util.showStatusMessage(_("Cancelling..."))


#
# ReconCoreLogic
#


class ReconCoreLogic(ScriptedLoadableModuleLogic):
    """Slicer-side services shared by the Recon2Dto3D modules.

    Nothing here runs at import time: dependencies are installed when a module first needs them.

    Console example (Slicer Python console)::

        import ReconCore
        core = ReconCore.ReconCoreLogic()
        print(core.missingRequirements())  # e.g. ['monai>=1.4']; [] when all are installed
        core.ensureDependencies()  # torch via the PyTorch extension, then the rest; may ask to confirm
    """

    def __init__(self, scene=None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.scene = scene if scene is not None else slicer.mrmlScene

    # -- Python dependencies ----------------------------------------------------------------------------

    @staticmethod
    def requirementsPath() -> str:
        """``Resources/requirements.txt`` beside this file (source tree and installed extension alike)."""
        return os.path.join(os.path.dirname(os.path.abspath(__file__)), "Resources", "requirements.txt")

    def requirements(self) -> list:
        """The requirements of ``requirements.txt`` as ``packaging.requirements.Requirement`` objects."""
        from packaging.requirements import Requirement

        result = []
        with open(self.requirementsPath(), encoding="utf-8") as stream:
            for line in stream:
                line = line.strip()
                if line and not line.startswith(("#", "-")):
                    result.append(Requirement(line))
        return result

    @staticmethod
    def isSatisfied(requirement) -> bool:
        """Whether the installed package meets ``requirement`` (a ``Requirement``), without running pip.

        The version comes from the distribution metadata, else (packages Slicer builds itself may have none) from
        the importable module's ``__version__``.
        """
        import importlib
        import importlib.metadata

        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            try:
                installed = getattr(importlib.import_module(requirement.name), "__version__", None)
            except ImportError:
                installed = None
        if installed is None:
            return False
        return requirement.specifier.contains(str(installed).split("+")[0], prereleases=True)

    def missingRequirements(self) -> list:
        """Requirement strings of ``requirements.txt`` that the running Slicer does not meet."""
        return [str(requirement) for requirement in self.requirements() if not self.isSatisfied(requirement)]

    def ensureDependencies(self) -> None:
        """Make torch and the packages of ``requirements.txt`` importable; call at first use, never at import.

        torch is installed through the PyTorch extension, which may ask the user to confirm; the other packages
        through ``slicer.packaging.pip_ensure`` (or ``slicer.util.pip_install`` in Slicer versions without it).

        :raises RuntimeError: the PyTorch extension is missing, the user declined, or a requirement is still
            not met afterwards.
        """
        self.ensureTorch()
        self.ensurePackages()

    def ensureTorch(self):
        """Install torch through the PyTorch extension when needed; return the ``torch`` module."""
        try:
            import PyTorchUtils
        except ModuleNotFoundError as error:
            raise RuntimeError(_("Recon2Dto3D needs the PyTorch extension: install 'PyTorch' from the Extensions "
                                 "Manager, restart Slicer and try again.")) from error
        torchLogic = PyTorchUtils.PyTorchUtilsLogic()
        if not torchLogic.torchInstalled():
            logging.info(f"{REQUESTER}: installing PyTorch {TORCH_REQUIREMENT} through the PyTorch extension")
            torch = torchLogic.installTorch(askConfirmation=True, torchVersionRequirement=TORCH_REQUIREMENT)
            if torch is None:
                raise RuntimeError(_("PyTorch was not installed. Recon2Dto3D cannot run without it."))
        import torch
        from packaging.specifiers import SpecifierSet

        if not SpecifierSet(TORCH_REQUIREMENT).contains(torch.__version__.split("+")[0], prereleases=True):
            raise RuntimeError(_("PyTorch {installed} is installed but Recon2Dto3D needs torch{required}. Use the "
                                 "PyTorch Utils module to uninstall it, restart Slicer and try again.").format(
                installed=torch.__version__, required=TORCH_REQUIREMENT))
        return torch

    def ensurePackages(self) -> None:
        """Install the missing packages of ``requirements.txt``; check (never replace) the provided ones."""
        from packaging.utils import canonicalize_name

        requirements = self.requirements()
        provided = [r for r in requirements if canonicalize_name(r.name) in PROVIDED_PACKAGES]
        for requirement in provided:
            if not self.isSatisfied(requirement):
                raise RuntimeError(_("Recon2Dto3D needs {requirement}, which this Slicer provides in another "
                                     "version: use a more recent Slicer.").format(requirement=requirement))
        pending = [r for r in requirements
                   if canonicalize_name(r.name) not in PROVIDED_PACKAGES and not self.isSatisfied(r)]
        if not pending:
            return
        logging.info(f"{REQUESTER}: installing {', '.join(str(r) for r in pending)}")
        try:
            import slicer.packaging as slicerPackaging
        except ImportError:
            slicerPackaging = None
        if slicerPackaging is not None and hasattr(slicerPackaging, "pip_ensure"):
            import inspect

            options = {"requester": REQUESTER}
            if "skip_packages" in inspect.signature(slicerPackaging.pip_ensure).parameters:
                options["skip_packages"] = list(PROVIDED_PACKAGES)
            slicerPackaging.pip_ensure(pending, **options)
        else:
            if not slicer.app.commandOptions().testingEnabled and not slicer.util.confirmOkCancelDisplay(
                    _("{requester} needs these Python packages, which will be downloaded and installed:\n{names}")
                    .format(requester=REQUESTER, names="\n".join(str(r) for r in pending))):
                raise RuntimeError(_("Installation of the Python packages was declined."))
            slicer.util.pip_install([str(r) for r in pending])
        stillMissing = [str(r) for r in pending if not self.isSatisfied(r)]
        if stillMissing:
            raise RuntimeError(_("These Python packages are still missing: {names}").format(
                names=", ".join(stillMissing)))

    # -- MRML helpers ------------------------------------------------------------------------------------

    @staticmethod
    def sourceFileForVolume(volumeNode) -> Optional[str]:
        """File a volume was loaded from: its storage node's file, else its first DICOM instance file."""
        if volumeNode is None:
            return None
        storageNode = volumeNode.GetStorageNode()
        if storageNode is not None:
            fileName = storageNode.GetFileName()
            if fileName and os.path.isfile(fileName):
                return fileName
        instanceUids = volumeNode.GetAttribute("DICOM.instanceUIDs")
        database = getattr(slicer, "dicomDatabase", None)
        if instanceUids and database is not None:
            fileName = database.fileForInstance(instanceUids.split()[0])
            if fileName and os.path.isfile(fileName):
                return fileName
        return None

    @staticmethod
    def geometryForVolume(volumeNode, primaryAngleDeg: float, secondaryAngleDeg: float,
                          sourceToDetectorMm: float, sourceToPatientMm: float, pixelSpacingMm: float):
        """``ReconCoreLib.xraygeometry.CArmGeometry`` of a 2D X-ray volume.

        Angles (deg, DICOM positioner conventions: LAO and cranial positive) and distances (mm) as given;
        rows and columns from the volume's image; ``pixelSpacingMm`` is the isotropic detector pixel size (mm).

        :raises ValueError: no image, or a value out of range (the message names it).
        """
        from ReconCoreLib.xraygeometry import CArmGeometry

        if volumeNode is None or volumeNode.GetImageData() is None:
            raise ValueError(_("An X-ray image is missing or has no pixels."))
        columns, rows = volumeNode.GetImageData().GetDimensions()[:2]
        return CArmGeometry(
            primaryAngleDeg=primaryAngleDeg, secondaryAngleDeg=secondaryAngleDeg,
            sourceToDetectorMm=sourceToDetectorMm, sourceToPatientMm=sourceToPatientMm,
            pixelSpacingMm=(pixelSpacingMm, pixelSpacingMm), rows=rows, columns=columns)

    def outputNode(self, node, className: str, name: str):
        """``node`` when given, else a new node of ``className`` named ``name`` (unique) in the scene."""
        from ReconCoreLib.runtime import outputNode

        return outputNode(self.scene, node, className, name)


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

        volume = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
        self.assertIsNone(logic.sourceFileForVolume(volume))
        imageData = vtk.vtkImageData()
        imageData.SetDimensions(64, 48, 1)
        imageData.AllocateScalars(vtk.VTK_FLOAT, 1)
        volume.SetAndObserveImageData(imageData)
        geometry = logic.geometryForVolume(volume, 30.0, 20.0, 1000.0, 750.0, 0.3)
        self.assertEqual((geometry.rows, geometry.columns), (48, 64))
        with self.assertRaises(ValueError):
            logic.geometryForVolume(volume, 30.0, 20.0, 700.0, 750.0, 0.3)  # isocenter behind the detector
        self.assertIs(logic.outputNode(volume, "vtkMRMLScalarVolumeNode", "x"), volume)
        table = logic.outputNode(None, "vtkMRMLTableNode", "Readouts")
        self.assertTrue(table.IsA("vtkMRMLTableNode"))
        self.delayDisplay("Test passed")

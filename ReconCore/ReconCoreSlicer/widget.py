"""The widget behaviour the Recon2Dto3D module widgets share: parameter node life cycle, Apply/Cancel, progress."""

import logging
from typing import Optional

import vtk

import slicer
from slicer.i18n import tr as _
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleWidget
from slicer.util import VTKObservationMixin


class ReconWidgetMixin:
    """Use it first among the bases: ``class XWidget(ReconWidgetMixin, ScriptedLoadableModuleWidget,
    VTKObservationMixin)``.

    The module's ``Resources/UI/<module>.ui`` must have ``applyButton``, ``cancelButton``, ``progressBar``,
    ``modelStatusLabel`` and ``readoutsTableView``; its parameter node an ``outputTable`` field; its logic a
    :class:`~ReconCoreSlicer.logic.ReconLogicBase` (whose ``inputsProblem(parameters)`` says why the inputs do not
    allow Apply). Hooks the widget defines: ``_createLogic()`` (its logic), ``_applyToolTip()`` (Apply's tooltip when
    it is possible) and ``onApplyButton()`` (with :meth:`_runApply`); it may override ``_updateWidgets()`` and
    ``_geometryViews``.

    Cancel sets a flag that the logic reads through its abort flag (``lambda: self._abortRequested``): that is the
    one cancel channel; the progress callback only shows progress.
    """

    #: C-arm geometry parameter (a ``CArmViewParameters`` pack) -> parameter of the image whose file may hold that
    #: geometry; the .ui has a node selector ``<image parameter>Selector``.
    _geometryViews: dict = {}

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
        for geometry in self._geometryViews:
            self._connectGeometrySelector(geometry)

        self.initializeParameterNode()

    def _connectGeometrySelector(self, geometry: str) -> None:
        selector = getattr(self.ui, self._geometryViews[geometry] + "Selector")
        selector.connect("currentNodeChanged(vtkMRMLNode*)", lambda node: self.onViewSelected(geometry, node))

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
        problem = self.logic.inputsProblem(parameters)
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

    def onViewSelected(self, geometry: str, node) -> None:
        """Fill a view's geometry parameters from its file (DICOM or JSON sidecar) when a new image is selected.

        The selector also emits when the parameter node writes back (module enter, scene load): the logic then keeps
        what is there. Nothing here raises: what cannot be filled is said in the status bar and the log.
        """
        if self._parameterNode is None or node is None:
            return
        values, message = self.logic.viewGeometryToFill(self._parameterNode.parameterNode, geometry, node)
        if message:
            logging.info(message)
            slicer.util.showStatusMessage(message, 5000)
        if values:
            view = getattr(self._parameterNode, geometry)
            with slicer.util.NodeModify(self._parameterNode):
                for field, value in values.items():
                    setattr(view, field, value)

    def _geometries(self) -> dict:
        """{geometry parameter: ``CArmGeometry``} of the ``_geometryViews`` from the parameter node."""
        parameters = self._parameterNode
        return {geometry: self.logic.geometryForVolume(getattr(parameters, image), getattr(parameters, geometry))
                for geometry, image in self._geometryViews.items()}

    def _runApply(self, failedMessage: str, cancelledMessage: str, process) -> None:
        """The Apply action: install the dependencies, run ``process(parameters)``, store its outputs.

        ``process`` gets the parameter node and returns the output nodes keyed by parameter name. Errors are shown
        with ``failedMessage``; a cancel shows ``cancelledMessage``.
        """
        from .dependencies import Dependencies

        with slicer.util.tryWithErrorDisplay(failedMessage, waitCursor=True):
            self._setBusy(True)
            try:
                Dependencies().ensureDependencies()
                parameters = self._parameterNode
                outputs = process(parameters)
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
        """Progress callback handed to the logic: shows progress and lets Cancel be clicked (the abort flag stops)."""
        self.ui.progressBar.value = int(round(100 * min(1.0, max(0.0, fraction))))
        if message:
            slicer.util.showStatusMessage(message)
        slicer.app.processEvents()

    def abortRequested(self) -> bool:
        """The abort flag handed to the logic: True once Cancel was clicked."""
        return self._abortRequested

    def onCancelButton(self) -> None:
        self._abortRequested = True
        slicer.util.showStatusMessage(_("Cancelling..."))

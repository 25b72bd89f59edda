"""The logic base class of the Recon2Dto3D modules, and their sample data registration."""

import logging
from pathlib import Path
from typing import Callable, Optional

import slicer
from slicer.i18n import tr as _
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleLogic


class ReconLogicBase(ScriptedLoadableModuleLogic):
    """What every module logic does; a module logic adds its ``process`` and its own actions.

    Subclasses set :attr:`parameterNodeClass` (their ``@parameterNodeWrapper`` class) and :attr:`OUTPUTS` (output
    parameter -> (MRML class, default node name)); the module name comes from the class name (``XLogic`` -> ``X``),
    as in Slicer's ``ScriptedLoadableModuleLogic``. Work runs on ``scene`` (default: Slicer's scene), so the logic
    runs headless too; progress and cancellation arrive as callbacks, never as widgets.
    """

    parameterNodeClass = None
    OUTPUTS: dict = {}

    def __init__(self, scene=None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.scene = scene if scene is not None else slicer.mrmlScene

    def getParameterNode(self):
        return self.parameterNodeClass(super().getParameterNode())

    # -- the model -------------------------------------------------------------------------------------------

    def modelAvailable(self) -> tuple:
        """(True, model path) when the trained model is bundled, else (False, a plain statement why not)."""
        try:
            from ReconCoreLib.models import findBundledModel
        except ImportError as error:
            return False, _("{module} cannot look for its model: ReconCoreLib is not importable ({error}).").format(
                module=self.moduleName, error=error)
        path = findBundledModel(self.moduleName)
        if path is None:
            return False, _("The trained {module} model is not bundled with this version of the extension yet, so "
                            "nothing can be computed.").format(module=self.moduleName)
        return True, str(path)

    def requireModel(self) -> None:
        """``ValueError`` with the plain statement of :meth:`modelAvailable` when there is no model."""
        available, message = self.modelAvailable()
        if not available:
            raise ValueError(message)

    @staticmethod
    def checkChoice(name: str, value, choices) -> None:
        """``ValueError`` naming ``name`` when ``value`` is not one of ``choices``."""
        if value not in choices:
            raise ValueError(_("{name} must be one of {choices}, got {value!r}").format(
                name=name, choices=tuple(choices), value=value))

    def runPipeline(self, run, requested: dict, progressCallback: Optional[Callable[[float, str], None]] = None,
                    abortFlag: Optional[Callable[[], bool]] = None, **arguments) -> dict:
        """Run a module pipeline's Slicer entry ``run`` (see ``ReconCoreLib.runtime.runModulePipeline``): the requested
        output nodes that are None are created; returns the output nodes by parameter name."""
        from ReconCoreLib.runtime import runModulePipeline

        return runModulePipeline(self.scene, self.moduleName, run, self.OUTPUTS, requested, progressCallback,
                                 abortFlag, **arguments)

    # -- radiographs -----------------------------------------------------------------------------------------

    def readGeometry(self, path: str):
        """C-arm geometry (``CArmGeometry``) of an X-ray file: DICOM, or an image with a JSON sidecar.

        :raises ValueError: unreadable file or missing geometry attributes (the message names them).
        """
        from ReconCoreLib.xrayio import readXrayImage

        return readXrayImage(path).geometry

    @staticmethod
    def sourceFileForVolume(volumeNode) -> Optional[str]:
        """File a volume was read from (``ReconCoreLib.nodefiles.sourceFileForVolume``: its stamped source, storage
        file, DICOM file behind it or its frames, or the bundled sample Sample Data loaded it from), or None."""
        from ReconCoreLib.nodefiles import sourceFileForVolume

        return sourceFileForVolume(volumeNode)

    @staticmethod
    def viewGeometryToFill(parameterNode, geometryName: str, volumeNode) -> tuple:
        """(values, message): the C-arm geometry fields to fill from ``volumeNode``'s file, or None to keep them
        (``ReconCoreLib.nodefiles.viewGeometryToFill``; ``parameterNode`` is the MRML parameter node)."""
        from ReconCoreLib.nodefiles import viewGeometryToFill

        return viewGeometryToFill(parameterNode, geometryName, volumeNode)

    def inputsProblem(self, parameters) -> Optional[str]:
        """Why the inputs of ``parameters`` (the module's parameter node) do not allow processing, or None; the
        widget shows it as Apply's tooltip. Modules override it (their checks live in their Lib, tested headless)."""
        return None

    @staticmethod
    def geometryForVolume(volumeNode, view):
        """``ReconCoreLib.xraygeometry.CArmGeometry`` of a 2D X-ray volume and its view parameters.

        :param view: a :class:`~ReconCoreSlicer.parameters.CArmViewParameters` (angles in deg, DICOM positioner
            conventions: LAO and cranial positive; distances and the isotropic detector pixel size in mm); rows and
            columns come from the volume's image.
        :raises ValueError: no image, or a value out of range (the message names it).
        """
        from ReconCoreLib.xraygeometry import CArmGeometry

        if volumeNode is None or volumeNode.GetImageData() is None:
            raise ValueError(_("An X-ray image is missing or has no pixels."))
        columns, rows = volumeNode.GetImageData().GetDimensions()[:2]
        return CArmGeometry(
            primaryAngleDeg=view.primaryAngleDeg, secondaryAngleDeg=view.secondaryAngleDeg,
            sourceToDetectorMm=view.sourceToDetectorMm, sourceToPatientMm=view.sourceToPatientMm,
            pixelSpacingMm=(view.pixelSpacingMm, view.pixelSpacingMm), rows=rows, columns=columns)


def registerSampleData(moduleName: str, moduleFile: str) -> None:
    """Add a module's sample cases to the Sample Data module (category = module name, the module's icon).

    The cases are those of ``<moduleName>Lib.samples`` (``sampleDataSources()``: ``registerCustomSampleDataSource``
    arguments per case, the files lying in ``SAMPLE_DIRECTORY``, each with its reader: a ``.dcm`` would otherwise go to
    the DICOM importer, whose confidence 0.6 beats the volume reader's 0.54, and load no node). Every image loads as
    one picture (``singleFile``; else ITK stacks ``..._A2C.png``, ``..._A3C.png`` into one volume). Sample Data drops
    the files of the nodes it loads; ``ReconCoreLib.nodefiles`` recognises them by name and size. This runs while
    Slicer starts: any failure, the import of the registry included, is one logged line, never a traceback and never
    a failed startup (so it catches every exception).
    """
    try:
        import importlib

        import SampleData

        samples = importlib.import_module(f"{moduleName}Lib.samples")
        thumbnail = Path(moduleFile).resolve().parent / "Resources" / "Icons" / f"{moduleName}.png"
        for source in samples.sampleDataSources():
            uris = [(samples.SAMPLE_DIRECTORY / fileName).as_uri() for fileName in source["fileNames"]]
            SampleData.SampleDataLogic.registerCustomSampleDataSource(
                category=moduleName, thumbnailFileName=str(thumbnail), uris=uris,
                loadFileProperties={"singleFile": True}, **source)
    except Exception as error:  # noqa: BLE001 - Slicer's startup must survive whatever went wrong here
        logging.error(f"{moduleName}: its sample data could not be registered ({type(error).__name__}: {error})")

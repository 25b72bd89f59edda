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

    def processBatch(self, cases: list, progressCallback: Optional[Callable[[float, str], None]] = None,
                     abortFlag: Optional[Callable[[], bool]] = None, keepImplausible: bool = False) -> list:
        """Run :meth:`process` on several cases, one after the other, as ``recon2d3d batch`` runs files: a case that
        fails is reported and the next one runs. The outputs stay in the scene as nodes (save them as the console
        example of the module shows); a failed case leaves no node behind.

        :param cases: one dict per case: the keyword arguments of the module's ``process`` (input nodes, geometries,
            options, output nodes to fill), plus an optional ``"name"`` (default "case 1", "case 2", ...).
        :param progressCallback: called with (fraction 0-1 of the whole batch, "name: message").
        :param abortFlag: returns True when the user asked to stop: the running case is undone, and it and the cases
            after it are reported as cancelled.
        :param keepImplausible: keep a result that fails a plausibility gate, listed under ``failed_checks`` (as
            ``recon2d3d --keep-implausible``).
        :returns: one dict per case, in order: ``name``; ``status`` ("done", "failed" or "cancelled"); ``outputs``
            (output nodes by parameter name, {} unless done); ``readouts`` (keyed as readouts.json: numbers as
            numbers at full precision, ``warnings`` and ``failed_checks`` as lists; from the readouts table node's
            ``ReconCoreLib.readouts.TABLE_ATTRIBUTE``); ``error`` (one line, "" when done); ``seconds``.

        Console example (Slicer Python console)::

            logic = AngioRecon.AngioReconLogic()
            cases = []
            for name, tree in (("patient1", "left"), ("patient2", "right")):
                paths = [f"/data/{name}/view1.dcm", f"/data/{name}/view2.dcm"]
                view1, view2 = (slicer.util.loadVolume(path) for path in paths)
                cases.append({"name": name, "view1": view1, "view2": view2, "tree": tree, "device": "auto",
                              "geometry1": logic.readGeometry(paths[0]), "geometry2": logic.readGeometry(paths[1])})
            for result in logic.processBatch(cases):
                print(result["name"], result["status"], result["error"] or result["readouts"]["vessel_volume_mm3"])
        """
        import time

        import json

        from ReconCoreLib.conventions import oneLine
        from ReconCoreLib.plausibility import keepingImplausible
        from ReconCoreLib.readouts import TABLE_ATTRIBUTE

        def readoutsOfTable(table) -> dict:
            """readouts.json's object, which the module's readouts table carries (full precision)."""
            return json.loads(table.GetAttribute(TABLE_ATTRIBUTE) or "{}") if table is not None else {}

        results = []
        stopped = False  # cancelled: the cases after the running one are not run
        count = max(len(cases), 1)
        for index, case in enumerate(cases):
            arguments = dict(case)
            name = str(arguments.pop("name", None) or _("case {number}").format(number=index + 1))
            result = {"name": name, "status": "failed", "outputs": {}, "readouts": {}, "error": "", "seconds": 0.0}
            results.append(result)
            if stopped or (abortFlag is not None and abortFlag()):
                result.update(status="cancelled", error=_("cancelled"))
                continue

            def caseProgress(fraction: float, message: str = "", index=index, name=name) -> None:
                if progressCallback is not None:
                    progressCallback((index + min(max(fraction, 0.0), 1.0)) / count, f"{name}: {message}")

            started = time.perf_counter()
            try:
                with keepingImplausible(keepImplausible):
                    outputs = self.process(**arguments, progressCallback=caseProgress, abortFlag=abortFlag)
            except InterruptedError:
                result.update(status="cancelled", error=_("cancelled"))
                stopped = True
                continue
            except ValueError as error:  # bad input
                result["error"] = oneLine(error)
            except Exception as error:  # noqa: BLE001 - one case's failure is reported, the next one runs
                logging.exception(f"{self.moduleName}: {name} failed")
                result["error"] = _("internal error ({type}: {message})").format(
                    type=type(error).__name__, message=oneLine(error))
            else:
                result.update(status="done", outputs=outputs, readouts=readoutsOfTable(outputs.get("outputTable")))
            finally:
                result["seconds"] = time.perf_counter() - started
            logging.info(f"{self.moduleName} batch: {name} {result['status']}"
                         f"{': ' + result['error'] if result['error'] else ''}")
        if progressCallback is not None:
            progressCallback(1.0, _("{done} of {total} case(s) done").format(
                done=sum(result["status"] == "done" for result in results), total=len(results)))
        return results

    # -- radiographs -----------------------------------------------------------------------------------------

    def readGeometry(self, path: str):
        """C-arm geometry (``CArmGeometry``) of an X-ray file: DICOM, or an image with a JSON sidecar.

        :raises ValueError: unreadable file or missing geometry attributes (the message names them).
        """
        from ReconCoreLib.xrayio import readXrayGeometry

        return readXrayGeometry(path)

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

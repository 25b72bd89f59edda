"""Run what Slicer runs while it starts, for one module, in a fresh process (``python slicerstartup.py MODULE``).

The process cannot import torch, monai or any development package (``*Dev``): a finder refuses them, as a fresh
Slicer without the PyTorch extension and without the development code would. MRML comes from slicer-core; the parts
of the Slicer application that slicer-core does not have (Qt, ``slicer.app``, ``slicer.i18n``,
``slicer.parameterNodeWrapper``, ``slicer.ScriptedLoadableModule`` and the SampleData module) are stand-ins that
record what the module asks of them. Then, as Slicer does: ReconCore's module file is imported, the module's file is
imported and its module class made, and what it connected to ``startupCompleted()`` (the sample data registration)
is called. The result, one JSON object on stdout: the sample sources registered, what was logged, and which heavy
or development modules got imported.
"""

import importlib.abc
import json
import logging
import sys
import types
from pathlib import Path

from slicerstandins import App, standInModules

ROOT = Path(__file__).resolve().parents[1]
BLOCKED = ("torch", "monai", "ReconCoreDev", "AngioReconDev", "EchoReconDev", "FemurRegistrationDev")


class Refuse(importlib.abc.MetaPathFinder):
    """Makes the blocked packages unimportable (ModuleNotFoundError, as when they are not installed)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: not in a fresh Slicer)", name=name)
        return None


def standIns(extraBlocked=()) -> dict:
    """Install the stand-ins; returns what they record."""
    recorded = {"sources": [], "startup": [], "logged": []}
    sys.meta_path.insert(0, Refuse())
    for name in extraBlocked:
        sys.modules[name] = None  # an import of it raises ImportError

    import slicer  # slicer-core: MRML, slicer.util

    slicer.app = App(recorded)
    modules = standInModules(recorded)
    sys.modules.update(modules)
    slicer.i18n = modules["slicer.i18n"]
    slicer.parameterNodeWrapper = modules["slicer.parameterNodeWrapper"]
    slicer.ScriptedLoadableModule = modules["slicer.ScriptedLoadableModule"]

    class Recorder(logging.Handler):
        def emit(self, record):
            recorded["logged"].append(f"{record.levelname}: {record.getMessage()}")

    logging.getLogger().addHandler(Recorder())
    return recorded


def startModule(moduleName: str, extraBlocked=()) -> dict:
    """Import ReconCore and ``moduleName`` as Slicer does at startup, then run their startupCompleted callbacks."""
    recorded = standIns(extraBlocked)
    for folder in ("ReconCore", moduleName):  # Slicer puts the extension's scripted modules folder on sys.path
        sys.path.insert(0, str(ROOT / folder))
    for name in ("ReconCore", moduleName):
        module = importlib.import_module(name)
        getattr(module, name)(types.SimpleNamespace(hidden=False))
    for signal, callback in recorded["startup"]:
        if signal == "startupCompleted()":
            callback()
    heavy = sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED and sys.modules[name] is not None)
    sources = [{key: value for key, value in source.items() if key in (
        "sampleName", "uris", "checksums", "fileNames", "nodeNames", "category", "loadFiles", "loadFileTypes",
        "loadFileProperties")} for source in recorded["sources"]]
    return {"sources": sources, "logged": recorded["logged"], "heavy": heavy,
            "startupCallbacks": [signal for signal, _ in recorded["startup"]]}


if __name__ == "__main__":
    print(json.dumps(startModule(sys.argv[1], sys.argv[2:])))

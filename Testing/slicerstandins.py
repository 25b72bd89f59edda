"""Stand-ins for the parts of the Slicer application that slicer-core does not have: ``slicer.app``,
``slicer.i18n``, ``slicer.parameterNodeWrapper``, ``slicer.ScriptedLoadableModule``, Qt, CTK and the SampleData
module. They record what a module asks of them; MRML itself is slicer-core's, never a stand-in.

``standInModules(recorded)`` builds them; ``slicerstartup.py`` installs them in a fresh process, the ``slicerApp``
fixture of the tests that import ``ReconCoreSlicer`` installs them for one test (``monkeypatch``).
"""

import dataclasses
import types


class App:
    """``slicer.app``: records signal connections; testing mode on or off."""

    def __init__(self, recorded: dict, testing: bool = False):
        self.recorded = recorded
        self.testing = testing

    def connect(self, signal, callback):
        self.recorded["startup"].append((signal, callback))

    def testingEnabled(self) -> bool:
        return self.testing

    def commandOptions(self):
        return types.SimpleNamespace(testingEnabled=self.testing)


def standInModules(recorded: dict) -> dict:
    """{module name: stand-in module}; ``recorded`` gets "sources" (Sample Data registrations) and "startup"."""
    recorded.setdefault("sources", [])
    recorded.setdefault("startup", [])
    i18n = types.ModuleType("slicer.i18n")
    i18n.tr = lambda text: text
    i18n.translate = lambda context, text: text
    wrapper = types.ModuleType("slicer.parameterNodeWrapper")

    class Annotation:
        def __init__(self, *args, **kwargs):
            self.args = args

    wrapper.WithinRange = wrapper.Choice = wrapper.Default = Annotation
    wrapper.parameterPack = dataclasses.dataclass  # positional construction, as Slicer's parameter packs allow
    wrapper.parameterNodeWrapper = lambda cls: cls
    scripted = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule:
        def __init__(self, parent):
            self.parent = parent

    class ScriptedLoadableModuleLogic:
        def __init__(self, parent=None):
            self.moduleName = type(self).__name__.removesuffix("Logic")

    scripted.ScriptedLoadableModule = ScriptedLoadableModule
    scripted.ScriptedLoadableModuleLogic = ScriptedLoadableModuleLogic
    for name in ("ScriptedLoadableModuleWidget", "ScriptedLoadableModuleTest"):
        setattr(scripted, name, type(name, (), {}))
    sampleData = types.ModuleType("SampleData")

    class SampleDataLogic:
        @staticmethod
        def registerCustomSampleDataSource(**source):
            recorded["sources"].append(source)

    sampleData.SampleDataLogic = SampleDataLogic
    return {"slicer.i18n": i18n, "slicer.parameterNodeWrapper": wrapper, "slicer.ScriptedLoadableModule": scripted,
            "SampleData": sampleData, "qt": types.ModuleType("qt"), "ctk": types.ModuleType("ctk")}

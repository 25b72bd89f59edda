"""How the modules install what they need inside Slicer (``ReconCoreSlicer.dependencies``), with stand-ins for
the parts of Slicer that pip and the PyTorch extension are (``slicer.packaging`` from 5.12 on,
``slicer.util.pip_install`` in 5.10, ``PyTorchUtils``); what they are called with is what is checked.

Read in Slicer's source: ``Base/Python/slicer/packaging.py`` (v5.12.3: ``pip_ensure(requirements, constraints=...,
prompt_install=..., requester=..., skip_in_testing=...)``, constraints passed to pip as ``-c``), ``util.py``
(v5.10.0: ``pip_install(requirements)`` runs ``pip install`` with a list of arguments); SlicerPyTorch's
``PyTorchUtils.py`` (``installTorch(askConfirmation, forceComputationBackend, torchVersionRequirement, ...)``).
"""

import importlib
import importlib.metadata
import sys
import types
from pathlib import Path

import pytest
import slicer

from ReconCoreLib.conventions import TORCH_REQUIREMENT
from slicerstandins import App, standInModules

ROOT = Path(__file__).resolve().parents[1]


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, *args, **kwargs):
        constraints = kwargs.get("constraints") or (args[0][args[0].index("-c") + 1] if "-c" in args[0] else None)
        self.calls.append((args, kwargs, Path(constraints).read_text() if constraints else None))


@pytest.fixture
def dependencies(monkeypatch):
    """``ReconCoreSlicer.dependencies`` imported against stand-ins (fresh for each test)."""
    recorded = {}
    for name, module in standInModules(recorded).items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(slicer, "app", App(recorded), raising=False)
    monkeypatch.setattr(slicer, "i18n", sys.modules["slicer.i18n"], raising=False)
    monkeypatch.setattr(slicer, "ScriptedLoadableModule", sys.modules["slicer.ScriptedLoadableModule"], raising=False)
    monkeypatch.setattr(slicer, "parameterNodeWrapper", sys.modules["slicer.parameterNodeWrapper"], raising=False)
    monkeypatch.syspath_prepend(str(ROOT / "ReconCore"))
    for name in [name for name in sys.modules if name.startswith("ReconCoreSlicer")]:
        monkeypatch.delitem(sys.modules, name)
    module = importlib.import_module("ReconCoreSlicer.dependencies")
    yield module
    for name in [name for name in sys.modules if name.startswith("ReconCoreSlicer")]:
        sys.modules.pop(name)


def pipEnsure(monkeypatch, recorder):
    """Slicer 5.12's ``slicer.packaging`` with a recording ``pip_ensure``."""
    packaging = types.ModuleType("slicer.packaging")
    packaging.pip_ensure = recorder
    monkeypatch.setitem(sys.modules, "slicer.packaging", packaging)
    monkeypatch.setattr(slicer, "packaging", packaging, raising=False)


def test_requirements_name_what_slicer_provides_and_what_is_installed(dependencies):
    names = {requirement.name.lower() for requirement in dependencies.Dependencies().requirements()}
    assert {"monai", "tqdm"} <= names  # installed at first use (tqdm: the command line's progress bar)
    assert {"numpy", "scipy", "pydicom", "simpleitk"} <= names  # provided by Slicer: checked, never installed
    assert "torch" not in names  # the PyTorch extension's


def test_constraints_pin_the_provided_packages_at_their_installed_versions(dependencies):
    pins = dependencies.Dependencies.constraints()
    assert f"numpy=={importlib.metadata.version('numpy')}" in pins
    assert f"pydicom=={importlib.metadata.version('pydicom')}" in pins
    assert all("+" not in pin for pin in pins)  # torch 2.13.0+cpu is pinned as torch==2.13.0, which it meets
    assert {pin.split("==")[0] for pin in pins} <= set(dependencies.PROVIDED_PACKAGES)


@pytest.mark.parametrize("interactive", [True, False])
def test_monai_is_installed_with_slicer_packages_pinned_in_5_12(dependencies, monkeypatch, interactive):
    recorder = Recorder()
    pipEnsure(monkeypatch, recorder)
    monkeypatch.setattr(dependencies.Dependencies, "isSatisfied",
                        staticmethod(lambda requirement: requirement.name.lower() not in ("monai", "tqdm")))
    with pytest.raises(RuntimeError, match="still missing: monai"):  # the stand-in installs nothing
        dependencies.Dependencies().ensurePackages(interactive)
    (args, kwargs, constraints), = recorder.calls
    assert [requirement.split(">=")[0] for requirement in args[0]] == ["monai", "tqdm"]
    assert kwargs["requester"] == "Recon2Dto3D" and kwargs["prompt_install"] is interactive
    assert kwargs["skip_in_testing"] is interactive  # a self-test (not interactive) installs in testing mode too
    assert f"numpy=={importlib.metadata.version('numpy')}" in constraints.splitlines()


def test_monai_is_installed_with_slicer_packages_pinned_in_5_10(dependencies, monkeypatch):
    recorder = Recorder()
    monkeypatch.setitem(sys.modules, "slicer.packaging", None)  # Slicer 5.10 has no slicer.packaging
    monkeypatch.setattr(slicer.util, "pip_install", recorder)
    monkeypatch.setattr(dependencies.Dependencies, "isSatisfied",
                        staticmethod(lambda requirement: requirement.name.lower() != "monai"))
    with pytest.raises(RuntimeError, match="still missing: monai"):
        dependencies.Dependencies().ensurePackages(interactive=False)
    (args, _, constraints), = recorder.calls
    assert args[0][0].startswith("monai>=") and args[0][1] == "-c"
    assert f"pydicom=={importlib.metadata.version('pydicom')}" in constraints.splitlines()


def test_declined_installation_in_5_10_is_an_error(dependencies, monkeypatch):
    monkeypatch.setitem(sys.modules, "slicer.packaging", None)
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", lambda text: False)
    monkeypatch.setattr(slicer.util, "pip_install", lambda arguments: pytest.fail("installed after a refusal"))
    monkeypatch.setattr(dependencies.Dependencies, "isSatisfied",
                        staticmethod(lambda requirement: requirement.name.lower() != "monai"))
    with pytest.raises(RuntimeError, match="declined"):
        dependencies.Dependencies().ensurePackages(interactive=True)


def test_a_provided_package_too_old_is_never_replaced(dependencies, monkeypatch):
    recorder = Recorder()
    pipEnsure(monkeypatch, recorder)
    monkeypatch.setattr(dependencies.Dependencies, "isSatisfied",
                        staticmethod(lambda requirement: requirement.name.lower() != "pydicom"))
    with pytest.raises(RuntimeError, match=r"pydicom>=2\.4.*Slicer 5\.10 or newer"):
        dependencies.Dependencies().ensurePackages()
    assert recorder.calls == []


@pytest.mark.parametrize("interactive", [True, False])
def test_torch_comes_from_the_pytorch_extension_in_the_proven_range(dependencies, monkeypatch, interactive):
    calls = []

    class PyTorchUtilsLogic:
        def torchInstalled(self):
            return False

        def installTorch(self, **options):
            calls.append(options)
            return None  # the user cancelled

    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=PyTorchUtilsLogic))
    with pytest.raises(RuntimeError, match="PyTorch was not installed"):
        dependencies.Dependencies().ensureTorch(interactive)
    assert calls == [{"askConfirmation": interactive, "torchVersionRequirement": TORCH_REQUIREMENT}]
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)
    with pytest.raises(RuntimeError, match="install 'PyTorch' from the Extensions Manager"):
        dependencies.Dependencies().ensureTorch()

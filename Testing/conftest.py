"""Shared pytest fixtures: a headless Slicer scene, quiet VTK, deterministic torch on 2 threads, and the
FemurRegistration stand-in model with its known cases (used by two test modules).

The suite runs twice (README's test command): on Python 3.11 with everything, and on Python 3.12 with the packages
of the oldest supported Slicer and without torch, where the modules and tests that need torch skip themselves.
"""

import importlib.util
import shutil

import numpy as np
import pytest

TORCH_AVAILABLE = importlib.util.find_spec("torch") is not None


def pytest_configure(config):
    import vtk

    vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_ERROR)
    vtk.vtkObject.GlobalWarningDisplayOff()
    config.addinivalue_line("markers", "torch: needs torch (skipped in the pass with Slicer's packages)")
    if not TORCH_AVAILABLE:
        return
    import torch

    # Tracing MONAI's Warp (FemurRegistration export) warns about shape checks that are constant for a model.
    config.addinivalue_line("filterwarnings", "ignore::torch.jit.TracerWarning")
    torch.set_num_threads(2)
    torch.manual_seed(0)


def pytest_terminal_summary(terminalreporter):
    """Which of the two passes this was: the Python and the package versions the code met (also with -q)."""
    import importlib.metadata
    import platform

    versions = []
    for name in ("numpy", "scipy", "pydicom", "SimpleITK", "vtk", "slicer-core", "torch", "monai"):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} absent")
    terminalreporter.write_line(f"Recon2Dto3D test pass: Python {platform.python_version()}, " + ", ".join(versions))


def pytest_collection_modifyitems(config, items):
    """Tests marked ``torch`` skip in the pass without torch (modules that are all torch skip on import)."""
    if TORCH_AVAILABLE:
        return
    skip = pytest.mark.skip(reason="needs torch: the pass with Slicer's packages runs without it")
    for item in items:
        if "torch" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def bundleModel(monkeypatch):
    """``bundleModel(moduleName, path)``: ``path`` is that module's bundled model for this test (the others none)."""
    def bundle(moduleName, path):
        monkeypatch.setattr("ReconCoreLib.models.findBundledModel", lambda name: path if name == moduleName else None)
        return path

    return bundle


@pytest.fixture
def scene():
    """A fresh headless MRML scene (application, color and segmentations logic attached)."""
    from ReconCoreLib import runtime

    scene = runtime.newHeadlessScene()
    yield scene
    runtime.releaseScene(scene)


# -- FemurRegistration: a stand-in model with a known registration and the cases it explains (femurhelpers.py) --


@pytest.fixture(scope="session")
def atlasFile(tmp_path_factory):
    """The bundled atlas, or one built here (the shape model's mean femur) when it is not bundled yet.

    The FemurRegistration fixtures need torch (the registration's maps are torch code): without it, the tests that
    use them skip.
    """
    pytest.importorskip("torch", reason="the femur registration fixtures need torch")
    from FemurRegistrationDev.atlas import writeAtlas
    from FemurRegistrationLib import atlasfile

    if atlasfile.defaultAtlasPath().is_file():
        return atlasfile.defaultAtlasPath()
    path = tmp_path_factory.mktemp("atlas") / "FemurAtlas.npz"
    writeAtlas(path)
    return path


@pytest.fixture(scope="session")
def atlas(atlasFile):
    from FemurRegistrationLib import atlasfile

    return atlasfile.loadAtlas(atlasFile)


@pytest.fixture(scope="session")
def knownRegistration(atlas):
    torch = pytest.importorskip("torch", reason="the femur registration fixtures need torch")

    from femurhelpers import SHIFT_MM, SIMILARITY
    from FemurRegistrationLib import inference, refine, transforms
    from FemurRegistrationLib.conventions import FIELD_SPACING_MM
    from FemurRegistrationLib.grid import boxGrid

    centre = torch.as_tensor(refine.atlasHeadCentre(atlas), dtype=torch.float32)
    affine = transforms.similarityMatrix(torch.tensor(SIMILARITY), centre)[0].double().numpy()
    _, shape = boxGrid(FIELD_SPACING_MM)
    displacement = np.broadcast_to(np.array(SHIFT_MM, np.float32)[:, None, None, None], (3, *shape)).copy()
    return inference.Registration(affine, displacement, -displacement)


@pytest.fixture(scope="session")
def fixedModelFile(tmp_path_factory, atlasFile, knownRegistration):
    import torch

    from femurhelpers import fixedRegistration

    folder = tmp_path_factory.mktemp("fixed-model")
    torch.jit.script(fixedRegistration(knownRegistration.affine, knownRegistration.displacement)).save(
        str(folder / "FemurRegistration.pt"))
    shutil.copy(atlasFile, folder / "FemurAtlas.npz")
    return folder / "FemurRegistration.pt"


@pytest.fixture
def fixedModel(fixedModelFile, bundleModel):
    return bundleModel("FemurRegistration", fixedModelFile)


@pytest.fixture(scope="session")
def knownCase(atlas, knownRegistration):
    """The atlas moved by the known registration (right femur), and the same case mirrored (left femur).

    The radiographs are DRRs of the femur alone, so the registered femur's DRRs match them (NCC ~ 1).
    """
    from femurhelpers import knownCaseViews

    return knownCaseViews(atlas, knownRegistration)


@pytest.fixture(scope="session")
def knownResults(knownCase, fixedModelFile):
    from FemurRegistrationLib import pipeline

    results = {}
    for side, case in knownCase.items():
        results[side] = pipeline.registerFemur(*case["views"], *case["masks"], side=side, device="cpu",
                                               reference=(case["label"], case["ijkToRas"]), modelPath=fixedModelFile)
    return results

"""Shared pytest fixtures: a headless Slicer scene, quiet VTK, deterministic torch on 2 threads."""

import pytest


def pytest_configure(config):
    import torch
    import vtk

    vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_ERROR)
    vtk.vtkObject.GlobalWarningDisplayOff()
    torch.set_num_threads(2)
    torch.manual_seed(0)


@pytest.fixture
def scene():
    """A fresh headless MRML scene (application, color and segmentations logic attached)."""
    from ReconCoreLib import runtime

    scene = runtime.newHeadlessScene()
    yield scene
    runtime.releaseScene(scene)

"""The femur atlas and the untrained network that holds it (development: the atlas is built once and bundled).

``FemurRegistration/Resources/Models/FemurAtlas.npz`` is the shape model's mean femur as a phantom with no pose
(:func:`writeAtlas`); the runtime reads it with :func:`FemurRegistrationLib.atlasfile.loadAtlas`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from FemurRegistrationLib.conventions import FIELD_SPACING_MM, NETWORK_SPACING_MM
from FemurRegistrationLib.grid import boxGrid
from FemurRegistrationLib.hipmeasures import FemurShapeModel, hipMeasurements
from FemurRegistrationLib.inference import networkAtlas

from . import network, phantom


def writeAtlas(path: str | Path) -> dict:
    """Build the atlas (the shape model's mean femur as a phantom, no pose) and write it as .npz."""
    case = phantom.makeAtlas()
    atlas = {"hu": case.hu.astype(np.int16), "label": case.label.astype(np.uint8),
             "verticesLps": np.asarray(case.verticesLps, np.float32),
             "triangles": np.asarray(case.triangles, np.int32),
             "ijkToLps": np.asarray(case.ijkToLps, np.float64)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **atlas)
    return atlas


def buildNetwork(atlas: dict) -> network.FemurRegistrationNet:
    """An untrained network holding ``atlas`` (the atlas femoral head centre is the similarity's centre)."""
    head = hipMeasurements(atlas["verticesLps"], FemurShapeModel.load())["head_centre_lps"]
    networkIjkToLps, _ = boxGrid(NETWORK_SPACING_MM)
    fieldIjkToLps, fieldShape = boxGrid(FIELD_SPACING_MM)
    return network.FemurRegistrationNet(networkAtlas(atlas), networkIjkToLps, fieldIjkToLps, fieldShape, head)

"""The femur atlas file beside the model (numpy only: the radiographs are checked and the femur found before torch
is imported)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np


def defaultAtlasPath() -> Path:
    """``Resources/Models/FemurAtlas.npz`` of the module (source tree and installed extension alike)."""
    return Path(__file__).resolve().parents[1] / "Resources" / "Models" / "FemurAtlas.npz"


@functools.lru_cache(maxsize=2)
def _readAtlas(path: str, modified: float) -> dict:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def loadAtlas(path: str | Path | None = None) -> dict:
    """The atlas (default: the bundled one): ``hu`` int16 and ``label`` uint8 on the 1 mm box, ``verticesLps``,
    ``triangles``, ``ijkToLps``; read once per file version (treat the arrays as read-only)."""
    path = Path(path) if path is not None else defaultAtlasPath()
    if not path.is_file():
        raise ValueError(f"FemurRegistration: the atlas {path.name} is missing beside the model; nothing was computed")
    return _readAtlas(str(path.resolve()), path.stat().st_mtime)


def atlasPathFor(modelPath) -> Path:
    """The atlas that belongs to a model file: ``FemurAtlas.npz`` in its folder, else the bundled one."""
    candidate = Path(modelPath).parent / "FemurAtlas.npz"
    return candidate if candidate.is_file() else defaultAtlasPath()

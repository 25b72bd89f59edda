"""Labelled four-chamber heart template of EchoRecon: six closed surfaces with one fixed vertex numbering.

The template is built once by the development package (``python -m EchoReconDev.templatebuilder build --source VTU
--out PATH``) from case 01
of the CT-derived four-chamber meshes of C. Rodero, M. Strocchi, M. Marciniak, et al., "Linking statistical shape
models and simulated function in the healthy adult human heart", PLoS Comput Biol 17(4):e1008851, 2021,
doi:10.1371/journal.pcbi.1008851 (CC-BY-4.0; data: Zenodo record 4590294), as redistributed in the data
examples of the PyPI package ``ansys-health-heart`` (``rodero_01_fullheart_2.0mm.vtu``; only the data file is
used, not the package).
The resource ``Resources/Template/HeartTemplate.npz`` and its README state the credit and the licence.

Structures (:data:`STRUCTURES`, label = index + 1 in label images): each is a closed, outward-oriented,
decimated triangle surface.

- *LV cavity*: the source's closed LV blood-pool surface (endocardium capped at the mitral and aortic valves).
- *LV myocardium*: the closed epicardial surface of the LV wall including the septum (LV and septum elements
  with the cavity filled, capped at the valves); the LV cavity lies inside it, the myocardium is the space
  between the two surfaces (volume = enclosed volume minus cavity volume).
- *RV*, *LA*, *RA*: the source's closed blood-pool surfaces (capped at the valves and vessel inlets).
- *aortic root*: the aortic lumen from the aortic valve plane to :data:`AORTIC_ROOT_LENGTH_MM` above it, closed.

Heart frame (the template's coordinates, mm): origin = mitral annulus centre; +z = LV long axis from the base
(mitral annulus centre) to the LV endocardial apex; +x = toward the right ventricle (the RV cavity centroid's
direction, made perpendicular to z), i.e. from the LV lateral wall to the septum; +y = z x x. The source
coordinates are patient LPS (x left, y posterior, z superior): :attr:`HeartTemplate.frameToSource` maps the
heart frame to them and :attr:`HeartTemplate.anterior` is the patient's anterior direction in the heart frame.

Landmarks are groups of vertex indices (their mean is the landmark), so they follow any deformation of the
template: ``lvApex`` (the LV cavity vertex farthest from the mitral annulus centre), ``lvEpicardialApex``,
``mitralAnnulus`` (12 points around the mitral ring on the LV cavity), ``aorticValve`` (8 points on the aortic
ring), ``tricuspidValve`` (12 points on the tricuspid ring on the RV cavity), ``pulmonaryValve`` (8 points).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .conventions import STRUCTURES

LANDMARKS = ("lvApex", "lvEpicardialApex", "mitralAnnulus", "aorticValve", "tricuspidValve", "pulmonaryValve")
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "Resources" / "Template" / "HeartTemplate.npz"

# -- geometry helpers (numpy, no VTK) ------------------------------------------------------------------------


def signedVolumes(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Signed volume (mm^3) of each triangle's tetrahedron with the origin; their sum is the enclosed volume
    of a closed surface (divergence theorem), positive when the triangles are oriented outward."""
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    return np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0


def enclosedVolumeTensor(vertices, triangles):
    """:func:`enclosedVolume` of torch tensors, differentiable: vertices [..., V, 3], triangles [F, 3] (long) ->
    volumes [...] (mm^3) (the view fit; training's loss)."""
    import torch

    a, b, c = (vertices[..., triangles[:, k], :] for k in range(3))
    return (a * torch.cross(b, c, dim=-1)).sum(dim=(-2, -1)) / 6.0


def enclosedVolume(vertices: np.ndarray, triangles: np.ndarray) -> float:
    """Volume (mm^3) enclosed by a closed, outward-oriented triangle surface."""
    return float(signedVolumes(vertices, triangles).sum())


# -- the template ---------------------------------------------------------------------------------------------


@dataclass
class HeartTemplate:
    """The template heart in the heart frame (mm); see the module docstring.

    ``vertices`` [V, 3]; ``triangles`` [F, 3] (global vertex indices, outward); ``structureOfVertex`` [V] and
    ``structureOfTriangle`` [F] (0..5, index into :data:`STRUCTURES`); ``landmarkIndices`` {name: vertex
    indices}; ``cavityAnchorTriangle`` [Vc] and ``cavityAnchorBarycentric`` [Vc, 3]: for each LV cavity vertex
    (in order), the closest point on the LV myocardium (epicardial) surface as a global triangle index and its
    barycentric coordinates (used to change wall thickness); ``frameToSource`` 4x4 (heart frame -> source LPS);
    ``anterior`` [3] unit vector; ``metadata`` (provenance, measured volumes).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    structureOfVertex: np.ndarray
    structureOfTriangle: np.ndarray
    landmarkIndices: dict[str, np.ndarray]
    cavityAnchorTriangle: np.ndarray
    cavityAnchorBarycentric: np.ndarray
    frameToSource: np.ndarray
    anterior: np.ndarray
    metadata: dict = field(default_factory=dict)

    _cache = {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> "HeartTemplate":
        """Read a template ``.npz`` (default: the bundled one); cached per path (treat it as read-only)."""
        path = Path(path) if path is not None else DEFAULT_PATH
        key = str(path.resolve())
        if key not in cls._cache:
            with np.load(path, allow_pickle=False) as data:
                landmarks = {name: data[f"landmark_{name}"].astype(np.int64) for name in LANDMARKS}
                cls._cache[key] = cls(
                    vertices=data["vertices"].astype(np.float64), triangles=data["triangles"].astype(np.int64),
                    structureOfVertex=data["structureOfVertex"].astype(np.int64),
                    structureOfTriangle=data["structureOfTriangle"].astype(np.int64), landmarkIndices=landmarks,
                    cavityAnchorTriangle=data["cavityAnchorTriangle"].astype(np.int64),
                    cavityAnchorBarycentric=data["cavityAnchorBarycentric"].astype(np.float64),
                    frameToSource=data["frameToSource"].astype(np.float64),
                    anterior=data["anterior"].astype(np.float64), metadata=json.loads(str(data["metadata"])))
        return cls._cache[key]

    @property
    def numberOfVertices(self) -> int:
        return len(self.vertices)

    def structureIndex(self, structure: str | int) -> int:
        """Index (0..5) of a structure given by name or index."""
        return STRUCTURES.index(structure) if isinstance(structure, str) else int(structure)

    def structureVertexIndices(self, structure: str | int) -> np.ndarray:
        """Global indices of the vertices of one structure (ascending)."""
        return np.flatnonzero(self.structureOfVertex == self.structureIndex(structure))

    def structureTriangles(self, structure: str | int) -> np.ndarray:
        """Triangles [F_k, 3] of one structure, as global vertex indices."""
        return self.triangles[self.structureOfTriangle == self.structureIndex(structure)]

    def landmarks(self, vertices: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Landmark points [3] (mm) of a deformed template (``vertices`` [V, 3], default: the template)."""
        vertices = self.vertices if vertices is None else np.asarray(vertices, dtype=float)
        return {name: vertices[indices].mean(axis=0) for name, indices in self.landmarkIndices.items()}

    def structureVolumesMl(self, vertices: np.ndarray | None = None) -> dict[str, float]:
        """Enclosed volume (mL) of each closed structure surface (LV myocardium: the whole epicardial volume)."""
        vertices = self.vertices if vertices is None else np.asarray(vertices, dtype=float)
        volumes = np.bincount(self.structureOfTriangle, weights=signedVolumes(vertices, self.triangles),
                              minlength=len(STRUCTURES))
        return {name: float(volumes[index]) / 1000.0 for index, name in enumerate(STRUCTURES)}

    def polyData(self, vertices: np.ndarray | None = None, structure: str | int | None = None):
        """vtkPolyData of one structure (its own point numbering) or, with ``structure=None``, of all of them
        (template numbering, cell array ``structure`` 0..5); coordinates of ``vertices`` (default the template)."""
        from vtkmodules.util.numpy_support import numpy_to_vtk
        from vtkmodules.vtkCommonCore import VTK_UNSIGNED_CHAR

        from ReconCoreLib.surfaces import polyDataFromTriangles

        vertices = self.vertices if vertices is None else np.asarray(vertices, dtype=float)
        if structure is not None:
            return polyDataFromTriangles(vertices, self.structureTriangles(structure), removeUnusedPoints=True)
        polyData = polyDataFromTriangles(vertices, self.triangles, removeUnusedPoints=True)
        labels = numpy_to_vtk(self.structureOfTriangle.astype(np.uint8), deep=True, array_type=VTK_UNSIGNED_CHAR)
        labels.SetName("structure")
        polyData.GetCellData().AddArray(labels)
        return polyData

    def cavityAnchors(self, vertices: np.ndarray | None = None) -> np.ndarray:
        """Anchor points [Vc, 3] on the LV myocardium surface of the LV cavity vertices (mm)."""
        vertices = self.vertices if vertices is None else np.asarray(vertices, dtype=float)
        corners = vertices[self.triangles[self.cavityAnchorTriangle]]  # [Vc, 3 corners, 3]
        return np.einsum("ij,ijk->ik", self.cavityAnchorBarycentric, corners)

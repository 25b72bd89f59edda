"""Labelled four-chamber heart template of EchoRecon: six closed surfaces with one fixed vertex numbering.

The template is built once (``python -m EchoReconLib.hearttemplate build --source VTU --out PATH``) from case 01
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

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

STRUCTURES = ("LV cavity", "LV myocardium", "RV", "LA", "RA", "aortic root")
#: Decimation targets (vertices per structure): ~4000 in all, one predicted displacement per vertex.
TARGET_VERTICES = {"LV cavity": 900, "LV myocardium": 1000, "RV": 800, "LA": 500, "RA": 500, "aortic root": 300}
AORTIC_ROOT_LENGTH_MM = 30.0
VOXEL_MM = 1.0
LANDMARKS = ("lvApex", "lvEpicardialApex", "mitralAnnulus", "aorticValve", "tricuspidValve", "pulmonaryValve")
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "Resources" / "Template" / "HeartTemplate.npz"

SOURCE_CITATION = ("C. Rodero, M. Strocchi, M. Marciniak, et al., Linking statistical shape models and simulated "
                   "function in the healthy adult human heart, PLoS Comput Biol 17(4):e1008851, 2021, "
                   "doi:10.1371/journal.pcbi.1008851 (CC-BY-4.0); case 01, from the data examples of the PyPI "
                   "package ansys-health-heart")

# Source ids (cell data of the .vtu): closed cavity surfaces (_surface-id), valve caps, myocardial elements.
_CAVITY_SURFACE_ID = {"LV cavity": 1, "RV": 2, "LA": 3, "RA": 4}
_CAP_SURFACE_ID = {"mitralAnnulus": 1001, "aorticValve": 1002, "tricuspidValve": 1003, "pulmonaryValve": 1004}
_CAP_STRUCTURE = {"mitralAnnulus": "LV cavity", "aorticValve": "LV cavity", "tricuspidValve": "RV",
                  "pulmonaryValve": "RV"}
_CAP_RING_POINTS = {"mitralAnnulus": 12, "aorticValve": 8, "tricuspidValve": 12, "pulmonaryValve": 8}
_VOLUME_ID = {"LV": 1, "RV": 2, "LA": 3, "RA": 4, "aorta": 5, "pulmonary artery": 6, "septum": 7}


# -- geometry helpers (numpy, no VTK) ------------------------------------------------------------------------


def signedVolumes(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Signed volume (mm^3) of each triangle's tetrahedron with the origin; their sum is the enclosed volume
    of a closed surface (divergence theorem), positive when the triangles are oriented outward."""
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    return np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0


def enclosedVolume(vertices: np.ndarray, triangles: np.ndarray) -> float:
    """Volume (mm^3) enclosed by a closed, outward-oriented triangle surface."""
    return float(signedVolumes(vertices, triangles).sum())


def triangleNormals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit normals [F, 3] of triangles (right-hand rule)."""
    normals = np.cross(vertices[triangles[:, 1]] - vertices[triangles[:, 0]],
                       vertices[triangles[:, 2]] - vertices[triangles[:, 0]])
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


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

    def save(self, path: str | Path) -> None:
        """Write the template as a compressed ``.npz`` (float32 vertices)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"landmark_{name}": np.asarray(indices, np.int32) for name, indices in self.landmarkIndices.items()}
        np.savez_compressed(
            path, vertices=self.vertices.astype(np.float32), triangles=self.triangles.astype(np.int32),
            structureOfVertex=self.structureOfVertex.astype(np.uint8),
            structureOfTriangle=self.structureOfTriangle.astype(np.uint8),
            cavityAnchorTriangle=self.cavityAnchorTriangle.astype(np.int32),
            cavityAnchorBarycentric=self.cavityAnchorBarycentric.astype(np.float32),
            frameToSource=self.frameToSource, anterior=self.anterior, metadata=json.dumps(self.metadata), **arrays)

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
        import vtk
        from vtk.util.numpy_support import numpy_to_vtk

        vertices = self.vertices if vertices is None else np.asarray(vertices, dtype=float)
        if structure is not None:
            return _polyData(vertices, self.structureTriangles(structure))
        polyData = _polyData(vertices, self.triangles)
        labels = numpy_to_vtk(self.structureOfTriangle.astype(np.uint8), deep=True, array_type=vtk.VTK_UNSIGNED_CHAR)
        labels.SetName("structure")
        polyData.GetCellData().AddArray(labels)
        return polyData

    def cavityAnchors(self, vertices: np.ndarray | None = None) -> np.ndarray:
        """Anchor points [Vc, 3] on the LV myocardium surface of the LV cavity vertices (mm)."""
        vertices = self.vertices if vertices is None else np.asarray(vertices, dtype=float)
        corners = vertices[self.triangles[self.cavityAnchorTriangle]]  # [Vc, 3 corners, 3]
        return np.einsum("ij,ijk->ik", self.cavityAnchorBarycentric, corners)


# -- building it from the source mesh (VTK, run once) --------------------------------------------------------


def _readSource(vtuPath: str | Path) -> dict:
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    reader = vtk.vtkXMLUnstructuredGridReader()
    reader.SetFileName(str(vtuPath))
    reader.Update()
    grid = reader.GetOutput()
    if grid.GetNumberOfPoints() == 0:
        raise ValueError(f"{vtuPath}: no points read")
    points = vtk_to_numpy(grid.GetPoints().GetData()).astype(np.float64)
    types = vtk_to_numpy(grid.GetCellTypesArray())
    connectivity = vtk_to_numpy(grid.GetCells().GetConnectivityArray())
    offsets = vtk_to_numpy(grid.GetCells().GetOffsetsArray())
    surfaceId = vtk_to_numpy(grid.GetCellData().GetArray("_surface-id"))
    volumeId = vtk_to_numpy(grid.GetCellData().GetArray("_volume-id"))
    triangleCells = np.flatnonzero(types == vtk.VTK_TRIANGLE)
    tetraCells = np.flatnonzero(types == vtk.VTK_TETRA)
    triangles = np.stack([connectivity[offsets[triangleCells] + k] for k in range(3)], axis=1)
    tetras = np.stack([connectivity[offsets[tetraCells] + k] for k in range(4)], axis=1)
    return {"points": points, "triangles": triangles, "triangleSurfaceId": surfaceId[triangleCells].astype(int),
            "tetras": tetras, "tetraVolumeId": np.nan_to_num(volumeId[tetraCells]).astype(int)}


def _polyData(points: np.ndarray, triangles: np.ndarray):
    """vtkPolyData of a triangle set, unused points removed."""
    from ReconCoreLib.surfaces import polyDataFromTriangles

    return polyDataFromTriangles(points, triangles, removeUnusedPoints=True)


def _arrays(polyData) -> tuple[np.ndarray, np.ndarray]:
    """(points [N, 3], triangles [F, 3]) of a triangle vtkPolyData."""
    from vtk.util.numpy_support import vtk_to_numpy

    points = vtk_to_numpy(polyData.GetPoints().GetData()).astype(np.float64)
    triangles = vtk_to_numpy(polyData.GetPolys().GetConnectivityArray()).reshape(-1, 3).astype(np.int64)
    return points, triangles


def _tetraBoundary(points: np.ndarray, tetras: np.ndarray) -> np.ndarray:
    """Boundary triangles of a set of tetrahedra (faces used once)."""
    faces = np.concatenate([tetras[:, [0, 1, 2]], tetras[:, [0, 1, 3]], tetras[:, [0, 2, 3]], tetras[:, [1, 2, 3]]])
    keys = np.sort(faces, axis=1)
    _, index, counts = np.unique(keys, axis=0, return_index=True, return_counts=True)
    return faces[index[counts == 1]]


class _Grid:
    """A voxel grid covering the heart (origin, spacing in mm, dims (i, j, k)); masks are indexed [k, j, i]."""

    def __init__(self, points: np.ndarray, spacing: float, margin: float = 12.0):
        self.origin = points.min(axis=0) - margin
        self.spacing = spacing
        self.dims = np.ceil((points.max(axis=0) + margin - self.origin) / spacing).astype(int) + 1

    def coordinates(self) -> np.ndarray:
        """Voxel centre coordinates [K, J, I, 3] (mm)."""
        axes = [self.origin[a] + self.spacing * np.arange(self.dims[a]) for a in range(3)]
        k, j, i = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
        return np.stack([i, j, k], axis=-1)

    def stencil(self, points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        """Voxels inside a closed triangle surface (bool [K, J, I])."""
        from ReconCoreLib.surfaces import voxelizeSurface

        ijkToWorld = np.diag([self.spacing, self.spacing, self.spacing, 1.0])
        ijkToWorld[:3, 3] = self.origin
        return voxelizeSurface(points, triangles, ijkToWorld, self.dims[::-1]).astype(bool)

    def surface(self, mask: np.ndarray, sigmaVoxels: float = 1.0):
        """Closed smooth vtkPolyData of a mask: iso-surface 0.5 of the Gaussian-smoothed mask."""
        import vtk
        from scipy import ndimage
        from vtk.util.numpy_support import numpy_to_vtk

        smooth = ndimage.gaussian_filter(mask.astype(np.float32), sigmaVoxels)
        smooth[[0, -1]] = 0
        smooth[:, [0, -1]] = 0
        smooth[:, :, [0, -1]] = 0
        image = vtk.vtkImageData()
        image.SetOrigin(*self.origin)
        image.SetSpacing(self.spacing, self.spacing, self.spacing)
        image.SetDimensions(*self.dims)
        image.GetPointData().SetScalars(numpy_to_vtk(smooth.ravel(), deep=True))
        contour = vtk.vtkFlyingEdges3D()
        contour.SetInputData(image)
        contour.SetValue(0, 0.5)
        contour.ComputeNormalsOff()
        contour.Update()
        connectivity = vtk.vtkPolyDataConnectivityFilter()
        connectivity.SetInputConnection(contour.GetOutputPort())
        connectivity.SetExtractionModeToLargestRegion()
        clean = vtk.vtkCleanPolyData()
        clean.SetInputConnection(connectivity.GetOutputPort())
        clean.Update()
        return clean.GetOutput()


def _decimate(polyData, targetVertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Decimate a closed surface to about ``targetVertices`` and orient it outward; (points, triangles)."""
    import vtk

    current = polyData
    for _ in range(4):  # quadric decimation undershoots the reduction slightly: iterate to the target
        count = current.GetNumberOfPoints()
        if count <= targetVertices * 1.03:
            break
        decimate = vtk.vtkQuadricDecimation()
        decimate.SetInputData(current)
        decimate.SetTargetReduction(1.0 - targetVertices / count)
        decimate.VolumePreservationOn()
        decimate.Update()
        current = decimate.GetOutput()
    clean = vtk.vtkCleanPolyData()
    clean.SetInputData(current)
    normals = vtk.vtkPolyDataNormals()
    normals.SetInputConnection(clean.GetOutputPort())
    normals.ConsistencyOn()
    normals.AutoOrientNormalsOn()
    normals.SplittingOff()
    normals.ComputePointNormalsOff()
    normals.ComputeCellNormalsOff()
    normals.Update()
    points, triangles = _arrays(normals.GetOutput())
    if enclosedVolume(points, triangles) < 0:
        triangles = triangles[:, ::-1]
    return points, triangles


def surfaceDefects(points: np.ndarray, triangles: np.ndarray) -> dict[str, int]:
    """Counts of defects of a closed triangle surface: boundary edges, non-manifold edges, edges used twice in
    the same direction (inconsistent orientation), connected components (1 expected)."""
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    undirected, counts = np.unique(np.sort(edges, axis=1), axis=0, return_counts=True)
    _, directedCounts = np.unique(edges, axis=0, return_counts=True)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = int(triangles.max()) + 1
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    used = np.zeros(n, bool)
    used[triangles.ravel()] = True
    components, labels = connected_components(graph, directed=False)
    return {"boundaryEdges": int((counts == 1).sum()), "nonManifoldEdges": int((counts > 2).sum()),
            "inconsistentEdges": int((directedCounts > 1).sum()), "components": len(np.unique(labels[used]))}


def _capRing(points: np.ndarray, capTriangles: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(ring points [count, 3] on the boundary of a valve cap, evenly spaced in angle; cap normal)."""
    faces = capTriangles
    normal = np.cross(points[faces[:, 1]] - points[faces[:, 0]], points[faces[:, 2]] - points[faces[:, 0]]).sum(0)
    normal /= np.linalg.norm(normal)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    boundary = points[np.unique(unique[counts == 1])]
    centre = boundary.mean(axis=0)
    e1 = np.cross(normal, [1.0, 0.0, 0.0] if abs(normal[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(normal, e1)
    angles = np.arctan2((boundary - centre) @ e2, (boundary - centre) @ e1)
    targets = np.linspace(-np.pi, np.pi, count, endpoint=False)
    nearest = [np.argmin(np.abs(np.angle(np.exp(1j * (angles - target))))) for target in targets]
    return boundary[nearest], normal


def _closestOnSurface(points: np.ndarray, triangles: np.ndarray, queries: np.ndarray):
    """For each query point: (triangle index, barycentric coordinates [3]) of its closest point on the surface."""
    import vtk

    polyData = _polyData(points, triangles)  # triangles already use all points: same numbering
    locator = vtk.vtkCellLocator()
    locator.SetDataSet(polyData)
    locator.BuildLocator()
    closest, cellId, subId, distance = [0.0, 0.0, 0.0], vtk.mutable(0), vtk.mutable(0), vtk.mutable(0.0)
    triangleIndex = np.zeros(len(queries), np.int64)
    barycentric = np.zeros((len(queries), 3))
    for index, query in enumerate(queries):
        locator.FindClosestPoint(query.tolist(), closest, cellId, subId, distance)
        corners = points[triangles[int(cellId)]]
        # barycentric coordinates of the closest point (it lies in the triangle)
        v0, v1, v2 = corners[1] - corners[0], corners[2] - corners[0], np.asarray(closest) - corners[0]
        d00, d01, d11, d20, d21 = v0 @ v0, v0 @ v1, v1 @ v1, v2 @ v0, v2 @ v1
        denominator = d00 * d11 - d01 * d01
        b1 = (d11 * d20 - d01 * d21) / denominator
        b2 = (d00 * d21 - d01 * d20) / denominator
        triangleIndex[index] = int(cellId)
        barycentric[index] = np.clip([1.0 - b1 - b2, b1, b2], 0.0, 1.0)
        barycentric[index] /= barycentric[index].sum()
    return triangleIndex, barycentric


def _aorticLumenMask(grid: _Grid, wall: np.ndarray, barrier: np.ndarray, valveCentre: np.ndarray,
                     valveNormal: np.ndarray, ringStartMm: float = 5.0) -> np.ndarray:
    """Aortic lumen voxels from the valve plane to AORTIC_ROOT_LENGTH_MM above it.

    Between ``ringStartMm`` (where the source's aortic wall is a closed ring) and the root length, the lumen is
    the space the wall encloses between two capping disks; below, that lowest cross-section is extruded along
    the valve normal down to the valve plane, leaving out ``barrier`` (the LV).
    """
    from scipy import ndimage

    coordinates = grid.coordinates() - valveCentre
    axial = coordinates @ valveNormal
    radial = np.linalg.norm(coordinates - axial[..., None] * valveNormal, axis=-1)
    disk = radial < 40.0
    top = AORTIC_ROOT_LENGTH_MM
    caps = disk & (((axial > ringStartMm - 2.0) & (axial <= ringStartMm)) | ((axial >= top) & (axial < top + 2.0)))
    closed = wall | caps
    lumen = ndimage.binary_fill_holes(closed) & ~closed & (axial > ringStartMm) & (axial < top)
    labels, count = ndimage.label(lumen)
    if count == 0:
        raise RuntimeError("no aortic lumen found above the aortic valve")
    sizes = ndimage.sum(lumen, labels, index=np.arange(1, count + 1))
    lumen = labels == 1 + int(np.argmax(sizes))
    below = disk & (axial > 0.0) & (axial <= ringStartMm + 1.0)
    shifted = coordinates[below] + (valveCentre + (ringStartMm + 1.5 - axial[below])[:, None] * valveNormal)
    index = np.round((shifted - grid.origin) / grid.spacing).astype(int)[:, ::-1]  # (k, j, i)
    lumen[below] |= lumen[index[:, 0], index[:, 1], index[:, 2]]
    return lumen & ~barrier & ~wall


def buildTemplate(vtuPath: str | Path, outputPath: str | Path | None = None) -> HeartTemplate:
    """Build the template from a Rodero et al. full-heart ``.vtu`` (mm, LPS) and write it to ``outputPath``."""
    source = _readSource(vtuPath)
    points, triangles, surfaceId = source["points"], source["triangles"], source["triangleSurfaceId"]
    tetras, volumeId = source["tetras"], source["tetraVolumeId"]
    grid = _Grid(points, VOXEL_MM)

    surfaces = {}
    for name, sid in _CAVITY_SURFACE_ID.items():
        surfaces[name] = _decimate(_polyData(points, triangles[surfaceId == sid]), TARGET_VERTICES[name])
    lvCavityMask = grid.stencil(points, triangles[surfaceId == _CAVITY_SURFACE_ID["LV cavity"]])
    lvWall = grid.stencil(points, _tetraBoundary(points, tetras[volumeId == _VOLUME_ID["LV"]]))
    septum = grid.stencil(points, _tetraBoundary(points, tetras[volumeId == _VOLUME_ID["septum"]]))
    from scipy import ndimage

    lvMyocardium = ndimage.binary_fill_holes(ndimage.binary_closing(lvWall | septum | lvCavityMask, iterations=1))
    surfaces["LV myocardium"] = _decimate(grid.surface(lvMyocardium), TARGET_VERTICES["LV myocardium"])

    aorticRing, aorticNormal = _capRing(points, triangles[surfaceId == _CAP_SURFACE_ID["aorticValve"]], 16)
    aorticCentre = aorticRing.mean(axis=0)
    lvCentre = points[np.unique(triangles[surfaceId == 1])].mean(axis=0)
    if aorticNormal @ (aorticCentre - lvCentre) < 0:
        aorticNormal = -aorticNormal
    aortaWall = grid.stencil(points, _tetraBoundary(points, tetras[volumeId == _VOLUME_ID["aorta"]]))
    lumen = _aorticLumenMask(grid, aortaWall, lvMyocardium, aorticCentre, aorticNormal)
    surfaces["aortic root"] = _decimate(grid.surface(lumen), TARGET_VERTICES["aortic root"])

    # one vertex numbering: structures in STRUCTURES order
    allVertices, allTriangles, vertexStructure, triangleStructure, offset = [], [], [], [], 0
    for index, name in enumerate(STRUCTURES):
        structurePoints, structureTriangles = surfaces[name]
        defects = surfaceDefects(structurePoints, structureTriangles)
        if any(defects[key] for key in ("boundaryEdges", "nonManifoldEdges", "inconsistentEdges")) or \
                defects["components"] != 1:
            raise RuntimeError(f"{name}: decimated surface is not a closed manifold: {defects}")
        allVertices.append(structurePoints)
        allTriangles.append(structureTriangles + offset)
        vertexStructure.append(np.full(len(structurePoints), index))
        triangleStructure.append(np.full(len(structureTriangles), index))
        offset += len(structurePoints)
    vertices = np.concatenate(allVertices)
    faces = np.concatenate(allTriangles)
    structureOfVertex = np.concatenate(vertexStructure)
    structureOfTriangle = np.concatenate(triangleStructure)

    # landmarks: valve rings -> nearest vertices of the structure they belong to
    from scipy.spatial import cKDTree

    landmarks = {}
    for name, sid in _CAP_SURFACE_ID.items():
        ring, _ = _capRing(points, triangles[surfaceId == sid], _CAP_RING_POINTS[name])
        candidates = np.flatnonzero(structureOfVertex == STRUCTURES.index(_CAP_STRUCTURE[name]))
        _, nearest = cKDTree(vertices[candidates]).query(ring)
        landmarks[name] = np.unique(candidates[nearest])
    mitralCentre = vertices[landmarks["mitralAnnulus"]].mean(axis=0)
    cavity = np.flatnonzero(structureOfVertex == 0)
    landmarks["lvApex"] = cavity[[np.argmax(np.linalg.norm(vertices[cavity] - mitralCentre, axis=1))]]
    axisZ = vertices[landmarks["lvApex"][0]] - mitralCentre
    axisZ /= np.linalg.norm(axisZ)
    myocardium = np.flatnonzero(structureOfVertex == 1)
    landmarks["lvEpicardialApex"] = myocardium[[np.argmax((vertices[myocardium] - mitralCentre) @ axisZ)]]

    # heart frame
    rvCentre = vertices[structureOfVertex == 2].mean(axis=0)
    axisX = (rvCentre - mitralCentre) - ((rvCentre - mitralCentre) @ axisZ) * axisZ
    axisX /= np.linalg.norm(axisX)
    axisY = np.cross(axisZ, axisX)
    rotation = np.stack([axisX, axisY, axisZ])  # rows: heart axes in source coordinates
    frameVertices = (vertices - mitralCentre) @ rotation.T
    frameToSource = np.eye(4)
    frameToSource[:3, :3] = rotation.T
    frameToSource[:3, 3] = mitralCentre
    anterior = rotation @ np.array([0.0, -1.0, 0.0])  # LPS: anterior is -y

    # LV cavity vertices anchored on the LV myocardium surface (wall thickness changes move the cavity)
    myocardiumTriangles = np.flatnonzero(structureOfTriangle == 1)
    local = np.full(len(frameVertices), -1)
    local[myocardium] = np.arange(len(myocardium))
    anchorTriangle, anchorBarycentric = _closestOnSurface(
        frameVertices[myocardium], local[faces[myocardiumTriangles]], frameVertices[cavity])
    template = HeartTemplate(
        vertices=frameVertices, triangles=faces, structureOfVertex=structureOfVertex,
        structureOfTriangle=structureOfTriangle, landmarkIndices=landmarks,
        cavityAnchorTriangle=myocardiumTriangles[anchorTriangle], cavityAnchorBarycentric=anchorBarycentric,
        frameToSource=frameToSource, anterior=anterior)
    template.metadata = {
        "source": SOURCE_CITATION, "sourceFile": Path(vtuPath).name, "license": "CC-BY-4.0",
        "frame": "origin mitral annulus centre; +z base->apex (LV long axis); +x toward the RV; +y = z x x; mm",
        "structures": list(STRUCTURES), "voxelMm": VOXEL_MM, "aorticRootLengthMm": AORTIC_ROOT_LENGTH_MM,
        "vertexCounts": {name: int((structureOfVertex == index).sum()) for index, name in enumerate(STRUCTURES)},
        "volumesMl": {name: round(value, 2) for name, value in template.structureVolumesMl().items()},
        "sourceLvCavityVolumeMl": round(abs(enclosedVolume(points, triangles[surfaceId == 1])) / 1000.0, 2),
    }
    if outputPath is not None:
        template.save(outputPath)
    return template


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Build EchoRecon's heart template from a Rodero et al. mesh.")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the template .npz")
    build.add_argument("--source", required=True, help="rodero_01_fullheart_2.0mm.vtu")
    build.add_argument("--out", default=str(DEFAULT_PATH))
    args = parser.parse_args(argv)
    template = buildTemplate(args.source, args.out)
    print(json.dumps(template.metadata, indent=2))


if __name__ == "__main__":
    main()

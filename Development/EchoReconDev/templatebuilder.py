"""Build EchoRecon's heart template from a Rodero et al. four-chamber mesh (run once; VTK).

``python -m EchoReconDev.templatebuilder build --source rodero_01_fullheart_2.0mm.vtu`` writes
``EchoRecon/Resources/Template/HeartTemplate.npz``; what the template holds and its frame are described in the
runtime module that reads it, :mod:`EchoReconLib.template`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from EchoReconLib.conventions import STRUCTURES
from EchoReconLib.template import DEFAULT_PATH, HeartTemplate, enclosedVolume

#: Decimation targets (vertices per structure): ~4000 in all, one predicted displacement per vertex.
TARGET_VERTICES = {"LV cavity": 900, "LV myocardium": 1000, "RV": 800, "LA": 500, "RA": 500, "aortic root": 300}
AORTIC_ROOT_LENGTH_MM = 30.0
VOXEL_MM = 1.0

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


def saveTemplate(template: HeartTemplate, path: str | Path) -> None:
    """Write the template as a compressed ``.npz`` (float32 vertices)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"landmark_{name}": np.asarray(indices, np.int32) for name, indices in template.landmarkIndices.items()}
    np.savez_compressed(
        path, vertices=template.vertices.astype(np.float32), triangles=template.triangles.astype(np.int32),
        structureOfVertex=template.structureOfVertex.astype(np.uint8),
        structureOfTriangle=template.structureOfTriangle.astype(np.uint8),
        cavityAnchorTriangle=template.cavityAnchorTriangle.astype(np.int32),
        cavityAnchorBarycentric=template.cavityAnchorBarycentric.astype(np.float32),
        frameToSource=template.frameToSource, anterior=template.anterior, metadata=json.dumps(template.metadata),
        **arrays)



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
        saveTemplate(template, outputPath)
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

"""Triangle surfaces given as numpy arrays: VTK poly data and voxelization (one place for all modules).

Frames: the points and the grid share one world frame (LPS or RAS, mm); label arrays are indexed [k, j, i].
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def polyDataFromTriangles(points: np.ndarray, triangles: np.ndarray, removeUnusedPoints: bool = False):
    """vtkPolyData of (N, 3) points and (F, 3) triangles; ``removeUnusedPoints`` keeps only the points in use."""
    from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray
    from vtkmodules.vtkCommonCore import vtkPoints as VtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData

    points = np.asarray(points, dtype=np.float64)
    triangles = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    if removeUnusedPoints:
        used, inverse = np.unique(triangles, return_inverse=True)
        points, triangles = points[used], inverse.reshape(-1, 3).astype(np.int64)
    vtkPoints = VtkPoints()
    vtkPoints.SetData(numpy_to_vtk(np.ascontiguousarray(points), deep=True))
    cells = vtkCellArray()
    cells.SetData(numpy_to_vtkIdTypeArray(np.arange(0, 3 * len(triangles) + 1, 3, dtype=np.int64), deep=True),
                  numpy_to_vtkIdTypeArray(np.ascontiguousarray(triangles.ravel()), deep=True))
    polyData = vtkPolyData()
    polyData.SetPoints(vtkPoints)
    polyData.SetPolys(cells)
    return polyData


def voxelizeSurface(points: np.ndarray, triangles: np.ndarray, ijkToWorld: np.ndarray,
                    shapeKji: Sequence[int]) -> np.ndarray:
    """uint8 label (1 inside) of a closed triangle surface on a grid; voxel centres are tested (VTK stencil).

    ``ijkToWorld`` is the grid's 4x4 matrix (any spacing and direction): the points are taken to continuous
    IJK first, so the stencil runs on a unit grid.
    """
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkImagingStencil import vtkImageStencilToImage, vtkPolyDataToImageStencil

    points = np.asarray(points, dtype=np.float64)
    worldToIjk = np.linalg.inv(np.asarray(ijkToWorld, dtype=np.float64))
    index = points @ worldToIjk[:3, :3].T + worldToIjk[:3, 3]
    k, j, i = (int(size) for size in shapeKji)
    stencil = vtkPolyDataToImageStencil()
    stencil.SetInputData(polyDataFromTriangles(index, triangles))
    stencil.SetOutputOrigin(0.0, 0.0, 0.0)
    stencil.SetOutputSpacing(1.0, 1.0, 1.0)
    stencil.SetOutputWholeExtent(0, i - 1, 0, j - 1, 0, k - 1)
    toImage = vtkImageStencilToImage()
    toImage.SetInputConnection(stencil.GetOutputPort())
    toImage.SetInsideValue(1)
    toImage.SetOutsideValue(0)
    toImage.SetOutputScalarTypeToUnsignedChar()
    toImage.Update()
    label = vtk_to_numpy(toImage.GetOutput().GetPointData().GetScalars()).reshape(k, j, i)
    return np.ascontiguousarray(label, dtype=np.uint8)

"""Shared surface helpers: numpy triangles -> vtkPolyData, and voxelization on any grid."""

import numpy as np
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from ReconCoreLib.surfaces import polyDataFromTriangles, voxelizeSurface


def sphere(radius=20.0, center=(5.0, -3.0, 8.0)):
    source = vtk.vtkSphereSource()
    source.SetRadius(radius)
    source.SetCenter(*center)
    source.SetThetaResolution(96)
    source.SetPhiResolution(96)
    source.Update()
    data = source.GetOutput()
    points = vtk_to_numpy(data.GetPoints().GetData()).astype(float)
    triangles = vtk_to_numpy(data.GetPolys().GetConnectivityArray()).reshape(-1, 3)
    return points, triangles


def test_poly_data_keeps_or_compacts_points():
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [9, 9, 9.0]])
    triangles = np.array([[0, 1, 2], [0, 3, 1]])
    full = polyDataFromTriangles(points, triangles)
    assert full.GetNumberOfPoints() == 5 and full.GetNumberOfCells() == 2
    compact = polyDataFromTriangles(points, triangles, removeUnusedPoints=True)
    assert compact.GetNumberOfPoints() == 4
    assert np.allclose(vtk_to_numpy(compact.GetPoints().GetData()), points[:4])


def test_voxelized_sphere_volume_and_position_on_an_oblique_anisotropic_grid():
    points, triangles = sphere()
    angle = np.radians(30)
    direction = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1.0]])
    spacing = np.array([0.8, 1.0, 1.2])  # i, j, k
    ijkToWorld = np.eye(4)
    ijkToWorld[:3, :3] = direction * spacing
    shape = (50, 60, 70)  # k, j, i
    centreIjk = (np.array(shape[::-1]) - 1) / 2
    ijkToWorld[:3, 3] = np.array([5.0, -3.0, 8.0]) - ijkToWorld[:3, :3] @ centreIjk
    label = voxelizeSurface(points, triangles, ijkToWorld, shape)
    assert label.dtype == np.uint8 and label.shape == shape
    volume = label.sum() * np.prod(spacing)
    assert abs(volume / (4 / 3 * np.pi * 20.0 ** 3) - 1) < 0.02
    k, j, i = np.nonzero(label)
    centroidWorld = ijkToWorld[:3, :3] @ [i.mean(), j.mean(), k.mean()] + ijkToWorld[:3, 3]
    assert np.allclose(centroidWorld, [5.0, -3.0, 8.0], atol=0.2)

"""Cone-beam projector (ProST) and inv-ProST against analytic chords, silhouettes and gradients."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch: the pass with Slicer's packages runs without it")

from ReconCoreLib.projector import BeamToPatient, ConeBeamProjector, ViewGeometry, gridPointsLps, lpsToGridMatrix
from ReconCoreLib.xraygeometry import CArmGeometry

SID, SOD = 1000.0, 750.0


def centredGrid(shapeKji, spacing=1.0):
    """ijkToLps of an axis-aligned grid centred on the isocenter."""
    ijkToLps = np.diag([spacing, spacing, spacing, 1.0])
    ijkToLps[:3, 3] = -(np.array(shapeKji[::-1]) - 1) / 2 * spacing
    return ijkToLps


def partialVolume(signedDepthMm, spacing=1.0):
    """Occupancy with a one-voxel linear ramp across the surface (anti-aliased, so integrals are exact-ish)."""
    return (signedDepthMm / spacing + 0.5).clamp(0.0, 1.0)


def pixelRays(geometry):
    """Unit ray directions (LPS) of every pixel, [rows * columns, 3], row-major."""
    columns, rows = np.meshgrid(np.arange(geometry.columns), np.arange(geometry.rows))
    pixels = np.stack([columns.ravel(), rows.ravel()], axis=1).astype(float)
    directions = geometry.pixelToDetectorLps(pixels) - geometry.sourcePositionLps
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)


def project(volume, ijkToLps, geometry, radius, samples=256, reduction="integral"):
    projector = ConeBeamProjector(geometry.rows, geometry.columns, samples, reduction)
    lpsToGrid = torch.as_tensor(lpsToGridMatrix(ijkToLps, volume.shape[-3:]), dtype=torch.float32)[None]
    views = ViewGeometry.fromCArm([geometry], radiusMm=radius)
    return projector(volume, lpsToGrid, *views.tensors())[0, 0].numpy()


def test_drr_of_uniform_sphere_matches_chord_length():
    shape, radius = (100, 100, 100), 40.0
    ijkToLps = centredGrid(shape)
    distance = gridPointsLps(ijkToLps, shape).norm(dim=-1)
    volume = partialVolume(radius - distance)[None, None]
    geometry = CArmGeometry(30, 20, SID, SOD, (2.0, 2.0), 64, 64)
    drr = project(volume, ijkToLps, geometry, radius=75.0)

    source = geometry.sourcePositionLps
    rays = pixelRays(geometry)
    missDistance = np.sqrt(np.maximum(source @ source - (rays @ -source) ** 2, 0.0))  # centre-to-ray distance
    chord = 2.0 * np.sqrt(np.maximum(radius ** 2 - missDistance ** 2, 0.0))
    inside = missDistance < 0.8 * radius  # chords >= 1.2 R: away from the grazing rim, where the 1 mm ramp dominates
    assert inside.sum() > 1000
    relative = np.abs(drr.ravel()[inside] - chord[inside]) / chord[inside]
    assert relative.max() < 0.01
    assert np.abs(drr.ravel()[missDistance > radius + 2.0]).max() < 1e-4  # rays that miss see nothing


def test_drr_of_cylinder_matches_chord_length():
    shape, radius, halfLength = (130, 90, 90), 30.0, 60.0  # axis along S (k)
    ijkToLps = centredGrid(shape)
    points = gridPointsLps(ijkToLps, shape)
    radial = points[..., :2].norm(dim=-1)
    volume = (partialVolume(radius - radial) * partialVolume(halfLength - points[..., 2].abs()))[None, None]
    geometry = CArmGeometry(-30, 15, SID, SOD, (1.0, 1.0), 64, 64)
    drr = project(volume, ijkToLps, geometry, radius=100.0)

    source = geometry.sourcePositionLps
    rays = pixelRays(geometry)
    a = (rays[:, :2] ** 2).sum(1)
    b = 2.0 * (rays[:, :2] @ source[:2])
    c = source[:2] @ source[:2] - radius ** 2
    discriminant = b ** 2 - 4 * a * c
    hits = discriminant > 0
    root = np.sqrt(np.where(hits, discriminant, 0.0))
    entry, exit_ = (-b - root) / (2 * a), (-b + root) / (2 * a)
    chord = np.where(hits, exit_ - entry, 0.0)
    zEntry, zExit = source[2] + entry * rays[:, 2], source[2] + exit_ * rays[:, 2]
    usable = hits & (chord > 0.4 * radius) & (np.maximum(np.abs(zEntry), np.abs(zExit)) < halfLength - 5)
    assert usable.sum() > 500
    relative = np.abs(drr.ravel()[usable] - chord[usable]) / chord[usable]
    assert relative.max() < 0.01


def test_max_silhouette_of_sphere_is_the_analytic_disk():
    shape, radius = (90, 90, 90), 35.0
    ijkToLps = centredGrid(shape)
    volume = partialVolume(radius - gridPointsLps(ijkToLps, shape).norm(dim=-1))[None, None]
    geometry = CArmGeometry(45, -20, SID, SOD, (1.0, 1.0), 128, 128)
    silhouette = project(volume, ijkToLps, geometry, radius=65.0, samples=192, reduction="max")
    # a sphere on the central ray projects to a disk of radius SID * tan(asin(R / SOD))
    diskRadiusPixels = SID * math.tan(math.asin(radius / SOD)) / 1.0
    area = (silhouette > 0.5).sum()
    assert area == pytest.approx(math.pi * diskRadiusPixels ** 2, rel=0.02)
    soft = project(volume, ijkToLps, geometry, radius=65.0, samples=192, reduction="softmax")
    assert np.all(soft <= silhouette + 1e-5)
    assert np.abs(soft - silhouette)[silhouette > 0.99].max() < 0.1  # softness 0.05: a blend near the max


def test_prost_then_inverse_reproduces_a_smooth_volume_inside_the_cone():
    shape = (80, 80, 80)
    ijkToLps = centredGrid(shape)
    points = gridPointsLps(ijkToLps, shape)
    volume = torch.exp(-(points - torch.tensor([5.0, -3.0, 4.0])).pow(2).sum(-1) / (2 * 12.0 ** 2))[None, None]
    geometry = CArmGeometry(30, 20, SID, SOD, (1.6, 1.6), 96, 96)
    views = ViewGeometry.fromCArm([geometry], radiusMm=70.0)
    lpsToGrid = torch.as_tensor(lpsToGridMatrix(ijkToLps, shape), dtype=torch.float32)[None]
    beam = ConeBeamProjector(96, 96, 128).beamVolume(volume, lpsToGrid, *views.tensors())
    assert beam.shape == (1, 1, 128, 96, 96)
    back = BeamToPatient()(beam, points[None], *views.tensors())[0, 0]

    pixels = geometry.projectLps(points.reshape(-1, 3).numpy()).reshape(*shape, 2)
    inCone = torch.as_tensor(np.all((pixels >= 0) & (pixels <= 95), axis=-1))
    assert inCone.float().mean() > 0.5
    assert (back - volume[0, 0])[inCone].abs().max() < 0.01  # interpolation error only
    outside = ~torch.as_tensor(np.all((pixels >= -1) & (pixels <= 96), axis=-1))
    assert back[outside].abs().max() == 0.0  # outside the cone: zero


def _poseMatrix(translation):
    top = torch.cat([torch.eye(3, dtype=translation.dtype), translation[:, None]], dim=1)
    return torch.cat([top, torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=translation.dtype)], dim=0)


def test_gradients_reach_volume_and_pose():
    torch.manual_seed(0)
    shape = (40, 40, 40)
    ijkToLps = centredGrid(shape, spacing=2.0)
    points = gridPointsLps(ijkToLps, shape, dtype=torch.float64)
    blob = torch.exp(-points.pow(2).sum(-1) / (2 * 10.0 ** 2))[None, None]
    geometry = CArmGeometry(-30, 0, SID, SOD, (2.0, 2.0), 32, 32)
    views = ViewGeometry.fromCArm([geometry], radiusMm=60.0, dtype=torch.float64)
    lpsToGrid = torch.as_tensor(lpsToGridMatrix(ijkToLps, shape))[None]
    projector = ConeBeamProjector(32, 32, 64)
    target = projector(blob, lpsToGrid, *views.tensors()).detach()
    weights = torch.rand(1, 1, 32, 32, dtype=torch.float64)

    def loss(volume, translation):
        moved = lpsToGrid @ torch.linalg.inv(_poseMatrix(translation))[None]
        return ((projector(volume, moved, *views.tensors()) - target) * weights).sum()

    volume = blob.clone().requires_grad_(True)
    translation = torch.tensor([3.0, -2.0, 4.0], dtype=torch.float64, requires_grad=True)
    value = loss(volume, translation)
    value.backward()
    assert volume.grad is not None and volume.grad.abs().sum() > 0
    assert translation.grad is not None and translation.grad.abs().min() > 0
    step = 1e-3
    for axis in range(3):
        offset = torch.zeros(3, dtype=torch.float64)
        offset[axis] = step
        with torch.no_grad():
            numeric = (loss(blob, translation.detach() + offset) - loss(blob, translation.detach() - offset)) / (2 * step)
        assert translation.grad[axis].item() == pytest.approx(numeric.item(), rel=0.02, abs=1e-6)


def test_layers_are_scriptable_and_batched():
    shape = (30, 30, 30)
    ijkToLps = centredGrid(shape, spacing=2.0)
    volume = torch.rand(2, 3, *shape)
    geometries = [CArmGeometry(30, 20, SID, SOD, (2.0, 2.0), 24, 20), CArmGeometry(-60, 0, SID, SOD, (2.0, 2.0), 24, 20)]
    views = ViewGeometry.fromCArm(geometries, radiusMm=45.0)
    lpsToGrid = torch.as_tensor(lpsToGridMatrix(ijkToLps, shape), dtype=torch.float32)[None].repeat(2, 1, 1)
    for reduction in ("integral", "max", "softmax"):
        projector = ConeBeamProjector(24, 20, 32, reduction)
        scripted = torch.jit.script(projector)
        eager = projector(volume, lpsToGrid, *views.tensors())
        assert eager.shape == (2, 3, 24, 20)
        assert torch.allclose(scripted(volume, lpsToGrid, *views.tensors()), eager, atol=1e-5)
        # each batch element uses its own view: swapping views swaps images
        swapped = ViewGeometry(*(tensor.flip(0) for tensor in views.tensors()))
        assert torch.allclose(projector(volume.flip(0), lpsToGrid, *swapped.tensors()), eager.flip(0), atol=1e-5)
    beam = ConeBeamProjector(24, 20, 32).beamVolume(volume, lpsToGrid, *views.tensors())
    points = gridPointsLps(ijkToLps, shape)[None].repeat(2, 1, 1, 1, 1)
    inverse = torch.jit.script(BeamToPatient())
    assert torch.allclose(inverse(beam, points, *views.tensors()), BeamToPatient()(beam, points, *views.tensors()))


def test_bad_reduction_is_refused():
    with pytest.raises(ValueError, match="reduction"):
        ConeBeamProjector(8, 8, 16, "mean")


def test_back_projection_of_images_reads_the_projected_pixel():
    from ReconCoreLib.projector import sampleImagesAtPoints

    geometry = CArmGeometry(30, 20, SID, SOD, (2.0, 2.0), 40, 50)
    pointsLps = torch.tensor([[0.0, 0.0, 0.0], [12.0, -7.0, 20.0], [-25.0, 10.0, -5.0], [0.0, 2 * SOD, 0.0]])
    rows, columns = torch.meshgrid(torch.arange(40.0), torch.arange(50.0), indexing="ij")
    images = torch.stack([columns, rows])[None]  # channel 0 = column index, channel 1 = row index
    projection = torch.as_tensor(geometry.projectionMatrixLps(), dtype=torch.float32)[None]
    sampled = sampleImagesAtPoints(images, projection, pointsLps)[0]
    expected = geometry.projectLps(pointsLps[:3].numpy())
    assert np.allclose(sampled[:, :3].T.numpy(), expected, atol=1e-3)  # bilinear on a linear ramp is exact
    assert sampled[:, 3].abs().max() == 0  # behind the source: outside
    assert torch.jit.script(sampleImagesAtPoints) is not None


def test_grid_made_when_a_network_runs_is_every_voxel_centre():
    from ReconCoreLib.projector import gridPoints

    ijkToLps = np.array([[0, 0, 2.0, -10], [0, -1.5, 0, 40], [0.5, 0, 0, 5], [0, 0, 0, 1]])  # permuted, one flipped
    points = torch.jit.script(gridPoints)(torch.as_tensor(ijkToLps), 3, 4, 5)  # [k, j, i, xyz]
    assert points.shape == (3, 4, 5, 3) and points.dtype == torch.float64
    assert np.allclose(points[2, 1, 4].numpy(), ijkToLps[:3] @ [4, 1, 2, 1])  # voxel (i, j, k) = (4, 1, 2)
    ijk = np.linalg.solve(ijkToLps, np.c_[points.reshape(-1, 3).numpy(), np.ones(60)].T).T[:, :3]  # and back
    k, j, i = np.meshgrid(np.arange(3), np.arange(4), np.arange(5), indexing="ij")
    assert np.allclose(ijk, np.c_[i.ravel(), j.ravel(), k.ravel()])
    assert torch.equal(gridPointsLps(ijkToLps, (3, 4, 5)), points.float())
    onDevice = torch.jit.script(gridPoints)(torch.as_tensor(ijkToLps, device="meta"), 3, 4, 5)
    assert onDevice.device.type == "meta"  # made where the matrix is: a model moved to CUDA makes its grid there

"""FemurRegistration network pieces: similarity, field integration and units, inverse map, warping, Jacobian."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch: the pass with Slicer's packages runs without it")

from FemurRegistrationDev import network
from FemurRegistrationLib import inference, transforms
from FemurRegistrationLib.conventions import FIELD_SPACING_MM, RAY_RADIUS_MM
from FemurRegistrationLib.grid import boxGrid
from ReconCoreLib.projector import gridPointsLps, lpsToGridMatrix
from ReconCoreLib.xraygeometry import CArmGeometry


def boxIjkToLps(spacing, shapeKji):
    matrix = np.diag([spacing, spacing, spacing, 1.0])
    matrix[:3, 3] = -(np.array(shapeKji[::-1]) - 1) * spacing / 2
    return matrix


FIELD_SHAPE = (10, 7, 8)
FIELD_IJK = boxIjkToLps(16.0, FIELD_SHAPE)
FIELD_LPS_TO_GRID = torch.as_tensor(lpsToGridMatrix(FIELD_IJK, FIELD_SHAPE), dtype=torch.float32)[None]


@pytest.fixture(scope="module")
def smallNet():
    torch.manual_seed(0)
    shape = (20, 14, 16)
    atlas = np.zeros(shape, np.float32)
    atlas[5:15, 4:10, 4:12] = 1.0
    return network.FemurRegistrationNet(atlas, boxIjkToLps(8.0, shape), FIELD_IJK, FIELD_SHAPE, (24.0, 0.0, 55.0),
                                        samplesPerRay=32).eval()


def test_similarity_matrix_identity_rotation_and_centre():
    centre = torch.tensor([24.0, 0.0, 55.0])
    identity = transforms.similarityMatrix(torch.zeros(1, 7), centre)[0]
    assert torch.allclose(identity, torch.eye(4), atol=1e-6)
    parameters = torch.tensor([[0.0, 0.0, np.pi / 2 / 0.2, 0.5, 0.0, 0.0, np.log(1.1) / 0.1]], dtype=torch.float32)
    matrix = transforms.similarityMatrix(parameters, centre)[0].double().numpy()
    expected = 1.1 * np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])  # 90 deg about z, scale 1.1
    assert np.allclose(matrix[:3, :3], expected, atol=1e-5)
    # The centre moves by the translation only (0.5 x 10 mm along x).
    moved = matrix @ np.r_[centre.numpy(), 1.0]
    assert np.allclose(moved[:3], centre.numpy() + [5.0, 0, 0], atol=1e-4)


def test_constant_velocity_integrates_to_a_translation_in_mm(smallNet):
    velocity = torch.zeros(1, 3, *FIELD_SHAPE)
    velocity[:, 0] = 0.25  # a quarter voxel along k (z), 16 mm voxels -> 4 mm along z
    velocity[:, 2] = -0.5  # half a voxel along i (x) -> -8 mm along x
    displacement = smallNet.velocityToMm(smallNet.integrate(velocity))
    inner = displacement[0, :, 2:-2, 2:-2, 2:-2]
    assert torch.allclose(inner[0], torch.full_like(inner[0], -8.0), atol=1e-3)
    assert torch.allclose(inner[1], torch.zeros_like(inner[1]), atol=1e-3)
    assert torch.allclose(inner[2], torch.full_like(inner[2], 4.0), atol=1e-3)


def test_inverse_map_round_trip_for_a_smooth_field(smallNet):
    points = gridPointsLps(FIELD_IJK, FIELD_SHAPE)
    velocity = torch.stack([torch.sin(points[..., 0] / 40.0), torch.cos(points[..., 2] / 50.0),
                            torch.sin(points[..., 1] / 30.0)])[None] * 0.15  # voxels, smooth
    displacement = smallNet.velocityToMm(smallNet.integrate(velocity))
    inverse = smallNet.velocityToMm(smallNet.integrate(-velocity))
    affine = transforms.similarityMatrix(torch.tensor([[0.1, -0.2, 0.05, 0.3, -0.4, 0.2, 0.3]]),
                                      torch.tensor([24.0, 0.0, 55.0]))
    patient = torch.tensor([[[10.0, -5.0, 20.0], [30.0, 10.0, 60.0], [-20.0, 15.0, -30.0]]])
    atlas = transforms.patientToAtlas(patient, affine, displacement, FIELD_LPS_TO_GRID)
    back = transforms.atlasToPatient(atlas, affine, inverse, FIELD_LPS_TO_GRID)
    assert displacement.abs().max() > 1.5  # a real deformation, not a no-op
    assert torch.allclose(back, patient, atol=0.1)


def test_identity_warp_reproduces_the_volume(smallNet):
    shape = tuple(smallNet.atlas.shape[2:])
    points = gridPointsLps(boxIjkToLps(8.0, shape), shape)[None]
    warped = transforms.warpVolume(smallNet.atlas, smallNet.atlasLpsToGrid, points, torch.eye(4)[None],
                                torch.zeros(1, 3, *FIELD_SHAPE), FIELD_LPS_TO_GRID)
    assert torch.allclose(warped, smallNet.atlas, atol=1e-5)


def test_untrained_network_starts_at_identity_and_traces(smallNet):
    geometries = [CArmGeometry(0, 0, 1000, 925, (2.03, 2.03), 96, 96),
                  CArmGeometry(-90, 0, 1000, 925, (2.03, 2.03), 96, 96)]
    views = torch.as_tensor(transforms.viewParameters(geometries))[None]
    torch.manual_seed(1)
    images, masks = torch.rand(1, 2, 96, 96), torch.ones(1, 2, 96, 96)
    with torch.no_grad():
        affine, displacement, inverse = smallNet(images, masks, views)
        assert torch.allclose(affine[0], torch.eye(4), atol=0.02)
        assert displacement.abs().max() < 0.05 and inverse.abs().max() < 0.05
        traced = torch.jit.trace(smallNet, (images, masks, views), check_trace=False)
        other = [CArmGeometry(20, 5, 1100, 900, (2.03, 2.03), 96, 96), geometries[1]]
        otherViews = torch.as_tensor(transforms.viewParameters(other))[None]
        for eager, exported in zip(smallNet(images, masks, otherViews), traced(images, masks, otherViews)):
            assert torch.allclose(eager, exported, atol=1e-5)


def test_view_parameters_match_the_geometry():
    geometry = CArmGeometry(-90, 0, 1000, 925, (2.03, 2.03), 96, 96)
    row = transforms.viewParameters([geometry])[0]
    assert np.allclose(row[0:3], geometry.sourcePositionLps, atol=1e-3)
    assert np.allclose(row[3:6], geometry.pixelToDetectorLps([[0.0, 0.0]])[0], atol=1e-3)
    assert np.isclose(np.linalg.norm(row[6:9]), 2.03, atol=1e-5)
    assert np.isclose(row[12], 925 - RAY_RADIUS_MM) and np.isclose(row[13], 925 + RAY_RADIUS_MM)


def test_vertex_correspondence_terms_are_distances_in_mm():
    """The training's correspondence term: zero for the exact map, the offset's length for a wrong one."""
    from FemurRegistrationDev import train

    rng = np.random.default_rng(4)
    atlasVertices = rng.uniform(-40.0, 40.0, (50, 3)).astype(np.float32)
    losses = train.Losses(None, atlasVertices)
    fieldLpsToGrid = losses.fieldLpsToGrid
    shape = (1, 3) + tuple(boxGrid(FIELD_SPACING_MM)[1])
    inside = torch.ones(1, 50)
    inside[0, :10] = 0.0  # outside the box: counted a quarter in the similarity term, not at all in the others
    translation = torch.tensor([3.0, -4.0, 12.0])
    affine = torch.eye(4)[None].clone()
    affine[0, :3, 3] = translation  # patient -> atlas: p + t
    exact = torch.as_tensor(atlasVertices)[None] - translation
    zero = torch.zeros(shape)
    terms = losses.vertexTerms(affine, zero, zero, fieldLpsToGrid, exact, inside)
    assert max(float(value) for value in terms.values()) < 2e-3
    wrong = torch.as_tensor(atlasVertices)[None]  # every vertex 13 mm off
    terms = losses.vertexTerms(affine, zero, zero, fieldLpsToGrid, wrong, inside)
    for value in terms.values():
        assert float(value) == pytest.approx(13.0, abs=1e-3)
    # a constant local displacement d with the identity similarity: T(p + d) = q for p = q - d, inverse -d
    displacement = torch.zeros(shape)
    displacement[0, 0], displacement[0, 2] = 5.0, -2.0
    shifted = torch.as_tensor(atlasVertices)[None] - torch.tensor([5.0, 0.0, -2.0])
    terms = losses.vertexTerms(torch.eye(4)[None], displacement, -displacement, fieldLpsToGrid, shifted, inside)
    assert float(terms["mm"]) < 2e-3 and float(terms["mm_inverse"]) < 2e-3
    # the similarity alone misses by |d| = sqrt(29) mm on every vertex
    assert float(terms["mm_affine"]) == pytest.approx(29 ** 0.5, abs=1e-3)


ORTHOGONAL_VIEWS = [CArmGeometry(primary, 0, 1000, 925, (2.03, 2.03), 96, 96) for primary in (0, -90)]


def _turn(angleDeg: float, axis: int, centre) -> np.ndarray:
    """4 x 4 rotation by ``angleDeg`` about LPS axis ``axis`` through ``centre``."""
    cosine, sine = np.cos(np.radians(angleDeg)), np.sin(np.radians(angleDeg))
    first, second = [index for index in range(3) if index != axis]
    matrix = np.eye(4)
    matrix[[first, first, second, second], [first, second, first, second]] = [cosine, -sine, sine, cosine]
    matrix[:3, 3] = np.asarray(centre) - matrix[:3, :3] @ np.asarray(centre)
    return matrix


def test_turned_box_frame_views_see_each_point_on_the_same_pixel():
    """A point of the box frame and its turned image project onto the same detector pixel, and the rays' samples
    span the sphere about the turned frame's origin; the identity frame gives :func:`viewParameters` itself."""
    geometries = ORTHOGONAL_VIEWS
    frame = _turn(17.0, 2, (24.0, 0.0, 50.0)) @ _turn(-12.0, 0, (24.0, 0.0, 50.0))
    assert np.allclose(transforms.framedViewParameters(geometries, np.eye(4)), transforms.viewParameters(geometries))
    plain, turned = transforms.viewParameters(geometries), transforms.framedViewParameters(geometries, frame)

    def pixel(row, point):  # (column, row) where the ray from the source through ``point`` meets the detector
        row = row.astype(float)
        matrix = np.stack([point - row[0:3], -row[6:9], -row[9:12]], 1)
        return np.linalg.solve(matrix, row[3:6] - row[0:3])[1:]

    for point in ([10.0, 20.0, 30.0], [-40.0, 5.0, -60.0]):
        point = np.asarray(point)
        for view in range(2):
            assert np.allclose(pixel(plain[view], point), pixel(turned[view], frame[:3, :3] @ point + frame[:3, 3]),
                               atol=1e-3)
    sourceToOrigin = np.linalg.norm(turned[:, 0:3].astype(float), axis=1)  # the turned frame's origin at 0
    assert np.allclose(turned[:, 12], sourceToOrigin - RAY_RADIUS_MM, atol=1e-3)
    assert np.allclose(turned[:, 13], sourceToOrigin + RAY_RADIUS_MM, atol=1e-3)


def test_rotation_of_a_similarity_about_the_head():
    centre = np.array([24.0, 0.0, 50.0])
    similarity = _turn(30.0, 2, centre) @ np.diag([1.1, 1.1, 1.1, 1.0])
    similarity[:3, 3] += [3.0, -2.0, 1.0]
    frame, angle = inference.rotationAbout(similarity, centre)
    assert angle == pytest.approx(30.0, abs=1e-6)
    assert np.allclose(frame, _turn(30.0, 2, centre), atol=1e-9)  # scale and translation left out, head kept
    assert inference.rotationAbout(np.eye(4), centre)[1] == pytest.approx(0.0, abs=1e-6)


def test_a_registration_in_a_turned_frame_maps_points_as_the_network_did():
    """The network's maps in the turned frame (a stand-in returning fixed smooth fields) and the registration
    :func:`inference.registerInFrame` brings back: patient -> atlas and atlas -> patient agree within 0.1 mm, both
    ways, for points well inside the box."""
    fieldIjkToLps, fieldShape = boxGrid(FIELD_SPACING_MM)
    points = gridPointsLps(fieldIjkToLps, fieldShape, dtype=torch.float64)
    wave = torch.sin(points[..., 2] / 25.0) * torch.cos(points[..., 0] / 30.0)
    displacement = torch.stack([3.0 * wave, -2.0 * wave, 1.5 * wave]).to(torch.float32)
    networkAffine = torch.as_tensor(_turn(4.0, 1, (24.0, 0.0, 50.0)) @ np.diag([1.05, 1.05, 1.05, 1.0]),
                                    dtype=torch.float32)
    seen = []

    def standIn(images, masks, views):
        seen.append(views)
        return networkAffine[None], displacement[None], -displacement[None]  # -u: near the inverse for small u

    frame = _turn(18.0, 2, (24.0, 0.0, 50.0))
    geometries = ORTHOGONAL_VIEWS
    images = np.zeros((2, 96, 96), np.float32)
    result = inference.registerInFrame(standIn, images, images, geometries, frame)
    assert np.allclose(seen[0][0].numpy(), transforms.framedViewParameters(geometries, frame))
    lpsToGrid = torch.as_tensor(lpsToGridMatrix(fieldIjkToLps, fieldShape), dtype=torch.float64)[None]
    patient = torch.tensor([[[20.0, 5.0, 40.0], [-10.0, -20.0, -30.0], [30.0, 10.0, 60.0]]], dtype=torch.float64)
    turnedPoints = transforms.transformPoints(torch.as_tensor(frame)[None], patient)
    expected = transforms.patientToAtlas(turnedPoints, networkAffine.double()[None], displacement.double()[None],
                                         lpsToGrid)
    tensors = [torch.as_tensor(np.asarray(array, np.float64))[None] for array in (
        result.affine, result.displacement, result.inverseDisplacement)]
    assert torch.allclose(transforms.patientToAtlas(patient, tensors[0], tensors[1], lpsToGrid), expected, atol=0.1)
    backInTurned = transforms.atlasToPatient(expected, networkAffine.double()[None], -displacement.double()[None],
                                             lpsToGrid)
    backHere = transforms.atlasToPatient(expected, tensors[0], tensors[2], lpsToGrid)
    assert torch.allclose(transforms.transformPoints(torch.as_tensor(frame)[None], backHere), backInTurned, atol=0.1)
